import CVigil
import VigilCore

/// The spool on disk: one file per message (`SpoolRecord`), named by its sequence, with an
/// index in memory (`SpoolIndex`: runs of sequences) built by one read of the folder at the
/// start. After that the folder is never read again: sending, the quota and removals work from
/// the index, whose size does not grow with the length of an outage.
///
/// Writing is a group commit on the disk thread (`DiskWorker`): `append` hands the message over
/// and returns; the thread writes `<name>.tmp`, fsyncs it, renames it, and fsyncs the folder
/// once for every batch of messages that waited together; only then does a message count as
/// stored (`DiskOutcome.stored`). Without the thread (the unit tests, or one that could not
/// start, or with 256 jobs waiting) `append` writes the same way on the caller's thread and
/// the message is stored when it returns. After a crash at any moment a message is either
/// whole under its final name or absent (its `.tmp` is set aside at the next start). Files are removed only when the caller says so (after the
/// broker's PUBACK), or by the quota. Removal is not fsynced: a removal lost in a crash means a
/// message sent twice, which at-least-once delivery allows, never a message lost.
public final class SpoolStore {
  public typealias Kind = SpoolRecord.Kind

  /// A message in the folder, as its name says.
  public struct Entry: Equatable {
    public var sequence: UInt64
    public var kind: Kind
    public var name: String { SpoolRecord.fileName(sequence: sequence, kind: kind) }

    public init(sequence: UInt64, kind: Kind) {
      self.sequence = sequence
      self.kind = kind
    }
  }

  /// What reading one message gave.
  public enum Loaded {
    case record(SpoolRecord, size: Int)
    /// Removed meanwhile (acknowledged, or dropped by the quota).
    case missing
    /// Damaged since it was written; it has been set aside and counted.
    case corrupt(String)
  }

  /// What `append` did.
  public struct Appended {
    /// The new message's entry (on the disk thread, being written: `stored` false). Nil when
    /// it was itself dropped (larger than the quota, or a snapshot when only events and
    /// messages in flight remain).
    public var entry: Entry?
    /// Whether it is on disk already (written on the caller's thread).
    public var stored = false
    /// Messages removed to make room, oldest snapshots first, events last.
    public var dropped: [Entry] = []
  }

  /// What the sender gets from `next`.
  public struct Batch {
    public var entries: [Entry] = []
    /// Set when the look stopped early (its budget of name probes spent in a merged run):
    /// the caller continues after this sequence, on a later turn.
    public var resumeAfter: UInt64?
  }

  /// `<spool.dir>/queue`.
  public let dir: String
  /// `<spool.dir>/queue/quarantine`: files that are not whole messages, kept for a technician,
  /// never sent, counted against the quota and removed oldest first (by the quota, or past
  /// `maxQuarantineFiles`).
  public let quarantineDir: String
  public var maxBytes: Int64
  public private(set) var index = SpoolIndex(maxRuns: SpoolStore.maxRuns)
  /// Messages the quota removed since start (or refused: larger than the quota), by kind.
  public private(set) var droppedEvents: Int64 = 0
  public private(set) var droppedSnapshots: Int64 = 0
  /// Files set aside since start (at the start-up scan, or found damaged before sending).
  public private(set) var quarantined = 0
  /// Why the last few files were set aside, for the `spool` command.
  public private(set) var quarantineNotes: [String] = []
  /// Bytes of the files in quarantine/, counted in the quota.
  public private(set) var quarantineBytes: Int64 = 0
  /// Messages the quota must not remove: those in flight, whose PUBACK will remove them. A
  /// short list (the in-flight windows), not a set: Embedded Swift pays for each specialisation.
  public var pinned: [UInt64] = []
  /// Data and folder fsyncs since start (the `spool` command; tests count them).
  public private(set) var dataSyncs: Int64 = 0
  public private(set) var directorySyncs: Int64 = 0
  /// Folder reads since open: one of queue/, one of quarantine/, at the start, and no more.
  public private(set) var folderReads = 0

  /// The sequence the next message will get; every message stored so far has a lower one.
  public private(set) var nextSequence: UInt64 = 1
  /// At most this many files are kept in quarantine/; older ones are removed.
  public static let maxQuarantineFiles = 64
  /// The index's cap on runs (12 KiB), and the higher cap while the start-up scan builds it
  /// from names in `readdir`'s hash order (48 KiB, for the scan only): a backlog of one kind
  /// then ends as one exact run even when it was in pieces on the way.
  static let maxRuns = 256
  static let scanRuns = 1024
  /// At most this many names are looked for per call in merged runs (SpoolIndex).
  static let probeBudget = 256

  private struct Pending {
    var entry: Entry
    var size: Int64
    var captureMs: Int64
    var topic: String
    /// Its PUBACK came before it was on disk (it was published live, from memory): when the
    /// write ends the file is removed at once and it never enters the index.
    var acknowledged = false
  }
  private var pending: [Pending] = []
  private var pendingBytes: Int64 = 0

  private struct SetAside {
    var name: String
    var size: Int64
    var ctimeNs: Int64
  }
  /// quarantine/'s files, oldest first; at most `maxQuarantineFiles`.
  private var setAside: [SetAside] = []

  private let dirFD: Int32
  /// The disk thread (nil: everything is done on the loop, as in the unit tests, or when the
  /// thread could not be started). With it, `append` hands the write over and returns, and
  /// removals are queued; `diskDone` reports each write's end.
  private var disk: DiskWorker?
  /// Past this many jobs waiting on the disk thread the sender holds back (`diskBusy`), so
  /// that removals do not pile up in memory while a backlog replays faster than the card
  /// removes files.
  public static let diskBusyJobs = 128
  /// Capture time of the oldest message; recomputed after the oldest may have gone.
  private var oldestCache: Int64?
  private var oldestKnown = false

  /// Messages stored (committed); those written and waiting for the commit are not counted
  /// until it (`pendingCount`), but their bytes count in the quota (`usedBytes`).
  public var count: Int64 { index.count }
  public var bytes: Int64 { index.bytes }
  public var snapshotCount: Int64 { index.snapshotCount }
  public var snapshotBytes: Int64 { index.snapshotBytes }
  public var eventCount: Int64 { index.eventCount }
  /// Messages not yet stored: on the disk thread.
  public var writingCount: Int { pending.count }
  public var quarantineCount: Int { setAside.count }
  public var dropped: Int64 { droppedEvents + droppedSnapshots }
  /// What the quota counts: messages, those being written, and quarantine/.
  public var usedBytes: Int64 { index.bytes + pendingBytes + quarantineBytes }

  /// Opens (creating) the folder and reads it once: every whole message goes into the index,
  /// anything else (a `.tmp` left by a crash, a torn or foreign file) is moved to `quarantine/`.
  public init(dir: String, maxBytes: Int64) throws(SystemError) {
    self.dir = dir
    self.quarantineDir = dir + "/quarantine"
    self.maxBytes = maxBytes
    try Files.makeDirectories(quarantineDir)
    dirFD = try Sys.open(dir, O_RDONLY | O_DIRECTORY)
    readQuarantine()
    scanAtStart()
  }

  deinit {
    disk?.close()
    Sys.close(dirFD)
  }

  // MARK: the disk thread

  /// What the disk thread finished, as the spool sees it.
  public enum DiskOutcome {
    /// On disk under its name (the folder synced): now in the spool, unless its PUBACK came
    /// first (`acknowledged`: the file is removed again).
    case stored(Entry, topic: String, acknowledged: Bool)
    /// Not written: not in the spool (the caller says why and counts it).
    case failed(Entry, why: String)
    /// A removal done (the disk thread has room again).
    case removed
    /// A removal that failed (the file stays; it will be sent again after a restart).
    case removeFailed(String)
  }

  /// Moves the disk work to a thread of its own, reporting on `loop`. Without it (or when the
  /// thread cannot start: logged) everything stays on the loop.
  public func startDiskThread(on loop: EventLoop, _ handler: @escaping (DiskOutcome) -> Void) {
    if disk != nil { return }
    let worker: DiskWorker
    do { worker = try DiskWorker(directoryFD: dirFD, capacity: 256) } catch {
      Log.warning("spool: " + error.message + ": writing and removing on the loop")
      return
    }
    worker.attach(to: loop) { [self] done in
      if let outcome = self.diskDone(done) { handler(outcome) }
    }
    disk = worker
  }

  /// Whether the disk thread has so much waiting that the backlog should not add to it.
  public var diskBusy: Bool { (disk?.pending ?? 0) >= Self.diskBusyJobs }
  /// Jobs waiting on the disk thread (the `spool` command).
  public var diskPending: Int { disk?.pending ?? 0 }
  /// Batches the disk thread has run: writes that waited together shared one folder sync.
  public var diskBatches: UInt64 { disk?.batches ?? 0 }

  private func diskDone(_ d: DiskWorker.Done) -> DiskOutcome? {
    if d.op == .unlink {
      if d.errno == 0 { return .removed }
      return .removeFailed(SystemError("unlink", errno: d.errno,
                                       subject: path(SpoolRecord.fileName(
                                         sequence: d.tag & ~Self.snapshotTag,
                                         kind: d.tag & Self.snapshotTag != 0 ? .snapshot : .event)))
                             .message)
    }
    guard let i = pending.firstIndex(where: { $0.entry.sequence == d.tag }) else {
      return nil
    }
    let p = pending.remove(at: i)
    pendingBytes -= p.size
    if d.errno != 0 {
      if p.acknowledged {
        deliveredUnstored.append(p.entry.sequence)
        if deliveredUnstored.count > 32 { deliveredUnstored.removeFirst() }
      }
      return .failed(p.entry, why: SystemError("write", errno: d.errno,
                                               subject: path(p.entry.name)).message)
    }
    dataSyncs += 1
    if p.acknowledged {
      queueRemoval(p.entry)
    } else {
      if index.count == 0 {
        oldestCache = p.captureMs
        oldestKnown = true
      }
      index.insert(p.entry.sequence, p.entry.kind, bytes: p.size)
    }
    return .stored(p.entry, topic: p.topic, acknowledged: p.acknowledged)
  }

  /// A removal's tag: the sequence, with the top bit for a snapshot (for the error's name).
  private static let snapshotTag: UInt64 = 1 << 63

  /// The file goes on the disk thread (or now, on the loop, when there is none or it is full).
  private func queueRemoval(_ e: Entry) {
    let tag = e.sequence | (e.kind == .snapshot ? Self.snapshotTag : 0)
    if let w = disk, w.unlink(e.name, tag: tag) { return }
    unlink(path(e.name))
  }

  /// Sequences acknowledged while their write was under way and whose write then failed, the
  /// last few: delivered, so not a loss.
  private var deliveredUnstored: [UInt64] = []

  /// Whether `seq` was acknowledged before its write failed (asked once, then forgotten).
  public func wasAcknowledgedUnstored(_ seq: UInt64) -> Bool {
    guard let i = deliveredUnstored.firstIndex(of: seq) else { return false }
    deliveredUnstored.remove(at: i)
    return true
  }

  /// Whether a message is still being written (not yet stored).
  public func isPending(_ seq: UInt64) -> Bool { pending.contains { $0.entry.sequence == seq } }

  /// The PUBACK of a message still being written came: it will be removed once written.
  public func acknowledgePending(_ seq: UInt64) {
    guard let i = pending.firstIndex(where: { $0.entry.sequence == seq }) else { return }
    pending[i].acknowledged = true
  }

  /// Waits for the disk thread to finish everything (a clean stop); what finished.
  public func finishDisk() -> [DiskOutcome] {
    guard let w = disk else { return [] }
    return w.finish().compactMap { diskDone($0) }
  }

  private func path(_ name: String) -> String { dir + "/" + name }

  // MARK: start-up scan

  private func scanAtStart() {
    var setAsideNow = 0
    index.setCap(Self.scanRuns)
    folderReads += 1
    Directory.each(dir) { name, isDir in
      if isDir { return }
      guard let (seq, kind) = SpoolRecord.parseFileName(name) else {
        quarantine(name, name.hasSuffix(".tmp") ? "unfinished write" : "foreign file")
        setAsideNow += 1
        return
      }
      switch checkHeader(name, seq, kind) {
      case .success(let size):
        if !index.insert(seq, kind, bytes: size) {
          quarantine(name, "a second file for sequence " + String(seq))
          setAsideNow += 1
        }
      case .failure(let why):
        quarantine(name, why)
        setAsideNow += 1
      }
    }
    index.setCap(Self.maxRuns)
    if setAsideNow > 0 { fsync(dirFD) }
    // UInt64.max is refused by the index, so `highest + 1` cannot overflow.
    nextSequence = index.highest + 1
    if index.count > 0 || setAsideNow > 0 {
      Log.notice("spool " + dir + ": " + String(index.count) + " messages, " + String(index.bytes)
        + " bytes in "
        + String(index.runs.count) + " runs; " + String(setAsideNow)
        + " files set aside in quarantine/")
    }
  }

  /// quarantine/ read once at the start: its bytes count in the quota; past
  /// `maxQuarantineFiles` the oldest (by when they were set aside) are removed now.
  private func readQuarantine() {
    var removed = 0
    folderReads += 1
    Directory.each(quarantineDir) { name, isDir in
      if isDir { return }
      var st = stat()
      if stat(quarantineDir + "/" + name, &st) < 0 { return }
      let item = SetAside(
        name: name, size: Int64(st.st_size),
        ctimeNs: Int64(st.st_ctim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_ctim.tv_nsec))
      var i = setAside.count
      while i > 0 && setAside[i - 1].ctimeNs > item.ctimeNs { i -= 1 }
      setAside.insert(item, at: i)
      quarantineBytes += item.size
      if setAside.count > Self.maxQuarantineFiles {
        removeOldestSetAside()
        removed += 1
      }
    }
    if removed > 0 {
      Log.notice("spool: removed the " + String(removed)
        + " oldest files of quarantine/ (more than "
        + String(Self.maxQuarantineFiles) + ")")
    }
  }

  private func removeOldestSetAside() {
    guard !setAside.isEmpty else { return }
    let old = setAside.removeFirst()
    unlink(quarantineDir + "/" + old.name)
    quarantineBytes = max(0, quarantineBytes - old.size)
  }

  private enum HeaderCheck {
    case success(Int64)
    case failure(String)
  }

  /// Reads the fixed header only: a start with a full spool must not read it all (the
  /// checksum of the whole is checked before each send instead).
  private func checkHeader(_ name: String, _ seq: UInt64, _ kind: Kind) -> HeaderCheck {
    let fd: Int32
    do { fd = try Sys.open(path(name), O_RDONLY) } catch {
      return .failure(error.message)
    }
    defer { Sys.close(fd) }
    var st = stat()
    if fstat(fd, &st) < 0 { return .failure("fstat failed") }
    let size = Int64(st.st_size)
    var head = [UInt8](repeating: 0, count: SpoolRecord.headerSize)
    let n = head.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress, raw.count, 0) }
    if n < 0 { return .failure("cannot read") }
    let h: SpoolRecord.Header
    do { h = try SpoolRecord.header(head[0..<n]) } catch { return .failure(error.message) }
    if h.sequence != seq || h.kind != kind { return .failure("name does not match its header") }
    if h.fileSize != size {
      return .failure(SpoolRecord.DecodeError.lengthMismatch(expected: h.fileSize, found: size)
        .message)
    }
    return .success(size)
  }

  /// Moves `name` into quarantine/ under a name not used there yet.
  private func quarantine(_ name: String, _ why: String) {
    var st = stat()
    let size: Int64 = stat(path(name), &st) == 0 ? Int64(st.st_size) : 0
    var target = name
    var n = 1
    while Files.exists(quarantineDir + "/" + target) && n < 1000 {
      target = name + "." + String(n)
      n += 1
    }
    if rename(path(name), quarantineDir + "/" + target) < 0 {
      // Cannot be moved (a read-only folder?): it stays, unsent, and is named in the log.
      Log.error("spool: cannot set aside " + name + " (" + why + "): errno " + String(Sys.errno))
    } else {
      Log.warning("spool: set aside " + name + " in quarantine/: " + why)
      setAside.append(SetAside(name: target, size: size, ctimeNs: 0))
      quarantineBytes += size
      if setAside.count > Self.maxQuarantineFiles { removeOldestSetAside() }
    }
    quarantined += 1
    quarantineNotes.append(name + ": " + why)
    if quarantineNotes.count > 5 { quarantineNotes.removeFirst() }
  }

  // MARK: writing

  /// Writes a message to its `.tmp` file, first making room under the quota if needed; it is
  /// stored once `commit` has run. Throws only when the file cannot be written (disk full,
  /// read-only); the message is then not stored.
  public func append(kind: Kind, topic: String, payload: [UInt8], captureMs: Int64)
    throws(SystemError) -> Appended
  {
    let topicBytes = topic.utf8.count
    let size = Int64(SpoolRecord.size(topicBytes: topicBytes, payloadBytes: payload.count))
    var result = Appended()
    if size > maxBytes || topicBytes > SpoolRecord.maxTopicBytes {
      countDrop(kind)
      return result
    }
    if usedBytes + size > maxBytes {
      result.dropped = makeRoom(for: size, kind: kind)
      if usedBytes + size > maxBytes {
        countDrop(kind)
        return result
      }
    }
    let seq = nextSequence
    let record = SpoolRecord(
      kind: kind, sequence: seq, captureMs: captureMs, topic: topic, payload: payload)
    let entry = Entry(sequence: seq, kind: kind)
    let bytes = record.encode()
    if let w = disk, w.write(entry.name, bytes, tag: seq) {
      nextSequence += 1
      pending.append(Pending(entry: entry, size: size, captureMs: captureMs, topic: topic))
      pendingBytes += size
      result.entry = entry
      return result
    }
    // No thread, or 256 jobs wait on it: written here, durable when this returns.
    try Files.writeAtomically(path(entry.name), bytes, mode: 0o640, directoryFD: dirFD)
    nextSequence += 1
    dataSyncs += 1
    directorySyncs += 1
    if index.count == 0 {
      oldestCache = captureMs
      oldestKnown = true
    }
    index.insert(seq, kind, bytes: size)
    result.entry = entry
    result.stored = true
    return result
  }

  /// Removes quarantine/'s oldest files, then the oldest snapshots, then (only if the new
  /// message is an event) the oldest events, until `size` more bytes fit. Pinned messages are
  /// never removed.
  private func makeRoom(for size: Int64, kind: Kind) -> [Entry] {
    var removed: [Entry] = []
    var freedQuarantine = 0
    while usedBytes + size > maxBytes && !setAside.isEmpty {
      removeOldestSetAside()
      freedQuarantine += 1
    }
    if freedQuarantine > 0 {
      Log.notice("spool: removed " + String(freedQuarantine)
        + " oldest files of quarantine/ for the quota")
    }
    let order: [Kind] = kind == .snapshot ? [.snapshot] : [.snapshot, .event]
    for victimKind in order {
      while usedBytes + size > maxBytes {
        let batch = oldest(16, kind: victimKind)
        if batch.isEmpty { break }
        var progress = false
        for e in batch where usedBytes + size > maxBytes {
          if remove(e) {
            countDrop(e.kind)
            removed.append(e)
            progress = true
          }
        }
        if !progress { break }
      }
    }
    return removed
  }

  private func countDrop(_ kind: Kind) {
    if kind == .snapshot { droppedSnapshots += 1 } else { droppedEvents += 1 }
  }

  // MARK: reading

  /// Up to `limit` messages with a sequence above `after` (all when nil), oldest first,
  /// leaving out `skipping`. From the index: no folder read.
  public func next(after: UInt64?, limit: Int, skipping: [UInt64] = []) -> Batch {
    var out = Batch()
    if limit <= 0 { return out }
    let start: UInt64
    if let a = after {
      if a == UInt64.max { return out }
      start = a + 1
    } else {
      start = 0
    }
    var budget = Self.probeBudget
    out.resumeAfter = walk(from: start, kind: nil, budget: &budget) { e in
      if !skipping.contains(e.sequence) { out.entries.append(e) }
      return out.entries.count < limit
    }
    return out
  }

  /// The oldest `limit` messages of a kind, leaving out pinned ones.
  public func oldest(_ limit: Int, kind: Kind) -> [Entry] {
    var out: [Entry] = []
    if limit <= 0 { return out }
    var budget = Self.probeBudget
    _ = walk(from: 0, kind: kind, budget: &budget) { e in
      if !self.pinned.contains(e.sequence) { out.append(e) }
      return out.count < limit
    }
    return out
  }

  private func walk(from start: UInt64, kind want: Kind?, budget: inout Int,
                    _ visit: (Entry) -> Bool) -> UInt64?
  {
    index.walk(from: start, kind: want, budget: &budget, probe: { seq in self.kindOnDisk(seq) },
               visit: { seq, kind in visit(Entry(sequence: seq, kind: kind)) })
  }

  /// Which file a sequence of a merged run has, if any.
  private func kindOnDisk(_ seq: UInt64) -> Kind? {
    for k in [Kind.event, Kind.snapshot]
    where Files.exists(path(SpoolRecord.fileName(sequence: seq, kind: k))) {
      return k
    }
    return nil
  }

  /// Reads one message whole and checks it. A damaged one is set aside (never sent).
  public func load(_ e: Entry) -> Loaded {
    let bytes: [UInt8]
    do {
      bytes = try Files.read(path(e.name), limit: SpoolRecord.size(
        topicBytes: SpoolRecord.maxTopicBytes, payloadBytes: Snapshot.maxBytes))
    } catch {
      if error.errno == ENOENT {
        forgetMissing(e)
        return .missing
      }
      forget(e, size: fileSize(e.name))
      quarantine(e.name, error.message)
      return .corrupt(error.message)
    }
    do throws(SpoolRecord.DecodeError) {
      let r = try SpoolRecord.decode(bytes)
      if r.sequence != e.sequence || r.kind != e.kind {
        throw SpoolRecord.DecodeError.notASpoolFile
      }
      return .record(r, size: bytes.count)
    } catch {
      forget(e, size: Int64(bytes.count))
      quarantine(e.name, error.message)
      return .corrupt(error.message)
    }
  }

  /// Removes a message (its PUBACK came, or the quota); false if it was already gone. `size`,
  /// when the caller knows it (it read the file to send it), spares a stat. With the disk
  /// thread the file goes there and the index forgets it at once.
  @discardableResult
  public func remove(_ e: Entry, size known: Int64? = nil) -> Bool {
    let size = known ?? fileSize(e.name)
    if size < 0 {
      forgetMissing(e)
      return false
    }
    if disk != nil {
      forget(e, size: size)
      queueRemoval(e)
      return true
    }
    if unlink(path(e.name)) < 0 {
      forgetMissing(e)
      return false
    }
    forget(e, size: size)
    return true
  }

  /// A file the index holds went missing (removed by hand): it leaves the index, with the
  /// average size of its run. In a merged run nothing can be told apart: only its ends trim.
  private func forgetMissing(_ e: Entry) {
    switch index.lookup(e.sequence) {
    case .present(let k) where k == e.kind:
      index.remove(e.sequence, e.kind, bytes: nil)
      oldestKnown = false
    case .unknown:
      index.noteAbsent(e.sequence)
    default:
      break
    }
  }

  /// Takes a message that left the folder out of the index.
  private func forget(_ e: Entry, size: Int64) {
    index.remove(e.sequence, e.kind, bytes: size >= 0 ? size : nil)
    oldestKnown = false
  }

  private func fileSize(_ name: String) -> Int64 {
    var st = stat()
    if stat(path(name), &st) < 0 { return -1 }
    return Int64(st.st_size)
  }

  /// Capture time (Unix ms) of the oldest message, nil when empty. Reads the oldest file's
  /// header when the oldest may have changed.
  public func oldestCaptureMs() -> Int64? {
    if index.count == 0 { return nil }
    if oldestKnown { return oldestCache }
    oldestCache = nil
    if let e = next(after: nil, limit: 1).entries.first {
      let fd = try? Sys.open(path(e.name), O_RDONLY)
      if let fd = fd {
        var head = [UInt8](repeating: 0, count: SpoolRecord.headerSize)
        let n = head.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress, raw.count, 0) }
        Sys.close(fd)
        if n == SpoolRecord.headerSize, let h = try? SpoolRecord.header(head[...]) {
          oldestCache = h.captureMs
        }
      }
    }
    oldestKnown = true
    return oldestCache
  }

  /// Whether a file can be created, written and fsynced in the folder now (the selftest).
  public func probeWritable() -> String? {
    let path = dir + "/selftest.probe"
    do throws(SystemError) {
      let fd = try Sys.open(path, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o640)
      defer { Sys.close(fd) }
      try Sys.writeAll(fd, [0x76])
      if fsync(fd) < 0 { throw SystemError("fsync", errno: Sys.errno, subject: path) }
    } catch {
      unlink(path)
      return error.message
    }
    unlink(path)
    return nil
  }

  /// Bytes free for an unprivileged writer on the spool's file system; nil if unknown.
  public func freeBytes() -> Int64? {
    var s = statvfs()
    if statvfs(dir, &s) < 0 { return nil }
    let (v, overflow) = Int64(clamping: s.f_bavail)
      .multipliedReportingOverflow(by: Int64(clamping: s.f_frsize))
    return overflow ? Int64.max : v
  }
}

/// Reading a folder's names with opendir/readdir, one at a time.
enum Directory {
  static func each(_ path: String, _ body: (String, Bool) -> Void) {
    guard let d = opendir(path) else { return }
    defer { closedir(d) }
    while let ent = readdir(d) {
      let isDir = ent.pointee.d_type == UInt8(DT_DIR)
      let name = withUnsafePointer(to: &ent.pointee.d_name) { p in
        p.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
      }
      if name == "." || name == ".." { continue }
      body(name, isDir)
    }
  }
}
