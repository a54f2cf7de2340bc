/// One message kept in the spool: what must reach the centre (an event or a snapshot), with
/// its topic, capture time and sequence, framed so that a torn or damaged file is recognised.
/// Pure: `encode` and `decode` work on bytes; the platform's `SpoolStore` does the files.
///
/// Layout, little-endian (README, "The spool"):
/// ```
///  0  4  magic "VGSP"
///  4  1  format version (1)
///  5  1  kind: "e" event, "s" snapshot
///  6  2  topic length T
///  8  4  payload length P
/// 12  8  capture time, Unix ms (signed)
/// 20  8  sequence (also the file's name)
/// 28  T  topic (UTF-8)
///  …  P  payload
///  …  4  CRC32C of every byte before it
/// ```
public struct SpoolRecord: Equatable {
  public enum Kind: UInt8, Equatable {
    case event = 0x65  // "e"
    case snapshot = 0x73  // "s"

    /// The letter in the file name, so the quota can find snapshots without opening files.
    public var letter: String { self == .event ? "e" : "s" }
  }

  public var kind: Kind
  public var sequence: UInt64
  public var captureMs: Int64
  public var topic: String
  public var payload: [UInt8]

  public init(kind: Kind, sequence: UInt64, captureMs: Int64, topic: String, payload: [UInt8]) {
    self.kind = kind
    self.sequence = sequence
    self.captureMs = captureMs
    self.topic = topic
    self.payload = payload
  }

  public static let magic: [UInt8] = [0x56, 0x47, 0x53, 0x50]  // "VGSP"
  public static let formatVersion: UInt8 = 1
  public static let headerSize = 28
  public static let trailerSize = 4
  /// MQTT's own limit on a topic's length.
  public static let maxTopicBytes = 65_535

  /// The whole file's size for a topic and payload of these lengths.
  public static func size(topicBytes: Int, payloadBytes: Int) -> Int {
    headerSize + topicBytes + payloadBytes + trailerSize
  }

  public var encodedSize: Int {
    Self.size(topicBytes: topic.utf8.count, payloadBytes: payload.count)
  }

  public func encode() -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(encodedSize)
    out.append(contentsOf: Self.magic)
    out.append(Self.formatVersion)
    out.append(kind.rawValue)
    Self.put(UInt64(topic.utf8.count), bytes: 2, into: &out)
    Self.put(UInt64(payload.count), bytes: 4, into: &out)
    Self.put(UInt64(bitPattern: captureMs), bytes: 8, into: &out)
    Self.put(sequence, bytes: 8, into: &out)
    out.append(contentsOf: topic.utf8)
    out.append(contentsOf: payload)
    Self.put(UInt64(CRC32C.checksum(out)), bytes: 4, into: &out)
    return out
  }

  /// What the fixed header says, read before the rest of a file (the start-up scan reads only
  /// this much of each file).
  public struct Header: Equatable {
    public var kind: Kind
    public var topicBytes: Int
    /// Int64, not Int: a 4-byte length from a file must not trap on a 32-bit board.
    public var payloadBytes: Int64
    public var captureMs: Int64
    public var sequence: UInt64

    public var fileSize: Int64 {
      Int64(SpoolRecord.headerSize + topicBytes + SpoolRecord.trailerSize) + payloadBytes
    }
  }

  /// Why bytes are not a whole record.
  public enum DecodeError: Error, Equatable {
    case tooShort(Int)
    case notASpoolFile
    case unknownVersion(UInt8)
    case unknownKind(UInt8)
    case lengthMismatch(expected: Int64, found: Int64)
    case badChecksum
    case badTopic

    public var message: String {
      switch self {
      case .tooShort(let n): return String(n) + " bytes, shorter than a header"
      case .notASpoolFile: return "not a spool file (bad magic)"
      case .unknownVersion(let v): return "unknown format version " + String(v)
      case .unknownKind(let k): return "unknown kind " + String(k)
      case .lengthMismatch(let e, let f):
        return "torn: header says " + String(e) + " bytes, file has " + String(f)
      case .badChecksum: return "checksum does not match"
      case .badTopic: return "topic is not UTF-8"
      }
    }
  }

  /// Reads the fixed header from the first `headerSize` bytes of a file.
  public static func header(_ b: ArraySlice<UInt8>) throws(DecodeError) -> Header {
    guard b.count >= headerSize else { throw .tooShort(b.count) }
    let s = b.startIndex
    guard b[s] == magic[0] && b[s + 1] == magic[1] && b[s + 2] == magic[2]
      && b[s + 3] == magic[3]
    else { throw .notASpoolFile }
    guard b[s + 4] == formatVersion else { throw .unknownVersion(b[s + 4]) }
    guard let kind = Kind(rawValue: b[s + 5]) else { throw .unknownKind(b[s + 5]) }
    return Header(
      kind: kind, topicBytes: Int(get(b, s + 6, 2)),
      payloadBytes: Int64(get(b, s + 8, 4)),
      captureMs: Int64(bitPattern: get(b, s + 12, 8)), sequence: get(b, s + 20, 8))
  }

  /// Decodes a whole file: the header, the length it promises, and the checksum.
  public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> SpoolRecord {
    let h = try header(bytes[...])
    guard Int64(bytes.count) == h.fileSize else {
      throw .lengthMismatch(expected: h.fileSize, found: Int64(bytes.count))
    }
    let body = bytes.count - trailerSize
    let stored = UInt32(truncatingIfNeeded: get(bytes[...], body, 4))
    guard CRC32C.checksum(bytes[0..<body]) == stored else { throw .badChecksum }
    let topicEnd = headerSize + h.topicBytes
    guard let topic = String(validating: bytes[headerSize..<topicEnd], as: UTF8.self) else {
      throw .badTopic
    }
    return SpoolRecord(
      kind: h.kind, sequence: h.sequence, captureMs: h.captureMs, topic: topic,
      payload: Array(bytes[topicEnd..<body]))
  }

  private static func put(_ v: UInt64, bytes n: Int, into out: inout [UInt8]) {
    for i in 0..<n { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
  }

  private static func get(_ b: ArraySlice<UInt8>, _ at: Int, _ n: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<n { v |= UInt64(b[at + i]) << (8 * UInt64(i)) }
    return v
  }

  // MARK: file names

  /// `<16 hex digits of the sequence>.<e|s>`: names sort as the sequence does, so the oldest
  /// message is the first name, and the kind is known from the name alone.
  public static func fileName(sequence: UInt64, kind: Kind) -> String {
    let hex: [UInt8] = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(18)
    var shift: UInt64 = 60
    for _ in 0..<16 {
      out.append(hex[Int((sequence >> shift) & 0xF)])
      shift &-= 4
    }
    out.append(0x2E)
    out.append(kind.rawValue)
    return String(decoding: out, as: UTF8.self)
  }

  /// The sequence and kind a spool file name stands for; nil for any other name.
  public static func parseFileName(_ name: String) -> (sequence: UInt64, kind: Kind)? {
    let b = Array(name.utf8)
    guard b.count == 18, b[16] == 0x2E, let kind = Kind(rawValue: b[17]) else { return nil }
    var v: UInt64 = 0
    for c in b[0..<16] {
      let d: UInt8
      switch c {
      case 0x30...0x39: d = c - 0x30
      case 0x61...0x66: d = c - 0x61 + 10
      default: return nil
      }
      v = v << 4 | UInt64(d)
    }
    return (v, kind)
  }
}

/// CRC-32C (Castagnoli), the checksum of ext4 metadata, iSCSI and SCTP: it catches every torn
/// write and burst error a storage card produces. Written here, not taken from a library: none
/// of the board's libraries offers it (libsodium's hashes are for adversaries and cost far more
/// per byte), and the table is 1 KiB.
public enum CRC32C {
  private static let table: [UInt32] = {
    var t = [UInt32](repeating: 0, count: 256)
    for i in 0..<256 {
      var c = UInt32(i)
      for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
      t[i] = c
    }
    return t
  }()

  /// Continues a running checksum (`crc` from a previous call; start with 0).
  public static func update<C: Collection>(_ crc: UInt32, _ bytes: C) -> UInt32
  where C.Element == UInt8 {
    var c = ~crc
    table.withUnsafeBufferPointer { t in
      for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    }
    return ~c
  }

  public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
    update(0, bytes)
  }
}
