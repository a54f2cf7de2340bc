/// An encoder that serves one picture forever (issue 13): `sameInARow` snapshots with the same
/// bytes, one after the other, are `frozen`. A live camera's JPEG never repeats to the byte
/// (sensor noise, the overlay clock); a hung encoder's does. Three, not two: one repeat can be a
/// camera that caches its JPEG for a moment, taken twice in quick succession (a snapshot on
/// power restore just after a turn). Only a fingerprint of the last body is kept, never a copy:
/// its CRC-32C and its length, 64 bits. The CRC is the spool's, already in the binary; a false
/// `frozen` needs two coincidences in a row, about one chance in 2^64.
public struct FrozenPicture {
  public static let sameInARow = 3

  private var last: UInt64?
  /// How many snapshots in a row had the last one's bytes (held at `sameInARow`).
  public private(set) var inARow = 0

  public init() {}

  public var isFrozen: Bool { inARow >= Self.sameInARow }

  /// Feeds the body of a good snapshot (a whole JPEG); returns whether the picture is frozen.
  /// A failed turn in between is not fed: it does not show that the picture moved.
  public mutating func saw(_ body: [UInt8]) -> Bool {
    let print = UInt64(CRC32C.checksum(body)) << 32 | UInt64(truncatingIfNeeded: body.count)
    if print == last {
      inARow = min(inARow + 1, Self.sameInARow)
    } else {
      last = print
      inARow = 1
    }
    return isFrozen
  }

  /// Forgets the last picture (after a power cycle, or new settings for the camera).
  public mutating func reset() { self = FrozenPicture() }
}

/// One stream check's run of RTP packets, in the order they came: it flows when some packet
/// moved both its sequence number (mod 2^16) and its timestamp (mod 2^32) forward from the one
/// before. Within a frame the timestamp stays and the sequence moves; at the next frame both
/// move. A stream whose timestamps stay equal is `frozen`; no packet at all is `noMedia`. A
/// backward step (B-frames, a sender's restart) is no fault, nor is it progress.
public struct RTPRun {
  /// Packets seen (held at 2^31 - 1, for 32-bit boards).
  public private(set) var packets = 0
  public private(set) var advanced = false
  private var lastSequence: UInt16 = 0
  private var lastTimestamp: UInt32 = 0

  public init() {}

  /// nil when the stream flows; `noMedia` without a packet; `frozen` when nothing moved.
  public var fault: CameraFault? { packets == 0 ? .noMedia : advanced ? nil : .frozen }

  public mutating func packet(sequence: UInt16, timestamp: UInt32) {
    if packets > 0, Int16(bitPattern: sequence &- lastSequence) > 0,
      Int32(bitPattern: timestamp &- lastTimestamp) > 0
    {
      advanced = true
    }
    lastSequence = sequence
    lastTimestamp = timestamp
    packets = min(packets, Int(Int32.max) - 1) + 1
  }

  /// Feeds one RTP packet's bytes (after the 4-byte interleave header of RTSP over TCP).
  /// Returns false, and counts nothing, for bytes that are no RTP packet (short, not version 2).
  public mutating func packet(rtp: UnsafeRawBufferPointer) -> Bool {
    guard rtp.count >= 12, rtp[0] >> 6 == 2 else { return false }
    var ts: UInt32 = 0
    for k in 4..<8 { ts = ts << 8 | UInt32(rtp[k]) }
    packet(sequence: UInt16(rtp[2]) << 8 | UInt16(rtp[3]), timestamp: ts)
    return true
  }
}
