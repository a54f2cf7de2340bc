import Foundation
import Testing

/// Issue 14 as the centre and the technician see it: a camera whose pictures are real JPEGs of a
/// street (Tests/Fixtures/scenes.py, encoded by GStreamer's jpegenc) is learnt, then leaves over
/// half the lens, a blur and a knock are each told by an event naming the snapshot that
/// decided it, and a passing car or the light changing to the night's IR is not. Real parts:
/// mosquitto, the agent as a process, the fake camera over HTTP.
@Suite(.serialized)
struct ViewWatchSiteTests {
  func view(_ cam: [String: Any]?) -> [String: Any]? { cam?["view"] as? [String: Any] }

  @Test func aBranchABlurAndAKnockAreToldAndACarIsNot() async throws {
    let broker = try Broker()
    let cam = try FakeCamera(scene: "clear")
    let dir = Harness.tempDir("viewsite")
    let site = "t-view-\(UUID().uuidString.prefix(4).lowercased())"
    let root = "vigil/\(site)"
    let config = testConfig(site: site, brokers: brokerEntry(broker.port), extra: """
      "probe_s": 1, "cameras": [\(cam.entry("cam1", every: 1, auth: false)),
        {"id": "dark", "host": "127.0.0.1", "probe_port": \(cam.port)}]
      """)
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: config, dir: dir)
    try agent.start()
    defer { agent.kill9() }

    // Learnt from the first consistent snapshots, then clear; a camera with no snapshots is
    // unscored, never clear.
    let clear = await centre.waitForCamera(root, "cam1", within: 60) {
      (($0["view"] as? [String: Any])?["state"] as? String) == "clear"
    }
    #expect(view(clear)?["mode"] as? String == "day", "\(clear ?? [:])")
    let dark = await centre.waitForCamera(root, "dark", within: 5) { $0["view"] != nil }
    #expect(view(dark)?["state"] as? String == "unscored", "\(dark ?? [:])")
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("spool/state/view/cam1-day.ref").path))

    // A car through the view: still clear over 6 snapshots.
    cam.show("car")
    try await Task.sleep(nanoseconds: 6_000_000_000)
    let withCar = await centre.waitForCamera(
      root, "cam1", within: 5, after: centre.messages("\(root)/heartbeat").count) { _ in true }
    #expect(view(withCar)?["state"] as? String == "clear", "\(withCar ?? [:])")

    // Leaves over half the lens: obstructed, with the scores and the snapshot's topic.
    cam.show("branch")
    let obstructed = await centre.waitForEvent(root, "view_obstructed", within: 20)
    let e = obstructed?.0 ?? [:]
    #expect(e["camera"] as? String == "cam1")
    #expect((e["coverage"] as? Double ?? 1) < 0.7, "\(e)")
    let topic = e["snapshot"] as? String ?? ""
    #expect(topic.hasPrefix("\(root)/snapshot/cam1/"), "\(e)")
    // The snapshot named is one the centre got.
    #expect(await centre.waitFor(topic, within: 10) != nil, "no snapshot on \(topic)")

    // Trimmed: clear again, and told.
    cam.show("clear")
    let back = await centre.waitForEvent(root, "view_clear", within: 20)
    #expect((back?.0["coverage"] as? Double ?? 0) > 0.9, "\(back?.0 ?? [:])")

    // A lens out of focus, then a knock that turns it.
    cam.show("blur")
    let blurred = await centre.waitForEvent(root, "view_blurred", within: 20)
    #expect((blurred?.0["sharpness"] as? Double ?? 1) < 0.6, "\(blurred?.0 ?? [:])")
    cam.show("shift")
    let moved = await centre.waitForEvent(root, "view_moved", within: 20)
    #expect(abs((moved?.0["shift_px"] as? Int ?? 0) - 48) <= 16, "\(moved?.0 ?? [:])")

    // The technician up the ladder looks: the last snapshot beside the reference, in 80 columns.
    cam.show("clear")
    _ = await centre.waitForEvent(root, "view_clear", within: 20) { _ in true }
    let before = centre.messages("\(root)/cmd/result").count
    centre.publish("\(root)/cmd", #"{"id":"v-1","line":"view cam1 show"}"#)
    let shown = await centre.waitFor("\(root)/cmd/result", within: 5, after: before)
    let out = shown?.json?["output"] as? String ?? ""
    let lines = out.split(separator: "\n")
    #expect(lines.first?.contains("reference (day)") == true, "\(out)")
    #expect(lines.count >= 8 && lines.allSatisfy { $0.utf8.count <= 80 }, "\(out)")
    #expect(Set(lines.dropFirst().joined()).count > 5, "a picture, not blanks: \(out)")

    // Night: the IR picture has its own reference, learnt; the day's is kept.
    cam.show("night")
    let night = await centre.waitForCamera(root, "cam1", within: 40) {
      (($0["view"] as? [String: Any])?["mode"] as? String) == "night"
        && (($0["view"] as? [String: Any])?["state"] as? String) == "clear"
    }
    #expect(night != nil)
    #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("spool/state/view/cam1-night.ref").path))
    #expect(centre.events(root, "view_obstructed").count == 1, "\(centre.events(root, "view_obstructed"))")

    // After a restart the references are read back: no learning, clear from the first scores.
    cam.show("clear")
    agent.kill9()
    let centre2 = try await Centre(port: broker.port)
    let again = try AgentProcess(config: config, dir: dir)
    try again.start()
    defer { again.kill9() }
    var states: [String] = []
    _ = await centre2.waitForCamera(root, "cam1", within: 30) { c in
      if let s = (c["view"] as? [String: Any])?["state"] as? String { states.append(s) }
      return states.last == "clear"
    }
    #expect(states.last == "clear" && !states.contains("learning"), "\(states)")

    // `view cam1 reference`: learnt again from the next snapshots.
    let n = centre2.messages("\(root)/cmd/result").count
    centre2.publish("\(root)/cmd", #"{"id":"v-2","line":"view cam1 reference"}"#)
    let retake = await centre2.waitFor("\(root)/cmd/result", within: 5, after: n)
    #expect((retake?.json?["output"] as? String ?? "").contains("learning a new reference"), "\(retake?.json ?? [:])")
    let relearnt = await centre2.waitForCamera(root, "cam1", within: 40) {
      (($0["view"] as? [String: Any])?["state"] as? String) == "clear"
    }
    #expect(relearnt != nil)
  }
}
