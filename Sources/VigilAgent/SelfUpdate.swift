import CVigil
import VigilCore
import VigilPlatform

/// Signed self-update (`R/update`): a manifest signed by a trusted key names a binary; it is
/// downloaded in the loop (libcurl multi) to the update folder, its size and SHA-256 checked a
/// piece per turn, run once as `NEW check-config CONFIG` (it links on this box and reads its
/// config), then swapped in by rename when the agent stops, and systemd starts it: a trial.
/// The new binary commits itself once it has been healthy (connected, heartbeats going out) for
/// the manifest's `trial_s`; it rolls back when that has not happened within twice that time.
/// Starts that crash are counted by the launcher (UpdateLauncher.swift). Every step is kept in
/// `state.json` and published retained on `R/update/state`.
final class SelfUpdate: AgentPart {
  private let agent: Agent
  private let http: () -> HTTPClient?
  /// Whether the mains line says lost: the trial's clock stops meanwhile.
  var mainsLost: () -> Bool = { false }
  private var state: UpdateState?
  /// The highest sequence ever taken: `last-seq` (UpdateLauncher), or the state's if higher.
  private var lastSeq: Int64 = 0
  /// The manifest being fetched or checked.
  private var manifest: UpdateManifest?
  private var transfer: HTTPClient.Transfer?
  private var fd: Int32 = -1
  private var retry: EventLoop.Timer?
  private var retryS = 30
  private var hasher: SHA256Stream?
  /// The piece being hashed: made once per verify, not once per turn, and let go after it.
  private var hashBuffer: [UInt8] = []
  private var child: Int32 = 0
  private var childOut: Int32 = -1
  private var childText: [UInt8] = []
  private var childTimer: EventLoop.Timer?
  private var childStartMs: Int64 = 0
  /// A refused payload, by size and checksum: a retained copy coming back at every connect is
  /// refused once, not again and again.
  private var refused: (size: Int, crc: UInt32)?
  private var swapOnStop = false
  // The trial, when this binary is the one on trial.
  private var trialTimer: EventLoop.Timer?
  private var trialStartMs: Int64 = 0
  private var healthySinceMs: Int64?
  private var trialBeats = 0

  static let checkTimeoutMs: Int64 = 30_000
  static let hashPiece = 65_536

  init(agent: Agent, http: @escaping () -> HTTPClient?) {
    self.agent = agent
    self.http = http
  }

  var dir: String { UpdateLauncher.folder(stateDir: agent.stateDir) }
  var topic: String { agent.topicRoot + "/update" }
  var partPath: String { dir + "/download.part" }

  func start() {
    state = UpdateLauncher.readState(dir)
    lastSeq = max(state?.lastSeq ?? 0, UpdateLauncher.readLastSeq(dir))
    guard let s = state, s.phase == .trial else { return }
    if UpdateLauncher.runningSeq == s.seq {
      trialStartMs = Clock.monotonicMs()
      Log.notice("update " + s.version + " on trial: kept after " + String(s.trialS)
        + " s connected with heartbeats going out")
      trialTimer = agent.loop.every(ms: 1000) { [self] in self.trialTick() }
    } else {
      // The swap did not complete (power lost between the state and the link): this binary is
      // the previous one.
      var t = s
      UpdateLauncher.rollBack(&t, dir: dir, reason: "the swap to it did not complete")
      state = t
    }
  }

  func brokerConnected() {
    agent.session.subscribe(topic, qos: 0)
    if let s = state { publish(s) }
  }

  func status(into lines: inout [String]) {
    guard let s = state else { return }
    var l = "update: " + s.phase.rawValue + " " + s.version + " (seq " + String(s.seq) + ")"
    if let r = s.reason { l += ": " + r }
    lines.append(l)
  }

  func received(topic t: String, payload: [UInt8]) -> Bool {
    guard t == topic else { return false }
    if payload.isEmpty { return true }  // a retained manifest cleared
    if let r = refused, r.size == payload.count, r.crc == CRC32C.checksum(payload) { return true }
    do throws(ConfigError) { try take(payload) } catch {
      refused = (payload.count, CRC32C.checksum(payload))
      Log.warning("update refused: " + error.message)
      // Not kept: the state on disk stays that of the last update taken.
      var r = UpdateState(phase: .rejected, version: "", seq: 0, lastSeq: lastSeq,
                          reason: error.message, tsMs: Clock.wallMs())
      if let v = try? JSON.parse(unwrapped(payload)) {
        r.version = v["version"]?.stringValue ?? ""
        r.seq = v["seq"]?.int64Value ?? 0
      }
      publish(r)
    }
    return true
  }

  /// The document inside an envelope, unverified (only to name the refused version).
  private func unwrapped(_ payload: [UInt8]) -> [UInt8] {
    (try? RemoteDocument.unwrap(payload, trusted: false, decodeBase64: Signature.fromBase64,
                                verify: { _, _ in false }).doc) ?? payload
  }

  private func take(_ payload: [UInt8]) throws(ConfigError) {
    let keys = agent.config.trustedKeys
    if keys.isEmpty {
      throw ConfigError("sig", "updates must be signed, and this site has no trusted_keys")
    }
    let u = try RemoteDocument.unwrap(
      payload, trusted: true, decodeBase64: Signature.fromBase64,
      verify: { doc, sig in Signature.verify(doc, signature: sig, publicKeys: keys) })
    let m = try UpdateManifest.read(u.doc, siteId: agent.config.siteId)
    let last = lastSeq
    if let s = state, m.seq == s.seq {
      // The same manifest again (retained, at every connect): an interrupted download or check
      // starts over; anything else about it is settled.
      if manifest == nil, s.phase == .downloading || s.phase == .verifying || s.phase == .staged {
        Log.info("update " + m.version + ": starting its download again")
        begin(m, lastSeq: last)
      }
      return
    }
    if m.seq <= last {
      throw ConfigError("seq", String(m.seq) + " is not newer than the last update taken ("
        + String(last) + ")")
    }
    // Kept on its own before anything else: a replay stays refused even if state.json is lost.
    do throws(SystemError) {
      try Files.makeDirectories(dir)
      try UpdateLauncher.saveLastSeq(m.seq, dir)
    } catch {
      throw ConfigError("seq", String(m.seq) + " cannot be recorded, so it is not taken: " + error.message)
    }
    lastSeq = m.seq
    if let old = manifest { Log.notice("update " + old.version + " replaced by " + m.version) }
    begin(m, lastSeq: m.seq)
  }

  // MARK: download

  private func begin(_ m: UpdateManifest, lastSeq: Int64) {
    abandon()
    manifest = m
    retryS = 30
    do throws(SystemError) { try Files.makeDirectories(dir) } catch {
      Log.error("update: " + error.message)
    }
    record(UpdateState(phase: .downloading, version: m.version, seq: m.seq, lastSeq: lastSeq,
                       trialS: m.trialS, tsMs: Clock.wallMs()))
    download()
  }

  private func download() {
    guard let m = manifest else { return }
    do throws(SystemError) {
      try Files.makeDirectories(dir)
      fd = try Sys.open(partPath, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o700)
    } catch {
      fail(error.message)
      return
    }
    guard let client = http() else {
      fail("no HTTP client")
      return
    }
    let out = fd
    var failed = false
    let req = HTTPClient.Request(
      url: m.url, connectTimeoutMs: 15_000, totalTimeoutMs: 600_000, maxBytes: m.size,
      sink: { bytes in
        if failed { return false }
        do throws(SystemError) { _ = try Sys.write(out, bytes) } catch { failed = true }
        return !failed
      })
    Log.info("update " + m.version + ": downloading " + m.url)
    transfer = client.get(req) { [self] outcome in self.downloaded(outcome) }
  }

  private func downloaded(_ outcome: HTTPClient.Outcome) {
    transfer = nil
    guard let m = manifest else { return }
    var st = stat()
    let got = fstat(fd, &st) == 0 ? Int(truncatingIfNeeded: Int64(st.st_size)) : -1
    Sys.close(fd)
    fd = -1
    switch outcome {
    case .response(let r):
      if r.status == 200 {
        if got != m.size {
          fail("size: the server sent " + String(got) + " bytes, the manifest says " + String(m.size))
        } else {
          verify()
        }
      } else if r.status >= 400 && r.status < 500 {
        fail("the server answered HTTP " + String(r.status) + " for " + m.url)
      } else {
        later("HTTP " + String(r.status))
      }
    case .failed(.tooLarge, _):
      fail("size: the server sends more than the manifest's " + String(m.size) + " bytes")
    case .failed(_, let why):
      later(why)
    }
  }

  /// A download that did not get through (no uplink, a server error): again later, from the
  /// start, while this manifest is the newest.
  private func later(_ why: String) {
    guard var s = state else { return }
    Log.warning("update " + s.version + ": download failed (" + why + "); again in "
      + String(retryS) + " s")
    s.reason = "download failed: " + why + "; again in " + String(retryS) + " s"
    s.tsMs = Clock.wallMs()
    record(s)
    retry = agent.loop.after(ms: Int64(retryS) * 1000) { [self] in
      self.retry = nil
      self.download()
    }
    retryS = min(retryS * 2, 600)
  }

  // MARK: verify and check

  private func verify() {
    guard var s = state else { return }
    s.phase = .verifying
    s.reason = nil
    s.tsMs = Clock.wallMs()
    record(s)
    do throws(SystemError) { fd = try Sys.open(partPath, O_RDONLY) } catch {
      fail(error.message)
      return
    }
    hasher = SHA256Stream()
    hashBuffer = [UInt8](repeating: 0, count: Self.hashPiece)
    hashStep()
  }

  /// One piece a turn: a 16 MiB file never holds the loop for more than one read and hash.
  private func hashStep() {
    guard let h = hasher, let m = manifest else { return }
    let n = hashBuffer.withUnsafeMutableBytes { CVigil.read(fd, $0.baseAddress, $0.count) }
    if n < 0 {
      fail(SystemError("read", errno: Sys.errno, subject: partPath).message)
      return
    }
    if n > 0 {
      hashBuffer.withUnsafeBytes { h.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
      agent.loop.after(ms: 0) { [self] in self.hashStep() }
      return
    }
    Sys.close(fd)
    fd = -1
    hasher = nil
    hashBuffer = []
    let sum = h.finish()
    if sum != m.sha256 {
      fail("sha256: the file's is " + sum + ", the manifest's " + m.sha256)
      return
    }
    check()
  }

  /// The new binary checks this box's config: it runs here (architecture, C libraries) and
  /// reads what this agent reads.
  private func check() {
    guard manifest != nil else { return }
    chmod(partPath, 0o700)
    var p: [Int32] = [0, 0]
    guard pipe(&p) == 0 else {
      fail(SystemError("pipe2", errno: Sys.errno).message)
      return
    }
    _ = vigil_set_nonblock_cloexec(p[0])
    _ = vigil_set_nonblock_cloexec(p[1])
    let pid = vigil_spawn(partPath, "check-config", agent.loaded.path, p[1])
    let e = Sys.errno
    Sys.close(p[1])
    if pid < 0 {
      Sys.close(p[0])
      fail("check: cannot run it: " + SystemError("posix_spawn", errno: e).message)
      return
    }
    child = pid
    childOut = p[0]
    childText = []
    childStartMs = Clock.monotonicMs()
    childTimer = agent.loop.every(ms: 100) { [self] in self.checkTick() }
  }

  private func checkTick() {
    var buf = [UInt8](repeating: 0, count: 512)
    let n = buf.withUnsafeMutableBytes { CVigil.read(childOut, $0.baseAddress, $0.count) }
    if n > 0 && childText.count < 512 { childText.append(contentsOf: buf[0..<min(n, 512 - childText.count)]) }
    var status: Int32 = 0
    let r = waitpid(child, &status, WNOHANG)
    if r == 0 {
      if Clock.monotonicMs() - childStartMs > Self.checkTimeoutMs {
        kill(child, SIGKILL)
        _ = waitpid(child, &status, 0)
        endCheck()
        fail("check: the new binary did not finish check-config within 30 s")
      }
      return
    }
    endCheck()
    let exit = (status >> 8) & 0xFF
    let signo = status & 0x7F
    if r < 0 || signo != 0 || exit != 0 {
      var why = r < 0 ? "lost" : signo != 0 ? "killed by signal " + String(signo)
        : "exit " + String(exit)
      // Its first line, control bytes shown as '?'.
      var first: [UInt8] = []
      for b in childText {
        if b == 0x0A || first.count >= 200 { break }
        first.append(b < 0x20 || b == 0x7F ? 0x3F : b)
      }
      if !first.isEmpty { why += ": " + String(decoding: first, as: UTF8.self) }
      fail("check: the new binary's check-config failed (" + why + ")")
      return
    }
    stage()
  }

  private func endCheck() {
    agent.loop.cancel(childTimer)
    childTimer = nil
    Sys.close(childOut)
    childOut = -1
    child = 0
  }

  /// Checked: swapped in when the agent stops, now.
  private func stage() {
    guard var s = state, let m = manifest else { return }
    s.phase = .staged
    s.reason = nil
    s.tsMs = Clock.wallMs()
    record(s)
    Log.notice("update " + m.version + " staged: restarting into it")
    swapOnStop = true
    agent.stopForUpdate()
  }

  /// After the loop: the new binary takes its name, the state says trial, and `current` points
  /// at it, each step durable before the next (a blocking fsync is harmless now: the loop is
  /// done).
  func stop() {
    abandon()
    agent.loop.cancel(trialTimer)
    guard swapOnStop, var s = state else { return }
    let name = "vigil-" + String(s.seq)
    let path = dir + "/" + name
    if let pf = try? Sys.open(partPath, O_RDONLY) {
      _ = fsync(pf)
      Sys.close(pf)
    }
    guard rename(partPath, path) == 0 else {
      failSwap(&s, SystemError("rename", errno: Sys.errno, subject: path).message)
      return
    }
    let previous = UpdateLauncher.runningSeq.map { "vigil-" + String($0) } ?? ""
    let package = getenv("VIGIL_PACKAGE_ID").map { String(cString: $0) }
      ?? UpdateLauncher.packageIdentity()
    do throws(SystemError) {
      try Files.writeAtomically(dir + "/package", Array(package.utf8), mode: 0o600)
    } catch {
      failSwap(&s, error.message)
      return
    }
    s.phase = .trial
    s.previous = previous
    s.previousVersion = Messages.version
    s.tsMs = Clock.wallMs()
    UpdateLauncher.save(s, dir)
    let tmp = dir + "/current.tmp"
    unlink(tmp)
    guard symlink(name, tmp) == 0, rename(tmp, dir + "/current") == 0 else {
      UpdateLauncher.rollBack(&s, dir: dir, reason: "cannot point current at it: "
        + SystemError("symlink", errno: Sys.errno).message)
      return
    }
    try? Files.syncDirectory(dir)
    Log.notice("update " + s.version + " in place; the next start runs it on trial")
  }

  private func failSwap(_ s: inout UpdateState, _ why: String) {
    s.phase = .rejected
    s.reason = "swap: " + why
    s.tsMs = Clock.wallMs()
    UpdateLauncher.save(s, dir)
    Log.error("update " + s.version + ": swap: " + why)
  }

  // MARK: trial

  private func trialTick() {
    guard let s = state, s.phase == .trial else {
      agent.loop.cancel(trialTimer)
      return
    }
    let now = Clock.monotonicMs()
    if mainsLost() {
      // A power cut is not the binary's fault: its clock stops until the mains is back.
      trialStartMs += 1000
      healthySinceMs = nil
      return
    }
    let hbMs = Int64(agent.config.heartbeatS) * 1000
    let beatRecent = agent.lastHeartbeatMs > 0 && now - agent.lastHeartbeatMs <= 2 * hbMs + 1000
    if agent.session.isConnected && beatRecent {
      if healthySinceMs == nil {
        healthySinceMs = now
        trialBeats = agent.heartbeatsSent
      }
      if let since = healthySinceMs, now - since >= Int64(s.trialS) * 1000,
        agent.heartbeatsSent - trialBeats >= 2
      {
        commit()
      }
    } else {
      healthySinceMs = nil
    }
    if now - trialStartMs >= 2 * Int64(s.trialS) * 1000, state?.phase == .trial {
      var t = s
      let why = agent.session.isConnected ? "its heartbeats did not go out"
        : "not connected to a broker"
      UpdateLauncher.rollBack(&t, dir: dir, reason: "not healthy for " + String(s.trialS)
        + " s within " + String(2 * s.trialS) + " s of its trial (" + why + ")")
      state = t
      publish(t)
      agent.loop.cancel(trialTimer)
      agent.stopForUpdate()
    }
  }

  private func commit() {
    guard var s = state else { return }
    agent.loop.cancel(trialTimer)
    trialTimer = nil
    s.phase = .committed
    s.reason = nil
    s.tsMs = Clock.wallMs()
    if !s.previous.isEmpty && s.previous != "vigil-" + String(s.seq) {
      unlink(dir + "/" + s.previous)
    }
    record(s)
    Log.notice("update " + s.version + " committed after " + String(s.trialS) + " s healthy")
  }

  // MARK: state

  private func fail(_ why: String) {
    abandon()
    guard var s = state else { return }
    unlink(partPath)
    s.phase = .rejected
    s.reason = why
    s.tsMs = Clock.wallMs()
    record(s)
    Log.error("update " + s.version + " rejected: " + why)
  }

  /// Stops a download, hash or check in progress.
  private func abandon() {
    if let t = transfer { http()?.cancel(t) }
    transfer = nil
    agent.loop.cancel(retry)
    retry = nil
    if fd >= 0 {
      Sys.close(fd)
      fd = -1
    }
    hasher = nil
    hashBuffer = []
    if child > 0 {
      kill(child, SIGKILL)
      var st: Int32 = 0
      _ = waitpid(child, &st, 0)
      endCheck()
    }
    manifest = nil
  }

  private func record(_ s: UpdateState) {
    state = s
    UpdateLauncher.save(s, dir)
    publish(s)
  }

  private func publish(_ s: UpdateState) {
    guard agent.session.isConnected else { return }
    agent.session.publish(topic + "/state", s.encode(), qos: 1, retain: true)
  }
}
