import VigilCore
import VigilPlatform

/// The cameras and the cabinet: the board's lines (power-good inputs, relays, door, mains), the
/// probes, each camera's state and power-cycle policy, wired to the heartbeat, the events and
/// the commands `cameras`, `gpio`, `probe` and `relay`.
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

  private let agent: Agent
  private var driver: (any BoardDriver)?
  private var board: BoardFile?
  private var boardError: String?
  private(set) var cameras: [Camera] = []
  /// The input lines and their debounce, in board file order.
  private var inputs: [(name: String, debounce: LineDebounce)] = []
  private var door: CabinetSignal?
  private var mains: CabinetSignal?
  private var probeTimer: EventLoop.Timer?
  private var serviceTimer: EventLoop.Timer?
  private var serviceAtMs: Int64 = 0
  private var started = false

  /// Called with a camera's id when a snapshot would tell most: when the camera answers its
  /// probe again after its power came back, and when a power cycle brought it back. The
  /// snapshot engine hooks in here.
  var wantSnapshot: ((String) -> Void)?

  init(agent: Agent) {
    self.agent = agent
    let now = Clock.monotonicMs()
    for c in agent.config.cameras { cameras.append(makeCamera(c, nowMs: now)) }
    door = agent.config.doorLine.map { _ in CabinetSignal(.door, holdMs: Self.holdMs) }
    mains = agent.config.mainsLine.map { _ in CabinetSignal(.mains, holdMs: Self.holdMs) }
    registerCommands()
  }

  private var config: Config { agent.config }
  private var now: Int64 { Clock.monotonicMs() }

  private func tuning() -> CameraHealth.Tuning {
    CameraHealth.Tuning(
      holdMs: Self.holdMs, linkDownAfter: Self.linkDownAfter, videoDownAfter: Self.videoDownAfter,
      bootMs: Int64(config.powerCycle.bootS) * 1000)
  }

  private func makeCamera(_ c: Config.Camera, nowMs: Int64) -> Camera {
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
    closeBoard()
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
    }
    hb.door = door?.word ?? "unknown"
    hb.mains = mains?.word ?? "unknown"
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
    var line = "cameras   \(cameras.count)"
    for (i, (state, ids)) in counts.enumerated() {
      line += i == 0 ? ": " : ", "
      line += "\(ids.count) \(state)"
      if state != "healthy" { line += " (\(Self.list(ids)))" }
    }
    lines.append(line)
    if let e = boardError {
      lines.append("board     ERROR: \(e)")
    } else if let b = board {
      lines.append("board     \(b.name) (\(b.lines.count) lines)  door \(door?.word ?? "-")"
        + "  mains \(mains?.word ?? "-")")
    } else {
      lines.append("board     none")
    }
  }

  func selftest(into checks: inout [SelftestCheck]) {
    if let e = boardError {
      checks.append(SelftestCheck(name: "gpio lines", ok: false, detail: e))
      return
    }
    guard let b = board, let d = driver else {
      checks.append(SelftestCheck(name: "gpio lines", ok: true, detail: "no board file"))
      return
    }
    var bad: [String] = []
    for l in b.lines {
      do { _ = try d.read(l.name) } catch { bad.append(error.message) }
    }
    checks.append(SelftestCheck(
      name: "gpio lines", ok: bad.isEmpty,
      detail: bad.isEmpty ? "\(b.lines.count) lines of board \(b.name) readable" : Self.list(bad)))
  }

  func configChanged(from old: LoadedConfig) {
    let t = now
    if old.board != agent.loaded.board && started {
      closeBoard()
      if let why = openBoard() { Log.error("board after reload: \(why)") }
    }
    var next: [Camera] = []
    for c in config.cameras {
      if let cam = camera(c.id), cam.config.host == c.host, cam.config.probePort == c.probePort,
        cam.config.powerLine == c.powerLine, cam.config.relayLine == c.relayLine
      {
        cam.config = c
        cam.policy.settings = PowerCyclePolicy.Settings(config.powerCycle)
        cam.health.tuning = tuning()
        next.append(cam)
      } else {
        let cam = makeCamera(c, nowMs: t)
        if let p = c.powerLine, let level = stable(p) {
          handle(cam, cam.health.powerLine(level, nowMs: t))
        }
        next.append(cam)
      }
    }
    for cam in cameras where !next.contains(where: { $0 === cam }) {
      cam.probe?.cancel()
      // The relay always ends on, even for a camera that leaves the config mid-cycle.
      if !cam.relayOn, let line = cam.config.relayLine { try? driver?.write(line, true) }
    }
    cameras = next
    if old.config.doorLine != config.doorLine {
      door = config.doorLine.map { _ in CabinetSignal(.door, holdMs: Self.holdMs) }
      if let l = config.doorLine, let level = stable(l) { _ = door?.level(level, nowMs: t) }
    }
    if old.config.mainsLine != config.mainsLine {
      mains = config.mainsLine.map { _ in CabinetSignal(.mains, holdMs: Self.holdMs) }
      if let l = config.mainsLine, let level = stable(l) { _ = mains?.level(level, nowMs: t) }
    }
    if old.config.probeS != config.probeS && started { scheduleProbes() }
    service()
  }

  // MARK: the board

  /// Opens the board file's lines; returns why not.
  private func openBoard() -> String? {
    board = agent.loaded.board
    boardError = nil
    inputs = []
    guard let b = board else { return nil }
    let d = Board.driver(for: b, loop: agent.loop)
    do { try d.open() } catch {
      boardError = "board \(b.name): \(error.message)"
      return boardError
    }
    driver = d
    d.onInput = { [self] name in
      self.sample(name, nowMs: self.now)
      self.service()
    }
    let t = now
    for l in b.lines where l.direction == .input {
      inputs.append((l.name, LineDebounce(debounceMs: l.debounceMs)))
      sample(l.name, nowMs: t)
    }
    // The driver drives every relay on as it requests the line.
    for cam in cameras where cam.config.relayLine != nil {
      cam.relayOn = true
      if !cam.health.relayOn {
        cam.policy.relaySetByHand()
        handle(cam, cam.health.relay(on: true, nowMs: t))
      }
    }
    Log.info("board \(b.name): \(b.lines.count) lines open (\(b.driver == .sim ? "sim" : "gpiod"))")
    service()
    return nil
  }

  private func closeBoard() {
    driver?.onInput = nil
    driver?.close()
    driver = nil
  }

  /// An input's debounced level, if known.
  private func stable(_ name: String) -> Bool? {
    inputs.first(where: { $0.name == name })?.debounce.stable
  }

  /// Reads an input line and feeds its debounce.
  private func sample(_ name: String, nowMs: Int64) {
    guard let d = driver, let i = inputs.firstIndex(where: { $0.name == name }) else { return }
    let level: Bool
    do { level = try d.read(name) } catch {
      // A sim file being rewritten is empty for a moment; the next event reads it again.
      Log.debug(error.message)
      return
    }
    if let stable = inputs[i].debounce.sample(level, nowMs: nowMs) { deliver(name, stable, nowMs) }
  }

  /// A line's debounced level changed.
  private func deliver(_ name: String, _ level: Bool, _ nowMs: Int64) {
    Log.debug("line \(name) is \(level ? 1 : 0)")
    for cam in cameras where cam.config.powerLine == name {
      handle(cam, cam.health.powerLine(level, nowMs: nowMs))
    }
    if config.doorLine == name, let e = door?.level(level, nowMs: nowMs) { emit(e, name) }
    if config.mainsLine == name, let e = mains?.level(level, nowMs: nowMs) { emit(e, name) }
  }

  private func emit(_ e: CabinetSignal.Event, _ line: String) {
    var fields: [EventField] = [.f("line", line)]
    if e.previousMs > 0 {
      let key: String
      switch e.kind {
      case "door_closed": key = "open_s"
      case "door_opened": key = "closed_s"
      case "mains_restored": key = "lost_s"
      default: key = "ok_s"
      }
      fields.append(.f(key, Int(e.previousMs / 1000)))
    }
    emit(e.kind, fields)
  }

  /// One field of an event. The events go through one `emit` with a list of fields rather than
  /// a closure each: every closure would be a specialised copy of the writer in the Embedded
  /// binary (2 KB each).
  enum EventField {
    case text(String, String)
    case number(String, Int)
    case flag(String, Bool)

    static func f(_ k: String, _ v: String) -> EventField { .text(k, v) }
    static func f(_ k: String, _ v: Int) -> EventField { .number(k, v) }
    static func f(_ k: String, _ v: Bool) -> EventField { .flag(k, v) }
  }

  private func emit(_ kind: String, _ fields: [EventField]) {
    agent.events.emit(kind) { w in
      for f in fields {
        switch f {
        case .text(let k, let v): w.field(k, v)
        case .number(let k, let v): w.field(k, v)
        case .flag(let k, let v): w.field(k, v)
        }
      }
    }
  }

  // MARK: timers

  /// Runs whatever is due (debounces settling, returns held, relay and boot times), then sets
  /// the one timer for the next deadline.
  private func service() {
    guard started else { return }
    let t = now
    for input in inputs {
      if let due = input.debounce.deadlineMs, due <= t { sample(input.name, nowMs: t) }
    }
    for cam in cameras {
      handle(cam, cam.health.tick(nowMs: t))
      perform(cam, cam.policy.tick(nowMs: t), nowMs: t)
    }
    if let e = door?.tick(nowMs: t), let l = config.doorLine { emit(e, l) }
    if let e = mains?.tick(nowMs: t), let l = config.mainsLine { emit(e, l) }

    var next: Int64? = nil
    func consider(_ d: Int64?) {
      if let d = d, next == nil || d < next! { next = d }
    }
    for input in inputs { consider(input.debounce.deadlineMs) }
    for cam in cameras {
      consider(cam.health.deadlineMs)
      consider(cam.policy.deadlineMs)
    }
    consider(door?.deadlineMs)
    consider(mains?.deadlineMs)
    guard let due = next else {
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

  private func scheduleProbes() {
    agent.loop.cancel(probeTimer)
    probeTimer = agent.loop.every(ms: Int64(config.probeS) * 1000) { [self] in self.probeRound() }
  }

  /// Probes every camera not already being probed, and reads the inputs again (a missed edge
  /// is caught within one round).
  private func probeRound() {
    let t = now
    for input in inputs { sample(input.name, nowMs: t) }
    for cam in cameras { startProbe(cam) }
    service()
  }

  /// A probe's timeout: long enough for a loaded LAN, short of the next round.
  private var probeTimeoutMs: Int64 { max(200, min(3000, Int64(config.probeS) * 750)) }

  private func startProbe(_ cam: Camera) {
    guard cam.probe == nil else { return }
    cam.probe = Probe(
      loop: agent.loop, host: cam.config.host, port: cam.config.probePort,
      timeoutMs: probeTimeoutMs
    ) { [self] result in self.probed(cam, result) }
  }

  private func probed(_ cam: Camera, _ result: Probe.Result) {
    cam.probe = nil
    guard cameras.contains(where: { $0 === cam }) else { return }
    let t = now
    cam.lastProbe = result
    cam.lastProbeAtMs = t
    if cam.probeAsked {
      cam.probeAsked = false
      Log.info("probe \(cam.config.id): \(result.ok ? result.detail : "no answer: " + result.detail)")
    } else {
      Log.debug("probe \(cam.config.id): \(result.detail)")
    }
    handle(cam, cam.health.probe(ok: result.ok, nowMs: t))
    if result.ok && cam.snapshotDue {
      cam.snapshotDue = false
      wantSnapshot?(cam.config.id)
    }
    perform(cam, cam.policy.probed(answered: result.ok, state: cam.health.state, nowMs: t),
            nowMs: t)
    service()
  }

  // MARK: camera events and the policy's actions

  private func handle(_ cam: Camera, _ events: [CameraHealth.Event]) {
    let c = cam.config
    for e in events {
      switch e {
      case .powerLost:
        emit("camera_power_lost", [
          .f("camera", c.id),
          .f("line", c.powerLine ?? ""),
          .f("owner", c.owner.rawValue),
        ])
      case .powerRestored(let offMs):
        cam.snapshotDue = true
        emit("camera_power_restored", [
          .f("camera", c.id),
          .f("line", c.powerLine ?? ""),
          .f("off_s", Int(offMs / 1000)),
        ])
      case .unreachable(let failures):
        let detail = cam.lastProbe?.detail ?? ""
        emit("camera_unreachable", [
          .f("camera", c.id),
          .f("host", c.host),
          .f("port", c.probePort),
          .f("failures", failures),
          .f("error", detail),
        ])
      case .reachable(let downMs):
        emit("camera_reachable", [
          .f("camera", c.id),
          .f("host", c.host),
          .f("port", c.probePort),
          .f("down_s", Int(downMs / 1000)),
        ])
      case .stateChanged(let from, let to):
        Log.info("camera \(c.id): \(from.rawValue) -> \(to.rawValue)")
      }
    }
  }

  private func perform(_ cam: Camera, _ actions: [PowerCyclePolicy.Action], nowMs: Int64) {
    let c = cam.config
    for a in actions {
      switch a {
      case .relayOff:
        if cam.cycleOrigin == "policy" { cam.cycleReason = cam.health.state.rawValue }
        Log.notice("camera \(c.id): power cycle (\(cam.cycleOrigin), \(cam.cycleReason)): relay off "
          + "for \(config.powerCycle.offS) s")
        setRelay(cam, false, nowMs: nowMs)
      case .relayOn:
        setRelay(cam, true, nowMs: nowMs)
      case .cycled(let recovered, _):
        let origin = cam.cycleOrigin
        let reason = cam.cycleReason
        let offS = config.powerCycle.offS
        let total = cam.policy.cycles
        let hour = cam.policy.cyclesInLastHour(nowMs: nowMs)
        emit("camera_power_cycled", [
          .f("camera", c.id),
          .f("relay", c.relayLine ?? ""),
          .f("recovered", recovered),
          .f("origin", origin),
          .f("reason", reason),
          .f("off_s", offS),
          .f("cycles", total),
          .f("cycles_last_hour", hour),
        ])
        cam.cycleOrigin = "policy"
        if recovered {
          cam.snapshotDue = false
          wantSnapshot?(c.id)
        }
      case .gaveUp(let unhelpful):
        let state = cam.health.state.rawValue
        Log.warning("camera \(c.id): \(unhelpful) power cycles did not help; cycling stops")
        emit("camera_cycle_gave_up", [
          .f("camera", c.id),
          .f("relay", c.relayLine ?? ""),
          .f("unhelpful_cycles", unhelpful),
          .f("state", state),
        ])
      }
    }
  }

  /// Drives a camera's relay and tells its state machine.
  private func setRelay(_ cam: Camera, _ on: Bool, nowMs: Int64) {
    guard let line = cam.config.relayLine else { return }
    if let d = driver {
      do { try d.write(line, on) } catch { Log.error("relay \(cam.config.id): \(error.message)") }
    }
    cam.relayOn = on
    handle(cam, cam.health.relay(on: on, nowMs: nowMs))
  }

  // MARK: snapshots

  /// The snapshot engine reports each snapshot: a camera that answers its probe but gives no
  /// image becomes `no_video` (after `videoDownAfter` failures in a row).
  func snapshotResult(cameraId: String, ok: Bool) {
    guard let cam = camera(cameraId) else { return }
    handle(cam, cam.health.snapshot(ok: ok, nowMs: now))
    service()
  }

  // MARK: commands

  func camera(_ id: String) -> Camera? { cameras.first { $0.config.id == id } }

  static func list(_ items: [String]) -> String {
    var s = ""
    for i in items { s += s.isEmpty ? i : ", " + i }
    return s
  }

  private func unknownCamera(_ id: String) -> CommandResult {
    .fail("no camera \"\(id)\" (cameras: \(cameras.isEmpty ? "none" : Self.list(cameras.map { $0.config.id })))")
  }

  private func registerCommands() {
    let commands = agent.commands
    commands.register("cameras", usage: "cameras", summary: "each camera: state, power, link, relay") {
      [self] _, _ in .ok(self.camerasText())
    }
    commands.register("gpio", usage: "gpio [NAME [0|1]]", summary: "read the board's lines, set an output") {
      [self] args, origin in self.gpioCommand(args, origin)
    }
    commands.register("probe", usage: "probe CAM", summary: "probe a camera now, show the last result") {
      [self] args, _ in self.probeCommand(args)
    }
    commands.register("relay", usage: "relay CAM on|off|cycle", summary: "switch or power-cycle a camera") {
      [self] args, origin in self.relayCommand(args, origin)
    }
  }

  static func pad(_ s: String, _ n: Int) -> String {
    var out = s
    while out.utf8.count < n { out += " " }
    return out
  }

  func camerasText() -> String {
    if cameras.isEmpty { return "no cameras configured\n" }
    let t = now
    var out = ""
    for cam in cameras {
      let h = cam.health
      out += Self.pad(cam.config.id, 10) + Self.pad(h.state.rawValue, 9)
      out += " power " + Self.pad(h.powerWord, 7) + " link " + Self.pad(h.linkWord, 7)
      out += " relay " + (cam.config.relayLine == nil ? "-  " : cam.relayOn ? "on " : "off")
      out += "  \((t - h.sinceMs) / 1000) s  cycles \(cam.policy.cycles)\n"
      var more = "  \(cam.config.host):\(cam.config.probePort)"
      if let r = cam.lastProbe, let at = cam.lastProbeAtMs {
        more += " \(r.ok ? "answered" : "no answer: \(r.detail)"), \((t - at) / 1000) s ago"
      } else {
        more += " not probed yet"
      }
      out += more + "\n"
      switch cam.policy.phase {
      case .relayOff(let until, _):
        out += "  power cycle: relay off, on again in \(max(0, until - t) / 1000) s\n"
      case .booting(let until, _):
        out += "  power cycle: booting, \(max(0, until - t) / 1000) s left to answer\n"
      case .gaveUp:
        out += "  power cycling gave up after \(cam.policy.unhelpful) cycles that did not help\n"
      case .watching:
        if cam.policy.failures > 0 {
          out += "  \(cam.policy.failures) of \(config.powerCycle.afterFailures) failed probes "
            + "before a power cycle\n"
        }
      }
    }
    return out
  }

  private func gpioCommand(_ args: [String], _ origin: CommandOrigin) -> CommandResult {
    guard let b = board, let d = driver else {
      return .fail(boardError ?? "no board file: this box has no GPIO lines")
    }
    func level(_ name: String) -> String {
      do { return try d.read(name) ? "1" : "0" } catch { return "? (\(error.message))" }
    }
    if args.isEmpty {
      var out = ""
      for l in b.lines {
        var row = Self.pad(l.name, 14) + Self.pad(l.direction == .input ? "input" : "output", 7)
        row += " " + level(l.name)
        if b.driver == .gpiod { row += "  \(l.chip):\(l.offset)" }
        if l.activeLow { row += "  active_low" }
        if l.debounceMs > 0 { row += "  debounce \(l.debounceMs) ms" }
        out += row + "\n"
      }
      return .ok(out)
    }
    let name = args[0]
    guard let line = b.line(named: name) else {
      return .fail("no line \"\(name)\" on board \(b.name) (try \"gpio\")")
    }
    if args.count == 1 { return .ok("\(name) \(level(name))\n") }
    guard args.count == 2, args[1] == "0" || args[1] == "1" else {
      return .fail("usage: gpio [NAME [0|1]]")
    }
    guard line.direction == .output else {
      return .fail("\(name) is an input: only outputs can be set")
    }
    let on = args[1] == "1"
    // A camera's relay goes through the camera, so its state and policy know.
    if let cam = cameras.first(where: { $0.config.relayLine == name }) {
      return switchRelay(cam, on, origin)
    }
    do { try d.write(name, on) } catch { return .fail(error.message) }
    emit("gpio_set", [
      .f("line", name),
      .f("value", on ? 1 : 0),
      .f("origin", origin.label),
    ])
    return .ok("\(name) set to \(on ? 1 : 0)\n")
  }

  private func probeCommand(_ args: [String]) -> CommandResult {
    guard args.count == 1 else { return .fail("usage: probe CAM") }
    guard let cam = camera(args[0]) else { return unknownCamera(args[0]) }
    let t = now
    var out = "\(cam.config.id) \(cam.config.host):\(cam.config.probePort): "
    if let r = cam.lastProbe, let at = cam.lastProbeAtMs {
      out += "last probe \((t - at) / 1000) s ago: \(r.ok ? r.detail : "no answer: \(r.detail)")"
    } else {
      out += "not probed yet"
    }
    out += "; state \(cam.health.state.rawValue)\n"
    cam.probeAsked = true
    if cam.probe != nil {
      out += "a probe is under way; see \"cameras\" in a moment\n"
    } else {
      startProbe(cam)
      out += "probing again now; see \"cameras\" in a moment\n"
    }
    return .ok(out)
  }

  private func relayCommand(_ args: [String], _ origin: CommandOrigin) -> CommandResult {
    guard args.count == 2, ["on", "off", "cycle"].contains(args[1]) else {
      return .fail("usage: relay CAM on|off|cycle")
    }
    guard let cam = camera(args[0]) else { return unknownCamera(args[0]) }
    guard cam.config.relayLine != nil else {
      return .fail("\(cam.config.id) has no relay line: it is only watched")
    }
    guard driver != nil else { return .fail(boardError ?? "the board is not open") }
    if args[1] != "cycle" { return switchRelay(cam, args[1] == "on", origin) }
    let t = now
    guard let actions = cam.policy.cycleByHand(nowMs: t) else {
      return .fail("\(cam.config.id): a power cycle is already under way")
    }
    cam.cycleOrigin = origin.label
    cam.cycleReason = "by hand"
    emitRelayCommand(cam, "cycle", origin)
    perform(cam, actions, nowMs: t)
    service()
    let p = config.powerCycle
    return .ok("\(cam.config.id): relay off for \(p.offS) s, then on; the camera has \(p.bootS) s "
      + "to answer (event camera_power_cycled)\n")
  }

  private func switchRelay(_ cam: Camera, _ on: Bool, _ origin: CommandOrigin) -> CommandResult {
    let t = now
    cam.policy.relaySetByHand()
    cam.cycleOrigin = "policy"
    setRelay(cam, on, nowMs: t)
    emitRelayCommand(cam, on ? "on" : "off", origin)
    service()
    return .ok(on ? "\(cam.config.id): relay on\n"
               : "\(cam.config.id): relay off; the camera stays unpowered until \"relay "
                 + "\(cam.config.id) on\"\n")
  }

  private func emitRelayCommand(_ cam: Camera, _ action: String, _ origin: CommandOrigin) {
    let c = cam.config
    emit("relay_command", [
      .f("camera", c.id),
      .f("relay", c.relayLine ?? ""),
      .f("action", action),
      .f("origin", origin.label),
    ])
  }
}
