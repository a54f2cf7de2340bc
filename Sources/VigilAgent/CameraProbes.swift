import VigilCore
import VigilPlatform

/// The probe rounds: each camera's port is tried every `probe_s`, and what answers (or not)
/// feeds its state and its power-cycle policy.
extension CameraWatch {
  func scheduleProbes() {
    agent.loop.cancel(probeTimer)
    probeTimer = agent.loop.every(ms: Int64(config.probeS) * 1000) { [self] in self.probeRound() }
  }

  /// Probes every camera not already being probed, and reads the inputs again (a missed edge
  /// is caught within one round).
  func probeRound() {
    let t = now
    cabinet.sampleAll(nowMs: t)
    for cam in cameras { startProbe(cam) }
    service()
  }

  /// A probe's timeout: long enough for a loaded LAN, short of the next round.
  private var probeTimeoutMs: Int64 { max(200, min(3000, Int64(config.probeS) * 750)) }

  func startProbe(_ cam: Camera) {
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
      Log.info("probe " + cam.config.id + ": "
        + (result.ok ? result.detail : "no answer: " + result.detail))
    } else {
      Log.debug("probe " + cam.config.id + ": " + result.detail)
    }
    handle(cam, cam.health.probe(ok: result.ok, nowMs: t))
    if result.ok { probeAnswered?(cam.config.id, cam.snapshotDue) }
    if result.ok && cam.snapshotDue {
      cam.snapshotDue = false
      wantSnapshot?(cam.config.id)
    }
    // A fault that a power cycle cannot cure (`auth`, `bad_image`) counts no failure.
    let actions = cam.policy.probed(answered: result.ok, state: cam.health.state,
                                    fault: cam.fault, nowMs: t)
    perform(cam, actions, nowMs: t)
    service()
  }
}
