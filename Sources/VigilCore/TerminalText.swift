/// Text for a serial terminal: CRLF line ends (the tty is raw, nothing translates `\n`), lines
/// folded to fit 80 columns with a two-space indent, control bytes shown as `?` so no text
/// (a log line, a broker's error) can move the technician's cursor or change the terminal.
public enum TerminalText {
  public static let width = 80

  public static func render(_ text: String, width: Int = TerminalText.width) -> [UInt8] {
    var out: [UInt8] = []
    var lines = text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { Array($0) }
    if lines.last?.isEmpty == true { lines.removeLast() }
    for raw in lines {
      var line: [UInt8] = []
      for b in raw where b != 0x0D {
        line.append(b == 0x09 ? 0x20 : (b < 0x20 || b == 0x7F ? 0x3F : b))
      }
      while columns(line) > width {
        let cut = cutPoint(line, width: width)
        var end = cut
        while end > 0 && line[end - 1] == 0x20 { end -= 1 }
        out += line[..<end]
        out += [0x0D, 0x0A]
        var rest = cut
        while rest < line.count && line[rest] == 0x20 { rest += 1 }
        line = [0x20, 0x20] + line[rest...]
      }
      out += line
      out += [0x0D, 0x0A]
    }
    return out
  }

  /// Columns a line takes: one per character (UTF-8 continuation bytes take none).
  static func columns(_ line: [UInt8]) -> Int {
    var n = 0
    for b in line where b & 0xC0 != 0x80 { n += 1 }
    return n
  }

  /// Where to fold a line wider than `width`: at the last space that keeps the first part
  /// within `width` (past the indent), else right at `width` columns.
  static func cutPoint(_ line: [UInt8], width: Int) -> Int {
    var col = 0
    var lastSpace = -1
    var hard = line.count
    for (i, b) in line.enumerated() where b & 0xC0 != 0x80 {
      if col == width {
        if b == 0x20 { lastSpace = i }
        hard = i
        break
      }
      if b == 0x20 && i > 2 { lastSpace = i }
      col += 1
    }
    return lastSpace > 0 ? lastSpace : hard
  }
}
