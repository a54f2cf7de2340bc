import Testing
@testable import VigilCore

@Suite struct CameraFaultTests {
  typealias F = CameraFault
  let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00, 0xFF, 0xD9]

  @Test func wireNamesAreTheContracts() {
    #expect(F.allCases.map { $0.rawValue } == ["power", "unreachable", "auth", "stream_down",
                                                "timeout", "no_media", "frozen", "bad_image"])
    #expect(F(rawValue: "no_media") == .noMedia)
  }

  @Test func aPowerCycleOnlyWhereItCanHelp() {
    let helps = F.allCases.filter { $0.powerCycleCanHelp }
    #expect(helps == [.unreachable, .streamDown, .timeout, .noMedia, .frozen])
    #expect(!F.auth.powerCycleCanHelp)
    #expect(!F.badImage.powerCycleCanHelp)
  }

  @Test func snapshotAnswers() {
    #expect(F.ofSnapshot(status: 200, body: jpeg) == nil)
    // Hikvision's XML error with status 200.
    let xml = Array(("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ResponseStatus version=\"2.0\">"
      + "<statusCode>4</statusCode><statusString>Invalid Operation</statusString>"
      + "</ResponseStatus>").utf8)
    #expect(F.ofSnapshot(status: 200, body: xml) == .badImage)
    #expect(F.ofSnapshot(status: 200, body: []) == .badImage)
    // SOI without EOI: a truncated transfer.
    #expect(F.ofSnapshot(status: 200, body: Array(jpeg.dropLast(2))) == .badImage)
    #expect(F.ofSnapshot(status: 401, body: xml) == .auth)
    #expect(F.ofSnapshot(status: 403, body: []) == .auth)
    #expect(F.ofSnapshot(status: 503, body: []) == .streamDown)
    #expect(F.ofSnapshot(status: 404, body: []) == .badImage)
    #expect(F.ofSnapshot(status: 302, body: jpeg) == .badImage)
    #expect(F.ofSnapshot(status: -1, body: jpeg) == .badImage)
  }

  @Test func rtspAnswersAndNoAnswer() {
    #expect(F.ofRTSP(status: 200) == nil)
    #expect(F.ofRTSP(status: 401) == .auth)
    #expect(F.ofRTSP(status: 403) == .auth)
    #expect(F.ofRTSP(status: 454) == .streamDown)
    #expect(F.ofRTSP(status: 503) == .streamDown)
    #expect(F.ofNoAnswer(timedOut: true) == .timeout)
    #expect(F.ofNoAnswer(timedOut: false) == .streamDown)
  }

  @Test func theStateComesFirst() {
    #expect(F.classify(state: .healthy, snapshot: .auth, stream: .frozen) == nil)
    #expect(F.classify(state: .unknown, snapshot: .auth, stream: nil) == nil)
    #expect(F.classify(state: .noPower, snapshot: .auth, stream: .timeout) == .power)
    #expect(F.classify(state: .noLink, snapshot: .auth, stream: .timeout) == .unreachable)
    #expect(F.classify(state: .noVideo, snapshot: nil, stream: nil) == nil)
  }

  @Test func evidenceByPrecedence() {
    // Every pair of the evidence faults: the one declared first wins, from either check.
    let evidence: [F] = [.auth, .streamDown, .timeout, .noMedia, .frozen, .badImage]
    for (i, a) in evidence.enumerated() {
      #expect(F.classify(state: .noVideo, snapshot: a, stream: nil) == a)
      #expect(F.classify(state: .noVideo, snapshot: nil, stream: a) == a)
      for b in evidence[i...] {
        #expect(F.classify(state: .noVideo, snapshot: a, stream: b) == a, "\(a) \(b)")
        #expect(F.classify(state: .noVideo, snapshot: b, stream: a) == a, "\(b) \(a)")
      }
    }
    // A refused login wins over a stream fault a cycle could cure: no power cut for it.
    #expect(F.classify(state: .noVideo, snapshot: .auth, stream: .timeout) == .auth)
    // A bad snapshot URL does not hide a dead stream, which a cycle may cure.
    #expect(F.classify(state: .noVideo, snapshot: .badImage, stream: .noMedia) == .noMedia)
  }

  @Test func thePolicyIsNotCycledForAFaultACycleCannotCure() {
    let s = PowerCyclePolicy.Settings(afterFailures: 3, offMs: 10_000, bootMs: 120_000,
                                      maxPerHour: 2)
    for fault in F.allCases {
      var p = PowerCyclePolicy(settings: s, hasRelay: true)
      var actions: [PowerCyclePolicy.Action] = []
      for i in 0..<20 {
        actions += p.probed(answered: true, state: .noVideo, fault: fault, nowMs: Int64(i) * 10_000)
      }
      #expect(actions.contains(.relayOff) == fault.powerCycleCanHelp, "\(fault)")
    }
    // With no named fault the policy is as before.
    var p = PowerCyclePolicy(settings: s, hasRelay: true)
    var actions: [PowerCyclePolicy.Action] = []
    for i in 0..<3 {
      actions += p.probed(answered: false, state: .noLink, fault: nil, nowMs: Int64(i) * 10_000)
    }
    #expect(actions == [.relayOff])
  }

  @Test func aFaultTurningToAuthResetsTheCount() {
    let s = PowerCyclePolicy.Settings(afterFailures: 3, offMs: 10_000, bootMs: 120_000,
                                      maxPerHour: 2)
    var p = PowerCyclePolicy(settings: s, hasRelay: true)
    _ = p.probed(answered: true, state: .noVideo, fault: .noMedia, nowMs: 0)
    _ = p.probed(answered: true, state: .noVideo, fault: .noMedia, nowMs: 10_000)
    #expect(p.failures == 2)
    _ = p.probed(answered: true, state: .noVideo, fault: .auth, nowMs: 20_000)
    #expect(p.failures == 0)
  }
}
