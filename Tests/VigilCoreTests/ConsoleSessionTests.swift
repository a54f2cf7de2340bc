import Testing
@testable import VigilCore

/// A console session with fake hooks and a fake clock: the PIN is 246810.
final class ConsoleRig {
  var now: Int64 = 1_000_000
  var events: [ConsoleSession.Event] = []
  var saved: [ConsoleLockout] = []
  var pinChecks: [String] = []
  var commands: [String] = []
  var session: ConsoleSession!

  init(lockoutS: Int = 300, restored: ConsoleLockout = ConsoleLockout()) {
    session = ConsoleSession(
      siteId: "tp-0412", version: "0.1.0", lockoutS: lockoutS, maxLine: 64, restored: restored,
      nowMs: now,
      checkPin: { [unowned self] pin in
        self.pinChecks.append(pin)
        return pin == "246810"
      },
      run: { [unowned self] line in
        self.commands.append(line)
        return line == "status" ? (true, "site tp-0412  vigil 0.1.0\nuplink up\n") : (false, "no")
      },
      report: { [unowned self] e in self.events.append(e) },
      save: { [unowned self] r in self.saved.append(r) })
  }

  /// Types `s` and returns what the terminal shows.
  @discardableResult
  func type(_ s: String) -> String { send(Array(s.utf8)) }

  @discardableResult
  func send(_ bytes: [UInt8]) -> String {
    session.receive(bytes, nowMs: now)
    return output()
  }

  func output() -> String { String(decoding: session.takeOutput(), as: UTF8.self) }

  /// Moves the clock on, ticking every second as the agent does.
  @discardableResult
  func wait(_ ms: Int64) -> String {
    let end = now + ms
    while now < end {
      now = min(end, now + 1000)
      session.tick(nowMs: now)
    }
    return output()
  }

  func attach() -> String {
    session.attach(nowMs: now)
    return output()
  }
}

@Suite struct ConsoleSessionTests {
  @Test func attachShowsTheBannerWithSiteAndVersionAndAsksForThePin() {
    let rig = ConsoleRig()
    let shown = rig.attach()
    #expect(shown.contains("Vigil 0.1.0 serial console, site tp-0412\r\n"))
    #expect(shown.hasSuffix("PIN: "))
    // Enter on an empty line shows the banner again (a technician who just connected).
    #expect(rig.type("\r").contains("site tp-0412\r\nPIN: "))
    #expect(rig.pinChecks.isEmpty)
  }

  @Test func theRightPinLogsInWithThePinMasked() {
    let rig = ConsoleRig()
    _ = rig.attach()
    let shown = rig.type("246810\r")
    #expect(shown.hasPrefix("******\r\n"))
    #expect(!shown.contains("246810"))
    #expect(shown.hasSuffix("tp-0412> "))
    #expect(rig.session.state == .loggedIn)
    #expect(rig.events == [.login])
    // A command runs through the dispatcher; its output reaches the terminal with CRLF.
    let status = rig.type("status\r")
    #expect(status == "status\r\nsite tp-0412  vigil 0.1.0\r\nuplink up\r\ntp-0412> ")
    #expect(rig.commands == ["status"])
  }

  @Test func wrongPinsAreCountedReportedAndSaved() {
    let rig = ConsoleRig()
    _ = rig.attach()
    let shown = rig.type("111111\r")
    #expect(shown.contains("Wrong PIN. 4 tries left"))
    #expect(shown.hasSuffix("PIN: "))
    _ = rig.type("222222\r")
    #expect(rig.events == [.loginFailed(failures: 1), .loginFailed(failures: 2)])
    #expect(rig.saved.last == ConsoleLockout(failures: 2, remainingS: 0))
    // A good PIN clears the count, on disk too.
    _ = rig.type("246810\r")
    #expect(rig.saved.last == ConsoleLockout(failures: 0, remainingS: 0))
  }

  @Test func whatIsNotAPinIsRefusedWithoutCountingOrChecking() {
    let rig = ConsoleRig()
    _ = rig.attach()
    #expect(rig.type("12ab56\r").contains("Not a PIN: a PIN is digits only"))
    #expect(rig.type("1234\r").contains("Not a PIN: a PIN is 6 to 12 digits (got 4)"))
    #expect(rig.pinChecks.isEmpty)
    #expect(rig.events.isEmpty)
    #expect(rig.session.failures == 0)
  }

  @Test func fiveWrongPinsLockEvenTheRightOneUntilLockoutPasses() {
    let rig = ConsoleRig(lockoutS: 60)
    _ = rig.attach()
    for i in 1...4 { _ = rig.type("11111\(i)\r") }
    let locked = rig.type("111115\r")
    #expect(locked.contains("the console is locked for 60 s"))
    #expect(rig.events.suffix(2) == [.loginFailed(failures: 5), .locked(failures: 5, seconds: 60)])
    #expect(rig.saved.last == ConsoleLockout(failures: 5, remainingS: 60))
    #expect(rig.session.state == .locked)
    rig.pinChecks.removeAll()
    rig.wait(20_000)
    let refused = rig.type("246810\r")
    #expect(refused.contains("try again in 40 s"))
    #expect(!refused.contains("246810"), "a PIN typed at a locked console is masked too")
    #expect(rig.pinChecks.isEmpty, "no PIN is even checked while locked")
    #expect(rig.session.state == .locked)
    // Not a second early.
    #expect(!rig.wait(39_000).contains("unlocked"))
    let unlocked = rig.wait(1000)
    #expect(unlocked.contains("Console unlocked."))
    #expect(unlocked.hasSuffix("PIN: "))
    #expect(rig.events.last == .unlocked)
    #expect(rig.saved.last == ConsoleLockout(failures: 0, remainingS: 0))
    _ = rig.type("246810\r")
    #expect(rig.session.state == .loggedIn)
  }

  @Test func aLockoutSavesItsRemainingTimeAsItCountsDown() {
    let rig = ConsoleRig(lockoutS: 100)
    _ = rig.attach()
    for _ in 1...5 { _ = rig.type("111111\r") }
    rig.saved.removeAll()
    rig.wait(65_000)
    // Refreshed every 30 s: what a power cut would leave on disk.
    #expect(rig.saved == [ConsoleLockout(failures: 5, remainingS: 70),
                          ConsoleLockout(failures: 5, remainingS: 40)])
    #expect(rig.session.record(nowMs: rig.now) == ConsoleLockout(failures: 5, remainingS: 35))
  }

  @Test func aRestoredLockoutContinuesAndIsCappedByTheSetting() {
    let rig = ConsoleRig(lockoutS: 300, restored: ConsoleLockout(failures: 5, remainingS: 120))
    #expect(rig.session.state == .locked)
    let shown = rig.attach()
    #expect(shown.contains("Console locked after 5 wrong PINs: try again in 120 s."))
    #expect(!shown.contains("PIN: "))
    #expect(rig.wait(119_000).isEmpty)
    #expect(rig.wait(1000).contains("Console unlocked."))

    // A record longer than the lockout now configured ends when the new setting says.
    let capped = ConsoleRig(lockoutS: 10, restored: ConsoleLockout(failures: 5, remainingS: 9999))
    #expect(capped.session.remainingS(capped.now) == 10)
    // Failures survive a restart; a count at the limit with no time left was served.
    #expect(ConsoleRig(restored: ConsoleLockout(failures: 3)).session.failures == 3)
    let served = ConsoleRig(restored: ConsoleLockout(failures: 5, remainingS: 0))
    #expect(served.session.failures == 0)
    #expect(served.session.state == .loggedOut)
  }

  @Test func aLockoutServedWhileTheDeviceWasAwayEndsOnAttach() {
    let rig = ConsoleRig(lockoutS: 10, restored: ConsoleLockout(failures: 5, remainingS: 10))
    rig.now += 10_000  // no tick yet
    let shown = rig.attach()
    #expect(shown.contains("Console unlocked."))
    #expect(shown.hasSuffix("PIN: "))
    #expect(rig.session.state == .loggedOut)
  }

  @Test func aShorterLockoutSettingShortensTheCurrentLockout() {
    let rig = ConsoleRig(lockoutS: 600)
    _ = rig.attach()
    for _ in 1...5 { _ = rig.type("111111\r") }
    rig.session.setLockout(seconds: 30, nowMs: rig.now)
    #expect(rig.session.remainingS(rig.now) == 30)
    #expect(rig.saved.last == ConsoleLockout(failures: 5, remainingS: 30))
  }

  @Test func exitAndIdleAndUnplugLogOut() {
    let rig = ConsoleRig()
    _ = rig.attach()
    _ = rig.type("246810\r")
    let bye = rig.type("exit\r")
    #expect(bye.contains("Logged out."))
    #expect(bye.hasSuffix("PIN: "))
    #expect(rig.events.last == .logout(reason: "exit"))

    _ = rig.type("246810\r")
    rig.wait(ConsoleSession.idleMs - 2000)
    _ = rig.type("\r")  // a key resets the idle clock
    #expect(rig.wait(ConsoleSession.idleMs - 1000).isEmpty)
    #expect(rig.session.state == .loggedIn)
    let idle = rig.wait(1000)
    #expect(idle.contains("No key for 5 minutes: logged out."))
    #expect(idle.hasSuffix("PIN: "))
    #expect(rig.events.last == .logout(reason: "idle"))

    _ = rig.type("246810\r")
    rig.session.detach(nowMs: rig.now)
    #expect(rig.events.last == .logout(reason: "unplugged"))
    #expect(rig.output().isEmpty, "nothing is left for a device that is gone")
    #expect(rig.attach().hasSuffix("PIN: "))
  }

  @Test func noiseAtThePinPromptGivesOneMessageAndCountsNoFailure() {
    let rig = ConsoleRig()
    _ = rig.attach()
    var rng = SplitMix(seed: 7)
    var noise: [UInt8] = []
    for _ in 0..<65_536 { noise.append(UInt8(truncatingIfNeeded: rng.next())) }
    // Printable garbage first, then the burst.
    noise.insert(contentsOf: [0x80], at: 0)
    rig.send(noise)
    let after = rig.wait(1000)
    #expect(after.components("Ignored 65537 unreadable bytes") == 1)
    #expect(after.hasSuffix("PIN: "))
    #expect(rig.pinChecks.isEmpty)
    #expect(rig.session.failures == 0)
    _ = rig.type("246810\r")
    #expect(rig.session.state == .loggedIn)
  }

  @Test func noiseWhileLoggedInRunsNothingThenCommandsWork() {
    let rig = ConsoleRig()
    _ = rig.attach()
    _ = rig.type("246810\r")
    var rng = SplitMix(seed: 99)
    var noise: [UInt8] = [0x1F]
    for _ in 0..<65_536 { noise.append(UInt8(truncatingIfNeeded: rng.next())) }
    rig.send(noise)
    #expect(rig.commands.isEmpty)
    #expect(rig.session.state == .loggedIn)
    #expect(rig.wait(1000).contains("unreadable bytes"))
    #expect(rig.type("status\r").contains("site tp-0412"))
  }

  @Test func tooLongALineIsRefusedWithItsLimit() {
    let rig = ConsoleRig()
    _ = rig.attach()
    _ = rig.type("246810\r")
    let shown = rig.type(String(repeating: "x", count: 100) + "\r")
    #expect(shown.contains("Line too long: at most 64 characters."))
    #expect(rig.commands.isEmpty)
  }
}

@Suite struct TerminalTextTests {
  @Test func linesEndInCrlfAndControlBytesAreShownAsQuestionMarks() {
    let text = String(decoding: TerminalText.render("a\nb\u{1B}[2Jc\r\n\tx\n"), as: UTF8.self)
    #expect(text == "a\r\nb?[2Jc\r\n x\r\n")
  }

  @Test func longLinesFoldAtASpaceWithinEightyColumns() {
    let long = "camera cam1 192.0.2.10:554 district  power cam1_power  relay cam1_relay  "
      + "snapshot every 300 s  password ****"
    let lines = String(decoding: TerminalText.render(long), as: UTF8.self)
      .split(separator: "\r\n", omittingEmptySubsequences: false).dropLast()
    #expect(lines.count == 2)
    for l in lines { #expect(l.count <= 80 && !l.hasSuffix(" ")) }
    #expect(lines[1].hasPrefix("  "))
    #expect(lines.joined().replacingSpaces() == long.replacingSpaces())
  }

  @Test func aWordWiderThanTheScreenIsCutHard() {
    let lines = String(decoding: TerminalText.render(String(repeating: "y", count: 200)), as: UTF8.self)
      .split(separator: "\r\n")
    #expect(lines.map { $0.count } == [80, 80, 44])
  }
}

@Suite struct ConsoleLockoutTests {
  @Test func roundTripsAndRefusesDamage() {
    let r = ConsoleLockout(failures: 5, remainingS: 287)
    #expect(String(decoding: r.encode(), as: UTF8.self) == "{\"failures\":5,\"locked_s\":287}\n")
    #expect(ConsoleLockout.decode(r.encode()) == r)
    #expect(ConsoleLockout.decode(Array("{\"failures\":5}".utf8)) == nil)
    #expect(ConsoleLockout.decode(Array("{\"failures\":-1,\"locked_s\":0}".utf8)) == nil)
    #expect(ConsoleLockout.decode(Array("{\"failures\":1,\"locked_s\":1.5}".utf8)) == nil)
    #expect(ConsoleLockout.decode(Array("garbage".utf8)) == nil)
    #expect(ConsoleLockout.decode([]) == nil)
  }

  @Test func pinRule() {
    #expect(PinRule.problem("123456") == nil)
    #expect(PinRule.problem("123456789012") == nil)
    #expect(PinRule.problem("") != nil)
    #expect(PinRule.problem("12345")?.contains("got 5") == true)
    #expect(PinRule.problem("1234567890123")?.contains("got 13") == true)
    #expect(PinRule.problem("12345a")?.contains("digits only") == true)
    #expect(PinRule.problem("123 456")?.contains("digits only") == true)
  }
}

extension String {
  func components(_ needle: String) -> Int { ranges(of: needle).count }

  func replacingSpaces() -> String { String(self.filter { $0 != " " }) }
}
