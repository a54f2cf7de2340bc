import CVigil
import VigilCore

/// HTTP GETs (camera snapshots) with libcurl's multi interface inside the event loop: curl tells
/// which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to call back (TIMERFUNCTION); the
/// loop's watches and timers drive `curl_multi_socket_action`. No transfer ever blocks the loop,
/// so a camera that accepts a connection and never answers delays nothing else.
public final class HTTPClient {
  public struct Request {
    public var url: String
    public var username: String?
    public var password: String?
    public var connectTimeoutMs: Int64
    public var totalTimeoutMs: Int64
    /// A body larger than this ends the transfer with an error.
    public var maxBytes: Int
    /// Basic authentication allowed besides digest: only where the camera's config says so,
    /// since basic sends the password in clear to whoever answers, a spoofed camera too.
    public var basicAuth: Bool
    /// Takes the body as it arrives instead of keeping it (a download to a file); false ends
    /// the transfer (a failed write).
    public var sink: ((UnsafeRawBufferPointer) -> Bool)?

    public init(url: String, username: String? = nil, password: String? = nil,
                connectTimeoutMs: Int64, totalTimeoutMs: Int64, maxBytes: Int,
                basicAuth: Bool = false, sink: ((UnsafeRawBufferPointer) -> Bool)? = nil) {
      self.sink = sink
      self.url = url
      self.username = username
      self.password = password
      self.connectTimeoutMs = connectTimeoutMs
      self.totalTimeoutMs = totalTimeoutMs
      self.maxBytes = maxBytes
      self.basicAuth = basicAuth
    }
  }

  /// The final response, after any authentication round.
  public struct Response {
    public var status: Int
    public var body: [UInt8]
    /// Its `Date:` header in Unix seconds, for the camera's clock; nil without one, or when it
    /// is no date (`vigil_http_date`).
    public var dateS: Int64?
    /// Wall-clock Unix ms when this response's request left: when the transfer started, or,
    /// after a 401 challenge, when that challenge's headers arrived (its body is read first,
    /// on the same connection, in the same few milliseconds).
    public var sentMs: Int64
    /// Wall-clock Unix ms when its headers had all arrived (not the end of a long body).
    public var headersMs: Int64
    /// Its challenge offered basic authentication and no digest: without `basicAuth`, no
    /// password was sent.
    public var basicOnly = false
  }

  /// Why a transfer got no answer.
  public enum Failure: Equatable {
    /// The connect or the whole-transfer time ran out (CURLE_OPERATION_TIMEDOUT): the camera
    /// took the request, or the SYN, and did not answer in time.
    case timedOut
    /// The body passed `maxBytes`.
    case tooLarge
    /// Refused, reset, or anything else curl reports.
    case other
  }

  public enum Outcome {
    /// The server answered.
    case response(Response)
    /// No answer: what kind of failure, and curl's words for it.
    case failed(Failure, String)
  }

  /// A `Date:` value is 29 bytes (`Sun, 06 Nov 1994 08:49:37 GMT`); longer ones are not kept.
  public static let maxDateBytes = 64

  /// One transfer in progress; keep it to cancel it.
  public final class Transfer {
    let easy: UnsafeMutableRawPointer
    var body: [UInt8] = []
    fileprivate let maxBytes: Int
    fileprivate var tooLarge = false
    /// The current response's `Date:` value, its request's and its headers' wall-clock ms.
    fileprivate var date: [UInt8] = []
    fileprivate var sentMs: Int64
    fileprivate var headersMs: Int64?
    /// The schemes the current response's `WWW-Authenticate:` headers offer.
    fileprivate var offersBasic = false
    fileprivate var offersDigest = false
    var basicOnly: Bool { offersBasic && !offersDigest }
    var done: (Outcome) -> Void
    fileprivate var sink: ((UnsafeRawBufferPointer) -> Bool)?
    fileprivate var sunk = 0
    /// An RTSP session's handle runs one request after another (`RTSPCheck`): curl keeps the
    /// CSeq, the session id and the digest state on it, so it is not cleaned up between them.
    var keepsHandle = false
    /// The RTSP answer's `Content-Base:`, the base of the SDP's control URLs.
    var contentBase: [UInt8] = []
    /// Interleaved RTP read during an RTSP session (`CURLOPT_INTERLEAVEFUNCTION`).
    var rtp = RTPRun()

    fileprivate init(easy: UnsafeMutableRawPointer, maxBytes: Int,
                     done: @escaping (Outcome) -> Void) {
      self.easy = easy
      self.maxBytes = maxBytes
      self.done = done
      sentMs = Clock.wallMs()
    }

    /// One header line as curl hands it over (with its CRLF). Byte loops, not collection
    /// algorithms: each of those is a specialised copy in the Embedded binary.
    fileprivate func header(_ d: UnsafeMutablePointer<CChar>, _ count: Int) {
      let line = UnsafeRawBufferPointer(start: d, count: count)
      if Self.hasPrefix(line, "HTTP/") {
        // A new response (the answer after a 401): only the last one's body and date count.
        body.removeAll(keepingCapacity: true)
        date.removeAll()
        offersBasic = false
        offersDigest = false
        if let h = headersMs { sentMs = h }
        headersMs = nil
      } else if line[0] == 0x0D || line[0] == 0x0A {
        headersMs = Clock.wallMs()
      } else if Self.hasPrefix(line, "date:") {
        Self.value(line, after: 5, into: &date, max: HTTPClient.maxDateBytes)
      } else if Self.hasPrefix(line, "www-authenticate:") {
        var a = 17
        while a < line.count, line[a] == 0x20 || line[a] == 0x09 { a += 1 }
        let scheme = UnsafeRawBufferPointer(rebasing: line[a...])
        if Self.hasPrefix(scheme, "basic") { offersBasic = true }
        if Self.hasPrefix(scheme, "digest") { offersDigest = true }
      } else if keepsHandle, Self.hasPrefix(line, "content-base:") {
        Self.value(line, after: 13, into: &contentBase, max: 1024)
      }
    }

    /// A header's value, without the spaces around it; left empty when longer than `max`.
    private static func value(_ line: UnsafeRawBufferPointer, after a0: Int,
                              into out: inout [UInt8], max: Int) {
      var a = a0
      var b = line.count
      while a < b, line[a] == 0x20 || line[a] == 0x09 { a += 1 }
      while b > a, line[b - 1] <= 0x20 { b -= 1 }
      out.removeAll()
      if b - a <= max {
        for k in a..<b { out.append(line[k]) }
      }
    }

    /// Whether `line` starts with `p` (ASCII, letters in any case).
    private static func hasPrefix(_ line: UnsafeRawBufferPointer, _ p: StaticString) -> Bool {
      let n = p.utf8CodeUnitCount
      guard line.count >= n else { return false }
      for k in 0..<n where line[k] | 0x20 != p.utf8Start[k] | 0x20 { return false }
      return true
    }
  }

  private let loop: EventLoop
  private let multi: UnsafeMutableRawPointer
  private var transfers: [Transfer] = []
  /// The sockets curl asked to watch (a few per transfer).
  private var watches: [EventLoop.Watch] = []
  private var timer: EventLoop.Timer?
  private static var libraryReady = false

  public init?(loop: EventLoop) {
    if !Self.libraryReady {
      if vigil_curl_global_init() != CURLE_OK { return nil }
      Self.libraryReady = true
    }
    guard let m = curl_multi_init() else { return nil }
    self.loop = loop
    self.multi = m
    let me = Unmanaged.passUnretained(self).toOpaque()
    _ = vigil_curl_multi_setopt_socketfn(m, { _, fd, what, user, _ in
      HTTPClient.owner(user)?.socketChanged(fd, what: what)
      return 0
    }, me)
    _ = vigil_curl_multi_setopt_timerfn(m, { _, timeoutMs, user in
      HTTPClient.owner(user)?.timerChanged(Int64(timeoutMs))
      return 0
    }, me)
  }

  deinit {
    stop()
    curl_multi_cleanup(multi)
  }

  public var active: Int { transfers.count }

  /// Starts a GET; `done` is called once, from the loop, unless the transfer is cancelled.
  @discardableResult
  public func get(_ r: Request, done: @escaping (Outcome) -> Void) -> Transfer? {
    guard let t = transfer(r, protocols: "http,https", done: done) else { return nil }
    if let why = start(t) {
      done(.failed(.other, why))
      return nil
    }
    return t
  }

  /// A transfer set up for `r` (URL, limits, credentials, body and header callbacks), not yet
  /// started; nil, after `done` was told why, when curl refused an option.
  func transfer(_ r: Request, protocols: String, done: @escaping (Outcome) -> Void)
    -> Transfer?
  {
    guard let easy = curl_easy_init() else {
      done(.failed(.other, "curl_easy_init failed"))
      return nil
    }
    let t = Transfer(easy: easy, maxBytes: r.maxBytes, done: done)
    t.sink = r.sink
    let me = Unmanaged.passUnretained(t).toOpaque()
    var rc = vigil_curl_easy_setopt_str(easy, CURLOPT_URL, r.url)
    func set(_ o: CURLoption, _ v: Int) {
      if rc == CURLE_OK { rc = vigil_curl_easy_setopt_long(easy, o, v) }
    }
    func set(_ o: CURLoption, _ v: String) {
      if rc == CURLE_OK { rc = vigil_curl_easy_setopt_str(easy, o, v) }
    }
    // No signals: the loop owns signal handling, and curl's alarm() for DNS timeouts would
    // interrupt it.
    set(CURLOPT_NOSIGNAL, 1)
    set(CURLOPT_PROTOCOLS_STR, protocols)
    set(CURLOPT_USERAGENT, "vigil")
    set(CURLOPT_CONNECTTIMEOUT_MS, Int(r.connectTimeoutMs))
    set(CURLOPT_TIMEOUT_MS, Int(r.totalTimeoutMs))
    // Refused before the body is read when the server announces a larger Content-Length;
    // a chunked body is cut off by the write callback.
    set(CURLOPT_MAXFILESIZE, r.maxBytes)
    if let user = r.username {
      set(CURLOPT_HTTPAUTH, r.basicAuth ? vigil_curlauth_basic_digest() : vigil_curlauth_digest())
      set(CURLOPT_USERNAME, user)
      set(CURLOPT_PASSWORD, r.password ?? "")
    }
    if rc == CURLE_OK {
      rc = vigil_curl_easy_setopt_datafn(easy, CURLOPT_WRITEFUNCTION) { data, size, n, user in
        guard let t = HTTPClient.transfer(user) else { return 0 }
        let count = size * n
        if let sink = t.sink {
          t.sunk += count
          if t.sunk > t.maxBytes {
            t.tooLarge = true
            return 0
          }
          guard let d = data else { return count }
          return sink(UnsafeRawBufferPointer(start: d, count: count)) ? count : 0
        }
        if t.body.count + count > t.maxBytes {
          t.tooLarge = true
          return 0
        }
        if let d = data, count > 0 {
          // One buffer of the announced size, not a doubling series (16 KiB, then 32 KiB for a
          // 20 KB JPEG): fewer large blocks through the heap, and no copies.
          if t.body.capacity == 0 {
            let announced = Int(clamping: vigil_curl_content_length(t.easy))
            if announced > 0 { t.body.reserveCapacity(min(announced, t.maxBytes)) }
          }
          t.body.append(contentsOf: UnsafeRawBufferPointer(start: d, count: count))
        }
        return count
      }
    }
    if rc == CURLE_OK { rc = vigil_curl_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me) }
    if rc == CURLE_OK {
      // Each new status line starts a new response (the 401 before digest authentication):
      // only the last response's body and `Date:` are kept, and nothing else of the headers.
      rc = vigil_curl_easy_setopt_datafn(easy, CURLOPT_HEADERFUNCTION) { data, size, n, user in
        let count = size * n
        if let t = HTTPClient.transfer(user), let d = data, count > 0 { t.header(d, count) }
        return count
      }
    }
    if rc == CURLE_OK { rc = vigil_curl_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, me) }
    if rc != CURLE_OK {
      curl_easy_cleanup(easy)
      done(.failed(.other, Self.describe(rc)))
      return nil
    }
    return t
  }

  /// Runs `t`'s request in the loop; when curl would not take it, releases its handle and
  /// says why (its `done` is not called).
  func start(_ t: Transfer) -> String? {
    t.body.removeAll(keepingCapacity: true)
    t.sunk = 0
    t.tooLarge = false
    t.date.removeAll()
    t.headersMs = nil
    t.sentMs = Clock.wallMs()
    let mrc = curl_multi_add_handle(multi, t.easy)
    if mrc != CURLM_OK {
      curl_easy_cleanup(t.easy)
      return "curl_multi_add_handle: \(mrc.rawValue)"
    }
    transfers.append(t)
    return nil
  }

  /// Releases a kept handle (`keepsHandle`) whose session is over; `cancel` for one running.
  func release(_ t: Transfer) {
    if transfers.contains(where: { $0 === t }) { cancel(t) } else { curl_easy_cleanup(t.easy) }
  }

  /// Ends a transfer without calling its `done`.
  public func cancel(_ t: Transfer?) {
    guard let t = t, transfers.contains(where: { $0 === t }) else { return }
    transfers.removeAll { $0 === t }
    curl_multi_remove_handle(multi, t.easy)
    curl_easy_cleanup(t.easy)
  }

  /// Cancels every transfer and releases the sockets.
  public func stop() {
    for t in transfers { cancel(t) }
    for w in watches { loop.unwatch(w) }
    watches.removeAll()
    loop.cancel(timer)
    timer = nil
  }

  // MARK: curl's callbacks (called from inside curl_multi_* calls)

  private static func owner(_ p: UnsafeMutableRawPointer?) -> HTTPClient? {
    guard let p = p else { return nil }
    return Unmanaged<HTTPClient>.fromOpaque(p).takeUnretainedValue()
  }

  private static func transfer(_ p: UnsafeMutableRawPointer?) -> Transfer? {
    guard let p = p else { return nil }
    return Unmanaged<Transfer>.fromOpaque(p).takeUnretainedValue()
  }

  /// curl wants `fd` watched for `what` (CURL_POLL_IN/OUT/INOUT), or no longer (REMOVE).
  private func socketChanged(_ fd: Int32, what: Int32) {
    if what == CURL_POLL_REMOVE {
      if let i = watches.firstIndex(where: { $0.fd == fd }) { loop.unwatch(watches.remove(at: i)) }
      return
    }
    var events: Int16 = 0
    if what == CURL_POLL_IN || what == CURL_POLL_INOUT { events |= Int16(POLLIN) }
    if what == CURL_POLL_OUT || what == CURL_POLL_INOUT { events |= Int16(POLLOUT) }
    if let w = watches.first(where: { $0.fd == fd }) {
      loop.setEvents(w, events)
    } else {
      watches.append(loop.watch(fd, events: events) { [self] revents in
        var mask: Int32 = 0
        if revents & Int16(POLLIN) != 0 { mask |= CURL_CSELECT_IN }
        if revents & Int16(POLLOUT) != 0 { mask |= CURL_CSELECT_OUT }
        if revents & Int16(POLLERR | POLLHUP) != 0 { mask |= CURL_CSELECT_ERR }
        self.act(fd, mask)
      })
    }
  }

  /// curl wants to be called after `ms` (0: as soon as possible; -1: no timer).
  private func timerChanged(_ ms: Int64) {
    loop.cancel(timer)
    timer = nil
    if ms < 0 { return }
    // Not called from here: curl's callbacks must not re-enter curl_multi_socket_action.
    timer = loop.after(ms: ms) { [self] in
      self.timer = nil
      self.act(-1, 0)  // CURL_SOCKET_TIMEOUT
    }
  }

  // MARK: driving curl

  private func act(_ fd: Int32, _ mask: Int32) {
    var running: Int32 = 0
    let rc = curl_multi_socket_action(multi, fd, mask, &running)
    if rc != CURLM_OK { Log.warning("curl_multi_socket_action: \(rc.rawValue)") }
    finish()
  }

  /// Hands finished transfers to their callers, after curl is done with them.
  private func finish() {
    var finished: [(Transfer, Outcome)] = []
    var left: Int32 = 0
    while let msg = curl_multi_info_read(multi, &left) {
      guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle else { continue }
      let result = vigil_curl_msg_result(msg)
      guard let t = transfers.first(where: { $0.easy == easy }) else { continue }
      let outcome: Outcome
      if result == CURLE_OK {
        var code = 0
        _ = vigil_curl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &code)
        let s = t.date.isEmpty ? -1 : vigil_http_date(String(decoding: t.date, as: UTF8.self))
        outcome = .response(Response(status: code, body: t.body, dateS: s < 0 ? nil : Int64(s),
                                     sentMs: t.sentMs,
                                     headersMs: t.headersMs ?? Clock.wallMs(),
                                     basicOnly: t.basicOnly))
      } else if t.tooLarge || result == CURLE_FILESIZE_EXCEEDED {
        outcome = .failed(.tooLarge, "body larger than \(t.maxBytes) bytes")
      } else {
        outcome = .failed(result == CURLE_OPERATION_TIMEDOUT ? .timedOut : .other,
                          Self.describe(result))
      }
      finished.append((t, outcome))
    }
    for (t, outcome) in finished {
      transfers.removeAll { $0 === t }
      curl_multi_remove_handle(multi, t.easy)
      if !t.keepsHandle { curl_easy_cleanup(t.easy) }
      t.done(outcome)
    }
  }

  static func describe(_ rc: CURLcode) -> String {
    curl_easy_strerror(rc).map { String(cString: $0) } ?? "curl error \(rc.rawValue)"
  }
}
