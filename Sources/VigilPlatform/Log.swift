import CVigil

/// The agent's log: lines to stderr, which journald collects with their priority when run as a
/// service (the `<N>` prefix, sd-daemon(3)), and a small ring of recent lines for the console's
/// `log` command.
public enum Log {
  public enum Level: Int32 {
    case error = 3, warning = 4, notice = 5, info = 6, debug = 7

    var word: String {
      switch self {
      case .error: return "error"
      case .warning: return "warning"
      case .notice: return "notice"
      case .info: return "info"
      case .debug: return "debug"
      }
    }
  }

  /// Lines below this level are dropped (`VIGIL_DEBUG=1` lowers it to debug).
  public static var threshold: Level = getenv("VIGIL_DEBUG") != nil ? .debug : .info
  /// Under systemd stderr is a journal stream: give it the priority prefix instead of a word.
  private static let journal = getenv("JOURNAL_STREAM") != nil
  /// Recent lines, oldest first once full.
  public private(set) static var ring: [String] = []
  private static var ringNext = 0
  public static let ringSize = 200

  public static func error(_ s: String) { write(.error, s) }
  public static func warning(_ s: String) { write(.warning, s) }
  public static func notice(_ s: String) { write(.notice, s) }
  public static func info(_ s: String) { write(.info, s) }
  public static func debug(_ s: String) { write(.debug, s) }

  public static func write(_ level: Level, _ s: String) {
    if level.rawValue > threshold.rawValue { return }
    let line = journal ? "<\(level.rawValue)>\(s)\n" : "vigil: \(level.word): \(s)\n"
    try? Sys.writeAll(2, Array(line.utf8))
    let stamped = "\(level.word): \(s)"
    if ring.count < ringSize {
      ring.append(stamped)
    } else {
      ring[ringNext] = stamped
      ringNext = (ringNext + 1) % ringSize
    }
  }

  /// The last `n` lines, oldest first.
  public static func recent(_ n: Int) -> [String] {
    let ordered = ring.count < ringSize ? ring : Array(ring[ringNext...] + ring[..<ringNext])
    return Array(ordered.suffix(max(0, n)))
  }
}
