import Foundation
import Testing

/// `vigil` as an installer runs it: check-config, version, usage errors.
@Suite struct CLITests {
  /// The reference config of DESIGN.md beside the board file it names.
  func referenceSite(_ edit: (String) -> String = { $0 }) throws -> URL {
    let dir = Harness.tempDir("cli")
    let board = Harness.root.appendingPathComponent("Board/rpi4.json")
    try FileManager.default.copyItem(at: board, to: dir.appendingPathComponent("board.json"))
    var text = try String(contentsOf: Harness.root.appendingPathComponent("Board/config.example.json"),
                          encoding: .utf8)
    text = text.replacingOccurrences(of: "/etc/vigil/board.json", with: "board.json")
    let url = dir.appendingPathComponent("config.json")
    try edit(text).write(to: url, atomically: true, encoding: .utf8)
    return url
  }

  @Test func checkConfigAcceptsTheReferenceConfig() throws {
    let url = try referenceSite()
    let (status, out) = Harness.run(Harness.vigilBinary, ["check-config", url.path])
    #expect(status == 0, "\(out)")
    #expect(out.contains("valid"))
    #expect(out.contains("tp-0412"))
  }

  /// A well-formed Argon2id hash string whose limits ask for 1 GiB of memory.
  static let gibibyteHash = "$argon2id$v=19$m=1048576,t=3,p=1$NRx1sQb9eHfqAhPoFZatpg$"
    + "s0Sg9HmqJ+blw7XQHMSp169zGf5ow1ZI4js55D2Spm0"

  @Test func checkConfigRefusesAPinHashBeyondThePresetNamingTheField() throws {
    let url = try referenceSite {
      $0.replacingOccurrences(
        of: #""pin_hash": "[^"]*""#, with: "\"pin_hash\": \"\(Self.gibibyteHash)\"",
        options: .regularExpression)
    }
    let started = Date()
    let (status, out) = Harness.run(Harness.vigilBinary, ["check-config", url.path])
    #expect(status == 1)
    #expect(out.contains("console.pin_hash: asks Argon2 for m=1048576 KiB"), "\(out)")
    #expect(Date().timeIntervalSince(started) < 2, "refused from the string, not by running it")
  }

  @Test func checkConfigRefusesANegativeHeartbeatNamingTheField() throws {
    let url = try referenceSite { $0.replacingOccurrences(of: "\"heartbeat_s\": 30", with: "\"heartbeat_s\": -5") }
    let (status, out) = Harness.run(Harness.vigilBinary, ["check-config", url.path])
    #expect(status == 1)
    #expect(out.contains("heartbeat_s: must be an integer from 1 to 604800 (got -5"), "\(out)")
  }

  /// Issue 15: a version past a 32-bit Int is refused naming the field on every board; the
  /// armhf binary converts it without trapping.
  @Test func checkConfigRefusesAVersionPastThirtyTwoBits() throws {
    let url = try referenceSite { $0.replacingOccurrences(of: "\"version\": 1", with: "\"version\": 3000000000") }
    let (status, out) = Harness.run(Harness.vigilBinary, ["check-config", url.path])
    #expect(status == 1)
    #expect(out.contains("version: must be an integer from 1 to 2147483647 (got 3000000000"), "\(out)")
  }

  @Test func checkConfigRefusesAnUnknownKeyNamingIt() throws {
    let url = try referenceSite { $0.replacingOccurrences(of: "\"probe_s\": 10", with: "\"probe_s\": 10, \"colour\": \"red\"") }
    let (status, out) = Harness.run(Harness.vigilBinary, ["check-config", url.path])
    #expect(status == 1)
    #expect(out.contains("colour: unknown key"), "\(out)")
  }

  @Test func checkConfigRefusesALineTheBoardLacks() throws {
    let url = try referenceSite { $0.replacingOccurrences(of: "\"cam1_relay\", \"owner\"", with: "\"cam7_relay\", \"owner\"") }
    let (status, out) = Harness.run(Harness.vigilBinary, ["check-config", url.path])
    #expect(status == 1)
    #expect(out.contains("cameras[0].relay_line: no line \"cam7_relay\" in board \"rpi4\""), "\(out)")
  }

  /// Issue 13 item 7: every problem of the file in one run, each with its field, and how many;
  /// a camera named by a host name rather than an address is one of them.
  @Test func checkConfigNamesEveryProblemInOneRun() throws {
    let url = try referenceSite {
      $0.replacingOccurrences(of: "\"heartbeat_s\": 30", with: "\"heartbeat_s\": -5")
        .replacingOccurrences(of: "\"probe_s\": 10", with: "\"probe_s\": 10, \"colour\": \"red\"")
        .replacingOccurrences(of: "\"host\": \"192.0.2.10\"", with: "\"host\": \"cam1.local\"")
        .replacingOccurrences(of: "\"cam1_relay\", \"owner\"", with: "\"cam7_relay\", \"owner\"")
    }
    let (status, out) = Harness.run(Harness.vigilBinary, ["check-config", url.path])
    #expect(status == 1)
    let lines = out.split(separator: "\n").map(String.init)
    for want in ["colour: unknown key",
                 "heartbeat_s: must be an integer from 1 to 604800 (got -5",
                 "cameras[0].host: must be an IPv4 or IPv6 address such as 192.168.1.64, not a name (\"cam1.local\")",
                 "cameras[0].relay_line: no line \"cam7_relay\" in board \"rpi4\"",
                 "4 problems"] {
      #expect(lines.contains { $0.hasPrefix(url.path + ": ") && $0.contains(want) }, "\(want)\n\(out)")
    }
    #expect(lines.count == 5, "\(out)")
  }

  /// A file with more mistakes than an installer would read shows the first 20 and the count.
  @Test func checkConfigShowsTheFirstTwentyProblems() throws {
    let junk = (0..<30).map { "\"junk\($0)\": 1" }.joined(separator: ", ")
    let url = try referenceSite { $0.replacingOccurrences(of: "\"probe_s\": 10", with: "\"probe_s\": 10, \(junk)") }
    let (status, out) = Harness.run(Harness.vigilBinary, ["check-config", url.path])
    #expect(status == 1)
    let lines = out.split(separator: "\n")
    #expect(lines.count == 21, "\(out)")
    #expect(lines.last?.hasSuffix(": 30 problems (first 20 shown)") == true, "\(out)")
  }

  @Test func checkConfigNamesAMissingFile() {
    let (status, out) = Harness.run(Harness.vigilBinary, ["check-config", "/nonexistent/config.json"])
    #expect(status == 1)
    #expect(out.contains("cannot read /nonexistent/config.json"), "\(out)")
  }

  @Test func usageErrorsExitTwo() {
    #expect(Harness.run(Harness.vigilBinary, []).0 == 2)
    #expect(Harness.run(Harness.vigilBinary, ["frobnicate"]).0 == 2)
    let (s, out) = Harness.run(Harness.vigilBinary, ["run", "--confg", "x"])
    #expect(s == 2)
    #expect(out.contains("unknown option \"--confg\""), "\(out)")
    #expect(Harness.run(Harness.vigilBinary, ["check-config"]).0 == 2)
  }

  /// The centre's commands left the board's binary for `vigil-centre`; the old names say so.
  @Test func keygenAndSignSayTheyMovedToTheCentreTool() {
    for (cmd, args) in [("keygen", ["centre"]), ("sign", ["--key", "centre.key", "v7.json"])] {
      let (s, out) = Harness.run(Harness.vigilBinary, [cmd] + args)
      #expect(s == 2)
      #expect(out.contains("\"\(cmd)\" moved to the centre's tool: run `vigil-centre \(cmd)`"),
              "\(out)")
    }
    #expect(!Harness.run(Harness.vigilBinary, ["help"]).1.contains("keygen PREFIX"))
  }

  @Test func helpAndVersion() {
    let (s1, v) = Harness.run(Harness.vigilBinary, ["version"])
    #expect(s1 == 0 && v.hasPrefix("vigil 0.1.0"))
    for cmd in ["run", "check-config"] {
      let (s, out) = Harness.run(Harness.vigilBinary, [cmd, "--help"])
      #expect(s == 0)
      #expect(out.contains("usage: vigil \(cmd)"))
    }
  }
}
