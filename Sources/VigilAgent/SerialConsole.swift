import VigilCore
import VigilPlatform

/// The technician's shell on `console.device`: the port (SerialPort), the login and the line
/// editing (ConsoleSession), the commands from the shared dispatcher, the login record on disk,
/// and the `console_*` events.
final class SerialConsole: AgentPart {
  private let agent: Agent
  private var settings: Config.Console?
  private var port: SerialPort?
  private var session: ConsoleSession?
  private var ticker: EventLoop.Timer?

  /// Where the failure count and the lockout's remaining time are kept.
  private var recordPath: String { agent.stateDir + "/console_lockout" }

  init(agent: Agent) {
    self.agent = agent
    agent.commands.register("exit", usage: "exit", summary: "log out of the serial console") {
      _, origin in
      origin == .console ? .ok("") : .fail("exit: only on the serial console")
    }
  }

  // MARK: AgentPart

  func start() {
    guard let c = agent.config.console else { return }
    open(c)
  }

  func stop() {
    close()
  }

  func configChanged(from old: LoadedConfig) {
    let next = agent.config.console
    guard next != settings else { return }
    guard let n = next, let s = settings, let session = session else {
      // Added or removed (a SIGHUP reload may do either).
      close()
      if let n = next { open(n) }
      return
    }
    if n.lockoutS != s.lockoutS { session.setLockout(seconds: n.lockoutS, nowMs: Clock.monotonicMs()) }
    if n.pinHash != s.pinHash { warnIfHashUnusable(n.pinHash) }
    settings = n
    if n.device != s.device || n.baud != s.baud {
      Log.notice("console: now " + n.device + " at " + String(n.baud))
      session.detach(nowMs: Clock.monotonicMs())
      port?.stop()
      startPort(n)
    }
  }

  func status(into lines: inout [String]) {
    guard let c = settings, let port = port, let session = session else { return }
    var line = "console " + c.device + " "
    line += port.isOpen ? "open" : "absent (" + port.problem + ")"
    switch session.state {
    case .locked: line += ", LOCKED for " + String(session.remainingS(Clock.monotonicMs())) + " s"
    case .loggedIn: line += ", logged in"
    case .loggedOut:
      if session.failures > 0 { line += ", " + String(session.failures) + " wrong PINs" }
    }
    lines.append(line)
  }

  // MARK: wiring

  private func open(_ c: Config.Console) {
    settings = c
    warnIfHashUnusable(c.pinHash)
    let now = Clock.monotonicMs()
    let restored = readRecord(lockoutS: c.lockoutS)
    let session = ConsoleSession(
      siteId: agent.config.siteId, version: Messages.version, lockoutS: c.lockoutS,
      maxLine: Commands.maxLine, restored: restored, nowMs: now,
      checkPin: { [self] pin in self.check(pin) },
      run: { [self] line in
        // What a technician ran, for the log (a PIN never gets here: only logged-in lines do).
        Log.info("console: " + line)
        let r = self.agent.commands.run(line, origin: .console)
        return (r.ok, r.output)
      },
      report: { [self] event in self.report(event) },
      save: { [self] record in self.writeRecord(record) })
    self.session = session
    if session.state == .locked {
      Log.warning("console: locked for " + String(session.remainingS(now))
        + " s more (kept across restarts)")
    }
    ticker = agent.loop.every(ms: 1000) { [self] in
      self.session?.tick(nowMs: Clock.monotonicMs())
      self.flushOutput()
    }
    startPort(c)
  }

  private func startPort(_ c: Config.Console) {
    let port = SerialPort(loop: agent.loop, device: c.device, baud: c.baud)
    port.onOpen = { [self] in
      self.session?.attach(nowMs: Clock.monotonicMs())
      self.flushOutput()
    }
    port.onBytes = { [self] bytes in
      self.session?.receive(bytes, nowMs: Clock.monotonicMs())
      self.flushOutput()
    }
    port.onClose = { [self] _ in
      self.session?.detach(nowMs: Clock.monotonicMs())
    }
    self.port = port
    port.start()
  }

  private func close() {
    // A lockout's remaining time is saved as it stands (failures are saved as they happen).
    if let s = session, s.state == .locked { writeRecord(s.record(nowMs: Clock.monotonicMs())) }
    agent.loop.cancel(ticker)
    ticker = nil
    port?.stop()
    port = nil
    // The session's hooks hold this part: let it go to break the cycle.
    session = nil
    settings = nil
  }

  /// Moves what the session has to say to the port (or drops it when no device is there).
  private func flushOutput() {
    guard let s = session else { return }
    let out = s.takeOutput()
    if !out.isEmpty { port?.write(out) }
  }

  /// One PIN check, on the loop: bounded by the preset (a hash beyond it is refused unchecked,
  /// so no login can stall the agent) and timed in the debug log.
  private func check(_ pin: String) -> Bool {
    guard let c = settings else { return false }
    let started = Clock.monotonicNs()
    let result = PinHash.check(pin, against: c.pinHash)
    let us = (Clock.monotonicNs() - started) / 1000
    switch result {
    case .match, .wrong:
      Log.debug("console: PIN checked in " + String(us / 1000) + "." + String(us % 1000 / 100)
        + " ms")
      return result == .match
    case .refused(let why):
      Log.error("console: PIN not checked, login refused: console.pin_hash " + why)
      return false
    }
  }

  /// Config validation refuses such a hash; this says so at start too, should one get here.
  private func warnIfHashUnusable(_ hash: String) {
    do throws(PinHashRefusal) { _ = try PinHashLimits.checked(hash) } catch {
      Log.error("console.pin_hash " + error.reason + ": no PIN can log in")
    }
  }

  private func report(_ event: ConsoleSession.Event) {
    let device = settings?.device ?? ""
    var kind = ""
    var failures: Int? = nil
    var lockoutS: Int? = nil
    var reason: String? = nil
    switch event {
    case .login:
      Log.notice("console: technician logged in on " + device)
      kind = "console_login"
    case .loginFailed(let n):
      Log.warning("console: wrong PIN on " + device + " (" + String(n) + " in a row)")
      kind = "console_login_failed"
      failures = n
    case .locked(let n, let seconds):
      Log.warning("console: locked for " + String(seconds) + " s after " + String(n)
        + " wrong PINs")
      kind = "console_locked"
      failures = n
      lockoutS = seconds
    case .unlocked:
      Log.notice("console: lockout over")
      return
    case .logout(let why):
      Log.notice("console: technician logged out (" + why + ")")
      kind = "console_logout"
      reason = why
    }
    // One call site for every kind: each closure given to emit is compiled on its own.
    agent.events.emit(kind) { w in
      w.field("device", device)
      if let n = failures { w.field("failures", n) }
      if let s = lockoutS { w.field("lockout_s", s) }
      if let r = reason { w.field("reason", r) }
    }
  }

  // MARK: the login record

  /// The record on disk. Missing: a fresh start. Unreadable or damaged: treated as a lockout
  /// just begun, since the file may have been tampered with to lift one.
  private func readRecord(lockoutS: Int) -> ConsoleLockout {
    let path = recordPath
    if !Files.exists(path) { return ConsoleLockout() }
    let bytes: [UInt8]
    do { bytes = try Files.read(path, limit: 4096) } catch {
      Log.error("console: cannot read " + path + ": " + error.message + "; locking for "
        + String(lockoutS) + " s")
      return ConsoleLockout(failures: ConsoleSession.maxFailures, remainingS: lockoutS)
    }
    guard let record = ConsoleLockout.decode(bytes) else {
      Log.error("console: " + path + " is damaged; locking for " + String(lockoutS) + " s")
      return ConsoleLockout(failures: ConsoleSession.maxFailures, remainingS: lockoutS)
    }
    return record
  }

  private func writeRecord(_ record: ConsoleLockout) {
    do {
      try Files.makeDirectories(agent.stateDir)
      try Files.writeAtomically(recordPath, record.encode(), mode: 0o600)
    } catch {
      Log.error("console: cannot save the login record: " + error.message)
    }
  }
}
