import Testing
@testable import VigilCore

@Suite struct CameraHealthTests {
  typealias E = CameraHealth.Event
  let tuning = CameraHealth.Tuning(holdMs: 2000, linkDownAfter: 2, videoDownAfter: 2, bootMs: 60_000)

  /// A powered camera that answered its first probe at t = 0.
  func healthyCamera() -> CameraHealth {
    var h = CameraHealth(tuning: tuning, hasPowerLine: true, nowMs: 0)
    _ = h.powerLine(true, nowMs: 0)
    _ = h.probe(ok: true, nowMs: 0)
    return h
  }

  @Test func startsUnknownThenHealthyWithNoEvents() {
    var h = CameraHealth(tuning: tuning, hasPowerLine: true, nowMs: 0)
    #expect(h.state == .unknown)
    #expect(h.powerLine(true, nowMs: 0) == [])
    #expect(h.state == .unknown)
    #expect(h.powerWord == "on")
    #expect(h.linkWord == "unknown")
    #expect(h.probe(ok: true, nowMs: 5) == [.stateChanged(from: .unknown, to: .healthy)])
    #expect(h.linkWord == "up")
    #expect(h.sinceMs == 5)
  }

  @Test func aPowerCutIsReportedAtOnceAndTheReturnAfterTheHold() {
    var h = healthyCamera()
    #expect(h.powerLine(false, nowMs: 10_000)
      == [.powerLost, .stateChanged(from: .healthy, to: .noPower)])
    #expect(h.powerWord == "off")
    #expect(h.linkWord == "unknown")
    // Failed probes while unpowered are not the link's fault.
    #expect(h.probe(ok: false, nowMs: 11_000) == [])
    #expect(h.probe(ok: false, nowMs: 12_000) == [])
    #expect(h.powerLine(true, nowMs: 20_000) == [])
    #expect(h.state == .noPower)
    #expect(h.deadlineMs == 22_000)
    #expect(h.tick(nowMs: 22_000)
      == [.powerRestored(offMs: 12_000), .stateChanged(from: .noPower, to: .unknown)])
    // Booting: failed probes within boot time do not count.
    #expect(h.probe(ok: false, nowMs: 30_000) == [])
    #expect(h.probe(ok: false, nowMs: 40_000) == [])
    #expect(h.state == .unknown)
    #expect(h.probe(ok: true, nowMs: 50_000) == [.stateChanged(from: .unknown, to: .healthy)])
  }

  @Test func aFlappingPowerLineGivesOneLossNotAStorm() {
    var h = healthyCamera()
    var events: [E] = []
    var t: Int64 = 10_000
    // A loose connector: off and on every 500 ms for a minute (each level already debounced).
    for i in 0..<120 {
      events += h.powerLine(i % 2 == 1, nowMs: t)
      events += h.tick(nowMs: t)
      t += 500
    }
    #expect(events.filter { $0 == .powerLost }.count == 1)
    #expect(!events.contains { if case .powerRestored = $0 { return true } else { return false } })
    // It holds on at last: one restore.
    events = h.powerLine(true, nowMs: t) + h.tick(nowMs: t + 2000)
    #expect(events.contains(.powerRestored(offMs: 62_000)))  // lost at 10 s, back at 72 s
  }

  @Test func aCameraThatStopsAnsweringIsUnreachableAfterTwoFailedProbes() {
    var h = healthyCamera()
    #expect(h.probe(ok: false, nowMs: 10_000) == [])
    #expect(h.state == .healthy)
    #expect(h.probe(ok: false, nowMs: 20_000)
      == [.unreachable(failures: 2), .stateChanged(from: .healthy, to: .noLink)])
    #expect(h.linkWord == "down")
    #expect(h.probe(ok: false, nowMs: 30_000) == [])
    // It answers again: reported once the answer has held, with no failure in between.
    #expect(h.probe(ok: true, nowMs: 40_000) == [])
    #expect(h.state == .noLink)
    #expect(h.tick(nowMs: 42_000)
      == [.reachable(downMs: 22_000), .stateChanged(from: .noLink, to: .healthy)])
  }

  @Test func alternatingProbesDoNotFlap() {
    var h = healthyCamera()
    var events: [E] = []
    for i in 1...50 {
      let t = Int64(i) * 1000
      events += h.probe(ok: i % 2 == 0, nowMs: t)
      events += h.tick(nowMs: t)
    }
    #expect(events.isEmpty)
    #expect(h.state == .healthy)
  }

  @Test func aCameraNeverSeenAnsweringIsReportedUnreachable() {
    var h = CameraHealth(tuning: tuning, hasPowerLine: false, nowMs: 0)
    #expect(h.probe(ok: false, nowMs: 0) == [])
    #expect(h.probe(ok: false, nowMs: 1000)
      == [.unreachable(failures: 2), .stateChanged(from: .unknown, to: .noLink)])
    #expect(h.powerWord == "unknown")
  }

  @Test func atStartACameraMayBeBooting() {
    var h = CameraHealth(tuning: tuning, hasPowerLine: false, nowMs: 0)
    h.mayBeBooting(nowMs: 0)
    #expect(h.probe(ok: false, nowMs: 10_000) == [])
    #expect(h.probe(ok: false, nowMs: 50_000) == [])
    #expect(h.state == .unknown)
    // Boot time over: now failures count.
    #expect(h.probe(ok: false, nowMs: 60_000) == [])
    #expect(h.probe(ok: false, nowMs: 70_000)
      == [.unreachable(failures: 2), .stateChanged(from: .unknown, to: .noLink)])
  }

  @Test func failedSnapshotsOfAnAnsweringCameraMeanNoVideo() {
    var h = healthyCamera()
    _ = h.snapshot(ok: false, nowMs: 1000)
    #expect(h.state == .healthy)
    #expect(h.snapshot(ok: false, nowMs: 2000) == [.stateChanged(from: .healthy, to: .noVideo)])
    _ = h.snapshot(ok: true, nowMs: 3000)
    #expect(h.state == .noVideo)
    #expect(h.tick(nowMs: 5000) == [.stateChanged(from: .noVideo, to: .healthy)])
  }

  @Test func snapshotsOfACameraThatDoesNotAnswerSayNothing() {
    var h = CameraHealth(tuning: tuning, hasPowerLine: true, nowMs: 0)
    _ = h.powerLine(true, nowMs: 0)
    _ = h.snapshot(ok: false, nowMs: 1000)
    _ = h.snapshot(ok: false, nowMs: 2000)
    #expect(h.videoReported == nil)
    #expect(h.probe(ok: true, nowMs: 3000) == [.stateChanged(from: .unknown, to: .healthy)])
  }

  @Test func theRelayOffIsNoPowerWithoutAPowerCutEvent() {
    var h = healthyCamera()
    #expect(h.relay(on: false, nowMs: 1000) == [.stateChanged(from: .healthy, to: .noPower)])
    // The power-good line sits after the relay: it drops too, but that is our doing.
    #expect(h.powerLine(false, nowMs: 1050) == [])
    #expect(h.probe(ok: false, nowMs: 2000) == [])
    #expect(h.probe(ok: false, nowMs: 3000) == [])
    _ = h.relay(on: true, nowMs: 11_000)
    _ = h.powerLine(true, nowMs: 11_050)
    let back = h.tick(nowMs: 13_050)
    #expect(!back.contains { if case .powerRestored = $0 { return true } else { return false } })
    #expect(h.tick(nowMs: 20_000) == [])
    #expect(h.probe(ok: true, nowMs: 30_000).contains(.stateChanged(from: .noPower, to: .healthy))
      || h.state == .healthy)
  }

  @Test func aLineStillDownLongAfterTheRelayCameBackIsAPowerCut() {
    var h = healthyCamera()
    _ = h.relay(on: false, nowMs: 1000)
    _ = h.powerLine(false, nowMs: 1050)
    _ = h.relay(on: true, nowMs: 11_000)
    #expect(h.tick(nowMs: 12_000) == [])
    #expect(h.deadlineMs == 14_000)
    #expect(h.tick(nowMs: 14_000) == [.powerLost])
    #expect(h.state == .noPower)
  }

  @Test func aCycledCameraKeepsItsLostLinkWhileItBoots() {
    var h = healthyCamera()
    _ = h.probe(ok: false, nowMs: 1000)
    _ = h.probe(ok: false, nowMs: 2000)
    #expect(h.state == .noLink)
    _ = h.relay(on: false, nowMs: 3000)
    #expect(h.state == .noPower)
    #expect(h.relay(on: true, nowMs: 13_000) == [.stateChanged(from: .noPower, to: .noLink)])
    // Booting: no new unreachable event for failures within the boot time.
    #expect(h.probe(ok: false, nowMs: 14_000) == [])
    #expect(h.probe(ok: false, nowMs: 15_000) == [])
    #expect(h.probe(ok: true, nowMs: 40_000) == [])
    #expect(h.tick(nowMs: 42_000).contains(.reachable(downMs: 40_000)))
  }
}
