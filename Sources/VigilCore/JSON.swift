import CcJSON

/// A parsed JSON document. Objects keep their members in order, duplicates included, so that a
/// validator can name a key given twice instead of silently taking one.
public indirect enum JSONValue {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([JSONMember])

  /// The value's JSON type, as an error message names it.
  public var typeName: String {
    switch self {
    case .null: return "null"
    case .bool: return "a boolean"
    case .number: return "a number"
    case .string: return "a string"
    case .array: return "an array"
    case .object: return "an object"
    }
  }

  /// The member named `key` of an object (the first, if given twice).
  @inline(never) public subscript(key: String) -> JSONValue? {
    guard case .object(let members) = self else { return nil }
    for m in members where m.name == key { return m.value }
    return nil
  }

  public var stringValue: String? {
    if case .string(let s) = self { return s }
    return nil
  }

  /// A whole number within ±9e15 (where a double still holds every integer exactly).
  public var int64Value: Int64? {
    guard case .number(let d) = self, d.isFinite, d == d.rounded(.towardZero),
      d >= -9.0e15, d <= 9.0e15
    else { return nil }
    return Int64(d)
  }

  /// A whole number that fits the platform's `Int`: nil for 3000000000 on a 32-bit board
  /// (armhf), where converting it would trap.
  public var intValue: Int? {
    guard let v = int64Value else { return nil }
    return Int(exactly: v)
  }
}

public struct JSONMember {
  public var name: String
  public var value: JSONValue
  public init(_ name: String, _ value: JSONValue) {
    self.name = name
    self.value = value
  }
}

/// Why a text is not JSON, or holds a value nothing here can take: a syntax error near a byte,
/// or a value named by its path (`cameras[0].host`) with the reason.
public struct JSONParseError: Error {
  public var offset: Int
  /// The value's path when a value is refused (empty for a syntax error).
  public var field = ""
  public var reason = ""

  public init(offset: Int) { self.offset = offset }

  public var message: String {
    if reason.isEmpty { return "not valid JSON (near byte \(offset))" }
    return field.isEmpty ? reason : "\(field): \(reason)"
  }
}

/// Parsing is cJSON's: numbers, escapes and Unicode are the hard parts, and cJSON is what the
/// board already carries. The tree is copied into Swift values and freed at once. Refused on
/// top of what cJSON refuses, with the value's path: a number past a double's range (cJSON
/// reads `1e999` as infinity, which is no JSON to write back), and a string or key holding
/// U+0000 (cJSON's C strings would cut it short: `"abc\u0000def"` would read as `"abc"`).
public enum JSON {
  /// Depth limit: a hostile document of nested brackets must not exhaust the stack.
  public static let maxDepth = 64

  public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
    // cJSON needs a NUL-terminated buffer; a NUL inside the bytes is itself an error.
    if let nul = bytes.firstIndex(of: 0) { throw JSONParseError(offset: nul) }
    var buffer = bytes
    markNULEscapes(&buffer)
    buffer.append(0)
    var result: JSONValue? = nil
    var failedAt = 0
    var bad: Refusal? = nil
    buffer.withUnsafeBufferPointer { buf in
      guard let base = buf.baseAddress else { return }
      base.withMemoryRebound(to: CChar.self, capacity: buf.count) { text in
        var end: UnsafePointer<CChar>? = nil
        guard let root = cJSON_ParseWithOpts(text, &end, 1) else {
          if let e = end { failedAt = text.distance(to: e) }
          return
        }
        defer { cJSON_Delete(root) }
        result = convert(root, depth: 0, &bad)
      }
    }
    if let b = bad {
      var e = JSONParseError(offset: 0)
      e.field = b.path
      e.reason = b.reason
      throw e
    }
    guard let value = result else { throw JSONParseError(offset: failedAt) }
    return value
  }

  public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
    return try parse(Array(text.utf8))
  }

  /// A refused value found while converting, and its path, built as the recursion unwinds.
  struct Refusal {
    var path: String
    var reason: String
  }

  /// `\u0000` inside a string becomes `\uFFFF`, the same length, so that the decoded string
  /// keeps a mark where cJSON would have cut it; `convert` refuses any string holding U+FFFF
  /// (a noncharacter: no camera, topic or name has one). One pass, linear.
  static func markNULEscapes(_ b: inout [UInt8]) {
    var inString = false
    var i = 0
    while i < b.count {
      let c = b[i]
      if !inString {
        if c == 0x22 { inString = true }
      } else if c == 0x5C {
        if i + 5 < b.count, b[i + 1] == 0x75, b[i + 2] == 0x30, b[i + 3] == 0x30,
          b[i + 4] == 0x30, b[i + 5] == 0x30
        {
          for k in (i + 2)...(i + 5) { b[k] = 0x46 }
        }
        i += 1  // the escaped character, whatever it is
      } else if c == 0x22 {
        inString = false
      }
      i += 1
    }
  }

  /// Whether a C string holds U+FFFF (EF BF BF): a `\u0000` marked by `markNULEscapes`.
  static func holdsNUL(_ s: UnsafePointer<CChar>) -> Bool {
    var i = 0
    while s[i] != 0 {
      if UInt8(bitPattern: s[i]) == 0xEF, UInt8(bitPattern: s[i + 1]) == 0xBF,
        UInt8(bitPattern: s[i + 2]) == 0xBF
      {
        return true
      }
      i += 1
    }
    return false
  }

  /// `key` then `rest` as a config field path: `a.b`, `a[0]`.
  static func join(_ key: String, _ rest: String) -> String {
    if rest.isEmpty { return key }
    return rest.utf8.first == 0x5B ? key + rest : key + "." + rest
  }

  private static func convert(_ node: UnsafeMutablePointer<cJSON>, depth: Int,
                              _ bad: inout Refusal?) -> JSONValue?
  {
    if depth > maxDepth { return nil }
    let type = node.pointee.type & 0xFF
    switch Int32(type) {
    case cJSON_NULL: return .null
    case cJSON_False: return .bool(false)
    case cJSON_True: return .bool(true)
    case cJSON_Number:
      let d = node.pointee.valuedouble
      if !d.isFinite {
        bad = Refusal(path: "", reason: "is a number out of range (past a double's)")
        return nil
      }
      return .number(d)
    case cJSON_String:
      guard let s = node.pointee.valuestring else { return nil }
      if holdsNUL(s) {
        bad = Refusal(path: "", reason: "must not contain U+0000 (or U+FFFF)")
        return nil
      }
      return .string(String(cString: s))
    case cJSON_Array:
      var items: [JSONValue] = []
      var child = node.pointee.child
      while let c = child {
        guard let v = convert(c, depth: depth + 1, &bad) else {
          if let b = bad { bad = Refusal(path: join("[" + String(items.count) + "]", b.path), reason: b.reason) }
          return nil
        }
        items.append(v)
        child = c.pointee.next
      }
      return .array(items)
    case cJSON_Object:
      var members: [JSONMember] = []
      var child = node.pointee.child
      while let c = child {
        guard let k = c.pointee.string else { return nil }
        let key = String(cString: k)
        if holdsNUL(k) {
          bad = Refusal(path: shown(key), reason: "a key must not contain U+0000 (or U+FFFF)")
          return nil
        }
        guard let v = convert(c, depth: depth + 1, &bad) else {
          if let b = bad { bad = Refusal(path: join(key, b.path), reason: b.reason) }
          return nil
        }
        members.append(JSONMember(key, v))
        child = c.pointee.next
      }
      return .object(members)
    default:
      return nil
    }
  }

  /// A key with its marked NULs written back as `\u0000`, for an error message.
  static func shown(_ key: String) -> String {
    var out = ""
    for u in key.unicodeScalars {
      if u.value == 0xFFFF { out += "\\u0000" } else { out.unicodeScalars.append(u) }
    }
    return out
  }
}
