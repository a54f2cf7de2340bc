/// A command from the centre on a site with trusted keys (issue 18): `R/cmd` then takes only
/// `{"doc": base64(JSON), "sig": base64(Ed25519)}` whose document names the site, a unique id,
/// an expiry at most 10 minutes ahead and the line:
/// `{"site_id":"tp-0412","id":"c-17","expires":1796280000,"line":"relay cam1 off"}`, and
/// optionally `"boot_id"`: then only that boot of the box runs it. The ids run are kept on
/// disk until they expire (`CommandReplayGuard.encode`), so a replay after a restart is
/// refused too; `boot_id` also covers a box whose state folder was lost.
public struct SignedCommand {
  public var id: JSONValue
  public var line: String
  public var expiresS: Int64

  /// How far ahead an expiry may be: a captured command is worth little for long.
  public static let maxAheadS: Int64 = 600

  /// Why a command was refused, with its id once it could be read (null before).
  public struct Refusal: Error {
    public var id: JSONValue
    public var reason: String
  }

  public static func open(
    _ payload: [UInt8], siteId: String, bootId: Int64, nowS: Int64,
    decodeBase64: (String) -> [UInt8]?, verify: (_ doc: [UInt8], _ sig: [UInt8]) -> Bool
  ) throws(Refusal) -> SignedCommand {
    let inner: [UInt8]
    do {
      inner = try RemoteDocument.unwrap(payload, trusted: true, decodeBase64: decodeBase64,
                                        verify: verify).doc
    } catch {
      if error.reason.hasPrefix("unsigned") {
        throw Refusal(id: idOf(payload), reason: "unsigned command refused: this site has trusted_keys, so a command must be signed")
      }
      throw Refusal(id: .null, reason: error.message)
    }
    let body: JSONValue
    do { body = try JSON.parse(inner) } catch { throw Refusal(id: .null, reason: error.message) }
    guard case .object = body else {
      throw Refusal(id: .null, reason: "the signed command must be a JSON object")
    }
    let id = body["id"] ?? .null
    switch id {
    case .string, .number: break
    default: throw Refusal(id: .null, reason: "id: a signed command needs an id (a string or a number)")
    }
    guard body["site_id"]?.stringValue == siteId else {
      throw Refusal(id: id, reason: "site_id: the command was signed for another site")
    }
    guard let expires = body["expires"]?.int64Value else {
      throw Refusal(id: id, reason: "expires: a signed command needs its expiry (Unix seconds)")
    }
    if expires <= nowS {
      throw Refusal(id: id, reason: "expires: the command has expired (by the gateway's clock)")
    }
    if expires > nowS + maxAheadS {
      throw Refusal(id: id, reason: "expires: more than 600 s ahead (by the gateway's clock)")
    }
    if let b = body["boot_id"], b.int64Value != bootId {
      throw Refusal(id: id, reason: "boot_id: the command is for another boot of this box")
    }
    guard let line = body["line"]?.stringValue else {
      throw Refusal(id: id, reason: "line: a signed command needs a line (a string)")
    }
    return SignedCommand(id: id, line: line, expiresS: expires)
  }

  /// The id of a plain (unsigned) request, to answer it by.
  static func idOf(_ payload: [UInt8]) -> JSONValue {
    guard let v = try? JSON.parse(payload), let id = v["id"] else { return .null }
    switch id {
    case .string, .number: return id
    default: return .null
    }
  }
}

/// The ids of signed commands already run, each kept until its command expires: the same
/// command again is a replay. Bounded: at most `capacity` live ids (commands within 10 minutes).
public struct CommandReplayGuard {
  public static let capacity = 1024
  private var seen: [(key: String, expiresS: Int64)] = []

  public init() {}

  public var count: Int { seen.count }

  /// nil when the command may run (and is now remembered); otherwise why not.
  public mutating func admit(_ key: String, expiresS: Int64, nowS: Int64) -> String? {
    seen.removeAll { $0.expiresS <= nowS }
    for s in seen where s.key == key {
      return "id: a command with this id was already run (a replay)"
    }
    if seen.count >= Self.capacity {
      return "more than 1024 signed commands in 600 s"
    }
    seen.append((key, expiresS))
    return nil
  }

  /// The ids as kept on disk, so that a restart within a command's life does not forget it:
  /// one line a command, `EXPIRES KEY` (the key is the id's JSON text, which has no newline).
  public func encode() -> [UInt8] {
    var out: [UInt8] = []
    for s in seen {
      out += Array(String(s.expiresS).utf8)
      out.append(0x20)
      out += Array(s.key.utf8)
      out.append(0x0A)
    }
    return out
  }

  /// Reads `encode()`'s text back, keeping the commands not yet expired; a damaged line is
  /// skipped (counted in `damaged`), never trusted as a key, and the rest are kept.
  public static func decode(_ b: [UInt8], nowS: Int64) -> (CommandReplayGuard, damaged: Int) {
    var g = CommandReplayGuard()
    var damaged = 0
    for line in b.split(separator: 0x0A) {
      guard let sp = line.firstIndex(of: 0x20),
        let e = Int64(String(decoding: line[line.startIndex..<sp], as: UTF8.self)),
        sp + 1 < line.endIndex
      else {
        damaged += 1
        continue
      }
      let key = String(decoding: line[(sp + 1)...], as: UTF8.self)
      if e > nowS && g.seen.count < capacity && !g.seen.contains(where: { $0.key == key }) {
        g.seen.append((key, e))
      }
    }
    return (g, damaged)
  }
}
