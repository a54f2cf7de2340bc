/// When and where the uplink tries next: the brokers in order, with capped exponential backoff
/// and full jitter between attempts, so that 1,600 gateways do not all come back in the same
/// second after the centre's broker restarts (AWS Architecture Blog, "Exponential Backoff And
/// Jitter": full jitter spreads best).
/// The cap is 30 s: long enough to spread 1,600 returning gateways (about 53 a second at
/// worst), short enough that a box is back within half a minute of its broker (a 60 s cap
/// kept a gateway away for most of a minute after a 12 s outage).
public struct UplinkSchedule {
  public let brokerCount: Int
  public let baseMs: Int64
  public let capMs: Int64
  /// The window the first retry after a working connection is lost is drawn from. A broker
  /// restart drops every gateway of the district at the same moment: with the first step's
  /// 0-1 s, 1,600 came back within about a second; over 15 s it is about 110 a second, and
  /// one site whose link flickers is back within 15 s (its spool holds what happens meanwhile).
  public let lossSpreadMs: Int64
  /// The broker the next attempt goes to.
  public private(set) var broker: Int = 0
  /// Failed attempts since the last good connection.
  public private(set) var failures: Int = 0

  public init(brokerCount: Int, baseMs: Int64 = 1000, capMs: Int64 = 30_000,
              lossSpreadMs: Int64 = 15_000) {
    self.brokerCount = max(1, brokerCount)
    self.baseMs = baseMs
    self.capMs = capMs
    self.lossSpreadMs = lossSpreadMs
  }

  /// The upper bound of the wait before the next attempt after `failures` failed ones.
  public func ceilingMs(failures: Int) -> Int64 {
    if failures <= 0 { return 0 }
    let shift = min(failures - 1, 40)
    let grown = baseMs << Int64(shift)
    return grown > capMs || grown <= 0 ? capMs : grown
  }

  /// The connection to the current broker works: start from it next time, with no wait.
  public mutating func connected() { failures = 0 }

  /// An attempt failed, or a working connection was lost: move to the next broker and return
  /// how long to wait first, a uniform draw from `0...ceiling` taken from `random` (after a
  /// loss, the ceiling is `lossSpreadMs`, within the cap).
  public mutating func failed(random: UInt64, lostWorkingConnection: Bool = false) -> Int64 {
    let ceiling: Int64
    if lostWorkingConnection {
      // A broker that was working is most likely back soonest: try it again first.
      failures = 1
      ceiling = min(capMs, max(ceilingMs(failures: 1), lossSpreadMs))
    } else {
      failures += 1
      broker = (broker + 1) % brokerCount
      ceiling = ceilingMs(failures: failures)
    }
    return Int64(random % UInt64(max(0, ceiling) + 1))
  }
}
