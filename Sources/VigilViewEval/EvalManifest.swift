import VigilCore
import VigilPlatform

/// The evaluation set's `manifest.json` (Tests/Fixtures/view-eval.py writes it): its sequences
/// of JPEG frames, each with what is expected of the view watch.
public struct EvalManifest {
  /// One sequence: learning frames, normal ones, then (unless `normal`) the damaged ones.
  public struct Sequence {
    public var name: String
    /// `normal`, `obstructed`, `blurred` or `moved`: the state a damage sequence must reach.
    public var kind: String
    /// `day` or `night`, as the generator made it (the watch takes the light from the chroma).
    public var mode: String
    /// Coverage fraction, blur sigma in 1080p px or shift as a fraction of the width, per
    /// mille; nil for a normal sequence.
    public var severityPerMille: Int?
    /// Frame files in order, relative to the manifest's folder.
    public var frames: [String]
    /// The first damaged frame's index, and the first whose damage is as large as the severity.
    public var damageFrom: Int?
    public var dueFrom: Int?
    /// Whether issue 14's Done-when asks for this detection (within `EvalRun.decideWithin`).
    public var required: Bool

    /// The state the damage should bring: nil for a normal sequence.
    public var expected: ViewState? {
      switch kind {
      case "obstructed": return .obstructed
      case "blurred": return .blurred
      case "moved": return .moved
      default: return nil
      }
    }
  }

  public var dir: String
  public var sequences: [Sequence]

  /// What is wrong with a manifest, naming the file and the field.
  public struct Problem: Error {
    public var message: String
    init(_ m: String) { message = m }
  }

  /// Reads `dir/manifest.json`.
  public static func load(_ dir: String) throws(Problem) -> EvalManifest {
    let path = dir + "/manifest.json"
    let bytes: [UInt8]
    do throws(SystemError) {
      bytes = try Files.read(path, limit: 4 << 20)
    } catch {
      throw Problem("cannot read the manifest: " + error.message
        + " (make the set with Tests/Fixtures/view-eval.py DIR)")
    }
    let doc: JSONValue
    do throws(JSONParseError) {
      doc = try JSON.parse(bytes)
    } catch {
      throw Problem(path + ": not JSON: " + error.message)
    }
    guard case .array(let list)? = doc["sequences"] else {
      throw Problem(path + ": no \"sequences\" array")
    }
    var out: [Sequence] = []
    for (k, s) in list.enumerated() {
      let at = path + ": sequences[" + String(k) + "]"
      guard let name = s["name"]?.stringValue, !name.isEmpty else {
        throw Problem(at + ": no \"name\" string")
      }
      let here = at + " (" + name + ")"
      guard let kind = s["kind"]?.stringValue,
        ["normal", "obstructed", "blurred", "moved"].contains(kind)
      else { throw Problem(here + ": \"kind\" must be normal, obstructed, blurred or moved") }
      guard let mode = s["mode"]?.stringValue, mode == "day" || mode == "night" else {
        throw Problem(here + ": \"mode\" must be day or night")
      }
      guard case .array(let fs)? = s["frames"], !fs.isEmpty else {
        throw Problem(here + ": no \"frames\" array, or an empty one")
      }
      var frames: [String] = []
      for f in fs {
        guard let file = f.stringValue, !file.isEmpty, !file.contains("/") else {
          throw Problem(here + ": a frame that is not a file name in the manifest's folder")
        }
        frames.append(file)
      }
      let from = try index(s["damage_from"], frames.count, here, "damage_from")
      let due = try index(s["due_from"], frames.count, here, "due_from")
      if kind == "normal" {
        guard from == nil, due == nil else {
          throw Problem(here + ": a normal sequence has no \"damage_from\" or \"due_from\"")
        }
      } else {
        guard let f = from, let d = due, d >= f else {
          throw Problem(here + ": a damage sequence needs \"damage_from\" <= \"due_from\"")
        }
      }
      var severity: Int?
      if case .number(let v)? = s["severity"] {
        guard v.isFinite, v >= 0, v < 1e6 else { throw Problem(here + ": \"severity\" out of range") }
        severity = Int((v * 1000).rounded())
      } else if kind != "normal" {
        throw Problem(here + ": no \"severity\" number")
      }
      guard case .bool(let required)? = s["required"] else {
        throw Problem(here + ": no \"required\" boolean")
      }
      out.append(Sequence(name: name, kind: kind, mode: mode, severityPerMille: severity,
                          frames: frames, damageFrom: from, dueFrom: due, required: required))
    }
    guard !out.isEmpty else { throw Problem(path + ": no sequences") }
    return EvalManifest(dir: dir, sequences: out)
  }

  /// An optional frame index: nil for null or absent, else a whole number within the frames.
  private static func index(_ v: JSONValue?, _ count: Int, _ at: String, _ field: String)
    throws(Problem) -> Int?
  {
    guard let v = v else { return nil }
    if case .null = v { return nil }
    guard let i = v.intValue, i >= 0, i < count else {
      throw Problem(at + ": \"" + field + "\" must be a frame index (0..." + String(count - 1) + ")")
    }
    return i
  }
}
