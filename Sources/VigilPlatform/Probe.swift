import CVigil

/// A camera probe: a non-blocking TCP connect to its port, in the loop, with a timeout. A camera
/// that answers the connect is alive on the network; one that refuses or stays silent is not.
/// Hosts are IP addresses: a name would need a DNS lookup, which blocks.
public final class Probe {
  public struct Result {
    public var ok: Bool
    /// How long the connect took, or how long until it failed.
    public var ms: Int64
    /// `answered in 3 ms`, `connection refused`, `no answer within 3000 ms`.
    public var detail: String
  }

  private let loop: EventLoop
  private var fd: Int32 = -1
  private var watch: EventLoop.Watch?
  private var timer: EventLoop.Timer?
  private var done: ((Result) -> Void)?
  private let startMs: Int64

  /// Starts connecting to `host:port`; `done` is called once, from the loop, within `timeoutMs`
  /// (never from inside this call).
  public init(loop: EventLoop, host: String, port: Int, timeoutMs: Int64,
              _ done: @escaping (Result) -> Void) {
    self.loop = loop
    self.done = done
    startMs = Clock.monotonicMs()
    begin(host, port, timeoutMs)
  }

  /// Whether the result is still to come.
  public var isRunning: Bool { done != nil }

  /// Abandons the probe; `done` is not called.
  public func cancel() {
    done = nil
    cleanup()
  }

  /// A non-blocking socket of `family` and its connect to `address`; nil (already reported)
  /// when no socket could be had.
  private func open<Address>(_ family: Int32, _ address: inout Address) -> Int32? {
    fd = socket(family, vigil_sock_stream_nonblock(), 0)
    if fd < 0 {
      finishSoon(false, "socket: " + Self.text(Sys.errno))
      return nil
    }
    return withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<Address>.size))
      }
    }
  }

  private func begin(_ host: String, _ port: Int, _ timeoutMs: Int64) {
    var v4 = sockaddr_in()
    var v6 = sockaddr_in6()
    let rc: Int32
    if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
      v4.sin_family = sa_family_t(AF_INET)
      v4.sin_port = UInt16(port).bigEndian
      guard let r = open(AF_INET, &v4) else { return }
      rc = r
    } else if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
      v6.sin6_family = sa_family_t(AF_INET6)
      v6.sin6_port = UInt16(port).bigEndian
      guard let r = open(AF_INET6, &v6) else { return }
      rc = r
    } else {
      return finishSoon(false, "host \"" + host + "\" is not an IP address (no DNS in the loop)")
    }
    if rc == 0 { return finishSoon(true, "") }
    let e = Sys.errno
    if e != EINPROGRESS && e != EINTR { return finishSoon(false, Self.text(e)) }
    watch = loop.watch(fd, events: Int16(POLLOUT)) { [self] _ in self.connected() }
    timer = loop.after(ms: timeoutMs) { [self] in
      self.finish(false, "no answer within " + String(timeoutMs) + " ms")
    }
  }

  private func connected() {
    var err: Int32 = 0
    var len = socklen_t(MemoryLayout<Int32>.size)
    if getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 { err = Sys.errno }
    if err == 0 { finish(true, "") } else { finish(false, Self.text(err)) }
  }

  private func finishSoon(_ ok: Bool, _ detail: String) {
    timer = loop.after(ms: 0) { [self] in self.finish(ok, detail) }
  }

  private func finish(_ ok: Bool, _ detail: String) {
    cleanup()
    guard let d = done else { return }
    done = nil
    let ms = Clock.monotonicMs() - startMs
    d(Result(ok: ok, ms: ms, detail: ok ? "answered in " + String(ms) + " ms" : detail))
  }

  private func cleanup() {
    if let w = watch { loop.unwatch(w) }
    watch = nil
    loop.cancel(timer)
    timer = nil
    if fd >= 0 { Sys.close(fd) }
    fd = -1
  }

  static func text(_ errno: Int32) -> String {
    strerror(errno).map { String(cString: $0) } ?? "errno " + String(errno)
  }
}
