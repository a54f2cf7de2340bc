import VigilCore
import VigilPlatform

/// The view watch over the evaluation set, on exactly the agent's path: each frame read,
/// decoded at 1/8 scale with its light from the chroma (`JPEGDecoder.view`, as CameraViews
/// does), and `ViewWatch.saw` with one scorer. A fresh watch per sequence.
public struct EvalRun {
  /// Issue 14's Done-when: a required damage is reported within this many snapshots.
  public static let decideWithin = 4

  /// One snapshot's outcome.
  public struct Frame {
    public var index: Int
    public var mode: ViewMode
    /// The watch's state after this snapshot.
    public var state: ViewState
    /// The score against the reference (nil while learning).
    public var score: ViewScore?
  }

  /// A state the watch entered, at the snapshot that made it.
  public struct Entered {
    public var state: ViewState
    public var at: Int
  }

  /// One sequence's outcome.
  public struct Result {
    public var sequence: EvalManifest.Sequence
    public var frames: [Frame]
    public var entered: [Entered]
    /// States other than learning and clear entered in a normal sequence or before the damage.
    public var falseAlarms: [Entered]
    /// The first entry of the expected state from the damage on.
    public var detectedAt: Int?
    /// Snapshots from the damage's first frame to the expected state (1: at the first).
    public var snapshots: Int? {
      guard let d = detectedAt, let f = sequence.damageFrom else { return nil }
      return d - f + 1
    }
    /// Snapshots from the frame whose damage reaches the severity (the Done-when's count).
    public var snapshotsFromDue: Int? {
      guard let d = detectedAt, let f = sequence.dueFrom else { return nil }
      return d - f + 1
    }
    /// A required detection that did not come within `decideWithin` snapshots.
    public var missed: Bool {
      guard sequence.required else { return false }
      guard let n = snapshotsFromDue else { return true }
      return n > EvalRun.decideWithin
    }
    /// Whether this sequence meets the Done-when.
    public var passes: Bool { falseAlarms.isEmpty && !missed }
  }

  /// Why a sequence could not be run: a frame missing, unreadable or not a JPEG.
  public struct Problem: Error {
    public var message: String
  }

  private let decoder: JPEGDecoder
  private var scorer = ViewScorer()
  private var image = ViewImage(width: 0, height: 0)

  public init() throws(Problem) {
    guard let d = JPEGDecoder() else { throw Problem(message: "libturbojpeg could not start") }
    decoder = d
  }

  /// Every sequence of the manifest, in order.
  public mutating func run(_ m: EvalManifest) throws(Problem) -> [Result] {
    var out: [Result] = []
    for s in m.sequences { out.append(try run(s, in: m.dir)) }
    return out
  }

  public mutating func run(_ s: EvalManifest.Sequence, in dir: String) throws(Problem) -> Result {
    var watch = ViewWatch()
    var frames: [Frame] = []
    var entered: [Entered] = []
    for (i, name) in s.frames.enumerated() {
      let path = dir + "/" + name
      let jpeg: [UInt8]
      do throws(SystemError) {
        jpeg = try Files.read(path, limit: 16 << 20)
      } catch {
        throw Problem(message: s.name + ": frame " + String(i) + ": " + error.message)
      }
      if let why = decoder.view(jpeg, into: &image) {
        throw Problem(message: s.name + ": frame " + String(i) + " (" + path + "): " + why)
      }
      let step = watch.saw(image, mode: decoder.mode, scorer: &scorer)
      if let c = step.changed { entered.append(Entered(state: c, at: i)) }
      frames.append(Frame(index: i, mode: decoder.mode, state: watch.state, score: step.score))
    }
    let from = s.damageFrom ?? s.frames.count
    var alarms: [Entered] = []
    for e in entered where e.at < from && e.state != .learning && e.state != .clear {
      alarms.append(e)
    }
    var detected: Int?
    if let want = s.expected {
      detected = entered.first(where: { $0.state == want && $0.at >= from })?.at
    }
    return Result(sequence: s, frames: frames, entered: entered, falseAlarms: alarms,
                  detectedAt: detected)
  }
}
