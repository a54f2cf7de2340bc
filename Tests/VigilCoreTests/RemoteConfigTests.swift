import Foundation
import Testing
@testable import VigilCore

@Suite struct RemoteDocumentTests {
  let running = try! JSON.parse(
    #"{"version": 1, "site_id": "s1", "brokers": [{"host": "h"}], "board": "/etc/vigil/b.json","#
      + #" "spool": {"dir": "/var/lib/vigil/spool"}, "trusted_keys": ["k"],"#
      + #" "console": {"device": "/dev/ttyS0", "pin_hash": "$argon2id$x"}}"#)

  func merge(_ text: String) throws(ConfigError) -> JSONValue {
    let doc: JSONValue
    do { doc = try JSON.parse(text) } catch { throw ConfigError("", error.message) }
    return try RemoteDocument.merge(doc, running: running)
  }

  @Test func absentLocalFieldsAreKeptFromTheRunningDocument() throws {
    let m = try merge(#"{"version": 2, "brokers": [{"host": "h2"}], "spool": {"max_bytes": 100000}}"#)
    #expect(m["site_id"]?.stringValue == "s1")
    #expect(m["board"]?.stringValue == "/etc/vigil/b.json")
    #expect(m["spool"]?["dir"]?.stringValue == "/var/lib/vigil/spool")
    #expect(m["spool"]?["max_bytes"]?.intValue == 100_000)
    #expect(m["console"]?["device"]?.stringValue == "/dev/ttyS0")
    #expect(RemoteDocument.same(m["trusted_keys"] ?? .null, running["trusted_keys"] ?? .null))
    let bare = try merge(#"{"version": 2, "brokers": [{"host": "h2"}]}"#)
    #expect(bare["spool"]?["dir"]?.stringValue == "/var/lib/vigil/spool", "spool.dir kept")
    #expect(bare["console"]?["pin_hash"]?.stringValue == "$argon2id$x", "console kept whole")
  }

  @Test(arguments: [
    (#"{"version": 2, "site_id": "s2"}"#, "site_id"),
    (#"{"version": 2, "board": "/tmp/evil.json"}"#, "board"),
    (#"{"version": 2, "trusted_keys": []}"#, "trusted_keys"),
    (#"{"version": 2, "spool": {"dir": "/tmp"}}"#, "spool.dir"),
    (#"{"version": 2, "console": {"device": "/dev/ttyUSB0", "pin_hash": "$argon2id$x"}}"#,
     "console.device"),
  ])
  func changingALocalFieldIsRefused(_ text: String, _ field: String) {
    do {
      _ = try merge(text)
      Issue.record("accepted \(text)")
    } catch {
      #expect(error.field == field)
    }
  }

  @Test func sameValuesMayBeRepeated() throws {
    _ = try merge(#"{"version": 2, "site_id": "s1", "spool": {"dir": "/var/lib/vigil/spool"}}"#)
  }

  func b64(_ s: String) -> [UInt8]? { Data(base64Encoded: s).map { Array($0) } }

  @Test func envelopes() throws {
    let doc = Array(#"{"version": 2}"#.utf8)
    let env = Array(#"{"doc": "\#(Data(doc).base64EncodedString())", "sig": "\#(Data(repeating: 7, count: 64).base64EncodedString())"}"#.utf8)
    // Trusted keys and a good signature: the inner document.
    #expect(try RemoteDocument.unwrap(env, trusted: true, decodeBase64: b64, verify: { _, _ in true }) == doc)
    // A bad signature, or none, is refused naming sig.
    #expect(throws: ConfigError.self) {
      try RemoteDocument.unwrap(env, trusted: true, decodeBase64: b64, verify: { _, _ in false })
    }
    do {
      _ = try RemoteDocument.unwrap(doc, trusted: true, decodeBase64: b64, verify: { _, _ in true })
      Issue.record("unsigned accepted")
    } catch { #expect(error.field == "sig") }
    // No trusted keys: a plain document passes as it is.
    #expect(try RemoteDocument.unwrap(doc, trusted: false, decodeBase64: b64, verify: { _, _ in false }) == doc)
    // Malformed envelopes.
    for bad in [#"{"doc": "!!!", "sig": "AA=="}"#, #"{"doc": 5, "sig": "AA=="}"#,
                #"{"doc": "e30=", "sig": "AA==", "x": 1}"#, #"{"doc": "e30="}"#, "[1]", "nope"] {
      #expect(throws: ConfigError.self, "\(bad)") {
        try RemoteDocument.unwrap(Array(bad.utf8), trusted: true, decodeBase64: b64, verify: { _, _ in true })
      }
    }
  }
}

@Suite struct ConfigConfirmTests {
  @Test func unchangedBrokersWhileConnectedConfirmAtOnce() {
    var c = ConfigConfirm()
    #expect(c.applied(version: 2, nowMs: 0, confirmS: 30, brokersChanged: false, connected: true)
      == .confirm(version: 2))
    #expect(!c.isPending)
  }

  @Test func newBrokersConfirmOnTheNextConnection() {
    var c = ConfigConfirm()
    #expect(c.applied(version: 2, nowMs: 0, confirmS: 30, brokersChanged: true, connected: true) == .none)
    #expect(c.tick(nowMs: 29_999) == .none)
    #expect(c.connected(nowMs: 10_000) == .confirm(version: 2))
    #expect(c.tick(nowMs: 40_000) == .none, "confirmed: no rollback later")
  }

  @Test func noConnectionWithinConfirmSRollsBack() {
    var c = ConfigConfirm()
    _ = c.applied(version: 5, nowMs: 1000, confirmS: 30, brokersChanged: true, connected: false)
    #expect(c.tick(nowMs: 30_999) == .none)
    guard case .rollBack(let v, _) = c.tick(nowMs: 31_000) else {
      Issue.record("no rollback")
      return
    }
    #expect(v == 5)
    #expect(!c.isPending)
    #expect(c.connected(nowMs: 32_000) == .none, "a late connection does not confirm it")
  }

  @Test func aConnectionAfterTheDeadlineRollsBack() {
    var c = ConfigConfirm()
    _ = c.applied(version: 3, nowMs: 0, confirmS: 5, brokersChanged: true, connected: true)
    guard case .rollBack = c.connected(nowMs: 6000) else {
      Issue.record("confirmed too late")
      return
    }
  }
}
