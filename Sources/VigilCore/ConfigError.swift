/// A refused configuration or board file: which field, and why. `field` is a path such as
/// `brokers[1].port`; it is empty when the document as a whole is wrong. A document with several
/// problems is refused with the first one found; `more` holds the next ones (at most
/// `ConfigProblems.kept` in all) and `count` says how many were found, so that an installer by
/// the road fixes every mistake of a file in one go.
public struct ConfigError: Error, Equatable {
  public var field: String
  public var reason: String
  /// The problems found after this one, in the order found.
  public var more: [ConfigError] = []
  /// How many problems the document has, this one included (may exceed the ones kept).
  public var count = 1

  public init(_ field: String, _ reason: String) {
    self.field = field
    self.reason = reason
  }

  /// A document that is not JSON (the field empty), or holds a value JSON parsing refuses
  /// (`heartbeat_s: is a number out of range`).
  public init(_ e: JSONParseError) {
    self.init(e.field, e.reason.isEmpty ? e.message : e.reason)
  }

  /// One line for a person: `brokers[1].port: must be an integer from 1 to 65535 (got 0)`.
  public var message: String { field.isEmpty ? reason : "\(field): \(reason)" }

  /// The first problem, and how many more there are: for a log line.
  public var summary: String {
    count > 1 ? "\(message) (and \(count - 1) more problems)" : message
  }

  /// This problem and the next ones, each with no `more` of its own.
  public var all: [ConfigError] { [ConfigError(field, reason)] + more }
}

/// Collects every problem of one document, in the order found. Each is kept bounded in bytes
/// (a field path can echo a key of any length), and only the first `kept` are kept.
public final class ConfigProblems {
  public static let kept = 20
  public private(set) var found: [ConfigError] = []
  public private(set) var count = 0

  public init() {}

  public var isEmpty: Bool { count == 0 }

  @inline(never) public func add(_ field: String, _ reason: String) {
    count += 1
    if found.count < Self.kept {
      found.append(ConfigError(Self.clipped(field, 160), Self.clipped(reason, 240)))
    }
  }

  /// Adds an error and the problems it carries.
  @inline(never) public func add(_ error: ConfigError) {
    for e in error.all { add(e.field, e.reason) }
    count += error.count - 1 - error.more.count
  }

  /// Throws the first problem, carrying the others, when there is any.
  public func check() throws(ConfigError) {
    guard var first = found.first else { return }
    first.more = Array(found[1...])
    first.count = count
    throw first
  }

  /// At most `limit` bytes of UTF-8, cut before a character's first byte, with "..." when cut.
  static func clipped(_ s: String, _ limit: Int) -> String {
    let bytes = Array(s.utf8)
    if bytes.count <= limit { return s }
    var end = limit - 3
    while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
    return String(decoding: bytes[0..<end], as: UTF8.self) + "..."
  }
}

/// Reads one JSON object of a configuration. Unknown and repeated keys, missing and wrong
/// values are added to `problems`, each named by its full path, and a stand-in value is
/// returned, so that reading goes on and every problem of the document is found in one pass.
/// The stand-ins are never used: a document with a problem is refused.
struct ObjectReader {
  let path: String
  let problems: ConfigProblems
  private let members: [JSONMember]
  /// The value was no object: its fields are not reported missing one by one.
  private let broken: Bool

  init(_ value: JSONValue, path: String, known: [String], problems: ConfigProblems) {
    self.path = path
    self.problems = problems
    guard case .object(let members) = value else {
      problems.add(path, "must be an object, not \(value.typeName)")
      self.members = []
      broken = true
      return
    }
    self.members = members
    broken = false
    var names: [String] = []
    for m in members {
      if !known.contains(m.name) {
        problems.add(Self.join(path, m.name), "unknown key")
      } else if names.contains(m.name) {
        problems.add(Self.join(path, m.name), "given twice")
      } else {
        names.append(m.name)
      }
    }
  }

  static func join(_ path: String, _ key: String) -> String {
    path.isEmpty ? key : "\(path).\(key)"
  }

  @inline(never) func field(_ key: String) -> String { Self.join(path, key) }

  @inline(never) func value(_ key: String) -> JSONValue? {
    for m in members where m.name == key { return m.value }
    return nil
  }

  @inline(never) func has(_ key: String) -> Bool { value(key) != nil }

  @inline(never) func fail(_ key: String, _ reason: String) { problems.add(field(key), reason) }

  @inline(never) private func missing(_ key: String) {
    if !broken { fail(key, "is required") }
  }

  @inline(never) func int(_ key: String, _ range: ClosedRange<Int>, default def: Int? = nil) -> Int {
    guard let v = value(key) else {
      if let d = def { return d }
      missing(key)
      return range.lowerBound
    }
    guard let i = v.intValue, range.contains(i) else {
      let got: String
      if case .number(let d) = v { got = "\(d)" } else { got = v.typeName }
      fail(key, "must be an integer from \(range.lowerBound) to \(range.upperBound) (got \(got))")
      return def ?? range.lowerBound
    }
    return i
  }

  /// A 64-bit integer on every board: byte counts that can pass 2^31 (the spool's quota).
  @inline(never) func int64(_ key: String, _ range: ClosedRange<Int64>, default def: Int64) -> Int64 {
    guard let v = value(key) else { return def }
    guard let i = v.int64Value, range.contains(i) else {
      let got: String
      if case .number(let d) = v { got = "\(d)" } else { got = v.typeName }
      fail(key, "must be an integer from \(range.lowerBound) to \(range.upperBound) (got \(got))")
      return def
    }
    return i
  }

  @inline(never) func string(_ key: String, default def: String? = nil) -> String {
    guard let v = value(key) else {
      if let d = def { return d }
      missing(key)
      return ""
    }
    guard case .string(let s) = v else {
      fail(key, "must be a string, not \(v.typeName)")
      return def ?? ""
    }
    if s.isEmpty {
      fail(key, "must not be empty")
      return def ?? ""
    }
    return s
  }

  /// nil when absent or wrong (a wrong one is a problem).
  @inline(never) func optionalString(_ key: String) -> String? {
    guard has(key) else { return nil }
    let before = problems.count
    let s = string(key)
    return problems.count == before ? s : nil
  }

  @inline(never) func bool(_ key: String, default def: Bool) -> Bool {
    guard let v = value(key) else { return def }
    guard case .bool(let b) = v else {
      fail(key, "must be true or false, not \(v.typeName)")
      return def
    }
    return b
  }

  @inline(never) func array(_ key: String, required: Bool) -> [JSONValue] {
    guard let v = value(key) else {
      if required { missing(key) }
      return []
    }
    guard case .array(let items) = v else {
      fail(key, "must be an array, not \(v.typeName)")
      return []
    }
    return items
  }

  func oneOf(_ key: String, _ choices: [String], default def: String? = nil) -> String {
    let before = problems.count
    let s = string(key, default: def)
    if problems.count != before { return def ?? choices[0] }
    guard choices.contains(s) else {
      var list = ""
      for c in choices { list += list.isEmpty ? c : ", \(c)" }
      fail(key, "must be one of \(list) (got \"\(s)\")")
      return def ?? choices[0]
    }
    return s
  }
}

/// Names that become parts of MQTT topics, client ids or file names (public: the centre's
/// sites lists are held to the same rule as `site_id`).
public enum Names {
  /// Letters, digits, `-`, `_` and `.`: safe in a topic level, a client id and a file name.
  public static func isSafeName(_ s: String, maxLength: Int) -> Bool {
    if s.isEmpty || s.utf8.count > maxLength || s == "." || s == ".." { return false }
    for b in s.utf8 {
      let ok =
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
        || b == 0x2D || b == 0x5F || b == 0x2E
      if !ok { return false }
    }
    return true
  }
}
