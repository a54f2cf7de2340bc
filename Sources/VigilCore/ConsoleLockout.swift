/// The console's login record kept on disk (`<spool.dir>/state/console_lockout`), so that
/// neither a restart nor a power cut lifts a lockout or forgets wrong PINs.
///
/// Expiry is kept as the seconds of lockout still to serve, counted down on the monotonic clock
/// while the agent runs and written again every `ConsoleSession.refreshMs`, not as a wall-clock
/// deadline: many boards have no RTC and boot in 1970 or at the last saved time until NTP
/// answers, and a deadline in wall time would then end early or never. The cost is that time
/// spent powered off does not count, and a power cut can add up to one refresh interval: a
/// lockout can only last longer than `lockout_s`, never shorter.
public struct ConsoleLockout: Equatable {
  /// Wrong PINs since the last good one (or the end of the last lockout).
  public var failures: Int
  /// Seconds of lockout still to serve; 0 when not locked.
  public var remainingS: Int

  public init(failures: Int = 0, remainingS: Int = 0) {
    self.failures = failures
    self.remainingS = remainingS
  }

  /// `{"failures":N,"locked_s":S}` and a newline.
  public func encode() -> [UInt8] {
    var w = JSONWriter()
    w.beginObject()
    w.field("failures", failures)
    w.field("locked_s", remainingS)
    w.endObject()
    return w.bytes + [0x0A]
  }

  /// The record in `bytes`, or nil when it is not one (damaged or tampered with).
  public static func decode(_ bytes: [UInt8]) -> ConsoleLockout? {
    guard let doc = try? JSON.parse(bytes),
      let failures = doc["failures"]?.intValue, let locked = doc["locked_s"]?.intValue,
      failures >= 0, failures <= 1_000_000, locked >= 0, locked <= 100 * Config.week
    else { return nil }
    return ConsoleLockout(failures: failures, remainingS: locked)
  }
}

/// What a technician PIN looks like: 6 to 12 digits. Digits only, because every serial terminal
/// and keyboard layout types them the same way; at least 6, because the lockout (5 tries per
/// `lockout_s`) is what protects a PIN, and at the default 300 s half of a million PINs takes
/// about a year of trying; at most 12, so it is still typed blind.
public enum PinRule {
  public static let minDigits = 6
  public static let maxDigits = 12

  /// Why `pin` is not a PIN, or nil when it is one.
  public static func problem(_ pin: String) -> String? {
    // The limits are spelled out: each interpolation costs code in the Embedded binary.
    if pin.isEmpty { return "no PIN given (a PIN is 6 to 12 digits)" }
    for b in pin.utf8 where b < 0x30 || b > 0x39 {
      return "a PIN is digits only (0-9), 6 to 12 of them"
    }
    let n = pin.utf8.count
    if n < minDigits || n > maxDigits { return "a PIN is 6 to 12 digits (got " + String(n) + ")" }
    return nil
  }
}
