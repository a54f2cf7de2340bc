import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The technician's serial console, over a pseudo-terminal cable, with picocom as the terminal
/// program and a real broker as the centre.
@Suite(.serialized)
struct ConsoleTests {
  typealias Step = Technician.Step
  let pin = ConsoleSite.pin

  /// Logs in from the PIN prompt: Enter (banner), the PIN, the shell prompt.
  func login(_ site: ConsoleSite) -> [Step] {
    [.send("\r"), .expect("PIN: "), .send(pin + "\r"), .expect("Logged in"),
     .expect("\(site.site)> ")]
  }

  @Test func wrongPinsLockTheConsoleAcrossARestartUntilLockoutPassesThenLoginWorks()
    async throws
  {
    let broker = try Broker()
    let cable = try Cable()
    let lockoutS = 20
    let site = ConsoleSite(brokerPort: broker.port, device: cable.agentEnd, lockoutS: lockoutS)
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: site.config)
    try agent.start()
    #expect(await agent.waitForConsole(cable.agentEnd), "\(agent.log.text)")
    #expect(await centre.waitFor("\(site.root)/status", within: 10) != nil)

    // A PIN prompt after the banner; four wrong PINs refused, each reported.
    var steps: [Step] = [.send("\r"), .expect("Vigil 0\\.1\\.0 serial console, site \(site.site)"),
                         .expect("PIN: ")]
    for i in 1...4 {
      steps += [.send("11111\(i)\r"), .expect("Wrong PIN\\. \(5 - i) tr"), .expect("PIN: ")]
    }
    // The fifth locks the console; the right PIN is then refused too.
    steps += [.send("111115\r"), .expect("locked for \(lockoutS) s"),
              .send(pin + "\r"), .expect("Console locked after 5 wrong PINs: try again in \\d+ s")]
    let first = await Technician.session(cable.technicianEnd, steps)
    let lockedAt = first.time(ofStep: 3 + 3 * 4 + 1) ?? Date()
    #expect(first.ok, "\(first)")
    #expect(!first.transcript.contains("11111"), "PINs are never echoed")
    #expect(first.transcript.contains("******"))

    let failed = await Harness.wait(10) { centre.events(site.root, "console_login_failed").count >= 5 }
    #expect(failed, "\(centre.messages("\(site.root)/event").map { $0.text })")
    let counts = centre.events(site.root, "console_login_failed").map { $0["failures"] as? Int ?? 0 }
    #expect(counts == [1, 2, 3, 4, 5])
    let locked = await centre.waitFor("\(site.root)/event", within: 5) {
      $0.json?["kind"] as? String == "console_locked"
    }
    #expect(locked?.json?["lockout_s"] as? Int == lockoutS)
    #expect(centre.events(site.root, "console_login").isEmpty)

    // A restart does not lift the lockout.
    agent.signal(SIGTERM)
    #expect(await agent.waitExit(10) == 0, "\(agent.log.text)")
    try agent.start()
    #expect(await agent.waitForConsole(cable.agentEnd, times: 2), "\(agent.log.text)")
    #expect(agent.log.text.contains("console: locked for"), "\(agent.log.text)")
    let second = await Technician.session(cable.technicianEnd, [
      .send("\r"), .expect("site \(site.site)"), .expect("Console locked after 5 wrong PINs"),
      .send(pin + "\r"), .expect("try again in \\d+ s"), .absent("Logged in|PIN: ", for: 1),
    ])
    #expect(second.ok, "\(second)")
    #expect(centre.events(site.root, "console_login_failed").count == 5,
            "a PIN typed while locked is not even checked")

    // Once lockout_s has passed (the restart's downtime does not count), the console unlocks
    // by itself and the right PIN gives the shell.
    let third = await Technician.session(cable.technicianEnd, [
      .expect("Console unlocked\\.", within: Double(lockoutS) + 15), .expect("PIN: "),
      .send(pin + "\r"), .expect("Logged in"), .expect("\(site.site)> "),
      .send("status\r"), .expect("site \(site.site)  vigil 0\\.1\\.0"), .expect("\(site.site)> "),
      .send("help\r"), .expect("help\r\n(.*\r\n)+\(site.site)> "),
    ])
    #expect(third.ok, "\(third)")
    if let unlockedAt = third.time(ofStep: 0) {
      let served = unlockedAt.timeIntervalSince(lockedAt)
      #expect(served >= Double(lockoutS) - 1, "unlocked after \(served) s")
      #expect(served <= Double(lockoutS) + 10, "unlocked after \(served) s")
    }
    let help = helpNames(third.transcript)
    for name in ["help", "status", "mqtt", "config", "log", "selftest", "exit"] {
      #expect(help.contains(name), "help lists \(name): \(help)")
    }
    // The camera and spool parts' commands too (the Done-when of issue 6).
    for name in ["relay", "gpio", "cameras", "probe", "spool"] { #expect(help.contains(name), "help lists \(name)") }
    let login = await centre.waitFor("\(site.root)/event", within: 10) {
      $0.json?["kind"] as? String == "console_login"
    }
    #expect(login != nil)
    #expect(login?.json?["device"] as? String == cable.agentEnd)
  }

  /// The command names of the last `help` answer in a transcript.
  func helpNames(_ transcript: String) -> [String] {
    guard let r = transcript.range(of: "help\r\n", options: .backwards) else { return [] }
    var names: [String] = []
    for line in transcript[r.upperBound...].components(separatedBy: "\r\n") {
      if line.hasSuffix("> ") || line.isEmpty { break }
      if let word = line.split(separator: " ").first { names.append(String(word)) }
    }
    return names
  }

  @Test func everyCommandAnswersWithinEightyColumns() async throws {
    let broker = try Broker()
    let cable = try Cable()
    let site = ConsoleSite(brokerPort: broker.port, device: cable.agentEnd)
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: site.config)
    try agent.start()
    #expect(await agent.waitForConsole(cable.agentEnd), "\(agent.log.text)")
    #expect(await centre.waitFor("\(site.root)/heartbeat", within: 10) != nil)

    let listing = await Technician.session(
      cable.technicianEnd,
      login(site) + [.send("help\r"), .expect("help\r\n(.*\r\n)+\(site.site)> "),
                     .send("exit\r"), .expect("PIN: ")])
    #expect(listing.ok, "\(listing)")
    let names = helpNames(listing.transcript)
    #expect(names.count >= 7, "\(names)")

    // Every command but exit, then exit: each gives at least one line, then the prompt again.
    var steps: [Step] = []
    for name in names where name != "exit" {
      steps += [.send("\(name)\r"), .expect("\(name)\r\n[^\r\n]+\r\n(.*\r\n)*\(site.site)> ")]
    }
    steps += [.send("selftest\r"),
              .expect("(PASS|FAIL)  spool +\\S+ writable\r\n(PASS|FAIL)  broker +connected")]
    steps += [.send("log 3\r"), .expect("log 3\r\n(.+\r\n){3}\(site.site)> ")]
    steps += [.send("bogus\r"), .expect("unknown command \"bogus\"; try \"help\"")]
    steps += [.send("exit\r"), .expect("Logged out\\.\r\n"), .expect("PIN: ")]
    let all = await Technician.session(cable.technicianEnd, login(site) + steps)
    #expect(all.ok, "\(all)")
    for line in all.transcript.components(separatedBy: "\r\n") {
      #expect(line.count <= 80, "wider than 80 columns: \(line)")
    }
    #expect(!all.transcript.contains("\n\n"), "every line ends in CRLF on the tty")
    let logout = await centre.waitFor("\(site.root)/event", within: 5) {
      $0.json?["kind"] as? String == "console_logout"
    }
    #expect(logout?.json?["reason"] as? String == "exit")
  }

  @Test func sixtyFourKibOfLineNoiseLeaveTheAgentRunningAndStatusAnswers() async throws {
    let broker = try Broker()
    let cable = try Cable()
    let site = ConsoleSite(brokerPort: broker.port, device: cable.agentEnd)
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: site.config)
    try agent.start()
    #expect(await agent.waitForConsole(cable.agentEnd), "\(agent.log.text)")
    #expect(await centre.waitFor("\(site.root)/heartbeat", within: 10) != nil)

    let session = await Technician.session(cable.technicianEnd, [
      // At the PIN prompt: one message for the burst, and no wrong PIN counted.
      .send("\r"), .expect("PIN: "), .noise(bytes: 65_536),
      .expect("Ignored \\d+ unreadable bytes", within: 15), .expect("PIN: "),
      .send(pin + "\r"), .expect("Logged in"), .expect("\(site.site)> "),
      // Logged in: nothing of the noise runs, and the shell works afterwards.
      .noise(bytes: 65_536), .expect("Ignored \\d+ unreadable bytes", within: 15),
      .expect("\(site.site)> "),
      .send("status\r"), .expect("site \(site.site)  vigil 0\\.1\\.0"),
      .expect("uplink connected"), .expect("\(site.site)> "),
    ])
    #expect(session.ok, "\(session)")
    #expect(agent.isRunning)
    #expect(centre.events(site.root, "console_login_failed").isEmpty,
            "\(centre.messages("\(site.root)/event").map { $0.text })")
    // The loop kept serving the uplink through it.
    let before = centre.messages("\(site.root)/heartbeat").count
    #expect(await centre.waitFor("\(site.root)/heartbeat", within: 5, after: before) != nil)
  }

  @Test func aMissingOrUnpluggedDeviceIsRetriedAndNeverStopsTheAgent() async throws {
    let broker = try Broker()
    let cable = try Cable(plugged: false)
    let site = ConsoleSite(brokerPort: broker.port, device: cable.agentEnd)
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: site.config)
    try agent.start()
    // No device: reported, and the uplink works all the same.
    #expect(await Harness.wait(10) {
      agent.log.text.contains("console: open \(cable.agentEnd): No such file or directory")
    }, "\(agent.log.text)")
    #expect(await centre.waitFor("\(site.root)/heartbeat", within: 10) != nil)

    // Plugged in: found within the retry interval.
    try cable.plugIn()
    #expect(await agent.waitForConsole(cable.agentEnd, within: 10), "\(agent.log.text)")
    let first = await Technician.session(cable.technicianEnd, login(site))
    #expect(first.ok, "\(first)")

    // Pulled out while logged in: the session ends, the agent carries on.
    cable.unplug()
    #expect(await Harness.wait(10) { agent.log.text.contains("went away") }, "\(agent.log.text)")
    let logout = await centre.waitFor("\(site.root)/event", within: 10) {
      $0.json?["kind"] as? String == "console_logout"
    }
    #expect(logout?.json?["reason"] as? String == "unplugged")
    #expect(agent.isRunning)
    let before = centre.messages("\(site.root)/heartbeat").count
    #expect(await centre.waitFor("\(site.root)/heartbeat", within: 5, after: before) != nil)

    // Plugged in again: the console is back, logged out.
    try cable.plugIn()
    #expect(await agent.waitForConsole(cable.agentEnd, times: 2, within: 10), "\(agent.log.text)")
    let again = await Technician.session(cable.technicianEnd, login(site) + [
      .send("status\r"), .expect("console \(cable.agentEnd) open, logged in"),
    ])
    #expect(again.ok, "\(again)")
  }

  @Test func outputNobodyReadsIsDroppedWithAMarkerAndNeverBlocksTheAgent() async throws {
    let broker = try Broker()
    let pty = try PseudoTerminal()
    let site = ConsoleSite(brokerPort: broker.port, device: pty.slavePath)
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: site.config)
    try agent.start()
    #expect(await agent.waitForConsole(pty.slavePath), "\(agent.log.text)")
    pty.write("\r" + pin + "\r")
    #expect(await pty.read(until: "\(site.site)> ", within: 10), "\(pty.text)")

    // 300 `help`s, and nobody reading the answers (about 150 KB, more than the tty and the
    // agent hold).
    pty.write(String(repeating: "help\r", count: 300))
    try await Task.sleep(nanoseconds: 2_000_000_000)
    let before = centre.messages("\(site.root)/heartbeat").count
    #expect(await centre.waitFor("\(site.root)/heartbeat", within: 5, after: before) != nil,
            "the agent's loop kept running")
    #expect(agent.isRunning)

    // Reading again: the answers that fitted, a marker for the rest, and a working shell.
    pty.clear()
    pty.write("status\r")
    #expect(await pty.read(until: "site \(site.site)  vigil", within: 10), "\(pty.text.suffix(2000))")
    #expect(pty.text.range(of: "\\[console: \\d+ bytes of output dropped\\]",
                           options: .regularExpression) != nil, "\(pty.text.suffix(2000))")
  }
}

/// `vigil pin-hash` as an installer runs it.
@Suite struct PinHashCLITests {
  @Test func printsAnArgon2idHashWithTheBoardsLimits() {
    let (status, out) = Harness.run(Harness.vigilBinary, ["pin-hash"], stdin: "246810\n")
    #expect(status == 0, "\(out)")
    #expect(out.hasPrefix("$argon2id$v=19$m=4096,t=3,p=1$"), "\(out)")
    // A second hash of the same PIN has its own salt.
    let (_, again) = Harness.run(Harness.vigilBinary, ["pin-hash"], stdin: "246810\r\n")
    #expect(again.hasPrefix("$argon2id$") && again != out)
  }

  @Test func timeSaysHowLongOneCheckTakes() throws {
    let (status, out) = Harness.run(Harness.vigilBinary, ["pin-hash", "--time"], stdin: "246810\n")
    #expect(status == 0, "\(out)")
    #expect(out.hasPrefix("$argon2id$v=19$m=4096,t=3,p=1$"), "\(out)")
    let m = try #require(out.firstMatch(of: #/one PIN check \(Argon2id m=4096 KiB, t=3, p=1\): median ([0-9]+)\.[0-9] ms of 10/#), "\(out)")
    #expect((Int(m.1) ?? 9999) < 2000, "well under a second, even under qemu: \(out)")
  }

  @Test func refusesWhatIsNotAPinSayingWhy() {
    let cases = [
      ("", "no PIN given"), ("\n", "no PIN given"), ("12a456\n", "digits only"),
      ("12345\n", "6 to 12 digits (got 5)"), ("1234567890123\n", "6 to 12 digits (got 13)"),
      (String(repeating: "1", count: 200), "too long"),
    ]
    for (input, message) in cases {
      let (status, out) = Harness.run(Harness.vigilBinary, ["pin-hash"], stdin: input)
      #expect(status == 1, "\(input): \(out)")
      #expect(out.contains(message), "\(input): \(out)")
      #expect(!out.contains("$argon2id$"))
    }
  }

  @Test func takesNoPinOnTheCommandLineAndHasHelp() {
    let (s1, out1) = Harness.run(Harness.vigilBinary, ["pin-hash", "123456"])
    #expect(s1 == 2)
    #expect(out1.contains("standard input"), "\(out1)")
    let (s2, out2) = Harness.run(Harness.vigilBinary, ["pin-hash", "--help"])
    #expect(s2 == 0)
    #expect(out2.contains("usage: vigil pin-hash"))
    let (_, usage) = Harness.run(Harness.vigilBinary, ["help"])
    #expect(usage.contains("pin-hash"))
  }
}

/// A pseudo-terminal whose slave side the agent opens as its console, the test holding the
/// master: a line whose far end reads only when the test says so.
final class PseudoTerminal {
  let master: Int32
  let slavePath: String
  private(set) var text = ""

  init() throws {
    // Swift's Glibc module hides posix_openpt and friends behind _XOPEN_SOURCE: look them up.
    typealias OpenFn = @convention(c) (Int32) -> Int32
    typealias NameFn = @convention(c) (Int32) -> UnsafeMutablePointer<CChar>?
    func libc<T>(_ name: String, _ type: T.Type) throws -> T {
      guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
        throw HarnessError("no \(name) in libc")
      }
      return unsafeBitCast(sym, to: type)
    }
    let posixOpenpt = try libc("posix_openpt", OpenFn.self)
    let grantpt = try libc("grantpt", OpenFn.self)
    let unlockpt = try libc("unlockpt", OpenFn.self)
    let ptsname = try libc("ptsname", NameFn.self)
    master = posixOpenpt(O_RDWR | O_NOCTTY)
    guard master >= 0, grantpt(master) == 0, unlockpt(master) == 0, let name = ptsname(master)
    else { throw HarnessError("no pseudo-terminal: errno \(errno)") }
    slavePath = String(cString: name)
    _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
  }

  func write(_ s: String) {
    let bytes = Array(s.utf8)
    var done = 0
    while done < bytes.count {
      let n = bytes[done...].withUnsafeBytes { Glibc.write(master, $0.baseAddress, $0.count) }
      if n > 0 { done += n } else { usleep(10_000) }
    }
  }

  func clear() { text = "" }

  /// Reads until `needle` has been seen (in what was read since the last `clear`).
  func read(until needle: String, within seconds: Double) async -> Bool {
    await Harness.wait(seconds) {
      var buf = [UInt8](repeating: 0, count: 65_536)
      while true {
        let n = buf.withUnsafeMutableBytes { Glibc.read(master, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        text += String(decoding: buf[0..<n], as: UTF8.self)
      }
      return text.contains(needle)
    }
  }

  deinit { close(master) }
}
