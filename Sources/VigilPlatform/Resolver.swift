import CAres
import CVigil

/// One host-name lookup through c-ares, driven by the event loop: its sockets are polled with
/// the others and its retries run on a loop timer, so a name server that never answers delays
/// only this lookup, never a GPIO event. `getaddrinfo` (what libmosquitto calls when given a
/// name) blocks the thread for ~10 s per unreachable name server, per attempt.
/// Each lookup has its own c-ares channel: /etc/resolv.conf and /etc/hosts are read anew each
/// time (a modem's DHCP may have changed the name servers since), and destroying the channel
/// ends whatever is still outstanding.
public final class Resolver {
  public enum Outcome {
    /// The address to connect to, numeric (`192.0.2.7`, `2001:db8::7`).
    case address(String)
    case failed(String)
  }

  /// How long each query waits for an answer before c-ares tries again (its default is 5 s,
  /// doubled on each try: 75 s for one silent server), and how many tries per name server. The
  /// caller's deadline bounds the whole lookup anyway.
  public static let queryTimeoutMs: Int32 = 3000
  public static let queryTries: Int32 = 2

  private let loop: EventLoop
  public let host: String
  private var channel: OpaquePointer?
  private var watches: [EventLoop.Watch] = []
  private var retryTimer: EventLoop.Timer?
  private var deadline: EventLoop.Timer?
  private var done: ((Outcome) -> Void)?
  /// Set by the c-ares callback, delivered once the call into c-ares has returned.
  private var outcome: Outcome?

  private static var libraryReady = false

  public init(loop: EventLoop, host: String) {
    self.loop = loop
    self.host = host
  }

  /// Whether `host` is an IPv4 or IPv6 address, which needs no lookup.
  public static func isNumeric(_ host: String) -> Bool {
    var buf = (UInt64(0), UInt64(0))
    return withUnsafeMutableBytes(of: &buf) { raw in
      inet_pton(AF_INET, host, raw.baseAddress) == 1
        || inet_pton(AF_INET6, host, raw.baseAddress) == 1
    }
  }

  /// Starts the lookup; `done` is called once, from the loop (never from inside this call),
  /// with the first IPv4 address, else the first IPv6 one, or why there is none. A lookup not
  /// answered within `timeoutMs` fails. `cancel()` ends it with no call.
  public func start(timeoutMs: Int64, _ done: @escaping (Outcome) -> Void) {
    guard channel == nil, self.done == nil else { return }
    self.done = done
    if !Self.libraryReady {
      let rc = vigil_ares_library_init()
      if rc != ARES_SUCCESS {
        finishSoon(.failed(Self.describe(rc)))
        return
      }
      Self.libraryReady = true
    }
    var options = ares_options()
    options.timeout = Self.queryTimeoutMs
    options.tries = Self.queryTries
    var ch: OpaquePointer?
    let rc = ares_init_options(&ch, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES)
    guard rc == ARES_SUCCESS, let c = ch else {
      finishSoon(.failed("resolver set-up: " + Self.describe(rc)))
      return
    }
    channel = c
    deadline = loop.after(ms: timeoutMs) {
      self.finish(.failed("no answer from the name servers within " + String(timeoutMs / 1000)
        + " s"))
    }
    var hints = ares_addrinfo_hints()
    hints.ai_family = AF_UNSPEC
    let me = Unmanaged.passUnretained(self).toOpaque()
    ares_getaddrinfo(c, host, nil, &hints, { arg, status, _, result in
      // Called with ARES_EDESTRUCTION from ares_destroy in finish(): the owner is on its way
      // out then, so it is not touched.
      if status != ARES_EDESTRUCTION, let arg = arg {
        Unmanaged<Resolver>.fromOpaque(arg).takeUnretainedValue().answered(status, result)
      }
      if let r = result { ares_freeaddrinfo(r) }
    }, me)
    // An answer from /etc/hosts, or an error, comes inside ares_getaddrinfo: deliver it from
    // the loop, so the caller is not re-entered.
    if let o = outcome {
      finishSoon(o)
    } else {
      settle()
    }
  }

  /// Ends the lookup; `done` is not called.
  public func cancel() {
    done = nil
    teardown()
  }

  deinit { teardown() }

  // MARK: c-ares

  private func answered(_ status: Int32, _ result: UnsafeMutablePointer<ares_addrinfo>?) {
    guard outcome == nil else { return }
    if status != ARES_SUCCESS {
      outcome = .failed(Self.describe(status))
      return
    }
    var v4: String?
    var v6: String?
    var node = result?.pointee.nodes
    while let n = node {
      if let sa = n.pointee.ai_addr {
        if n.pointee.ai_family == AF_INET, v4 == nil {
          v4 = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
            var a = p.pointee.sin_addr
            return Self.text(AF_INET, &a)
          }
        } else if n.pointee.ai_family == AF_INET6, v6 == nil {
          v6 = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
            var a = p.pointee.sin6_addr
            return Self.text(AF_INET6, &a)
          }
        }
      }
      node = n.pointee.ai_next
    }
    if let a = v4 ?? v6 {
      outcome = .address(a)
    } else {
      outcome = .failed("no address for " + host)
    }
  }

  private static func text(_ family: Int32, _ addr: UnsafeRawPointer) -> String? {
    var buf = [CChar](repeating: 0, count: 64)
    let ok = buf.withUnsafeMutableBufferPointer { b in
      inet_ntop(family, addr, b.baseAddress, socklen_t(b.count)) != nil
    }
    guard ok else { return nil }
    return buf.withUnsafeBufferPointer { b in b.baseAddress.map { String(cString: $0) } }
  }

  /// After each call into c-ares: deliver an answer, or poll the sockets it now uses and wake
  /// it when its next query times out.
  private func settle() {
    if let o = outcome {
      finish(o)
      return
    }
    guard let c = channel else { return }
    for w in watches { loop.unwatch(w) }
    watches.removeAll()
    var socks = [ares_socket_t](repeating: ARES_SOCKET_BAD, count: Int(ARES_GETSOCK_MAXNUM))
    let bits = socks.withUnsafeMutableBufferPointer { b in
      ares_getsock(c, b.baseAddress, Int32(b.count))
    }
    for (i, fd) in socks.enumerated() {
      let readable = bits & (1 << Int32(i)) != 0
      let writable = bits & (1 << (Int32(i) + ARES_GETSOCK_MAXNUM)) != 0
      if !readable && !writable { continue }
      let events = (readable ? Int16(POLLIN) : 0) | (writable ? Int16(POLLOUT) : 0)
      watches.append(loop.watch(fd, events: events) { revents in self.ready(fd, revents) })
    }
    loop.cancel(retryTimer)
    retryTimer = nil
    var tv = timeval()
    if let next = ares_timeout(c, nil, &tv) {
      let ms = Int64(next.pointee.tv_sec) * 1000 + Int64(next.pointee.tv_usec) / 1000 + 1
      retryTimer = loop.after(ms: ms) {
        self.retryTimer = nil
        if let c = self.channel { ares_process_fd(c, ARES_SOCKET_BAD, ARES_SOCKET_BAD) }
        self.settle()
      }
    }
  }

  private func ready(_ fd: Int32, _ revents: Int16) {
    guard let c = channel else { return }
    let readFD = revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 ? fd : ARES_SOCKET_BAD
    let writeFD = revents & Int16(POLLOUT) != 0 ? fd : ARES_SOCKET_BAD
    ares_process_fd(c, readFD, writeFD)
    settle()
  }

  private func finishSoon(_ o: Outcome) {
    outcome = o
    loop.cancel(retryTimer)
    retryTimer = loop.after(ms: 0) { self.finish(o) }
  }

  /// Never called from inside a c-ares callback: ares_destroy must not run there.
  private func finish(_ o: Outcome) {
    let d = done
    done = nil
    teardown()
    d?(o)
  }

  private func teardown() {
    for w in watches { loop.unwatch(w) }
    watches.removeAll()
    loop.cancel(retryTimer)
    retryTimer = nil
    loop.cancel(deadline)
    deadline = nil
    if let c = channel {
      channel = nil
      ares_destroy(c)
    }
  }

  static func describe(_ status: Int32) -> String {
    ares_strerror(status).map { String(cString: $0) } ?? "c-ares error " + String(status)
  }
}
