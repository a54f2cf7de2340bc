import Testing
@testable import VigilCore

/// Feeds `input` one byte at a time at `nowMs`; returns the events and the echo.
private func type(_ editor: inout LineEditor, _ input: [UInt8], nowMs: Int64 = 0)
  -> (events: [LineEditor.Event], echo: String)
{
  var out: [UInt8] = []
  var events: [LineEditor.Event] = []
  for b in input {
    if let e = editor.feed(b, nowMs: nowMs, out: &out) { events.append(e) }
  }
  return (events, String(decoding: out, as: UTF8.self))
}

private func type(_ editor: inout LineEditor, _ s: String, nowMs: Int64 = 0)
  -> (events: [LineEditor.Event], echo: String)
{
  type(&editor, Array(s.utf8), nowMs: nowMs)
}

@Suite struct LineEditorTests {
  @Test func crLfAndCrlfEachEndOneLine() {
    var e = LineEditor(maxLength: 80)
    #expect(type(&e, "status\r").events == [.line("status")])
    #expect(type(&e, "help\n").events == [.line("help")])
    let r = type(&e, "log 5\r\nmqtt\r\n\r\n")
    #expect(r.events == [.line("log 5"), .line("mqtt"), .line("")])
    #expect(r.echo == "log 5\r\nmqtt\r\n\r\n")
    // LF CR is two line ends (only CRLF is one).
    #expect(type(&e, "\n\r").events == [.line(""), .line("")])
  }

  @Test func backspaceAndDelEraseWithEcho() {
    var e = LineEditor(maxLength: 80)
    let r = type(&e, "stats\u{7F}\u{7F}tus\u{08}s\r")
    #expect(r.events == [.line("status")])
    #expect(r.echo == "stats\u{8} \u{8}\u{8} \u{8}tus\u{8} \u{8}s\r\n")
    // Erasing an empty line echoes nothing.
    #expect(type(&e, "\u{7F}\u{7F}").echo == "")
  }

  @Test func ctrlCAndCtrlUClearTheLine() {
    var e = LineEditor(maxLength: 80)
    let c = type(&e, "relay cam1 off\u{03}")
    #expect(c.events == [.cleared])
    #expect(c.echo.hasSuffix("^C"))
    #expect(e.text.isEmpty)
    let u = type(&e, "abc\u{15}help\r")
    #expect(u.events == [.line("help")])
    #expect(u.echo == "abc" + String(repeating: "\u{8} \u{8}", count: 3) + "help\r\n")
  }

  @Test func ctrlWErasesTheLastWord() {
    var e = LineEditor(maxLength: 80)
    let r = type(&e, "relay cam1  \u{17}cam2 on\r")
    #expect(r.events == [.line("relay cam2 on")])
    #expect(r.echo.hasPrefix("relay cam1  " + String(repeating: "\u{8} \u{8}", count: 6) + "cam2"))
    #expect(!e.inNoise)
  }

  @Test func maskedEchoShowsStarsAndNoneShowsNothing() {
    var e = LineEditor(maxLength: 80)
    e.echo = .masked
    let r = type(&e, "123456\r")
    #expect(r.events == [.line("123456")])
    #expect(r.echo == "******\r\n")
    e.echo = .none
    #expect(type(&e, "99\r").echo == "\r\n")
  }

  @Test func aLineOverTheLimitIsRefusedWhole() {
    var e = LineEditor(maxLength: 8)
    let r = type(&e, "123456789012\r")
    #expect(r.events == [.tooLong])
    #expect(r.echo == "12345678\r\n", "nothing past the limit is echoed")
    // Erasing back under the limit does not make the cut-off line whole again.
    #expect(type(&e, "123456789\u{7F}\u{7F}\r").events == [.tooLong])
    // The next line is fine.
    #expect(type(&e, "12345678\r").events == [.line("12345678")])
  }

  @Test func arrowKeysAndOtherEscapeSequencesAreSwallowed() {
    var e = LineEditor(maxLength: 80)
    // Up, left (CSI), F1 (SS3), Delete (CSI 3 ~), Alt+x.
    let r = type(&e, "sta\u{1B}[A\u{1B}[Dtus\u{1B}OP\u{1B}[3~\u{1B}x\r")
    #expect(r.events == [.line("status")])
    #expect(r.echo == "status\r\n")
    #expect(!e.inNoise)
  }

  @Test func aLoneEscapeIsForgottenAfterItsTimeout() {
    var e = LineEditor(maxLength: 80)
    _ = type(&e, "\u{1B}", nowMs: 0)
    // Pressed long after: 'x' is typed, not taken as Alt+x.
    #expect(type(&e, "x\r", nowMs: 1000).events == [.line("x")])
  }

  @Test func noiseIsOneBurstThatRunsNothing() {
    var e = LineEditor(maxLength: 80)
    _ = type(&e, "sta", nowMs: 0)
    // Control bytes, a byte ≥ 0x80, then line ends and Ctrl-C inside the burst.
    let r = type(&e, [0x00, 0x41, 0x0D, 0xFF, 0x03, 0x65, 0x78, 0x69, 0x74, 0x0D], nowMs: 10)
    #expect(r.events.isEmpty, "nothing inside a burst ends a line")
    #expect(r.echo == "", "nothing inside a burst is echoed")
    #expect(e.inNoise)
    #expect(e.endNoise(nowMs: 10 + LineEditor.noiseQuietMs - 1) == nil, "not yet quiet")
    #expect(e.endNoise(nowMs: 10 + LineEditor.noiseQuietMs) == 10)
    #expect(e.text.isEmpty, "the line the noise hit is gone")
    #expect(e.endNoise(nowMs: 10_000) == nil, "reported once")
    #expect(type(&e, "status\r", nowMs: 20_000).events == [.line("status")])
  }

  @Test func bytesKeepingABurstAliveExtendIt() {
    var e = LineEditor(maxLength: 80)
    _ = type(&e, [0x80], nowMs: 0)
    _ = type(&e, Array("help\r".utf8), nowMs: 400)
    #expect(e.endNoise(nowMs: 800) == nil, "the burst went on at 400 ms")
    #expect(e.endNoise(nowMs: 900) == 6)
  }

  @Test func anOverlongEscapeSequenceIsNoise() {
    var e = LineEditor(maxLength: 80)
    _ = type(&e, "\u{1B}[" + String(repeating: "1;", count: 20) + "m\r")
    #expect(e.inNoise)
  }

  @Test func xonXoffAndTabAreNotNoise() {
    var e = LineEditor(maxLength: 80)
    let r = type(&e, "log\u{11}\u{13}\t5\r")
    #expect(r.events == [.line("log 5")])
    #expect(!e.inNoise)
  }

  @Test func everyByteValueInEveryOrderIsHandled() {
    // Not a crash, not a hang, and the editor still works after it.
    var e = LineEditor(maxLength: 256)
    var rng = SplitMix(seed: 42)
    var out: [UInt8] = []
    for i in 0..<65_536 {
      _ = e.feed(UInt8(truncatingIfNeeded: rng.next()), nowMs: Int64(i / 64), out: &out)
    }
    _ = e.endNoise(nowMs: 100_000)
    #expect(type(&e, "\u{15}status\r", nowMs: 100_000).events == [.line("status")])
  }
}

/// A small seeded generator, so a failure can be replayed.
struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
