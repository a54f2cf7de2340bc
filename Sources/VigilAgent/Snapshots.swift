import VigilCore
import VigilPlatform

/// Takes a snapshot from every camera with a `snapshot_url`, every `snapshot_s`, and on request
/// (power restored, after a power cycle, the `snapshot` command): an HTTP GET through libcurl's
/// multi interface in the loop, digest authentication (basic only where the camera's config
/// says so), time and size limits, the body checked to be a JPEG, then stored in the spool for `R/snapshot/<camera_id>/<capture_ms>`.
/// One transfer per camera at a time: a camera still busy when its next turn comes is skipped.
/// A camera with credentials is sent a login only when its login budget allows (`mayLogIn`).
final class Snapshots: AgentPart {
  /// What one snapshot turn showed, for the camera's state, fault, login budget and clock.
  struct Report {
    var cameraId: String
    /// nil: a new JPEG was taken; otherwise why not (a failed snapshot: `no_video`).
    var fault: CameraFault?
    var login: Login
    /// The answer's `Date:` (Unix seconds), its request's and its headers' wall-clock ms.
    var dateS: Int64?
    var sentMs: Int64 = 0
    var receivedMs: Int64 = 0
  }

  /// What a turn did with the camera's credentials.
  enum Login {
    /// None sent: the camera has no username, or its budget held the login back.
    case none
    /// The camera refused them (its final answer 401 or 403).
    case refused
    /// It answered something else: the login was not refused.
    case accepted
    /// No answer (a timeout, a refused connection): no verdict on the login.
    case abandoned
  }

  /// Each turn's result, for the camera-health state (a camera that answers its probe but
  /// gives no image is `no_video`).
  var onSnapshotResult: ((Report) -> Void)?
  /// A new picture was taken and sent: the camera, its JPEG and its topic (the view watch).
  var onPicture: ((String, [UInt8], String) -> Void)?
  /// Whether the camera may be sent a login now (its `LoginBudget`, shared with any other
  /// login to it); a granted try is settled by the `login` of the report that follows.
  var mayLogIn: ((String) -> Bool)?

  private struct CameraState {
    var id: String
    var timer: EventLoop.Timer?
    var transfer: HTTPClient.Transfer?
    /// Monotonic ms of the last JPEG taken.
    var lastGoodMs: Int64?
    var lastError: String?
    /// The last good picture's fingerprint: the same bytes turn after turn are `frozen`.
    var frozen = FrozenPicture()
    var taken = 0
    var failed = 0
    var skipped = 0
  }

  private let agent: Agent
  /// The curl multi handle, shared with the stream checks.
  private(set) var http: HTTPClient?
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
    onPicture = nil
    mayLogIn = nil
  }

  func configChanged(from old: LoadedConfig) {
    guard old.config.cameras != agent.config.cameras else { return }
    // A transfer still running with old credentials would settle the new ones' login budget:
    // it is dropped (its login counted as failed until it leaves the window), and the new
    // credentials are tried at once.
    for cam in agent.config.cameras {
      guard let i = index(cam.id), let was = old.config.cameras.first(where: { $0.id == cam.id }),
        was.username != cam.username || was.password != cam.password
      else { continue }
      http?.cancel(cameras[i].transfer)
      cameras[i].transfer = nil
    }
    schedule()
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
      Log.debug("snapshot " + id + ": previous transfer still running, turn skipped")
      return
    }
    if cam.username != nil, mayLogIn?(id) == false {
      report(i, Report(cameraId: id, fault: .auth, login: .none),
             "login held back: the camera refused it, and few failed logins are risked")
      return
    }
    let request = HTTPClient.Request(
      url: url, username: cam.username, password: cam.password,
      connectTimeoutMs: Snapshot.connectTimeoutMs, totalTimeoutMs: Snapshot.totalTimeoutMs,
      maxBytes: Snapshot.maxBytes, basicAuth: cam.basicAuth)
    let t = http.get(request) { [self] outcome in self.finished(id, outcome) }
    // `get` may have failed at once (and reported it); only a running transfer is kept.
    if let t = t, let i = index(id) { cameras[i].transfer = t }
  }

  private func finished(_ id: String, _ outcome: HTTPClient.Outcome) {
    guard let i = index(id) else { return }
    cameras[i].transfer = nil
    var r = Report(cameraId: id, fault: nil, login: .none)
    let cam = agent.config.cameras.first { $0.id == id }
    let credentials = cam?.username != nil
    var problem = ""
    switch outcome {
    case .failed(let failure, let why):
      problem = why
      r.fault = failure == .tooLarge
        ? .badImage : CameraFault.ofNoAnswer(timedOut: failure == .timedOut)
      if credentials { r.login = .abandoned }
    case .response(let answer):
      r.dateS = answer.dateS
      r.sentMs = answer.sentMs
      r.receivedMs = answer.headersMs
      r.fault = CameraFault.ofSnapshot(status: answer.status, body: answer.body)
      if credentials { r.login = r.fault == .auth ? .refused : .accepted }
      if r.fault == nil, cameras[i].frozen.saw(answer.body) {
        // Not sent again: the centre has these bytes already.
        r.fault = .frozen
        problem = "the same picture 3 times in a row"
      } else if r.fault == nil {
        let captureMs = Clock.wallMs()
        let topic = Snapshot.topic(root: agent.topicRoot, cameraId: id, captureMs: captureMs)
        agent.send(topic: topic, payload: answer.body, captureMs: captureMs, kind: .snapshot)
        onPicture?(id, answer.body, topic)
        cameras[i].lastGoodMs = Clock.monotonicMs()
        cameras[i].taken += 1
        if cameras[i].lastError != nil { Log.notice("snapshot " + id + ": working again") }
        cameras[i].lastError = nil
      } else if answer.status != 200 {
        problem = "HTTP " + String(answer.status)
        if answer.status == 401, answer.basicOnly, cam?.basicAuth == false {
          problem += CameraFault.basicRefused
        }
      } else {
        problem = "not a JPEG (" + String(answer.body.count) + " bytes)"
        if let why = Snapshot.statusString(answer.body) { problem += ": \"" + why + "\"" }
      }
    }
    report(i, r, problem)
  }

  /// Counts a turn, logs a failure when it changes (not every turn), and hands the report on.
  private func report(_ i: Int, _ r: Report, _ problem: String) {
    if let f = r.fault {
      let p = problem + " (" + f.rawValue + ")"
      cameras[i].failed += 1
      if cameras[i].lastError != p { Log.warning("snapshot " + r.cameraId + ": " + p) }
      cameras[i].lastError = p
    }
    onSnapshotResult?(r)
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
    for st in cameras { line += "  " + st.id + " " + summary(st) }
    lines.append(line)
  }

  private func summary(_ st: CameraState) -> String {
    var s = st.lastGoodMs.map { String((Clock.monotonicMs() - $0) / 1000) + " s ago" } ?? "none yet"
    if let e = st.lastError { s += " (failing: " + e + ")" }
    return s
  }

  private func command(_ args: [String]) -> CommandResult {
    if let id = args.first {
      guard let cam = agent.config.cameras.first(where: { $0.id == id }) else {
        return .fail("snapshot: no camera \"" + id + "\"")
      }
      guard cam.snapshotURL != nil else { return .fail("snapshot: " + id + " has no snapshot_url") }
      if let i = index(id), cameras[i].transfer != nil {
        return .ok("snapshot " + id + ": a transfer is running\n")
      }
      take(id)
      return .ok("snapshot " + id + ": requested\n")
    }
    if cameras.isEmpty { return .ok("no camera has a snapshot_url\n") }
    var out = ""
    for cam in agent.config.cameras {
      guard let i = index(cam.id) else { continue }
      let st = cameras[i]
      out += cam.id + "  every " + String(cam.snapshotS) + " s  last " + summary(st) + "  taken "
        + String(st.taken) + "  "
        + "failed " + String(st.failed) + "  skipped " + String(st.skipped)
        + (st.transfer != nil ? "  busy" : "") + "\n"
    }
    return .ok(out)
  }
}
