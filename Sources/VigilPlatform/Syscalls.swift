import CVigil

/// A failed system call: which call, on what, and the errno it gave.
public struct SystemError: Error {
  public var call: String
  public var errno: Int32
  public var subject: String

  public init(_ call: String, errno: Int32, subject: String = "") {
    self.call = call
    self.errno = errno
    self.subject = subject
  }

  public var message: String {
    let text = strerror(errno).map { String(cString: $0) } ?? "errno " + String(errno)
    return subject.isEmpty ? call + ": " + text : call + " " + subject + ": " + text
  }
}

/// Each system call wrapped once (swift-system's Syscalls.swift): EINTR retried, the errno
/// returned in a typed error.
public enum Sys {
  public static var errno: Int32 { vigil_errno() }

  /// Retries `body` while it fails with EINTR; returns its result or throws with the errno.
  @inline(__always)
  public static func retrying(_ call: String, subject: String = "", _ body: () -> Int)
    throws(SystemError) -> Int
  {
    while true {
      let r = body()
      if r >= 0 { return r }
      let e = vigil_errno()
      if e == EINTR { continue }
      throw SystemError(call, errno: e, subject: subject)
    }
  }

  public static func open(_ path: String, _ flags: Int32, mode: UInt32 = 0o644) throws(SystemError)
    -> Int32
  {
    let fd = try retrying("open", subject: path) { Int(vigil_open(path, flags, mode)) }
    return Int32(fd)
  }

  public static func close(_ fd: Int32) {
    // close(2) is not retried on EINTR: on Linux the descriptor is gone either way.
    _ = CVigil.close(fd)
  }

  /// Reads what is there; 0 at end of file; nil when it would block.
  public static func read(_ fd: Int32, into buf: UnsafeMutableRawBufferPointer)
    throws(SystemError) -> Int?
  {
    while true {
      let r = CVigil.read(fd, buf.baseAddress, buf.count)
      if r >= 0 { return r }
      let e = vigil_errno()
      if e == EINTR { continue }
      if e == EAGAIN || e == EWOULDBLOCK { return nil }
      throw SystemError("read", errno: e)
    }
  }

  /// Writes what the kernel takes now; nil when it would block.
  public static func write(_ fd: Int32, _ buf: UnsafeRawBufferPointer) throws(SystemError) -> Int? {
    while true {
      let r = CVigil.write(fd, buf.baseAddress, buf.count)
      if r >= 0 { return r }
      let e = vigil_errno()
      if e == EINTR { continue }
      if e == EAGAIN || e == EWOULDBLOCK { return nil }
      throw SystemError("write", errno: e)
    }
  }

  /// Writes all of `bytes` to a blocking descriptor (a file, stderr).
  public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
    var done = 0
    while done < bytes.count {
      let r = bytes.withUnsafeBytes { raw in
        CVigil.write(fd, raw.baseAddress.map { $0 + done }, raw.count - done)
      }
      if r < 0 {
        let e = vigil_errno()
        if e == EINTR { continue }
        throw SystemError("write", errno: e)
      }
      done += r
    }
  }

  /// Writes what `fd` takes at once, never waiting, without setting O_NONBLOCK (which would
  /// change the whole open file description: stderr may share one with stdout, a terminal or
  /// a parent's pipe). Sockets through send(MSG_DONTWAIT), others after a poll(2) that says
  /// there is room; keep `bytes` within PIPE_BUF so that a pipe takes them whole. The count
  /// written; nil when there is no room now.
  public static func writeNow(_ fd: Int32, _ bytes: [UInt8], socket: Bool) throws(SystemError)
    -> Int?
  {
    while true {
      let r = bytes.withUnsafeBytes { raw in
        vigil_write_now(fd, raw.baseAddress, raw.count, socket ? 1 : 0)
      }
      if r >= 0 { return Int(r) }
      let e = vigil_errno()
      if e == EINTR { continue }
      if e == EAGAIN || e == EWOULDBLOCK { return nil }
      throw SystemError(socket ? "send" : "write", errno: e)
    }
  }

  /// Whether `fd` is a socket (journald's stream is one); false if it cannot be told.
  public static func isSocket(_ fd: Int32) -> Bool { vigil_fd_is_socket(fd) == 1 }

  public static func setNonBlocking(_ fd: Int32) throws(SystemError) {
    if vigil_set_nonblock_cloexec(fd) < 0 { throw SystemError("fcntl", errno: vigil_errno()) }
  }

  /// Random bits from the kernel, for jitter.
  public static func random64() -> UInt64 {
    var value: UInt64 = 0
    let n = withUnsafeMutableBytes(of: &value) { raw in getrandom(raw.baseAddress, 8, 0) }
    if n == 8 { return value }
    // getrandom cannot fail after boot with these flags; fall back to the clock all the same.
    return UInt64(bitPattern: Clock.monotonicNs()) &* 0x9E37_79B9_7F4A_7C15
  }
}

/// Clocks: monotonic for scheduling, real time only for stamping messages.
public enum Clock {
  public static func monotonicNs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
  }

  public static func monotonicMs() -> Int64 { monotonicNs() / 1_000_000 }

  /// Unix time in milliseconds, the contract's `ts`.
  public static func wallMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
  }

  /// Whether the kernel says the clock is synchronised (what `timedatectl` shows).
  public static func isSynced() -> Bool { vigil_clock_synced() != 0 }
}

/// The C heap, set up for a process that runs for months. Each snapshot passes through it in
/// blocks of 5 to 33 KiB (curl's handle and buffer, the body, the spool record, a directory
/// read), and in glibc's heap those blocks leave holes that later small objects split: through
/// an outage spooling 8 snapshots a second the process's private dirty memory rose from 1,768
/// to 1,960 KiB over 30 minutes, still creeping at the end, while the live heap stayed flat
/// (heaptrack). With both settings below it stayed within 1,700-1,890 KiB over 23 minutes; what
/// rise was left came from the log's ring of Strings, since replaced (see `Log`).
public enum Heap {
  /// Blocks of 8 KiB and more are mapped on their own and unmapped when freed, so the heap holds
  /// only small objects. Costs a mmap and a munmap per large block: a handful per snapshot.
  public static let ownMappingFrom: Int32 = 8 * 1024

  /// Call once, before anything allocates much.
  public static func configure() { _ = mallopt(M_MMAP_THRESHOLD, ownMappingFrom) }

  /// Returns the heap's whole free pages to the kernel (`malloc_trim(0)`).
  public static func giveBackFreePages() { _ = malloc_trim(0) }
}
