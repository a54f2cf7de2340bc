/// A configuration document from the centre (`R/config/set`), checked before anything changes:
/// the envelope and its signature, the local-only fields, the version. Pure: base64 and the
/// signature check are passed in, so tests need no crypto library.
public enum RemoteDocument {
  /// Identity and trust stay on the box: a remote document leaves them as they are. One that
  /// omits them keeps the running values; one that changes them is refused.
  public static let localOnlyTopKeys = ["site_id", "trusted_keys", "board"]
  /// `console.lockout_s` too: a document that set it to 1 s would undo the PIN's protection.
  public static let localOnlyNested = [("spool", "dir"), ("console", "device"),
                                       ("console", "lockout_s")]

  /// A document out of its envelope, and whether a trusted key signed it.
  public struct Unwrapped {
    public var doc: [UInt8]
    public var signed: Bool
  }

  /// Unwraps `{"doc": base64(JSON), "sig": base64(Ed25519)}` or takes a plain document.
  /// With trusted keys, only an envelope signed by one of them is accepted. Without, an
  /// envelope is taken unverified: it counts as unsigned.
  public static func unwrap(
    _ payload: [UInt8], trusted: Bool, decodeBase64: (String) -> [UInt8]?,
    verify: (_ doc: [UInt8], _ sig: [UInt8]) -> Bool
  ) throws(ConfigError) -> Unwrapped {
    let value: JSONValue
    do { value = try JSON.parse(payload) } catch { throw ConfigError(error) }
    guard case .object(let members) = value else {
      throw ConfigError("", "must be a JSON object, not " + value.typeName)
    }
    let isEnvelope = members.contains { $0.name == "doc" } || members.contains { $0.name == "sig" }
    if !isEnvelope {
      if trusted { throw ConfigError("sig", "unsigned document refused: trusted_keys is set") }
      return Unwrapped(doc: payload, signed: false)
    }
    if members.count != 2 {
      throw ConfigError("", "an envelope has exactly the keys \"doc\" and \"sig\"")
    }
    guard let docText = value["doc"]?.stringValue, let doc = decodeBase64(docText) else {
      throw ConfigError("doc", "must be the document in base64")
    }
    guard let sigText = value["sig"]?.stringValue, let sig = decodeBase64(sigText), sig.count == 64
    else {
      throw ConfigError("sig", "must be a base64 Ed25519 signature (64 bytes)")
    }
    if trusted && !verify(doc, sig) {
      throw ConfigError("sig", "signature does not match any trusted key")
    }
    return Unwrapped(doc: doc, signed: trusted)
  }

  /// A signed document names the site it was signed for: without that, one site's signed
  /// document would replay on every site of the district.
  public static func checkSignedSite(_ doc: JSONValue, siteId: String) throws(ConfigError) {
    guard let named = doc["site_id"] else {
      throw ConfigError("site_id", "a signed document must name its site (\"" + siteId
        + "\"); this one names none")
    }
    if named.stringValue != siteId {
      throw ConfigError("site_id", "the document was signed for another site, not \"" + siteId
        + "\"")
    }
  }

  /// What only a signed document may change: the technician's PIN, and the uplink's trust (a
  /// broker without TLS where the site used TLS, or another CA). On a site without trusted
  /// keys any publisher on the broker could otherwise set a PIN it knows, or move the site to a
  /// broker of its own in plain text.
  public static func checkUnsignedChanges(_ next: Config, running: Config) throws(ConfigError) {
    if let pin = next.console?.pinHash, pin != running.console?.pinHash {
      throw ConfigError("console.pin_hash", "is changed only by a signed document")
    }
    var cas: [String] = []
    for b in running.brokers { if let t = b.tls { cas.append(t.caFile) } }
    if cas.isEmpty { return }
    for (i, b) in next.brokers.enumerated() {
      guard let t = b.tls else {
        throw ConfigError(
          "brokers[" + String(i) + "].tls",
          "the site uses TLS: a broker without it is set only by a signed document")
      }
      if !cas.contains(t.caFile) {
        throw ConfigError(
          "brokers[" + String(i) + "].tls.ca_file", "another CA is set only by a signed document")
      }
    }
  }

  /// Fills local-only fields the document leaves out from `running`, and refuses a document that
  /// changes one. Returns the document to validate and store.
  public static func merge(_ doc: JSONValue, running: JSONValue) throws(ConfigError) -> JSONValue {
    guard case .object(var members) = doc else {
      throw ConfigError("", "must be a JSON object, not " + doc.typeName)
    }
    func index(_ ms: [JSONMember], _ key: String) -> Int? { ms.firstIndex { $0.name == key } }

    for key in localOnlyTopKeys {
      let mine = running[key]
      if let i = index(members, key) {
        if !same(members[i].value, mine ?? .null) {
          throw ConfigError(key, "is set on the box only; a remote document must leave it as it is")
        }
      } else if let mine = mine {
        members.append(JSONMember(key, mine))
      }
    }
    for (section, key) in localOnlyNested {
      let mine = running[section]?[key]
      guard let i = index(members, section) else {
        // The whole section absent: the box keeps its own console (device and PIN hash), and
        // its own spool folder (the rest of the spool section takes the defaults).
        if section == "console", let sectionValue = running[section] {
          members.append(JSONMember(section, sectionValue))
        } else if let mine = mine {
          members.append(JSONMember(section, .object([JSONMember(key, mine)])))
        }
        continue
      }
      guard case .object(var inner) = members[i].value else { continue }  // validation says why
      if let j = index(inner, key) {
        if !same(inner[j].value, mine ?? .null) {
          throw ConfigError(section + "." + key,
                            "is set on the box only; a remote document must leave it as it is")
        }
      } else if let mine = mine {
        inner.append(JSONMember(key, mine))
        members[i].value = .object(inner)
      }
    }
    return .object(members)
  }

  /// The last word on identity and trust, on the parsed configurations: whatever the document
  /// said, these must come out the same as the running ones.
  public static func checkLocalFields(_ next: Config, running: Config) throws(ConfigError) {
    let changed: String?
    if next.siteId != running.siteId { changed = "site_id" }
    else if next.trustedKeys != running.trustedKeys { changed = "trusted_keys" }
    else if next.board != running.board { changed = "board" }
    else if next.spool.dir != running.spool.dir { changed = "spool.dir" }
    else if next.console?.device != running.console?.device { changed = "console.device" }
    else if next.console?.lockoutS != running.console?.lockoutS { changed = "console.lockout_s" }
    else { changed = nil }
    if let field = changed {
      throw ConfigError(field, "is set on the box only; a remote document must leave it as it is")
    }
  }

  /// Structural equality of two JSON values (object members in any order).
  public static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(let x), .number(let y)): return x == y
    case (.string(let x), .string(let y)): return x == y
    case (.array(let x), .array(let y)):
      return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
    case (.object(let x), .object(let y)):
      guard x.count == y.count else { return false }
      for m in x {
        guard let other = y.first(where: { $0.name == m.name }), same(m.value, other.value) else {
          return false
        }
      }
      return true
    default: return false
    }
  }
}

/// "Commit confirmed" for a remote configuration: applied at once, kept only once the agent is
/// connected to a broker again under it, else rolled back after `confirm_s`.
public struct ConfigConfirm: Equatable {
  public enum State: Equatable {
    case idle
    /// `version` is running on probation until `deadlineMs`; `awaitingReconnect` when its
    /// broker settings changed, so only a new connection proves it.
    case pending(version: Int, deadlineMs: Int64, awaitingReconnect: Bool)
  }

  public enum Action: Equatable {
    case none
    case confirm(version: Int)
    case rollBack(version: Int, reason: String)
  }

  public private(set) var state: State = .idle

  public init() {}

  public var isPending: Bool { state != .idle }

  /// A new document is in effect now.
  public mutating func applied(version: Int, nowMs: Int64, confirmS: Int, brokersChanged: Bool,
                               connected: Bool) -> Action {
    state = .pending(version: version, deadlineMs: nowMs + Int64(confirmS) * 1000,
                     awaitingReconnect: brokersChanged || !connected)
    if !brokersChanged && connected { return confirm() }
    return .none
  }

  /// Connected to a broker (a CONNACK under the running settings).
  public mutating func connected(nowMs: Int64) -> Action {
    guard case .pending(_, let deadline, _) = state else { return .none }
    if nowMs > deadline { return tick(nowMs: nowMs) }
    return confirm()
  }

  /// Time passes; past the deadline an unconfirmed document is rolled back.
  public mutating func tick(nowMs: Int64) -> Action {
    guard case .pending(let version, let deadline, _) = state, nowMs >= deadline else {
      return .none
    }
    state = .idle
    return .rollBack(version: version, reason: "not connected to a broker within confirm_s")
  }

  private mutating func confirm() -> Action {
    guard case .pending(let version, _, _) = state else { return .none }
    state = .idle
    return .confirm(version: version)
  }
}
