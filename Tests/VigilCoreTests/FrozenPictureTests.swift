import Testing
@testable import VigilCore

@Suite struct FrozenPictureTests {
  func picture(_ n: UInt8, size: Int = 2000) -> [UInt8] {
    [0xFF, 0xD8, 0xFF, 0xDB] + (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) ^ n }
      + [0xFF, 0xD9]
  }

  @Test func frozenAfterThreeIdenticalBodiesAndNotBefore() {
    var f = FrozenPicture()
    let a = picture(1)
    #expect(f.saw(a) == false)
    #expect(f.saw(a) == false)
    #expect(f.saw(a) == true)
    #expect(f.isFrozen)
    #expect(f.saw(a) == true)
    #expect(f.inARow == FrozenPicture.sameInARow)
  }

  @Test func aChangedPictureResetsTheRun() {
    var f = FrozenPicture()
    let a = picture(1)
    let b = picture(2)
    _ = f.saw(a)
    _ = f.saw(a)
    #expect(f.saw(b) == false)
    #expect(f.saw(b) == false)
    #expect(f.saw(b) == true)
    #expect(f.saw(a) == false)
    #expect(f.inARow == 1)
    // One byte apart, or the same bytes with one more at the end, is another picture.
    var c = a
    c[1000] ^= 0x01
    _ = f.saw(a)
    #expect(f.saw(c) == false)
    #expect(f.saw(a + [0x00]) == false)
    // Live pictures never freeze.
    var g = FrozenPicture()
    for i in 0..<100 { #expect(g.saw(picture(UInt8(i))) == false) }
  }

  @Test func resetForgetsTheLastPicture() {
    var f = FrozenPicture()
    let a = picture(3)
    _ = f.saw(a)
    _ = f.saw(a)
    f.reset()
    #expect(f.saw(a) == false)
    #expect(f.saw(a) == false)
    #expect(f.saw(a) == true)
    var e = FrozenPicture()
    _ = e.saw([])
    _ = e.saw([])
    #expect(e.saw([]) == true)
  }
}

@Suite struct RTPRunTests {
  /// `frames` frames of `perFrame` packets from `seq` and `ts`, `step` ticks apart (3000: 30 fps
  /// at 90 kHz).
  func feed(_ r: inout RTPRun, seq: UInt16, ts: UInt32, frames: Int, perFrame: Int = 4,
            step: UInt32 = 3000) {
    var s = seq
    var t = ts
    for _ in 0..<frames {
      for _ in 0..<perFrame {
        r.packet(sequence: s, timestamp: t)
        s &+= 1
      }
      t &+= step
    }
  }

  @Test func aFlowingStreamHasNoFault() {
    var r = RTPRun()
    feed(&r, seq: 100, ts: 123_456, frames: 50)
    #expect(r.fault == nil)
    #expect(r.packets == 200)
  }

  @Test func wrappingSequenceAndTimestampsAreNotFrozen() {
    var r = RTPRun()
    feed(&r, seq: 65_530, ts: UInt32.max - 4000, frames: 3, perFrame: 6)
    #expect(r.fault == nil)
    // Each wraps on the other's step alone: still flowing.
    var s = RTPRun()
    s.packet(sequence: 65_535, timestamp: 10)
    s.packet(sequence: 0, timestamp: 3010)
    #expect(s.fault == nil)
    var t = RTPRun()
    t.packet(sequence: 7, timestamp: UInt32.max)
    t.packet(sequence: 8, timestamp: 2999)
    #expect(t.fault == nil)
  }

  @Test func timestampsThatStayAreFrozenAndNoPacketIsNoMedia() {
    #expect(RTPRun().fault == .noMedia)
    var r = RTPRun()
    feed(&r, seq: 1, ts: 90_000, frames: 40, step: 0)
    #expect(r.fault == .frozen)
    var one = RTPRun()
    one.packet(sequence: 1, timestamp: 5)
    #expect(one.fault == .frozen)
    // One packet sent again and again, or only going back, is not progress either.
    var again = RTPRun()
    for _ in 0..<50 { again.packet(sequence: 9, timestamp: 900) }
    #expect(again.fault == .frozen)
    var back = RTPRun()
    for k in 0..<50 {
      back.packet(sequence: UInt16(1000 - k), timestamp: UInt32(200_000 - k * 3000))
    }
    #expect(back.fault == .frozen)
  }

  @Test func rtpBytes() {
    var r = RTPRun()
    // V=2, PT 26 (JPEG), seq 0xFFFF, ts 0xFFFFFF00, SSRC.
    let a: [UInt8] = [0x80, 0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 1, 2, 3, 4, 0xAA]
    let b: [UInt8] = [0x80, 0x9A, 0x00, 0x00, 0x00, 0x00, 0x0B, 0xB8, 1, 2, 3, 4]
    #expect(a.withUnsafeBytes { r.packet(rtp: $0) })
    #expect(r.fault == .frozen)
    #expect(b.withUnsafeBytes { r.packet(rtp: $0) })
    #expect(r.fault == nil)
    // Short, or not version 2: not counted.
    var bad = RTPRun()
    #expect(!Array(a.prefix(11)).withUnsafeBytes { bad.packet(rtp: $0) })
    #expect(![UInt8](repeating: 0x40, count: 20).withUnsafeBytes { bad.packet(rtp: $0) })
    #expect(![UInt8]().withUnsafeBytes { bad.packet(rtp: $0) })
    #expect(bad.fault == .noMedia)
  }
}
