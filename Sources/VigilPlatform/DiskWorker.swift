import CVigil

/// The spool's disk work off the loop: durable writes and removals run on a thread of their own
/// (Sources/CVigil/disk_worker.c), in the order submitted, and the loop learns of each one's end
/// through an eventfd. An fsync on an SD card takes milliseconds, and so can an unlink on an
/// ext4 mounted with `discard`; done on the loop, a burst of them held a GPIO event back by
/// tens of milliseconds. Writes that wait together share one fsync of the folder.
public final class DiskWorker {
  public enum Op: Equatable { case write, unlink }

  /// A finished job: its tag, what it was, and 0 or the errno of the step that failed.
  public struct Done: Equatable {
    public let tag: UInt64
    public let op: Op
    public let errno: Int32
  }

  private let handle: OpaquePointer
  private var watch: EventLoop.Watch?
  private var loop: EventLoop?
  private var stopped = false
  private var results = [vigil_disk_result](repeating: vigil_disk_result(), count: 64)
  /// At most this many jobs wait or are finished and unread: submissions past it are refused
  /// (the caller does the work itself, or later).
  public let capacity: Int

  /// For files in the open folder `directoryFD` (which must stay open while this lives).
  /// `maxBytes`: copies of writes held at most (waiting, being written, or finished and unread;
  /// one write always goes): a card that stalls cannot fill the memory with snapshots.
  public init(directoryFD: Int32, capacity: Int = 256, maxBytes: Int = 128 * 1024,
              mode: UInt32 = 0o640) throws(SystemError)
  {
    let cap = UInt32(clamping: max(1, capacity))
    guard let h = vigil_disk_start(directoryFD, cap, max(0, maxBytes), mode) else {
      throw SystemError("pthread_create", errno: Sys.errno, subject: "spool disk thread")
    }
    handle = h
    self.capacity = Int(cap)
  }

  /// Calls `handler` on the loop's thread for every finished job, oldest first. The loop then
  /// holds this worker until `close()`.
  public func attach(to loop: EventLoop, _ handler: @escaping (Done) -> Void) {
    self.loop = loop
    watch = loop.watch(vigil_disk_fd(handle), events: Int16(POLLIN)) { [self] _ in
      for d in self.collect() { handler(d) }
    }
  }

  /// Queues a durable write of `bytes` to `name`; false when `capacity` jobs or `maxBytes` of
  /// copies wait.
  public func write(_ name: String, _ bytes: [UInt8], tag: UInt64) -> Bool {
    if stopped { return false }
    return bytes.withUnsafeBufferPointer { b in
      vigil_disk_write(handle, name, b.baseAddress, b.count, tag) == 0
    }
  }

  /// Queues the removal of `name`; false when `capacity` jobs wait.
  public func unlink(_ name: String, tag: UInt64) -> Bool {
    if stopped { return false }
    return vigil_disk_unlink(handle, name, tag) == 0
  }

  /// Jobs submitted and not finished.
  public var pending: Int { stopped ? 0 : Int(vigil_disk_pending(handle)) }
  /// Batches run so far: writes that waited together share one.
  public var batches: UInt64 { stopped ? 0 : vigil_disk_batches(handle) }

  /// What has finished since the last call, oldest first (without waiting).
  public func collect() -> [Done] {
    var out: [Done] = []
    if stopped { return out }
    while true {
      let n = results.withUnsafeMutableBufferPointer { b in
        vigil_disk_results(handle, b.baseAddress, Int32(b.count))
      }
      if n <= 0 { break }
      for r in results[0..<Int(n)] {
        out.append(Done(tag: r.tag, op: r.op == Int32(VIGIL_DISK_WRITE) ? .write : .unlink,
                        errno: r.error))
      }
      if Int(n) < results.count { break }
    }
    return out
  }

  /// Waits (polling its eventfd) until everything submitted has finished, at most `timeoutMs`;
  /// what finished. For a clean stop and for tests; never called from a loop turn.
  public func finish(timeoutMs: Int32 = 10_000) -> [Done] {
    var out = collect()
    var waited: Int32 = 0
    while pending > 0 && waited < timeoutMs {
      var p = pollfd(fd: vigil_disk_fd(handle), events: Int16(POLLIN), revents: 0)
      _ = poll(&p, 1, 50)
      waited += 50
      out += collect()
    }
    return out + collect()
  }

  /// Finishes every job submitted (their results are not read), ends the thread and leaves
  /// the loop. Nothing may be submitted after it.
  public func close() {
    if stopped { return }
    stopped = true
    if let w = watch { loop?.unwatch(w) }
    watch = nil
    loop = nil
    vigil_disk_stop(handle)
  }

  deinit { close() }
}
