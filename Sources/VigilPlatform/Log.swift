import CVigil

/// The agent's log: lines to stderr, which journald collects with their priority when run as a
/// service (the `<N>` prefix, sd-daemon(3)), and a small ring of recent lines for the console's
/// `log` command. Writing to stderr never waits: a line stderr cannot take now (a full pipe, a
/// journal that is behind) is dropped and counted, and the next line that goes out is preceded
/// by how many were dropped. The ring keeps every line regardless.
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

  @inline(never) public static func error(_ s: String) { write(.error, s) }
  @inline(never) public static func warning(_ s: String) { write(.warning, s) }
  @inline(never) public static func notice(_ s: String) { write(.notice, s) }
  @inline(never) public static func info(_ s: String) { write(.info, s) }
  @inline(never) public static func debug(_ s: String) { write(.debug, s) }

  public static func write(_ level: Level, _ s: String) {
    if level.rawValue > threshold.rawValue { return }
    stderr.write(format(level, s), notice: { n in
      format(.warning, "\(n) log line\(n == 1 ? "" : "s") dropped: stderr was full")
    })
    ring.append("\(level.word): \(s)")
  }

  /// Lines stderr could not take, since start (the console's `log` shows it).
  public static var droppedLines: Int { stderr.dropped }

  private static var stderr = LogSink(fd: 2)

  private static func format(_ level: Level, _ s: String) -> String {
    journal ? "<\(level.rawValue)>\(s)\n" : "vigil: \(level.word): \(s)\n"
  }

  /// The last `n` lines (at most `ringSize`), oldest first.
  public static func recent(_ n: Int) -> [String] { ring.lines(last: min(n, ringSize)) }
}

/// Whole lines to a descriptor that may be a pipe nobody reads: each goes out at once or is
/// dropped and counted, and the next that goes out is preceded by the notice of how many.
public struct LogSink {
  /// PIPE_BUF: a pipe takes a write this long whole or not at all. A longer line is cut.
  public static let maxWrite = 4096
  public let fd: Int32
  private let isSocket: Bool
  /// Lines dropped since start.
  public private(set) var dropped = 0
  /// Of those, not yet told in a notice.
  private var untold = 0
  /// A write went out in part: the next starts with a line end, so nothing joins it.
  private var cut = false

  public init(fd: Int32) {
    self.fd = fd
    isSocket = Sys.isSocket(fd)
  }

  /// Writes `line` (which ends with a line end), after the notice of lines dropped before it
  /// if any; true if it went out whole. `notice` formats that notice for a count.
  @discardableResult
  public mutating func write(_ line: String, notice: (Int) -> String) -> Bool {
    var bytes: [UInt8] = []
    if cut { bytes.append(0x0A) }
    if untold > 0 { bytes.append(contentsOf: notice(untold).utf8) }
    let room = Self.maxWrite - bytes.count
    let text = Array(line.utf8)
    if text.count <= room {
      bytes.append(contentsOf: text)
    } else {
      // Cut at a character boundary, and say so.
      let mark = Array(" [cut]\n".utf8)
      var end = max(room - mark.count, 0)
      while end > 0 && text[end] & 0xC0 == 0x80 { end -= 1 }
      bytes.append(contentsOf: text[0..<end])
      bytes.append(contentsOf: mark)
    }
    let sent: Int?
    do { sent = try Sys.writeNow(fd, bytes, socket: isSocket) } catch { sent = nil }
    guard let n = sent, n > 0 else {
      // Nothing went: no room now, or nobody reads stderr any more (EPIPE).
      dropped += 1
      untold += 1
      return false
    }
    if n < bytes.count {
      // Part of it went (a socket with a little room): counted as dropped, told again.
      dropped += 1
      untold += 1
      cut = true
      return false
    }
    untold = 0
    cut = false
    return true
  }
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
