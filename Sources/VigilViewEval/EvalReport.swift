import VigilCore
import VigilPlatform

/// The evaluation's figures: per sequence as JSON (`vigil-view-eval` prints it; Scripts/bench
/// reads it), and the Done-when's summary in a few lines for a person (and a failing test).
public enum EvalReport {
  /// Counts over the set, by kind of damage.
  public struct Tally {
    public var sequences = 0
    public var required = 0
    /// Required detections within `EvalRun.decideWithin` snapshots.
    public var detected = 0
    public var missed = 0
    /// Detections of damage the Done-when does not ask for (foliage 20 %, sigma 1.5...).
    public var optionalDetected = 0
    public var optional = 0
    /// False alarms: states other than learning and clear entered before the damage.
    public var falseAlarms = 0
    /// Snapshots from the damage to the expected state, of the required detections.
    public var snapshots: [Int] = []
  }

  public static func tally(_ results: [EvalRun.Result]) -> [(kind: String, tally: Tally)] {
    var out: [(kind: String, tally: Tally)] = []
    for kind in ["normal", "obstructed", "blurred", "moved"] {
      var t = Tally()
      for r in results where r.sequence.kind == kind {
        t.sequences += 1
        t.falseAlarms += r.falseAlarms.count
        if r.sequence.required {
          t.required += 1
          if r.missed {
            t.missed += 1
          } else {
            t.detected += 1
            if let n = r.snapshotsFromDue { t.snapshots.append(max(n, 1)) }
          }
        } else if r.sequence.expected != nil {
          t.optional += 1
          if r.detectedAt != nil { t.optionalDetected += 1 }
        }
      }
      out.append((kind, t))
    }
    return out
  }

  /// The whole evaluation as JSON: a summary, then each sequence with its states and scores.
  public static func json(_ results: [EvalRun.Result]) -> [UInt8] {
    var j = JSONWriter()
    j.beginObject()
    j.key("summary")
    j.beginObject()
    for (kind, t) in tally(results) {
      j.key(kind)
      j.beginObject()
      j.field("sequences", t.sequences)
      j.field("required", t.required)
      j.field("detected", t.detected)
      j.field("missed", t.missed)
      j.field("optional", t.optional)
      j.field("optional_detected", t.optionalDetected)
      j.field("false_alarms", t.falseAlarms)
      j.key("snapshots")
      j.beginArray()
      for n in t.snapshots { j.int(n) }
      j.endArray()
      j.endObject()
    }
    j.field("passes", results.allSatisfy { $0.passes })
    j.endObject()
    j.key("sequences")
    j.beginArray()
    for r in results { write(r, into: &j) }
    j.endArray()
    j.endObject()
    return j.bytes + [0x0A]
  }

  private static func write(_ r: EvalRun.Result, into j: inout JSONWriter) {
    let s = r.sequence
    j.beginObject()
    j.field("name", s.name)
    j.field("kind", s.kind)
    j.field("mode", s.mode)
    j.key("severity")
    if let v = s.severityPerMille { j.rawJSON(Array(thousandths(v).utf8)) } else { j.null() }
    j.field("required", s.required)
    optional(&j, "damage_from", s.damageFrom)
    optional(&j, "due_from", s.dueFrom)
    optional(&j, "detected_at", r.detectedAt)
    optional(&j, "snapshots", r.snapshots)
    optional(&j, "snapshots_from_due", r.snapshotsFromDue)
    j.field("missed", r.missed)
    j.key("entered")
    states(&j, r.entered)
    j.key("false_alarms")
    states(&j, r.falseAlarms)
    j.key("frames")
    j.beginArray()
    for f in r.frames {
      j.beginObject()
      j.field("i", f.index)
      j.field("mode", f.mode.name)
      j.field("state", f.state.name)
      if let sc = f.score {
        j.field("condition", sc.condition.name)
        j.field("coverage", sc.coverage)
        j.field("sharpness", sc.sharpness)
        j.field("contrast", sc.contrast)
        j.field("aligned", sc.aligned)
        j.field("shift_px", sc.shiftPx)
      }
      j.endObject()
    }
    j.endArray()
    j.endObject()
  }

  private static func optional(_ j: inout JSONWriter, _ key: String, _ v: Int?) {
    j.key(key)
    if let v = v { j.int(v) } else { j.null() }
  }

  private static func states(_ j: inout JSONWriter, _ list: [EvalRun.Entered]) {
    j.beginArray()
    for e in list {
      j.beginObject()
      j.field("state", e.state.name)
      j.field("at", e.at)
      j.endObject()
    }
    j.endArray()
  }

  /// "0.4" for 400, "3" for 3000: a per-mille figure as a JSON number.
  static func thousandths(_ v: Int) -> String {
    let whole = String(v / 1000)
    var frac = v % 1000
    guard frac != 0 else { return whole }
    var digits = 3
    while frac % 10 == 0 {
      frac /= 10
      digits -= 1
    }
    let f = String(frac)
    return whole + "." + String(repeating: "0", count: digits - f.count) + f
  }

  /// A line per kind, then one per failing sequence with its states and scores.
  public static func text(_ results: [EvalRun.Result]) -> String {
    var out = ""
    for (kind, t) in tally(results) {
      out += kind + ": " + String(t.sequences) + " sequences"
      if kind != "normal" {
        out += ", required " + String(t.detected) + "/" + String(t.required) + " detected within "
          + String(EvalRun.decideWithin) + " (snapshots " + list(t.snapshots) + "), "
          + String(t.missed) + " missed; not required " + String(t.optionalDetected) + "/"
          + String(t.optional) + " detected"
      }
      out += "; false alarms " + String(t.falseAlarms) + "\n"
    }
    for r in results where !r.passes { out += failure(r) }
    return out
  }

  static func list(_ xs: [Int]) -> String {
    var s = ""
    for x in xs { s += (s.isEmpty ? "" : " ") + String(x) }
    return s.isEmpty ? "none" : s
  }

  /// What went wrong in one sequence, and every scored frame's figures.
  public static func failure(_ r: EvalRun.Result) -> String {
    let s = r.sequence
    var out = "FAIL " + s.name + " (" + s.kind + ", " + s.mode
    if let v = s.severityPerMille { out += ", severity " + thousandths(v) }
    out += "): "
    if !r.falseAlarms.isEmpty {
      out += "false alarm"
      for e in r.falseAlarms { out += " " + e.state.name + "@" + String(e.at) }
      out += "; "
    }
    if r.missed {
      out += "expected " + (s.expected?.name ?? "?") + " from frame " + String(s.dueFrom ?? 0)
        + " within " + String(EvalRun.decideWithin) + ", "
        + (r.detectedAt.map { "came at " + String($0) } ?? "never came") + "; "
    }
    out += "entered"
    for e in r.entered { out += " " + e.state.name + "@" + String(e.at) }
    out += "\n  frame  state       says        coverage sharpness contrast aligned shift_px\n"
    for f in r.frames {
      guard let sc = f.score else { continue }
      out += "  " + pad(String(f.index), 5) + "  " + pad(f.state.name, 10) + "  "
        + pad(sc.condition.name, 10) + "  " + pad(ViewScore.decimal(sc.coverage), 8) + " "
        + pad(ViewScore.decimal(sc.sharpness), 9) + " " + pad(ViewScore.decimal(sc.contrast), 8)
        + " " + pad(ViewScore.decimal(sc.aligned), 7) + " " + String(sc.shiftPx) + "\n"
    }
    return out
  }

  static func pad(_ s: String, _ n: Int) -> String {
    s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
  }
}
