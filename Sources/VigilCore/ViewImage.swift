/// A grayscale picture for the view watch (issue 14): one byte of luma per pixel, row by row,
/// as libturbojpeg gives it (TJPF_GRAY, 1/8 scale: 240 x 135 for a 1080p snapshot).
/// Reading is bounds-safe (coordinates are clamped to the edge); `reshape` keeps the buffer's
/// capacity, so a decoder fills the same storage snapshot after snapshot.
public struct ViewImage: Equatable {
  /// The largest side accepted: 1/8 of an 8K frame is 960.
  public static let maxSide = 1024

  public private(set) var width: Int
  public private(set) var height: Int
  /// `width * height` bytes; `reshape` before writing a picture of another size.
  public private(set) var pixels: [UInt8]

  /// An image of one grey (sides clamped to 0...maxSide).
  public init(width: Int, height: Int, fill: UInt8 = 0) {
    self.width = min(max(width, 0), Self.maxSide)
    self.height = min(max(height, 0), Self.maxSide)
    pixels = [UInt8](repeating: fill, count: self.width * self.height)
  }

  /// nil unless `pixels` holds exactly `width * height` bytes and the sides are in 1...maxSide.
  public init?(width: Int, height: Int, pixels: [UInt8]) {
    guard (1...Self.maxSide).contains(width), (1...Self.maxSide).contains(height),
      pixels.count == width * height
    else { return nil }
    self.width = width
    self.height = height
    self.pixels = pixels
  }

  public var isEmpty: Bool { pixels.isEmpty }

  /// The pixel at (x, y), the nearest edge pixel outside the picture, 0 for an empty one.
  public subscript(x: Int, y: Int) -> UInt8 {
    guard width > 0, height > 0 else { return 0 }
    let cx = min(max(x, 0), width - 1)
    let cy = min(max(y, 0), height - 1)
    return pixels[cy * width + cx]
  }

  /// Sets a pixel; a write outside the picture is ignored.
  public mutating func set(_ x: Int, _ y: Int, _ value: UInt8) {
    guard x >= 0, y >= 0, x < width, y < height else { return }
    pixels[y * width + x] = value
  }

  /// Makes this a `width` x `height` picture of `fill`, reusing the storage when the size is
  /// the same as before (a camera's snapshots keep theirs). Sides are clamped to 0...maxSide.
  public mutating func reshape(width: Int, height: Int, fill: UInt8 = 0) {
    let w = min(max(width, 0), Self.maxSide)
    let h = min(max(height, 0), Self.maxSide)
    let n = w * h
    if pixels.count == n {
      for i in 0..<n { pixels[i] = fill }
    } else {
      pixels = [UInt8](repeating: fill, count: n)
    }
    self.width = w
    self.height = h
  }

  /// Lets a decoder write the pixels in place (`reshape` first to the decoded size).
  public mutating func withUnsafeMutablePixels<R>(
    _ body: (UnsafeMutableBufferPointer<UInt8>) -> R
  ) -> R {
    pixels.withUnsafeMutableBufferPointer { body($0) }
  }

  /// Fills `into` with this picture shrunk by `factor` (each output pixel the mean of a
  /// factor x factor box; the right and bottom remainders are dropped), reusing its storage.
  public func shrink(by factor: Int, into out: inout ViewImage) {
    let f = max(factor, 1)
    let w = width / f
    let h = height / f
    out.reshape(width: w, height: h)
    guard w > 0, h > 0 else { return }
    let area = f * f
    pixels.withUnsafeBufferPointer { src in
      out.pixels.withUnsafeMutableBufferPointer { dst in
        for y in 0..<h {
          for x in 0..<w {
            var sum = 0
            for yy in (y * f)..<(y * f + f) {
              let row = yy * width
              for xx in (x * f)..<(x * f + f) { sum += Int(src[row + xx]) }
            }
            dst[y * w + x] = UInt8(truncatingIfNeeded: (sum + area / 2) / area)
          }
        }
      }
    }
  }
}
