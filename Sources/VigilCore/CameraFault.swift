/// Why a camera is not delivering video: the heartbeat's `fault` (issue 13), beside its `state`,
/// which keeps its contract values. The raw values are the wire names.
///
/// The cases are declared in order of precedence, and `classify` names the first that the
/// evidence shows. `power` and `unreachable` come first because nothing past them can be seen:
/// a camera without power or link answers no login and sends no picture. `auth` comes next, above
/// every fault a power cycle could cure: a refused login hides what the video is doing, only a
/// person can fix it, and it must win so that a wrong password never leads to a power cut (a
/// cycle would only add failed logins). Then the faults a cycle may cure, in the order a request
/// travels: `streamDown` (the video service refuses or fails), `timeout` (it accepted, then did
/// not answer in time), `noMedia` (the session opened, no RTP came), `frozen` (pictures or
/// packets come, but do not move). `badImage` is last: it says what the snapshot URL serves, not
/// what the video does, so a stream fault that a cycle can cure wins over it.
public enum CameraFault: String, Equatable, CaseIterable {
  /// The power line is down, or the relay is off.
  case power
  /// Powered, but it does not answer its probe.
  case unreachable
  /// The camera refused the login (401 or 403, after digest): snapshots or RTSP.
  case auth
  /// RTSP refused or failing, or the snapshot's HTTP server refuses the connection or answers 5xx.
  case streamDown = "stream_down"
  /// A snapshot or RTSP request that the camera took but did not answer in time.
  case timeout
  /// The RTSP session opens (PLAY answered), but no RTP comes.
  case noMedia = "no_media"
  /// The same snapshot bytes turn after turn, or RTP whose timestamps do not advance.
  case frozen
  /// An answer that is no picture: 200 with a body that is not a JPEG (Hikvision sends an XML
  /// `<ResponseStatus>` error with status 200), or a 3xx/4xx other than 401/403 (a wrong
  /// `snapshot_url`).
  case badImage = "bad_image"

  /// Whether cutting the camera's power may cure the fault. Never for `auth` or `badImage`: a
  /// cycle changes neither a password nor what a URL serves, and each cycle costs minutes of
  /// video. Not for `power` either: without power there is nothing to cycle.
  public var powerCycleCanHelp: Bool {
    switch self {
    case .power, .auth, .badImage: return false
    case .unreachable, .streamDown, .timeout, .noMedia, .frozen: return true
    }
  }

  /// The camera's fault: nil while it is `healthy` or `unknown`; `power` or `unreachable` from
  /// its state (debounced by `CameraHealth`); otherwise the first, by precedence, of what its
  /// last snapshot and its last stream check showed (nil where it showed none, or was not made).
  public static func classify(state: CameraHealth.State, snapshot: CameraFault?,
                              stream: CameraFault?) -> CameraFault? {
    switch state {
    case .healthy, .unknown: return nil
    case .noPower: return .power
    case .noLink: return .unreachable
    case .noVideo: return allCases.first { $0 == snapshot || $0 == stream }
    }
  }

  /// What a snapshot's HTTP answer shows (its final status, after the digest exchange): nil for
  /// a whole JPEG (`Snapshot.isWholeJPEG`).
  public static func ofSnapshot(status: Int, body: [UInt8]) -> CameraFault? {
    switch status {
    case 200: return Snapshot.isWholeJPEG(body) ? nil : .badImage
    case 401, 403: return .auth
    case 500...599: return .streamDown
    default: return .badImage
    }
  }

  /// Said of a 401 whose challenge offers basic authentication only, to a camera whose config
  /// does not allow it: no password was sent.
  public static let basicRefused = """
    : the camera asks for basic authentication, which sends the password in clear; \
    it is used only where the camera's config says "auth": "basic"
    """

  /// What an RTSP answer's final status shows (DESCRIBE, SETUP, PLAY): nil for 2xx.
  public static func ofRTSP(status: Int) -> CameraFault? {
    switch status {
    case 200...299: return nil
    case 401, 403: return .auth
    default: return .streamDown
    }
  }

  /// A request (HTTP or RTSP) of an answering camera that got no answer: `timeout` when it ran
  /// out of time, else `streamDown` (connection refused or reset).
  public static func ofNoAnswer(timedOut: Bool) -> CameraFault {
    timedOut ? .timeout : .streamDown
  }
}

extension PowerCyclePolicy {
  /// `probed(answered:state:nowMs:)`, told the camera's fault: a probe round of a camera whose
  /// fault a cycle cannot cure (`auth`, `badImage`) counts no failure and resets the count.
  public mutating func probed(answered: Bool, state: CameraHealth.State, fault: CameraFault?,
                              nowMs: Int64) -> [Action] {
    let counts = fault?.powerCycleCanHelp ?? true
    // `unknown` is the state the policy does not count (see `probed(answered:state:nowMs:)`).
    return probed(answered: answered, state: counts ? state : .unknown, nowMs: nowMs)
  }
}
