/// Writes JSON text in one pass into bytes ready to publish. Messages are small and flat;
/// building a cJSON tree per heartbeat and printing it would allocate a node per field for nothing.
public struct JSONWriter {
  public private(set) var bytes: [UInt8] = []
  private var first: [Bool] = [true]
  private var afterKey = false

  public init() { bytes.reserveCapacity(256) }

  public var text: String { String(decoding: bytes, as: UTF8.self) }

  /// Comma handling: a value directly after its key takes none; otherwise all but the first do.
  @inline(never) private mutating func prefix() {
    if afterKey { afterKey = false; return }
    if first[first.count - 1] { first[first.count - 1] = false } else { bytes.append(0x2C) }
  }

  private mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

  @inline(never) public mutating func beginObject() { prefix(); bytes.append(0x7B); first.append(true) }
  @inline(never) public mutating func endObject() { first.removeLast(); bytes.append(0x7D) }
  @inline(never) public mutating func beginArray() { prefix(); bytes.append(0x5B); first.append(true) }
  @inline(never) public mutating func endArray() { first.removeLast(); bytes.append(0x5D) }

  @inline(never) public mutating func key(_ name: String) {
    prefix()
    Self.appendQuoted(name, to: &bytes)
    bytes.append(0x3A)
    afterKey = true
  }

  @inline(never) public mutating func string(_ s: String) { prefix(); Self.appendQuoted(s, to: &bytes) }
  @inline(never) public mutating func int(_ v: Int) { prefix(); raw("\(v)") }
  @inline(never) public mutating func int64(_ v: Int64) { prefix(); raw("\(v)") }
  @inline(never) public mutating func bool(_ v: Bool) { prefix(); raw(v ? "true" : "false") }
  @inline(never) public mutating func null() { prefix(); raw("null") }
  /// Inserts text that is already JSON (a stored document, a nested message).
  @inline(never) public mutating func rawJSON(_ json: [UInt8]) { prefix(); bytes.append(contentsOf: json) }

  @inline(never) public mutating func field(_ name: String, _ s: String) { key(name); string(s) }
  @inline(never) public mutating func field(_ name: String, _ v: Int) { key(name); int(v) }
  @inline(never) public mutating func field(_ name: String, _ v: Int64) { key(name); int64(v) }
  @inline(never) public mutating func field(_ name: String, _ v: Bool) { key(name); bool(v) }
  /// A string field that is null when absent.
  @inline(never) public mutating func field(_ name: String, optional s: String?) {
    key(name)
    if let s = s { string(s) } else { null() }
  }

  private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

  /// Appends `s` as a JSON string literal: quotes, backslashes and control bytes escaped.
  @inline(never) public static func appendQuoted(_ s: String, to out: inout [UInt8]) {
    out.append(0x22)
    for b in s.utf8 {
      switch b {
      case 0x22: out.append(0x5C); out.append(0x22)
      case 0x5C: out.append(0x5C); out.append(0x5C)
      case 0x0A: out.append(0x5C); out.append(0x6E)
      case 0x0D: out.append(0x5C); out.append(0x72)
      case 0x09: out.append(0x5C); out.append(0x74)
      case 0..<0x20, 0x7F:
        out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
      default: out.append(b)
      }
    }
    out.append(0x22)
  }

  public static func quoted(_ s: String) -> String {
    var out: [UInt8] = []
    appendQuoted(s, to: &out)
    return String(decoding: out, as: UTF8.self)
  }
}

extension JSONValue {
  /// The value as JSON text. Numbers without a fraction print as integers (the config's are).
  public func encoded() -> [UInt8] {
    var w = JSONWriter()
    write(to: &w)
    return w.bytes
  }

  public func write(to w: inout JSONWriter) {
    switch self {
    case .null: w.null()
    case .bool(let b): w.bool(b)
    case .number(let d):
      if let i = int64Value { w.int64(i) } else { w.rawJSON(Array("\(d)".utf8)) }
    case .string(let s): w.string(s)
    case .array(let items):
      w.beginArray()
      for i in items { i.write(to: &w) }
      w.endArray()
    case .object(let members):
      w.beginObject()
      for m in members {
        w.key(m.name)
        m.value.write(to: &w)
      }
      w.endObject()
    }
  }
}
