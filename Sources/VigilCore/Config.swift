/// Vigil's configuration: one JSON document, the same on disk and over MQTT (DESIGN.md,
/// "Configuration"). Parsed and validated whole; paths resolved against the file's folder.
public struct Config: Equatable {
  public struct TLS: Equatable {
    public var caFile: String
    public var certFile: String?
    public var keyFile: String?

    public init(caFile: String, certFile: String? = nil, keyFile: String? = nil) {
      self.caFile = caFile
      self.certFile = certFile
      self.keyFile = keyFile
    }
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
    public var label: String { host + ":" + String(port) }

    /// A broker given on a command line (the centre's tools), not read from a config.
    public init(host: String, port: Int, tls: TLS? = nil, username: String? = nil,
                password: String? = nil, protocolV5: Bool = false) {
      self.host = host
      self.port = port
      self.tls = tls
      self.username = username
      self.password = password
      self.protocolV5 = protocolV5
    }
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
    /// `"auth": "basic"`: the password may go in clear (HTTP basic) to this camera. Digest
    /// only otherwise, so a spoofed camera never gets the password in clear.
    public var basicAuth = false
  }

  public struct PowerCycle: Equatable {
    public var afterFailures: Int
    public var offS: Int
    public var bootS: Int
    public var maxPerHour: Int
    /// A camera switched off from the centre is switched on again after this, unless renewed.
    public var remoteOffS: Int = 900
  }

  public struct Spool: Equatable {
    public var dir: String
    /// 64 bits on every board: up to 4 TiB, past a 32-bit `Int`.
    public var maxBytes: Int64
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
  public var topicRoot: String { topicPrefix + "/" + siteId }
  /// `vigil-<site_id>`: a fixed client id, so a broker replaces a stale session.
  public var clientId: String { "vigil-" + siteId }

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
    do { doc = try JSON.parse(bytes) } catch { throw ConfigError(error) }
    return try parse(doc, baseDir: baseDir)
  }

  /// Parses a document, refusing it with every problem found.
  public static func parse(_ doc: JSONValue, baseDir: String) throws(ConfigError) -> Config {
    let problems = ConfigProblems()
    let c = read(doc, baseDir: baseDir, problems: problems)
    try problems.check()
    return c
  }

  /// The most cameras one gateway watches: bounds the work of validating a document.
  public static let maxCameras = 256

  /// Reads a document, adding each problem to `problems`. The result holds stand-in values
  /// where there were problems: use it only when `problems` is empty.
  public static func read(_ doc: JSONValue, baseDir: String, problems: ConfigProblems) -> Config {
    let r = ObjectReader(doc, path: "", known: topKeys, problems: problems)
    let version = r.int("version", 1...Int(Int32.max))
    let siteId = r.string("site_id")
    if !siteId.isEmpty && !Names.isSafeName(siteId, maxLength: 64) {
      r.fail("site_id", "must be 1-64 letters, digits, '-', '_' or '.'")
    }
    let prefix = r.string("topic_prefix", default: "vigil")
    checkTopicPrefix(prefix, problems)

    var brokers: [Broker] = []
    let brokerItems = r.array("brokers", required: true)
    if case .array(let a)? = r.value("brokers"), a.isEmpty {
      r.fail("brokers", "must name at least one broker")
    }
    for (i, item) in brokerItems.enumerated() {
      brokers.append(
        parseBroker(item, path: "brokers[" + String(i) + "]", baseDir: baseDir, problems))
    }

    var cameras: [Camera] = []
    let cameraItems = r.array("cameras", required: false)
    if cameraItems.count > maxCameras {
      r.fail("cameras", "has " + String(cameraItems.count)
        + " cameras; a gateway watches at most " + String(maxCameras))
    } else {
      for (i, item) in cameraItems.enumerated() {
        let before = problems.count
        let cam = parseCamera(item, path: "cameras[" + String(i) + "]", problems)
        if problems.count == before && cameras.contains(where: { $0.id == cam.id }) {
          problems.add("cameras[" + String(i) + "].id", "\"" + cam.id
            + "\" is used by another camera")
        }
        cameras.append(cam)
      }
    }

    var powerCycle = PowerCycle(afterFailures: 3, offS: 10, bootS: 120, maxPerHour: 2)
    if let v = r.value("power_cycle") {
      let p = ObjectReader(
        v, path: "power_cycle",
        known: ["after_failures", "off_s", "boot_s", "max_per_hour", "remote_off_s"],
        problems: problems)
      powerCycle = PowerCycle(
        afterFailures: p.int("after_failures", 1...1000, default: 3),
        offS: p.int("off_s", 1...3600, default: 10),
        bootS: p.int("boot_s", 1...86_400, default: 120),
        maxPerHour: p.int("max_per_hour", 0...60, default: 2),
        remoteOffS: p.int("remote_off_s", 5...86_400, default: 900))
    }

    var spool = Spool(dir: "/var/lib/vigil/spool", maxBytes: 536_870_912)
    if let v = r.value("spool") {
      let s = ObjectReader(v, path: "spool", known: ["dir", "max_bytes"], problems: problems)
      spool = Spool(
        dir: Paths.resolve(s.string("dir", default: spool.dir), against: baseDir),
        maxBytes: s.int64("max_bytes", 65_536...(1 << 42), default: spool.maxBytes))
    }

    var console: Console? = nil
    if let v = r.value("console") {
      let c = ObjectReader(
        v, path: "console", known: ["device", "baud", "pin_hash", "lockout_s"], problems: problems)
      let before = problems.count
      let baud = c.int("baud", 1...4_000_000, default: 115_200)
      if problems.count == before && !bauds.contains(baud) {
        c.fail("baud", "must be a standard rate such as 9600 or 115200 (got " + String(baud) + ")")
      }
      let hash = c.string("pin_hash")
      // Argon2 takes its cost from the hash: one beyond the preset would stall the board.
      if !hash.isEmpty {
        do throws(PinHashRefusal) { _ = try PinHashLimits.checked(hash) } catch {
          c.fail("pin_hash", error.reason)
        }
      }
      console = Console(
        device: Paths.resolve(c.string("device"), against: baseDir), baud: baud,
        pinHash: hash, lockoutS: c.int("lockout_s", 1...week, default: 300))
    }

    var keys: [String] = []
    for (i, item) in r.array("trusted_keys", required: false).enumerated() {
      guard case .string(let k) = item, isBase64Key(k) else {
        problems.add(
          "trusted_keys[" + String(i) + "]", "must be a base64 Ed25519 public key (44 characters)")
        continue
      }
      keys.append(k)
    }

    var board: String? = nil
    if let b = r.optionalString("board") { board = Paths.resolve(b, against: baseDir) }

    return Config(
      version: version, siteId: siteId, topicPrefix: prefix,
      heartbeatS: r.int("heartbeat_s", 1...week, default: 30),
      keepaliveS: r.int("keepalive_s", 2...65_535, default: 30),
      brokers: brokers, board: board,
      doorLine: r.optionalString("door_line"), mainsLine: r.optionalString("mains_line"),
      cameras: cameras, probeS: r.int("probe_s", 1...week, default: 10),
      powerCycle: powerCycle, spool: spool, console: console,
      confirmS: r.int("confirm_s", 5...week, default: 300), trustedKeys: keys)
  }

  /// Checks every line name the config uses against the board file: present, and of the
  /// right direction.
  public func validate(against board: BoardFile?) throws(ConfigError) {
    let problems = ConfigProblems()
    check(against: board, problems)
    try problems.check()
  }

  public func check(against board: BoardFile?, _ problems: ConfigProblems) {
    func need(_ name: String?, _ field: String, _ direction: BoardFile.Direction) {
      guard let name = name else { return }
      guard let board = board else {
        problems.add(field, "names line \"" + name + "\" but the config has no board file")
        return
      }
      guard let line = board.line(named: name) else {
        problems.add(field, "no line \"" + name + "\" in board \"" + board.name + "\"")
        return
      }
      if line.direction != direction {
        let want = direction == .input ? "an input" : "an output"
        problems.add(field, "line \"" + name + "\" must be " + want)
      }
    }
    need(doorLine, "door_line", .input)
    need(mainsLine, "mains_line", .input)
    for (i, cam) in cameras.enumerated() {
      need(cam.powerLine, "cameras[" + String(i) + "].power_line", .input)
      need(cam.relayLine, "cameras[" + String(i) + "].relay_line", .output)
    }
  }

  static func parseBroker(_ v: JSONValue, path: String, baseDir: String,
                          _ problems: ConfigProblems) -> Broker
  {
    let b = ObjectReader(
      v, path: path, known: ["host", "port", "tls", "username", "password", "protocol"],
      problems: problems)
    var tls: TLS? = nil
    if let t = b.value("tls") {
      let tr = ObjectReader(
        t, path: b.field("tls"), known: ["ca_file", "cert_file", "key_file"], problems: problems)
      let cert = tr.optionalString("cert_file")
      let key = tr.optionalString("key_file")
      if tr.has("cert_file") != tr.has("key_file") {
        tr.fail(tr.has("cert_file") ? "key_file" : "cert_file", "cert_file and key_file go together")
      }
      tls = TLS(
        caFile: Paths.resolve(tr.string("ca_file"), against: baseDir),
        certFile: cert.map { Paths.resolve($0, against: baseDir) },
        keyFile: key.map { Paths.resolve($0, against: baseDir) })
    }
    let username = b.optionalString("username")
    let password = b.optionalString("password")
    if password != nil && !b.has("username") {
      b.fail("password", "needs a username")
    }
    let proto = b.oneOf("protocol", ["3.1.1", "5"], default: "3.1.1")
    return Broker(
      host: b.string("host"), port: b.int("port", 1...65_535, default: 1883), tls: tls,
      username: username, password: password, protocolV5: proto == "5")
  }

  static func parseCamera(_ v: JSONValue, path: String, _ problems: ConfigProblems) -> Camera {
    let c = ObjectReader(
      v, path: path,
      known: ["id", "host", "probe_port", "snapshot_url", "username", "password", "snapshot_s",
              "power_line", "relay_line", "owner", "rtsp_url", "stream_check_s", "auth"],
      problems: problems)
    let id = c.string("id")
    if !id.isEmpty && !Names.isSafeName(id, maxLength: 32) {
      c.fail("id", "must be 1-32 letters, digits, '-', '_' or '.'")
    }
    let host = c.string("host")
    if !host.isEmpty && !IPLiteral.isAddress(host) {
      c.fail("host", "must be an IPv4 or IPv6 address such as 192.168.1.64, not a name "
        + "(\"" + host + "\"): the agent does no DNS lookups for cameras")
    }
    let url = c.optionalString("snapshot_url")
    if let u = url {
      if !(u.hasPrefix("http://") || u.hasPrefix("https://")) {
        c.fail("snapshot_url", "must be an http:// or https:// URL")
      } else {
        checkURLHost(u, "snapshot_url", c)
      }
    }
    let rtsp = c.optionalString("rtsp_url")
    if let u = rtsp {
      if !u.hasPrefix("rtsp://") {
        c.fail("rtsp_url", "must be an rtsp:// URL")
      } else {
        checkURLHost(u, "rtsp_url", c)
      }
    }
    let username = c.optionalString("username")
    let password = c.optionalString("password")
    if password != nil && !c.has("username") {
      c.fail("password", "needs a username")
    }
    let owner = c.oneOf("owner", ["police", "district", "resident"], default: "district")
    let auth = c.oneOf("auth", ["digest", "basic"], default: "digest")
    return Camera(
      id: id, host: host, probePort: c.int("probe_port", 1...65_535, default: 554),
      snapshotURL: url, username: username, password: password,
      snapshotS: c.int("snapshot_s", 1...week, default: 300),
      powerLine: c.optionalString("power_line"), relayLine: c.optionalString("relay_line"),
      owner: owner == "police" ? .police : owner == "resident" ? .resident : .district,
      rtspURL: rtsp, streamCheckS: c.int("stream_check_s", 5...week, default: 300),
      basicAuth: auth == "basic")
  }

  /// A camera URL's host must be an address too: libcurl would otherwise resolve it.
  static func checkURLHost(_ url: String, _ key: String, _ c: ObjectReader) {
    guard let h = IPLiteral.host(ofURL: url), !h.isEmpty else {
      c.fail(key, "has no host")
      return
    }
    if !IPLiteral.isAddress(h) {
      c.fail(key, "must name the camera by its IP address, not a name (\"" + h + "\")")
    }
  }

  static func checkTopicPrefix(_ p: String, _ problems: ConfigProblems) {
    var ok = !p.hasPrefix("/") && !p.hasSuffix("/") && p.utf8.count <= 128
    for b in p.utf8 where b == 0x2B || b == 0x23 || b < 0x20 { ok = false }
    if !ok && !p.isEmpty {
      problems.add("topic_prefix", "must be a topic without '+', '#' or a leading or trailing '/'")
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
