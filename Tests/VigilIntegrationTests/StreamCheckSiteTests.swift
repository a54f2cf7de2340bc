import Foundation
import Testing

/// Issue 13's stream side, as the centre sees it: RTSP stream checks against GStreamer's RTSP
/// server (digest, RTP/JPEG over interleaved TCP), the agent as a process, mosquitto, a sim board
/// for the relay.
@Suite(.serialized)
struct StreamCheckSiteTests {
  static let cycle = #"{"after_failures": 2, "off_s": 1, "boot_s": 3, "max_per_hour": 5}"#

  func config(_ site: String, _ broker: Int, _ cams: String) -> String {
    testConfig(site: site, brokers: brokerEntry(broker), extra: """
      "board": "board.json", "probe_s": 1, "power_cycle": \(Self.cycle), "cameras": [\(cams)]
      """)
  }

  /// "A camera whose RTSP stream stops while its ports still answer is `no_video` with
  /// `fault: "no_media"` within two stream checks, and is power-cycled by the policy; when the
  /// stream comes back it is `healthy`." Every session set up is torn down.
  @Test func aStreamThatStopsIsNoMediaIsCycledAndComesBackHealthy() async throws {
    let broker = try Broker()
    let rtsp = try FakeRTSPCamera()
    let dir = Harness.tempDir("nomedia")
    let board = try SimBoardDir(in: dir, lines: ["cam1_relay": (false, 0)])
    let relay = LineRecorder(board, "cam1_relay")
    let site = "t-rtsp-\(UUID().uuidString.prefix(4).lowercased())"
    let root = "vigil/\(site)"
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(
      config: config(site, broker.port, rtsp.entry("cam1", every: 5, relay: "cam1_relay")),
      dir: dir)
    try agent.start()
    defer { agent.kill9() }

    let healthy = await centre.waitForCamera(root, "cam1", within: 20) {
      $0["state"] as? String == "healthy"
    }
    try #require(healthy != nil, "\(agent.log.text)\n\(rtsp.log.text)")
    // Healthy comes from the probes; the first stream check (3 s of reading) may still be under
    // way then, the more so under qemu-user (CI on c60ea02+ saw healthy before its log line).
    let checked = await Harness.wait(10) { agent.log.text.contains("stream cam1 (full check): ") }
    #expect(checked, "\(agent.log.text)")

    // While it flowed, every SETUP had its TEARDOWN (the last check may still be under way).
    let live = rtsp.requests
    let liveSetups = live.filter { $0.hasPrefix("SETUP") }.count
    #expect(liveSetups >= 1 && liveSetups - live.filter { $0.hasPrefix("TEARDOWN") }.count <= 1,
            "\(live)")
    try rtsp.set(.stall)
    let stalledAt = Date()
    // "Within two stream checks" of the stall. The check under way when the stream stops may
    // still have seen its 8 packets (healthy); the next two find none. Each starts at the first
    // probe turn (1 s) after it is due, 5 s after the one before started, and reads for 3 s;
    // then the next heartbeat (1 s) tells the centre: 2 x (5 + 1) + 3 + 1 = 16 s, and 2 s for
    // the RTSP exchanges under qemu-user.
    let noMedia = await centre.waitForCamera(root, "cam1", within: 18) {
      $0["fault"] as? String == "no_media"
    }
    #expect(noMedia?["state"] as? String == "no_video", "\(agent.log.text)")
    #expect(Date().timeIntervalSince(stalledAt) < 18)
    let cycled = await centre.waitForEvent(root, "camera_power_cycled", within: 10) {
      $0["camera"] as? String == "cam1"
    }
    #expect(cycled?.0["reason"] as? String == "no_video", "\(agent.log.text)")
    try rtsp.set(.live)
    let back = await centre.waitForCamera(root, "cam1", within: 20,
                                          after: centre.messages("\(root)/heartbeat").count) {
      $0["state"] as? String == "healthy"
    }
    #expect(back != nil && back?["fault"] is NSNull, "\(agent.log.text)")
    #expect(relay.history.first == 1 && relay.history.contains(0), "\(relay.history)")
    let reqs = rtsp.requests
    #expect(reqs.filter { $0.hasPrefix("SETUP") }.count >= 3, "\(reqs)")
    // Digest only: no request ever carried a password in clear.
    #expect(!reqs.contains { $0.hasSuffix("auth=basic") }, "\(reqs)")
  }

  /// A camera that refuses DESCRIBE is `stream_down`; one with a wrong password is `auth`, never
  /// power-cycled, with one `camera_auth_failed` from the RTSP side.
  @Test func aRefusedDescribeIsStreamDownAndAWrongPasswordIsAuth() async throws {
    let broker = try Broker()
    let refusing = try FakeRTSPCamera()
    let locked = try FakeRTSPCamera()
    try refusing.set(.refuseDescribe)
    let dir = Harness.tempDir("rtspfaults")
    let board = try SimBoardDir(in: dir, lines: ["auth_relay": (false, 0)])
    let relay = LineRecorder(board, "auth_relay")
    let site = "t-rtspf-\(UUID().uuidString.prefix(4).lowercased())"
    let root = "vigil/\(site)"
    let cams = refusing.entry("refusing", every: 5) + ", "
      + locked.entry("auth", every: 5, password: "wrong", relay: "auth_relay")
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: config(site, broker.port, cams), dir: dir)
    try agent.start()
    defer { agent.kill9() }

    let down = await centre.waitForCamera(root, "refusing", within: 20) {
      $0["fault"] as? String == "stream_down"
    }
    #expect(down?["state"] as? String == "no_video", "\(agent.log.text)")
    let auth = await centre.waitForCamera(root, "auth", within: 20) {
      $0["fault"] as? String == "auth"
    }
    #expect(auth?["state"] as? String == "no_video", "\(agent.log.text)")
    // Long enough for the policy (2 failed probe rounds, 1 s apart) to have cycled it, and for
    // two more full checks had the budget not held the login back.
    try await Task.sleep(nanoseconds: 11_000_000_000)
    #expect(!centre.events(root, "camera_power_cycled").contains {
      $0["camera"] as? String == "auth"
    }, "\(agent.log.text)")
    #expect(relay.history == [1], "\(relay.history)")
    let failed = centre.events(root, "camera_auth_failed")
    #expect(failed.count == 1 && failed.first?["source"] as? String == "rtsp", "\(failed)")
    let last = centre.messages("\(root)/heartbeat").last?.json?["cameras"] as? [[String: Any]]
    #expect(last?.first { $0["id"] as? String == "auth" }?["fault"] as? String == "auth")
    #expect(agent.log.text.contains("DESCRIBE answered 503"), "\(agent.log.text)")
  }

  /// Digest only by default: an RTSP service that asks for basic gets no password and the
  /// camera is `auth`, with the reason in the log; one whose config says `"auth": "basic"` logs
  /// in with basic and is `healthy`.
  @Test func basicIsUsedOnlyWhereTheCameraConfigSaysSo() async throws {
    let broker = try Broker()
    let allowed = try FakeRTSPCamera(basic: true)
    let spoof = try FakeRTSPCamera(basic: true)
    let site = "t-rtspb-\(UUID().uuidString.prefix(4).lowercased())"
    let root = "vigil/\(site)"
    let cams = allowed.entry("allowed", every: 5, allowBasic: true) + ", "
      + spoof.entry("spoof", every: 5)
    let dir = Harness.tempDir("rtspbasic")
    _ = try SimBoardDir(in: dir, lines: ["spare_relay": (false, 0)])
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: config(site, broker.port, cams), dir: dir)
    try agent.start()
    defer { agent.kill9() }

    let ok = await centre.waitForCamera(root, "allowed", within: 20) {
      $0["state"] as? String == "healthy"
    }
    #expect(ok != nil, "\(agent.log.text)\n\(allowed.log.text)")
    let refused = await centre.waitForCamera(root, "spoof", within: 20) {
      $0["fault"] as? String == "auth"
    }
    #expect(refused != nil, "\(agent.log.text)")
    #expect(agent.log.text.contains("DESCRIBE answered 401: the camera asks for basic"),
            "\(agent.log.text)")
    #expect(allowed.requests.contains { $0.hasPrefix("DESCRIBE") && $0.hasSuffix("auth=basic") },
            "\(allowed.requests)")
    let sent = spoof.requests
    #expect(sent.contains { $0.hasPrefix("DESCRIBE") } && !sent.contains { $0.hasSuffix("auth=basic") },
            "\(sent)")
  }
}
