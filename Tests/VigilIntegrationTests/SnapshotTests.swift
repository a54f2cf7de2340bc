import Foundation
import Testing

/// Snapshots from fake cameras over real HTTP, through the spool, to a real broker.
@Suite(.serialized)
struct SnapshotTests {
  @Test func basicAndDigestCamerasDeliverTheirJPEGsAndBadOnesAreRefused() async throws {
    let broker = try Broker()
    let basic = try FakeCamera(auth: .basic)
    let digest = try FakeCamera(auth: .digest)
    let open = try FakeCamera(auth: .none)
    // A camera (or one spoofing it) that asks for basic, to a config that does not allow it.
    let spoof = try FakeCamera(auth: .basic)
    let site = "t-snap-\(UUID().uuidString.prefix(4).lowercased())"
    let root = "vigil/\(site)"
    let cams = [
      basic.entry("basic"), digest.entry("digest"),
      digest.entry("wrongpw", password: "nope"),
      open.entry("html", path: "/html", auth: false),
      open.entry("big", path: "/big.jpg", auth: false),
      spoof.entry("nobasic", allowBasic: false),
    ].joined(separator: ", ")
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: testConfig(
      site: site, brokers: brokerEntry(broker.port), extra: "\"cameras\": [\(cams)]"))
    try agent.start()
    let enough = await Harness.wait(15) {
      let s = centre.snapshots(root)
      return s.filter { $0.camera == "basic" }.count >= 3 && s.filter { $0.camera == "digest" }.count >= 3
    }
    #expect(enough, "\(agent.log.text)")
    let got = centre.snapshots(root)
    #expect(Set(got.map { $0.camera }) == ["basic", "digest"], "only good cameras deliver")
    // Each snapshot is byte for byte a body the camera served, in the order it served them.
    for (cam, camera) in [("basic", basic), ("digest", digest)] {
      let served = camera.served()
      let frames = got.filter { $0.camera == cam }.map { s in
        served.first(where: { $0.body == s.payload })?.frame ?? -1
      }
      #expect(!frames.contains(-1), "\(cam): a snapshot that the camera never served")
      #expect(frames == frames.sorted() && Set(frames).count == frames.count, "\(cam): \(frames)")
      let times = got.filter { $0.camera == cam }.map { $0.captureMs }
      #expect(times == times.sorted())
    }
    let log = agent.log.text
    #expect(log.contains("snapshot wrongpw: HTTP 401"), "\(log)")
    #expect(log.contains("snapshot html: not a JPEG"), "\(log)")
    #expect(log.contains("snapshot big: body larger than"), "\(log)")
    // The heartbeat tells each camera's snapshot age: a number for those that deliver, null
    // for those that never did.
    let hb = try #require(await centre.waitFor("\(root)/heartbeat", within: 5,
                                               after: centre.messages("\(root)/heartbeat").count))
    let entries = try #require(hb.json?["cameras"] as? [[String: Any]])
    func age(_ id: String) -> Any? { entries.first { $0["id"] as? String == id }?["snapshot_age_s"] }
    #expect((age("basic") as? Int ?? 99) <= 2)
    #expect((age("digest") as? Int ?? 99) <= 2)
    for bad in ["wrongpw", "html", "big", "nobasic"] { #expect(age(bad) is NSNull, "\(bad)") }
    // Digest only, unless the camera's config says basic: the spoof never got the password.
    #expect(log.contains("snapshot nobasic: HTTP 401: the camera asks for basic authentication"),
            "\(log)")
    #expect(entries.first { $0["id"] as? String == "nobasic" }?["fault"] as? String == "auth")
    #expect(!spoof.requests.isEmpty && !spoof.requests.contains { $0.hasSuffix("auth=basic") },
            "\(spoof.requests)")
    #expect(!digest.requests.contains { $0.hasSuffix("auth=basic") }, "\(digest.requests)")
    #expect(basic.requests.contains { $0.hasSuffix("auth=basic") }, "\(basic.requests)")
    #expect(centre.lastSpool(root)?["count"] as? Int == 0)
  }

  /// A camera that accepts the connection and never answers holds one transfer open for the
  /// whole timeout; heartbeats and another camera's snapshots go on at their pace meanwhile.
  @Test func aHangingCameraDelaysNeitherHeartbeatsNorAnotherCamera() async throws {
    let broker = try Broker()
    let cam = try FakeCamera(auth: .digest)
    let site = "t-hang-\(UUID().uuidString.prefix(4).lowercased())"
    let root = "vigil/\(site)"
    let cams = [cam.entry("hung", path: "/hang.jpg"), cam.entry("good")].joined(separator: ", ")
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: testConfig(
      site: site, brokers: brokerEntry(broker.port), heartbeat: 1,
      extra: "\"cameras\": [\(cams)]"))
    try agent.start()
    #expect(await centre.waitFor("\(root)/heartbeat", within: 10) != nil)
    let from = Date()
    try await Task.sleep(nanoseconds: 7_000_000_000)
    let beats = centre.messages("\(root)/heartbeat").filter { $0.at > from }
    let snaps = centre.messages("\(root)/snapshot/good/").filter { $0.at > from }
    #expect(beats.count >= 6, "\(agent.log.text)")
    #expect(snaps.count >= 6, "\(agent.log.text)")
    for list in [beats, snaps] {
      for (a, b) in zip(list, list.dropFirst()) {
        let gap = b.at.timeIntervalSince(a.at)
        #expect(gap < 1.7, "gap of \(gap) s while a camera hangs")
      }
    }
    #expect(centre.messages("\(root)/snapshot/hung/").isEmpty)
    let last = try #require(beats.last?.json?["cameras"] as? [[String: Any]])
    #expect(last.first { $0["id"] as? String == "hung" }?["snapshot_age_s"] is NSNull)
  }

  /// The promise: while a camera's HTTP request hangs, a power cut on another camera's
  /// line still reaches the broker within 1 s (one thread, nothing in the loop blocks).
  @Test func aPowerCutIsReportedWithinASecondWhileACameraHangs() async throws {
    let broker = try Broker()
    let cam = try FakeCamera(auth: .digest)
    let site = "t-hangcut-\(UUID().uuidString.prefix(4).lowercased())"
    let root = "vigil/\(site)"
    let dir = Harness.tempDir("hangcut")
    let board = try SimBoardDir(in: dir, lines: ["cam2_power": (input: true, debounceMs: 20)])
    let good = cam.entry("good").replacingOccurrences(
      of: "\"snapshot_s\": 1", with: "\"snapshot_s\": 1, \"power_line\": \"cam2_power\"")
    let cams = [cam.entry("hung", path: "/hang.jpg"), good].joined(separator: ", ")
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: testConfig(
      site: site, brokers: brokerEntry(broker.port), heartbeat: 1,
      extra: "\"board\": \"board.json\", \"cameras\": [\(cams)]"), dir: dir)
    try agent.start()
    #expect(await centre.waitFor("\(root)/heartbeat", within: 10) != nil, "\(agent.log.text)")
    // Let the hung camera's transfer start and hang.
    try await Task.sleep(nanoseconds: 2_500_000_000)
    let cut = Date()
    board.set("cam2_power", 0)
    let lost = await centre.waitFor("\(root)/event", within: 5) {
      $0.json?["kind"] as? String == "camera_power_lost" && $0.json?["camera"] as? String == "good"
    }
    let took = lost.map { $0.at.timeIntervalSince(cut) } ?? 99
    #expect(took < 1.0, "camera_power_lost after \(took) s: \(agent.log.text)")
    #expect(centre.messages("\(root)/snapshot/hung/").isEmpty, "the hung camera is still hanging")
  }
}
