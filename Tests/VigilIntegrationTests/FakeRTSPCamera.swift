import Foundation

/// A camera's RTSP service (Tests/Fixtures/fake-rtsp.py): GStreamer's RTSP server on a free
/// loopback port, RTP/JPEG at `/stream`, digest authentication, and a mode the test switches:
/// `live`, `stall` (every request answered, PLAY too, but no RTP: a hung encoder) and
/// `refuseDescribe` (DESCRIBE answered 503). It logs each request it serves with the
/// Authorization scheme it carried.
final class FakeRTSPCamera {
  enum Mode: String {
    case live, stall
    case refuseDescribe = "refuse-describe"
  }

  let port: Int
  let user = "viewer"
  let password = "secret"
  let log = LineCollector()
  private let modeFile: URL
  private let process: Process

  /// `basic`: the server offers basic authentication only.
  let basic: Bool

  init(basic: Bool = false) throws {
    self.basic = basic
    let dir = Harness.tempDir("rtsp")
    modeFile = dir.appendingPathComponent("mode")
    try Mode.live.rawValue.write(to: modeFile, atomically: true, encoding: .utf8)
    let portFile = dir.appendingPathComponent("port")
    (process, port) = try Harness.startFixture(
      "fake-rtsp.py", ["--port", "\(Harness.freePort())", "--port-file", portFile.path,
                       "--mode-file", modeFile.path, "--user", user, "--password", password,
                       "--auth", basic ? "basic" : "digest"],
      portFile: portFile, log: log, what: "fake RTSP camera", within: 15)
  }

  var url: String { "rtsp://127.0.0.1:\(port)/stream" }

  /// A camera entry: probed on its RTSP port, a full check every `every` seconds.
  func entry(_ id: String, every s: Int, password: String? = nil, relay: String? = nil,
             allowBasic: Bool = false) -> String {
    var e = "{\"id\": \"\(id)\", \"host\": \"127.0.0.1\", \"probe_port\": \(port), "
      + "\"rtsp_url\": \"\(url)\", \"stream_check_s\": \(s), \"username\": \"\(user)\", "
      + "\"password\": \"\(password ?? self.password)\""
    if allowBasic { e += ", \"auth\": \"basic\"" }
    if let r = relay { e += ", \"relay_line\": \"\(r)\"" }
    return e + "}"
  }

  func set(_ mode: Mode) throws {
    try mode.rawValue.write(to: modeFile, atomically: true, encoding: .utf8)
    usleep(200_000)  // the server reads the file every 100 ms
  }

  /// The requests it served: e.g. ["DESCRIBE auth=digest", ...].
  var requests: [String] {
    log.text.split(separator: "\n").compactMap { line in
      guard line.hasPrefix("REQUEST ") else { return nil }
      let f = line.split(separator: " ")
      return f.count >= 4 ? "\(f[1]) \(f[3])" : nil
    }
  }

  deinit {
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
  }
}
