import Foundation
import Testing
@testable import VigilCore

/// Issue 18: the checks of a signed command, with the signature check passed in.
@Suite struct SignedCommandTests {
  func b64(_ s: String) -> [UInt8]? { Data(base64Encoded: s).map { Array($0) } }

  func envelope(_ body: String) -> [UInt8] {
    let sig = Data(repeating: 7, count: 64).base64EncodedString()
    return Array(#"{"doc": "\#(Data(body.utf8).base64EncodedString())", "sig": "\#(sig)"}"#.utf8)
  }

  func open(_ payload: [UInt8], good: Bool = true, now: Int64 = 1_000_000) -> Result<SignedCommand, SignedCommand.Refusal> {
    do {
      return .success(try SignedCommand.open(payload, siteId: "s1", bootId: 7, nowS: now,
                                             decodeBase64: b64, verify: { _, _ in good }))
    } catch {
      return .failure(error)
    }
  }

  func reason(_ r: Result<SignedCommand, SignedCommand.Refusal>) -> String {
    if case .failure(let e) = r { return e.reason }
    return "accepted"
  }

  @Test func aGoodCommandOpens() throws {
    let r = open(envelope(#"{"site_id": "s1", "id": "c-1", "expires": 1000300, "line": "status"}"#))
    guard case .success(let c) = r else { Issue.record("\(reason(r))"); return }
    #expect(c.line == "status" && c.id.stringValue == "c-1" && c.expiresS == 1_000_300)
  }

  @Test func eachRefusalSaysWhy() {
    let cases: [(String, String)] = [
      (#"{"site_id": "s2", "id": 1, "expires": 1000300, "line": "status"}"#, "site_id: the command was signed for another site"),
      (#"{"site_id": "s1", "expires": 1000300, "line": "status"}"#, "id: a signed command needs an id"),
      (#"{"site_id": "s1", "id": 1, "line": "status"}"#, "expires: a signed command needs its expiry"),
      (#"{"site_id": "s1", "id": 1, "expires": 999990, "line": "status"}"#, "expires: the command has expired"),
      (#"{"site_id": "s1", "id": 1, "expires": 1000601, "line": "status"}"#, "expires: more than 600 s ahead"),
      (#"{"site_id": "s1", "id": 1, "expires": 1000300, "boot_id": 6, "line": "status"}"#, "boot_id: the command is for another boot"),
      (#"{"site_id": "s1", "id": 1, "expires": 1000300}"#, "line: a signed command needs a line"),
      (#"[1]"#, "the signed command must be a JSON object"),
    ]
    for (body, want) in cases {
      #expect(reason(open(envelope(body))).hasPrefix(want), "\(body): \(reason(open(envelope(body))))")
    }
    #expect(reason(open(envelope(#"{"site_id": "s1", "id": 1, "expires": 1000300, "line": "x"}"#), good: false))
      == "sig: signature does not match any trusted key")
    let plain = open(Array(#"{"id": "p-1", "line": "relay cam1 off"}"#.utf8))
    #expect(reason(plain).hasPrefix("unsigned command refused"))
    if case .failure(let e) = plain { #expect(e.id.stringValue == "p-1", "the answer carries its id") }
    // Bound to a boot: runs on that boot only.
    guard case .success = open(envelope(#"{"site_id": "s1", "id": 1, "expires": 1000300, "boot_id": 7, "line": "x"}"#)) else {
      Issue.record("boot_id 7 refused on boot 7")
      return
    }
  }

  @Test func aReplayIsRefusedUntilItsCommandExpires() {
    var g = CommandReplayGuard()
    #expect(g.admit("\"c-1\"", expiresS: 100, nowS: 0) == nil)
    #expect(g.admit("\"c-1\"", expiresS: 100, nowS: 50) != nil)
    #expect(g.admit("1", expiresS: 100, nowS: 50) == nil, "a number id is another id")
    #expect(g.admit("\"c-1\"", expiresS: 200, nowS: 100) == nil, "forgotten once expired")
    #expect(g.count == 1)
    var full = CommandReplayGuard()
    for i in 0..<CommandReplayGuard.capacity { #expect(full.admit("\(i)", expiresS: 600, nowS: 0) == nil) }
    #expect(full.admit("x", expiresS: 600, nowS: 1) == "more than 1024 signed commands in 600 s")
    #expect(full.admit("x", expiresS: 1200, nowS: 600) == nil)
  }

  @Test func replayGuardIdsSurviveARestartAndDamagedLinesAreSkipped() {
    var g = CommandReplayGuard()
    #expect(g.admit("\"c-1\"", expiresS: 700, nowS: 100) == nil)
    #expect(g.admit("17", expiresS: 200, nowS: 100) == nil)
    #expect(g.admit("\"with space\"", expiresS: 900, nowS: 100) == nil)
    let text = g.encode()
    #expect(String(decoding: text, as: UTF8.self) == "700 \"c-1\"\n200 17\n900 \"with space\"\n")
    // Read back at 300 s: the command that expired at 200 is gone, the others are replays.
    var (back, damaged) = CommandReplayGuard.decode(text, nowS: 300)
    #expect(damaged == 0 && back.count == 2)
    #expect(back.admit("\"c-1\"", expiresS: 700, nowS: 300) == "id: a command with this id was already run (a replay)")
    #expect(back.admit("\"with space\"", expiresS: 900, nowS: 300) != nil)
    #expect(back.admit("17", expiresS: 800, nowS: 300) == nil)
    // Damage: a line without its expiry, a line with no key, bytes that are no number.
    let bad = Array("700 \"c-1\"\nnot-a-number \"x\"\n800\n\u{1}\u{2}\n".utf8)
    let (kept, n) = CommandReplayGuard.decode(bad, nowS: 300)
    #expect(kept.count == 1 && n == 3)
  }
}
