/// Vigil's configuration: one JSON document, the same on disk and over MQTT (DESIGN.md,
/// "Configuration"). Parsed and validated whole; paths resolved against the file's folder.
public struct Config: Equatable {
  public struct TLS: Equatable {
    public var caFile: String
    public var certFile: String?
    public var keyFile: String?
  }

  public struct Broker: Equatable {
    public var host: String
    public var port: Int
    public var tls: TLS?
    public var username: String?
    public var password: String?
    /// MQTT 5 only where asked: clustered brokers accept 3.1.1 only.
    public var protocolV5: Bool

    /// `host:port`, as the heartbeat and the logs name a broker.
    public var label: String { "\(host):\(port)" }
  }

  public enum Owner: String, Equatable { case police, district, resident }

  public struct Camera: Equatable {
    public var id: String
    public var host: String
    public var probePort: Int
    public var snapshotURL: String?
    public var username: String?
    public var password: String?
    public var snapshotS: Int
    public var powerLine: String?
    public var relayLine: String?
    public var owner: Owner
    /// The camera's RTSP stream, checked by `StreamChecks` (issue 13).
    public var rtspURL: String? = nil
    /// Seconds between full stream checks (DESCRIBE, SETUP, PLAY, RTP read, TEARDOWN).
    public var streamCheckS: Int = 300
  }

  public struct PowerCycle: Equatable {
    public var afterFailures: Int
    public var offS: Int
    public var bootS: Int
    public var maxPerHour: Int
  }

  public struct Spool: Equatable {
    public var dir: String
    public var maxBytes: Int
  }

  public struct Console: Equatable {
    public var device: String
    public var baud: Int
    public var pinHash: String
    public var lockoutS: Int
  }

  public var version: Int
  public var siteId: String
  public var topicPrefix: String
  public var heartbeatS: Int
  public var keepaliveS: Int
  public var brokers: [Broker]
  /// The board file's path, resolved; nil for a box with no GPIO lines.
  public var board: String?
  public var doorLine: String?
  public var mainsLine: String?
  public var cameras: [Camera]
  public var probeS: Int
  public var powerCycle: PowerCycle
  public var spool: Spool
  public var console: Console?
  public var confirmS: Int
  public var trustedKeys: [String]

  /// `<topic_prefix>/<site_id>`: the root of every topic this site uses.
  public var topicRoot: String { "\(topicPrefix)/\(siteId)" }
  /// `vigil-<site_id>`: a fixed client id, so a broker replaces a stale session.
  public var clientId: String { "vigil-\(siteId)" }

  public static let week = 7 * 86_400
  static let bauds = [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600]
  static let topKeys = [
    "version", "site_id", "topic_prefix", "heartbeat_s", "keepalive_s", "brokers", "board",
    "door_line", "mains_line", "cameras", "probe_s", "power_cycle", "spool", "console",
    "confirm_s", "trusted_keys",
  ]

  /// Parses a document. `baseDir` is the folder relative paths are taken from (the config file's).
  public static func parse(_ bytes: [UInt8], baseDir: String) throws(ConfigError) -> Config {
    let doc: JSONValue
    do { doc = try JSON.parse(bytes) } catch { throw ConfigError("", error.message) }
    return try parse(doc, baseDir: baseDir)
  }

  public static func parse(_ doc: JSONValue, baseDir: String) throws(ConfigError) -> Config {
    let r = try ObjectReader(doc, path: "", known: topKeys)
    let version = try r.int("version", 1...Int(Int32.max))
    let siteId = try r.string("site_id")
    guard Names.isSafeName(siteId, maxLength: 64) else {
      throw ConfigError("site_id", "must be 1-64 letters, digits, '-', '_' or '.'")
    }
    let prefix = try r.string("topic_prefix", default: "vigil")
    try checkTopicPrefix(prefix)

    var brokers: [Broker] = []
    let brokerItems = try r.array("brokers", required: true)
    if brokerItems.isEmpty { throw ConfigError("brokers", "must name at least one broker") }
    for (i, item) in brokerItems.enumerated() {
      brokers.append(try parseBroker(item, path: "brokers[\(i)]", baseDir: baseDir))
    }

    var cameras: [Camera] = []
    for (i, item) in try r.array("cameras", required: false).enumerated() {
      let cam = try parseCamera(item, path: "cameras[\(i)]")
      if cameras.contains(where: { $0.id == cam.id }) {
        throw ConfigError("cameras[\(i)].id", "\"\(cam.id)\" is used by another camera")
      }
      cameras.append(cam)
    }

    var powerCycle = PowerCycle(afterFailures: 3, offS: 10, bootS: 120, maxPerHour: 2)
    if let v = r.value("power_cycle") {
      let p = try ObjectReader(
        v, path: "power_cycle", known: ["after_failures", "off_s", "boot_s", "max_per_hour"])
      powerCycle = PowerCycle(
        afterFailures: try p.int("after_failures", 1...1000, default: 3),
        offS: try p.int("off_s", 1...3600, default: 10),
        bootS: try p.int("boot_s", 1...86_400, default: 120),
        maxPerHour: try p.int("max_per_hour", 0...60, default: 2))
    }

    var spool = Spool(dir: "/var/lib/vigil/spool", maxBytes: 536_870_912)
    if let v = r.value("spool") {
      let s = try ObjectReader(v, path: "spool", known: ["dir", "max_bytes"])
      spool = Spool(
        dir: Paths.resolve(try s.string("dir", default: spool.dir), against: baseDir),
        maxBytes: try s.int("max_bytes", 65_536...(1 << 42), default: spool.maxBytes))
    }

    var console: Console? = nil
    if let v = r.value("console") {
      let c = try ObjectReader(
        v, path: "console", known: ["device", "baud", "pin_hash", "lockout_s"])
      let baud = try c.int("baud", 1...4_000_000, default: 115_200)
      if !bauds.contains(baud) {
        throw ConfigError("console.baud", "must be a standard rate such as 9600 or 115200 (got \(baud))")
      }
      let hash = try c.string("pin_hash")
      // Argon2 takes its cost from the hash: one beyond the preset would stall the board.
      do throws(PinHashRefusal) { _ = try PinHashLimits.checked(hash) } catch {
        throw ConfigError("console.pin_hash", error.reason)
      }
      console = Console(
        device: Paths.resolve(try c.string("device"), against: baseDir), baud: baud,
        pinHash: hash, lockoutS: try c.int("lockout_s", 1...week, default: 300))
    }

    var keys: [String] = []
    for (i, item) in try r.array("trusted_keys", required: false).enumerated() {
      guard case .string(let k) = item, isBase64Key(k) else {
        throw ConfigError("trusted_keys[\(i)]", "must be a base64 Ed25519 public key (44 characters)")
      }
      keys.append(k)
    }

    var board: String? = nil
    if r.has("board") { board = Paths.resolve(try r.string("board"), against: baseDir) }

    return Config(
      version: version, siteId: siteId, topicPrefix: prefix,
      heartbeatS: try r.int("heartbeat_s", 1...week, default: 30),
      keepaliveS: try r.int("keepalive_s", 2...65_535, default: 30),
      brokers: brokers, board: board,
      doorLine: try r.optionalString("door_line"), mainsLine: try r.optionalString("mains_line"),
      cameras: cameras, probeS: try r.int("probe_s", 1...week, default: 10),
      powerCycle: powerCycle, spool: spool, console: console,
      confirmS: try r.int("confirm_s", 5...week, default: 300), trustedKeys: keys)
  }

  /// Checks every line name the config uses against the board file: present, and of the
  /// right direction.
  public func validate(against board: BoardFile?) throws(ConfigError) {
    func need(_ name: String?, _ field: String, _ direction: BoardFile.Direction)
      throws(ConfigError)
    {
      guard let name = name else { return }
      guard let board = board else {
        throw ConfigError(field, "names line \"\(name)\" but the config has no board file")
      }
      guard let line = board.line(named: name) else {
        throw ConfigError(field, "no line \"\(name)\" in board \"\(board.name)\"")
      }
      if line.direction != direction {
        let want = direction == .input ? "an input" : "an output"
        throw ConfigError(field, "line \"\(name)\" must be \(want)")
      }
    }
    try need(doorLine, "door_line", .input)
    try need(mainsLine, "mains_line", .input)
    for (i, cam) in cameras.enumerated() {
      try need(cam.powerLine, "cameras[\(i)].power_line", .input)
      try need(cam.relayLine, "cameras[\(i)].relay_line", .output)
    }
  }

  static func parseBroker(_ v: JSONValue, path: String, baseDir: String) throws(ConfigError)
    -> Broker
  {
    let b = try ObjectReader(
      v, path: path, known: ["host", "port", "tls", "username", "password", "protocol"])
    var tls: TLS? = nil
    if let t = b.value("tls") {
      let tr = try ObjectReader(t, path: b.field("tls"), known: ["ca_file", "cert_file", "key_file"])
      let cert = try tr.optionalString("cert_file")
      let key = try tr.optionalString("key_file")
      if (cert == nil) != (key == nil) {
        throw ConfigError(tr.field(cert == nil ? "cert_file" : "key_file"),
                          "cert_file and key_file go together")
      }
      tls = TLS(
        caFile: Paths.resolve(try tr.string("ca_file"), against: baseDir),
        certFile: cert.map { Paths.resolve($0, against: baseDir) },
        keyFile: key.map { Paths.resolve($0, against: baseDir) })
    }
    let username = try b.optionalString("username")
    let password = try b.optionalString("password")
    if password != nil && username == nil {
      throw ConfigError(b.field("password"), "needs a username")
    }
    let proto = try b.oneOf("protocol", ["3.1.1", "5"], default: "3.1.1")
    return Broker(
      host: try b.string("host"), port: try b.int("port", 1...65_535, default: 1883), tls: tls,
      username: username, password: password, protocolV5: proto == "5")
  }

  static func parseCamera(_ v: JSONValue, path: String) throws(ConfigError) -> Camera {
    let c = try ObjectReader(
      v, path: path,
      known: ["id", "host", "probe_port", "snapshot_url", "username", "password", "snapshot_s",
              "power_line", "relay_line", "owner", "rtsp_url", "stream_check_s"])
    let id = try c.string("id")
    guard Names.isSafeName(id, maxLength: 32) else {
      throw ConfigError(c.field("id"), "must be 1-32 letters, digits, '-', '_' or '.'")
    }
    let url = try c.optionalString("snapshot_url")
    if let u = url, !(u.hasPrefix("http://") || u.hasPrefix("https://")) {
      throw ConfigError(c.field("snapshot_url"), "must be an http:// or https:// URL")
    }
    let rtsp = try c.optionalString("rtsp_url")
    if let u = rtsp, !u.hasPrefix("rtsp://") {
      throw ConfigError(c.field("rtsp_url"), "must be an rtsp:// URL")
    }
    let username = try c.optionalString("username")
    let password = try c.optionalString("password")
    if password != nil && username == nil {
      throw ConfigError(c.field("password"), "needs a username")
    }
    let owner = try c.oneOf("owner", ["police", "district", "resident"], default: "district")
    return Camera(
      id: id, host: try c.string("host"), probePort: try c.int("probe_port", 1...65_535, default: 554),
      snapshotURL: url, username: username, password: password,
      snapshotS: try c.int("snapshot_s", 1...week, default: 300),
      powerLine: try c.optionalString("power_line"), relayLine: try c.optionalString("relay_line"),
      owner: owner == "police" ? .police : owner == "resident" ? .resident : .district,
      rtspURL: rtsp, streamCheckS: try c.int("stream_check_s", 5...week, default: 300))
  }

  static func checkTopicPrefix(_ p: String) throws(ConfigError) {
    var ok = !p.hasPrefix("/") && !p.hasSuffix("/") && p.utf8.count <= 128
    for b in p.utf8 where b == 0x2B || b == 0x23 || b < 0x20 { ok = false }
    if !ok {
      throw ConfigError("topic_prefix", "must be a topic without '+', '#' or a leading or trailing '/'")
    }
  }

  /// A 32-byte key in standard base64 is 44 characters ending in one '='.
  static func isBase64Key(_ s: String) -> Bool {
    let b = Array(s.utf8)
    guard b.count == 44, b[43] == 0x3D else { return false }
    for c in b[0..<43] {
      let ok = (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39)
        || c == 0x2B || c == 0x2F
      if !ok { return false }
    }
    return true
  }
}
