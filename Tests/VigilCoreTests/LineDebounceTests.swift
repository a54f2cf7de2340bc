import Testing
@testable import VigilCore

@Suite struct LineDebounceTests {
  @Test func firstReadingIsBelievedAtOnce() {
    var d = LineDebounce(debounceMs: 50)
    #expect(d.sample(true, nowMs: 0) == true)
    #expect(d.stable == true)
    #expect(d.deadlineMs == nil)
  }

  @Test func aChangeCountsOnlyOnceItHasHeld() {
    var d = LineDebounce(debounceMs: 50)
    _ = d.sample(true, nowMs: 0)
    #expect(d.sample(false, nowMs: 1000) == nil)
    #expect(d.deadlineMs == 1050)
    #expect(d.settle(nowMs: 1049) == nil)
    #expect(d.settle(nowMs: 1050) == false)
    #expect(d.stable == false)
    #expect(d.deadlineMs == nil)
  }

  @Test func aChatteringContactGivesNoChangeUntilItSettles() {
    var d = LineDebounce(debounceMs: 200)
    _ = d.sample(true, nowMs: 0)
    var changes = 0
    // 100 flips in one second: never 200 ms unchanged.
    for i in 1...100 {
      let t = Int64(i) * 10
      if d.sample(i % 2 == 0, nowMs: t) != nil { changes += 1 }
      if d.settle(nowMs: t + 5) != nil { changes += 1 }
    }
    #expect(changes == 0)
    // It ends closed (even count): the same as before, so nothing to report at all.
    #expect(d.settle(nowMs: 5000) == nil)
    #expect(d.stable == true)
  }

  @Test func aBounceShorterThanTheDebounceIsIgnored() {
    var d = LineDebounce(debounceMs: 50)
    _ = d.sample(true, nowMs: 0)
    _ = d.sample(false, nowMs: 100)
    _ = d.sample(true, nowMs: 120)
    #expect(d.settle(nowMs: 200) == nil)
    #expect(d.stable == true)
  }

  @Test func noDebounceReportsAtOnce() {
    var d = LineDebounce(debounceMs: 0)
    _ = d.sample(true, nowMs: 0)
    #expect(d.sample(false, nowMs: 10) == false)
  }
}

@Suite struct RecoveryHoldTests {
  @Test func lossesAreImmediateReturnsWaitForTheHold() {
    var h = RecoveryHold(holdMs: 2000)
    #expect(h.update(true, nowMs: 0) == RecoveryHold.Change(from: nil, to: true, heldMs: 0))
    #expect(h.update(false, nowMs: 1000) == RecoveryHold.Change(from: true, to: false, heldMs: 1000))
    #expect(h.update(true, nowMs: 5000) == nil)
    #expect(h.deadlineMs == 7000)
    #expect(h.tick(nowMs: 6999) == nil)
    #expect(h.tick(nowMs: 7000) == RecoveryHold.Change(from: false, to: true, heldMs: 6000))
  }

  @Test func aReturnInterruptedByALossStartsOver() {
    var h = RecoveryHold(holdMs: 2000)
    _ = h.update(false, nowMs: 0)
    _ = h.update(true, nowMs: 1000)
    #expect(h.update(false, nowMs: 2500) == nil)  // still lost: no new change
    #expect(h.deadlineMs == nil)
    #expect(h.tick(nowMs: 4000) == nil)
    #expect(h.reported == false)
  }
}

@Suite struct CabinetSignalTests {
  @Test func doorOpenedAtOnceClosedAfterTheHold() {
    var door = CabinetSignal(.door, holdMs: 2000)
    #expect(door.word == "unknown")
    #expect(door.level(true, nowMs: 0) == nil)  // closed at start: not news
    #expect(door.word == "closed")
    #expect(door.level(false, nowMs: 10_000) == CabinetSignal.Event(kind: "door_opened", previousMs: 10_000))
    #expect(door.word == "open")
    #expect(door.level(true, nowMs: 70_000) == nil)
    #expect(door.tick(nowMs: 72_000) == CabinetSignal.Event(kind: "door_closed", previousMs: 62_000))
    #expect(door.word == "closed")
  }

  @Test func mainsLostAtStartIsNews() {
    var mains = CabinetSignal(.mains, holdMs: 2000)
    #expect(mains.level(false, nowMs: 0) == CabinetSignal.Event(kind: "mains_lost", previousMs: 0))
    #expect(mains.word == "lost")
    _ = mains.level(true, nowMs: 1000)
    #expect(mains.tick(nowMs: 3000)?.kind == "mains_restored")
    #expect(mains.word == "ok")
  }
}
