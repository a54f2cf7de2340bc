import CVigil

/// A serial terminal line served from the event loop: `/dev/ttyS0`, `/dev/ttyAMA0`, a USB
/// adapter (`/dev/ttyUSB0`), a USB gadget (`/dev/ttyGS0`), or a pseudo-terminal. Opened raw 8N1
/// at the configured rate with no flow control. A device that is missing or goes away (a USB
/// adapter pulled out gives EIO or a hangup) is closed and tried again every `retryMs`: the
/// agent never stops for it. Output is queued up to `outputLimit` bytes and written as the
/// device takes it, so a line nobody reads (a gadget with no host, a stalled terminal) never
/// blocks the loop; what does not fit is dropped and a marker says how much.
public final class SerialPort {
  public let device: String
  public let baud: Int
  /// The device was opened and configured.
  public var onOpen: (() -> Void)?
  /// Bytes arrived.
  public var onBytes: (([UInt8]) -> Void)?
  /// The device went away (the reason, for the log); a retry is scheduled.
  public var onClose: ((String) -> Void)?

  public private(set) var isOpen = false
  /// Why the device is not open, or "" when it is.
  public private(set) var problem = "not started"

  /// Output bytes waiting for the device at most; more is dropped (a terminal's screenful or
  /// two are 4 KiB, so this holds many answers when a slow line falls behind).
  public static let outputLimit = 32 * 1024
  /// A missing device is looked for again this often.
  public static let retryMs: Int64 = 3000
  /// Bytes read in one turn of the loop at most, so a flood on the line cannot starve the
  /// other descriptors.
  static let readBudget = 16 * 1024

  private let loop: EventLoop
  private var fd: Int32 = -1
  private var watch: EventLoop.Watch?
  private var retryTimer: EventLoop.Timer?
  private var queue: [UInt8] = []
  private var queueHead = 0
  private var droppedBytes = 0
  private var loggedProblem = ""
  private var running = false

  public init(loop: EventLoop, device: String, baud: Int) {
    self.loop = loop
    self.device = device
    self.baud = baud
  }

  /// Opens the device now, or keeps trying.
  public func start() {
    running = true
    tryOpen()
  }

  /// Closes the device and stops trying.
  public func stop() {
    running = false
    loop.cancel(retryTimer)
    retryTimer = nil
    closeDevice()
    onOpen = nil
    onBytes = nil
    onClose = nil
  }

  // MARK: output

  /// Queues `bytes` for the device; dropped at once when the device is not open.
  public func write(_ bytes: [UInt8]) {
    guard isOpen, !bytes.isEmpty else { return }
    if pendingCount + bytes.count > Self.outputLimit {
      droppedBytes += bytes.count
    } else {
      addDropMarker()
      queue += bytes
    }
    flush()
  }

  /// Bytes queued and not yet taken by the device.
  public var pendingCount: Int { queue.count - queueHead }

  private func addDropMarker() {
    guard droppedBytes > 0 else { return }
    // The marker may overshoot the limit by its own length: it must be seen.
    queue += Array(("\r\n[console: " + String(droppedBytes) + " bytes of output dropped]\r\n").utf8)
    droppedBytes = 0
  }

  private func flush() {
    guard isOpen else { return }
    while pendingCount > 0 {
      let head = queueHead
      let count = pendingCount
      let r = queue.withUnsafeBytes { raw in
        raw.baseAddress.map { CVigil.write(fd, $0 + head, count) } ?? 0
      }
      if r < 0 {
        let e = Sys.errno
        if e == EINTR { continue }
        if e == EAGAIN || e == EWOULDBLOCK { break }
        lost(SystemError("write", errno: e).message)
        return
      }
      if r == 0 { break }
      queueHead += r
      if pendingCount == 0 {
        queue.removeAll(keepingCapacity: true)
        queueHead = 0
        // Everything before the gap is out: now say what fell into it.
        addDropMarker()
      }
    }
    if queueHead > 4096 && queueHead * 2 > queue.count {
      queue.removeFirst(queueHead)
      queueHead = 0
    }
    if let w = watch {
      loop.setEvents(w, Int16(POLLIN) | (pendingCount > 0 ? Int16(POLLOUT) : 0))
    }
  }

  // MARK: the device

  private func tryOpen() {
    retryTimer = nil
    guard running, !isOpen else { return }
    let opened: Int32
    do {
      opened = try Sys.open(device, O_RDWR | O_NOCTTY | O_NONBLOCK)
    } catch {
      notOpen(error.message)
      return
    }
    // Raw 8N1 at the configured rate, no flow control: a three-wire cable has no RTS/CTS, and
    // XON/XOFF would let line noise stop the output.
    if vigil_tty_raw(opened, UInt32(baud)) < 0 {
      let e = SystemError("tcsetattr", errno: Sys.errno, subject: device)
      Sys.close(opened)
      notOpen(e.message)
      return
    }
    // What arrived before (noise from the cable being plugged in) is not for the new session.
    tcflush(opened, TCIFLUSH)
    fd = opened
    isOpen = true
    problem = ""
    loggedProblem = ""
    watch = loop.watch(fd, events: Int16(POLLIN)) { [self] revents in self.ready(revents) }
    Log.notice("console: " + device + " open at " + String(baud) + " 8N1")
    onOpen?()
  }

  private func notOpen(_ why: String) {
    problem = why
    // Said once per cause, not every few seconds while the adapter is out.
    if why != loggedProblem {
      Log.warning("console: " + why + "; trying again every " + String(Self.retryMs / 1000) + " s")
      loggedProblem = why
    } else {
      Log.debug("console: " + why)
    }
    scheduleRetry()
  }

  private func scheduleRetry() {
    guard running, retryTimer == nil else { return }
    retryTimer = loop.after(ms: Self.retryMs) { [self] in self.tryOpen() }
  }

  private func ready(_ revents: Int16) {
    let hangup = revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0
    if revents & Int16(POLLIN) != 0 || hangup { readAvailable() }
    if !isOpen { return }
    // A hangup that left nothing to read (or a descriptor gone bad) would wake poll at once
    // forever: close, and look for the device again.
    if hangup {
      lost("hangup")
      return
    }
    if revents & Int16(POLLOUT) != 0 { flush() }
  }

  private func readAvailable() {
    var buf = [UInt8](repeating: 0, count: 4096)
    var total = 0
    while isOpen && total < Self.readBudget {
      let r = buf.withUnsafeMutableBytes { raw in CVigil.read(fd, raw.baseAddress, raw.count) }
      if r < 0 {
        let e = Sys.errno
        if e == EINTR { continue }
        if e == EAGAIN || e == EWOULDBLOCK { return }
        // EIO: the adapter was unplugged, or the other end of a pseudo-terminal closed.
        lost(SystemError("read", errno: e).message)
        return
      }
      if r == 0 {
        lost("hangup")
        return
      }
      total += r
      onBytes?(Array(buf[0..<r]))
    }
  }

  /// The device went away: close it, tell the owner, look for it again.
  private func lost(_ why: String) {
    guard isOpen else { return }
    closeDevice()
    problem = device + " went away (" + why + ")"
    loggedProblem = problem
    Log.warning("console: " + problem + "; trying again every " + String(Self.retryMs / 1000)
      + " s")
    onClose?(why)
    scheduleRetry()
  }

  private func closeDevice() {
    if let w = watch { loop.unwatch(w) }
    watch = nil
    if fd >= 0 { Sys.close(fd) }
    fd = -1
    isOpen = false
    queue.removeAll()
    queueHead = 0
    droppedBytes = 0
  }
}
