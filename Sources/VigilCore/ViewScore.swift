/// How one snapshot compares with its camera's reference (issue 14). Fixed point, per mille
/// (0...1000), so that nothing on the board formats a Double (2.8 KB in Embedded Swift).
public struct ViewScore: Equatable {
  /// Below this coverage the view is `obstructed`: a cover, or branches over 30 % of the
  /// blocks. In the tests a car (8 % of the frame) leaves 0.91 and a branch over 46 % 0.55;
  /// 0.70 has room on both sides.
  public static let obstructedBelow = 700
  /// Below this sharpness (edge steepness against the reference's) a view whose structure is
  /// all there is `blurred`. On the evaluation set (1080p, decoded at 1/8) a Gaussian blur of
  /// sigma 3 px gives 0.73-0.88, sigma 5 0.66-0.70, sigma 1.5 0.90-0.96; normal snapshots
  /// 0.86-1, one at night under 0.89 (noise and JPEG quality 30 raise it). The 3-of-4
  /// hysteresis takes the overlap.
  public static let blurredBelow = 890
  /// A view that has lost its structure (coverage under `obstructedBelow`) is `blurred` only
  /// when its sharpness is under this and its contrast stays: a box blur of radius 3 at 1/8
  /// scale gives 0.40 in the tests (0.49 dimmed and noisy); spray paint's soft blotches give
  /// 0.69-0.87 on the evaluation set, and are obstructions.
  public static let strongBlurBelow = 600
  /// A shift of this many thousandths of the width or more is `moved` (1.6 %: 30 px of a
  /// 1080p frame, 4 decoded pixels): a pole swaying in the wind moves the picture a pixel or
  /// two at 1/8 scale, a knock much more.
  public static let movedPerMille = 16
  /// A view whose coverage is low but which is only unsharp is `blurred`, not `obstructed`,
  /// while its coarse contrast stays at this much of the reference's or more: a blur spreads
  /// edges but keeps their steps; a cover, even a smooth one, leaves none. (A leafy branch or a
  /// noisy cover keeps fine detail, so its sharpness is high: obstructed.)
  public static let blurKeepsContrast = 250
  /// ...and while this share of the blocks keeps its edges' directions (`aligned`): a blur
  /// weakens the edges where they were; a bag over the lens leaves its own wrinkles, as much
  /// coarse contrast as a street (0.55-0.65 on the evaluation set) but none of its edges.
  public static let blurKeepsEdges = 500

  /// Fraction of the reference's structured blocks that still show its structure, per mille.
  public var coverage: Int
  /// Fine detail relative to the reference, per mille, clamped to 1000.
  public var sharpness: Int
  /// Coarse contrast (mean Sobel magnitude of the working image) against the reference's,
  /// per mille, clamped to 1000: tells a blur from a smooth cover.
  public var contrast: Int
  /// Share of the judged blocks whose edges keep their direction, whatever their strength.
  public var aligned: Int
  /// Where the picture moved, in full-resolution pixels (8 per decoded pixel): right, down.
  public var shiftX: Int
  public var shiftY: Int
  /// The length of that shift, in full-resolution pixels.
  public var shiftPx: Int
  /// The reference's blocks that had enough structure to be judged (of 64).
  public var blocks: Int
  /// What this snapshot alone says: clear, obstructed, moved or blurred.
  public var condition: ViewState

  public init(coverage: Int, sharpness: Int, contrast: Int, aligned: Int, shiftX: Int,
              shiftY: Int, blocks: Int, fullWidth: Int) {
    self.coverage = coverage
    self.sharpness = sharpness
    self.contrast = contrast
    self.aligned = aligned
    self.shiftX = shiftX
    self.shiftY = shiftY
    shiftPx = ViewScore.squareRoot(shiftX * shiftX + shiftY * shiftY)
    self.blocks = blocks
    // Obstruction first: coverage is measured after undoing the shift, so a knocked camera
    // keeps its coverage and a lost view is not mistaken for a move. A strong blur loses the
    // fine structure too: it is told apart by its sharpness and its kept contrast.
    let unsharp = sharpness < Self.blurredBelow
    if coverage < Self.obstructedBelow {
      let strong = sharpness < Self.strongBlurBelow && contrast >= Self.blurKeepsContrast
      condition = strong && aligned >= Self.blurKeepsEdges ? .blurred : .obstructed
    } else if shiftPx * 1000 >= Self.movedPerMille * fullWidth {
      condition = .moved
    } else if unsharp {
      condition = .blurred
    } else {
      condition = .clear
    }
  }

  /// "0.87" for 870 per mille: two decimals, rounded, without Double formatting.
  public static func decimal(_ perMille: Int) -> String {
    let hundredths = (min(max(perMille, 0), 1000) + 5) / 10
    let digits: [UInt8] = [
      UInt8(truncatingIfNeeded: 0x30 + hundredths / 100), 0x2E,
      UInt8(truncatingIfNeeded: 0x30 + hundredths / 10 % 10),
      UInt8(truncatingIfNeeded: 0x30 + hundredths % 10),
    ]
    return String(decoding: digits, as: UTF8.self)
  }

  /// The integer square root (floor), for the shift's length.
  static func squareRoot(_ n: Int) -> Int {
    guard n > 0 else { return 0 }
    var x = n
    var y = (x + 1) / 2
    while y < x {
      x = y
      y = (x + n / x) / 2
    }
    return x
  }
}

/// What the watch measures of one picture, for the reference and for each snapshot:
/// a working image for the per-block structure, gradient projections for the shift, and the
/// ratio of fine to coarse detail for the sharpness.
public struct ViewFeatures: Equatable {
  /// Pictures smaller than this on a side are not scored.
  public static let minSide = 24
  /// The working image is at most this wide (the decoded picture shrunk by a whole factor).
  static let workWidth = 160

  /// The decoded picture's size.
  public internal(set) var width = 0
  public internal(set) var height = 0
  /// The decoded picture shrunk by `factor` (2 for 1080p: 120 x 67).
  public internal(set) var work = ViewImage(width: 0, height: 0)
  /// Column and row projections of the signed gradient: the change of each column's (row's)
  /// mean grey, scaled to a mean magnitude of 1024 and clamped to 16 bits.
  public internal(set) var columns: [Int16] = []
  public internal(set) var rows: [Int16] = []
  /// Edge steepness, x 4096: at the working image's edges, the decoded picture's steepest
  /// one-pixel step over its step across 6 pixels (ViewScorer.edgeSums). Blur lowers it;
  /// gain and offset do not change it.
  public internal(set) var sharpRatio: UInt32 = 0
  /// Mean Sobel |gx| + |gy| of the working image, x 1024.
  public internal(set) var contrast: UInt32 = 0

  public init() {}

  public var factor: Int { Self.factor(width: width) }

  static func factor(width: Int) -> Int { max(1, (width + workWidth - 1) / workWidth) }

  static func fits(width: Int, height: Int) -> Bool {
    (minSide...ViewImage.maxSide).contains(width) && (minSide...ViewImage.maxSide).contains(height)
  }
}
