import CTurboJPEG
import VigilCore

/// Snapshots decoded small, with libturbojpeg: the picture's planes at 1/8 scale by DCT scaling
/// (the decoder skips most of the work: a 1080p frame comes out 240 x 135 in a few ms), into
/// buffers kept from one frame to the next. The luma plane is the picture the view watch scores;
/// the chroma planes tell day colour from night infrared (an IR picture is grey).
public final class JPEGDecoder {
  private let handle: tjhandle
  /// The luma plane of the last frame decoded, `width` x `height`, row after row.
  public private(set) var luma: [UInt8] = []
  public private(set) var width = 0
  public private(set) var height = 0
  /// The mean distance of the chroma from grey, 0 to 127 (0 for a greyscale JPEG).
  public private(set) var chroma = 0
  private var cb: [UInt8] = []
  private var cr: [UInt8] = []

  /// The largest picture taken (a 16 MP camera is 4608 wide); larger headers are refused
  /// before anything is decoded.
  public static let maxSide = 8192

  public init?() {
    guard let h = tjInitDecompress() else { return nil }
    handle = h
  }

  deinit { tjDestroy(handle) }

  /// Decodes `jpeg` at 1/8 scale; nil when done, else why not (the library's words).
  public func decode(_ jpeg: [UInt8]) -> String? {
    var w: Int32 = 0
    var h: Int32 = 0
    var sub: Int32 = 0
    var space: Int32 = 0
    let size = CUnsignedLong(truncatingIfNeeded: jpeg.count)
    let head = jpeg.withUnsafeBufferPointer { b in
      tjDecompressHeader3(handle, b.baseAddress, size, &w, &h, &sub, &space)
    }
    if head != 0 { return "not a JPEG the decoder reads: " + error() }
    guard w > 0, h > 0, w <= Int32(Self.maxSide), h <= Int32(Self.maxSide) else {
      return "picture of " + String(w) + " x " + String(h) + " refused (at most "
        + String(Self.maxSide) + " a side)"
    }
    let sw = (w + 7) / 8
    let sh = (h + 7) / 8
    let planes: Int32 = sub == Int32(TJSAMP_GRAY.rawValue) ? 1 : 3
    var sizes: [Int] = [0, 0, 0]
    for c in 0..<planes {
      let pw = tjPlaneWidth(c, sw, sub)
      let ph = tjPlaneHeight(c, sh, sub)
      guard pw > 0, ph > 0 else { return "no plane size for subsampling " + String(sub) }
      sizes[Int(c)] = Int(pw) * Int(ph)
    }
    // Buffers grow to the largest picture seen and are reused; they never shrink per frame.
    if luma.count < sizes[0] { luma = [UInt8](repeating: 0, count: sizes[0]) }
    if cb.count < sizes[1] { cb = [UInt8](repeating: 0, count: sizes[1]) }
    if cr.count < sizes[2] { cr = [UInt8](repeating: 0, count: sizes[2]) }
    let rc = jpeg.withUnsafeBufferPointer { src -> Int32 in
      luma.withUnsafeMutableBufferPointer { y -> Int32 in
        cb.withUnsafeMutableBufferPointer { u -> Int32 in
          cr.withUnsafeMutableBufferPointer { v -> Int32 in
            var dst: [UnsafeMutablePointer<UInt8>?] = [y.baseAddress, u.baseAddress, v.baseAddress]
            return tjDecompressToYUVPlanes(handle, src.baseAddress, size, &dst, sw, nil, sh,
                                           Int32(TJFLAG_FASTDCT))
          }
        }
      }
    }
    if rc != 0 { return "cannot decode: " + error() }
    width = Int(sw)
    height = Int(sh)
    chroma = planes == 1 ? 0 : Self.meanChroma(cb, cr, sizes[1], sizes[2])
    return nil
  }

  /// Mean chroma below this (of 127) is a grey picture: the camera's infrared night mode. An IR
  /// picture is grey to within the JPEG's rounding (0 on the evaluation set); a dim, grey-brown
  /// street by day measured 3.8 there, so 4 read it as night.
  public static let nightChroma = 2

  /// The light of the last frame decoded: night when its chroma is under `nightChroma`.
  public var mode: ViewMode { chroma < Self.nightChroma ? .night : .day }

  /// A snapshot as the view watch takes it (the agent's CameraViews and the evaluation set's
  /// `vigil-view-eval` both come here): decoded at 1/8 scale, its luma copied into `image`
  /// (reusing its storage), its light in `mode`. nil when done, else why not.
  public func view(_ jpeg: [UInt8], into image: inout ViewImage) -> String? {
    if let why = decode(jpeg) { return why }
    image.reshape(width: width, height: height)
    image.withUnsafeMutablePixels { px in
      luma.withUnsafeBufferPointer { src in
        let n = min(px.count, src.count)
        for k in 0..<n { px[k] = src[k] }
      }
    }
    return nil
  }

  /// The mean of |Cb - 128| + |Cr - 128| over the planes, halved: 0 to 127.
  static func meanChroma(_ u: [UInt8], _ v: [UInt8], _ nu: Int, _ nv: Int) -> Int {
    let n = min(nu, nv, u.count, v.count)
    guard n > 0 else { return 0 }
    var sum = 0
    for i in 0..<n {
      let a = Int(u[i]) - 128
      let b = Int(v[i]) - 128
      sum += (a < 0 ? -a : a) + (b < 0 ? -b : b)
    }
    return sum / (2 * n)
  }

  private func error() -> String {
    guard let p = tjGetErrorStr2(handle) else { return "unknown error" }
    return String(cString: p)
  }
}
