import Testing
@testable import VigilCore

/// A street as the decoder gives it at 1/8 scale (240 x 135 for 1080p): sky, buildings with
/// windows and a roof slope, poles, a road with lane marks, and a fixed texture; drawn on a
/// larger canvas so that a shifted view has real content at its edges.
struct Street {
  static let margin = 16
  let width: Int
  let height: Int
  private let canvas: [Int]
  private var canvasWidth: Int { width + 2 * Street.margin }

  init(width: Int = 240, height: Int = 135) {
    self.width = width
    self.height = height
    let cw = width + 2 * Street.margin
    let ch = height + 2 * Street.margin
    var c = [Int](repeating: 0, count: cw * ch)
    var rng = Rng(seed: 1)
    func sx(_ v: Int) -> Int { v * cw / 272 }
    func sy(_ v: Int) -> Int { v * ch / 167 }
    for y in 0..<ch {
      for x in 0..<cw {
        var v = y < sy(60) ? 190 - y / 2 : 80 + (y - sy(60)) / 3  // sky, then road
        // Buildings, each with a grid of windows.
        let blocks = [(20, 25, 80, 100, 120), (90, 40, 150, 100, 90), (160, 15, 230, 100, 140),
                      (235, 50, 270, 100, 70)]
        for (x0, y0, x1, y1, g) in blocks
        where x >= sx(x0) && x < sx(x1) && y >= sy(y0) && y < sy(y1) {
          v = g
          let wx = (x - sx(x0)) % 10
          let wy = (y - sy(y0)) % 9
          if wx >= 3 && wx < 7 && wy >= 3 && wy < 7 { v = g > 100 ? g - 60 : g + 70 }
        }
        // A roof slope over the second building.
        if x >= sx(90) && x < sx(150) && y < sy(40) && y >= sy(40) - (x - sx(90)) / 3 {
          v = 50
        }
        // Poles.
        if (x >= sx(84) && x < sx(87)) || (x >= sx(154) && x < sx(157)), y >= sy(30), y < sy(140) {
          v = 35
        }
        // Lane marks.
        if y >= sy(140) && y < sy(143) && (x / 14) % 2 == 0 { v = 225 }
        if y >= sy(118) && y < sy(120) { v = 200 }
        v += rng.next(8) - 4  // texture
        c[y * cw + x] = v
      }
    }
    canvas = c
  }

  /// The view, its content moved right by `dx` and down by `dy`, with sensor noise.
  func frame(dx: Int = 0, dy: Int = 0, noise: Int = 2, seed: UInt64 = 7) -> ViewImage {
    var img = ViewImage(width: width, height: height)
    var rng = Rng(seed: seed)
    for y in 0..<height {
      for x in 0..<width {
        let cx = x + Street.margin - dx
        let cy = y + Street.margin - dy
        var v = canvas[cy * canvasWidth + cx]
        if noise > 0 { v += rng.next(2 * noise + 1) - noise }
        img.set(x, y, UInt8(clamping: v))
      }
    }
    return img
  }
}

struct Rng {
  var s: UInt64
  init(seed: UInt64) { s = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
  mutating func next(_ n: Int) -> Int {
    s ^= s << 13
    s ^= s >> 7
    s ^= s << 17
    return Int(truncatingIfNeeded: s >> 33) % max(n, 1)
  }
}

enum Damage {
  static func map(_ img: ViewImage, _ f: (Int, Int, Int) -> Int) -> ViewImage {
    var out = img
    for y in 0..<img.height {
      for x in 0..<img.width { out.set(x, y, UInt8(clamping: f(x, y, Int(img[x, y])))) }
    }
    return out
  }

  static func gain(_ img: ViewImage, times tenths: Int, plus offset: Int) -> ViewImage {
    map(img) { _, _, v in v * tenths / 10 + offset }
  }

  static func noise(_ img: ViewImage, amplitude a: Int, seed: UInt64) -> ViewImage {
    var rng = Rng(seed: seed)
    return map(img) { _, _, v in v + rng.next(2 * a + 1) - a }
  }

  /// A bright car with a dark windscreen over `fraction` per mille of the picture.
  static func car(_ img: ViewImage) -> ViewImage {
    let w = img.width * 3 / 10
    let h = img.height * 27 / 100  // 0.3 x 0.27 = 8 %
    let x0 = img.width * 2 / 5
    let y0 = img.height * 3 / 5
    return map(img) { x, y, v in
      guard x >= x0, x < x0 + w, y >= y0, y < y0 + h else { return v }
      return y < y0 + h / 3 && x > x0 + w / 4 ? 40 : 235
    }
  }

  /// A branch: dark leaves with their own texture, an irregular blob grown in from the left.
  static func branchMask(_ x: Int, _ y: Int, _ w: Int, _ h: Int) -> Bool {
    // Lobes along a curve from the top-left corner.
    let lobes = [(0, 0, 60), (40, 30, 45), (70, 70, 40), (20, 90, 45), (100, 20, 35),
                 (0, 60, 50), (55, 120, 30)]
    for (cx, cy, r) in lobes {
      let px = x * 240 / w - cx
      let py = y * 135 / h - cy
      if px * px + py * py <= r * r { return true }
    }
    return false
  }

  static func branch(_ img: ViewImage) -> ViewImage {
    var rng = Rng(seed: 99)
    return map(img) { x, y, v in
      let leaf = rng.next(30)
      return branchMask(x, y, img.width, img.height) ? 30 + leaf : v
    }
  }

  static func cover(_ img: ViewImage) -> ViewImage {
    var rng = Rng(seed: 5)
    return map(img) { _, _, _ in 24 + rng.next(5) - 2 }
  }

  static func boxBlur(_ img: ViewImage, radius r: Int) -> ViewImage {
    map(img) { x, y, _ in
      var sum = 0
      for yy in (y - r)...(y + r) {
        for xx in (x - r)...(x + r) { sum += Int(img[xx, yy]) }
      }
      return sum / ((2 * r + 1) * (2 * r + 1))
    }
  }
}

@Suite struct ViewWatchTests {
  let street = Street()

  /// A watch that has learnt the street by day from five snapshots with their own noise.
  func learnt(_ street: Street? = nil) -> (ViewWatch, ViewScorer) {
    let s = street ?? self.street
    var watch = ViewWatch()
    var scorer = ViewScorer()
    for k in 0..<ViewWatch.learnFrom {
      _ = watch.saw(s.frame(seed: UInt64(10 + k)), mode: .day, scorer: &scorer)
    }
    return (watch, scorer)
  }

  func score(_ img: ViewImage) -> ViewScore? {
    var (watch, scorer) = learnt()
    let step = watch.saw(img, mode: .day, scorer: &scorer)
    if let s = step.score {
      print("score: coverage \(s.coverage) sharpness \(s.sharpness) contrast \(s.contrast) "
        + "shift \(s.shiftX),\(s.shiftY) = \(s.shiftPx) blocks \(s.blocks) -> \(s.condition.name)")
    }
    return step.score
  }

  /// Three snapshots of `img`: the state they enter.
  func stateAfterThree(_ img: ViewImage) -> ViewState {
    var (watch, scorer) = learnt()
    for _ in 0..<3 { _ = watch.saw(img, mode: .day, scorer: &scorer) }
    return watch.state
  }

  @Test func learnsFromFiveConsistentSnapshots() {
    var watch = ViewWatch()
    var scorer = ViewScorer()
    #expect(watch.state == .unscored)
    var first = watch.saw(street.frame(seed: 1), mode: .day, scorer: &scorer)
    #expect(first.changed == .learning)
    for k in 2..<ViewWatch.learnFrom {
      first = watch.saw(street.frame(seed: UInt64(k)), mode: .day, scorer: &scorer)
      #expect(first.changed == nil)
      #expect(first.learnt == nil)
      #expect(watch.learntSoFar == k)
    }
    let last = watch.saw(street.frame(seed: 9), mode: .day, scorer: &scorer)
    #expect(last.changed == .clear)
    #expect(last.learnt == .day)
    #expect(watch.reference(.day) != nil)
    #expect(watch.reference(.night) == nil)
    // Night has its own reference: the first night snapshot starts learning it.
    let night = watch.saw(Damage.gain(street.frame(), times: 4, plus: 0), mode: .night,
                          scorer: &scorer)
    #expect(night.changed == .learning)
  }

  /// An inconsistent snapshot restarts the learning from itself; a featureless one (a cover)
  /// is skipped and changes nothing.
  @Test func learningNeedsConsistentSnapshots() {
    var watch = ViewWatch()
    var scorer = ViewScorer()
    for k in 0..<3 { _ = watch.saw(street.frame(seed: UInt64(k)), mode: .day, scorer: &scorer) }
    #expect(watch.learntSoFar == 3)
    _ = watch.saw(Damage.cover(street.frame()), mode: .day, scorer: &scorer)
    #expect(watch.learntSoFar == 3)
    _ = watch.saw(Damage.branch(street.frame()), mode: .day, scorer: &scorer)
    #expect(watch.learntSoFar == 1)
    #expect(watch.state == .learning)
    // The branch frame is the new first: a clear one disagrees with it and restarts again.
    _ = watch.saw(street.frame(seed: 40), mode: .day, scorer: &scorer)
    #expect(watch.learntSoFar == 1)
    for k in 0..<4 {
      _ = watch.saw(street.frame(seed: UInt64(50 + k)), mode: .day, scorer: &scorer)
    }
    #expect(watch.state == .clear)
  }

  @Test func gainAndOffsetStayClear() {
    let s = score(Damage.gain(street.frame(), times: 6, plus: 30))
    #expect(s?.condition == .clear)
    #expect(stateAfterThree(Damage.gain(street.frame(), times: 6, plus: 30)) == .clear)
  }

  @Test func noiseStaysClear() {
    let s = score(Damage.noise(street.frame(), amplitude: 12, seed: 3))
    #expect(s?.condition == .clear)
    #expect((s?.coverage ?? 0) >= 850)
  }

  @Test func aCarStaysClear() {
    let s = score(Damage.car(street.frame()))
    #expect(s?.condition == .clear)
    #expect((s?.coverage ?? 0) >= 800)
  }

  @Test func aBranchOverFortyPercentIsObstructed() {
    var covered = 0
    for y in 0..<street.height {
      for x in 0..<street.width
      where Damage.branchMask(x, y, street.width, street.height) { covered += 1 }
    }
    let fraction = covered * 1000 / (street.width * street.height)
    print("branch covers \(fraction) per mille")
    #expect(fraction >= 380 && fraction <= 480)
    let s = score(Damage.branch(street.frame()))
    #expect(s?.condition == .obstructed)
    #expect(stateAfterThree(Damage.branch(street.frame())) == .obstructed)
  }

  @Test func aUniformCoverIsObstructed() {
    let s = score(Damage.cover(street.frame()))
    #expect(s?.condition == .obstructed)
    #expect((s?.coverage ?? 1000) <= 100)
  }

  @Test func aBoxBlurIsBlurred() {
    let s = score(Damage.boxBlur(street.frame(), radius: 3))
    #expect(s?.condition == .blurred)
    #expect((s?.sharpness ?? 1000) < ViewScore.blurredBelow)
    #expect(stateAfterThree(Damage.boxBlur(street.frame(), radius: 3)) == .blurred)
  }

  @Test func aShiftOfFivePixelsIsMoved() {
    let s = score(street.frame(dx: 5))
    #expect(s?.condition == .moved)
    #expect(abs((s?.shiftPx ?? 0) - 40) <= 4)
    #expect(abs((s?.shiftX ?? 0) - 40) <= 4)
    let d = score(street.frame(dx: -3, dy: 4))
    #expect(d?.condition == .moved)
    #expect(abs((d?.shiftPx ?? 0) - 40) <= 6)
    // A pixel of sway is no move.
    #expect(score(street.frame(dx: 1))?.condition == .clear)
  }

  @Test func aShiftAt720pIsFoundInFullPixels() {
    let small = Street(width: 160, height: 90)
    var (watch, scorer) = learnt(small)
    let s = watch.saw(small.frame(dx: 5), mode: .day, scorer: &scorer).score
    #expect(s?.condition == .moved)
    #expect(abs((s?.shiftPx ?? 0) - 40) <= 4)
  }

  @Test func aStateIsEnteredAfterThreeOfFourAndLeftTheSameWay() {
    var (watch, scorer) = learnt()
    let clear = street.frame(seed: 70)
    let covered = Damage.cover(street.frame())
    #expect(watch.state == .clear)
    // Two of four: stays clear.
    for img in [covered, clear, covered, clear] {
      #expect(watch.saw(img, mode: .day, scorer: &scorer).changed == nil)
    }
    #expect(watch.state == .clear)
    // Third of the last four: obstructed.
    _ = watch.saw(covered, mode: .day, scorer: &scorer)  // clear, covered, clear, covered
    #expect(watch.state == .clear)
    let step = watch.saw(covered, mode: .day, scorer: &scorer)  // covered, clear, covered, covered
    #expect(step.changed == .obstructed)
    #expect(watch.state == .obstructed)
    // Leaving: two clear of four does not, three do.
    #expect(watch.saw(clear, mode: .day, scorer: &scorer).changed == nil)
    #expect(watch.saw(clear, mode: .day, scorer: &scorer).changed == nil)
    #expect(watch.state == .obstructed)
    #expect(watch.saw(covered, mode: .day, scorer: &scorer).changed == nil)
    #expect(watch.saw(clear, mode: .day, scorer: &scorer).changed == .clear)
  }

  @Test func withoutSnapshotsAViewIsUnscoredNeverClear() {
    let (learntWatch, _) = learnt()
    guard let ref = learntWatch.reference(.day) else {
      Issue.record("no reference learnt")
      return
    }
    var watch = ViewWatch()
    var scorer = ViewScorer()
    watch.install(ref)
    #expect(watch.state == .unscored)
    #expect(watch.saw(street.frame(seed: 3), mode: .day, scorer: &scorer).changed == nil)
    #expect(watch.saw(street.frame(seed: 4), mode: .day, scorer: &scorer).changed == nil)
    #expect(watch.state == .unscored)
    #expect(watch.saw(street.frame(seed: 5), mode: .day, scorer: &scorer).changed == .clear)
    // The camera stops giving pictures.
    #expect(watch.missed() == nil)
    #expect(watch.missed() == nil)
    #expect(watch.missed() == .unscored)
    #expect(watch.lastScore == nil)
    // A picture of another size cannot be scored either.
    let other = Street(width: 160, height: 90)
    #expect(watch.saw(other.frame(), mode: .day, scorer: &scorer).score == nil)
  }

  @Test func retakeLearnsAnew() {
    var (watch, scorer) = learnt()
    #expect(watch.retake(.day) == .learning)
    #expect(watch.reference(.day) == nil)
    var learntNow: ViewMode?
    for k in 0..<ViewWatch.learnFrom {
      let step = watch.saw(street.frame(dx: 6, seed: UInt64(k)), mode: .day, scorer: &scorer)
      if let m = step.learnt { learntNow = m }
    }
    #expect(learntNow == .day)
    #expect(watch.reference(.day) != nil)
    #expect(watch.state == .clear)
    // The new reference is the moved view: it scores clear, the old view now is moved.
    #expect(watch.saw(street.frame(dx: 6), mode: .day, scorer: &scorer).score?.condition == .clear)
  }

  @Test func aReferenceRoundTripsThroughItsBytes() throws {
    let (watch, _) = learnt()
    guard let ref = watch.reference(.day) else {
      Issue.record("no reference learnt")
      return
    }
    let bytes = ref.encode()
    print("reference: \(bytes.count) bytes")
    #expect(bytes.count == 18 + 2 * (240 + 135) + 120 * 67 + 4)
    let back = try ViewReference.decode(bytes)
    #expect(back == ref)
  }

  @Test func damagedReferenceBytesAreRefused() {
    let (watch, _) = learnt()
    guard let bytes = watch.reference(.day)?.encode() else {
      Issue.record("no reference learnt")
      return
    }
    func refusal(_ b: [UInt8]) -> ViewReference.DecodeError? {
      do {
        _ = try ViewReference.decode(b)
        return nil
      } catch {
        return error
      }
    }
    var flipped = bytes
    flipped[bytes.count / 2] ^= 0x10
    #expect(refusal(flipped) == .badChecksum)
    #expect(refusal(Array(bytes.dropLast(7))) == .lengthMismatch(expected: bytes.count,
                                                                  found: bytes.count - 7))
    #expect(refusal(Array(bytes.prefix(5))) == .tooShort(5))
    var magic = bytes
    magic[0] = 0
    #expect(refusal(magic) == .notAReference)
    var version = bytes
    version[4] = 9
    #expect(refusal(version) == .unknownVersion(9))
    var mode = bytes
    mode[5] = 0x78
    #expect(refusal(mode) == .unknownMode(0x78))
    var size = bytes
    size[6] = 0xFF
    size[7] = 0xFF
    #expect(refusal(size) == .badSize(width: 65535, height: 135))
    #expect(refusal([]) == .tooShort(0))
    #expect(refusal(flipped)?.message == "checksum does not match")
    #expect(refusal(size)?.message == "picture size out of range")
  }

  @Test func theCharacterPictureFitsItsWidth() {
    let img = street.frame()
    let rows = ViewPicture.rows(img, columns: 38)
    // 240 x 135 in 38 columns of cells twice as tall as wide: 38 * 135 / 240 / 2 = 10.7.
    #expect(rows.count == 11)
    for r in rows { #expect(r.utf8.count == 38) }
    let both = ViewPicture.sideBySide(Damage.branch(img), img)
    #expect(both.count == 11)
    for r in both { #expect(r.utf8.count == 80) }
    for r in both { print(r) }
    // The sky is bright, the road dark: the top row uses brighter characters than the last.
    let ramp = ViewPicture.ramp
    func level(_ s: String) -> Int {
      var sum = 0
      for c in s.utf8 { sum += ramp.firstIndex(of: c) ?? 0 }
      return sum
    }
    #expect(level(rows[0]) > level(rows[rows.count - 1]))
    #expect(ViewPicture.rows(ViewImage(width: 0, height: 0), columns: 38).isEmpty)
    #expect(ViewPicture.rows(img, columns: 0).allSatisfy { $0.utf8.count == 1 })
  }

  @Test func scoresPrintWithTwoDecimals() {
    #expect(ViewScore.decimal(870) == "0.87")
    #expect(ViewScore.decimal(1000) == "1.00")
    #expect(ViewScore.decimal(0) == "0.00")
    #expect(ViewScore.decimal(5) == "0.01")
    #expect(ViewScore.decimal(994) == "0.99")
    #expect(ViewScore.decimal(995) == "1.00")
    #expect(ViewScore.decimal(-3) == "0.00")
    #expect(ViewScore.decimal(4000) == "1.00")
    #expect(ViewScore.decimal(70) == "0.07")
  }

  @Test func aBlurInDimLightWithNoiseIsStillBlurred() {
    let dim = Damage.noise(Damage.gain(Damage.boxBlur(street.frame(), radius: 3), times: 7,
                                       plus: 10), amplitude: 3, seed: 8)
    #expect(score(dim)?.condition == .blurred)
  }

  /// A car in one of the five learning snapshots is not learnt: the reference is their
  /// per-pixel median.
  @Test func aCarWhileLearningIsNotLearnt() {
    var watch = ViewWatch()
    var scorer = ViewScorer()
    for k in 0..<ViewWatch.learnFrom {
      let f = street.frame(seed: UInt64(20 + k))
      _ = watch.saw(k == 2 ? Damage.car(f) : f, mode: .day, scorer: &scorer)
    }
    #expect(watch.state == .clear)
    let s = watch.saw(street.frame(seed: 90), mode: .day, scorer: &scorer).score
    #expect((s?.coverage ?? 0) >= 950)
    #expect(s?.condition == .clear)
  }

  /// Traffic in two of every four snapshots never leaves `clear`.
  @Test func trafficDoesNotSwitchTheState() {
    var (watch, scorer) = learnt()
    for k in 0..<12 {
      let f = street.frame(seed: UInt64(100 + k))
      let step = watch.saw(k % 2 == 0 ? Damage.car(f) : f, mode: .day, scorer: &scorer)
      #expect(step.changed == nil)
    }
    #expect(watch.state == .clear)
  }

  /// Night has its own reference; day snapshots are still scored against the day's.
  @Test func nightLearnsItsOwnReference() {
    var (watch, scorer) = learnt()
    func night(_ seed: UInt64) -> ViewImage {
      Damage.noise(Damage.gain(street.frame(seed: seed), times: 3, plus: 5), amplitude: 4,
                   seed: seed)
    }
    for k in 0..<ViewWatch.learnFrom {
      _ = watch.saw(night(UInt64(30 + k)), mode: .night, scorer: &scorer)
    }
    #expect(watch.state == .clear)
    #expect(watch.reference(.night) != nil)
    #expect(watch.saw(night(77), mode: .night, scorer: &scorer).score?.condition == .clear)
    #expect(watch.saw(street.frame(), mode: .day, scorer: &scorer).score?.condition == .clear)
    #expect(watch.saw(Damage.cover(night(78)), mode: .night, scorer: &scorer).score?.condition
      == .obstructed)
  }

  /// A knock beyond the search range (a twelfth of the width) matches nowhere: obstructed,
  /// the view is lost either way.
  @Test func aShiftBeyondTheRangeReadsObstructed() {
    let wide = Street(width: 240, height: 135)
    var (watch, scorer) = learnt(wide)
    let base = wide.frame()
    let far = Damage.map(base) { x, y, _ in Int(base[x + 60, y + 30]) }
    #expect(watch.saw(far, mode: .day, scorer: &scorer).score?.condition == .obstructed)
  }

  @Test func anImageIsBoundsSafeAndReusesItsBuffer() {
    var img = ViewImage(width: 4, height: 3, fill: 9)
    img.set(3, 2, 200)
    #expect(img[3, 2] == 200)
    #expect(img[10, 10] == 200)  // clamped to the corner
    #expect(img[-1, -1] == 9)
    img.set(-1, 99, 1)  // ignored
    #expect(ViewImage(width: 4, height: 3, pixels: [1, 2]) == nil)
    #expect(ViewImage(width: 0, height: 3, pixels: []) == nil)
    img.reshape(width: 240, height: 135)
    let storage = img.pixels.withUnsafeBufferPointer { $0.baseAddress }
    img.set(5, 5, 77)
    img.reshape(width: 240, height: 135)  // the next snapshot, same size: same storage
    #expect(img.pixels.withUnsafeBufferPointer { $0.baseAddress } == storage)
    #expect(img[5, 5] == 0)
    #expect(img.pixels.count == 240 * 135)
    var tooSmall = ViewScorer()
    var f = ViewFeatures()
    #expect(tooSmall.measure(ViewImage(width: 10, height: 10), into: &f) == false)
  }
}
