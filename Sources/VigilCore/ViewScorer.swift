/// Measures pictures and scores them against a reference (issue 14), in buffers it keeps:
/// one scorer serves every camera in turn, and a snapshot costs no allocation once the
/// buffers have grown to the largest picture. Everything is O(pixels) with small constants:
/// one pass over the decoded picture (projections), one shrink, two Sobel passes over the
/// working image (edge steepness, block support), and a 1-D search over the projections.
public struct ViewScorer {
  /// A reference pixel is an edge when its Sobel |gx| + |gy| reaches this (a sharp step of 12
  /// grey levels); weaker structure is too close to noise to be judged.
  static let referenceEdge = 48
  /// A snapshot pixel supports a reference edge when its own gradient reaches this (a quarter
  /// of the above: a gain of 0.6 or a blur keeps the edge's direction, not its strength)...
  static let snapshotEdge = 12
  /// ...and keeps a quarter of the reference edge's strength or more (spray paint that lets 5 %
  /// of the light through keeps the edges' directions, not their strength: the evaluation set's
  /// building under paint read 0.91 covered without this)...
  static let keptStrength = 4
  /// ...and points the same way within about 30 degrees (|cross| <= dot * 4/7, tan 29.7°).
  static let crossTimes = 7
  static let dotTimes = 4
  /// A block still shows the reference when half of its edges are supported: a car over a
  /// quarter of a block leaves it matching, a branch over most of it does not.
  static let blockSupportPerMille = 500
  /// A shift must raise the projections' correlation by this much against no shift.
  static let shiftMarginPercent = 10
  /// The grid of blocks: 8 x 8.
  public static let grid = 8

  private var frame = ViewFeatures()
  private var colAcc: [Int] = []
  private var rowAcc: [Int] = []
  private var costs: [Int] = []
  private var smoothSnap: [Int] = []
  private var smoothRef: [Int] = []
  private var edges = [Int](repeating: 0, count: 64)
  private var support = [Int](repeating: 0, count: 64)
  private var direction = [Int](repeating: 0, count: 64)

  public init() {}

  /// Scores `image` against `reference`; nil when the picture's size is not the reference's
  /// (the camera's resolution changed: the reference must be re-taken) or it is too small.
  public mutating func score(_ image: ViewImage, against reference: ViewFeatures) -> ViewScore? {
    guard image.width == reference.width, image.height == reference.height else { return nil }
    var f = ViewFeatures()
    swap(&f, &frame)
    defer { swap(&f, &frame) }
    guard measure(image, into: &f) else { return nil }
    return compare(f, reference)
  }

  /// Scores measured features against a reference of the same size (learning's consistency).
  public mutating func compare(_ f: ViewFeatures, _ reference: ViewFeatures) -> ViewScore? {
    guard f.width == reference.width, f.height == reference.height,
      f.work.width == reference.work.width, f.work.height == reference.work.height
    else { return nil }
    var dx = shift(f.columns, reference.columns)
    var dy = shift(f.rows, reference.rows)
    let fw = 8 * f.factor
    let ox = (dx >= 0 ? dx + fw / 2 : dx - fw / 2) / fw
    let oy = (dy >= 0 ? dy + fw / 2 : dy - fw / 2) / fw
    var (matched, informative, aligned) = blocks(reference.work, f.work, ox, oy, judge: true)
    if ox != 0 || oy != 0 {
      // The projections' shift is believed only where the blocks match better than in place:
      // people walking across a street fooled them by 90-150 px (the evaluation set), and the
      // coverage measured at that false shift read a clear view obstructed.
      let still = blocks(reference.work, f.work, 0, 0, judge: true)
      if still.matched * max(informative, 1) >= matched * max(still.informative, 1) {
        (matched, informative, aligned) = still
        dx = 0
        dy = 0
      }
    }
    let coverage = informative == 0 ? 0 : matched * 1000 / informative
    let kept = informative == 0 ? 0 : aligned * 1000 / informative
    var sharpness = 1000
    if reference.sharpRatio > 0 {
      let ratio = UInt64(f.sharpRatio) * 1000 / UInt64(reference.sharpRatio)
      sharpness = Int(clamping: min(1000, ratio))
    }
    var contrast = 1000
    if reference.contrast > 0 {
      contrast = Int(clamping: min(1000, UInt64(f.contrast) * 1000 / UInt64(reference.contrast)))
    }
    return ViewScore(coverage: coverage, sharpness: sharpness, contrast: contrast, aligned: kept,
                     shiftX: dx, shiftY: dy, blocks: informative, fullWidth: 8 * f.width)
  }

  /// The blocks of `work` with enough structure to be judged (learning refuses a featureless
  /// view: a lens cover on commissioning day must not become the reference).
  public mutating func informativeBlocks(_ work: ViewImage) -> Int {
    blocks(work, work, 0, 0, judge: false).informative
  }

  /// Measures `image` into `f`, reusing its storage; false for a picture too small or large.
  public mutating func measure(_ image: ViewImage, into f: inout ViewFeatures) -> Bool {
    guard ViewFeatures.fits(width: image.width, height: image.height) else { return false }
    let w = image.width
    let h = image.height
    f.width = w
    f.height = h
    image.shrink(by: f.factor, into: &f.work)
    Self.zero(&colAcc, w)
    Self.zero(&rowAcc, h)
    image.pixels.withUnsafeBufferPointer { p in
      colAcc.withUnsafeMutableBufferPointer { cols in
        rowAcc.withUnsafeMutableBufferPointer { rs in
          for y in 1..<(h - 1) {
            var rowSum = 0
            let r = y * w
            for i in (r + 1)..<(r + w - 1) {
              cols[i - r] += Int(p[i + 1]) - Int(p[i - 1])
              rowSum += Int(p[i + w]) - Int(p[i - w])
            }
            rs[y] = rowSum
          }
        }
      }
    }
    Self.normalise(colAcc, into: &f.columns)
    Self.normalise(rowAcc, into: &f.rows)
    let sums = Self.edgeSums(f.work, image, factor: f.factor)
    let inner = Int64(max(1, (f.work.width - 2) * (f.work.height - 2)))
    f.contrast = UInt32(clamping: Int64(sums.contrast) * 1024 / inner)
    f.sharpRatio = sums.coarse == 0 ? 0
      : UInt32(clamping: Int64(sums.fine) * 4096 / Int64(sums.coarse))
    return true
  }

  /// `n` zeros in `a`, in its own storage when it already has `n` entries.
  private static func zero(_ a: inout [Int], _ n: Int) {
    if a.count == n {
      for i in 0..<n { a[i] = 0 }
    } else {
      a = [Int](repeating: 0, count: n)
    }
  }

  /// Scales a projection to a mean magnitude of 1024 over its inner entries (the first and
  /// last are 0), so that it fits 16 bits whatever the picture's height.
  private static func normalise(_ raw: [Int], into out: inout [Int16]) {
    if out.count == raw.count {
      for i in out.indices { out[i] = 0 }
    } else {
      out = [Int16](repeating: 0, count: raw.count)
    }
    let n = raw.count - 2
    guard n > 0 else { return }
    var total: Int64 = 0
    for k in 1...n { total += Int64(abs(raw[k])) }
    guard total > 0 else { return }
    for k in 1...n { out[k] = Int16(clamping: Int64(raw[k]) * 1024 * Int64(n) / total) }
  }

  /// Over the working image: the sum of Sobel |gx| + |gy| (its contrast) and, at each of its
  /// edges (|gx| + |gy| >= referenceEdge), the steepness of the decoded picture across the
  /// edge: the largest one-pixel step near it (fine) and the step across 6 pixels (coarse).
  /// Sharp, the two are alike; blurred over 7 pixels, fine is a sixth of coarse. Only edges
  /// count, where the step is far above sensor noise, and a ratio ignores gain and offset.
  static func edgeSums(_ work: ViewImage, _ image: ViewImage, factor f: Int)
    -> (contrast: Int, fine: Int, coarse: Int)
  {
    let w = work.width
    let h = work.height
    let nw = image.width
    let nh = image.height
    guard w >= 3, h >= 3, nw >= 7, nh >= 7 else { return (0, 0, 0) }
    var contrast = 0
    var fine = 0
    var coarse = 0
    work.pixels.withUnsafeBufferPointer { p in
      image.pixels.withUnsafeBufferPointer { q in
        for y in 1..<(h - 1) {
          for x in 1..<(w - 1) {
            let g = sobel(p, y * w + x, w)
            let m = abs(g.x) + abs(g.y)
            contrast += m
            guard m >= referenceEdge else { continue }
            let cx = min(x * f + f / 2, nw - 1)
            let cy = min(y * f + f / 2, nh - 1)
            let across = abs(g.x) >= abs(g.y)
            guard across ? cx >= 3 && cx < nw - 3 : cy >= 3 && cy < nh - 3 else { continue }
            let step = across ? 1 : nw
            let i = cy * nw + cx
            let wide = abs(Int(q[i + 3 * step]) - Int(q[i - 3 * step]))
            guard wide >= 8 else { continue }
            var steepest = 0
            for k in -2...1 {
              steepest = max(steepest, abs(Int(q[i + (k + 1) * step]) - Int(q[i + k * step])))
            }
            fine += steepest
            coarse += wide
          }
        }
      }
    }
    return (contrast, fine, coarse)
  }

  @inline(__always)
  private static func sobel(_ p: UnsafeBufferPointer<UInt8>, _ i: Int, _ w: Int)
    -> (x: Int, y: Int)
  {
    let a = Int(p[i - w - 1])
    let b = Int(p[i - w])
    let c = Int(p[i - w + 1])
    let d = Int(p[i - 1])
    let e = Int(p[i + 1])
    let f = Int(p[i + w - 1])
    let g = Int(p[i + w])
    let h = Int(p[i + w + 1])
    return (c + 2 * e + h - a - 2 * d - f, f + 2 * g + h - a - 2 * b - c)
  }

  /// Per block of the reference's grid: its edges (`informative` when there are enough) and,
  /// with `judge`, how many the snapshot supports at offset (ox, oy) in working pixels; and
  /// `aligned`, the blocks whose edges keep their direction whatever their strength (a blur).
  private mutating func blocks(_ ref: ViewImage, _ snap: ViewImage, _ ox: Int, _ oy: Int,
                               judge: Bool) -> (matched: Int, informative: Int, aligned: Int) {
    let w = ref.width
    let h = ref.height
    let g = Self.grid
    for b in 0..<(g * g) {
      edges[b] = 0
      support[b] = 0
      direction[b] = 0
    }
    guard w >= 3, h >= 3, snap.width == w, snap.height == h else { return (0, 0, 0) }
    ref.pixels.withUnsafeBufferPointer { r in
      snap.pixels.withUnsafeBufferPointer { s in
        edges.withUnsafeMutableBufferPointer { e in
          support.withUnsafeMutableBufferPointer { sup in
          direction.withUnsafeMutableBufferPointer { dir in
            for y in 1..<(h - 1) {
              let sy = y + oy
              let by = y * g / h * g
              for x in 1..<(w - 1) {
                let rg = Self.sobel(r, y * w + x, w)
                guard abs(rg.x) + abs(rg.y) >= Self.referenceEdge else { continue }
                let sx = x + ox
                guard sx >= 1, sy >= 1, sx < w - 1, sy < h - 1 else { continue }
                let b = by + x * g / w
                e[b] += 1
                guard judge else { continue }
                let sg = Self.sobel(s, sy * w + sx, w)
                let m = abs(sg.x) + abs(sg.y)
                guard m >= Self.snapshotEdge else { continue }
                let dot = sg.x * rg.x + sg.y * rg.y
                let cross = abs(sg.x * rg.y - sg.y * rg.x)
                guard dot > 0 && cross * Self.crossTimes <= dot * Self.dotTimes else { continue }
                dir[b] += 1
                if m * Self.keptStrength >= abs(rg.x) + abs(rg.y) { sup[b] += 1 }
              }
            }
          }
          }
        }
      }
    }
    // Enough edges to judge: one pixel in 20 of the block, and at least 6.
    let minEdges = max(6, (w / g) * (h / g) / 20)
    var matched = 0
    var informative = 0
    var aligned = 0
    for b in 0..<(g * g) where edges[b] >= minEdges {
      informative += 1
      if support[b] * 1000 >= edges[b] * Self.blockSupportPerMille { matched += 1 }
      if direction[b] * 1000 >= edges[b] * Self.blockSupportPerMille { aligned += 1 }
    }
    return (matched, informative, aligned)
  }

  /// The shift of `snap` against `ref` along one projection, in full-resolution pixels
  /// (8 per decoded pixel): the best correlation of the two (less their means) over offsets
  /// within a twelfth of the side (at least 8), refined to an eighth of a pixel by a parabola
  /// through the neighbours. Signed gradients and correlation, both linear: a blur then
  /// only smooths the correlation around its peak. (Projections of |gradient| compared by
  /// their least difference found 4-pixel shifts in a blurred view.) Both are smoothed over
  /// 5 entries, and a shift must beat no shift by `shiftMarginPercent`: a flat peak is no
  /// evidence of a move. A shift beyond the range matches nowhere: the view reads obstructed.
  private mutating func shift(_ snap: [Int16], _ ref: [Int16]) -> Int {
    let n = ref.count
    guard snap.count == n, n >= 8 else { return 0 }
    Self.smooth(snap, into: &smoothSnap)
    Self.smooth(ref, into: &smoothRef)
    let range = min(max(8, n / 12), n / 4)
    Self.zero(&costs, 2 * range + 1)
    var best = 0
    var bestScore = Int.min
    smoothSnap.withUnsafeBufferPointer { s in
      smoothRef.withUnsafeBufferPointer { r in
        costs.withUnsafeMutableBufferPointer { c in
          var ms = 0
          var mr = 0
          for x in 1..<(n - 1) {
            ms += s[x]
            mr += r[x]
          }
          ms /= n - 2
          mr /= n - 2
          for d in -range...range {
            let lo = max(1, 1 - d)
            let hi = min(n - 2, n - 2 - d)
            var sum: Int64 = 0
            for x in lo...hi { sum += Int64(s[x + d] - ms) * Int64(r[x] - mr) }
            // Per entry of the overlap, in units of 1/256, held within +-2^28 so that the
            // arithmetic below stays inside a 32-bit Int (armv7 boards).
            let perEntry = sum / Int64(max(1, hi - lo + 1)) / 256
            let score = Int(clamping: max(-(1 << 28), min(1 << 28, perEntry)))
            c[d + range] = score
            // Ties go to the smaller shift.
            if score > bestScore || (score == bestScore && abs(d) < abs(best)) {
              best = d
              bestScore = score
            }
          }
        }
      }
    }
    let atZero = Int64(costs[range])
    let peak = Int64(bestScore)
    if best != 0 && (peak - atZero) * 100 < abs(peak) * Int64(Self.shiftMarginPercent) {
      best = 0
    }
    var eighths = 0
    if best > -range && best < range {
      let before = Int64(costs[best + range - 1])
      let at = Int64(costs[best + range])
      let after = Int64(costs[best + range + 1])
      let den = before - 2 * at + after
      if den < 0 { eighths = Int(clamping: min(4, max(-4, 4 * (before - after) / den))) }
    }
    return 8 * best + eighths
  }

  /// A projection's inner entries summed over 5 neighbours (within the inner entries).
  private static func smooth(_ p: [Int16], into out: inout [Int]) {
    zero(&out, p.count)
    let n = p.count
    guard n >= 3 else { return }
    for x in 1..<(n - 1) {
      var sum = 0
      for k in max(1, x - 2)...min(n - 2, x + 2) { sum += Int(p[k]) }
      out[x] = sum
    }
  }
}
