import CVigil

/// The agent's one thread: a `poll()` loop over registered descriptors, one timerfd for every
/// timer, and a signalfd (OpenWrt's uloop and hostapd's eloop are the models). Handlers run on
/// this thread, one at a time, and must not block: a hung camera must not delay a GPIO event.
public final class EventLoop {
  /// A registered descriptor; keep it to change its events or to remove it.
  public final class Watch {
    public let fd: Int32
    public fileprivate(set) var events: Int16
    fileprivate let handler: (Int16) -> Void
    fileprivate var active = true

    fileprivate init(fd: Int32, events: Int16, handler: @escaping (Int16) -> Void) {
      self.fd = fd
      self.events = events
      self.handler = handler
    }
  }

  /// A scheduled call; keep it to cancel it.
  public final class Timer {
    fileprivate var deadlineNs: Int64
    fileprivate let intervalNs: Int64
    fileprivate let handler: () -> Void
    fileprivate var active = true

    fileprivate init(deadlineNs: Int64, intervalNs: Int64, handler: @escaping () -> Void) {
      self.deadlineNs = deadlineNs
      self.intervalNs = intervalNs
      self.handler = handler
    }

    public var isActive: Bool { active }
  }

  private var watches: [Watch] = []
  private var timers: [Timer] = []
  private let timerFD: Int32
  private let signalFD: Int32
  private var armedNs: Int64 = 0
  private var running = false
  /// Called on this thread for each SIGTERM, SIGINT or SIGHUP received.
  public var onSignal: ((Int32) -> Void)?

  public static let handledSignals: [Int32] = [SIGTERM, SIGINT, SIGHUP]

  public init() throws(SystemError) {
    let tfd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK | TFD_CLOEXEC))
    if tfd < 0 { throw SystemError("timerfd_create", errno: Sys.errno) }
    // Signals are blocked and read from a descriptor, so their handling runs after the kernel's
    // handler has returned, in the loop like any other event.
    var set = sigset_t()
    sigemptyset(&set)
    for s in Self.handledSignals { sigaddset(&set, s) }
    sigaddset(&set, SIGPIPE)
    sigprocmask(SIG_BLOCK, &set, nil)
    sigdelset(&set, SIGPIPE)
    let sfd = signalfd(-1, &set, Int32(SFD_NONBLOCK | SFD_CLOEXEC))
    if sfd < 0 {
      let e = Sys.errno
      Sys.close(tfd)
      throw SystemError("signalfd", errno: e)
    }
    timerFD = tfd
    signalFD = sfd
  }

  deinit {
    Sys.close(timerFD)
    Sys.close(signalFD)
  }

  // MARK: descriptors

  /// Calls `handler` with the returned events whenever `fd` is ready for `events`.
  @discardableResult
  public func watch(_ fd: Int32, events: Int16, _ handler: @escaping (Int16) -> Void) -> Watch {
    let w = Watch(fd: fd, events: events, handler: handler)
    watches.append(w)
    return w
  }

  public func setEvents(_ w: Watch, _ events: Int16) { w.events = events }

  /// Stops watching; the caller still owns and closes the descriptor.
  public func unwatch(_ w: Watch) {
    w.active = false
    watches.removeAll { $0 === w }
  }

  // MARK: timers

  /// Calls `handler` once after `ms` milliseconds.
  @discardableResult
  public func after(ms: Int64, _ handler: @escaping () -> Void) -> Timer {
    add(Timer(deadlineNs: Clock.monotonicNs() + max(0, ms) * 1_000_000, intervalNs: 0,
              handler: handler))
  }

  /// Calls `handler` every `ms` milliseconds, the first time after one interval. Missed ticks
  /// are not made up: a stalled clock fires once, not in a burst.
  @discardableResult
  public func every(ms: Int64, _ handler: @escaping () -> Void) -> Timer {
    let interval = max(1, ms) * 1_000_000
    return add(Timer(deadlineNs: Clock.monotonicNs() + interval, intervalNs: interval,
                     handler: handler))
  }

  public func cancel(_ t: Timer?) {
    guard let t = t else { return }
    t.active = false
    timers.removeAll { $0 === t }
  }

  private func add(_ t: Timer) -> Timer {
    timers.append(t)
    return t
  }

  // MARK: running

  public func stop() { running = false }

  /// Runs until `stop()`. Returns early only on a poll failure, which is a programming error.
  public func run() throws(SystemError) {
    running = true
    let timerWatch = Watch(fd: timerFD, events: Int16(POLLIN)) { _ in
      self.drain(self.timerFD, bytes: 8)
      self.fireDueTimers()
    }
    let signalWatch = Watch(fd: signalFD, events: Int16(POLLIN)) { _ in
      self.readSignals()
    }
    var fds: [pollfd] = []
    var order: [Watch] = []
    while running {
      armTimerFD()
      fds.removeAll(keepingCapacity: true)
      order.removeAll(keepingCapacity: true)
      for w in [timerWatch, signalWatch] + watches where w.active {
        fds.append(pollfd(fd: w.fd, events: w.events, revents: 0))
        order.append(w)
      }
      let n = fds.withUnsafeMutableBufferPointer { buf in
        poll(buf.baseAddress, nfds_t(buf.count), -1)
      }
      if n < 0 {
        let e = Sys.errno
        if e == EINTR { continue }
        throw SystemError("poll", errno: e)
      }
      for (i, pfd) in fds.enumerated() where pfd.revents != 0 {
        let w = order[i]
        // A handler earlier in this round may have removed this one.
        if w.active { w.handler(pfd.revents) }
        if !running { break }
      }
    }
  }

  private func fireDueTimers() {
    let now = Clock.monotonicNs()
    let due = timers.filter { $0.deadlineNs <= now }
    for t in due where t.active {
      if t.intervalNs > 0 {
        t.deadlineNs += t.intervalNs
        if t.deadlineNs <= now { t.deadlineNs = now + t.intervalNs }
      } else {
        t.active = false
        timers.removeAll { $0 === t }
      }
      t.handler()
    }
  }

  /// Arms the one timerfd for the earliest deadline (absolute, on CLOCK_MONOTONIC).
  private func armTimerFD() {
    var earliest: Int64 = 0
    for t in timers where earliest == 0 || t.deadlineNs < earliest { earliest = t.deadlineNs }
    if earliest == armedNs { return }
    armedNs = earliest
    var spec = itimerspec()
    if earliest > 0 {
      spec.it_value.tv_sec = time_t(earliest / 1_000_000_000)
      spec.it_value.tv_nsec = Int(earliest % 1_000_000_000)
    }
    timerfd_settime(timerFD, Int32(TFD_TIMER_ABSTIME), &spec, nil)
  }

  private func readSignals() {
    var info = signalfd_siginfo()
    while true {
      let n = withUnsafeMutableBytes(of: &info) { raw in CVigil.read(signalFD, raw.baseAddress, raw.count) }
      if n != MemoryLayout<signalfd_siginfo>.size { return }
      onSignal?(Int32(info.ssi_signo))
    }
  }

  private func drain(_ fd: Int32, bytes: Int) {
    var buf: UInt64 = 0
    _ = withUnsafeMutableBytes(of: &buf) { raw in CVigil.read(fd, raw.baseAddress, min(bytes, 8)) }
  }
}
