import CVigil
import VigilCore

/// One check of a camera's RTSP stream, through the snapshots' `HTTPClient` (libcurl's multi
/// interface in the loop, so nothing waits). Two kinds:
/// - a probe turn's `OPTIONS`, with no credentials: does the camera's RTSP service answer?
/// - a full check: `DESCRIBE` (the login: digest, or basic only where the camera's config says
///   so), `SETUP` of its video over interleaved TCP, `PLAY`, RTP read for up to `readMs` with
///   sequence numbers and timestamps checked to advance (`RTPRun`), then `TEARDOWN`, always,
///   once a session was set up: cameras allow few sessions, and one left open takes a place
///   until it times out.
/// The requests run one after the other on one curl handle, which keeps the CSeq, the session
/// id and the digest state between them.
public final class RTSPCheck {
  public struct Options {
    public var url: String
    public var username: String?
    public var password: String?
    public var basicAuth: Bool
    public var full: Bool
    /// How long RTP is read after PLAY, at most (less when it is seen to flow).
    public var readMs: Int64
    /// Each request's time limit.
    public var requestMs: Int64

    public init(url: String, username: String?, password: String?, basicAuth: Bool, full: Bool,
                readMs: Int64, requestMs: Int64) {
      self.url = url
      self.username = username
      self.password = password
      self.basicAuth = basicAuth
      self.full = full
      self.readMs = readMs
      self.requestMs = requestMs
    }
  }

  public struct Result {
    public var full: Bool
    /// nil: the service answered (OPTIONS), or the stream flows (a full check).
    public var fault: CameraFault?
    /// The request that decided it, e.g. `DESCRIBE`, and what happened, for the console.
    public var detail = ""
    /// A login was sent (DESCRIBE with credentials) and answered: refused (401/403) or not.
    public var loginRefused: Bool?
    /// RTP packets read, and whether they advanced.
    public var packets = 0
    /// The first answer's `Date:` (Unix seconds), its request's and headers' wall-clock ms.
    public var dateS: Int64?
    public var sentMs: Int64 = 0
    public var receivedMs: Int64 = 0

    public init(full: Bool, fault: CameraFault? = nil, detail: String = "") {
      self.full = full
      self.fault = fault
      self.detail = detail
    }
  }

  private enum Step: Int {
    case options, describe, setup, play, receive, teardown
    var word: String {
      switch self {
      case .options: return "OPTIONS"
      case .describe: return "DESCRIBE"
      case .setup: return "SETUP"
      case .play: return "PLAY"
      case .receive: return "RTP"
      case .teardown: return "TEARDOWN"
      }
    }
  }

  /// RTP packets that advanced before the read stops early: a few frames' worth.
  public static let enoughPackets = 8

  private let client: HTTPClient
  private let options: Options
  private var transfer: HTTPClient.Transfer?
  private var step = Step.options
  private var result: Result
  private var done: ((Result) -> Void)?
  private var readUntilMs: Int64 = 0
  /// The aggregate URL (PLAY, TEARDOWN): the DESCRIBE answer's `Content-Base:`, or the URL.
  private var base: String
  private var sessionOpen = false

  /// Starts the check; `done` is called once, from the loop, unless it is cancelled. nil, and
  /// `done` never called, when curl would not start it.
  public init?(client: HTTPClient, options: Options, done: @escaping (Result) -> Void) {
    self.client = client
    self.options = options
    base = options.url
    result = Result(full: options.full)
    let request = HTTPClient.Request(
      url: options.url, connectTimeoutMs: min(3000, options.requestMs),
      totalTimeoutMs: options.requestMs, maxBytes: 16_384)
    guard let t = client.transfer(request, protocols: "rtsp", done: { _ in }) else {
      return nil
    }
    t.keepsHandle = true
    transfer = t
    // Credentials for a full check only (an OPTIONS sends none). Digest only, unless the
    // camera's config says basic: a camera, or one spoofing it, that asks for basic gets no
    // password.
    if options.full, let user = options.username {
      _ = vigil_curl_easy_setopt_long(
        t.easy, CURLOPT_HTTPAUTH,
        options.basicAuth ? vigil_curlauth_basic_digest() : vigil_curlauth_digest())
      _ = vigil_curl_easy_setopt_str(t.easy, CURLOPT_USERNAME, user)
      _ = vigil_curl_easy_setopt_str(t.easy, CURLOPT_PASSWORD, options.password ?? "")
    }
    let me = Unmanaged.passUnretained(t).toOpaque()
    _ = vigil_curl_easy_setopt_datafn(t.easy, CURLOPT_INTERLEAVEFUNCTION) { data, size, n, user in
      let count = size * n
      guard let user = user, let d = data, count > 4 else { return count }
      let t = Unmanaged<HTTPClient.Transfer>.fromOpaque(user).takeUnretainedValue()
      // `$`, the channel, the length; RTP on the even channel of the pair asked for in SETUP,
      // RTCP on the odd one.
      let block = UnsafeRawBufferPointer(start: d, count: count)
      if block[1] & 1 == 0 {
        _ = t.rtp.packet(rtp: UnsafeRawBufferPointer(rebasing: block[4...]))
      }
      return count
    }
    _ = vigil_curl_easy_setopt_ptr(t.easy, CURLOPT_INTERLEAVEDATA, me)
    if !run(options.full ? .describe : .options) { return nil }
    self.done = done
  }

  /// Ends the check without calling `done`: the connection closes, which ends an interleaved
  /// session on the camera's side too.
  public func cancel() {
    done = nil
    if let t = transfer { client.release(t) }
    transfer = nil
  }

  // MARK: the steps

  private func run(_ s: Step) -> Bool {
    guard let t = transfer else { return false }
    step = s
    var limit = options.requestMs
    var rc = vigil_curl_easy_setopt_long(t.easy, CURLOPT_RTSP_REQUEST, Self.request(s))
    func set(_ o: CURLoption, _ v: String) {
      if rc == CURLE_OK { rc = vigil_curl_easy_setopt_str(t.easy, o, v) }
    }
    switch s {
    case .options, .describe: set(CURLOPT_RTSP_STREAM_URI, options.url)
    case .setup:
      set(CURLOPT_RTSP_STREAM_URI, SDP.setupURL(t.body, base: base) ?? base)
      set(CURLOPT_RTSP_TRANSPORT, "RTP/AVP/TCP;unicast;interleaved=0-1")
    case .play:
      set(CURLOPT_RTSP_STREAM_URI, base)
      set(CURLOPT_RANGE, "npt=0.000-")
    case .receive: limit = max(1, readUntilMs - Clock.monotonicMs())
    case .teardown: set(CURLOPT_RTSP_STREAM_URI, base)
    }
    if rc == CURLE_OK { rc = vigil_curl_easy_setopt_long(t.easy, CURLOPT_TIMEOUT_MS, Int(limit)) }
    // The last request of a check closes its connection: none is left in curl's cache, holding
    // a socket and buffers, between checks minutes apart.
    if rc == CURLE_OK {
      rc = vigil_curl_easy_setopt_long(t.easy, CURLOPT_FORBID_REUSE,
                                       s == .options || s == .teardown ? 1 : 0)
    }
    if rc != CURLE_OK {
      end(.streamDown, s.word + ": " + HTTPClient.describe(rc))
      return false
    }
    t.done = { [self] outcome in self.answered(outcome) }
    guard let why = client.start(t) else { return true }
    // `start` released the handle.
    transfer = nil
    end(.streamDown, s.word + ": " + why)
    return false
  }

  private static func request(_ s: Step) -> Int {
    switch s {
    case .options: return Int(CURL_RTSPREQ_OPTIONS)
    case .describe: return Int(CURL_RTSPREQ_DESCRIBE)
    case .setup: return Int(CURL_RTSPREQ_SETUP)
    case .play: return Int(CURL_RTSPREQ_PLAY)
    case .receive: return Int(CURL_RTSPREQ_RECEIVE)
    case .teardown: return Int(CURL_RTSPREQ_TEARDOWN)
    }
  }

  private func answered(_ outcome: HTTPClient.Outcome) {
    guard let t = transfer else { return }
    switch outcome {
    case .failed(let failure, let why):
      switch step {
      case .receive:
        // The read window ran out with the stream silent or slow: what came is the verdict.
        readDone(t)
      case .teardown: finish()
      default:
        let fault = failure == .tooLarge
          ? CameraFault.streamDown : CameraFault.ofNoAnswer(timedOut: failure == .timedOut)
        failed(fault, step.word + ": " + why)
      }
    case .response(let r):
      if result.dateS == nil, let d = r.dateS {
        result.dateS = d
        result.sentMs = r.sentMs
        result.receivedMs = r.headersMs
      }
      if step == .receive {
        if t.rtp.advanced && t.rtp.packets >= Self.enoughPackets
          || Clock.monotonicMs() >= readUntilMs
        {
          readDone(t)
        } else {
          _ = run(.receive)
        }
        return
      }
      if step == .describe, options.username != nil {
        result.loginRefused = r.status == 401 || r.status == 403
      }
      if step == .options {
        // Any answer, 401 too: the service is up. What it streams is the full check's to say.
        end(nil, "OPTIONS answered " + String(r.status))
        return
      }
      if step == .teardown {
        finish()
        return
      }
      if let f = CameraFault.ofRTSP(status: r.status) {
        var why = step.word + " answered " + String(r.status)
        if r.status == 401, r.basicOnly, !options.basicAuth { why += CameraFault.basicRefused }
        failed(f, why)
        return
      }
      switch step {
      case .describe:
        if !t.contentBase.isEmpty { base = String(decoding: t.contentBase, as: UTF8.self) }
        _ = run(.setup)
      case .setup:
        sessionOpen = true
        _ = run(.play)
      case .play:
        readUntilMs = Clock.monotonicMs() + options.readMs
        _ = run(.receive)
      default: break
      }
    }
  }

  private func readDone(_ t: HTTPClient.Transfer) {
    result.packets = t.rtp.packets
    result.fault = t.rtp.fault
    result.detail = t.rtp.packets == 0
      ? "PLAY answered, no RTP in " + String(options.readMs) + " ms"
      : String(t.rtp.packets) + " RTP packets"
        + (t.rtp.advanced ? "" : ", timestamps not advancing")
    _ = run(.teardown)
  }

  /// A request failed: the session, if one was set up, is still torn down.
  private func failed(_ fault: CameraFault, _ why: String) {
    result.fault = fault
    result.detail = why
    if sessionOpen && step != .teardown {
      _ = run(.teardown)
    } else {
      finish()
    }
  }

  private func end(_ fault: CameraFault?, _ why: String) {
    result.fault = fault
    result.detail = why
    finish()
  }

  private func finish() {
    if let t = transfer { client.release(t) }
    transfer = nil
    let d = done
    done = nil
    d?(result)
  }
}
