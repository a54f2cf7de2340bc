import VigilCore
import VigilPlatform

/// A rollout's progress file (`--state`): which document it sends, the sites that have it, and
/// where and why it halted. Written atomically after every site that succeeds and when it
/// halts, so `--resume` continues from the last site that answered.
/// `{"kind":"config","target":"v8","done":["tp-0001",…],"halted":{"site":…,"reason":…}|null}`
public struct RolloutProgress: Equatable {
  public var kind: RolloutTarget.Kind
  /// The document's label (`v8`, `0.2.0 (seq 4)`): a resume must send the same one.
  public var target: String
  public var done: [String]
  public var halted: (site: String, reason: String)?

  public init(kind: RolloutTarget.Kind, target: String, done: [String] = [],
              halted: (site: String, reason: String)? = nil) {
    self.kind = kind
    self.target = target
    self.done = done
    self.halted = halted
  }

  public static func == (a: RolloutProgress, b: RolloutProgress) -> Bool {
    a.kind == b.kind && a.target == b.target && a.done == b.done
      && a.halted?.site == b.halted?.site && a.halted?.reason == b.halted?.reason
  }

  public func encoded() -> [UInt8] {
    var w = JSONWriter()
    w.beginObject()
    w.field("kind", kind.rawValue)
    w.field("target", target)
    w.key("done")
    w.beginArray()
    for s in done { w.string(s) }
    w.endArray()
    w.key("halted")
    if let h = halted {
      w.beginObject()
      w.field("site", h.site)
      w.field("reason", h.reason)
      w.endObject()
    } else {
      w.null()
    }
    w.endObject()
    return w.bytes + [0x0A]
  }

  public static func parse(_ bytes: [UInt8], path: String) throws(RolloutError) -> RolloutProgress {
    let bad = RolloutError("\(path) is not a rollout progress file (written by vigil-centre "
      + "rollout --state)")
    guard let v = try? JSON.parse(bytes),
      let kindText = v["kind"]?.stringValue, let kind = RolloutTarget.Kind(rawValue: kindText),
      let target = v["target"]?.stringValue, case .array(let items)? = v["done"]
    else { throw bad }
    var done: [String] = []
    for item in items {
      guard let s = item.stringValue else { throw bad }
      done.append(s)
    }
    var halted: (site: String, reason: String)? = nil
    if let h = v["halted"], case .object = h {
      guard let site = h["site"]?.stringValue, let reason = h["reason"]?.stringValue else {
        throw bad
      }
      halted = (site, reason)
    }
    return RolloutProgress(kind: kind, target: target, done: done, halted: halted)
  }

  public func write(to path: String) throws(SystemError) {
    try Files.writeAtomically(path, encoded(), mode: 0o644)
  }
}
