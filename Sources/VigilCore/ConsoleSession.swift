/// The serial console's one state machine: a banner and a PIN prompt, a shell once the PIN is
/// right, a lockout after `maxFailures` wrong PINs, logout on `exit`, after `idleMs` without a
/// key, or when the device goes away. Pure: the caller feeds it bytes and clock ticks with
/// `nowMs` (monotonic), takes its output with `takeOutput()`, and is told through the hooks when
/// to check a PIN, run a command, report an event, and save the login record.
public final class ConsoleSession {
  public enum State: Equatable { case loggedOut, loggedIn, locked }

  /// What the agent reports (as MQTT events and log lines).
  public enum Event: Equatable {
    case login
    case loginFailed(failures: Int)
    case locked(failures: Int, seconds: Int)
    case unlocked
    case logout(reason: String)
  }

  /// Wrong PINs in a row that lock the console (DESIGN.md: five).
  public static let maxFailures = 5
  /// A logged-in session with no key pressed for this long is logged out. A constant: the
  /// config schema has no key for it, and five minutes is long enough to read a manual.
  public static let idleMs: Int64 = 5 * 60_000
  /// While locked, the remaining time is written to disk this often, so a power cut adds at
  /// most this much to a lockout (see ConsoleLockout).
  public static let refreshMs: Int64 = 30_000

  public let siteId: String
  public let version: String
  public private(set) var state: State = .loggedOut
  public private(set) var failures = 0
  private var lockoutMs: Int64
  private var lockedUntilMs: Int64 = 0
  private var lastInputMs: Int64
  private var lastSavedMs: Int64
  private var editor: LineEditor
  private var pending: [UInt8] = []

  private let checkPin: (String) -> Bool
  private let run: (String) -> (ok: Bool, output: String)
  private let report: (Event) -> Void
  private let save: (ConsoleLockout) -> Void

  /// - Parameters:
  ///   - restored: the record read from disk; a lockout in it continues (never longer than
  ///     `lockoutS`, in case the setting was lowered).
  ///   - checkPin: whether a PIN (already of the right shape) matches the configured hash.
  ///   - run: runs a command line through the shared dispatcher.
  ///   - report: an event happened.
  ///   - save: the login record changed; write it to disk.
  public init(
    siteId: String, version: String, lockoutS: Int, maxLine: Int, restored: ConsoleLockout,
    nowMs: Int64, checkPin: @escaping (String) -> Bool,
    run: @escaping (String) -> (ok: Bool, output: String),
    report: @escaping (Event) -> Void, save: @escaping (ConsoleLockout) -> Void
  ) {
    self.siteId = siteId
    self.version = version
    self.lockoutMs = Int64(max(1, lockoutS)) * 1000
    self.editor = LineEditor(maxLength: maxLine)
    self.lastInputMs = nowMs
    self.lastSavedMs = nowMs
    self.checkPin = checkPin
    self.run = run
    self.report = report
    self.save = save
    if restored.remainingS > 0 {
      state = .locked
      failures = max(restored.failures, Self.maxFailures)
      lockedUntilMs = nowMs + min(Int64(restored.remainingS) * 1000, lockoutMs)
    } else {
      // A record with the count at the limit but no time left: that lockout was served.
      failures = restored.failures >= Self.maxFailures ? 0 : restored.failures
    }
    editor.echo = state == .loggedIn ? .plain : .masked
  }

  /// The login record as it should be on disk now.
  public func record(nowMs: Int64) -> ConsoleLockout {
    ConsoleLockout(failures: failures, remainingS: state == .locked ? remainingS(nowMs) : 0)
  }

  /// Seconds of lockout left, rounded up; 0 when not locked.
  public func remainingS(_ nowMs: Int64) -> Int {
    guard state == .locked, lockedUntilMs > nowMs else { return 0 }
    return Int((lockedUntilMs - nowMs + 999) / 1000)
  }

  /// A new `lockout_s` from a config change: applies to the next lockout, and shortens the
  /// current one if it would now end later than the new setting allows.
  public func setLockout(seconds: Int, nowMs: Int64) {
    lockoutMs = Int64(max(1, seconds)) * 1000
    if state == .locked && lockedUntilMs > nowMs + lockoutMs {
      lockedUntilMs = nowMs + lockoutMs
      saveRecord(nowMs)
    }
  }

  /// Output waiting for the port, taken (and cleared) by the caller.
  public func takeOutput() -> [UInt8] {
    let out = pending
    pending.removeAll(keepingCapacity: true)
    return out
  }

  // MARK: the device

  /// The device was opened: greet whoever is on the other end.
  public func attach(nowMs: Int64) {
    editor.reset()
    lastInputMs = nowMs
    if state == .locked && nowMs >= lockedUntilMs {
      unlock(nowMs)  // served while the device was away, before the next tick
      return
    }
    pending += Self.crlf
    greet(nowMs)
  }

  /// The device went away (a USB adapter pulled out): a logged-in session ends with it.
  public func detach(nowMs: Int64) {
    editor.reset()
    if state == .loggedIn { logout("unplugged", nowMs: nowMs) }
    pending.removeAll()
  }

  // MARK: input and time

  /// Bytes from the terminal.
  public func receive(_ bytes: [UInt8], nowMs: Int64) {
    if bytes.isEmpty { return }
    lastInputMs = nowMs
    var echo: [UInt8] = []
    for b in bytes {
      if let n = editor.endNoise(nowMs: nowMs) { noiseEnded(n, nowMs: nowMs) }
      guard let event = editor.feed(b, nowMs: nowMs, out: &echo) else { continue }
      pending += echo
      echo.removeAll(keepingCapacity: true)
      handle(event, nowMs: nowMs)
    }
    pending += echo
  }

  /// Called about once a second: ends a lockout that has been served, saves its remaining time,
  /// logs out an idle session.
  public func tick(nowMs: Int64) {
    if let n = editor.endNoise(nowMs: nowMs) { noiseEnded(n, nowMs: nowMs) }
    switch state {
    case .locked:
      if nowMs >= lockedUntilMs {
        unlock(nowMs)
      } else if nowMs - lastSavedMs >= Self.refreshMs {
        saveRecord(nowMs)
      }
    case .loggedIn:
      if nowMs - lastInputMs >= Self.idleMs { logout("idle", nowMs: nowMs) }
    case .loggedOut:
      // A half-typed PIN left behind is forgotten.
      if !editor.text.isEmpty && nowMs - lastInputMs >= Self.idleMs { editor.reset() }
    }
  }

  // MARK: lines

  private func handle(_ event: LineEditor.Event, nowMs: Int64) {
    switch event {
    case .cleared:
      pending += Self.crlf
      prompt(nowMs)
    case .tooLong:
      say("Line too long: at most " + String(editor.maxLength) + " characters.")
      prompt(nowMs)
    case .line(let text):
      handleLine(Self.trimmed(text), nowMs: nowMs)
    }
  }

  /// One message for a whole burst of noise; the line it hit is gone, nothing ran.
  private func noiseEnded(_ count: Int, nowMs: Int64) {
    pending += Self.crlf
    say("Ignored " + String(count) + " unreadable byte" + (count == 1 ? "" : "s")
      + " (line noise, or not ASCII).")
    prompt(nowMs)
  }

  private func handleLine(_ line: String, nowMs: Int64) {
    switch state {
    case .locked:
      if nowMs >= lockedUntilMs {
        unlock(nowMs)
      } else if line.isEmpty {
        greet(nowMs)  // someone just connected: which site, and why no prompt
      } else {
        lockedNotice(nowMs)
      }
    case .loggedOut:
      if line.isEmpty {
        greet(nowMs)
      } else if let problem = PinRule.problem(line) {
        say("Not a PIN: " + problem + ".")
        prompt(nowMs)
      } else if checkPin(line) {
        login(nowMs)
      } else {
        wrongPin(nowMs)
      }
    case .loggedIn:
      if line.isEmpty {
        prompt(nowMs)
      } else if line == "exit" || line.hasPrefix("exit ") {
        logout("exit", nowMs: nowMs)
      } else {
        let result = run(line)
        pending += TerminalText.render(result.output)
        prompt(nowMs)
      }
    }
  }

  private func login(_ nowMs: Int64) {
    let hadFailures = failures > 0
    failures = 0
    state = .loggedIn
    if hadFailures { saveRecord(nowMs) }
    report(.login)
    say("Logged in. \"help\" lists the commands, \"exit\" logs out.")
    prompt(nowMs)
  }

  private func wrongPin(_ nowMs: Int64) {
    failures += 1
    report(.loginFailed(failures: failures))
    if failures >= Self.maxFailures {
      state = .locked
      lockedUntilMs = nowMs + lockoutMs
      saveRecord(nowMs)
      let seconds = Int(lockoutMs / 1000)
      report(.locked(failures: failures, seconds: seconds))
      say("Wrong PIN. After " + String(failures) + " wrong PINs the console is locked for "
        + String(seconds) + " s.")
      editor.echo = .masked
      return
    }
    saveRecord(nowMs)
    let left = Self.maxFailures - failures
    say("Wrong PIN. " + String(left) + " " + (left == 1 ? "try" : "tries")
      + " left before the console locks for "
      + String(lockoutMs / 1000) + " s.")
    prompt(nowMs)
  }

  private func unlock(_ nowMs: Int64) {
    state = .loggedOut
    failures = 0
    saveRecord(nowMs)
    report(.unlocked)
    editor.reset()
    pending += Self.crlf
    say("Console unlocked.")
    greet(nowMs)
  }

  /// Ends a session: `exit`, `idle` or `unplugged`.
  private func logout(_ reason: String, nowMs: Int64) {
    state = .loggedOut
    editor.reset()
    report(.logout(reason: reason))
    if reason == "idle" {
      pending += Self.crlf
      say("No key for " + String(Self.idleMs / 60_000) + " minutes: logged out.")
    } else {
      say("Logged out.")
    }
    pending += Self.crlf
    greet(nowMs)
  }

  // MARK: output

  private func greet(_ nowMs: Int64) {
    say("Vigil " + version + " serial console, site " + siteId)
    if state == .locked { lockedNotice(nowMs) } else { prompt(nowMs) }
  }

  private func lockedNotice(_ nowMs: Int64) {
    editor.echo = .masked
    say("Console locked after " + String(Self.maxFailures) + " wrong PINs: try again in "
      + String(remainingS(nowMs)) + " s.")
  }

  private func prompt(_ nowMs: Int64) {
    switch state {
    case .loggedIn:
      editor.echo = .plain
      pending += Array((siteId + "> ").utf8)
    case .loggedOut:
      editor.echo = .masked
      pending += Array("PIN: ".utf8)
    case .locked:
      lockedNotice(nowMs)
    }
  }

  private func say(_ line: String) { pending += TerminalText.render(line) }

  private func saveRecord(_ nowMs: Int64) {
    lastSavedMs = nowMs
    save(record(nowMs: nowMs))
  }

  static let crlf: [UInt8] = [0x0D, 0x0A]

  static func trimmed(_ s: String) -> String {
    var bytes = Array(s.utf8)
    while bytes.last == 0x20 { bytes.removeLast() }
    var start = 0
    while start < bytes.count && bytes[start] == 0x20 { start += 1 }
    return String(decoding: bytes[start...], as: UTF8.self)
  }
}
