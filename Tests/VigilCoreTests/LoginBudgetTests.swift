import Testing
@testable import VigilCore

@Suite struct LoginBudgetTests {
  let minute: Int64 = 60_000

  /// Whether any closed interval of 30 minutes holds more than three of `times`.
  func tooMany(_ times: [Int64]) -> Bool {
    let t = times.sorted()
    return t.indices.dropLast(3).contains { t[$0 + 3] - t[$0] <= LoginBudget.windowMs }
  }

  @Test func aHealthyCameraLogsInEveryTurn() {
    var b = LoginBudget()
    for i in 0..<1000 {
      let t = Int64(i) * 10_000
      #expect(b.mayTry(nowMs: t) == true)
      #expect(b.mayTry(nowMs: t) == true)
      b.succeeded()
      b.succeeded()
    }
    #expect(!b.refusing)
    #expect(b.nextTryMs == nil)
  }

  @Test func aRefusalStopsTriesAndGivesOneEvent() {
    var b = LoginBudget()
    // A snapshot and an RTSP check of the same turn, both refused.
    #expect(b.mayTry(nowMs: 0) == true)
    #expect(b.mayTry(nowMs: 0) == true)
    #expect(b.refused(nowMs: 100) == true)
    #expect(b.refused(nowMs: 200) == false)
    #expect(b.refusing)
    // Turns every 10 s: nothing is tried while the window holds two failures.
    for t in stride(from: Int64(10_000), to: 30 * minute, by: 10_000) {
      #expect(b.mayTry(nowMs: t) == false, "at \(t)")
    }
    #expect(b.nextTryMs == 30 * minute + 101)
    #expect(b.mayTry(nowMs: 30 * minute + 100) == false)
    #expect(b.mayTry(nowMs: 30 * minute + 101) == true)
    // A retry goes alone.
    #expect(b.mayTry(nowMs: 30 * minute + 101) == false)
    #expect(b.refused(nowMs: 30 * minute + 200) == false)
  }

  @Test func theGapDoublesToAnHour() {
    var b = LoginBudget()
    var t: Int64 = 0
    var tries: [Int64] = []
    // One caller, a turn a second for a day, every login refused.
    while t < 24 * 60 * minute {
      if b.mayTry(nowMs: t) {
        tries.append(t)
        _ = b.refused(nowMs: t)
      }
      t += 1000
    }
    let gaps = zip(tries.dropFirst(), tries).map { $0 - $1 }
    #expect(Array(gaps.prefix(3)) == [10 * minute, 20 * minute + 1000, 40 * minute])
    #expect(gaps.dropFirst(3).allSatisfy { $0 == 60 * minute })
    #expect(!tooMany(tries))
  }

  @Test func neverMoreThanThreeFailuresInAnyHalfHourWhateverTheCallPattern() {
    var rng: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next(_ n: UInt64) -> UInt64 {
      rng = rng &* 6364136223846793005 &+ 1442695040888963407
      return (rng >> 33) % n
    }
    for run in 0..<20 {
      var b = LoginBudget()
      var failures: [Int64] = []
      var open: [Int64] = []
      var events = 0
      var refusingBefore = false
      // Two hours, a call every second: several callers asking, tries settling late, in any
      // order, credentials changing now and then, and a camera that refuses almost always.
      for s in 0..<7200 {
        let t = Int64(s) * 1000
        for _ in 0..<Int(next(4)) where b.mayTry(nowMs: t) { open.append(t) }
        while !open.isEmpty, next(3) == 0 {
          open.removeFirst()
          switch next(10) {
          case 0: b.succeeded()
          case 1: b.abandoned()
          default:
            failures.append(t)
            if b.refused(nowMs: t) { events += 1 }
          }
        }
        if run % 2 == 0, next(600) == 0 { b.credentialsChanged() }
        refusingBefore = refusingBefore || b.refusing
      }
      #expect(!tooMany(failures), "run \(run): \(failures)")
      #expect(failures.count >= 4, "run \(run): \(failures.count)")
      #expect(refusingBefore && events >= 1)
    }
  }

  @Test func oneEventPerRunOfRefusals() {
    var b = LoginBudget()
    var events = 0
    var t: Int64 = 0
    for _ in 0..<20 {
      if b.mayTry(nowMs: t), b.refused(nowMs: t) { events += 1 }
      t += 5 * minute
    }
    #expect(events == 1)
    // A success ends the run; the next refusal is news again.
    while !b.mayTry(nowMs: t) { t += minute }
    b.succeeded()
    #expect(!b.refusing)
    #expect(b.mayTry(nowMs: t) == true)
    #expect(b.refused(nowMs: t) == true)
  }

  @Test func newCredentialsAreTriedAtOnce() {
    var b = LoginBudget()
    #expect(b.mayTry(nowMs: 0) == true)
    #expect(b.mayTry(nowMs: 0) == true)
    #expect(b.refused(nowMs: 0) == true)
    #expect(b.refused(nowMs: 0) == false)
    #expect(b.mayTry(nowMs: 5 * minute) == false)
    // The installer sends the right password: one login at once, with the place kept for it.
    b.credentialsChanged()
    #expect(!b.refusing)
    #expect(b.mayTry(nowMs: 5 * minute) == true)
    b.succeeded()
    #expect(b.mayTry(nowMs: 5 * minute + 1000) == true)
    b.succeeded()
    // Wrong again: a third failure fills the window; a fourth change must wait for it.
    b.credentialsChanged()
    #expect(b.mayTry(nowMs: 6 * minute) == true)
    #expect(b.refused(nowMs: 6 * minute) == true)
    b.credentialsChanged()
    #expect(b.mayTry(nowMs: 7 * minute) == false)
    #expect(b.nextTryMs == 30 * minute + 1)
    #expect(b.mayTry(nowMs: 30 * minute + 1) == true)
  }

  @Test func aTryNeverSettledLeavesWithTheWindow() {
    var b = LoginBudget()
    #expect(b.mayTry(nowMs: 0) == true)
    #expect(b.mayTry(nowMs: 0) == true)
    #expect(b.mayTry(nowMs: 0) == true)
    #expect(b.mayTry(nowMs: 1000) == false)
    #expect(b.nextTryMs == 30 * minute + 1)
    #expect(b.mayTry(nowMs: 30 * minute + 1) == true)
  }

  @Test func timesAtTheEdgesDoNotTrap() {
    var b = LoginBudget()
    #expect(b.mayTry(nowMs: Int64.max) == true)
    #expect(b.refused(nowMs: Int64.max) == true)
    #expect(b.nextTryMs == Int64.max)
    #expect(b.mayTry(nowMs: Int64.max - 1) == false)
    // The clock set back: what was seen stays counted.
    #expect(b.mayTry(nowMs: Int64.min) == false)
    var c = LoginBudget()
    #expect(c.refused(nowMs: Int64.min) == true)
    #expect(c.refused(nowMs: Int64.min) == false)
    #expect(c.refused(nowMs: Int64.min) == false)
    #expect(c.refused(nowMs: Int64.min) == false)
    #expect(c.nextTryMs != nil)
  }
}
