/// An update from the centre (`R/update`): what to fetch, how to know it, and how long its trial
/// lasts. The envelope and its signature are `RemoteDocument.unwrap`'s; this reads the document
/// inside it. Pure: no I/O.
public struct UpdateManifest: Equatable {
  public var siteId: String
  public var version: String
  /// Rises with every update the centre sends: one not above the last taken is refused, so a
  /// captured manifest cannot take a box back to an older binary.
  public var seq: Int64
  /// The binary's SHA-256, 64 lowercase hex digits.
  public var sha256: String
  public var size: Int
  public var arch: String
  public var url: String
  /// How long the new binary must run healthy before it is kept.
  public var trialS: Int

  /// The largest binary taken: the board's is under 512 KiB; this leaves room and bounds the
  /// download on the spool's filesystem.
  public static let maxSize = 16 * 1024 * 1024
  public static let trialRange = 10...86400
  public static let defaultTrialS = 600

  /// This build's architecture, as manifests name it.
  public static var buildArch: String {
    #if arch(arm64)
      return "aarch64"
    #elseif arch(arm)
      return "armv7"
    #elseif arch(x86_64)
      return "x86_64"
    #else
      return "unknown"
    #endif
  }

  /// Reads and checks a manifest for this site; the error names the field.
  public static func read(_ doc: [UInt8], siteId: String) throws(ConfigError) -> UpdateManifest {
    let v: JSONValue
    do { v = try JSON.parse(doc) } catch { throw ConfigError(error) }
    guard case .object = v else { throw ConfigError("", "must be a JSON object, not " + v.typeName) }
    try RemoteDocument.checkSignedSite(v, siteId: siteId)
    func text(_ key: String, max: Int) throws(ConfigError) -> String {
      guard let s = v[key]?.stringValue, !s.isEmpty, s.utf8.count <= max else {
        throw ConfigError(key, "must be a string of 1 to " + String(max) + " bytes")
      }
      return s
    }
    let version = try text("version", max: 32)
    for b in version.utf8 where !(isAlnum(b) || b == 0x2E || b == 0x2D || b == 0x2B || b == 0x7E) {
      throw ConfigError("version", "may hold only letters, digits and . - + ~")
    }
    guard let seq = v["seq"]?.int64Value, seq >= 1 else {
      throw ConfigError("seq", "must be a whole number of at least 1")
    }
    let hash = try text("sha256", max: 64)
    guard hash.utf8.count == 64, hash.utf8.allSatisfy({ isHex($0) }) else {
      throw ConfigError("sha256", "must be 64 lowercase hex digits")
    }
    guard let size = v["size"]?.intValue, size >= 1, size <= maxSize else {
      throw ConfigError("size", "must be a whole number of bytes from 1 to " + String(maxSize))
    }
    let arch = try text("arch", max: 16)
    if arch != buildArch {
      throw ConfigError("arch", "is " + arch + "; this box runs " + buildArch)
    }
    let url = try text("url", max: 1024)
    guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
      throw ConfigError("url", "must be an http:// or https:// URL")
    }
    for b in url.utf8 where b <= 0x20 || b >= 0x7F {
      throw ConfigError("url", "may not hold spaces, control or non-ASCII bytes")
    }
    var trial = defaultTrialS
    if let t = v["trial_s"] {
      guard let n = t.intValue, trialRange.contains(n) else {
        throw ConfigError("trial_s", "must be a whole number of seconds from 10 to 86400")
      }
      trial = n
    }
    for m in members(v) where !known.contains(m) {
      throw ConfigError(m, "unknown key")
    }
    return UpdateManifest(siteId: siteId, version: version, seq: seq, sha256: hash, size: size,
                          arch: arch, url: url, trialS: trial)
  }

  static let known = ["site_id", "version", "seq", "sha256", "size", "arch", "url", "trial_s"]

  static func members(_ v: JSONValue) -> [String] {
    guard case .object(let ms) = v else { return [] }
    var names: [String] = []
    for m in ms { names.append(m.name) }
    return names
  }

  static func isAlnum(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
  }

  static func isHex(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) }
}

/// Where an update stands, kept on disk (`<state>/update/state.json`) and published retained on
/// `R/update/state`. The on-disk copy carries what the launcher needs besides: which binary was
/// running before (to go back to) and the trial's length.
public struct UpdateState: Equatable {
  public enum Phase: String {
    case downloading, verifying, staged, trial, committed
    case rolledBack = "rolled_back"
    case rejected
  }

  public var phase: Phase
  public var version: String
  /// The sequence of the manifest this is about; `lastSeq` is the highest ever taken.
  public var seq: Int64
  public var lastSeq: Int64
  public var reason: String?
  public var trialS: Int
  /// The binary to go back to: a file name in the update folder, or "" for the package's.
  public var previous: String
  /// The previous binary's version, for the rollback's message.
  public var previousVersion: String
  public var tsMs: Int64

  public init(phase: Phase, version: String, seq: Int64, lastSeq: Int64, reason: String? = nil,
              trialS: Int = UpdateManifest.defaultTrialS, previous: String = "",
              previousVersion: String = "", tsMs: Int64) {
    self.phase = phase
    self.version = version
    self.seq = seq
    self.lastSeq = lastSeq
    self.reason = reason
    self.trialS = trialS
    self.previous = previous
    self.previousVersion = previousVersion
    self.tsMs = tsMs
  }

  /// `R/update/state` and the file, one encoding: `{"state":…,"version":…,"seq":N,
  /// "reason":null|"…","ts":MS,…}` and, after those, what the launcher keeps (`last_seq`,
  /// `trial_s`, `previous`, `previous_version`): the centre may read them too.
  public func encode() -> [UInt8] {
    var w = JSONWriter()
    w.beginObject()
    w.field("state", phase.rawValue)
    w.field("version", version)
    w.field("seq", seq)
    w.field("reason", optional: reason)
    w.field("ts", tsMs)
    w.field("last_seq", lastSeq)
    w.field("trial_s", trialS)
    w.field("previous", previous)
    w.field("previous_version", previousVersion)
    w.endObject()
    return w.bytes
  }

  /// Reads the file; nil when it is damaged (the caller says so and starts from nothing taken).
  public static func read(_ bytes: [UInt8]) -> UpdateState? {
    guard let v = try? JSON.parse(bytes),
      let p = v["state"]?.stringValue.flatMap({ Phase(rawValue: $0) }),
      let version = v["version"]?.stringValue, let seq = v["seq"]?.int64Value,
      let last = v["last_seq"]?.int64Value, let trial = v["trial_s"]?.intValue,
      let previous = v["previous"]?.stringValue, let ts = v["ts"]?.int64Value
    else { return nil }
    // Only a plain file name in the update folder: never a path out of it.
    for b in previous.utf8 where b == 0x2F { return nil }
    return UpdateState(phase: p, version: version, seq: seq, lastSeq: last,
                       reason: v["reason"]?.stringValue, trialS: trial, previous: previous,
                       previousVersion: v["previous_version"]?.stringValue ?? "", tsMs: ts)
  }
}
