import CMicroHTTPD
import CVigil
import VigilPlatform

/// A small HTTP server on libmicrohttpd, driven from the project's `EventLoop`: the daemon has
/// no thread of its own (`MHD_USE_EPOLL`), its one epoll descriptor is watched by the loop,
/// and `MHD_run` is called when it is readable and when `MHD_get_timeout` asks (connection
/// timeouts, and connections MHD has left ready to go on with). So requests are answered on
/// the loop's thread, between MQTT messages, and the model needs no lock. GET and HEAD only.
final class HTTPServer {
  struct Response {
    var status: UInt32
    var contentType: String
    var body: [UInt8]
    var headers: [(String, String)] = []

    static func text(_ status: UInt32, _ s: String) -> Response {
      Response(status: status, contentType: "text/plain; charset=utf-8",
               body: Array((s + "\n").utf8))
    }
  }

  struct StartError: Error {
    let message: String
  }

  private let loop: EventLoop
  private let handler: (String) -> Response
  private var daemon: OpaquePointer?
  private var watch: EventLoop.Watch?
  private var timer: EventLoop.Timer?

  /// `handler` gets the path (MHD has taken the query string off and unescaped it).
  init(loop: EventLoop, handler: @escaping (String) -> Response) {
    self.loop = loop
    self.handler = handler
  }

  deinit { stop() }

  /// Listens on `address` (IPv4, `a.b.c.d`) and `port`.
  func start(address: String, port: UInt16) throws(StartError) {
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    sa.sin_port = port.bigEndian
    guard inet_pton(AF_INET, address, &sa.sin_addr) == 1 else {
      throw StartError(message: "\(address) is not an IPv4 address")
    }
    let me = Unmanaged.passUnretained(self).toOpaque()
    let d = withUnsafePointer(to: &sa) { p in
      p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
        vigil_mhd_start(sp, 256, 30, { cls, connection, url, method, _, _, uploadSize, _ in
          guard let cls = cls, let connection = connection else { return .NO }
          let server = Unmanaged<HTTPServer>.fromOpaque(cls).takeUnretainedValue()
          let m = method.map { String(cString: $0) } ?? ""
          let path = url.map { String(cString: $0) } ?? "/"
          // A body is not read: no route takes one.
          if let n = uploadSize, n.pointee != 0 { n.pointee = 0 }
          let r: Response
          if m == "GET" || m == "HEAD" {
            r = server.handler(path)
          } else {
            var refused = Response.text(405, "only GET and HEAD")
            refused.headers.append(("Allow", "GET, HEAD"))
            r = refused
          }
          return HTTPServer.queue(connection, r)
        }, me)
      }
    }
    guard let daemon = d else {
      throw StartError(message: "cannot listen on \(address):\(port): "
        + (strerror(Sys.errno).map { String(cString: $0) } ?? "error"))
    }
    self.daemon = daemon
    let fd = vigil_mhd_epoll_fd(daemon)
    guard fd >= 0 else {
      stop()
      throw StartError(message: "libmicrohttpd gave no epoll descriptor")
    }
    watch = loop.watch(fd, events: Int16(POLLIN)) { _ in self.run() }
    run()
  }

  func stop() {
    if let w = watch { loop.unwatch(w) }
    watch = nil
    loop.cancel(timer)
    timer = nil
    if let d = daemon { MHD_stop_daemon(d) }
    daemon = nil
  }

  /// One round of MHD's work, then a timer for when it wants the next without a new event.
  private func run() {
    guard let d = daemon else { return }
    _ = MHD_run(d)
    loop.cancel(timer)
    timer = nil
    var ms: CUnsignedLongLong = 0
    if MHD_get_timeout(d, &ms) == .YES {
      let wait = Int64(clamping: min(ms, 60_000))
      timer = loop.after(ms: wait) { self.run() }
    }
  }

  private static func queue(_ connection: OpaquePointer, _ r: Response) -> MHD_Result {
    let response = r.body.withUnsafeBytes { raw -> OpaquePointer? in
      MHD_create_response_from_buffer(raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress),
                                      .RESPMEM_MUST_COPY)
    }
    guard let resp = response else { return .NO }
    defer { MHD_destroy_response(resp) }
    _ = MHD_add_response_header(resp, "Content-Type", r.contentType)
    _ = MHD_add_response_header(resp, "Cache-Control", "no-store")
    for (k, v) in r.headers { _ = MHD_add_response_header(resp, k, v) }
    return MHD_queue_response(connection, r.status, resp)
  }
}
