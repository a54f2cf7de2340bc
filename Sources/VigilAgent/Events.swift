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
  private let bootId: Int64
  private var seq = 0
  private let topic: () -> String
  private let outbox: Outbox

  init(bootId: Int64, topic: @escaping () -> String, outbox: Outbox) {
    self.bootId = bootId
    self.topic = topic
    self.outbox = outbox
  }

  /// Emits one event; `fields` adds the kind's own fields to the object.
  /// The optimiser copies a function into each call site that passes it a closure; the work is
  /// kept in `begin` and `finish`, which are not inlined, so those copies stay a few bytes.
  @discardableResult
  @inline(never) func emit(_ kind: String, _ fields: (inout JSONWriter) -> Void = { _ in }) -> String {
    var w = begin(kind)
    fields(&w)
    return finish(kind, &w)
  }

  private var pendingId = ""
  private var pendingTs: Int64 = 0

  @inline(never)
  private func begin(_ kind: String) -> JSONWriter {
    seq += 1
    pendingId = "\(bootId)-\(seq)"
    pendingTs = Clock.wallMs()
    var w = JSONWriter()
    w.beginObject()
    w.field("id", pendingId)
    w.field("ts", pendingTs)
    w.field("kind", kind)
    return w
  }

  @inline(never)
  private func finish(_ kind: String, _ w: inout JSONWriter) -> String {
    w.endObject()
    Log.info("event \(kind) \(pendingId)")
    outbox.send(topic: topic(), payload: w.bytes, captureMs: pendingTs)
    return pendingId
  }
}

/// One field of an event. The events go through one `emit` with a list of fields rather than
/// a closure each: every closure would be a specialised copy of the writer in the Embedded
/// binary (2 KB each).
enum EventField {
  case text(String, String)
  case number(String, Int)
  case flag(String, Bool)

  static func f(_ k: String, _ v: String) -> EventField { .text(k, v) }
  static func f(_ k: String, _ v: Int) -> EventField { .number(k, v) }
  static func f(_ k: String, _ v: Bool) -> EventField { .flag(k, v) }
}

extension EventLog {
  /// Emits one event whose fields are given as a list (`EventField` says why). Not inlined:
  /// the optimiser would copy the writer into each caller (1 KB on aarch64).
  @inline(never)
  func emit(_ kind: String, _ fields: [EventField]) {
    emit(kind) { w in
      for f in fields {
        switch f {
        case .text(let k, let v): w.field(k, v)
        case .number(let k, let v): w.field(k, v)
        case .flag(let k, let v): w.field(k, v)
        }
      }
    }
  }
}
