/// The soonest of several optional deadlines (monotonic ms): what a part's one timer must wake
/// for, when each of its state machines has a `deadlineMs` of its own.
public struct EarliestDeadline {
  /// The soonest deadline considered; nil while none was.
  public private(set) var ms: Int64?

  public init() {}

  /// Keeps `deadlineMs` if it is sooner than every one before it; nil (nothing pending) is
  /// passed over.
  public mutating func consider(_ deadlineMs: Int64?) {
    guard let d = deadlineMs else { return }
    if let m = ms, m <= d { return }
    ms = d
  }
}
