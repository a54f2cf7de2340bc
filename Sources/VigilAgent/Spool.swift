import VigilCore
import VigilPlatform

/// The outbox behind every event and snapshot: each message is written to the spool first,
/// connected or not, published from there at QoS 1, and its file removed only at its PUBACK.
///
/// Writing is off the loop: the spool's disk thread writes each message and syncs the folder
/// once for every batch that waited together (`SpoolStore`, `DiskWorker`). While connected, a
/// new message is published at once, from memory, as it is written (`publishWhileWriting`):
/// safe once on disk or acknowledged, whichever comes first. Two lanes share the uplink. The
/// live lane (up to `liveWindow` in flight) takes a new message when nothing older waits, and
/// every new event, so an event never waits behind a backlog.
/// The backlog lane replays what is left, oldest first, `backlogWindow` in flight, from the
/// store's index in memory. Heartbeats do not pass here at all (QoS 0, live).
final class Spool: AgentPart {
  static let backlogWindow = 10
  static let liveWindow = 10
  /// libmosquitto holds each message in flight in memory: at most this many bytes of them (one
  /// message always goes, however large), so twenty 4 MiB snapshots are never held at once.
  static let maxInFlightBytes = 8 << 20
  /// The backlog lane's bytes sent and not yet acknowledged: past this it waits for a PUBACK
  /// (one message always goes). A new event is sent behind whatever the broker has not yet
  /// taken, on one TCP connection, and a PUBACK is the only sign of what it has: the kernel's
  /// send queue is empty on loopback while the broker's receive queue holds megabytes. Measured
  /// (Scripts/bench, gpio row, 400 snapshots of 250 KB): a power cut waited a median 10 ms and
  /// up to 43 ms behind a window of ten snapshots; one at a time, it waits behind one.
  static let backlogAheadBytes = 64 * 1024
  /// How many entries one look into the index takes for the backlog lane.
  static let readAhead = 32
  /// `spool_dropped` events are coalesced: at most one per minute, with the counts since the last.
  static let dropReportMs: Int64 = 60_000

  private enum Lane { case live, backlog }
  private struct InFlight {
    var mid: Int32
    var entry: SpoolStore.Entry
    var lane: Lane
    var size: Int
    /// Published from memory while its write was under way, and the write failed: if the
    /// connection drops before its PUBACK, it is lost (counted then as not written).
    var unstored = false
  }

  private let agent: Agent
  private(set) var store: SpoolStore?
  private var openError: String?
  /// At most `liveWindow + backlogWindow`: a list, searched by message id.
  private var inFlight: [InFlight] = []
  private var liveCount = 0
  private var inFlightBytes = 0
  private var backlogCount = 0
  private var backlogBytes = 0
  private var cursor: UInt64?
  private var ready: [SpoolStore.Entry] = []
  /// Messages with a sequence below this were taken before the current connection: late.
  private var connectionFirstSequence: UInt64 = 0
  /// Messages that could not be written at all (disk full or failing), since start.
  private var writeFailures = 0
  private var unreported = (events: 0, snapshots: 0, writeFailed: 0)
  private var reportTimer: EventLoop.Timer?
  private var reporting = false
  /// Set by `stop`: what the disk thread finishes then is logged, not published.
  private var stopping = false
  /// The backlog lane's next look, when the last one stopped early (a merged run's probes).
  private var pumpTimer: EventLoop.Timer?
  /// Drops before this start, from `<spool.dir>/state/spool_dropped`.
  private var dropsBefore = SpoolDrops()
  private var dropsPath: String
  /// The drops last written to `dropsPath`, so that it is written only when they change.
  private var dropsSaved = SpoolDrops()

  init(agent: Agent) {
    self.agent = agent
    dropsPath = agent.stateDir + "/spool_dropped"
    loadDrops()
    open(agent.config.spool)
    agent.commands.register("spool", usage: "spool", summary: "messages waiting, dropped, in flight") {
      [self] _, _ in .ok(self.describe())
    }
  }

  private func open(_ c: Config.Spool) {
    do {
      let s = try SpoolStore(dir: c.dir + "/queue", maxBytes: c.maxBytes)
      s.startDiskThread(on: agent.loop) { [self] outcome in self.diskDone(outcome) }
      store = s
      openError = nil
    } catch {
      store = nil
      openError = error.message
      Log.error("spool " + c.dir + "/queue cannot be used: " + error.message
        + "; messages are sent only "
        + "while connected")
    }
  }

  /// Since the spool was made: the drops before this start, and those since.
  var drops: SpoolDrops {
    SpoolDrops(
      events: dropsBefore.events + (store?.droppedEvents ?? 0),
      snapshots: dropsBefore.snapshots + (store?.droppedSnapshots ?? 0),
      writeFailed: dropsBefore.writeFailed + Int64(writeFailures))
  }
  var dropped: Int64 { drops.total }
  var inFlightCount: Int { inFlight.count }

  /// A missing file is no drops; a damaged one is not trusted and counting starts again at 0
  /// (a count, not an id: too low is the only harm).
  private func loadDrops() {
    guard Files.exists(dropsPath) else { return }
    do {
      let bytes = try Files.read(dropsPath, limit: 128)
      if let d = SpoolDrops.decode(bytes) {
        dropsBefore = d
        dropsSaved = d
      } else {
        Log.warning("spool drop counter " + dropsPath + " is damaged; counting from 0")
      }
    } catch {
      Log.warning("spool drop counter " + dropsPath + ": " + error.message + "; counting from 0")
    }
  }

  /// Writes the drop counts when they changed: at each drop report (the first drop at once,
  /// then at most once a minute) and at a clean stop, never per message. A crash can lose the
  /// drops of the last minute from the count, never the messages' own order or content.
  private func saveDrops() {
    let d = drops
    if d == dropsSaved { return }
    do {
      try Files.writeAtomically(dropsPath, d.encode(), mode: 0o640)
      dropsSaved = d
    } catch {
      Log.warning("spool drop counter " + dropsPath + " not written: " + error.message)
    }
  }

  // MARK: storing

  /// Stores one message (on the disk thread, or here when it cannot take it) and, while
  /// connected and the live lane has room, publishes it now.
  func enqueue(kind: SpoolRecord.Kind, topic: String, payload: [UInt8], captureMs: Int64) {
    if !agent.session.isConnected && !inFlight.isEmpty { resetLanes() }
    guard let store = store else {
      if agent.session.publish(topic, payload, qos: 1, retain: false) == nil {
        writeFailed(kind, "no spool and not connected")
      }
      return
    }
    let appended: SpoolStore.Appended
    do {
      appended = try store.append(kind: kind, topic: topic, payload: payload, captureMs: captureMs)
    } catch {
      writeFailed(kind, error.message)
      return
    }
    for e in appended.dropped { noteDrop(e.kind) }
    if !appended.dropped.isEmpty {
      Log.warning("spool full: " + String(appended.dropped.count) + " oldest messages dropped")
    }
    guard let entry = appended.entry else {
      noteDrop(kind)
      Log.warning("spool full: new " + (kind == .event ? "event" : "snapshot") + " for " + topic
        + " dropped")
      return
    }
    if !appended.stored {
      // On the disk thread: published now, from memory, while it is written (below).
      publishWhileWriting(entry, topic: topic, payload: payload)
      return
    }
    // Written here (no disk thread, or its queue full): on disk now.
    Log.debug("spool: stored " + entry.name + " for " + topic)
    let room = inFlight.isEmpty || inFlightBytes < Self.maxInFlightBytes
    if agent.session.isConnected && liveCount < Self.liveWindow && room
      && (store.count + Int64(store.writingCount) - Int64(inFlight.count) == 1
        || kind == .event)
    {
      // Next in order anyway, or an event, which goes ahead of a backlog.
      publish(entry, lane: .live)
    }
    pump()
  }

  private func writeFailed(_ kind: SpoolRecord.Kind, _ why: String) {
    writeFailures += 1
    unreported.writeFailed += 1
    Log.error("spool: message not stored: " + why)
    scheduleDropReport()
  }

  /// A message the disk thread is writing goes out live at once, from memory, when the live
  /// lane has room and it is next in order (or is an event, which goes ahead of a backlog):
  /// a power cut reaches the centre without waiting for the SD card's fsyncs. Nothing
  /// acknowledged is lost all the same: a message is safe once it is on disk or the broker has
  /// acknowledged it, whichever comes first. A PUBACK before the write ends marks it, and the
  /// file is removed once written; a crash before either loses it, exactly as a crash during
  /// the fsync loses it when publishing waits for the disk (the kill soak checks it: every
  /// message logged as stored, which is logged only once on disk, reaches the centre).
  private func publishWhileWriting(_ e: SpoolStore.Entry, topic: String, payload: [UInt8]) {
    guard let store = store, agent.session.isConnected, liveCount < Self.liveWindow else {
      return
    }
    let room = inFlight.isEmpty || inFlightBytes < Self.maxInFlightBytes
    let nothingOlder = store.count + Int64(store.writingCount) - Int64(inFlight.count) == 1
    guard room && (nothingOlder || e.kind == .event) else { return }
    guard let mid = agent.session.publish(topic, payload, qos: 1, retain: false) else { return }
    let size = SpoolRecord.size(topicBytes: topic.utf8.count, payloadBytes: payload.count)
    inFlight.append(InFlight(mid: mid, entry: e, lane: .live, size: size))
    inFlightBytes += size
    liveCount += 1
  }

  /// The disk thread finished a write (or a removal failed).
  private func diskDone(_ outcome: SpoolStore.DiskOutcome) {
    switch outcome {
    case .stored(let e, let topic, let acknowledged):
      // Written after the file and its folder are on disk: the kill test's record of what the
      // spool took (VIGIL_DEBUG=1).
      Log.debug("spool: stored " + e.name + " for " + topic)
      if stopping || acknowledged { return }
      let sent = inFlight.contains(where: { $0.entry.sequence == e.sequence })
      if !sent, agent.session.isConnected, liveCount < Self.liveWindow, e.kind == .event {
        // Not sent while it was written (the live lane was full): an event still goes ahead.
        publish(e, lane: .live)
      } else if !sent, let c = cursor, e.sequence <= c {
        // The backlog lane went past it while it was written (a later message was written on
        // the loop, the thread's queue being full): it looks again from just before it.
        cursor = e.sequence > 0 ? e.sequence - 1 : nil
        ready.removeAll()
      }
    case .failed(let e, let why):
      if let i = inFlight.firstIndex(where: { $0.entry.sequence == e.sequence }) {
        inFlight[i].unstored = true
        Log.warning("spool: " + e.name + " not stored (" + why
          + "); sent live, waiting for its PUBACK")
      } else if store?.wasAcknowledgedUnstored(e.sequence) == true {
        Log.warning("spool: " + e.name + " not stored (" + why + "); the broker already has it")
      } else {
        writeFailed(e.kind, why)
      }
    case .removed:
      break
    case .removeFailed(let why):
      Log.warning("spool: " + why + ": the message will be sent again after a restart")
    }
    if !stopping { pump() }
  }

  // MARK: sending

  /// Fills the backlog lane, oldest first.
  private func pump() {
    guard let store = store, agent.session.isConnected, !store.diskBusy else { return }
    while backlogCount < Self.backlogWindow
      && (backlogCount == 0 || backlogBytes < Self.backlogAheadBytes)
      && (inFlight.isEmpty || inFlightBytes < Self.maxInFlightBytes)
    {
      if ready.isEmpty {
        let batch = store.next(after: cursor, limit: Self.readAhead, skipping: store.pinned)
        ready = batch.entries
        if ready.isEmpty {
          if let r = batch.resumeAfter { continueNextTurn(after: r) }
          return
        }
      }
      let e = ready.removeFirst()
      cursor = e.sequence
      if inFlight.contains(where: { $0.entry.sequence == e.sequence }) { continue }
      if !publish(e, lane: .backlog) && !agent.session.isConnected { return }
    }
  }

  /// A look into a merged run of the index spent its probes: the rest waits for the next turn,
  /// so that a very broken-up spool costs each turn a bounded amount of work.
  private func continueNextTurn(after seq: UInt64) {
    cursor = seq
    if pumpTimer != nil { return }
    pumpTimer = agent.loop.after(ms: 0) { [self] in
      self.pumpTimer = nil
      self.pump()
    }
  }

  /// Reads, checks and publishes one message; false when it was not published.
  @discardableResult
  private func publish(_ e: SpoolStore.Entry, lane: Lane) -> Bool {
    guard let store = store else { return false }
    switch store.load(e) {
    case .missing:
      return false
    case .corrupt(let why):
      Log.error("spool: " + e.name + " is damaged (" + why + "): set aside, not sent")
      return false
    case .record(let r, let size):
      var payload = r.payload
      if r.sequence < connectionFirstSequence && r.kind == .event {
        payload = Messages.markedLate(payload)
      }
      guard let mid = agent.session.publish(r.topic, payload, qos: 1, retain: false) else {
        return false
      }
      inFlight.append(InFlight(mid: mid, entry: e, lane: lane, size: size))
      inFlightBytes += size
      store.pinned.append(e.sequence)
      if lane == .live {
        liveCount += 1
      } else {
        backlogCount += 1
        backlogBytes += size
      }
      return true
    }
  }

  /// A new connection: what was in flight on the old one is sent again (clean session: the
  /// broker kept nothing), from the oldest.
  private func resetLanes() {
    for f in inFlight where f.unstored { writeFailed(f.entry.kind, f.entry.name + " was not "
      + "stored and its connection was lost before its PUBACK") }
    inFlight.removeAll()
    inFlightBytes = 0
    store?.pinned.removeAll()
    liveCount = 0
    backlogCount = 0
    backlogBytes = 0
    cursor = nil
    ready.removeAll()
  }

  func brokerConnected() {
    resetLanes()
    connectionFirstSequence = store?.nextSequence ?? 0
    if let s = store, s.count > 0 {
      Log.notice("spool: replaying " + String(s.count) + " messages (" + String(s.bytes)
        + " bytes), oldest first")
    }
    pump()
  }

  func acknowledged(mid: Int32) {
    guard let i = inFlight.firstIndex(where: { $0.mid == mid }) else { return }
    let f = inFlight.remove(at: i)
    inFlightBytes -= f.size
    if let s = store, s.isPending(f.entry.sequence) {
      s.acknowledgePending(f.entry.sequence)
    } else if !f.unstored {
      store?.remove(f.entry, size: Int64(f.size))
    }
    store?.pinned.removeAll { $0 == f.entry.sequence }
    if f.lane == .live {
      liveCount -= 1
    } else {
      backlogCount -= 1
      backlogBytes -= f.size
    }
    pump()
  }

  // MARK: reporting drops

  private func noteDrop(_ kind: SpoolRecord.Kind) {
    if kind == .event { unreported.events += 1 } else { unreported.snapshots += 1 }
    scheduleDropReport()
  }

  func stop() {
    // What was written in the last turn is made durable before the process ends.
    stopping = true
    for outcome in store?.finishDisk() ?? [] { diskDone(outcome) }
    saveDrops()
  }

  /// The first drop is reported at once; later ones are summed for up to a minute, so a full
  /// spool during a long outage does not fill itself with reports of its own drops.
  private func scheduleDropReport() {
    if reporting || reportTimer != nil { return }
    reportDrops()
    reportTimer = agent.loop.after(ms: Self.dropReportMs) { [self] in
      self.reportTimer = nil
      if self.unreported.events + self.unreported.snapshots + self.unreported.writeFailed > 0 {
        self.scheduleDropReport()
      }
    }
  }

  private func reportDrops() {
    let u = unreported
    unreported = (0, 0, 0)
    reporting = true
    agent.events.emit("spool_dropped") { [self] w in
      w.field("snapshots", u.snapshots)
      w.field("events", u.events)
      w.field("write_failed", u.writeFailed)
      w.field("total", self.dropped)
      w.field("reason", u.writeFailed > 0 ? "write_failed" : "quota")
    }
    reporting = false
    saveDrops()
  }

  // MARK: AgentPart

  func fill(_ hb: inout Heartbeat) {
    guard let s = store else {
      hb.spoolDropped = dropped
      return
    }
    hb.spoolCount = s.count
    hb.spoolBytes = s.bytes
    hb.spoolOldestMs = s.oldestCaptureMs()
    hb.spoolDropped = dropped
  }

  func status(into lines: inout [String]) {
    guard let s = store else {
      lines.append("spool UNUSABLE: " + (openError ?? "?"))
      return
    }
    lines.append("spool " + String(s.count) + " messages, " + String(s.bytes) + " bytes, "
      + String(inFlight.count) + " in flight, "
      + "dropped " + String(dropped))
  }

  func selftest(into checks: inout [SelftestCheck]) {
    guard let s = store else {
      checks.append(SelftestCheck(name: "spool writable", ok: false, detail: openError ?? "?"))
      return
    }
    if let e = s.probeWritable() {
      checks.append(SelftestCheck(name: "spool writable", ok: false, detail: e))
    } else {
      checks.append(SelftestCheck(name: "spool writable", ok: true, detail: s.dir))
    }
    if let free = s.freeBytes() {
      let room = max(0, s.maxBytes - s.usedBytes)
      checks.append(SelftestCheck(
        name: "spool space", ok: free >= room,
        detail: String(free) + " bytes free on disk, " + String(room) + " left under the quota"))
    }
  }

  func configChanged(from old: LoadedConfig) {
    // spool.dir is local only (a remote document cannot change it); max_bytes can change.
    store?.maxBytes = agent.config.spool.maxBytes
  }

  /// `spool`: what waits, what was lost, what was set aside.
  func describe() -> String {
    guard let s = store else { return "spool UNUSABLE: " + (openError ?? "?") + "\n" }
    var out = "dir          " + s.dir + "\n"
    out += "messages     " + String(s.count) + " (" + String(s.eventCount) + " events, "
      + String(s.snapshotCount) + " snapshots)\n"
    out += "bytes        " + String(s.bytes) + " of " + String(s.maxBytes) + " ("
      + String(s.quarantineBytes) + " more in quarantine/)\n"
    out += "index        " + String(s.index.runs.count) + " runs; " + String(s.dataSyncs)
      + " data and "
      + String(s.directorySyncs) + " folder syncs since start on the loop, "
      + String(s.diskBatches) + " batches "
      + "on the disk thread (" + String(s.diskPending) + " jobs waiting)\n"
    if let o = s.oldestCaptureMs() {
      out += "oldest       " + String(o) + " (" + String((Clock.wallMs() - o) / 1000) + " s ago)\n"
    } else {
      out += "oldest       -\n"
    }
    let d = drops
    // Since the spool was made ("ever"): kept across restarts in state/spool_dropped.
    out += "dropped      " + String(d.total) + " ever (" + String(d.events) + " events, "
      + String(d.snapshots) + " snapshots, "
      + String(d.writeFailed) + " not written)\n"
    out += "in flight    " + String(inFlight.count) + ", " + String(inFlightBytes) + " bytes ("
      + String(liveCount) + " live, "
      + String(backlogCount) + " backlog of " + String(backlogBytes) + " bytes; windows "
      + String(Self.liveWindow) + " + "
      + String(Self.backlogWindow) + ", backlog " + String(Self.backlogAheadBytes)
      + " bytes ahead of an event, "
      + String(Self.maxInFlightBytes) + " bytes in all)\n"
    out += "quarantined  " + String(s.quarantined) + " since start; " + String(s.quarantineCount)
      + " files kept "
      + "(" + s.quarantineDir + ")\n"
    for n in s.quarantineNotes { out += "  " + n + "\n" }
    return out
  }
}
