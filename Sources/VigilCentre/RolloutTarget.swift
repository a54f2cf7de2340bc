import VigilCore

/// What a rollout sends and how a site's answer is read: a configuration document (to
/// `R/config/set`, answered on `R/config/state`) or an update manifest (to `R/update`,
/// answered on `R/update/state`). Each site gets its own copy naming it in `site_id`, since a
/// gateway refuses a signed document for another site.
public struct RolloutTarget {
  public enum Kind: String, Equatable {
    case config
    case update
  }

  /// What one state message says about this rollout's document at one site.
  public enum Answer: Equatable {
    /// Done: applied (a config) or committed (an update); the text says what, e.g. "applied v8".
    case success(String)
    /// Refused or undone: the text gives the state and the site's reason.
    case failure(String)
    /// On its way (`pending_confirm`, `downloading`, `trial`, ...).
    case progress(String)
    /// About another document (an older state published again on a reconnect).
    case other
  }

  public let kind: Kind
  /// The document as given, without `site_id` (each site's copy adds its own).
  public let template: [JSONMember]
  /// A config's `version`.
  public let configVersion: Int64
  /// An update's `version` and `seq`.
  public let updateVersion: String
  public let updateSeq: Int64

  /// How the rollout is named in progress lines and in the progress file: `v8`, `0.2.0 (seq 4)`.
  public var label: String {
    kind == .config ? "v\(configVersion)" : "\(updateVersion) (seq \(updateSeq))"
  }

  /// The topic under `R` that the document goes to, and the one the site answers on.
  public var setTopic: String { kind == .config ? "config/set" : "update" }
  public var stateTopic: String { kind == .config ? "config/state" : "update/state" }

  // MARK: reading the document

  /// A configuration document: a JSON object with an integer `version` from 1; not already an
  /// envelope (the rollout signs each site's copy itself).
  public static func config(_ bytes: [UInt8], path: String) throws(RolloutError) -> RolloutTarget {
    let members = try object(bytes, path: path)
    guard let v = JSONValue.object(members)["version"] else {
      throw RolloutError("\(path): version: missing (a document needs an integer version)")
    }
    guard let version = v.int64Value, version >= 1 else {
      throw RolloutError("\(path): version: must be an integer from 1 (got \(describe(v)))")
    }
    return RolloutTarget(kind: .config, template: members.filter { $0.name != "site_id" },
                         configVersion: version, updateVersion: "", updateSeq: 0)
  }

  /// The architectures a gateway build exists for, as an update manifest names them.
  public static let arches = ["aarch64", "armv7", "x86_64"]

  /// An update manifest: `{"version","seq","sha256","size","arch","url"}` and optionally
  /// `trial_s`, the fields a gateway takes (UpdateManifest) (a `site_id` in it
  /// is replaced by each site's own). Every field is checked here, so a typo is found at the
  /// centre, not by 1,600 gateways.
  public static func update(_ bytes: [UInt8], path: String) throws(RolloutError) -> RolloutTarget {
    let members = try object(bytes, path: path)
    let known = ["site_id", "version", "seq", "sha256", "size", "arch", "url", "trial_s"]
    for m in members where !known.contains(m.name) {
      throw RolloutError("\(path): \(m.name): not a manifest field (they are version, seq, "
        + "sha256, size, arch, url, trial_s)")
    }
    let doc = JSONValue.object(members)
    func field(_ name: String) throws(RolloutError) -> JSONValue {
      guard let v = doc[name] else { throw RolloutError("\(path): \(name): missing") }
      return v
    }
    guard let version = try field("version").stringValue, !version.isEmpty,
      version.utf8.count <= 64
    else {
      throw RolloutError("\(path): version: must be a version string such as \"0.2.0\"")
    }
    guard let seq = try field("seq").int64Value, seq >= 1 else {
      throw RolloutError("\(path): seq: must be an integer from 1 (it orders updates)")
    }
    guard let sha = try field("sha256").stringValue, sha.utf8.count == 64,
      sha.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
    else {
      throw RolloutError("\(path): sha256: must be 64 lower-case hex digits")
    }
    guard let size = try field("size").int64Value, size >= 1, size <= Int64(UpdateManifest.maxSize)
    else {
      throw RolloutError("\(path): size: must be the file's size in bytes, from 1 to "
        + "\(UpdateManifest.maxSize)")
    }
    if let t = doc["trial_s"] {
      guard let n = t.int64Value, n >= Int64(UpdateManifest.trialRange.lowerBound),
        n <= Int64(UpdateManifest.trialRange.upperBound)
      else {
        throw RolloutError("\(path): trial_s: must be whole seconds from 10 to 86400")
      }
    }
    guard let arch = try field("arch").stringValue, arches.contains(arch) else {
      throw RolloutError("\(path): arch: must be one of aarch64, armv7, x86_64")
    }
    guard let url = try field("url").stringValue,
      url.hasPrefix("http://") || url.hasPrefix("https://")
    else {
      throw RolloutError("\(path): url: must be an http:// or https:// address")
    }
    return RolloutTarget(kind: .update, template: members.filter { $0.name != "site_id" },
                         configVersion: 0, updateVersion: version, updateSeq: seq)
  }

  private static func object(_ bytes: [UInt8], path: String) throws(RolloutError) -> [JSONMember] {
    let value: JSONValue
    do throws(JSONParseError) { value = try JSON.parse(bytes) } catch {
      throw RolloutError("\(path) is not a JSON object: \(error.message)")
    }
    guard case .object(let members) = value else {
      throw RolloutError("\(path) is not a JSON object: it is \(value.typeName)")
    }
    if value["sig"] != nil && value["doc"] != nil {
      throw RolloutError("\(path) is a signed envelope: give the plain document, the rollout "
        + "signs each site's copy")
    }
    return members
  }

  private static func describe(_ v: JSONValue) -> String {
    String(decoding: v.encoded(), as: UTF8.self)
  }

  /// The copy for `site`: `site_id` first, then the document's own members.
  public func document(for site: String) -> [UInt8] {
    JSONValue.object([JSONMember("site_id", .string(site))] + template).encoded()
  }

  // MARK: reading the answers

  /// Whether the state a site showed before anything was sent says it already has this
  /// document (or a later one): then nothing is sent to it. The text says what it has.
  public func alreadyThere(_ state: [UInt8]) -> String? {
    guard let s = try? JSON.parse(state) else { return nil }
    switch kind {
    case .config:
      guard s["status"]?.stringValue == "applied", let v = s["version"]?.int64Value,
        v >= configVersion
      else { return nil }
      return v == configVersion ? "already applied v\(v)" : "already at v\(v), newer than v\(configVersion)"
    case .update:
      guard s["state"]?.stringValue == "committed", let q = s["seq"]?.int64Value, q >= updateSeq
      else { return nil }
      let v = s["version"]?.stringValue ?? "?"
      return q == updateSeq ? "already committed \(v)" : "already at \(v) (seq \(q)), newer"
    }
  }

  /// What a state message that came after the document was sent says of it.
  public func answer(_ state: [UInt8]) -> Answer {
    guard let s = try? JSON.parse(state), case .object = s else { return .other }
    switch kind {
    case .config: return configAnswer(s)
    case .update: return updateAnswer(s)
    }
  }

  private func configAnswer(_ s: JSONValue) -> Answer {
    let status = s["status"]?.stringValue ?? ""
    let version = s["version"]?.int64Value
    let error = s["error"]?.stringValue
    let why = error.map { ": \($0)" } ?? ""
    switch status {
    case "applied":
      guard let v = version, v >= configVersion else { return .other }
      return .success(v == configVersion ? "applied v\(v)" : "applied v\(v), newer than v\(configVersion)")
    case "pending_confirm":
      return version == configVersion ? .progress("pending_confirm v\(configVersion)") : .other
    case "rejected":
      // A signed document refused before its version was read is answered with version null.
      guard version == nil || version == configVersion else { return .other }
      return .failure("rejected v\(configVersion)\(why)")
    case "rolled_back":
      guard version == configVersion else { return .other }
      return .failure("rolled_back v\(configVersion)\(why)")
    default:
      return .other
    }
  }

  private func updateAnswer(_ s: JSONValue) -> Answer {
    let state = s["state"]?.stringValue ?? ""
    let seq = s["seq"]?.int64Value
    let reason = s["reason"]?.stringValue
    let why = reason.map { ": \($0)" } ?? ""
    let version = s["version"]?.stringValue ?? updateVersion
    switch state {
    case "committed":
      guard let q = seq, q >= updateSeq else { return .other }
      return .success(q == updateSeq ? "committed \(version)" : "committed \(version) (seq \(q)), newer")
    case "downloading", "verifying", "staged", "trial":
      return seq == updateSeq ? .progress("\(state) \(updateVersion)") : .other
    case "rejected", "rolled_back":
      // A manifest refused before its seq was read is answered without one.
      guard seq == nil || seq == updateSeq else { return .other }
      return .failure("\(state) \(updateVersion)\(why)")
    default:
      return .other
    }
  }
}
