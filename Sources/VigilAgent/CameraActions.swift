import VigilCore
import VigilPlatform

/// What a camera's state machine and its power-cycle policy say, carried out: events, the relay.
extension CameraWatch {
  func handle(_ cam: Camera, _ changes: [CameraHealth.Event]) {
    let c = cam.config
    for e in changes {
      switch e {
      case .powerLost:
        events.emit("camera_power_lost", [
          .f("camera", c.id),
          .f("line", c.powerLine ?? ""),
          .f("owner", c.owner.rawValue),
        ])
      case .powerRestored(let offMs):
        cam.snapshotDue = true
        events.emit("camera_power_restored", [
          .f("camera", c.id),
          .f("line", c.powerLine ?? ""),
          .f("off_s", Int(offMs / 1000)),
        ])
      case .unreachable(let failures):
        let detail = cam.lastProbe?.detail ?? ""
        events.emit("camera_unreachable", [
          .f("camera", c.id),
          .f("host", c.host),
          .f("port", c.probePort),
          .f("failures", failures),
          .f("error", detail),
        ])
      case .reachable(let downMs):
        events.emit("camera_reachable", [
          .f("camera", c.id),
          .f("host", c.host),
          .f("port", c.probePort),
          .f("down_s", Int(downMs / 1000)),
        ])
      case .stateChanged(let from, let to):
        Log.info("camera " + c.id + ": " + from.rawValue + " -> " + to.rawValue)
      }
    }
  }

  func perform(_ cam: Camera, _ actions: [PowerCyclePolicy.Action], nowMs: Int64) {
    let c = cam.config
    for a in actions {
      switch a {
      case .relayOff:
        if cam.cycleOrigin == "policy" { cam.cycleReason = cam.health.state.rawValue }
        Log.notice("camera " + c.id + ": power cycle (" + cam.cycleOrigin + ", " + cam.cycleReason
          + "): relay off for " + String(config.powerCycle.offS) + " s")
        setRelay(cam, false, nowMs: nowMs)
      case .relayOn:
        setRelay(cam, true, nowMs: nowMs)
      case .cycled(let recovered, _):
        let origin = cam.cycleOrigin
        let reason = cam.cycleReason
        let offS = config.powerCycle.offS
        let total = cam.policy.cycles
        let hour = cam.policy.cyclesInLastHour(nowMs: nowMs)
        events.emit("camera_power_cycled", [
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
        Log.warning("camera " + c.id + ": " + String(unhelpful)
          + " power cycles did not help; cycling stops")
        events.emit("camera_cycle_gave_up", [
          .f("camera", c.id),
          .f("relay", c.relayLine ?? ""),
          .f("unhelpful_cycles", unhelpful),
          .f("state", state),
        ])
      }
    }
  }

  /// Drives a camera's relay and tells its state machine.
  func setRelay(_ cam: Camera, _ on: Bool, nowMs: Int64) {
    guard cam.config.relayLine != nil else { return }
    writeRelay(cam, on)
    cam.relayOn = on
    handle(cam, cam.health.relay(on: on, nowMs: nowMs))
  }

  /// Drives a camera's relay line at `on`, if the board is open; a failure is logged.
  func writeRelay(_ cam: Camera, _ on: Bool) {
    guard let line = cam.config.relayLine, let d = cabinet.driver else { return }
    do {
      try d.write(line, on)
    } catch {
      Log.error("relay " + cam.config.id + ": " + error.message)
    }
  }
}
