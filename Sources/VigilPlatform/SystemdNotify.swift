import CVigil

/// systemd's service notifications (sd_notify(3)): one datagram of `KEY=value` lines to the
/// AF_UNIX socket named by `$NOTIFY_SOCKET` (a path, or an abstract name written with a leading
/// `@`). Written here in a few lines rather than linking libsystemd: that would be one more
/// shared library on every board for twenty lines of socket code. Without `$NOTIFY_SOCKET`
/// (a terminal, a test, another init) every call does nothing.
public final class SystemdNotify {
  private let fd: Int32
  private var address = sockaddr_un()
  private var addressLength: socklen_t = 0

  public init() {
    guard let raw = getenv("NOTIFY_SOCKET") else {
      fd = -1
      return
    }
    let path = Array(String(cString: raw).utf8)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    // A path must leave room for its NUL; an abstract name has none.
    guard let first = path.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@"),
      path.count < capacity
    else {
      Log.warning("NOTIFY_SOCKET \"\(String(cString: raw))\" is not a socket path: not notifying")
      fd = -1
      return
    }
    let s = socket(AF_UNIX, vigil_sock_dgram_cloexec(), 0)
    if s < 0 {
      Log.warning("notify socket: \(SystemError("socket", errno: Sys.errno).message)")
      fd = -1
      return
    }
    // A full notify queue must not stall the loop: a lost ping is resent half an interval on.
    try? Sys.setNonBlocking(s)
    fd = s
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { dst in
      for (i, byte) in path.enumerated() { dst[i] = byte }
      if first == UInt8(ascii: "@") { dst[0] = 0 }
    }
    let familySize = MemoryLayout<sa_family_t>.size
    addressLength = socklen_t(familySize + path.count + (first == UInt8(ascii: "@") ? 0 : 1))
  }

  deinit { if fd >= 0 { Sys.close(fd) } }

  /// Whether systemd is listening (the service runs with `Type=notify`).
  public var isActive: Bool { fd >= 0 }

  /// Sends one notification, e.g. `READY=1` or `STATUS=online`; false if it could not be sent.
  @discardableResult
  public func send(_ state: String) -> Bool {
    guard fd >= 0 else { return false }
    let bytes = Array(state.utf8)
    let sent = withUnsafePointer(to: address) { ptr in
      ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
        bytes.withUnsafeBytes { buf in
          sendto(fd, buf.baseAddress, buf.count, 0, sa, addressLength)
        }
      }
    }
    if sent < 0 {
      Log.debug("notify \(state): \(SystemError("sendto", errno: Sys.errno).message)")
      return false
    }
    return true
  }

  /// `RELOADING=1` with the monotonic time systemd's `notify-reload` type asks for.
  public func reloading() {
    send("RELOADING=1\nMONOTONIC_USEC=\(Clock.monotonicNs() / 1000)")
  }

  /// The watchdog interval systemd set for this process (`WatchdogSec=`), in milliseconds; nil
  /// when there is none, or when `$WATCHDOG_PID` names another process (a wrapper's child).
  public static func watchdogIntervalMs() -> Int64? {
    guard let usecText = getenv("WATCHDOG_USEC") else { return nil }
    guard let usec = Int64(String(cString: usecText)), usec > 0 else {
      Log.warning("WATCHDOG_USEC \"\(String(cString: usecText))\" is not a positive number")
      return nil
    }
    if let pidText = getenv("WATCHDOG_PID") {
      guard let pid = Int32(String(cString: pidText)), pid == getpid() else { return nil }
    }
    return max(1, usec / 1000)
  }
}
