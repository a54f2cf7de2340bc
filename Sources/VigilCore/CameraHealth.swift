/// One camera's state from its power line, its probe and its snapshots (DESIGN.md, "camera
/// state"), with the contract's events. Pure: the caller feeds evidence with the time it was
/// seen, and calls `tick` at `deadlineMs`.
///
/// Each kind of evidence is debounced before it counts, so a reported state has held and does
/// not flap: the power line by its `debounce_ms` (done by the caller, `LineDebounce`), a lost
/// link by `linkDownAfter` failed probes in a row (one lost SYN is not a dead camera), lost video
/// by `videoDownAfter` failed snapshots in a row. Losses are reported at once; every return
/// (power, link, video) only once it has held for `holdMs` (`RecoveryHold`).
public struct CameraHealth {
  public enum State: String, Equatable {
    case healthy
    case noPower = "no_power"
    case noLink = "no_link"
    case noVideo = "no_video"
    case unknown
  }

  public struct Tuning: Equatable {
    /// How long a return (power, link, video) must hold before it is reported.
    public var holdMs: Int64 = 2000
    public var linkDownAfter = 2
    public var videoDownAfter = 2
    /// How long a camera may take to boot after its power comes back (`power_cycle.boot_s`):
    /// failed probes in that time are not held against it.
    public var bootMs: Int64 = 120_000
    /// After the relay is switched back on, how long a power line that stays down is still put
    /// down to the relay rather than reported as a power cut.
    public var relaySettleMs: Int64 = 3000

    public init(holdMs: Int64 = 2000, linkDownAfter: Int = 2, videoDownAfter: Int = 2,
                bootMs: Int64 = 120_000, relaySettleMs: Int64 = 3000) {
      self.holdMs = holdMs
      self.linkDownAfter = max(1, linkDownAfter)
      self.videoDownAfter = max(1, videoDownAfter)
      self.bootMs = bootMs
      self.relaySettleMs = relaySettleMs
    }
  }

  public enum Event: Equatable {
    /// The power line went down (or was down at start).
    case powerLost
    /// The power line is back, after `offMs` without.
    case powerRestored(offMs: Int64)
    /// The camera stopped answering its probe: `failures` failed probes in a row.
    case unreachable(failures: Int)
    /// It answers again, after `downMs` reported unreachable.
    case reachable(downMs: Int64)
    /// The reported state changed (for logs and `since_s`).
    case stateChanged(from: State, to: State)
  }

  public var tuning: Tuning
  public let hasPowerLine: Bool
  public private(set) var state: State = .unknown
  public private(set) var sinceMs: Int64
  /// Whether the relay lets power through (always true for a camera with no relay).
  public private(set) var relayOn = true

  private var power: RecoveryHold
  private var link: RecoveryHold
  private var video: RecoveryHold
  private var linkFailures = 0
  /// Each source of video evidence, down on its own count: the snapshots, the stream checks.
  /// The video is down while either is: a camera whose JPEG endpoint answers but whose RTSP
  /// stream sends nothing records nothing at the centre.
  private var snapshots = VideoSource()
  private var streams = VideoSource()
  /// Failed probes before this time are a boot, not a fault.
  private var bootUntilMs: Int64?
  /// The power line went down while the relay was off: our doing, not a power cut.
  private var powerDownByRelay = false
  /// Until when a power line still down after the relay came back on is put down to the relay.
  private var relaySettleUntilMs: Int64?

  public init(tuning: Tuning = Tuning(), hasPowerLine: Bool, nowMs: Int64) {
    self.tuning = tuning
    self.hasPowerLine = hasPowerLine
    sinceMs = nowMs
    power = RecoveryHold(holdMs: tuning.holdMs)
    link = RecoveryHold(holdMs: tuning.holdMs)
    video = RecoveryHold(holdMs: tuning.holdMs)
  }

  // MARK: what the heartbeat shows

  /// `on`, `off` or `unknown`: the power line as reported.
  public var powerWord: String { Self.word(power.reported, "on", "off") }
  /// `up`, `down` or `unknown`: whether the camera answers its probe, as reported.
  public var linkWord: String { Self.word(link.reported, "up", "down") }
  /// Whether the reported link is up (for tests and the snapshot engine).
  public var linkUp: Bool { link.reported == true }
  public var videoReported: Bool? { video.reported }

  static func word(_ b: Bool?, _ yes: String, _ no: String) -> String {
    guard let b = b else { return "unknown" }
    return b ? yes : no
  }

  // MARK: evidence

  /// The debounced level of the camera's power-good line.
  public mutating func powerLine(_ on: Bool, nowMs: Int64) -> [Event] {
    var out: [Event] = []
    if let c = power.update(on, nowMs: nowMs) { powerChanged(c, nowMs, &out) }
    recompute(nowMs, &out)
    return out
  }

  /// The result of one probe (a TCP connect to its port).
  public mutating func probe(ok: Bool, nowMs: Int64) -> [Event] {
    var out: [Event] = []
    if ok {
      linkFailures = 0
      bootUntilMs = nil
      if let c = link.update(true, nowMs: nowMs) { linkChanged(c, &out) }
    } else if countsAgainstLink(nowMs) {
      linkFailures += 1
      if linkFailures >= tuning.linkDownAfter, let c = link.update(false, nowMs: nowMs) {
        linkChanged(c, &out)
      }
    }
    recompute(nowMs, &out)
    return out
  }

  /// The result of one snapshot. Counted only while the camera answers its probe: a snapshot of
  /// a camera that is off or booting says nothing about its video.
  public mutating func snapshot(ok: Bool, nowMs: Int64) -> [Event] {
    snapshots.saw(ok: ok, counts: videoCounts, after: tuning.videoDownAfter)
    return videoEvidence(ok: ok, nowMs: nowMs)
  }

  /// The result of one stream check (RTSP), counted as snapshots are: `videoDownAfter` failed
  /// checks in a row take the video down, one good check brings it back (after the hold).
  public mutating func stream(ok: Bool, nowMs: Int64) -> [Event] {
    streams.saw(ok: ok, counts: videoCounts, after: tuning.videoDownAfter)
    return videoEvidence(ok: ok, nowMs: nowMs)
  }

  /// Video evidence counts only while the camera answers its probe: a camera that is off or
  /// booting says nothing about its video.
  private var videoCounts: Bool { link.reported == true && relayOn && power.reported != false }

  private mutating func videoEvidence(ok: Bool, nowMs: Int64) -> [Event] {
    var out: [Event] = []
    let down = snapshots.down || streams.down
    if ok || down { _ = video.update(!down, nowMs: nowMs) }
    recompute(nowMs, &out)
    return out
  }

  private mutating func forgetVideo() {
    video = RecoveryHold(holdMs: tuning.holdMs)
    snapshots = VideoSource()
    streams = VideoSource()
  }

  /// The relay was switched (by the power-cycle policy or a technician). Off cuts the camera's
  /// power: its state is `no_power` and its failed probes do not count; on starts a boot.
  public mutating func relay(on: Bool, nowMs: Int64) -> [Event] {
    var out: [Event] = []
    relayOn = on
    if on {
      bootUntilMs = nowMs + tuning.bootMs
      linkFailures = 0
      forgetVideo()
      if powerDownByRelay { relaySettleUntilMs = nowMs + tuning.relaySettleMs }
    } else {
      relaySettleUntilMs = nil
    }
    recompute(nowMs, &out)
    return out
  }

  /// The camera may be booting now (the agent has just started, and the cabinet with it):
  /// failed probes within the boot time are not held against it, as after a power return.
  public mutating func mayBeBooting(nowMs: Int64) {
    bootUntilMs = nowMs + tuning.bootMs
  }

  /// Reports returns that have held; call at `deadlineMs`.
  public mutating func tick(nowMs: Int64) -> [Event] {
    var out: [Event] = []
    if let c = power.tick(nowMs: nowMs) { powerChanged(c, nowMs, &out) }
    if let c = link.tick(nowMs: nowMs) { linkChanged(c, &out) }
    _ = video.tick(nowMs: nowMs)
    if let until = relaySettleUntilMs, nowMs >= until {
      relaySettleUntilMs = nil
      if powerDownByRelay && power.reported == false {
        if power.isRecovering {
          // Coming back, but not yet held: look again once it could have.
          relaySettleUntilMs = nowMs + tuning.holdMs
        } else {
          // The relay has been on for a while and the line is still down: a real power cut.
          powerDownByRelay = false
          out.append(.powerLost)
        }
      }
    }
    recompute(nowMs, &out)
    return out
  }

  /// When `tick` next has something to do; nil when nothing is pending.
  public var deadlineMs: Int64? {
    var d: Int64? = nil
    for x in [power.deadlineMs, link.deadlineMs, video.deadlineMs, relaySettleUntilMs] {
      if let x = x, d == nil || x < d! { d = x }
    }
    return d
  }

  // MARK: transitions

  private func countsAgainstLink(_ nowMs: Int64) -> Bool {
    // A camera without power, or with its relay off, cannot answer: not a link fault.
    if !relayOn || power.reported == false { return false }
    if let until = bootUntilMs {
      if nowMs < until { return false }
    }
    return true
  }

  private mutating func powerChanged(_ c: RecoveryHold.Change, _ nowMs: Int64, _ out: inout [Event]) {
    // The first reading, on: the camera was running before we looked.
    if c.from == nil && c.to { return }
    // While the power is off the probe says nothing; once back, the camera boots afresh.
    link = RecoveryHold(holdMs: tuning.holdMs)
    linkFailures = 0
    forgetVideo()
    if !c.to {
      bootUntilMs = nil
      if !relayOn || relaySettleUntilMs != nil {
        powerDownByRelay = true
      } else {
        out.append(.powerLost)
      }
      return
    }
    bootUntilMs = nowMs + tuning.bootMs
    if powerDownByRelay {
      powerDownByRelay = false
    } else {
      out.append(.powerRestored(offMs: c.heldMs))
    }
  }

  private mutating func linkChanged(_ c: RecoveryHold.Change, _ out: inout [Event]) {
    if !c.to {
      out.append(.unreachable(failures: linkFailures))
    } else if c.from == false {
      out.append(.reachable(downMs: c.heldMs))
    }
  }

  private mutating func recompute(_ nowMs: Int64, _ out: inout [Event]) {
    let next: State
    if !relayOn || power.reported == false {
      next = .noPower
    } else {
      switch link.reported {
      case nil: next = .unknown
      case false?: next = .noLink
      case true?: next = video.reported == false ? .noVideo : .healthy
      }
    }
    if next != state {
      out.append(.stateChanged(from: state, to: next))
      state = next
      sinceMs = nowMs
    }
  }
}

/// Failed turns in a row of one source of video evidence, and whether they took it down.
private struct VideoSource {
  var failures = 0
  var down = false

  mutating func saw(ok: Bool, counts: Bool, after: Int) {
    if ok {
      failures = 0
      down = false
    } else if counts {
      failures = min(failures + 1, after)
      if failures >= after { down = true }
    }
  }
}
