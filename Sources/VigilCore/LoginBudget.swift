/// How often one camera's login may be tried (issue 13), across snapshots and RTSP together.
/// Hikvision and Dahua firmware lock the client's IP out for about 30 minutes after about five
/// failed logins; this keeps far under that. Pure: the caller asks `mayTry` before each login,
/// settles each granted try with `refused`, `succeeded` or `abandoned`, and arms a timer at
/// `nextTryMs` when refused.
///
/// The rules: at most `maxFailures` failed logins in any `windowMs` (any closed interval of that
/// length), whatever the call pattern, because a granted try holds its place in the window until
/// it settles, so tries under way count as failures to come. Once a login is refused the camera
/// is `refusing` and tries stop: the next is granted only after a gap (10 min, doubling with each
/// refusal in a row, at most an hour: a wrong password seldom mends itself, and a fix made at the
/// camera is still seen within the hour), one at a time, and only while a place in the window is
/// left over for new credentials. `credentialsChanged` ends the gap, so a corrected password is
/// tried at once; it cannot lift the window, but while refusing the retries leave a place free.
/// A success ends the run of refusals; the failures stay in the window until they leave it.
public struct LoginBudget {
  public static let maxFailures = 3
  public static let windowMs: Int64 = 30 * 60_000
  public static let firstGapMs: Int64 = 10 * 60_000
  public static let maxGapMs: Int64 = 60 * 60_000

  /// Failed logins and tries granted but not settled (`open`); at most `maxFailures`.
  private var slots: [(ms: Int64, open: Bool)] = []
  /// Refusals since the last success or change of credentials (held at 64).
  private var refusals = 0
  private var notBeforeMs = Int64.min

  public init() {}

  /// Whether the last login was refused: the camera's fault is `auth` until a success.
  public var refusing: Bool { refusals > 0 }

  /// While refusing, one place stays free for a try with new credentials.
  private var places: Int { refusing ? Self.maxFailures - 1 : Self.maxFailures }

  /// Whether a login may be tried now; when it may, the try is counted as under way until it
  /// is settled (a try never settled leaves the window like a failure).
  public mutating func mayTry(nowMs: Int64) -> Bool {
    prune(nowMs)
    guard nowMs >= notBeforeMs, slots.count < places else { return false }
    slots.append((nowMs, true))
    // A retry after a refusal goes alone: a second caller waits for the next gap.
    if refusing { notBeforeMs = nowMs.clampedAdd(gapMs) }
    return true
  }

  /// A granted try was refused (401/403 after digest). Returns true for the first refusal of a
  /// run: the moment for the one `camera_auth_failed` event.
  public mutating func refused(nowMs: Int64) -> Bool {
    prune(nowMs)
    if let i = slots.firstIndex(where: { $0.open }) {
      slots.remove(at: i)
    } else if slots.count >= Self.maxFailures, let i = oldest {
      // A login that was not asked for: keep the newest failures, which hold tries back longest.
      slots.remove(at: i)
    }
    slots.append((nowMs, false))
    refusals = min(refusals + 1, 64)
    notBeforeMs = nowMs.clampedAdd(gapMs)
    return refusals == 1
  }

  /// A granted try logged in.
  public mutating func succeeded() {
    settle()
    refusals = 0
    notBeforeMs = Int64.min
  }

  /// A granted try ended with no verdict on the login (a timeout, a refused connection).
  public mutating func abandoned() { settle() }

  /// The camera's username or password changed (SIGHUP, remote config): try again at once.
  public mutating func credentialsChanged() {
    refusals = 0
    notBeforeMs = Int64.min
  }

  /// No try is granted before this time (it may have passed); nil when none is held back.
  public var nextTryMs: Int64? {
    var t: Int64? = notBeforeMs == Int64.min ? nil : notBeforeMs
    let excess = slots.count - places
    if excess >= 0 {
      // The window frees a place when the (excess+1)-th oldest entry leaves it.
      let freed = Self.smallest(excess, of: slots.map { $0.ms }).clampedAdd(Self.windowMs + 1)
      t = max(t ?? freed, freed)
    }
    return t
  }

  /// The gap after the n-th refusal in a row: 10 min × 2^(n-1), at most an hour.
  private var gapMs: Int64 {
    min(Self.maxGapMs, Self.firstGapMs << Int64(min(max(refusals, 1) - 1, 8)))
  }

  /// The (k+1)-th smallest of `ms` (k < ms.count): a selection over at most `maxFailures`
  /// entries rather than a sort, which costs the Embedded binary a merge sort of its own.
  private static func smallest(_ k: Int, of ms: [Int64]) -> Int64 {
    var rest = ms
    var m = Int64.min
    for _ in 0...k {
      guard let i = rest.indices.min(by: { rest[$0] < rest[$1] }) else { break }
      m = rest.remove(at: i)
    }
    return m
  }

  private var oldest: Int? { slots.indices.min { slots[$0].ms < slots[$1].ms } }

  private mutating func settle() {
    if let i = slots.firstIndex(where: { $0.open }) { slots.remove(at: i) }
  }

  /// Drops what has left the window (a time after `nowMs`, the clock set back, stays).
  private mutating func prune(_ nowMs: Int64) {
    slots.removeAll { nowMs > $0.ms.clampedAdd(Self.windowMs) }
  }
}

extension Int64 {
  /// `self + b`, held at the bounds rather than trapping: times fed in may be anything.
  func clampedAdd(_ b: Int64) -> Int64 {
    let (r, over) = addingReportingOverflow(b)
    return over ? (b > 0 ? .max : .min) : r
  }
}
