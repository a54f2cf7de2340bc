import Testing
@testable import VigilCore

@Suite struct PowerCyclePolicyTests {
  typealias A = PowerCyclePolicy.Action
  let settings = PowerCyclePolicy.Settings(afterFailures: 3, offMs: 10_000, bootMs: 120_000,
                                          maxPerHour: 2)

  /// Feeds `n` failed probes of a no_link camera, `stepMs` apart from `t`; returns the actions.
  func fail(_ p: inout PowerCyclePolicy, _ n: Int, from t: inout Int64, stepMs: Int64 = 10_000)
    -> [A]
  {
    var out: [A] = []
    for _ in 0..<n {
      out += p.probed(answered: false, state: .noLink, nowMs: t)
      out += p.tick(nowMs: t)
      t += stepMs
    }
    return out
  }

  /// Runs a cycle that was just started (relay off at `t - step`) to its end, the camera never
  /// answering; returns the actions from the relay coming on.
  func runUnanswered(_ p: inout PowerCyclePolicy, _ t: inout Int64) -> [A] {
    var out: [A] = []
    guard let on = p.deadlineMs else { return out }
    t = max(t, on)
    out += p.tick(nowMs: t)
    guard let end = p.deadlineMs else { return out }
    t = end
    out += p.tick(nowMs: t)
    return out
  }

  @Test func cyclesAfterTheConfiguredFailedProbesAndEndsWithTheRelayOn() {
    var p = PowerCyclePolicy(settings: settings, hasRelay: true)
    var t: Int64 = 0
    #expect(fail(&p, 2, from: &t) == [])
    #expect(fail(&p, 1, from: &t) == [.relayOff])
    #expect(p.phase == .relayOff(untilMs: 30_000, manual: false))
    #expect(p.cycles == 1)
    // Probes while off and booting change nothing.
    #expect(p.probed(answered: false, state: .noPower, nowMs: 25_000) == [])
    #expect(p.tick(nowMs: 29_999) == [])
    #expect(p.tick(nowMs: 30_000) == [.relayOn])
    #expect(p.phase == .booting(untilMs: 150_000, manual: false))
    #expect(p.probed(answered: false, state: .noLink, nowMs: 60_000) == [])
    #expect(p.probed(answered: true, state: .noLink, nowMs: 90_000)
      == [.cycled(recovered: true, manual: false)])
    #expect(p.phase == .watching)
    #expect(p.unhelpful == 0)
  }

  @Test func aCameraThatDoesNotComeBackIsReportedNotRecovered() {
    var p = PowerCyclePolicy(settings: settings, hasRelay: true)
    var t: Int64 = 0
    _ = fail(&p, 3, from: &t)
    let actions = runUnanswered(&p, &t)
    #expect(actions == [.relayOn, .cycled(recovered: false, manual: false)])
    #expect(p.unhelpful == 1)
    #expect(p.phase == .watching)
  }

  @Test func onlyNoLinkAndNoVideoCount() {
    var p = PowerCyclePolicy(settings: settings, hasRelay: true)
    for i in 0..<10 {
      #expect(p.probed(answered: false, state: .noPower, nowMs: Int64(i) * 1000) == [])
      #expect(p.probed(answered: false, state: .unknown, nowMs: Int64(i) * 1000) == [])
    }
    #expect(p.failures == 0)
    // no_video: the camera answers but gives no image.
    var t: Int64 = 0
    var out: [A] = []
    for _ in 0..<3 {
      out += p.probed(answered: true, state: .noVideo, nowMs: t)
      t += 1000
    }
    #expect(out == [.relayOff])
  }

  @Test func aGoodProbeResetsTheCount() {
    var p = PowerCyclePolicy(settings: settings, hasRelay: true)
    var t: Int64 = 0
    _ = fail(&p, 2, from: &t)
    _ = p.probed(answered: true, state: .healthy, nowMs: t)
    #expect(p.failures == 0)
    #expect(fail(&p, 2, from: &t) == [])
  }

  @Test func aCameraWithNoRelayIsOnlyReported() {
    var p = PowerCyclePolicy(settings: settings, hasRelay: false)
    var t: Int64 = 0
    #expect(fail(&p, 100, from: &t) == [])
    #expect(p.cycles == 0)
    #expect(p.cycleByHand(nowMs: t) == nil)
  }

  @Test func maxPerHourHoldsInAnyRollingHour() {
    // No backoff to speak of and no giving up, so only the hourly limit stops cycles.
    let s = PowerCyclePolicy.Settings(afterFailures: 1, offMs: 1000, bootMs: 1000, maxPerHour: 2,
                                      giveUpAfter: 1000)
    var p = PowerCyclePolicy(settings: s, hasRelay: true)
    var starts: [Int64] = []
    var t: Int64 = 0
    // Three hours of a dead camera, probed every 10 s.
    while t < 3 * PowerCyclePolicy.hourMs {
      for a in p.probed(answered: false, state: .noLink, nowMs: t) + p.tick(nowMs: t)
      where a == .relayOff {
        starts.append(t)
      }
      t += 10_000
    }
    #expect(starts.count >= 4)
    for s in starts {
      let inHour = starts.filter { $0 >= s && $0 - s < PowerCyclePolicy.hourMs }.count
      #expect(inHour <= 2, "cycles at \(starts)")
    }
  }

  @Test func maxPerHourZeroNeverCycles() {
    let s = PowerCyclePolicy.Settings(afterFailures: 1, offMs: 1000, bootMs: 1000, maxPerHour: 0)
    var p = PowerCyclePolicy(settings: s, hasRelay: true)
    var t: Int64 = 0
    #expect(fail(&p, 50, from: &t) == [])
  }

  @Test func backoffDoublesAfterEachUnhelpfulCycle() {
    let s = PowerCyclePolicy.Settings(afterFailures: 1, offMs: 10_000, bootMs: 50_000,
                                      maxPerHour: 60, giveUpAfter: 10)
    var p = PowerCyclePolicy(settings: s, hasRelay: true)
    #expect(p.backoffMs(unhelpful: 1) == 60_000)
    #expect(p.backoffMs(unhelpful: 2) == 120_000)
    #expect(p.backoffMs(unhelpful: 3) == 240_000)
    #expect(p.backoffMs(unhelpful: 12) == PowerCyclePolicy.hourMs)
    var t: Int64 = 0
    var starts: [Int64] = []
    var ends: [Int64] = []
    while starts.count < 4 {
      for a in p.probed(answered: false, state: .noLink, nowMs: t) + p.tick(nowMs: t) {
        if a == .relayOff { starts.append(t) }
        if case .cycled = a { ends.append(t) }
      }
      t += 1000
    }
    // The wait from the end of the n-th unhelpful cycle to the next start: at least 60 s × 2^(n-1).
    for i in 0..<3 {
      let gap = starts[i + 1] - ends[i]
      #expect(gap >= p.backoffMs(unhelpful: i + 1), "gap \(i): \(gap)")
      #expect(gap <= p.backoffMs(unhelpful: i + 1) + 1000, "gap \(i): \(gap)")
    }
  }

  @Test func raisesTheAlarmOnceWhenCyclingStopsHelpingAndStops() {
    let s = PowerCyclePolicy.Settings(afterFailures: 1, offMs: 1000, bootMs: 1000, maxPerHour: 60,
                                      giveUpAfter: 3)
    var p = PowerCyclePolicy(settings: s, hasRelay: true)
    var all: [A] = []
    var t: Int64 = 0
    // Four hours of a dead camera.
    while t < 4 * PowerCyclePolicy.hourMs {
      all += p.probed(answered: false, state: .noLink, nowMs: t) + p.tick(nowMs: t)
      t += 1000
    }
    #expect(all.filter { $0 == .relayOff }.count == 3)
    #expect(all.filter { $0 == .relayOn }.count == 3)
    #expect(all.filter { $0 == .gaveUp(unhelpful: 3) }.count == 1)
    #expect(all.last == .gaveUp(unhelpful: 3))
    #expect(p.phase == .gaveUp)
    // A technician may still try by hand; the alarm is not raised again.
    var manual = p.cycleByHand(nowMs: t) ?? []
    t += 1000
    manual += p.tick(nowMs: t)
    t += 1000
    manual += p.tick(nowMs: t)
    #expect(manual == [.relayOff, .relayOn, .cycled(recovered: false, manual: true)])
    #expect(p.phase == .gaveUp)
    // The camera answers by itself again: the policy watches again.
    _ = p.probed(answered: true, state: .healthy, nowMs: t)
    #expect(p.phase == .watching)
    #expect(p.unhelpful == 0)
  }

  @Test func everyRelayOffIsFollowedByRelayOn() {
    let s = PowerCyclePolicy.Settings(afterFailures: 2, offMs: 3000, bootMs: 7000, maxPerHour: 5)
    var p = PowerCyclePolicy(settings: s, hasRelay: true)
    var relayOn = true
    var t: Int64 = 0
    var rng: UInt64 = 12345
    for _ in 0..<20_000 {
      rng = rng &* 6364136223846793005 &+ 1442695040888963407
      let answered = (rng >> 33) % 5 == 0
      let state: CameraHealth.State = answered ? .healthy : .noLink
      for a in p.probed(answered: answered, state: state, nowMs: t) + p.tick(nowMs: t) {
        if a == .relayOff { #expect(relayOn); relayOn = false }
        if a == .relayOn { #expect(!relayOn); relayOn = true }
      }
      t += 1000
    }
    // Finish whatever cycle is under way.
    while let d = p.deadlineMs {
      for a in p.tick(nowMs: d) where a == .relayOn { relayOn = true }
    }
    #expect(relayOn)
  }

  @Test func aManualCycleIsRefusedWhileOneIsUnderWayAndSwitchingByHandAbandonsIt() {
    var p = PowerCyclePolicy(settings: settings, hasRelay: true)
    #expect(p.cycleByHand(nowMs: 0) == [.relayOff])
    #expect(p.cycleByHand(nowMs: 1000) == nil)
    p.relaySetByHand()
    #expect(p.phase == .watching)
    #expect(p.deadlineMs == nil)
    // Manual cycles are not limited by the hour, but counted.
    #expect(p.cycleByHand(nowMs: 2000) == [.relayOff])
    #expect(p.cycles == 2)
    #expect(p.cyclesInLastHour(nowMs: 2000) == 0)
  }
}
