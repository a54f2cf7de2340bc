/// What a snapshot body must look like, and how snapshots and late events are addressed.
/// Pure: the transfer itself is the platform's (`HTTPClient`).
public enum Snapshot {
  /// The largest snapshot body taken: a 4K camera's JPEG at high quality is under 2 MiB.
  public static let maxBytes = 4 << 20
  /// Connecting to a camera on the local segment takes milliseconds; 5 s is generous.
  public static let connectTimeoutMs: Int64 = 5_000
  /// A whole transfer, 4 MiB over a slow link included; a hung camera frees its slot after it.
  public static let totalTimeoutMs: Int64 = 15_000

  /// `R/snapshot/<camera_id>/<capture_ms>`: the capture time travels in the topic, so a
  /// snapshot sent late still says when it was taken.
  public static func topic(root: String, cameraId: String, captureMs: Int64) -> String {
    root + "/snapshot/" + cameraId + "/" + String(captureMs)
  }

  /// Whether `body` is a whole JPEG: it starts with the SOI marker (FF D8) followed by another
  /// marker, and ends with EOI (FF D9). Some cameras pad the body after EOI with zero bytes or a
  /// line break; up to 64 such bytes are allowed. This catches an HTML error page, a truncated
  /// transfer and an empty body; it does not decode the image.
  public static func isWholeJPEG(_ body: [UInt8]) -> Bool {
    guard body.count >= 6, body[0] == 0xFF, body[1] == 0xD8, body[2] == 0xFF else {
      return false
    }
    var end = body.count
    var padding = 0
    while end > 4, padding < 64, body[end - 1] == 0x00 || body[end - 1] == 0x0A
      || body[end - 1] == 0x0D
    {
      end -= 1
      padding += 1
    }
    return body[end - 2] == 0xFF && body[end - 1] == 0xD9
  }

  /// The `<statusString>` of a Hikvision XML error (`<ResponseStatus>`, sent with status 200),
  /// for the log: printable ASCII, at most 64 bytes; nil when the body has none.
  public static func statusString(_ body: [UInt8]) -> String? {
    let open = Array("<statusString>".utf8)
    let head = body.prefix(4096)
    guard let at = head.indices.first(where: { head[$0...].starts(with: open) }) else { return nil }
    let text = head[(at + open.count)...].prefix { $0 != 0x3C }
    guard !text.isEmpty, text.count <= 64, text.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
      return nil
    }
    return String(decoding: text, as: UTF8.self)
  }
}

extension Messages {
  /// An event sent late (taken before the connection it goes out on: during an outage, or
  /// before a restart) says so: `"late":true` is added as its last member. Its `ts` stays the
  /// capture time. A payload that is not a JSON object is returned unchanged.
  public static func markedLate(_ json: [UInt8]) -> [UInt8] {
    var end = json.count
    while end > 0, json[end - 1] == 0x20 || json[end - 1] == 0x0A { end -= 1 }
    guard end >= 2, json[0] == 0x7B, json[end - 1] == 0x7D else { return json }
    var out = Array(json[0..<(end - 1)])
    // `{}` takes no comma before the new member.
    var k = out.count - 1
    while k > 0, out[k] == 0x20 || out[k] == 0x0A { k -= 1 }
    if out[k] != 0x7B { out.append(0x2C) }
    out.append(contentsOf: Array("\"late\":true}".utf8))
    return out
  }
}
