import Foundation
import Testing
@testable import VigilCore

/// The reference document of DESIGN.md, as the centre would write it.
let referenceConfig = """
  {
    "version": 1,
    "site_id": "tp-0412",
    "topic_prefix": "vigil",
    "heartbeat_s": 30,
    "keepalive_s": 30,
    "brokers": [
      {"host": "127.0.0.1", "port": 1883},
      {"host": "mqtt2.centre.example", "port": 8883,
       "tls": {"ca_file": "/etc/vigil/ca.pem", "cert_file": "/etc/vigil/site.pem",
               "key_file": "/etc/vigil/site.key"},
       "username": "tp-0412", "password": "secret"}
    ],
    "board": "/etc/vigil/board.json",
    "door_line": "door",
    "mains_line": "mains",
    "cameras": [
      {"id": "cam1", "host": "192.0.2.10", "probe_port": 554,
       "snapshot_url": "http://192.0.2.10/snapshot.jpg",
       "username": "viewer", "password": "secret", "snapshot_s": 300,
       "power_line": "cam1_power", "relay_line": "cam1_relay", "owner": "district"}
    ],
    "probe_s": 10,
    "power_cycle": {"after_failures": 3, "off_s": 10, "boot_s": 120, "max_per_hour": 2},
    "spool": {"dir": "/var/lib/vigil/spool", "max_bytes": 536870912},
    "console": {"device": "/dev/ttyS0", "baud": 115200, "pin_hash": "$argon2id$v=19$m=4096,t=3,p=1$RLAnI/Z/VnStZuklVOAHEA$aJstFN4PVFW2ipytsjRlY4EvNkjpAkfdRiOAf2d8D0Y",
                "lockout_s": 300},
    "confirm_s": 300,
    "trusted_keys": []
  }
  """

let referenceBoard = """
  {"name": "rpi4", "driver": "gpiod",
   "lines": {
     "cam1_power": {"chip": "gpiochip0", "offset": 17, "direction": "input",
                    "active_low": false, "debounce_ms": 50},
     "cam1_relay": {"chip": "gpiochip0", "offset": 27, "direction": "output",
                    "active_low": true},
     "door":  {"chip": "gpiochip0", "offset": 22, "direction": "input", "debounce_ms": 200},
     "mains": {"chip": "gpiochip0", "offset": 23, "direction": "input"}}}
  """

func parse(_ text: String, base: String = "/etc/vigil") throws(ConfigError) -> Config {
  try Config.parse(Array(text.utf8), baseDir: base)
}

/// Applies `edit` to the reference document's text and returns the error it gives.
func refusal(_ edit: (String) -> String) -> ConfigError? {
  do {
    _ = try parse(edit(referenceConfig))
    return nil
  } catch {
    return error
  }
}

@Suite struct ConfigTests {
  @Test func referenceConfigParsesWithItsValues() throws {
    let c = try parse(referenceConfig)
    #expect(c.version == 1)
    #expect(c.siteId == "tp-0412")
    #expect(c.topicRoot == "vigil/tp-0412")
    #expect(c.clientId == "vigil-tp-0412")
    #expect(c.brokers.count == 2)
    #expect(c.brokers[1].tls?.certFile == "/etc/vigil/site.pem")
    #expect(c.brokers[1].username == "tp-0412")
    #expect(!c.brokers[0].protocolV5)
    #expect(c.cameras[0].owner == .district)
    #expect(c.cameras[0].relayLine == "cam1_relay")
    #expect(c.powerCycle.maxPerHour == 2)
    #expect(c.console?.baud == 115_200)
    let board = try BoardFile.parse(Array(referenceBoard.utf8), baseDir: "/etc/vigil")
    try c.validate(against: board)
  }

  @Test func optionalKeysTakeTheirDefaults() throws {
    let c = try parse(#"{"version": 3, "site_id": "s1", "brokers": [{"host": "h"}]}"#)
    #expect(c.topicPrefix == "vigil")
    #expect(c.heartbeatS == 30)
    #expect(c.keepaliveS == 30)
    #expect(c.brokers[0].port == 1883)
    #expect(c.cameras.isEmpty)
    #expect(c.probeS == 10)
    #expect(c.powerCycle == Config.PowerCycle(afterFailures: 3, offS: 10, bootS: 120, maxPerHour: 2))
    #expect(c.spool.dir == "/var/lib/vigil/spool")
    #expect(c.spool.maxBytes == 536_870_912)
    #expect(c.console == nil)
    #expect(c.confirmS == 300)
    #expect(c.board == nil)
  }

  @Test func relativePathsResolveAgainstTheFilesFolder() throws {
    let c = try parse(
      #"{"version": 1, "site_id": "s", "brokers": [{"host": "h", "tls": {"ca_file": "ca.pem"}}],"#
        + #" "board": "boards/sim.json", "spool": {"dir": "spool"}}"#, base: "/opt/site")
    #expect(c.board == "/opt/site/boards/sim.json")
    #expect(c.spool.dir == "/opt/site/spool")
    #expect(c.brokers[0].tls?.caFile == "/opt/site/ca.pem")
  }

  /// Each bad document, and the field its error must name.
  static let badDocuments: [(String, String, String)] = [
    ("negative heartbeat", #""heartbeat_s": 30"#, #""heartbeat_s": -5"#),
    ("zero heartbeat", #""heartbeat_s": 30"#, #""heartbeat_s": 0"#),
    ("fractional heartbeat", #""heartbeat_s": 30"#, #""heartbeat_s": 1.5"#),
    ("heartbeat as text", #""heartbeat_s": 30"#, #""heartbeat_s": "30""#),
    ("keepalive below 2", #""keepalive_s": 30"#, #""keepalive_s": 1"#),
    ("version zero", #""version": 1"#, #""version": 0"#),
    ("site id with slash", #""site_id": "tp-0412""#, #""site_id": "tp/0412""#),
    ("site id empty", #""site_id": "tp-0412""#, #""site_id": """#),
    ("prefix with wildcard", #""topic_prefix": "vigil""#, #""topic_prefix": "vigil/#""#),
    ("unknown top key", #""probe_s": 10"#, #""probe_s": 10, "probes_s": 10"#),
    ("port zero", #""port": 1883"#, #""port": 0"#),
    ("port too big", #""port": 8883"#, #""port": 70000"#),
    ("key without cert", #""cert_file": "/etc/vigil/site.pem","#, ""),
    ("unknown broker key", #""port": 1883}"#, #""port": 1883, "qos": 2}"#),
    ("bad protocol", #""port": 1883}"#, #""port": 1883, "protocol": "3"}"#),
    ("camera id twice", #""owner": "district"}"#,
     #""owner": "district"}, {"id": "cam1", "host": "192.0.2.11"}"#),
    ("camera id with space", #""id": "cam1""#, #""id": "cam 1""#),
    ("bad owner", #""owner": "district""#, #""owner": "mayor""#),
    ("snapshot not http", #""snapshot_url": "http://"#, #""snapshot_url": "ftp://"#),
    ("power cycle max too high", #""max_per_hour": 2"#, #""max_per_hour": 1000"#),
    ("off_s zero", #""off_s": 10"#, #""off_s": 0"#),
    ("spool too small", #""max_bytes": 536870912"#, #""max_bytes": 10"#),
    ("baud odd", #""baud": 115200"#, #""baud": 115201"#),
    ("pin not argon2id", #""pin_hash": "$argon2id$v=19$m=4096,t=3,p=1$RLAnI/Z/VnStZuklVOAHEA$aJstFN4PVFW2ipytsjRlY4EvNkjpAkfdRiOAf2d8D0Y""#, #""pin_hash": "1234""#),
    ("pin hash asks for 1 GiB", "m=4096,t=3,p=1", "m=1048576,t=3,p=1"),
    ("pin hash m past 32 bits", "m=4096,t=3,p=1", "m=4294971392,t=3,p=1"),
    ("confirm below 5", #""confirm_s": 300"#, #""confirm_s": 4"#),
    ("trusted key not base64", #""trusted_keys": []"#, #""trusted_keys": ["abc"]"#),
    ("duplicate key", #""probe_s": 10"#, #""probe_s": 10, "probe_s": 11"#),
  ]

  static let expectedFields = [
    "heartbeat_s", "heartbeat_s", "heartbeat_s", "heartbeat_s", "keepalive_s", "version",
    "site_id", "site_id", "topic_prefix", "probes_s", "brokers[0].port", "brokers[1].port",
    "brokers[1].tls.cert_file", "brokers[0].qos", "brokers[0].protocol", "cameras[1].id",
    "cameras[0].id", "cameras[0].owner", "cameras[0].snapshot_url", "power_cycle.max_per_hour",
    "power_cycle.off_s", "spool.max_bytes", "console.baud", "console.pin_hash",
    "console.pin_hash", "console.pin_hash", "confirm_s",
    "trusted_keys[0]", "probe_s",
  ]

  @Test(arguments: zip(badDocuments, expectedFields))
  func badDocumentNamesItsField(_ bad: (String, String, String), _ field: String) {
    let (what, from, to) = bad
    #expect(referenceConfig.contains(from), "test setup: \(what)")
    let err = refusal { $0.replacingOccurrences(of: from, with: to) }
    #expect(err?.field == field, "\(what): \(err?.message ?? "accepted")")
    #expect(!(err?.reason.isEmpty ?? true))
  }

  @Test(arguments: ["", "{", "[]", "null", "42", "{\"version\": 1,}", "\u{0}\u{1}\u{2}garbage",
                    "{\"version\": 1} trailing"])
  func garbageIsRefused(_ text: String) {
    #expect(throws: ConfigError.self) { try parse(text) }
  }

  @Test func wrongShapesNameTheirField() {
    func field(_ text: String) -> String? {
      do { _ = try parse(text); return nil } catch { return error.field }
    }
    #expect(field(#"{"version": 1, "site_id": "s", "brokers": []}"#) == "brokers")
    #expect(field(#"{"version": 1, "site_id": "s"}"#) == "brokers")
    #expect(field(#"{"version": 1, "site_id": "s", "brokers": {"host": "h"}}"#) == "brokers")
    #expect(field(#"{"version": 1, "site_id": "s", "brokers": [{"host": "h"}], "cameras": {}}"#)
      == "cameras")
    #expect(field(#"{"site_id": "s", "brokers": [{"host": "h"}]}"#) == "version")
    #expect(field(#"{"version": 1, "site_id": "s", "brokers": [{"host": "h", "password": "p"}]}"#)
      == "brokers[0].password")
    #expect(field(#"{"version": 1, "site_id": "s", "brokers": [{"port": 1}]}"#) == "brokers[0].host")
  }

  @Test func binaryNoiseIsRefusedWithoutACrash() {
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<200 {
      let bytes = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      #expect(throws: ConfigError.self) { try Config.parse(bytes, baseDir: "/") }
    }
  }

  @Test func deepNestingIsRefusedNotOverflowed() {
    let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
    #expect(throws: ConfigError.self) { try parse("{\"version\": 1, \"x\": \(deep)}") }
  }

  @Test func linesMustExistOnTheBoardWithTheRightDirection() throws {
    let board = try BoardFile.parse(Array(referenceBoard.utf8), baseDir: "/")
    var c = try parse(referenceConfig)
    c.cameras[0].powerLine = "cam9_power"
    #expect(throws: ConfigError("cameras[0].power_line", "no line \"cam9_power\" in board \"rpi4\"")) {
      try c.validate(against: board)
    }
    c.cameras[0].powerLine = "cam1_relay"
    #expect(throws: ConfigError("cameras[0].power_line", "line \"cam1_relay\" must be an input")) {
      try c.validate(against: board)
    }
    c = try parse(referenceConfig)
    c.doorLine = "gate"
    #expect(throws: ConfigError.self) { try c.validate(against: board) }
    c = try parse(referenceConfig)
    #expect(throws: ConfigError.self) { try c.validate(against: nil) }
  }
}

@Suite struct BoardFileTests {
  func board(_ s: String) throws(ConfigError) -> BoardFile {
    try BoardFile.parse(Array(s.utf8), baseDir: "/etc/vigil")
  }

  @Test func referenceBoardParses() throws {
    let b = try board(referenceBoard)
    #expect(b.driver == .gpiod)
    #expect(b.lines.count == 4)
    #expect(b.line(named: "cam1_relay")?.activeLow == true)
    #expect(b.line(named: "door")?.debounceMs == 200)
    #expect(b.line(named: "mains")?.direction == .input)
  }

  @Test func simBoardResolvesItsFolder() throws {
    let b = try board(#"{"name": "sim", "driver": "sim", "dir": "sim", "lines": {"door": {"direction": "input"}}}"#)
    #expect(b.driver == .sim)
    #expect(b.simDir == "/etc/vigil/sim")
  }

  @Test(arguments: [
    (#"{"name": "x", "driver": "pigpio", "lines": {}}"#, "driver"),
    (#"{"name": "x", "driver": "gpiod", "lines": {"a": {"chip": "gpiochip0", "offset": -1, "direction": "input"}}}"#, "lines.a.offset"),
    (#"{"name": "x", "driver": "gpiod", "lines": {"a": {"offset": 1, "direction": "input"}}}"#, "lines.a.chip"),
    (#"{"name": "x", "driver": "gpiod", "lines": {"a": {"chip": "c", "offset": 1, "direction": "sideways"}}}"#, "lines.a.direction"),
    (#"{"name": "x", "driver": "gpiod", "lines": {"a": {"chip": "c", "offset": 1, "direction": "input"}, "b": {"chip": "c", "offset": 1, "direction": "input"}}}"#, "lines.b"),
    (#"{"name": "x", "driver": "gpiod", "lines": {"a/b": {"chip": "c", "offset": 1, "direction": "input"}}}"#, "lines.a/b"),
    (#"{"name": "x", "driver": "sim", "lines": {}}"#, "dir"),
    (#"{"name": "x", "driver": "gpiod", "lines": {"r": {"chip": "c", "offset": 1, "direction": "output", "debounce_ms": 5}}}"#, "lines.r.debounce_ms"),
    (#"{"name": "x", "driver": "gpiod", "lines": {"a": {"chip": "c", "offset": 1, "direction": "input", "pull": "up"}}}"#, "lines.a.pull"),
  ])
  func badBoardNamesItsField(_ text: String, _ field: String) {
    do {
      _ = try board(text)
      Issue.record("accepted: \(text)")
    } catch {
      #expect(error.field == field, "\(error.message)")
    }
  }
}
