import VigilCore
import VigilPlatform

/// Where messages that must arrive go: events and snapshots. The spool stands behind it: each
/// message is stored on disk first and removed only after the broker's PUBACK.
protocol Outbox: AnyObject {
  /// Queues `payload` for `topic`, captured at `captureMs` (Unix ms).
  func send(topic: String, payload: [UInt8], captureMs: Int64, kind: SpoolRecord.Kind)
}

extension Outbox {
  /// An event (the kind dropped last when the spool is full).
  func send(topic: String, payload: [UInt8], captureMs: Int64) {
    send(topic: topic, payload: payload, captureMs: captureMs, kind: .event)
  }
}

/// Makes `R/event` messages: `{"id","ts","kind",…}` with ids unique per site across restarts
/// (the boot number, then a sequence).
final class EventLog {
  private let bootId: Int
  private var seq = 0
  private let topic: () -> String
  private let outbox: Outbox

  init(bootId: Int, topic: @escaping () -> String, outbox: Outbox) {
    self.bootId = bootId
    self.topic = topic
    self.outbox = outbox
  }

  /// Emits one event; `fields` adds the kind's own fields to the object.
  @discardableResult
  func emit(_ kind: String, _ fields: (inout JSONWriter) -> Void = { _ in }) -> String {
    seq += 1
    let id = "\(bootId)-\(seq)"
    let ts = Clock.wallMs()
    var w = JSONWriter()
    w.beginObject()
    w.field("id", id)
    w.field("ts", ts)
    w.field("kind", kind)
    fields(&w)
    w.endObject()
    Log.info("event \(kind) \(id)")
    outbox.send(topic: topic(), payload: w.bytes, captureMs: ts)
    return id
  }
}
