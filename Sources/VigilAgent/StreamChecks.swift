import VigilCore
import VigilPlatform

/// The RTSP stream checks of every camera with an `rtsp_url` (issue 13), on the snapshots'
/// curl multi handle: at each probe turn the camera answers, an `OPTIONS` (is its RTSP service
/// up?); every `stream_check_s`, and at once after a power cut or a power cycle, a full check
/// (`RTSPCheck`: DESCRIBE, SETUP, PLAY, RTP read, TEARDOWN). One check per camera at a time.
/// One check at a time across the cameras, the others queued in turn: each holds a curl handle
/// and its buffers, and eight at once raised the agent's private dirty memory by about 390 KiB
/// (the heap keeps its high-water mark). An OPTIONS takes milliseconds on the cabinet's LAN.
/// A full check with credentials is a login: it is sent only when the camera's login budget
/// allows (`mayLogIn`), and settled by the report.
final class StreamChecks: AgentPart {
  /// RTP read for up to this long after PLAY (less once it is seen to flow).
  static let readMs: Int64 = 3000
  static let requestMs: Int64 = 5000

  /// Each check's result, for the camera's state, fault, login budget and clock.
  var onResult: ((String, RTSPCheck.Result) -> Void)?
  var mayLogIn: ((String) -> Bool)?

  private struct CameraState {
    var id: String
    var check: RTSPCheck?
    /// When the next full check is due (monotonic ms); 0: at the next probe turn.
    var fullDueMs: Int64 = 0
    var last: RTSPCheck.Result?
    var lastAtMs: Int64 = 0
    var lastFull: RTSPCheck.Result?
    var lastOptions: RTSPCheck.Result?
    var lastFullAtMs: Int64 = 0
  }

  private let agent: Agent
  /// The curl multi handle the snapshots run on.
  private let client: () -> HTTPClient?
  private var cameras: [CameraState] = []
  /// Cameras waiting for their check, in the order they answered.
  private var waiting: [(id: String, full: Bool)] = []
  private var running = false

  init(agent: Agent, client: @escaping () -> HTTPClient?) {
    self.agent = agent
    self.client = client
  }

  private func index(_ id: String) -> Int? { cameras.firstIndex { $0.id == id } }

  func start() { sync() }

  func stop() {
    for c in cameras { c.check?.cancel() }
    cameras.removeAll()
    waiting.removeAll()
    running = false
    onResult = nil
    mayLogIn = nil
  }

  func configChanged(from old: LoadedConfig) {
    for cam in agent.config.cameras {
      guard let i = index(cam.id), let was = old.config.cameras.first(where: { $0.id == cam.id }),
        was.rtspURL != cam.rtspURL || was.username != cam.username
          || was.password != cam.password || was.streamCheckS != cam.streamCheckS
      else { continue }
      // New settings are checked at once; a check under way with the old ones is dropped.
      if cameras[i].check != nil { running = false }
      cameras[i].check?.cancel()
      cameras[i].check = nil
      cameras[i].fullDueMs = 0
    }
    sync()
  }

  /// One entry per camera with an `rtsp_url`; a check under way for a camera that has none
  /// any more is dropped. Plain loops: each closure-taking collection call is a specialised copy
  /// in the Embedded binary.
  private func sync() {
    var kept: [CameraState] = []
    for cam in agent.config.cameras where cam.rtspURL != nil {
      if let i = index(cam.id) {
        kept.append(cameras[i])
        cameras[i].check = nil
      } else {
        kept.append(CameraState(id: cam.id))
      }
    }
    for c in cameras where c.check != nil {
      c.check?.cancel()
      running = false
    }
    cameras = kept
    waiting.removeAll { w in index(w.id) == nil }
    next()
  }

  /// The camera answered its probe: an OPTIONS, or the full check when it is due (or `full`:
  /// the camera is back from a power cut or a cycle, and its stream should be seen at once).
  func probed(_ id: String, full: Bool) {
    guard index(id) != nil else { return }
    for k in waiting.indices where waiting[k].id == id {
      waiting[k].full = waiting[k].full || full
      return
    }
    waiting.append((id, full))
    next()
  }

  /// Starts the first waiting camera's check, unless one is under way.
  private func next() {
    while !running && !waiting.isEmpty {
      let w = waiting.removeFirst()
      start(w.id, full: w.full)
    }
  }

  private func start(_ id: String, full: Bool) {
    guard let i = index(id), cameras[i].check == nil, let http = client(),
      let cam = agent.config.cameras.first(where: { $0.id == id }), let url = cam.rtspURL
    else { return }
    let t = Clock.monotonicMs()
    if full { cameras[i].fullDueMs = 0 }
    let fullCheck = t >= cameras[i].fullDueMs
    if fullCheck {
      cameras[i].fullDueMs = t + Int64(cam.streamCheckS) * 1000
      if cam.username != nil, mayLogIn?(id) == false {
        // The budget holds the login back: the check counts as refused again, as a snapshot
        // turn does, and no request goes out.
        finished(id, RTSPCheck.Result(
          full: true, fault: .auth,
          detail: "login held back: the camera refused it, and few failed logins are risked"))
        return
      }
    }
    let options = RTSPCheck.Options(
      url: url, username: cam.username, password: cam.password, basicAuth: cam.basicAuth,
      full: fullCheck, readMs: Self.readMs, requestMs: Self.requestMs)
    running = true
    cameras[i].check = RTSPCheck(client: http, options: options) { [self] r in
      self.finished(id, r)
    }
    if cameras[i].check == nil {
      running = false
      Log.warning("stream check " + id + ": curl would not start it")
    }
  }

  private func finished(_ id: String, _ r: RTSPCheck.Result) {
    defer { next() }
    guard let i = index(id) else { return }
    if cameras[i].check != nil { running = false }
    cameras[i].check = nil
    let t = Clock.monotonicMs()
    let was = r.full ? cameras[i].lastFull : cameras[i].lastOptions
    cameras[i].last = r
    if !r.full { cameras[i].lastOptions = r }
    cameras[i].lastAtMs = t
    if r.full {
      cameras[i].lastFull = r
      cameras[i].lastFullAtMs = t
    }
    // Logged when the verdict changes, not at every turn.
    if was?.fault != r.fault || was == nil {
      let what = "stream " + id + (r.full ? " (full check): " : " (OPTIONS): ") + r.detail
      if let f = r.fault {
        Log.warning(what + " (" + f.rawValue + ")")
      } else {
        Log.info(what)
      }
    }
    onResult?(id, r)
  }

  /// The last check and the last full check, for `cameras` and `probe CAM`; nil for a camera
  /// without an `rtsp_url`.
  func summary(_ id: String) -> String? {
    guard let i = index(id) else { return nil }
    let c = cameras[i]
    let t = Clock.monotonicMs()
    var s = "stream: "
    if let f = c.lastFull {
      s += "full check " + String((t - c.lastFullAtMs) / 1000) + " s ago: " + f.detail
      if let fault = f.fault { s += " (" + fault.rawValue + ")" }
    } else {
      s += "no full check yet"
    }
    if let l = c.last, !l.full {
      s += "; OPTIONS " + String((t - c.lastAtMs) / 1000) + " s ago: "
        + (l.fault == nil ? "answered" : l.detail)
    }
    if c.check != nil { s += "; a check is under way" }
    return s
  }
}
