import VigilCore
import VigilPlatform

/// The cameras and the cabinet: the board's lines (power-good inputs, relays, door, mains), the
/// probes, each camera's state and power-cycle policy, wired to the heartbeat, the events and
/// the commands `cameras`, `gpio`, `probe` and `relay`. The lines are `CabinetLines`; the
/// probes, actions, commands and reload are in the files named for them.
final class CameraWatch: AgentPart {
  /// One configured camera and everything known about it.
  final class Camera {
    var config: Config.Camera
    var health: CameraHealth
    var policy: PowerCyclePolicy
    var probe: Probe?
    var lastProbe: Probe.Result?
    var lastProbeAtMs: Int64?
    /// The level the relay is driven at (true for a camera with no relay).
    var relayOn = true
    /// Who started the cycle under way: `policy`, `console` or `mqtt`.
    var cycleOrigin = "policy"
    var cycleReason = ""
    /// A snapshot is wanted as soon as the camera answers: its power came back, or it was cycled.
    var snapshotDue = false
    /// A technician asked for this probe (`probe CAM`): its result goes to the log.
    var probeAsked = false
    /// What the last snapshot showed (nil: a picture, or none taken yet).
    var snapshotFault: CameraFault?
    /// What the last stream check showed (`StreamChecks`); nil: it flows, or none was made.
    var streamFault: CameraFault?
    /// The stream fault came from an OPTIONS (the service did not answer), which an answered
    /// OPTIONS clears; one from a full check only the next full check clears.
    var streamFaultFromOptions = false
    /// Failed logins risked, across snapshots and RTSP: the camera's own lockout is about five
    /// in 30 minutes.
    var logins = LoginBudget()
    /// The camera's clock against the gateway's, from the `Date:` of its answers.
    var clock = CameraClock()
    /// When the centre last switched the relay (`relay CAM on|off` on `R/cmd`), for its rate.
    var remoteSwitchesMs: [Int64] = []
    /// A camera switched off from MQTT is switched on again at this time unless renewed.
    var remoteOffUntilMs: Int64?

    /// The heartbeat's `fault`: nil while healthy.
    var fault: CameraFault? {
      CameraFault.classify(state: health.state, snapshot: snapshotFault, stream: streamFault)
    }

    init(_ config: Config.Camera, health: CameraHealth, policy: PowerCyclePolicy) {
      self.config = config
      self.health = health
      self.policy = policy
    }
  }

  /// How long a return (power, link, video, door closed, mains back) must hold before it is
  /// reported: losses are reported at once, returns once they have held, so a loose contact
  /// gives one alarm rather than a storm.
  static let holdMs: Int64 = 2000
  /// A camera's failed probes in a row before it is reported unreachable.
  static let linkDownAfter = 2
  static let videoDownAfter = 2

  let agent: Agent
  /// Where the camera, relay and gpio events go.
  let events: EventLog
  /// The cabinet's lines: the board's driver, the inputs' debounce, the door and the mains.
  let cabinet: CabinetLines
  var cameras: [Camera] = []
  var probeTimer: EventLoop.Timer?
  private var serviceTimer: EventLoop.Timer?
  private var serviceAtMs: Int64 = 0
  private(set) var started = false

  /// Called with a camera's id when a snapshot would tell most: when the camera answers its
  /// probe again after its power came back, and when a power cycle brought it back. The
  /// snapshot engine hooks in here.
  var wantSnapshot: ((String) -> Void)?
  /// Called with a camera's id each time it answers its probe, and whether a full stream check
  /// is wanted at once (back from a power cut or a cycle). The stream checks hook in here.
  var probeAnswered: ((String, Bool) -> Void)?
  /// The last stream checks of a camera, in words, for `cameras` and `probe CAM`.
  var streamSummary: ((String) -> String?)?

  init(agent: Agent) {
    self.agent = agent
    events = agent.events
    cabinet = CabinetLines(loop: agent.loop, events: agent.events, holdMs: Self.holdMs) {
      [agent] kind in kind == .door ? agent.config.doorLine : agent.config.mainsLine
    }
    let now = Clock.monotonicMs()
    for c in agent.config.cameras { cameras.append(makeCamera(c, nowMs: now)) }
    // A power-good input is its cameras'; the door and the mains are the lines' own.
    cabinet.onLevel = { [self] name, level, t in
      for cam in self.cameras where cam.config.powerLine == name {
        self.handle(cam, cam.health.powerLine(level, nowMs: t))
      }
    }
    cabinet.onEdge = { [self] in self.service() }
    registerCommands()
  }

  var config: Config { agent.config }
  var now: Int64 { Clock.monotonicMs() }

  func tuning() -> CameraHealth.Tuning {
    CameraHealth.Tuning(
      holdMs: Self.holdMs, linkDownAfter: Self.linkDownAfter, videoDownAfter: Self.videoDownAfter,
      bootMs: Int64(config.powerCycle.bootS) * 1000)
  }

  func makeCamera(_ c: Config.Camera, nowMs: Int64) -> Camera {
    Camera(
      c, health: CameraHealth(tuning: tuning(), hasPowerLine: c.powerLine != nil, nowMs: nowMs),
      policy: PowerCyclePolicy(settings: PowerCyclePolicy.Settings(config.powerCycle),
                               hasRelay: c.relayLine != nil))
  }

  // MARK: AgentPart

  func start() {
    started = true
    if let why = openBoard() {
      agent.startFailure = why
      return
    }
    // A gateway often starts with its cabinet, after a power cut: its cameras boot too, and get
    // their boot time before a silent one counts as unreachable (or is power-cycled).
    let t = now
    for cam in cameras { cam.health.mayBeBooting(nowMs: t) }
    scheduleProbes()
    agent.loop.after(ms: 0) { [self] in self.probeRound() }
  }

  func stop() {
    started = false
    agent.loop.cancel(probeTimer)
    agent.loop.cancel(serviceTimer)
    probeTimer = nil
    serviceTimer = nil
    for cam in cameras {
      cam.probe?.cancel()
      cam.probe = nil
    }
    cabinet.close()
  }

  func fill(_ hb: inout Heartbeat) {
    let t = now
    for i in hb.cameras.indices {
      guard let cam = camera(hb.cameras[i].id) else { continue }
      hb.cameras[i].state = cam.health.state.rawValue
      hb.cameras[i].power = cam.health.powerWord
      hb.cameras[i].link = cam.health.linkWord
      hb.cameras[i].relay = cam.relayOn ? "on" : "off"
      hb.cameras[i].sinceS = Int((t - cam.health.sinceMs) / 1000)
      hb.cameras[i].cycles = cam.policy.cycles
      hb.cameras[i].fault = cam.fault?.rawValue
      hb.cameras[i].clockSkewS = cam.clock.skewS
    }
    hb.door = cabinet.door?.word ?? "unknown"
    hb.mains = cabinet.mains?.word ?? "unknown"
  }

  func status(into lines: inout [String]) {
    var counts: [(String, [String])] = []
    for cam in cameras {
      let s = cam.health.state.rawValue
      if let i = counts.firstIndex(where: { $0.0 == s }) {
        counts[i].1.append(cam.config.id)
      } else {
        counts.append((s, [cam.config.id]))
      }
    }
    var line = "cameras   " + String(cameras.count)
    for (i, (state, ids)) in counts.enumerated() {
      line += i == 0 ? ": " : ", "
      line += String(ids.count) + " " + state
      if state != "healthy" { line += " (" + Self.list(ids) + ")" }
    }
    lines.append(line)
    if let e = cabinet.boardError {
      lines.append("board     ERROR: " + e)
    } else if let b = cabinet.board {
      lines.append("board     " + b.name + " (" + String(b.lines.count) + " lines)  door "
        + (cabinet.door?.word ?? "-")
        + "  mains " + (cabinet.mains?.word ?? "-"))
    } else {
      lines.append("board     none")
    }
  }

  func selftest(into checks: inout [SelftestCheck]) {
    if let e = cabinet.boardError {
      checks.append(SelftestCheck(name: "gpio lines", ok: false, detail: e))
      return
    }
    guard let b = cabinet.board, let d = cabinet.driver else {
      checks.append(SelftestCheck(name: "gpio lines", ok: true, detail: "no board file"))
      return
    }
    var bad: [String] = []
    for l in b.lines {
      do { _ = try d.read(l.name) } catch { bad.append(error.message) }
    }
    checks.append(SelftestCheck(
      name: "gpio lines", ok: bad.isEmpty,
      detail: bad.isEmpty
        ? String(b.lines.count) + " lines of board " + b.name + " readable" : Self.list(bad)))
  }

  // MARK: the board

  /// Opens the board file's lines; returns why not.
  func openBoard() -> String? {
    if let why = cabinet.open(agent.loaded.board) { return why }
    guard let b = cabinet.board else { return nil }
    let t = now
    // The driver drives every relay on as it requests the line.
    for cam in cameras where cam.config.relayLine != nil {
      cam.relayOn = true
      if !cam.health.relayOn {
        cam.policy.relaySetByHand()
        handle(cam, cam.health.relay(on: true, nowMs: t))
      }
    }
    Log.info("board " + b.name + ": " + String(b.lines.count) + " lines open ("
      + (b.driver == .sim ? "sim" : "gpiod") + ")")
    service()
    return nil
  }

  // MARK: timers

  /// Runs whatever is due (debounces settling, returns held, relay and boot times), then sets
  /// the one timer for the next deadline.
  func service() {
    guard started else { return }
    let t = now
    cabinet.settle(nowMs: t)
    for cam in cameras {
      handle(cam, cam.health.tick(nowMs: t))
      perform(cam, cam.policy.tick(nowMs: t), nowMs: t)
      remoteOffExpired(cam, nowMs: t)
    }
    cabinet.tick(nowMs: t)

    var next = EarliestDeadline()
    next.consider(cabinet.deadlineMs)
    for cam in cameras {
      next.consider(cam.health.deadlineMs)
      next.consider(cam.policy.deadlineMs)
      next.consider(cam.remoteOffUntilMs)
    }
    guard let due = next.ms else {
      agent.loop.cancel(serviceTimer)
      serviceTimer = nil
      return
    }
    if let timer = serviceTimer, timer.isActive, serviceAtMs == due { return }
    agent.loop.cancel(serviceTimer)
    serviceAtMs = due
    serviceTimer = agent.loop.after(ms: max(0, due - t)) { [self] in
      self.serviceTimer = nil
      self.service()
    }
  }

  // MARK: snapshots

  /// The snapshot engine reports each turn: a camera that answers its probe but gives no image
  /// becomes `no_video` (after `videoDownAfter` failures in a row), and the turn's fault, login
  /// and `Date:` go to the camera's fault, login budget and clock.
  func snapshotResult(_ r: Snapshots.Report) {
    guard let cam = camera(r.cameraId) else { return }
    let t = now
    switch r.login {
    case .none: break
    case .accepted: cam.logins.succeeded()
    case .abandoned: cam.logins.abandoned()
    case .refused: loginRefused(cam, source: "snapshot", nowMs: t)
    }
    cam.snapshotFault = r.fault
    clockSeen(cam, r.dateS, sentMs: r.sentMs, receivedMs: r.receivedMs)
    handle(cam, cam.health.snapshot(ok: r.fault == nil, nowMs: t))
    service()
  }

  /// A stream check's result (`StreamChecks`): a full check's verdict goes to the camera's
  /// video state and fault; an OPTIONS that got no answer takes the stream down, and one that
  /// did clears only what an OPTIONS found.
  func streamResult(_ id: String, _ r: RTSPCheck.Result) {
    guard let cam = camera(id) else { return }
    let t = now
    if let refused = r.loginRefused {
      if refused { loginRefused(cam, source: "rtsp", nowMs: t) } else { cam.logins.succeeded() }
    } else if r.full && cam.config.username != nil {
      cam.logins.abandoned()
    }
    clockSeen(cam, r.dateS, sentMs: r.sentMs, receivedMs: r.receivedMs)
    if r.full || r.fault != nil || cam.streamFaultFromOptions {
      cam.streamFault = r.fault
      cam.streamFaultFromOptions = !r.full && r.fault != nil
      handle(cam, cam.health.stream(ok: r.fault == nil, nowMs: t))
    }
    service()
  }

  /// A login the camera refused: counted, and told once (`camera_auth_failed`) when it uses
  /// up what the budget risks.
  private func loginRefused(_ cam: Camera, source: String, nowMs t: Int64) {
    guard cam.logins.refused(nowMs: t) else { return }
    let retryS = Int(clamping: ((cam.logins.nextTryMs ?? t) - t) / 1000)
    Log.warning("camera " + cam.config.id + ": login refused; next login in " + String(retryS)
      + " s, or at once when its credentials change")
    events.emit("camera_auth_failed", [
      .f("camera", cam.config.id),
      .f("username", cam.config.username ?? ""),
      .f("source", source),
      .f("retry_s", retryS),
    ])
  }

  /// The `Date:` of a camera's answer, against the gateway's clock.
  private func clockSeen(_ cam: Camera, _ dateS: Int64?, sentMs: Int64, receivedMs: Int64) {
    guard let d = dateS else { return }
    switch cam.clock.measured(cameraS: d, sentMs: sentMs, receivedMs: receivedMs,
                              synced: Clock.isSynced()) {
    case .skewed(let s)?:
      events.emit("camera_clock_skew", [.f("camera", cam.config.id), .f("skew_s", Int(clamping: s))])
    case .corrected?:
      Log.notice("camera " + cam.config.id + ": clock back within 30 s of the gateway's")
    case nil: break
    }
  }

  /// Whether a login may be sent to the camera now (its budget).
  func mayLogIn(_ id: String) -> Bool { camera(id)?.logins.mayTry(nowMs: now) ?? true }

  // MARK: small helpers

  func camera(_ id: String) -> Camera? { cameras.first { $0.config.id == id } }

  static func list(_ items: [String]) -> String {
    var s = ""
    for i in items { s += s.isEmpty ? i : ", " + i }
    return s
  }
}
