import Testing
@testable import VigilCore

/// The stream checks' evidence (issue 13): the SETUP URL from a camera's SDP, and a camera's
/// video state from its snapshots and its stream checks together.
@Suite struct StreamEvidenceTests {
  let base = "rtsp://10.0.0.5:554/stream"

  func sdp(_ lines: [String]) -> [UInt8] { Array(lines.joined(separator: "\r\n").utf8) }

  @Test func aRelativeControlIsResolvedAgainstTheBase() {
    // GStreamer's and Dahua's form: the session's base, then `a=control:` per media.
    let s = sdp(["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=Session", "t=0 0", "a=control:*",
                 "m=video 0 RTP/AVP 26", "c=IN IP4 0.0.0.0", "a=rtpmap:26 JPEG/90000",
                 "a=control:stream=0", ""])
    #expect(SDP.setupURL(s, base: base + "/") == base + "/stream=0")
    #expect(SDP.setupURL(s, base: base) == base + "/stream=0")
  }

  @Test func anAbsoluteControlIsTakenAsItIs() {
    // Hikvision's form, with an audio media first: the video's control is the one set up.
    let s = sdp(["v=0", "m=audio 0 RTP/AVP 0", "a=control:rtsp://10.0.0.5/trackID=2",
                 "m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000",
                 "a=control:rtsp://10.0.0.5:554/Streaming/Channels/101/trackID=1?x=1"])
    #expect(SDP.setupURL(s, base: base)
            == "rtsp://10.0.0.5:554/Streaming/Channels/101/trackID=1?x=1")
  }

  @Test func aMediaWithoutControlIsTheBaseAndNoMediaIsNil() {
    #expect(SDP.setupURL(sdp(["v=0", "m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000"]),
                         base: base) == base)
    // No video: the first media.
    #expect(SDP.setupURL(sdp(["v=0", "m=audio 0 RTP/AVP 0", "a=control:track1",
                              "m=application 0 RTP/AVP 107"]), base: base) == base + "/track1")
    #expect(SDP.setupURL(sdp(["v=0", "s=nothing"]), base: base) == nil)
    #expect(SDP.setupURL([], base: base) == nil)
    // Bytes that are no SDP at all (a camera's HTML error page) name no media either.
    #expect(SDP.setupURL(Array("<html>503</html>".utf8), base: base) == nil)
  }

  let tuning = CameraHealth.Tuning(holdMs: 2000, linkDownAfter: 2, videoDownAfter: 2,
                                   bootMs: 60_000)

  func healthyCamera() -> CameraHealth {
    var h = CameraHealth(tuning: tuning, hasPowerLine: false, nowMs: 0)
    _ = h.probe(ok: true, nowMs: 0)
    return h
  }

  @Test func twoFailedStreamChecksTakeTheVideoDownWhileSnapshotsStillWork() {
    var h = healthyCamera()
    _ = h.snapshot(ok: true, nowMs: 1000)
    _ = h.stream(ok: false, nowMs: 2000)
    #expect(h.state == .healthy)
    // A good snapshot in between does not clear the stream's count: the JPEG endpoint works,
    // the stream does not, and the NVR records nothing.
    _ = h.snapshot(ok: true, nowMs: 3000)
    #expect(h.stream(ok: false, nowMs: 4000) == [.stateChanged(from: .healthy, to: .noVideo)])
    _ = h.snapshot(ok: true, nowMs: 5000)
    #expect(h.state == .noVideo)
    // One good check brings it back, once the return has held.
    _ = h.stream(ok: true, nowMs: 6000)
    #expect(h.state == .noVideo)
    #expect(h.tick(nowMs: 8000) == [.stateChanged(from: .noVideo, to: .healthy)])
  }

  @Test func eitherSourceDownKeepsTheVideoDown() {
    var h = healthyCamera()
    _ = h.snapshot(ok: false, nowMs: 1000)
    _ = h.snapshot(ok: false, nowMs: 2000)
    _ = h.stream(ok: false, nowMs: 2500)
    _ = h.stream(ok: false, nowMs: 3000)
    #expect(h.state == .noVideo)
    _ = h.stream(ok: true, nowMs: 4000)
    _ = h.tick(nowMs: 9000)
    #expect(h.state == .noVideo, "the snapshots are still failing")
    _ = h.snapshot(ok: true, nowMs: 10_000)
    _ = h.tick(nowMs: 12_000)
    #expect(h.state == .healthy)
  }

  @Test func aPowerCycleForgetsTheStreamsFailures() {
    var h = healthyCamera()
    _ = h.stream(ok: false, nowMs: 1000)
    _ = h.stream(ok: false, nowMs: 2000)
    #expect(h.state == .noVideo)
    _ = h.relay(on: false, nowMs: 3000)
    _ = h.relay(on: true, nowMs: 4000)
    _ = h.probe(ok: true, nowMs: 10_000)
    _ = h.tick(nowMs: 12_000)
    #expect(h.state == .healthy)
    // One failure after the cycle is not two in a row.
    _ = h.stream(ok: false, nowMs: 13_000)
    #expect(h.state == .healthy)
  }
}
