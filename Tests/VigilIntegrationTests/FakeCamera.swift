import Foundation

/// A fake IP camera (Tests/Fixtures/fake-camera.py) on a free loopback port: a real HTTP server
/// with basic or digest authentication that serves a different JPEG at every request, keeps a
/// copy of each, and has paths that hang, answer HTML, send too much, answer Hikvision's XML
/// error with 200 (`/xml-error`) or the same JPEG forever (`/frozen.jpg`). It counts failed
/// logins and locks the client out after five, as Hikvision and Dahua firmware do, and its
/// `Date:` can be set off by `dateOffsetS`.
final class FakeCamera {
  enum Auth: String { case none, basic, digest }

  let port: Int
  let dir: URL
  let auth: Auth
  let user = "viewer"
  let password: String
  private let process: Process
  let log = LineCollector()

  /// `scene`: real pictures of a street (Tests/Fixtures/scenes.py) instead of the 8x8 frame,
  /// that scene first (`show` changes it): for the view watch.
  init(auth: Auth = .none, pad: Int = 2000, lockoutS: Double = 1800, dateOffsetS: Int = 0,
       password: String = "secret", scene: String? = nil) throws
  {
    self.password = password
    self.auth = auth
    dir = Harness.tempDir("camera")
    let portFile = dir.appendingPathComponent("port")
    var args = ["--port-file", portFile.path, "--port", "\(Harness.freePort())", "--auth", auth.rawValue,
                "--user", user, "--password", password, "--save", dir.appendingPathComponent("saved").path,
                "--pad", "\(pad)", "--lockout-s", "\(lockoutS)", "--date-offset-s", "\(dateOffsetS)"]
    if let scene = scene {
      try scene.write(to: dir.appendingPathComponent("scene"), atomically: true, encoding: .utf8)
      args += ["--scene-file", dir.appendingPathComponent("scene").path]
    }
    (process, port) = try Harness.startFixture("fake-camera.py", args, portFile: portFile, log: log,
                                               what: "fake camera")
  }

  /// What the camera sees from its next snapshot on: a scene of scenes.py (`clear`, `branch`,
  /// `cover`, `blur`, `shift`, `car`, `night`).
  func show(_ scene: String) {
    try? scene.write(to: dir.appendingPathComponent("scene"), atomically: true, encoding: .utf8)
  }

  func url(_ path: String = "/snapshot.jpg") -> String { "http://127.0.0.1:\(port)\(path)" }

  /// A camera entry for the agent's config. A basic camera's entry allows basic
  /// (`"auth": "basic"`) unless `allowBasic` says otherwise.
  func entry(_ id: String, path: String = "/snapshot.jpg", every s: Int = 1,
             password: String? = nil, auth: Bool = true, allowBasic: Bool? = nil) -> String {
    var e = "{\"id\": \"\(id)\", \"host\": \"127.0.0.1\", \"probe_port\": \(port), "
      + "\"snapshot_url\": \"\(url(path))\", \"snapshot_s\": \(s)"
    if auth { e += ", \"username\": \"\(user)\", \"password\": \"\(password ?? self.password)\"" }
    if auth && (allowBasic ?? (self.auth == .basic)) { e += ", \"auth\": \"basic\"" }
    return e + "}"
  }

  /// Every request so far: its path and Authorization scheme (`/snapshot.jpg auth=digest`).
  var requests: [String] {
    let text = (try? String(contentsOf: dir.appendingPathComponent("saved/requests.log"),
                            encoding: .utf8)) ?? ""
    return text.split(separator: "\n").map(String.init)
  }

  /// Every body served so far: frame number → bytes, and when it was served.
  func served() -> [(frame: Int, at: Date, body: Data)] {
    let saved = dir.appendingPathComponent("saved")
    let text = (try? String(contentsOf: saved.appendingPathComponent("served.log"),
                            encoding: .utf8)) ?? ""
    var out: [(Int, Date, Data)] = []
    for line in text.split(separator: "\n") {
      let f = line.split(separator: " ")
      guard f.count >= 2, let n = Int(f[0]), let t = Double(f[1]),
        let body = try? Data(contentsOf: saved.appendingPathComponent("\(n).jpg"))
      else { continue }
      out.append((n, Date(timeIntervalSince1970: t), body))
    }
    return out
  }

  /// When each failed login was counted (a request whose credentials did not verify), and
  /// whether it locked the client out.
  func failedLogins() -> [(at: Date, locked: Bool)] {
    let file = dir.appendingPathComponent("saved/failed-logins.log")
    let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { line in
      let f = line.split(separator: " ")
      guard let t = f.first.flatMap({ Double($0) }) else { return nil }
      return (Date(timeIntervalSince1970: t), f.last == "locked")
    }
  }

  func stop() {
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
  }

  deinit { stop() }
}

/// A centre whose session (subscription and queued QoS 1 messages) the broker keeps while it
/// is disconnected, e.g. across a broker restart.
func durableCentre(port: Int, topic: String = "vigil/#") async throws -> Centre {
  try await Centre(port: port, topic: topic,
                   extra: ["-c", "-i", "centre-\(UUID().uuidString.prefix(8))"])
}

extension Centre {
  /// Waits until the centre has read everything the broker sent it so far: a marker published
  /// now arrives after all of it (one broker, one subscriber: in order).
  func caughtUp(_ root: String, within seconds: Double = 60) async -> Bool {
    let marker = "\(root)/test-marker"
    let n = messages(marker).count
    publish(marker, "x")
    return await waitFor(marker, within: seconds, after: n) != nil
  }

  /// The last heartbeat's `spool` section.
  func lastSpool(_ root: String) -> [String: Any]? {
    messages("\(root)/heartbeat").last?.json?["spool"] as? [String: Any]
  }

  /// Snapshots received so far: camera id, capture ms from the topic, payload; in arrival order.
  func snapshots(_ root: String) -> [(camera: String, captureMs: Int64, payload: Data)] {
    messages("\(root)/snapshot/").compactMap { m in
      let parts = m.topic.dropFirst(root.count + "/snapshot/".count).split(separator: "/")
      guard parts.count == 2, let ms = Int64(parts[1]) else { return nil }
      return (String(parts[0]), ms, m.payload)
    }
  }
}

/// The uplink as a TCP relay that a test breaks (Tests/Fixtures/link.py): `up`, `stall` (the
/// link dies silently: what is sent into it is lost and nothing comes back), `down`, and
/// `holdAcks` (everything passes but the broker's PUBACKs, held until the link is `up`).
final class Link {
  enum Mode: String {
    case up, stall, down
    case holdAcks = "hold-acks"
  }

  let port: Int
  private let modeFile: URL
  private let process: Process

  init(to target: Int) throws {
    let dir = Harness.tempDir("link")
    modeFile = dir.appendingPathComponent("mode")
    try "up".write(to: modeFile, atomically: true, encoding: .utf8)
    let portFile = dir.appendingPathComponent("port")
    (process, port) = try Harness.startFixture(
      "link.py", ["--port-file", portFile.path, "--port", "\(Harness.freePort())", "--to", "\(target)",
                  "--mode-file", modeFile.path], portFile: portFile, log: LineCollector(), what: "link")
  }

  func set(_ mode: Mode) throws {
    try mode.rawValue.write(to: modeFile, atomically: true, encoding: .utf8)
    usleep(60_000)  // the relay reads the file every 20 ms
  }

  deinit {
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
  }
}
