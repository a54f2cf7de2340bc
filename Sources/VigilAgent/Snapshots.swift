import VigilCore
import VigilPlatform

/// Takes a snapshot from every camera with a `snapshot_url`, every `snapshot_s`, and on request
/// (power restored, after a power cycle, the `snapshot` command): an HTTP GET through libcurl's
/// multi interface in the loop, basic or digest authentication, time and size limits, the body
/// checked to be a JPEG, then stored in the spool for `R/snapshot/<camera_id>/<capture_ms>`.
/// One transfer per camera at a time: a camera still busy when its next turn comes is skipped.
final class Snapshots: AgentPart {
  /// Each result, for the camera-health state (a camera that answers its probe but gives no
  /// image is `no_video`): camera id, and whether a JPEG was taken.
  var onSnapshotResult: ((String, Bool) -> Void)?

  private struct CameraState {
    var id: String
    var timer: EventLoop.Timer?
    var transfer: HTTPClient.Transfer?
    /// Monotonic ms of the last JPEG taken.
    var lastGoodMs: Int64?
    var lastError: String?
    var taken = 0
    var failed = 0
    var skipped = 0
  }

  private let agent: Agent
  private var http: HTTPClient?
  /// One per camera with a URL; a list, as few as the cameras (Embedded Swift pays for each
  /// dictionary specialisation).
  private var cameras: [CameraState] = []

  private func index(_ id: String) -> Int? { cameras.firstIndex { $0.id == id } }

  init(agent: Agent) {
    self.agent = agent
    agent.commands.register("snapshot", usage: "snapshot [CAM]",
                            summary: "snapshot state; with CAM, take one now") { [self] args, _ in
      self.command(args)
    }
  }

  func start() {
    http = HTTPClient(loop: agent.loop)
    if http == nil { Log.error("libcurl could not be initialised: no snapshots") }
    schedule()
  }

  func stop() {
    for c in cameras { agent.loop.cancel(c.timer) }
    http?.stop()
    http = nil
    onSnapshotResult = nil
  }

  func configChanged(from old: LoadedConfig) {
    if old.config.cameras != agent.config.cameras { schedule() }
  }

  /// (Re)starts one timer per camera with a URL; the first snapshot is taken at once.
  private func schedule() {
    let configured = agent.config.cameras.filter { $0.snapshotURL != nil }
    for st in cameras {
      agent.loop.cancel(st.timer)
      if !configured.contains(where: { $0.id == st.id }) { http?.cancel(st.transfer) }
    }
    cameras.removeAll { c in !configured.contains(where: { $0.id == c.id }) }
    for cam in configured {
      if index(cam.id) == nil { cameras.append(CameraState(id: cam.id)) }
      let id = cam.id
      let timer = agent.loop.every(ms: Int64(cam.snapshotS) * 1000) { [self] in self.take(id) }
      if let i = index(id) { cameras[i].timer = timer }
      take(id)
    }
  }

  /// Takes one snapshot of `cameraId` now (e.g. when its power is restored). Does nothing for a
  /// camera without `snapshot_url`, or one whose transfer is still running.
  func requestSnapshot(cameraId: String) { take(cameraId) }

  private func take(_ id: String) {
    guard let http = http, let cam = agent.config.cameras.first(where: { $0.id == id }),
      let url = cam.snapshotURL, let i = index(id)
    else { return }
    if cameras[i].transfer != nil {
      cameras[i].skipped += 1
      Log.debug("snapshot \(id): previous transfer still running, turn skipped")
      return
    }
    let request = HTTPClient.Request(
      url: url, username: cam.username, password: cam.password,
      connectTimeoutMs: Snapshot.connectTimeoutMs, totalTimeoutMs: Snapshot.totalTimeoutMs,
      maxBytes: Snapshot.maxBytes)
    let t = http.get(request) { [self] outcome in self.finished(id, outcome) }
    // `get` may have failed at once (and reported it); only a running transfer is kept.
    if let t = t, let i = index(id) { cameras[i].transfer = t }
  }

  private func finished(_ id: String, _ outcome: HTTPClient.Outcome) {
    guard let i = index(id) else { return }
    cameras[i].transfer = nil
    var problem: String?
    switch outcome {
    case .failed(let why):
      problem = why
    case .response(let status, let body):
      if status != 200 {
        problem = "HTTP \(status)"
      } else if !Snapshot.isWholeJPEG(body) {
        problem = "not a JPEG (\(body.count) bytes)"
      } else {
        let captureMs = Clock.wallMs()
        agent.send(
          topic: Snapshot.topic(root: agent.topicRoot, cameraId: id, captureMs: captureMs),
          payload: body, captureMs: captureMs, kind: .snapshot)
        cameras[i].lastGoodMs = Clock.monotonicMs()
        cameras[i].taken += 1
        if cameras[i].lastError != nil { Log.notice("snapshot \(id): working again") }
        cameras[i].lastError = nil
      }
    }
    if let p = problem {
      cameras[i].failed += 1
      // Logged when it changes, not every turn.
      if cameras[i].lastError != p { Log.warning("snapshot \(id): \(p)") }
      cameras[i].lastError = p
    }
    onSnapshotResult?(id, problem == nil)
  }

  // MARK: AgentPart

  func fill(_ hb: inout Heartbeat) {
    let now = Clock.monotonicMs()
    for i in hb.cameras.indices {
      if let c = index(hb.cameras[i].id), let last = cameras[c].lastGoodMs {
        hb.cameras[i].snapshotAgeS = Int((now - last) / 1000)
      }
    }
  }

  func status(into lines: inout [String]) {
    if cameras.isEmpty { return }
    var line = "snapshots"
    for st in cameras { line += "  \(st.id) " + summary(st) }
    lines.append(line)
  }

  private func summary(_ st: CameraState) -> String {
    var s = st.lastGoodMs.map { "\((Clock.monotonicMs() - $0) / 1000) s ago" } ?? "none yet"
    if let e = st.lastError { s += " (failing: \(e))" }
    return s
  }

  private func command(_ args: [String]) -> CommandResult {
    if let id = args.first {
      guard let cam = agent.config.cameras.first(where: { $0.id == id }) else {
        return .fail("snapshot: no camera \"\(id)\"")
      }
      guard cam.snapshotURL != nil else { return .fail("snapshot: \(id) has no snapshot_url") }
      if let i = index(id), cameras[i].transfer != nil {
        return .ok("snapshot \(id): a transfer is running\n")
      }
      take(id)
      return .ok("snapshot \(id): requested\n")
    }
    if cameras.isEmpty { return .ok("no camera has a snapshot_url\n") }
    var out = ""
    for cam in agent.config.cameras {
      guard let i = index(cam.id) else { continue }
      let st = cameras[i]
      out += "\(cam.id)  every \(cam.snapshotS) s  last \(summary(st))  taken \(st.taken)  "
        + "failed \(st.failed)  skipped \(st.skipped)\(st.transfer != nil ? "  busy" : "")\n"
    }
    return .ok(out)
  }
}
