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
  public subscript(key: String) -> JSONValue? {
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

/// Why a text is not JSON.
public struct JSONParseError: Error {
  public var offset: Int
  public var message: String { "not valid JSON (near byte \(offset))" }
}

/// Parsing is cJSON's: numbers, escapes and Unicode are the hard parts, and cJSON is what the
/// board already carries. The tree is copied into Swift values and freed at once.
public enum JSON {
  /// Depth limit: a hostile document of nested brackets must not exhaust the stack.
  public static let maxDepth = 64

  public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
    // cJSON needs a NUL-terminated buffer; a NUL inside the bytes is itself an error.
    if let nul = bytes.firstIndex(of: 0) { throw JSONParseError(offset: nul) }
    var buffer = bytes
    buffer.append(0)
    var result: JSONValue? = nil
    var failedAt = 0
    buffer.withUnsafeBufferPointer { buf in
      guard let base = buf.baseAddress else { return }
      base.withMemoryRebound(to: CChar.self, capacity: buf.count) { text in
        var end: UnsafePointer<CChar>? = nil
        guard let root = cJSON_ParseWithOpts(text, &end, 1) else {
          if let e = end { failedAt = text.distance(to: e) }
          return
        }
        defer { cJSON_Delete(root) }
        result = convert(root, depth: 0)
      }
    }
    guard let value = result else { throw JSONParseError(offset: failedAt) }
    return value
  }

  public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
    return try parse(Array(text.utf8))
  }

  private static func convert(_ node: UnsafeMutablePointer<cJSON>, depth: Int) -> JSONValue? {
    if depth > maxDepth { return nil }
    let type = node.pointee.type & 0xFF
    switch Int32(type) {
    case cJSON_NULL: return .null
    case cJSON_False: return .bool(false)
    case cJSON_True: return .bool(true)
    case cJSON_Number: return .number(node.pointee.valuedouble)
    case cJSON_String:
      guard let s = node.pointee.valuestring else { return nil }
      return .string(String(cString: s))
    case cJSON_Array:
      var items: [JSONValue] = []
      var child = node.pointee.child
      while let c = child {
        guard let v = convert(c, depth: depth + 1) else { return nil }
        items.append(v)
        child = c.pointee.next
      }
      return .array(items)
    case cJSON_Object:
      var members: [JSONMember] = []
      var child = node.pointee.child
      while let c = child {
        guard let v = convert(c, depth: depth + 1), let k = c.pointee.string else { return nil }
        members.append(JSONMember(String(cString: k), v))
        child = c.pointee.next
      }
      return .object(members)
    default:
      return nil
    }
  }
}
