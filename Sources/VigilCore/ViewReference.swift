/// The light a snapshot was taken in: a camera has one reference for each, since its IR
/// picture at night shares little with its colour picture by day. The caller tells which
/// (the decoder's chroma measure).
public enum ViewMode: UInt8, Equatable {
  case day = 0x64  // "d"
  case night = 0x6E  // "n"

  public var name: String { self == .day ? "day" : "night" }
}

/// What a camera saw when it was commissioned, in one light (issue 14): the per-pixel median
/// of the first consistent snapshots, measured. Kept on disk as `encode()` gives it; never
/// re-learnt except by an explicit retake, since a reference that followed the view would
/// learn the branch.
///
/// Layout, little-endian:
/// ```
///  0  4  magic "VGVW"
///  4  1  format version (2; version 1 held a Laplacian sharpness ratio and is refused,
///         so the camera learns anew)
///  5  1  mode: "d" day, "n" night
///  6  2  decoded width W
///  8  2  decoded height H
/// 10  4  sharpness ratio
/// 14  4  contrast
/// 18 2W  column projection (signed)
///  … 2H  row projection (signed)
///  …  w*h working image (W and H divided by the factor, ViewFeatures.factor)
///  …  4  CRC32C of every byte before it
/// ```
public struct ViewReference: Equatable {
  public static let magic: [UInt8] = [0x56, 0x47, 0x56, 0x57]  // "VGVW"
  public static let formatVersion: UInt8 = 2
  static let headerSize = 18

  public var mode: ViewMode
  public var features: ViewFeatures

  public init(mode: ViewMode, features: ViewFeatures) {
    self.mode = mode
    self.features = features
  }

  /// The reference made of consistent snapshots: the per-pixel median of their working
  /// images (a car in one of five is gone), the mean of their projections, the median of their
  /// sharpness ratios. nil without snapshots or when their sizes differ.
  public init?(mode: ViewMode, learntFrom shots: [ViewFeatures]) {
    let n = shots.count
    guard n > 0 else { return nil }
    var f = shots[0]
    for k in 0..<n where shots[k].width != f.width || shots[k].height != f.height { return nil }
    var median = f.work.pixels
    var column = [UInt8](repeating: 0, count: n)
    for i in 0..<median.count {
      for k in 0..<n { column[k] = shots[k].work.pixels[i] }
      Self.sortSmall(&column)
      median[i] = column[n / 2]
    }
    f.work = ViewImage(width: f.work.width, height: f.work.height, pixels: median) ?? f.work
    for i in f.columns.indices {
      var sum = 0
      for s in shots { sum += Int(s.columns[i]) }
      f.columns[i] = Int16(clamping: sum / n)
    }
    for i in f.rows.indices {
      var sum = 0
      for s in shots { sum += Int(s.rows[i]) }
      f.rows[i] = Int16(clamping: sum / n)
    }
    var ratios = [UInt32](repeating: 0, count: n)
    var contrasts = ratios
    for k in 0..<n {
      ratios[k] = shots[k].sharpRatio
      contrasts[k] = shots[k].contrast
    }
    Self.sortSmall(&ratios)
    Self.sortSmall(&contrasts)
    f.sharpRatio = ratios[n / 2]
    f.contrast = contrasts[n / 2]
    self.init(mode: mode, features: f)
  }

  /// Insertion sort: a handful of values, no generic sort pulled into the binary.
  private static func sortSmall<T: Comparable>(_ a: inout [T]) {
    guard a.count > 1 else { return }
    for i in 1..<a.count {
      let v = a[i]
      var j = i
      while j > 0 && a[j - 1] > v {
        a[j] = a[j - 1]
        j -= 1
      }
      a[j] = v
    }
  }

  public func encode() -> [UInt8] {
    let f = features
    var out: [UInt8] = []
    out.reserveCapacity(Self.headerSize + 2 * (f.width + f.height) + f.work.pixels.count + 4)
    out.append(contentsOf: Self.magic)
    out.append(Self.formatVersion)
    out.append(mode.rawValue)
    Self.put(UInt32(clamping: f.width), 2, &out)
    Self.put(UInt32(clamping: f.height), 2, &out)
    Self.put(f.sharpRatio, 4, &out)
    Self.put(f.contrast, 4, &out)
    for v in f.columns { Self.put(UInt32(UInt16(bitPattern: v)), 2, &out) }
    for v in f.rows { Self.put(UInt32(UInt16(bitPattern: v)), 2, &out) }
    out.append(contentsOf: f.work.pixels)
    Self.put(CRC32C.checksum(out), 4, &out)
    return out
  }

  /// The little-endian signed 16-bit value at `at`.
  private static func half(_ b: [UInt8], _ at: Int) -> Int16 {
    Int16(bitPattern: UInt16(b[at]) | UInt16(b[at + 1]) << 8)
  }

  /// The little-endian 32-bit word at `at` (the caller has checked the length).
  private static func word(_ b: [UInt8], _ at: Int) -> UInt32 {
    UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
  }

  private static func put(_ v: UInt32, _ bytes: Int, _ out: inout [UInt8]) {
    for k in 0..<bytes { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(k)))) }
  }

  /// Why bytes are not a reference: the file is refused and the camera learns anew (the
  /// caller says so in the log).
  public enum DecodeError: Error, Equatable {
    case tooShort(Int)
    case notAReference
    case unknownVersion(UInt8)
    case unknownMode(UInt8)
    case badSize(width: Int, height: Int)
    case lengthMismatch(expected: Int, found: Int)
    case badChecksum

    /// Plain words, no numbers: each interpolation costs the board's binary (2 KB for these).
    public var message: String {
      switch self {
      case .tooShort: return "shorter than a view reference"
      case .notAReference: return "not a view reference (bad magic)"
      case .unknownVersion: return "unknown view reference version"
      case .unknownMode: return "unknown light mode"
      case .badSize: return "picture size out of range"
      case .lengthMismatch: return "torn: length does not match the picture size"
      case .badChecksum: return "checksum does not match"
      }
    }
  }

  public static func decode(_ b: [UInt8]) throws(DecodeError) -> ViewReference {
    guard b.count >= headerSize + 4 else { throw .tooShort(b.count) }
    guard b[0] == magic[0], b[1] == magic[1], b[2] == magic[2], b[3] == magic[3] else {
      throw .notAReference
    }
    guard b[4] == formatVersion else { throw .unknownVersion(b[4]) }
    guard let mode = ViewMode(rawValue: b[5]) else { throw .unknownMode(b[5]) }
    let w = Int(b[6]) | Int(b[7]) << 8
    let h = Int(b[8]) | Int(b[9]) << 8
    guard ViewFeatures.fits(width: w, height: h) else { throw .badSize(width: w, height: h) }
    let factor = ViewFeatures.factor(width: w)
    let ww = w / factor
    let wh = h / factor
    let expected = headerSize + 2 * (w + h) + ww * wh + 4
    guard b.count == expected else { throw .lengthMismatch(expected: expected, found: b.count) }
    let end = b.count - 4
    guard CRC32C.checksum(b[0..<end]) == word(b, end) else { throw .badChecksum }
    var f = ViewFeatures()
    f.width = w
    f.height = h
    f.sharpRatio = Self.word(b, 10)
    f.contrast = Self.word(b, 14)
    var at = headerSize
    f.columns = [Int16](repeating: 0, count: w)
    for k in 0..<w { f.columns[k] = half(b, at + 2 * k) }
    at += 2 * w
    f.rows = [Int16](repeating: 0, count: h)
    for k in 0..<h { f.rows[k] = half(b, at + 2 * k) }
    at += 2 * h
    guard let work = ViewImage(width: ww, height: wh, pixels: Array(b[at..<end])) else {
      throw .badSize(width: w, height: h)
    }
    f.work = work
    return ViewReference(mode: mode, features: f)
  }
}
