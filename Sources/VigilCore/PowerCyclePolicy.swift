/// When to power-cycle a hung camera through its relay (DESIGN.md, "Power-cycle policy"). Pure:
/// the caller reports each probe round and calls `tick` at `deadlineMs`; the policy answers
/// with what to do.
///
/// Each failed probe of a camera reported `no_link` or `no_video` counts (for `no_video`, a
/// probe round that finds it still without video); at `afterFailures` the relay goes off for
/// `offMs`, then on, and the camera has `bootMs` to answer its probe again: `cycled(recovered:)`.
/// Automatic cycles are limited to `maxPerHour` in any rolling hour, and after a cycle that did
/// not help the next waits (off + boot) × 2^(n-1) for the n-th unhelpful one in a row, capped
/// at an hour. After `giveUpAfter` unhelpful cycles in a row the policy raises the alarm once
/// (`gaveUp`) and stops cycling until the camera answers again. The relay always ends on: every
/// `relayOff` is followed by a `relayOn`. A camera with no relay is only reported.
public struct PowerCyclePolicy {
  public struct Settings: Equatable {
    public var afterFailures: Int
    public var offMs: Int64
    public var bootMs: Int64
    public var maxPerHour: Int
    public var giveUpAfter: Int

    public init(afterFailures: Int, offMs: Int64, bootMs: Int64, maxPerHour: Int,
                giveUpAfter: Int = 3) {
      self.afterFailures = max(1, afterFailures)
      self.offMs = max(0, offMs)
      self.bootMs = max(0, bootMs)
      self.maxPerHour = max(0, maxPerHour)
      self.giveUpAfter = max(1, giveUpAfter)
    }

    public init(_ c: Config.PowerCycle) {
      self.init(afterFailures: c.afterFailures, offMs: Int64(c.offS) * 1000,
                bootMs: Int64(c.bootS) * 1000, maxPerHour: c.maxPerHour)
    }
  }

  public enum Phase: Equatable {
    /// Counting failed probes.
    case watching
    /// The relay is off until `untilMs`.
    case relayOff(untilMs: Int64, manual: Bool)
    /// The relay is on again; the camera has until `untilMs` to answer.
    case booting(untilMs: Int64, manual: Bool)
    /// Cycling did not help: no more automatic cycles until the camera answers again.
    case gaveUp
  }

  public enum Action: Equatable {
    case relayOff
    case relayOn
    /// A cycle ended: whether the camera answered within the boot time.
    case cycled(recovered: Bool, manual: Bool)
    /// Cycling stopped helping after `unhelpful` cycles in a row: the alarm, raised once.
    case gaveUp(unhelpful: Int)
  }

  public var settings: Settings
  public let hasRelay: Bool
  public private(set) var phase: Phase = .watching
  /// Failed probes counted towards the next cycle.
  public private(set) var failures = 0
  /// Cycles since start, automatic and by hand (the heartbeat's `cycles`).
  public private(set) var cycles = 0
  /// Automatic cycles in a row that did not bring the camera back.
  public private(set) var unhelpful = 0
  /// No automatic cycle starts before this time (the backoff after an unhelpful cycle).
  public private(set) var notBeforeMs: Int64 = Int64.min
  /// Start times of the automatic cycles of the last hour.
  private var recentStartsMs: [Int64] = []
  private var offStartMs: Int64 = 0

  public static let hourMs: Int64 = 3_600_000

  public init(settings: Settings, hasRelay: Bool) {
    self.settings = settings
    self.hasRelay = hasRelay
  }

  public var isCycling: Bool {
    switch phase {
    case .relayOff, .booting: return true
    case .watching, .gaveUp: return false
    }
  }

  /// Automatic cycles started in the hour before `nowMs`.
  public func cyclesInLastHour(nowMs: Int64) -> Int {
    recentStartsMs.filter { nowMs - $0 < Self.hourMs }.count
  }

  /// The wait after the n-th unhelpful cycle in a row: (off + boot) × 2^(n-1), at most an hour.
  public func backoffMs(unhelpful n: Int) -> Int64 {
    if n <= 0 { return 0 }
    let base = max(1000, settings.offMs + settings.bootMs)
    let shift = min(n - 1, 20)
    let grown = base << Int64(shift)
    return min(grown, Self.hourMs)
  }

  /// One probe round ended: `answered` is the probe's result, `state` the camera's reported
  /// state after it.
  public mutating func probed(answered: Bool, state: CameraHealth.State, nowMs: Int64) -> [Action] {
    let healthy = answered && state != .noVideo
    switch phase {
    case .relayOff:
      return []
    case .booting(_, let manual):
      guard answered else { return [] }
      phase = .watching
      failures = 0
      unhelpful = 0
      notBeforeMs = Int64.min
      return [.cycled(recovered: true, manual: manual)]
    case .gaveUp:
      if healthy {
        phase = .watching
        failures = 0
        unhelpful = 0
        notBeforeMs = Int64.min
      }
      return []
    case .watching:
      guard !healthy, state == .noLink || state == .noVideo else {
        failures = 0
        if healthy && state == .healthy {
          unhelpful = 0
          notBeforeMs = Int64.min
        }
        return []
      }
      failures += 1
      guard hasRelay, failures >= settings.afterFailures, settings.maxPerHour > 0,
        nowMs >= notBeforeMs, cyclesInLastHour(nowMs: nowMs) < settings.maxPerHour
      else { return [] }
      recentStartsMs = recentStartsMs.filter { nowMs - $0 < Self.hourMs }
      recentStartsMs.append(nowMs)
      return startCycle(manual: false, nowMs: nowMs)
    }
  }

  /// A cycle asked for from the centre (`R/cmd`) counts with the automatic ones in
  /// `maxPerHour`, so that neither can cycle a camera more often than the limit.
  public mutating func countCycle(nowMs: Int64) {
    recentStartsMs = recentStartsMs.filter { nowMs - $0 < Self.hourMs }
    recentStartsMs.append(nowMs)
  }

  /// A technician's `relay CAM cycle`: not limited by `maxPerHour` (someone is there), but
  /// counted in `cycles`. Returns nil when a cycle is already under way or there is no relay.
  public mutating func cycleByHand(nowMs: Int64) -> [Action]? {
    guard hasRelay, !isCycling else { return nil }
    return startCycle(manual: true, nowMs: nowMs)
  }

  /// A technician switched the relay by hand: a cycle under way is abandoned (the relay stays
  /// as they set it) and counting starts again.
  public mutating func relaySetByHand() {
    if isCycling { phase = unhelpful >= settings.giveUpAfter ? .gaveUp : .watching }
    failures = 0
  }

  /// Ends the relay-off time and the boot time; call at `deadlineMs`.
  public mutating func tick(nowMs: Int64) -> [Action] {
    switch phase {
    case .relayOff(let until, let manual) where nowMs >= until:
      phase = .booting(untilMs: nowMs + settings.bootMs, manual: manual)
      return [.relayOn]
    case .booting(let until, let manual) where nowMs >= until:
      phase = .watching
      failures = 0
      var out: [Action] = [.cycled(recovered: false, manual: manual)]
      if manual {
        // A technician's try after the alarm: still given up, and the alarm is not raised again.
        if unhelpful >= settings.giveUpAfter { phase = .gaveUp }
      } else {
        unhelpful += 1
        notBeforeMs = nowMs + backoffMs(unhelpful: unhelpful)
        if unhelpful >= settings.giveUpAfter {
          phase = .gaveUp
          out.append(.gaveUp(unhelpful: unhelpful))
        }
      }
      return out
    default:
      return []
    }
  }

  public var deadlineMs: Int64? {
    switch phase {
    case .relayOff(let until, _), .booting(let until, _): return until
    case .watching, .gaveUp: return nil
    }
  }

  /// How long the relay was (or has been) off in the current or last cycle.
  public var offStartedMs: Int64 { offStartMs }

  private mutating func startCycle(manual: Bool, nowMs: Int64) -> [Action] {
    cycles += 1
    failures = 0
    offStartMs = nowMs
    phase = .relayOff(untilMs: nowMs + settings.offMs, manual: manual)
    return [.relayOff]
  }
}
