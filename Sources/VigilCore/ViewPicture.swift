/// A picture in characters for the serial console (issue 14, `view CAM show`): the person up
/// the ladder trimming the branch sees what the camera sees with nothing but a serial cable.
/// Each character is the mean of its patch, stretched from the picture's darkest to its
/// brightest (a night picture shows as well as a day one), on a ramp from dark to bright.
public enum ViewPicture {
  /// Dark to bright: a space for black on the usual dark terminal.
  public static let ramp: [UInt8] = Array(" .:-=+*#%@".utf8)
  /// A terminal cell is about twice as tall as it is wide.
  static let cellAspect = 2

  /// The picture as rows of exactly `columns` characters (at least 1), aspect-corrected.
  public static func rows(_ image: ViewImage, columns: Int) -> [String] {
    var out: [String] = []
    for line in lines(image, columns: columns) { out.append(String(decoding: line, as: UTF8.self)) }
    return out
  }

  /// Two pictures side by side in `columns` characters (80: two of 38 with 4 spaces between),
  /// the shorter padded with blank rows: the last snapshot on the left, the reference right.
  public static func sideBySide(_ left: ViewImage, _ right: ViewImage, columns: Int = 80,
                                gap: Int = 4) -> [String] {
    let g = min(max(gap, 0), max(columns - 2, 0))
    let each = max(1, (columns - g) / 2)
    let a = lines(left, columns: each)
    let b = lines(right, columns: each)
    let space: UInt8 = 0x20
    var out: [String] = []
    var row = [UInt8](repeating: space, count: 2 * each + g)
    for i in 0..<max(a.count, b.count) {
      for k in 0..<each {
        row[k] = i < a.count ? a[i][k] : space
        row[each + g + k] = i < b.count ? b[i][k] : space
      }
      out.append(String(decoding: row, as: UTF8.self))
    }
    return out
  }

  /// The rows as bytes of the ramp, each `columns` long.
  static func lines(_ image: ViewImage, columns: Int) -> [[UInt8]] {
    let w = image.width
    let h = image.height
    let cols = max(1, columns)
    guard w > 0, h > 0 else { return [] }
    let count = max(1, (h * cols + w * cellAspect / 2) / (w * cellAspect))
    let top = ramp.count - 1
    var out: [[UInt8]] = []
    out.reserveCapacity(count)
    var line = [UInt8](repeating: 0x20, count: cols)
    image.pixels.withUnsafeBufferPointer { p in
      var lo = 255
      var hi = 0
      for v in p {
        lo = min(lo, Int(v))
        hi = max(hi, Int(v))
      }
      // Cell edges: y1 <= h and x1 <= w since r < count and c < cols; each cell is not empty.
      for r in 0..<count {
        let y0 = r * h / count
        let y1 = max(y0 + 1, (r + 1) * h / count)
        for c in 0..<cols {
          let x0 = min(c * w / cols, w - 1)
          let x1 = min(max(x0 + 1, (c + 1) * w / cols), w)
          var sum = 0
          for y in y0..<min(y1, h) {
            for x in x0..<x1 { sum += Int(p[y * w + x]) }
          }
          let mean = sum / max(1, (min(y1, h) - y0) * (x1 - x0))
          let level = hi > lo ? ((mean - lo) * top * 2 + (hi - lo)) / (2 * (hi - lo)) : top / 2
          line[c] = ramp[min(max(level, 0), top)]
        }
        out.append(line)
      }
    }
    return out
  }
}
