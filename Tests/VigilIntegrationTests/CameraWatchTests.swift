import Foundation
import Testing

/// Camera health on the simulated board, as the centre sees it: a real mosquitto, the agent as a
/// process, line files the test writes, and fake cameras (TCP listeners the test opens and
/// closes).
@Suite struct CameraWatchTests {
  /// A site with one camera (power line and relay), a door and a mains line.
  struct Site {
    let broker: Broker
    let centre: Centre
    let agent: AgentProcess
    let board: SimBoardDir
    let camera: ProbeTarget
    let root: String
  }

  func startSite(camera: ProbeTarget? = nil, powerCycle: String = "", doorDebounceMs: Int = 200)
    async throws -> Site
  {
    let broker = try Broker()
    let dir = Harness.tempDir("camwatch")
    let board = try SimBoardDir(in: dir, lines: [
      "cam1_power": (true, 50), "cam1_relay": (false, 0),
      "door": (true, doorDebounceMs), "mains": (true, 50),
    ])
    let cam = try camera ?? ProbeTarget()
    let site = "t-\(UUID().uuidString.prefix(6).lowercased())"
    let cycle = powerCycle.isEmpty
      ? "{\"after_failures\": 3, \"off_s\": 1, \"boot_s\": 2, \"max_per_hour\": 1}" : powerCycle
    let config = testConfig(site: site, brokers: brokerEntry(broker.port), extra: """
      "board": "board.json", "door_line": "door", "mains_line": "mains", "probe_s": 1,
      "power_cycle": \(cycle),
      "cameras": [{"id": "cam1", "host": "127.0.0.1", "probe_port": \(cam.port),
                   "power_line": "cam1_power", "relay_line": "cam1_relay"}]
      """)
    let agent = try AgentProcess(config: config, dir: dir)
    let centre = try await Centre(port: broker.port)
    try agent.start()
    return Site(broker: broker, centre: centre, agent: agent, board: board, camera: cam,
                root: "vigil/\(site)")
  }

  @Test func aPowerCutIsReportedWithinASecondAndItsReturnToo() async throws {
    let s = try await startSite()
    defer { s.agent.kill9() }
    let healthy = await s.centre.waitForCamera(s.root, "cam1", within: 15) {
      $0["state"] as? String == "healthy"
    }
    #expect(healthy?["power"] as? String == "on", "\(s.agent.log.text)")
    #expect(healthy?["relay"] as? String == "on")
    #expect(s.board.level("cam1_relay") == 1)

    // The power cut, written as an editor writes: a new file renamed over the old one.
    let cut = Date()
    s.board.set("cam1_power", 0, byRename: true)
    let lost = await s.centre.waitForEvent(s.root, "camera_power_lost", within: 5)
    #expect(lost?.0["camera"] as? String == "cam1", "\(s.agent.log.text)")
    #expect(lost?.0["line"] as? String == "cam1_power")
    if let at = lost?.1 { #expect(at.timeIntervalSince(cut) < 1.0, "seen after \(at.timeIntervalSince(cut)) s") }

    // The next heartbeat says no_power.
    let beats = s.centre.messages("\(s.root)/heartbeat").count
    let off = await s.centre.waitForCamera(s.root, "cam1", within: 3, after: beats) { _ in true }
    #expect(off?["state"] as? String == "no_power")
    #expect(off?["power"] as? String == "off")

    // Power back, written as `echo 1 > cam1_power` does.
    s.board.set("cam1_power", 1)
    let back = await s.centre.waitForEvent(s.root, "camera_power_restored", within: 6)
    #expect(back?.0["camera"] as? String == "cam1", "\(s.agent.log.text)")
    #expect((back?.0["off_s"] as? Int ?? -1) >= 0)
    let again = await s.centre.waitForCamera(s.root, "cam1", within: 8) {
      $0["state"] as? String == "healthy"
    }
    #expect(again != nil)
    // Exactly one of each: no flapping.
    #expect(s.centre.events(s.root, "camera_power_lost").count == 1)
    #expect(s.centre.events(s.root, "camera_power_restored").count == 1)
  }

  @Test func aChatteringDoorGivesAHandfulOfEventsAndACleanOpeningDoorOpened() async throws {
    let s = try await startSite()
    defer { s.agent.kill9() }
    let first = await s.centre.waitFor("\(s.root)/heartbeat", within: 15) { seen in
      (seen.json?["board"] as? [String: Any])?["door"] as? String == "closed"
    }
    #expect(first != nil, "\(s.agent.log.text)")

    // A bad contact: 100 flips in one second, ending where it began (closed).
    for i in 1...100 {
      s.board.set("door", i % 2 == 0 ? 1 : 0)
      usleep(10_000)
    }
    try await Task.sleep(nanoseconds: 3_000_000_000)
    let storm = s.centre.events(s.root, "door_opened").count
      + s.centre.events(s.root, "door_closed").count
    #expect(storm <= 4, "\(storm) door events for a chattering contact")

    // A clean opening.
    let before = s.centre.events(s.root, "door_opened").count
    s.board.set("door", 0)
    let opened = await s.centre.waitFor("\(s.root)/event", within: 3) { seen in
      seen.json?["kind"] as? String == "door_opened"
        && s.centre.events(s.root, "door_opened").count > before
    }
    #expect(opened?.json?["line"] as? String == "door")
    let beats = s.centre.messages("\(s.root)/heartbeat").count
    let hb = await s.centre.waitFor("\(s.root)/heartbeat", within: 3, after: beats)
    #expect((hb?.json?["board"] as? [String: Any])?["door"] as? String == "open")

    // Mains lost and back.
    s.board.set("mains", 0)
    let lost = await s.centre.waitForEvent(s.root, "mains_lost", within: 3)
    #expect(lost?.0["line"] as? String == "mains")
    let beats2 = s.centre.messages("\(s.root)/heartbeat").count
    let hb2 = await s.centre.waitFor("\(s.root)/heartbeat", within: 3, after: beats2)
    #expect((hb2?.json?["board"] as? [String: Any])?["mains"] as? String == "lost")
    s.board.set("mains", 1)
    #expect(await s.centre.waitForEvent(s.root, "mains_restored", within: 6) != nil)
  }

  @Test func aCameraWhosePortClosesIsCycledAtMostMaxPerHourAndLeftOn() async throws {
    let s = try await startSite(
      powerCycle: "{\"after_failures\": 2, \"off_s\": 1, \"boot_s\": 2, \"max_per_hour\": 1}")
    defer { s.agent.kill9() }
    let relay = LineRecorder(s.board, "cam1_relay")
    defer { relay.stop() }
    #expect(await s.centre.waitForCamera(s.root, "cam1", within: 15) {
      $0["state"] as? String == "healthy"
    } != nil, "\(s.agent.log.text)")

    s.camera.close()
    let unreachable = await s.centre.waitForEvent(s.root, "camera_unreachable", within: 6)
    #expect(unreachable?.0["camera"] as? String == "cam1", "\(s.agent.log.text)")
    #expect(unreachable?.0["port"] as? Int == s.camera.port)
    let noLink = await s.centre.waitForCamera(s.root, "cam1", within: 3) {
      $0["state"] as? String == "no_link"
    }
    #expect(noLink?["link"] as? String == "down")

    let cycled = await s.centre.waitForEvent(s.root, "camera_power_cycled", within: 12)
    #expect(cycled?.0["recovered"] as? Bool == false, "\(s.agent.log.text)")
    #expect(cycled?.0["origin"] as? String == "policy")
    #expect(cycled?.0["reason"] as? String == "no_link")
    #expect(relay.history.starts(with: [1, 0, 1]), "relay levels \(relay.history)")

    // Long enough for several more cycles if nothing limited them: none comes (max_per_hour 1).
    try await Task.sleep(nanoseconds: 10_000_000_000)
    #expect(s.centre.events(s.root, "camera_power_cycled").count == 1)
    #expect(relay.history == [1, 0, 1], "relay levels \(relay.history)")
    #expect(s.board.level("cam1_relay") == 1)
    let beats = s.centre.messages("\(s.root)/heartbeat").count
    let last = await s.centre.waitForCamera(s.root, "cam1", within: 3, after: beats) { _ in true }
    #expect(last?["relay"] as? String == "on")
    #expect(last?["cycles"] as? Int == 1)
    #expect(last?["state"] as? String == "no_link")

    // Stopping leaves the relay on too.
    s.agent.signal(SIGTERM)
    #expect(await s.agent.waitExit(10) == 0)
    #expect(s.board.level("cam1_relay") == 1)
  }

  @Test func aCycleThatBringsTheCameraBackIsRecovered() async throws {
    let s = try await startSite(
      powerCycle: "{\"after_failures\": 1, \"off_s\": 1, \"boot_s\": 5, \"max_per_hour\": 2}")
    defer { s.agent.kill9() }
    let relay = LineRecorder(s.board, "cam1_relay")
    defer { relay.stop() }
    #expect(await s.centre.waitForCamera(s.root, "cam1", within: 15) {
      $0["state"] as? String == "healthy"
    } != nil, "\(s.agent.log.text)")
    s.camera.close()
    // The camera comes back once its power has been cut, as a hung one would.
    #expect(await Harness.wait(10) { relay.history.contains(0) }, "\(s.agent.log.text)")
    try s.camera.open()
    let cycled = await s.centre.waitForEvent(s.root, "camera_power_cycled", within: 10)
    #expect(cycled?.0["recovered"] as? Bool == true, "\(s.agent.log.text)")
    #expect(await s.centre.waitForEvent(s.root, "camera_reachable", within: 6) != nil)
    #expect(relay.history == [1, 0, 1])
  }

  @Test func aBoardLineOnAMissingChipIsAClearStartUpError() throws {
    let dir = Harness.tempDir("gpiod")
    let board = """
      {"name": "nochip", "driver": "gpiod", "lines": {
        "cam1_power": {"chip": "nosuchchip", "offset": 3, "direction": "input"}}}
      """
    try board.write(to: dir.appendingPathComponent("board.json"), atomically: true, encoding: .utf8)
    let config = testConfig(brokers: brokerEntry(Harness.freePort()), extra: """
      "board": "board.json",
      "cameras": [{"id": "cam1", "host": "127.0.0.1", "power_line": "cam1_power"}]
      """)
    try config.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
    let (status, out) = Harness.run(Harness.vigilBinary,
                                    ["run", "--config", dir.appendingPathComponent("config.json").path])
    #expect(status == 1, "\(out)")
    #expect(out.contains("board line \"cam1_power\": no GPIO chip \"nosuchchip\""), "\(out)")
  }
}

extension CameraWatchTests {
  @Test func aReloadAddsACameraAndDropsTheDoorLine() async throws {
    let s = try await startSite()
    defer { s.agent.kill9() }
    #expect(await s.centre.waitForCamera(s.root, "cam1", within: 15) {
      $0["state"] as? String == "healthy"
    } != nil, "\(s.agent.log.text)")
    let cam2 = try ProbeTarget()
    var text = try String(contentsOf: s.agent.configURL, encoding: .utf8)
    text = text.replacingOccurrences(of: "\"version\": 1", with: "\"version\": 2")
    text = text.replacingOccurrences(of: "\"door_line\": \"door\", ", with: "")
    text = text.replacingOccurrences(of: "\"relay_line\": \"cam1_relay\"}", with: """
      "relay_line": "cam1_relay"}, {"id": "cam2", "host": "127.0.0.1", "probe_port": \(cam2.port)}
      """)
    try text.write(to: s.agent.configURL, atomically: true, encoding: .utf8)
    s.agent.signal(SIGHUP)
    let hb = await s.centre.waitFor("\(s.root)/heartbeat", within: 10) { seen in
      guard let j = seen.json, j["config_version"] as? Int == 2,
        let cams = j["cameras"] as? [[String: Any]] else { return false }
      return cams.contains { $0["id"] as? String == "cam2" && $0["state"] as? String == "healthy" }
    }
    #expect(hb != nil, "\(s.agent.log.text)")
    let board = hb?.json?["board"] as? [String: Any]
    #expect(board?["door"] as? String == "unknown")
    #expect(board?["mains"] as? String == "ok")
    let cams = hb?.json?["cameras"] as? [[String: Any]]
    #expect(cams?.first { $0["id"] as? String == "cam1" }?["state"] as? String == "healthy")
  }

  /// A camera that leaves the config while its relay is off has its relay switched on again;
  /// a write that fails then is logged, not passed over.
  @Test(arguments: [false, true])
  func aCameraDroppedWithItsRelayOffIsSwitchedOnAgain(writeFails: Bool) async throws {
    let s = try await startSite()
    defer { s.agent.kill9() }
    #expect(await s.centre.waitForCamera(s.root, "cam1", within: 15) {
      $0["state"] as? String == "healthy"
    } != nil, "\(s.agent.log.text)")
    s.centre.publish("\(s.root)/cmd", #"{"id":"r-1","line":"relay cam1 off"}"#)
    #expect(await Harness.wait(5) { s.board.level("cam1_relay") == 0 }, "\(s.agent.log.text)")
    if writeFails {
      // A folder where the line's file was: the driver's rename over it fails.
      let relay = s.board.dir.appendingPathComponent("cam1_relay")
      try FileManager.default.removeItem(at: relay)
      try FileManager.default.createDirectory(
        at: relay.appendingPathComponent("x"), withIntermediateDirectories: true)
    }
    var text = try String(contentsOf: s.agent.configURL, encoding: .utf8)
    text = text.replacingOccurrences(of: "\"version\": 1", with: "\"version\": 2")
    text = text.replacingOccurrences(of: #""id": "cam1""#, with: #""id": "cam2""#)
    text = text.replacingOccurrences(of: #", "relay_line": "cam1_relay""#, with: "")
    try text.write(to: s.agent.configURL, atomically: true, encoding: .utf8)
    s.agent.signal(SIGHUP)
    #expect(logTime(s.agent, "reloaded", within: 10) != nil, "\(s.agent.log.text)")
    let failure = "relay cam1: board line \"cam1_relay\": cannot write"
    if writeFails {
      #expect(logTime(s.agent, failure, within: 5) != nil, "\(s.agent.log.text)")
    } else {
      #expect(await Harness.wait(5) { s.board.level("cam1_relay") == 1 }, "\(s.agent.log.text)")
      #expect(!s.agent.log.text.contains(failure))
    }
  }
}
