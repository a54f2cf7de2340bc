/// A refused configuration or board file: which field, and why. `field` is a path such as
/// `brokers[1].port`; it is empty when the document as a whole is wrong.
public struct ConfigError: Error, Equatable {
  public var field: String
  public var reason: String

  public init(_ field: String, _ reason: String) {
    self.field = field
    self.reason = reason
  }

  /// One line for a person: `brokers[1].port: must be an integer from 1 to 65535 (got 0)`.
  public var message: String { field.isEmpty ? reason : "\(field): \(reason)" }
}

/// Reads one JSON object of a configuration, refusing unknown and repeated keys up front and
/// naming each field by its full path in every error.
struct ObjectReader {
  let path: String
  private let members: [JSONMember]

  init(_ value: JSONValue, path: String, known: [String]) throws(ConfigError) {
    guard case .object(let members) = value else {
      throw ConfigError(path, "must be an object, not \(value.typeName)")
    }
    self.path = path
    self.members = members
    var names: [String] = []
    for m in members {
      if !known.contains(m.name) { throw ConfigError(Self.join(path, m.name), "unknown key") }
      if names.contains(m.name) { throw ConfigError(Self.join(path, m.name), "given twice") }
      names.append(m.name)
    }
  }

  static func join(_ path: String, _ key: String) -> String {
    path.isEmpty ? key : "\(path).\(key)"
  }

  func field(_ key: String) -> String { Self.join(path, key) }

  func value(_ key: String) -> JSONValue? {
    for m in members where m.name == key { return m.value }
    return nil
  }

  func has(_ key: String) -> Bool { value(key) != nil }

  func int(_ key: String, _ range: ClosedRange<Int>, default def: Int? = nil) throws(ConfigError)
    -> Int
  {
    guard let v = value(key) else {
      if let d = def { return d }
      throw ConfigError(field(key), "is required")
    }
    guard let i = v.intValue, range.contains(i) else {
      let got: String
      if case .number(let d) = v { got = "\(d)" } else { got = v.typeName }
      throw ConfigError(
        field(key), "must be an integer from \(range.lowerBound) to \(range.upperBound) (got \(got))")
    }
    return i
  }

  func string(_ key: String, default def: String? = nil) throws(ConfigError) -> String {
    guard let v = value(key) else {
      if let d = def { return d }
      throw ConfigError(field(key), "is required")
    }
    guard case .string(let s) = v else {
      throw ConfigError(field(key), "must be a string, not \(v.typeName)")
    }
    if s.isEmpty { throw ConfigError(field(key), "must not be empty") }
    return s
  }

  func optionalString(_ key: String) throws(ConfigError) -> String? {
    guard has(key) else { return nil }
    return try string(key)
  }

  func bool(_ key: String, default def: Bool) throws(ConfigError) -> Bool {
    guard let v = value(key) else { return def }
    guard case .bool(let b) = v else {
      throw ConfigError(field(key), "must be true or false, not \(v.typeName)")
    }
    return b
  }

  func array(_ key: String, required: Bool) throws(ConfigError) -> [JSONValue] {
    guard let v = value(key) else {
      if required { throw ConfigError(field(key), "is required") }
      return []
    }
    guard case .array(let items) = v else {
      throw ConfigError(field(key), "must be an array, not \(v.typeName)")
    }
    return items
  }

  func oneOf(_ key: String, _ choices: [String], default def: String? = nil) throws(ConfigError)
    -> String
  {
    let s = try string(key, default: def)
    guard choices.contains(s) else {
      var list = ""
      for c in choices { list += list.isEmpty ? c : ", \(c)" }
      throw ConfigError(field(key), "must be one of \(list) (got \"\(s)\")")
    }
    return s
  }
}

/// Names that become parts of MQTT topics, client ids or file names.
enum Names {
  /// Letters, digits, `-`, `_` and `.`: safe in a topic level, a client id and a file name.
  static func isSafeName(_ s: String, maxLength: Int) -> Bool {
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
