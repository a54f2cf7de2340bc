/// Messages the spool lost, by cause, counted since the spool was made: kept on disk in
/// `<spool.dir>/state/spool_dropped` so that `spool.dropped` does not reset at a restart.
/// The file is one line, `<events> <snapshots> <write_failed>` in decimal.
public struct SpoolDrops: Equatable {
  public var events: Int64 = 0
  public var snapshots: Int64 = 0
  public var writeFailed: Int64 = 0

  public init(events: Int64 = 0, snapshots: Int64 = 0, writeFailed: Int64 = 0) {
    self.events = events
    self.snapshots = snapshots
    self.writeFailed = writeFailed
  }

  public var total: Int64 { events &+ snapshots &+ writeFailed }

  public func encode() -> [UInt8] {
    Array((String(events) + " " + String(snapshots) + " " + String(writeFailed) + "\n").utf8)
  }

  /// Nil for anything but three decimal numbers of at most 18 digits (no overflow possible),
  /// separated by single spaces, with or without the final newline.
  public static func decode(_ bytes: [UInt8]) -> SpoolDrops? {
    var values: [Int64] = []
    var n: Int64 = 0
    var digits = 0
    for (i, b) in bytes.enumerated() {
      if b >= 0x30 && b <= 0x39 {
        guard digits < 18 else { return nil }
        n = n * 10 + Int64(b - 0x30)
        digits += 1
      } else if b == 0x20 || b == 0x0A {
        guard digits > 0 else { return nil }
        values.append(n)
        n = 0
        digits = 0
        if b == 0x0A && i != bytes.count - 1 { return nil }
      } else {
        return nil
      }
    }
    if digits > 0 { values.append(n) }
    guard values.count == 3 else { return nil }
    return SpoolDrops(events: values[0], snapshots: values[1], writeFailed: values[2])
  }
}
