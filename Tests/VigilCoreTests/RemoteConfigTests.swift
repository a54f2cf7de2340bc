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
    (#"{"version": 2, "console": {"device": "/dev/ttyS0", "pin_hash": "$argon2id$x", "lockout_s": 1}}"#,
     "console.lockout_s"),
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
    let signed = try RemoteDocument.unwrap(env, trusted: true, decodeBase64: b64, verify: { _, _ in true })
    #expect(signed.doc == doc && signed.signed)
    // No trusted keys: an envelope is taken, unverified, and counts as unsigned.
    #expect(try RemoteDocument.unwrap(env, trusted: false, decodeBase64: b64, verify: { _, _ in true }).signed == false)
    // A bad signature, or none, is refused naming sig.
    #expect(throws: ConfigError.self) {
      try RemoteDocument.unwrap(env, trusted: true, decodeBase64: b64, verify: { _, _ in false })
    }
    do {
      _ = try RemoteDocument.unwrap(doc, trusted: true, decodeBase64: b64, verify: { _, _ in true })
      Issue.record("unsigned accepted")
    } catch { #expect(error.field == "sig") }
    // No trusted keys: a plain document passes as it is.
    let plain = try RemoteDocument.unwrap(doc, trusted: false, decodeBase64: b64, verify: { _, _ in false })
    #expect(plain.doc == doc && !plain.signed)
    // Malformed envelopes.
    for bad in [#"{"doc": "!!!", "sig": "AA=="}"#, #"{"doc": 5, "sig": "AA=="}"#,
                #"{"doc": "e30=", "sig": "AA==", "x": 1}"#, #"{"doc": "e30="}"#, "[1]", "nope"] {
      #expect(throws: ConfigError.self, "\(bad)") {
        try RemoteDocument.unwrap(Array(bad.utf8), trusted: true, decodeBase64: b64, verify: { _, _ in true })
      }
    }
  }
}

/// Issue 18: a signed document is bound to its site; the PIN and the uplink's trust change only
/// by a signed one.
@Suite struct DocumentTrustTests {
  func doc(_ s: String) throws -> JSONValue { try JSON.parse(s) }

  @Test func aSignedDocumentMustNameThisSite() throws {
    try RemoteDocument.checkSignedSite(try doc(#"{"site_id": "s1"}"#), siteId: "s1")
    #expect(throws: ConfigError("site_id", "a signed document must name its site (\"s1\"); this one names none")) {
      try RemoteDocument.checkSignedSite(try doc(#"{"version": 2}"#), siteId: "s1")
    }
    #expect(throws: ConfigError("site_id", "the document was signed for another site, not \"s1\"")) {
      try RemoteDocument.checkSignedSite(try doc(#"{"site_id": "s2"}"#), siteId: "s1")
    }
    #expect(throws: ConfigError.self) {
      try RemoteDocument.checkSignedSite(try doc(#"{"site_id": 7}"#), siteId: "s1")
    }
  }

  let hash = "$argon2id$v=19$m=4096,t=3,p=1$RLAnI/Z/VnStZuklVOAHEA$aJstFN4PVFW2ipytsjRlY4EvNkjpAkfdRiOAf2d8D0Y"
  let other = "$argon2id$v=19$m=4096,t=3,p=1$NRx1sQb9eHfqAhPoFZatpg$s0Sg9HmqJ+blw7XQHMSp169zGf5ow1ZI4js55D2Spm0"

  func config(pin: String? = nil, brokers: String = #"{"host": "10.0.0.1", "tls": {"ca_file": "/etc/vigil/ca.pem"}}"#)
    throws -> Config
  {
    var text = #"{"version": 1, "site_id": "s1", "brokers": ["# + brokers + "]"
    if let p = pin { text += #", "console": {"device": "/dev/ttyS0", "pin_hash": "\#(p)"}"# }
    return try Config.parse(Array((text + "}").utf8), baseDir: "/etc/vigil")
  }

  @Test func anUnsignedDocumentKeepsThePINAndTheUplinksTrust() throws {
    let running = try config(pin: hash)
    try RemoteDocument.checkUnsignedChanges(try config(pin: hash), running: running)
    #expect(throws: ConfigError("console.pin_hash", "is changed only by a signed document")) {
      try RemoteDocument.checkUnsignedChanges(try self.config(pin: self.other), running: running)
    }
    #expect(throws: ConfigError("brokers[0].tls", "the site uses TLS: a broker without it is set only by a signed document")) {
      try RemoteDocument.checkUnsignedChanges(try self.config(pin: self.hash, brokers: #"{"host": "10.6.6.6"}"#), running: running)
    }
    #expect(throws: ConfigError("brokers[0].tls.ca_file", "another CA is set only by a signed document")) {
      try RemoteDocument.checkUnsignedChanges(try self.config(
        pin: self.hash, brokers: #"{"host": "10.0.0.1", "tls": {"ca_file": "/tmp/evil-ca.pem"}}"#), running: running)
    }
    // A site without TLS may be moved between plain brokers (nothing to lose), and a new TLS
    // broker under the same CA is fine.
    let plain = try config(brokers: #"{"host": "10.0.0.1"}"#)
    try RemoteDocument.checkUnsignedChanges(try config(brokers: #"{"host": "10.0.0.2"}"#), running: plain)
    try RemoteDocument.checkUnsignedChanges(try config(
      pin: hash, brokers: #"{"host": "10.0.0.9", "tls": {"ca_file": "/etc/vigil/ca.pem"}}"#), running: running)
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
