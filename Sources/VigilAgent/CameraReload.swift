import VigilCore
import VigilPlatform

/// A new configuration for the cameras and the cabinet: what stayed keeps its state, what
/// changed starts afresh.
extension CameraWatch {
  func configChanged(from old: LoadedConfig) {
    let t = now
    if old.board != agent.loaded.board && started {
      cabinet.close()
      if let why = openBoard() { Log.error("board after reload: " + why) }
    }
    var next: [Camera] = []
    for c in config.cameras {
      if let cam = camera(c.id), cam.config.host == c.host, cam.config.probePort == c.probePort,
        cam.config.powerLine == c.powerLine, cam.config.relayLine == c.relayLine
      {
        // The login budget stays (the camera's lockout does not forget), but new credentials
        // are tried at once.
        if cam.config.username != c.username || cam.config.password != c.password
          || cam.config.basicAuth != c.basicAuth
        {
          cam.logins.credentialsChanged()
        }
        if cam.config.snapshotURL != c.snapshotURL { cam.snapshotFault = nil }
        if cam.config.rtspURL != c.rtspURL {
          cam.streamFault = nil
          handle(cam, cam.health.stream(ok: true, nowMs: t))
        }
        cam.config = c
        cam.policy.settings = PowerCyclePolicy.Settings(config.powerCycle)
        cam.health.tuning = tuning()
        next.append(cam)
      } else {
        let cam = makeCamera(c, nowMs: t)
        if let p = c.powerLine, let level = cabinet.stable(p) {
          handle(cam, cam.health.powerLine(level, nowMs: t))
        }
        next.append(cam)
      }
    }
    for cam in cameras where !next.contains(where: { $0 === cam }) {
      cam.probe?.cancel()
      // The relay always ends on, even for a camera that leaves the config mid-cycle.
      if !cam.relayOn { writeRelay(cam, true) }
    }
    cameras = next
    if old.config.doorLine != config.doorLine { cabinet.renew(.door, nowMs: t) }
    if old.config.mainsLine != config.mainsLine { cabinet.renew(.mains, nowMs: t) }
    if old.config.probeS != config.probeS && started { scheduleProbes() }
    service()
  }
}
