/// The dates of HTTP and RTSP `Date:` headers (RFC 9110 §5.6.7), read without Foundation.
public enum HTTPDate {
  /// The Unix time in seconds of a `Date:` value, or nil when it is not one. Takes the
  /// IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, and leniently the obsolete RFC 850
  /// `Sunday, 06-Nov-94 08:49:37 GMT` (a two-digit year below 70 is 20xx) and asctime
  /// `Sun Nov  6 08:49:37 1994`: the weekday is skipped, the day comes before the year, the
  /// zone is GMT, UTC or left out. Anything else (another zone, a bad day, a missing field, a
  /// year of more than 4 digits, more than 64 bytes) is nil.
  public static func unixSeconds(_ text: String) -> Int64? {
    let b = Array(text.utf8)
    guard b.count <= 64 else { return nil }
    var day: Int64?, month: Int64?, year: Int64?, time: Int64?
    var i = 0
    var first = true
    while i < b.count {
      if isSeparator(b[i]) {
        i += 1
        continue
      }
      var j = i
      while j < b.count, !isSeparator(b[j]) { j += 1 }
      let t = b[i..<j]
      i = j
      defer { first = false }
      if let n = number(t) {
        if day == nil {
          guard t.count <= 2 else { return nil }
          day = n
        } else {
          guard year == nil, t.count == 2 || t.count == 4 else { return nil }
          year = t.count == 4 ? n : n < 70 ? 2000 + n : 1900 + n
        }
      } else if t.count == 8, t[t.startIndex + 2] == 0x3A, t[t.startIndex + 5] == 0x3A {
        guard time == nil, let h = number(t.prefix(2)), let m = number(t.dropFirst(3).prefix(2)),
          let s = number(t.suffix(2)), h < 24, m < 60, s <= 60
        else { return nil }
        time = h * 3600 + m * 60 + s
      } else if t.count == 3, let m = monthNumber(t) {
        guard month == nil else { return nil }
        month = m
      } else if word(t, "GMT") || word(t, "UTC") {
        continue
      } else if !(first && t.allSatisfy(isLetter)) {
        return nil
      }
    }
    guard let d = day, let m = month, let y = year, let s = time, d >= 1,
      d <= daysInMonth(m, year: y)
    else { return nil }
    return days(year: y, month: m, day: d) * 86_400 + s
  }

  /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`),
  /// in Int64 so that 32-bit boards do not overflow.
  static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
    return era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
  }

  static func daysInMonth(_ m: Int64, year y: Int64) -> Int64 {
    switch m {
    case 2: return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
  }

  private static func isSeparator(_ c: UInt8) -> Bool {
    c == 0x20 || c == 0x2C || c == 0x2D || c == 0x09
  }

  private static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }

  /// 1 to 4 decimal digits.
  private static func number(_ t: ArraySlice<UInt8>) -> Int64? {
    guard !t.isEmpty, t.count <= 4 else { return nil }
    var n: Int64 = 0
    for c in t {
      guard c >= 0x30, c <= 0x39 else { return nil }
      n = n * 10 + Int64(c - 0x30)
    }
    return n
  }

  /// Whether `t` is `w` (ASCII letters, case aside).
  private static func word(_ t: ArraySlice<UInt8>, _ w: StaticString) -> Bool {
    t.count == w.utf8CodeUnitCount
      && zip(t, UnsafeBufferPointer(start: w.utf8Start, count: t.count)).allSatisfy {
        $0 | 0x20 == $1 | 0x20
      }
  }

  private static func monthNumber(_ t: ArraySlice<UInt8>) -> Int64? {
    let names: [StaticString] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
                                 "Oct", "Nov", "Dec"]
    guard let k = names.firstIndex(where: { word(t, $0) }) else { return nil }
    return Int64(k) + 1
  }
}

/// One camera's clock against the gateway's (issue 13): the heartbeat's `clock_skew_s`, and the
/// one `camera_clock_skew` event. Pure: the caller feeds each answer's `Date:` with the
/// gateway's wall-clock times of the request and the answer, and whether the gateway's own
/// clock is synced (`clock_synced`).
///
/// Skew is camera time minus gateway time. The camera stamps its answer somewhere between the
/// request leaving and the answer arriving, so it is set against the midpoint (off by at most
/// half the round trip: milliseconds on the local segment), and `Date:` has whole seconds cut
/// down, so the camera's time is taken as that second plus half of one. The event is raised
/// when |skew| > 60 s has held for 5 minutes (a camera without an RTC boots in 1970 and sets its
/// clock a minute later: the snapshot taken at power restore must not raise it), and re-armed
/// when |skew| < 30 s. The return raises no event of its own (the heartbeat's `clock_skew_s`
/// shows it; `corrected` is for the log). While the gateway is not synced, nothing is measured:
/// no skew, no event, and a raised event stays raised.
public struct CameraClock {
  public static let raiseMs: Int64 = 60_000
  public static let clearMs: Int64 = 30_000
  public static let holdMs: Int64 = 300_000

  public enum Event: Equatable {
    /// |skew| has passed 60 s and held: the `camera_clock_skew` event.
    case skewed(seconds: Int64)
    /// Back under 30 s: re-armed.
    case corrected(seconds: Int64)
  }

  /// The last skew measured, in ms; nil when none, or while the gateway is not synced.
  public private(set) var skewMs: Int64?
  public private(set) var raised = false
  private var overSinceMs: Int64?

  public init() {}

  /// `clock_skew_s`: the skew rounded to whole seconds.
  public var skewS: Int64? { skewMs.map { ($0 >= 0 ? $0 + 500 : $0 - 500) / 1000 } }

  /// An answer with its `Date:` value (sentMs, receivedMs: the gateway's Unix ms when the
  /// request left and when the answer's headers arrived, not the end of a long body). A value
  /// that is no date changes nothing.
  public mutating func answered(date: String, sentMs: Int64, receivedMs: Int64, synced: Bool)
    -> Event?
  {
    guard let s = HTTPDate.unixSeconds(date) else { return nil }
    return measured(cameraS: s, sentMs: sentMs, receivedMs: receivedMs, synced: synced)
  }

  /// The same, with the camera's time already read (in Unix seconds).
  public mutating func measured(cameraS: Int64, sentMs: Int64, receivedMs: Int64, synced: Bool)
    -> Event?
  {
    guard synced else {
      skewMs = nil
      overSinceMs = nil
      return nil
    }
    // Held within ±2^40 s and ±2^52 ms (tens of thousands of years): nothing here overflows.
    func held(_ x: Int64, _ bound: Int64) -> Int64 { min(bound, max(-bound, x)) }
    let got = held(receivedMs, 1 << 52)
    let skew = held(cameraS, 1 << 40) * 1000 + 500 - (held(sentMs, 1 << 52) / 2 + got / 2)
    skewMs = skew
    let size = skew.magnitude
    let seconds = skewS ?? 0
    if raised {
      guard size < Self.clearMs else { return nil }
      raised = false
      overSinceMs = nil
      return .corrected(seconds: seconds)
    }
    guard size > Self.raiseMs else {
      overSinceMs = nil
      return nil
    }
    let since = overSinceMs ?? got
    overSinceMs = since
    guard got - since >= Self.holdMs else { return nil }
    raised = true
    return .skewed(seconds: seconds)
  }
}
