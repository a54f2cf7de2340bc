import CVigil
import VigilCore
import VigilPlatform

/// The view watch (issue 14): every snapshot taken is decoded small (libturbojpeg, luma at 1/8
/// scale) and scored against what the camera saw when it was commissioned, so that a camera
/// that answers, streams and gives pictures of leaves is not called clear. The references are
/// kept under the state folder (`view/<camera>-day.ref`, `-night.ref`), learnt once and never
/// again unless a technician asks (`view CAM reference`). Scored as the snapshot is taken:
/// nothing waits for the uplink.
final class CameraViews: AgentPart {
  private let agent: Agent
  private let decoder = JPEGDecoder()
  private var scorer = ViewScorer()
  private var image = ViewImage(width: 0, height: 0)
  private var cameras: [Entry] = []

  private struct Entry {
    var id: String
    var watch = ViewWatch()
    /// The last picture scored, shrunk, for `view CAM show`.
    var last: ViewImage?
    /// The last state an event told the centre of: `view_clear` follows only one of those.
    var told: ViewState?
  }

  init(agent: Agent) {
    self.agent = agent
    agent.commands.register("view", usage: "view [CAM [show|reference]]",
                            summary: "each camera's view: clear, obstructed, moved, blurred") {
      [self] args, _ in self.command(args)
    }
  }

  var dir: String { agent.stateDir + "/view" }

  func start() {
    if decoder == nil { Log.error("view watch: libturbojpeg could not start; views unscored") }
    sync()
  }

  func configChanged(from old: LoadedConfig) { sync() }

  /// One entry per configured camera, its references read from disk.
  private func sync() {
    var next: [Entry] = []
    for c in agent.config.cameras {
      if let e = cameras.first(where: { $0.id == c.id }) {
        next.append(e)
        continue
      }
      var e = Entry(id: c.id)
      for mode in [ViewMode.day, ViewMode.night] {
        let path = file(c.id, mode)
        guard Files.exists(path) else { continue }
        do throws(SystemError) {
          let bytes = try Files.read(path, limit: 1 << 20)
          do throws(ViewReference.DecodeError) {
            e.watch.install(try ViewReference.decode(bytes))
          } catch {
            Log.error("view " + c.id + ": " + path + ": " + error.message + "; learning it again")
          }
        } catch {
          Log.error("view " + c.id + ": " + error.message)
        }
      }
      next.append(e)
    }
    cameras = next
  }

  private func file(_ id: String, _ mode: ViewMode) -> String {
    dir + "/" + id + "-" + mode.name + ".ref"
  }

  // MARK: snapshots

  /// A new snapshot of camera `id`, sent on `topic`.
  func picture(_ id: String, _ jpeg: [UInt8], topic: String) {
    guard let i = cameras.firstIndex(where: { $0.id == id }), let d = decoder else { return }
    if let why = d.view(jpeg, into: &image) {
      Log.debug("view " + id + ": " + why)
      changed(i, cameras[i].watch.missed(), topic: topic)
      return
    }
    let step = cameras[i].watch.saw(image, mode: d.mode, scorer: &scorer)
    // Kept small for `view CAM show` (38 columns): at most 80 pixels wide, 3.6 KB a camera
    // rather than 32 KB at 1080p.
    var small = cameras[i].last ?? ViewImage(width: 0, height: 0)
    image.shrink(by: max(1, (image.width + 79) / 80), into: &small)
    cameras[i].last = small
    if let m = step.learnt, let r = cameras[i].watch.reference(m) {
      do throws(SystemError) {
        try Files.makeDirectories(dir)
        try Files.writeAtomically(file(id, m), r.encode(), mode: 0o600)
        Log.notice("view " + id + ": " + m.name + " reference learnt")
      } catch {
        Log.error("view " + id + ": cannot keep the reference: " + error.message)
      }
    }
    changed(i, step.changed, topic: topic)
  }

  /// A snapshot turn that gave no picture.
  func missed(_ id: String) {
    guard let i = cameras.firstIndex(where: { $0.id == id }) else { return }
    changed(i, cameras[i].watch.missed(), topic: nil)
  }

  /// A new state: logged, and for the states the centre acts on, an event naming the scores
  /// and the snapshot that decided it.
  private func changed(_ i: Int, _ state: ViewState?, topic: String?) {
    guard let s = state else { return }
    let w = cameras[i].watch
    let kind: String
    switch s {
    case .obstructed: kind = "view_obstructed"
    case .moved: kind = "view_moved"
    case .blurred: kind = "view_blurred"
    case .clear where cameras[i].told != nil && cameras[i].told != .clear: kind = "view_clear"
    case .clear, .learning, .unscored:
      Log.info("view " + cameras[i].id + ": " + s.name)
      return
    }
    Log.notice("view " + cameras[i].id + ": " + s.name + " " + scores(w))
    cameras[i].told = s
    agent.events.emit(kind) { j in
      j.field("camera", self.cameras[i].id)
      Self.write(w, into: &j)
      j.field("snapshot", optional: topic)
    }
  }

  private func scores(_ w: ViewWatch) -> String {
    guard let sc = w.lastScore else { return "" }
    return "(coverage " + ViewScore.decimal(sc.coverage) + ", sharpness "
      + ViewScore.decimal(sc.sharpness) + ", shift " + String(sc.shiftPx) + " px)"
  }

  /// `coverage`, `sharpness`, `shift_px` (null while there is no score) and `mode`.
  private static func write(_ w: ViewWatch, into j: inout JSONWriter) {
    j.key("coverage")
    if let s = w.lastScore { j.rawJSON(Array(ViewScore.decimal(s.coverage).utf8)) } else { j.null() }
    j.key("sharpness")
    if let s = w.lastScore { j.rawJSON(Array(ViewScore.decimal(s.sharpness).utf8)) } else { j.null() }
    j.key("shift_px")
    if let s = w.lastScore { j.int(s.shiftPx) } else { j.null() }
    j.field("mode", optional: w.lastMode?.name)
  }

  func fill(_ hb: inout Heartbeat) {
    for k in hb.cameras.indices {
      guard let e = cameras.first(where: { $0.id == hb.cameras[k].id }) else { continue }
      var j = JSONWriter()
      j.beginObject()
      j.field("state", e.watch.state.name)
      Self.write(e.watch, into: &j)
      j.endObject()
      hb.cameras[k].view = j.bytes
    }
  }

  // MARK: the console's `view`

  private func command(_ args: [String]) -> CommandResult {
    if args.isEmpty {
      var out = ""
      for e in cameras {
        var line = e.id + "  " + e.watch.state.name
        if e.watch.state == .learning {
          line += " " + String(e.watch.learntSoFar) + "/" + String(ViewWatch.learnFrom)
        }
        let s = scores(e.watch)
        if !s.isEmpty { line += " " + s }
        if let m = e.watch.lastMode { line += " " + m.name }
        out += line + "\n"
      }
      return .ok(out.isEmpty ? "no cameras\n" : out)
    }
    guard let i = cameras.firstIndex(where: { $0.id == args[0] }) else {
      return .fail("no camera \"" + args[0] + "\" (`view` lists them)")
    }
    let what = args.count > 1 ? args[1] : "show"
    guard args.count <= 2 else { return .fail("usage: view [CAM [show|reference]]") }
    if what == "reference" {
      changed(i, cameras[i].watch.retake(nil), topic: nil)
      unlink(file(args[0], .day))
      unlink(file(args[0], .night))
      Log.notice("view " + args[0] + ": reference taken again from the next snapshots")
      return .ok(args[0] + ": learning a new reference from the next "
        + String(ViewWatch.learnFrom) + " consistent snapshots\n")
    }
    guard what == "show" else { return .fail("usage: view [CAM [show|reference]]") }
    let e = cameras[i]
    guard let last = e.last else { return .fail(args[0] + ": no snapshot scored yet") }
    let mode = e.watch.lastMode ?? .day
    guard let ref = e.watch.reference(mode) else {
      var out = args[0] + ": last snapshot (no " + mode.name + " reference yet)\n"
      for l in ViewPicture.rows(last, columns: 38) { out += l + "\n" }
      return .ok(out)
    }
    var out = args[0] + ": last snapshot" + String(repeating: " ", count: 25) + "reference ("
      + mode.name + ")\n"
    for l in ViewPicture.sideBySide(last, ref.features.work) { out += l + "\n" }
    out += e.watch.state.name + " " + scores(e.watch) + "\n"
    return .ok(out)
  }
}
