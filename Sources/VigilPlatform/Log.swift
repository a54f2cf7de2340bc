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
  /// Recent lines, in one buffer allocated once and overwritten oldest first. A String per
  /// line would keep a couple of hundred small blocks alive for many minutes among the
  /// snapshots' short-lived ones, and glibc's heap fragments around such blocks (heaptrack,
  /// through an outage: the live heap grew 17 KB in 12 minutes, in these lines, as the ring
  /// filled with reconnect warnings).
  private static var ring = ByteRing(capacity: ringBytes)
  /// The most lines `recent` gives (the console's `log N`).
  public static let ringSize = 200
  /// The buffer: 200 lines of ~80 bytes.
  public static let ringBytes = 16 * 1024

  public static func error(_ s: String) { write(.error, s) }
  public static func warning(_ s: String) { write(.warning, s) }
  public static func notice(_ s: String) { write(.notice, s) }
  public static func info(_ s: String) { write(.info, s) }
  public static func debug(_ s: String) { write(.debug, s) }

  public static func write(_ level: Level, _ s: String) {
    if level.rawValue > threshold.rawValue { return }
    let line = journal ? "<\(level.rawValue)>\(s)\n" : "vigil: \(level.word): \(s)\n"
    try? Sys.writeAll(2, Array(line.utf8))
    ring.append("\(level.word): \(s)")
  }

  /// The last `n` lines (at most `ringSize`), oldest first.
  public static func recent(_ n: Int) -> [String] { ring.lines(last: min(n, ringSize)) }
}

/// Text lines in a fixed buffer, the oldest overwritten by the newest; a line longer than a
/// quarter of the buffer is cut there.
public struct ByteRing {
  private var bytes: [UInt8]
  /// Where the next byte goes.
  private var head = 0
  private var wrapped = false

  public init(capacity: Int) { bytes = [UInt8](repeating: 0, count: max(capacity, 64)) }

  /// Adds a line; a newline inside it becomes a space.
  public mutating func append(_ line: String) {
    var left = bytes.count / 4
    for b in line.utf8 {
      if left == 0 { break }
      put(b == 0x0A ? 0x20 : b)
      left -= 1
    }
    put(0x0A)
  }

  private mutating func put(_ b: UInt8) {
    bytes[head] = b
    head += 1
    if head == bytes.count {
      head = 0
      wrapped = true
    }
  }

  /// The last `n` whole lines, oldest first. Only for a technician's command: it copies.
  public func lines(last n: Int) -> [String] {
    if n <= 0 { return [] }
    var ordered: [UInt8] = []
    ordered.reserveCapacity(bytes.count)
    if wrapped { ordered.append(contentsOf: bytes[head...]) }
    ordered.append(contentsOf: bytes[..<head])
    var pieces = ordered.split(separator: 0x0A, omittingEmptySubsequences: false)
    // The text ends with a newline, so the last piece is empty.
    if pieces.last?.isEmpty == true { pieces.removeLast() }
    // Once the buffer has wrapped, the first piece is what is left of an overwritten line.
    if wrapped && !pieces.isEmpty { pieces.removeFirst() }
    return pieces.suffix(n).map { String(decoding: $0, as: UTF8.self) }
  }
}
