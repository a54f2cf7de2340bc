import Foundation
import Testing
import VigilCore
import VigilPlatform
@testable import VigilAgent

/// The camera commands (`cameras`, `gpio`, `probe`, `relay`) through the one dispatcher that the
/// console and `R/cmd` call, run on an agent in this process: its loop on a thread of its own,
/// a real broker and the centre watching the events, the simulated board in a folder. These
/// test the host build; they are skipped when `VIGIL_BIN` points the suite at another binary.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["VIGIL_BIN"] == nil))
struct CameraCommandTests {
  typealias Step = (delayMs: Int64, run: (Agent, CameraWatch) -> Void)

  /// Runs an agent with `config` until its steps are done; each step runs on the loop's thread
  /// after its delay, the first once the agent is connected.
  func runAgent(_ configPath: String, _ steps: [Step]) async throws {
    let done = LockedFlag()
    let failure = LockedText()
    let thread = Thread {
      do {
        let loaded = try ConfigFile.load(configPath)
        let loop = try EventLoop()
        let agent = Agent(loaded: loaded, loop: loop, bootId: 1)
        guard let watch = agent.parts.first(where: { $0 is CameraWatch }) as? CameraWatch else {
          failure.set("no CameraWatch part")
          done.set()
          return
        }
        var i = 0
        func next() {
          guard i < steps.count else {
            agent.session.stop()
            loop.stop()
            return
          }
          let step = steps[i]
          i += 1
          loop.after(ms: step.delayMs) {
            step.run(agent, watch)
            next()
          }
        }
        var waiting: EventLoop.Timer?
        waiting = loop.every(ms: 50) {
          if agent.session.isConnected {
            loop.cancel(waiting)
            next()
          }
        }
        _ = agent.run()
      } catch {
        failure.set("\(error)")
      }
      done.set()
    }
    thread.start()
    let finished = await Harness.wait(60) { done.value }
    #expect(finished, "the in-process agent did not finish its steps")
    #expect(failure.text.isEmpty, "\(failure.text)")
  }

  func site(_ camera: ProbeTarget,
            cycle: String = #"{"after_failures": 3, "off_s": 1, "boot_s": 3, "max_per_hour": 2}"#)
    throws -> (config: String, board: SimBoardDir, broker: Broker, root: String)
  {
    let broker = try Broker()
    let dir = Harness.tempDir("camcmd")
    let board = try SimBoardDir(in: dir, lines: [
      "cam1_power": (true, 20), "cam1_relay": (false, 0), "door": (true, 20), "siren": (false, 0),
    ])
    let siteId = "t-\(UUID().uuidString.prefix(6).lowercased())"
    let config = testConfig(site: siteId, brokers: brokerEntry(broker.port), extra: """
      "board": "board.json", "door_line": "door", "probe_s": 1,
      "power_cycle": \(cycle),
      "cameras": [{"id": "cam1", "host": "127.0.0.1", "probe_port": \(camera.port),
                   "power_line": "cam1_power", "relay_line": "cam1_relay"},
                  {"id": "cam2", "host": "127.0.0.1", "probe_port": \(camera.port)}]
      """)
    let url = dir.appendingPathComponent("config.json")
    try config.write(to: url, atomically: true, encoding: .utf8)
    return (url.path, board, broker, "vigil/\(siteId)")
  }

  @Test func gpioReadsEveryLineAndSetsOnlyOutputs() async throws {
    let camera = try ProbeTarget()
    let s = try site(camera)
    let centre = try await Centre(port: s.broker.port)
    var out: [CommandResult] = []
    try await runAgent(s.config, [
      (300, { a, _ in out.append(a.commands.run("gpio", origin: .console)) }),
      (0, { a, _ in out.append(a.commands.run("gpio door", origin: .console)) }),
      (0, { a, _ in out.append(a.commands.run("gpio door 0", origin: .console)) }),
      (0, { a, _ in out.append(a.commands.run("gpio siren 1", origin: .console)) }),
      (0, { a, _ in out.append(a.commands.run("gpio nosuch", origin: .console)) }),
      (0, { a, _ in out.append(a.commands.run("gpio siren 7", origin: .console)) }),
      // Issue 18: outputs from the console only.
      (0, { a, _ in out.append(a.commands.run("gpio siren 0", origin: .remote(id: "c1"))) }),
      (300, { _, _ in }),
    ])
    #expect(out.count == 7)
    guard out.count == 7 else { return }
    #expect(out[0].ok)
    for name in ["cam1_power", "cam1_relay", "door", "siren"] {
      #expect(out[0].output.contains(name), "\(out[0].output)")
    }
    #expect(out[0].output.contains("debounce 20 ms"))
    #expect(out[1].ok && out[1].output == "door 1\n", "\(out[1].output)")
    #expect(!out[2].ok && out[2].output.contains("door is an input"), "\(out[2].output)")
    #expect(out[3].ok, "\(out[3].output)")
    #expect(s.board.level("siren") == 1)
    #expect(!out[4].ok && out[4].output.contains("no line \"nosuch\""))
    #expect(!out[5].ok && out[5].output.contains("usage: gpio"))
    #expect(!out[6].ok && out[6].output.hasPrefix("gpio outputs are set only at the serial console"),
            "\(out[6].output)")
    #expect(s.board.level("siren") == 1, "the centre's gpio write changed nothing")
    let set = await centre.waitForEvent(s.root, "gpio_set", within: 3)
    #expect(set?.0["line"] as? String == "siren")
    #expect(set?.0["value"] as? Int == 1)
    #expect(set?.0["origin"] as? String == "console")
  }

  @Test func relayCommandsSwitchAndCycleAndSayWhoAsked() async throws {
    let camera = try ProbeTarget()
    let s = try site(camera)
    let centre = try await Centre(port: s.broker.port)
    let relay = LineRecorder(s.board, "cam1_relay")
    defer { relay.stop() }
    var out: [String: CommandResult] = [:]
    var stateWhileOff = ""
    var cycleState = ""
    try await runAgent(s.config, [
      (1500, { a, _ in out["cameras"] = a.commands.run("cameras", origin: .console) }),
      (0, { a, _ in out["status"] = a.commands.run("status", origin: .console) }),
      (0, { a, _ in out["off"] = a.commands.run("relay cam1 off", origin: .console) }),
      (100, { a, w in
        out["cameras-off"] = a.commands.run("cameras", origin: .console)
        stateWhileOff = w.camera("cam1")?.health.state.rawValue ?? ""
      }),
      (0, { a, _ in out["on"] = a.commands.run("relay cam1 on", origin: .console) }),
      (150, { a, _ in out["cycle"] = a.commands.run("relay cam1 cycle", origin: .remote(id: "x")) }),
      (0, { a, _ in out["again"] = a.commands.run("relay cam1 cycle", origin: .console) }),
      (200, { a, w in
        cycleState = w.camera("cam1")?.health.state.rawValue ?? ""
        out["cameras-cycle"] = a.commands.run("cameras", origin: .console)
      }),
      (0, { a, _ in out["norelay"] = a.commands.run("relay cam2 off", origin: .console) }),
      (0, { a, _ in out["nocam"] = a.commands.run("relay cam9 on", origin: .console) }),
      (0, { a, _ in out["usage"] = a.commands.run("relay cam1", origin: .console) }),
      (0, { a, _ in out["probe"] = a.commands.run("probe cam1", origin: .console) }),
      (3000, { _, _ in }),
    ])
    #expect(out["cameras"]?.output.contains("cam1      healthy") == true, "\(out["cameras"]?.output ?? "")")
    #expect(out["status"]?.output.contains("cameras   2: 2 healthy") == true, "\(out["status"]?.output ?? "")")
    #expect(out["status"]?.output.contains("board     test-sim (4 lines)  door closed") == true)
    #expect(out["off"]?.ok == true)
    #expect(stateWhileOff == "no_power")
    #expect(out["cameras-off"]?.output.contains("relay off") == true, "\(out["cameras-off"]?.output ?? "")")
    #expect(out["on"]?.ok == true)
    #expect(out["cycle"]?.ok == true, "\(out["cycle"]?.output ?? "")")
    #expect(out["again"]?.ok == false)
    #expect(out["again"]?.output.contains("already under way") == true)
    #expect(cycleState == "no_power")
    #expect(out["cameras-cycle"]?.output.contains("power cycle: relay off") == true,
            "\(out["cameras-cycle"]?.output ?? "")")
    #expect(out["norelay"]?.output.contains("cam2 has no relay line") == true)
    #expect(out["nocam"]?.output.contains("no camera \"cam9\" (cameras: cam1, cam2)") == true)
    #expect(out["usage"]?.output == "usage: relay CAM on|off|cycle")
    #expect(out["probe"]?.output.contains("answered in") == true, "\(out["probe"]?.output ?? "")")
    // off, on, then the cycle's off and on: the relay ends on.
    #expect(relay.history == [1, 0, 1, 0, 1], "\(relay.history)")
    #expect(s.board.level("cam1_relay") == 1)

    let commands = centre.events(s.root, "relay_command")
    #expect(commands.map { $0["action"] as? String ?? "" } == ["off", "on", "cycle"])
    #expect(commands.map { $0["origin"] as? String ?? "" } == ["console", "console", "mqtt"])
    let cycled = await centre.waitForEvent(s.root, "camera_power_cycled", within: 2)
    #expect(cycled?.0["origin"] as? String == "mqtt")
    #expect(cycled?.0["recovered"] as? Bool == true)
    // A technician's switching is not a power cut.
    #expect(centre.events(s.root, "camera_power_lost").isEmpty)
  }

  /// Issue 18: the centre's relay commands are held to limits a technician at the console may
  /// pass (and the event says so): an `off` from MQTT ends by itself after `remote_off_s`,
  /// switches from MQTT are at most 4 a minute per camera, and a cycle from MQTT counts in
  /// `max_per_hour` with the policy's.
  @Test func relayCommandsFromTheCentreAreHeldToLimits() async throws {
    let camera = try ProbeTarget()
    let s = try site(camera, cycle: """
      {"after_failures": 100, "off_s": 1, "boot_s": 2, "max_per_hour": 1, "remote_off_s": 5}
      """)
    let centre = try await Centre(port: s.broker.port)
    let relay = LineRecorder(s.board, "cam1_relay")
    defer { relay.stop() }
    var out: [(String, CommandResult)] = []
    var levelAfterExpiry: Int? = nil
    func run(_ name: String, _ line: String, _ origin: CommandOrigin) -> Step {
      (0, { a, _ in out.append((name, a.commands.run(line, origin: origin))) })
    }
    let centreAsks = CommandOrigin.remote(id: "r")
    try await runAgent(s.config, [
      (1500, { _, _ in }),
      run("remote off", "relay cam1 off", centreAsks),
      (6500, { _, _ in levelAfterExpiry = s.board.level("cam1_relay") }),
      run("remote on", "relay cam1 on", centreAsks),
      run("remote off 2", "relay cam1 off", centreAsks),
      run("remote on 2", "relay cam1 on", centreAsks),
      run("remote off 3", "relay cam1 off", centreAsks),
      run("console off", "relay cam1 off", .console),
      run("console on", "relay cam1 on", .console),
      run("remote cycle", "relay cam1 cycle", centreAsks),
      (3500, { _, _ in }),
      run("remote cycle 2", "relay cam1 cycle", centreAsks),
      run("console cycle", "relay cam1 cycle", .console),
      (3500, { _, _ in }),
    ])
    func result(_ name: String) -> CommandResult? { out.first { $0.0 == name }?.1 }
    #expect(result("remote off")?.output == "cam1: relay off; on again by itself in 5 s unless "
      + "switched off again (power_cycle.remote_off_s)\n")
    #expect(levelAfterExpiry == 1, "the centre's off ran out: the camera is on again")
    for ok in ["remote on", "remote off 2", "remote on 2", "console off", "console on",
               "remote cycle", "console cycle"] {
      #expect(result(ok)?.ok == true, "\(ok): \(result(ok)?.output ?? "not run")")
    }
    #expect(result("remote off 3")?.ok == false)
    #expect(result("remote off 3")?.output.hasPrefix(
      "cam1: not switched: 4 switches from the centre in the last minute") == true,
            "\(result("remote off 3")?.output ?? "")")
    #expect(result("remote cycle 2")?.ok == false)
    #expect(result("remote cycle 2")?.output.hasPrefix(
      "cam1: not cycled: 1 power cycles in the last hour, max_per_hour is 1") == true,
            "\(result("remote cycle 2")?.output ?? "")")
    #expect(s.board.level("cam1_relay") == 1)
    #expect(await Harness.wait(3) { centre.events(s.root, "relay_command").count >= 9 })
    let events = centre.events(s.root, "relay_command").map { e in
      "\(e["action"] as? String ?? "") \(e["origin"] as? String ?? "")"
        + (e["override"] as? Bool == true ? " override" : "")
        + ((e["until_s"] as? Int).map { " until \($0)" } ?? "")
    }
    #expect(events == ["off mqtt until 5", "on expiry", "on mqtt", "off mqtt until 5", "on mqtt",
                       "off console override", "on console override", "cycle mqtt",
                       "cycle console override"], "\(events)")
  }

  @Test func snapshotsFeedTheStateAndAreWantedAfterPowerReturns() async throws {
    let camera = try ProbeTarget()
    let s = try site(camera)
    var wanted: [String] = []
    var states: [String] = []
    try await runAgent(s.config, [
      (1500, { _, w in
        w.wantSnapshot = { wanted.append($0) }
        states.append(w.camera("cam1")?.health.state.rawValue ?? "")
        w.snapshotResult(Snapshots.Report(cameraId: "cam1", fault: .timeout, login: .none))
        w.snapshotResult(Snapshots.Report(cameraId: "cam1", fault: .timeout, login: .none))
        states.append(w.camera("cam1")?.health.state.rawValue ?? "")
        w.snapshotResult(Snapshots.Report(cameraId: "cam1", fault: nil, login: .none))
      }),
      (2500, { _, w in
        states.append(w.camera("cam1")?.health.state.rawValue ?? "")
        s.board.set("cam1_power", 0)
      }),
      (500, { _, _ in s.board.set("cam1_power", 1) }),
      (4000, { _, w in
        states.append(w.camera("cam1")?.health.state.rawValue ?? "")
        var checks: [SelftestCheck] = []
        w.selftest(into: &checks)
        states.append(checks.map { "\($0.name) \($0.ok)" }.joined())
      }),
    ])
    #expect(states == ["healthy", "no_video", "healthy", "healthy", "gpio lines true"], "\(states)")
    #expect(wanted == ["cam1"])
  }
}

final class LockedFlag: @unchecked Sendable {
  private let lock = NSLock()
  private var flag = false
  func set() { lock.lock(); flag = true; lock.unlock() }
  var value: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}

final class LockedText: @unchecked Sendable {
  private let lock = NSLock()
  private var s = ""
  func set(_ t: String) { lock.lock(); s = t; lock.unlock() }
  var text: String { lock.lock(); defer { lock.unlock() }; return s }
}
