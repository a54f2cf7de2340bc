import CVigil
import VigilCore
import VigilPlatform

/// Configuration from the centre on `R/config/set`: validated whole, written atomically beside
/// the last good document, applied, and confirmed once the agent is connected again under it,
/// or rolled back after `confirm_s` (a router's "commit confirmed"). Outcomes go to the retained
/// `R/config/state` and to events.
final class RemoteConfig: AgentPart {
  private let agent: Agent
  private var confirm = ConfigConfirm()
  private var deadline: EventLoop.Timer?
  /// The last outcome, published (retained) again on every connect.
  private var lastState: [UInt8]?
  /// Payloads already refused, so a retained document coming back on every reconnect is
  /// refused once, not reported again and again.
  /// The last refused document, by size and checksum (not a copy: it may be 256 KiB), so the
  /// retained copy that comes back on every reconnect is refused again without work.
  private var refused: (size: Int, crc: UInt32)?
  /// A version rolled back stays refused until a higher one arrives (kept on disk).
  private var rolledBackVersion: Int

  init(agent: Agent) {
    self.agent = agent
    rolledBackVersion = Self.readNumber(Self.rolledBackPath(agent.stateDir)) ?? 0
    if let v = Self.rolledBackAtStart {
      lastState = Self.state(version: v, status: "rolled_back",
                             error: "the agent restarted while version " + String(v)
                               + " was pending")
    }
  }

  // MARK: files

  static func lastGoodPath(_ configPath: String) -> String { configPath + ".last-good" }
  static func pendingPath(_ stateDir: String) -> String { stateDir + "/config-pending" }
  static func rolledBackPath(_ stateDir: String) -> String { stateDir + "/config-rolled-back" }

  static func readNumber(_ path: String) -> Int? {
    guard Files.exists(path), let bytes = try? Files.read(path, limit: 64) else { return nil }
    return Int(String(decoding: bytes.filter { $0 != 0x0A }, as: UTF8.self))
  }

  /// Set when the agent found a document pending at start and went back to the last good one.
  nonisolated(unsafe) static var rolledBackAtStart: Int?

  /// At start: a document still pending means the agent stopped (or lost power) before it was
  /// confirmed. The last good document is put back before anything runs on the unproven one.
  static func recoverAtStart(_ loaded: LoadedConfig) -> LoadedConfig {
    let stateDir = loaded.config.spool.dir + "/state"
    guard let version = readNumber(pendingPath(stateDir)) else { return loaded }
    let good = lastGoodPath(loaded.path)
    do throws(SystemError) {
      let bytes = try Files.read(good, limit: 1 << 20)
      let restored = try? ConfigFile.validate(bytes, path: loaded.path)
      guard let back = restored else {
        Log.error("config version " + String(version) + " was pending, but " + good
          + " does not validate; keeping it")
        unlink(pendingPath(stateDir))
        return loaded
      }
      try Files.writeAtomically(loaded.path, bytes, mode: 0o640)
      try Files.writeAtomically(rolledBackPath(stateDir), Array((String(version) + "\n").utf8))
      unlink(pendingPath(stateDir))
      rolledBackAtStart = version
      Log.warning("config version " + String(version)
        + " was pending at start: rolled back to version "
        + String(back.config.version))
      return back
    } catch {
      Log.error("config version " + String(version) + " was pending; cannot roll back: "
        + error.message)
      return loaded
    }
  }

  // MARK: AgentPart

  func brokerConnected() {
    if let s = lastState { publishState(s) }
    let action = confirm.connected(nowMs: Clock.monotonicMs())
    perform(action)
    if let v = Self.rolledBackAtStart {
      Self.rolledBackAtStart = nil
      agent.events.emit("config_rolled_back") { w in
        w.field("version", v)
        w.field("running_version", self.agent.config.version)
        w.field("reason", "the agent restarted while version " + String(v) + " was pending")
      }
    }
    if lastState == nil {
      publishState(Self.state(version: agent.config.version, status: "applied", error: nil))
    }
  }

  func received(topic: String, payload: [UInt8]) -> Bool {
    guard topic == agent.topicRoot + "/config/set" else { return false }
    handle(payload)
    return true
  }

  /// A document past `BrokerSession.maxPayloadBytes` (256 KiB) is refused from its size, never
  /// copied; the same size again (the retained copy on a reconnect) is ignored.
  func oversized(topic: String, bytes: Int) -> Bool {
    guard topic == agent.topicRoot + "/config/set" else { return false }
    if let r = refused, r.size == bytes, r.crc == 0 { return true }
    refuse([], size: bytes, version: nil, ConfigError(
      "", "document of " + String(bytes) + " bytes refused: at most 262144"))
    return true
  }

  func status(into lines: inout [String]) {
    if case .pending(let v, _, _) = confirm.state {
      lines.append("config version " + String(v) + " PENDING confirmation")
    }
  }

  // MARK: handling a document

  private func handle(_ payload: [UInt8]) {
    if let r = refused, r.size == payload.count, r.crc == CRC32C.checksum(payload) {
      Log.debug("config document refused before arrived again; ignored")
      return
    }
    let running = agent.loaded
    let doc: RemoteDocument.Unwrapped
    let merged: JSONValue
    let next: LoadedConfig
    do throws(ConfigError) {
      doc = try RemoteDocument.unwrap(
        payload, trusted: !running.config.trustedKeys.isEmpty,
        decodeBase64: { Signature.fromBase64($0) },
        verify: { d, s in Signature.verify(d, signature: s, publicKeys: running.config.trustedKeys) })
      let value: JSONValue
      do { value = try JSON.parse(doc.doc) } catch { throw ConfigError(error) }
      if doc.signed { try RemoteDocument.checkSignedSite(value, siteId: running.config.siteId) }
      merged = try RemoteDocument.merge(value, running: running.document)
      next = try ConfigFile.validate(merged.encoded(), path: running.path)
      try RemoteDocument.checkLocalFields(next.config, running: running.config)
      if !doc.signed { try RemoteDocument.checkUnsignedChanges(next.config, running: running.config) }
    } catch {
      refuse(payload, version: versionOf(payload), error)
      return
    }
    let version = next.config.version
    if version == running.config.version
      && RemoteDocument.same(merged, running.document)
    {
      Log.debug("config version " + String(version) + " is already running; nothing to do")
      return
    }
    if confirm.isPending {
      refuse(payload, version: version,
             ConfigError("version", "another version is waiting for confirmation"))
      return
    }
    if version <= running.config.version {
      refuse(payload, version: version,
             ConfigError("version", String(version) + " is not newer than the running version "
               + String(running.config.version)))
      return
    }
    if version <= rolledBackVersion {
      refuse(payload, version: version,
             ConfigError("version", String(version) + " was rolled back; send a higher version"))
      return
    }
    apply(next, bytes: merged.encoded(), previous: running)
  }

  private func versionOf(_ payload: [UInt8]) -> Int? {
    guard let v = try? JSON.parse(payload) else { return nil }
    if let n = v["version"]?.intValue { return n }
    // An envelope: the version is inside; not worth decoding for an error message.
    return nil
  }

  private func refuse(_ payload: [UInt8], size: Int? = nil, version: Int?,
                      _ problem: ConfigError) {
    refused = (size ?? payload.count, payload.isEmpty ? 0 : CRC32C.checksum(payload))
    let error = problem.message
    Log.warning("config document refused: " + problem.summary)
    publishState(Self.state(version: version, status: "rejected", error: error, problems: problem))
    agent.events.emit("config_rejected") { w in
      w.key("version")
      if let v = version { w.int(v) } else { w.null() }
      w.field("error", error)
      w.key("problem_count")
      w.int(problem.count)
    }
  }

  private func apply(_ next: LoadedConfig, bytes: [UInt8], previous: LoadedConfig) {
    let stateDir = agent.stateDir
    let version = next.config.version
    do throws(SystemError) {
      // Order matters for a power cut at any point: the good copy first, then the marker, then
      // the new document. A marker found at start puts the good copy back.
      try Files.writeAtomically(Self.lastGoodPath(previous.path), previous.bytes, mode: 0o640)
      try Files.writeAtomically(Self.pendingPath(stateDir), Array((String(version) + "\n").utf8))
      try Files.writeAtomically(previous.path, bytes, mode: 0o640)
    } catch {
      unlink(Self.pendingPath(stateDir))
      refuse(bytes, version: version, ConfigError("", "cannot write " + previous.path + ": "
        + error.message))
      return
    }
    var stored = next
    stored.bytes = bytes
    // Said before applying: new broker settings drop the connection this goes out on.
    publishState(Self.state(version: version, status: "pending_confirm", error: nil))
    let reconnects = agent.apply(stored)
    Log.notice("config version " + String(version) + " applied; confirming within "
      + String(next.config.confirmS) + " s")
    let action = confirm.applied(
      version: version, nowMs: Clock.monotonicMs(), confirmS: next.config.confirmS,
      brokersChanged: reconnects, connected: agent.session.isConnected)
    agent.loop.cancel(deadline)
    deadline = agent.loop.after(ms: Int64(next.config.confirmS) * 1000 + 10) { [self] in
      self.perform(self.confirm.tick(nowMs: Clock.monotonicMs()))
    }
    perform(action)
  }

  private func perform(_ action: ConfigConfirm.Action) {
    switch action {
    case .none: return
    case .confirm(let version):
      agent.loop.cancel(deadline)
      unlink(Self.pendingPath(agent.stateDir))
      Log.notice("config version " + String(version) + " confirmed")
      publishState(Self.state(version: version, status: "applied", error: nil))
      agent.events.emit("config_applied") { w in w.field("version", version) }
    case .rollBack(let version, let reason):
      rollBack(version: version, reason: reason)
    }
  }

  private func rollBack(version: Int, reason: String) {
    let path = agent.loaded.path
    let good = Self.lastGoodPath(path)
    guard let bytes = try? Files.read(good, limit: 1 << 20),
      let restored = try? ConfigFile.validate(bytes, path: path)
    else {
      Log.error("cannot roll back config version " + String(version) + ": " + good + " is unusable")
      return
    }
    do throws(SystemError) {
      try Files.writeAtomically(path, bytes, mode: 0o640)
      try Files.writeAtomically(
        Self.rolledBackPath(agent.stateDir), Array((String(version) + "\n").utf8))
    } catch {
      // Running on the good document matters more than the file: apply it all the same.
      Log.error("rolling back config version " + String(version) + ": " + error.message)
    }
    unlink(Self.pendingPath(agent.stateDir))
    rolledBackVersion = max(rolledBackVersion, version)
    agent.apply(restored)
    Log.warning("config version " + String(version) + " rolled back to "
      + String(restored.config.version) + ": " + reason)
    lastState = Self.state(version: version, status: "rolled_back", error: reason)
    agent.events.emit("config_rolled_back") { w in
      w.field("version", version)
      w.field("running_version", restored.config.version)
      w.field("reason", reason)
    }
    if let s = lastState { publishState(s) }
  }

  private func publishState(_ payload: [UInt8]) {
    lastState = payload
    agent.session.publish(agent.topicRoot + "/config/state", payload, qos: 1, retain: true)
  }

  /// `problems`: a refused document's problems, each `{"field", "reason"}` (the first 20), and
  /// `problem_count`, how many were found.
  static func state(version: Int?, status: String, error: String?, problems: ConfigError? = nil)
    -> [UInt8]
  {
    var w = JSONWriter()
    w.beginObject()
    w.key("version")
    if let v = version { w.int(v) } else { w.null() }
    w.field("status", status)
    w.field("error", optional: error)
    if let p = problems {
      w.key("problem_count")
      w.int(p.count)
      w.key("problems")
      w.beginArray()
      for e in p.all {
        w.beginObject()
        w.field("field", e.field)
        w.field("reason", e.reason)
        w.endObject()
      }
      w.endArray()
    }
    w.endObject()
    return w.bytes
  }
}

/// `R/cmd`: `{"id":…,"line":"relay cam1 cycle"}` runs the console's dispatcher; the answer
/// goes to `R/cmd/result` as `{"id":…,"ok":…,"output":…}`. Live only: a clean session means
/// a command queued while the box was away is never delivered late.
final class RemoteCommands: AgentPart {
  private let agent: Agent
  /// Signed commands already run, until they expire; kept in `<state>/command-ids` too, so
  /// that a command captured and sent again after a restart is still a replay.
  private var replays = CommandReplayGuard()
  private var idsPath: String { agent.stateDir + "/command-ids" }

  init(agent: Agent) { self.agent = agent }

  func start() {
    guard Files.exists(idsPath) else { return }
    do throws(SystemError) {
      let (g, damaged) = CommandReplayGuard.decode(
        try Files.read(idsPath, limit: 256 * 1024), nowS: Clock.wallMs() / 1000)
      replays = g
      if damaged > 0 {
        Log.warning("remote commands: " + String(damaged) + " damaged lines in " + idsPath + " skipped")
      }
    } catch {
      Log.error("remote commands: " + error.message + "; signed ids run before this start are not known")
    }
  }

  func received(topic: String, payload: [UInt8]) -> Bool {
    guard topic == agent.topicRoot + "/cmd" else { return false }
    if !agent.config.trustedKeys.isEmpty {
      signedRequest(payload)
      return true
    }
    var id: JSONValue = .null
    let result: CommandResult
    var parsed: JSONValue? = nil
    var notObject = "request must be a JSON object {\"id\":…,\"line\":…}"
    if payload.count <= 4096 {
      do { parsed = try JSON.parse(payload) } catch {
        // A value JSON parsing refuses (`{"id":1e472}`: past a double) is named.
        if !error.reason.isEmpty { notObject = "request refused: " + error.message }
      }
    }
    if payload.count > 4096 {
      result = .fail(Self.tooLarge(payload.count))
    } else if let request = parsed, case .object = request {
      if let v = request["id"] {
        switch v {
        case .string, .number: id = v
        default: break
        }
      }
      if case .null = id {
        result = .fail("request needs an \"id\" (a string or a number)")
      } else if let line = request["line"]?.stringValue {
        let label: String
        if case .string(let s) = id {
          label = s
        } else {
          // The number as it goes back in the result: 3e9 too, past a 32-bit Int.
          var w = JSONWriter()
          id.write(to: &w)
          label = String(decoding: w.bytes, as: UTF8.self)
        }
        Log.info("command from the centre (" + label + "): " + line)
        result = agent.commands.run(line, origin: .remote(id: label))
      } else {
        result = .fail("request needs a \"line\" (a string)")
      }
    } else {
      result = .fail(notObject)
    }
    answer(id, result)
    return true
  }

  static func tooLarge(_ n: Int) -> String {
    "request of " + String(n) + " bytes too large (at most 4096 bytes)"
  }

  /// With trusted keys: only a signed command for this site, not expired, not seen before.
  private func signedRequest(_ payload: [UInt8]) {
    if payload.count > 4096 {
      refuse(.null, Self.tooLarge(payload.count))
      return
    }
    let keys = agent.config.trustedKeys
    let nowS = Clock.wallMs() / 1000
    let cmd: SignedCommand
    do throws(SignedCommand.Refusal) {
      cmd = try SignedCommand.open(
        payload, siteId: agent.config.siteId, bootId: agent.bootId, nowS: nowS,
        decodeBase64: { Signature.fromBase64($0) },
        verify: { d, s in Signature.verify(d, signature: s, publicKeys: keys) })
    } catch {
      refuse(error.id, error.reason)
      return
    }
    var w = JSONWriter()
    cmd.id.write(to: &w)
    let key = String(decoding: w.bytes, as: UTF8.self)
    if let why = replays.admit(key, expiresS: cmd.expiresS, nowS: nowS) {
      refuse(cmd.id, why)
      return
    }
    // Kept before it runs: a restart in between must not let it run twice.
    do throws(SystemError) { try Files.writeAtomically(idsPath, replays.encode(), mode: 0o600) } catch {
      Log.warning("remote commands: " + error.message + " (the id is kept in memory only)")
    }
    Log.info("signed command from the centre (" + key + "): " + cmd.line)
    answer(cmd.id, agent.commands.run(cmd.line, origin: .remote(id: key)))
  }

  /// A command not run: answered `ok: false` with the reason, and told as `command_refused`.
  private func refuse(_ id: JSONValue, _ reason: String) {
    Log.warning("command refused: " + reason)
    answer(id, .fail(reason))
    agent.events.emit("command_refused") { w in
      w.key("id")
      id.write(to: &w)
      w.field("reason", reason)
    }
  }

  /// A request past the copy limit (4 KiB on `/cmd`): refused from its size, never copied (its
  /// id is never read).
  func oversized(topic: String, bytes: Int) -> Bool {
    guard topic == agent.topicRoot + "/cmd" else { return false }
    answer(.null, .fail(Self.tooLarge(bytes)))
    return true
  }

  private func answer(_ id: JSONValue, _ result: CommandResult) {
    var w = JSONWriter()
    w.beginObject()
    w.key("id")
    id.write(to: &w)
    w.field("ok", result.ok)
    w.field("output", result.output)
    w.endObject()
    agent.session.publish(agent.topicRoot + "/cmd/result", w.bytes, qos: 1, retain: false)
  }
}
