import Testing
@testable import VigilCore

/// Issue 18's fuzz findings: what cJSON reads leniently is refused, naming the value; command
/// words split on bytes.
@Suite struct StrictInputTests {
  func refusal(_ text: String) -> JSONParseError? {
    do {
      _ = try JSON.parse(text)
      return nil
    } catch {
      return error
    }
  }

  @Test func aNumberPastADoubleIsRefusedNamingItsPath() throws {
    let e = try #require(refusal(#"{"version": 1, "heartbeat_s": 1e999}"#))
    #expect(e.message == "heartbeat_s: is a number out of range (past a double's)")
    let nested = try #require(refusal(#"{"cameras": [{"id": "c"}, {"probe_port": -1e472}]}"#))
    #expect(nested.field == "cameras[1].probe_port")
    #expect(refusal("1e400")?.field == "")
    #expect(refusal("[1.5e308, 2]") == nil)
  }

  @Test func aNULInAStringOrKeyIsRefusedNotCutShort() throws {
    let s = try #require(refusal(#"{"site_id": "abc\u0000def"}"#))
    #expect(s.message == "site_id: must not contain U+0000 (or U+FFFF)")
    let k = try #require(refusal(#"{"site_id\u0000x": "s"}"#))
    #expect(k.message == #"site_id\u0000x: a key must not contain U+0000 (or U+FFFF)"#)
    // An escaped backslash before "u0000" is text, not a NUL.
    let text = try JSON.parse(#"{"a": "\\u0000"}"#)
    #expect(text["a"]?.stringValue == #"\u0000"#)
    #expect(try JSON.parse(#"{"a": "\u0041\"\u0042"}"#)["a"]?.stringValue == "A\"B")
  }

  @Test func aConfigNamesTheFieldOfARefusedValue() {
    do {
      _ = try Config.parse(Array(#"{"version": 1, "site_id": "s", "heartbeat_s": 1e999}"#.utf8), baseDir: "/")
      Issue.record("accepted")
    } catch {
      #expect(error.field == "heartbeat_s", "\(error.message)")
    }
  }

  @Test func commandWordsSplitOnBytes() {
    #expect(CommandWords.split("relay  cam1\tcycle ") == ["relay", "cam1", "cycle"])
    // A space then a combining acute accent: one grapheme to String, two words here.
    #expect(CommandWords.split("status \u{301}x") == ["status", "\u{301}x"])
    #expect(CommandWords.split("   ").isEmpty)
    #expect(CommandWords.split("Tân Phú") == ["Tân", "Phú"])
  }
}
