import VigilCore
import VigilPlatform

/// The camera commands of the console and `R/cmd`: `cameras`, `gpio`, `probe` and `relay`.
extension CameraWatch {
  private func unknownCamera(_ id: String) -> CommandResult {
    .fail("no camera \"" + id + "\" (cameras: "
      + (cameras.isEmpty ? "none" : Self.list(cameras.map { $0.config.id })) + ")")
  }

  func registerCommands() {
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

  private static func pad(_ s: String, _ n: Int) -> String {
    var out = s
    while out.utf8.count < n { out += " " }
    return out
  }

  /// The camera's fault and clock skew, when known, for `cameras` and `probe`.
  private static func evidence(_ cam: Camera) -> String {
    var s = ""
    if let f = cam.fault { s += "  fault " + f.rawValue }
    if let k = cam.clock.skewS { s += "  clock skew " + String(k) + " s" }
    return s
  }

  /// The camera's last stream checks, on a line of their own; empty without an `rtsp_url`.
  private func streamLine(_ cam: Camera) -> String {
    guard let s = streamSummary?(cam.config.id) else { return "" }
    return "  " + s + "\n"
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
      out += "  " + String((t - h.sinceMs) / 1000) + " s  cycles " + String(cam.policy.cycles)
        + Self.evidence(cam) + "\n"
      var more = "  " + cam.config.host + ":" + String(cam.config.probePort)
      if let r = cam.lastProbe, let at = cam.lastProbeAtMs {
        more += " " + (r.ok ? "answered" : "no answer: " + r.detail) + ", "
          + String((t - at) / 1000) + " s ago"
      } else {
        more += " not probed yet"
      }
      out += more + "\n" + streamLine(cam)
      switch cam.policy.phase {
      case .relayOff(let until, _):
        out += "  power cycle: relay off, on again in " + String(max(0, until - t) / 1000) + " s\n"
      case .booting(let until, _):
        out += "  power cycle: booting, " + String(max(0, until - t) / 1000) + " s left to answer\n"
      case .gaveUp:
        out += "  power cycling gave up after " + String(cam.policy.unhelpful)
          + " cycles that did not help\n"
      case .watching:
        if cam.policy.failures > 0 {
          out += "  " + String(cam.policy.failures) + " of "
            + String(config.powerCycle.afterFailures) + " failed probes "
            + "before a power cycle\n"
        }
      }
    }
    return out
  }

  private func gpioCommand(_ args: [String], _ origin: CommandOrigin) -> CommandResult {
    guard let b = cabinet.board, let d = cabinet.driver else {
      return .fail(cabinet.boardError ?? "no board file: this box has no GPIO lines")
    }
    func level(_ name: String) -> String {
      do { return try d.read(name) ? "1" : "0" } catch { return "? (" + error.message + ")" }
    }
    if args.isEmpty {
      var out = ""
      for l in b.lines {
        var row = Self.pad(l.name, 14) + Self.pad(l.direction == .input ? "input" : "output", 7)
        row += " " + level(l.name)
        if b.driver == .gpiod { row += "  " + l.chip + ":" + String(l.offset) }
        if l.activeLow { row += "  active_low" }
        if l.debounceMs > 0 { row += "  debounce " + String(l.debounceMs) + " ms" }
        out += row + "\n"
      }
      return .ok(out)
    }
    let name = args[0]
    guard let line = b.line(named: name) else {
      return .fail("no line \"" + name + "\" on board " + b.name + " (try \"gpio\")")
    }
    if args.count == 1 { return .ok(name + " " + level(name) + "\n") }
    guard args.count == 2, args[1] == "0" || args[1] == "1" else {
      return .fail("usage: gpio [NAME [0|1]]")
    }
    guard line.direction == .output else {
      return .fail(name + " is an input: only outputs can be set")
    }
    // Any output, a relay among them, from the serial console only: someone at the box.
    guard origin == .console else {
      return .fail("gpio outputs are set only at the serial console; from the centre use "
        + "\"relay CAM on|off|cycle\", which is held to limits")
    }
    let on = args[1] == "1"
    // A camera's relay goes through the camera, so its state and policy know.
    if let cam = cameras.first(where: { $0.config.relayLine == name }) {
      return switchRelay(cam, on, origin)
    }
    do { try d.write(name, on) } catch { return .fail(error.message) }
    events.emit("gpio_set", [
      .f("line", name),
      .f("value", on ? 1 : 0),
      .f("origin", origin.label),
    ])
    return .ok(name + " set to " + String(on ? 1 : 0) + "\n")
  }

  private func probeCommand(_ args: [String]) -> CommandResult {
    guard args.count == 1 else { return .fail("usage: probe CAM") }
    guard let cam = camera(args[0]) else { return unknownCamera(args[0]) }
    let t = now
    var out = cam.config.id + " " + cam.config.host + ":" + String(cam.config.probePort) + ": "
    if let r = cam.lastProbe, let at = cam.lastProbeAtMs {
      out += "last probe " + String((t - at) / 1000) + " s ago: "
        + (r.ok ? r.detail : "no answer: " + r.detail)
    } else {
      out += "not probed yet"
    }
    out += "; state " + cam.health.state.rawValue + Self.evidence(cam) + "\n" + streamLine(cam)
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
      return .fail(cam.config.id + " has no relay line: it is only watched")
    }
    guard cabinet.driver != nil else { return .fail(cabinet.boardError ?? "the board is not open") }
    if args[1] != "cycle" { return switchRelay(cam, args[1] == "on", origin) }
    let t = now
    // From the centre a cycle is held to max_per_hour with the policy's own; at the console a
    // technician may go past it, and the event says so.
    let cycles = cam.policy.cyclesInLastHour(nowMs: t)
    let over = cycles >= config.powerCycle.maxPerHour
    if over && origin != .console {
      return .fail(cam.config.id + ": not cycled: " + String(cycles)
        + " power cycles in the last hour, max_per_hour is " + String(config.powerCycle.maxPerHour)
        + " (a technician at the console may cycle it)")
    }
    guard let actions = cam.policy.cycleByHand(nowMs: t) else {
      return .fail(cam.config.id + ": a power cycle is already under way")
    }
    if origin != .console { cam.policy.countCycle(nowMs: t) }
    cam.remoteOffUntilMs = nil
    cam.cycleOrigin = origin.label
    cam.cycleReason = "by hand"
    emitRelayCommand(cam, "cycle", origin, override: over)
    perform(cam, actions, nowMs: t)
    service()
    let p = config.powerCycle
    return .ok(cam.config.id + ": relay off for " + String(p.offS)
      + " s, then on; the camera has " + String(p.bootS) + " s "
      + "to answer (event camera_power_cycled)\n")
  }

  /// Switches from the centre per camera in any minute: enough to correct a mistake, too few to
  /// wear a relay out or flicker a camera.
  static let remoteSwitchesPerMinute = 4

  private func switchRelay(_ cam: Camera, _ on: Bool, _ origin: CommandOrigin) -> CommandResult {
    let t = now
    var override = false
    if origin != .console {
      cam.remoteSwitchesMs.removeAll { t - $0 >= 60_000 }
      if cam.remoteSwitchesMs.count >= Self.remoteSwitchesPerMinute {
        return .fail(cam.config.id + ": not switched: 4 switches from the centre in the last "
          + "minute (a technician at the console may switch it)")
      }
      cam.remoteSwitchesMs.append(t)
    } else {
      override = cam.remoteSwitchesMs.count >= Self.remoteSwitchesPerMinute
    }
    cam.policy.relaySetByHand()
    cam.cycleOrigin = "policy"
    setRelay(cam, on, nowMs: t)
    let offS = config.powerCycle.remoteOffS
    // Off from the centre is bounded: the camera comes back on by itself unless renewed.
    cam.remoteOffUntilMs = !on && origin != .console ? t + Int64(offS) * 1000 : nil
    emitRelayCommand(cam, on ? "on" : "off", origin, override: override,
                     untilS: cam.remoteOffUntilMs == nil ? nil : offS)
    service()
    let id = cam.config.id
    if on { return .ok(id + ": relay on\n") }
    if cam.remoteOffUntilMs != nil {
      return .ok(id + ": relay off; on again by itself in " + String(offS)
        + " s unless switched off again (power_cycle.remote_off_s)\n")
    }
    return .ok(id + ": relay off; the camera stays unpowered until \"relay " + id + " on\"\n")
  }

  /// A camera the centre switched off, not renewed in `remote_off_s`: on again.
  func remoteOffExpired(_ cam: Camera, nowMs t: Int64) {
    guard let until = cam.remoteOffUntilMs, t >= until else { return }
    cam.remoteOffUntilMs = nil
    if cam.relayOn { return }
    Log.notice("relay " + cam.config.id + ": on again, " + String(config.powerCycle.remoteOffS)
      + " s after the centre switched it off")
    setRelay(cam, true, nowMs: t)
    emitRelayCommand(cam, "on", nil)
  }

  /// `origin` nil: the agent itself (a remote `off` that ran out). `override`: a technician at
  /// the console went past a limit the centre is held to; `untilS`: a remote `off` ends then.
  private func emitRelayCommand(_ cam: Camera, _ action: String, _ origin: CommandOrigin?,
                                override: Bool = false, untilS: Int? = nil) {
    let c = cam.config
    var fields: [EventField] = [
      .f("camera", c.id),
      .f("relay", c.relayLine ?? ""),
      .f("action", action),
      .f("origin", origin?.label ?? "expiry"),
    ]
    if override { fields.append(.f("override", true)) }
    if let u = untilS { fields.append(.f("until_s", u)) }
    events.emit("relay_command", fields)
  }
}
