/// Turns the bytes a serial terminal sends into lines, with the editing a technician expects and
/// nothing that line noise can abuse: printable ASCII is taken and echoed, backspace and DEL
/// erase (`"\b \b"`), Ctrl-W erases a word, Ctrl-C and Ctrl-U clear the line, CR, LF or CRLF
/// end it. Escape sequences
/// (arrow keys, function keys) are swallowed. Any other control byte or a byte ≥ 0x80 starts a
/// burst of noise: from there every byte (line ends and Ctrl-C included) is swallowed unechoed
/// until the line has been quiet for `noiseQuietMs`; then the line is thrown away and the caller
/// gives one message for the whole burst. So a cable being plugged in, or random bytes, give one
/// error line and run nothing. Fed one byte at a time, so the caller can change the echo between
/// lines (a PIN prompt, then a shell prompt).
public struct LineEditor {
  /// How typed characters are shown: as typed, as `*` (a PIN), or not at all.
  public enum Echo: Equatable { case plain, masked, none }

  /// What a byte completed.
  public enum Event: Equatable {
    /// Enter on a clean line (possibly empty); the text has no control bytes.
    case line(String)
    /// Ctrl-C: the line was thrown away.
    case cleared
    /// Enter on a line that went past `maxLength`: refused whole.
    case tooLong
  }

  public let maxLength: Int
  public var echo: Echo = .plain
  /// The line typed so far (printable ASCII only).
  public private(set) var text: [UInt8] = []
  private var overflow = false
  private var afterCR = false
  private enum Escape { case none, start, csi(Int), ss3 }
  private var escape = Escape.none
  private var escapeStartMs: Int64 = 0
  /// In a burst of noise: bytes swallowed so far, and when the last one came.
  public private(set) var inNoise = false
  private var noiseBytes = 0
  private var lastNoiseMs: Int64 = 0

  /// A burst of noise ends once no byte has come for this long. Noise comes in bursts (a cable
  /// plugged in, a baud-rate mismatch) far faster than anyone types.
  public static let noiseQuietMs: Int64 = 500
  /// An escape sequence not finished within this long is abandoned (a lone Esc key press).
  static let escapeTimeoutMs: Int64 = 300
  /// Parameter bytes accepted in one CSI sequence before it is taken for noise.
  static let maxEscapeLength = 16

  public init(maxLength: Int) {
    self.maxLength = max(1, maxLength)
  }

  /// Forgets the line being typed, and any noise (a new session, a new prompt).
  public mutating func reset() {
    text.removeAll(keepingCapacity: true)
    overflow = false
    escape = .none
    inNoise = false
    noiseBytes = 0
  }

  /// Ends a burst of noise that has been quiet for `noiseQuietMs`: the line typed before it is
  /// gone. Returns how many bytes the burst held, or nil when there is no burst or it goes on.
  /// Call before each `feed` and now and then (a burst's end is seen only on the clock).
  public mutating func endNoise(nowMs: Int64) -> Int? {
    guard inNoise, nowMs - lastNoiseMs >= Self.noiseQuietMs else { return nil }
    let n = noiseBytes
    afterCR = false
    reset()
    return n
  }

  /// Takes one byte; appends its echo to `out`; returns what the byte completed, if anything.
  public mutating func feed(_ b: UInt8, nowMs: Int64, out: inout [UInt8]) -> Event? {
    if inNoise {
      markNoise(nowMs)
      return nil
    }
    if !consumedByEscape(b, nowMs: nowMs) { return nil }
    let wasCR = afterCR
    afterCR = false
    switch b {
    case 0x0D:
      afterCR = true
      return endLine(nowMs: nowMs, out: &out)
    case 0x0A:
      // The LF of a CRLF pair ends nothing: the CR did.
      return wasCR ? nil : endLine(nowMs: nowMs, out: &out)
    case 0x08, 0x7F:
      // A line once past the limit stays refused: what was cut off is not on screen either.
      if !text.isEmpty { eraseLast(&out) }
      return nil
    case 0x03:
      out += Array("^C".utf8)
      reset()
      return .cleared
    case 0x15:
      if showsEcho { for _ in text { out += Self.erase } }
      reset()
      return nil
    case 0x17:
      // Ctrl-W: the last word and the spaces after it.
      while text.last == 0x20 { eraseLast(&out) }
      while let last = text.last, last != 0x20 { eraseLast(&out) }
      return nil
    case 0x1B:
      escape = .start
      escapeStartMs = nowMs
      return nil
    case 0x11, 0x13:
      // XON/XOFF from a terminal set to software flow control: not part of the line.
      return nil
    case 0x09, 0x20...0x7E:
      append(b == 0x09 ? 0x20 : b, out: &out)
      return nil
    default:
      markNoise(nowMs)
      return nil
    }
  }

  /// True when `b` is still to be handled as an ordinary byte; false when an escape sequence
  /// took it.
  private mutating func consumedByEscape(_ b: UInt8, nowMs: Int64) -> Bool {
    if case .none = escape { return true }
    if nowMs - escapeStartMs > Self.escapeTimeoutMs { escape = .none }
    switch escape {
    case .none:
      return true
    case .start:
      if b == 0x5B {  // '[': CSI, as arrow keys send in most terminals
        escape = .csi(0)
        return false
      }
      if b == 0x4F {  // 'O': SS3, arrow keys in application mode
        escape = .ss3
        return false
      }
      escape = .none
      // Alt+key arrives as Esc then the key: drop both. A control byte is handled normally.
      return !(b >= 0x20 && b <= 0x7E)
    case .csi(let n):
      if b >= 0x20 && b <= 0x3F {
        if n + 1 >= Self.maxEscapeLength {
          escape = .none
          markNoise(nowMs)
        } else {
          escape = .csi(n + 1)
        }
        return false
      }
      escape = .none
      return !(b >= 0x40 && b <= 0x7E)
    case .ss3:
      escape = .none
      return !(b >= 0x40 && b <= 0x7E)
    }
  }

  private var showsEcho: Bool { echo != .none }

  private mutating func append(_ b: UInt8, out: inout [UInt8]) {
    if text.count >= maxLength {
      overflow = true
      return
    }
    text.append(b)
    if showsEcho { out.append(echo == .masked ? 0x2A : b) }
  }

  private mutating func eraseLast(_ out: inout [UInt8]) {
    text.removeLast()
    if showsEcho { out += Self.erase }
  }

  private mutating func markNoise(_ nowMs: Int64) {
    inNoise = true
    lastNoiseMs = nowMs
    if noiseBytes < Int.max { noiseBytes += 1 }
  }

  private mutating func endLine(nowMs: Int64, out: inout [UInt8]) -> Event {
    defer { reset() }
    out += Self.newline
    if overflow { return .tooLong }
    return .line(String(decoding: text, as: UTF8.self))
  }

  static let erase: [UInt8] = [0x08, 0x20, 0x08]
  static let newline: [UInt8] = [0x0D, 0x0A]
}
