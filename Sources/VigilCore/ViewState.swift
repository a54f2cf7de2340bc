/// A camera's view, as the heartbeat's `view.state` names it (issue 14).
public enum ViewState: UInt8, Equatable {
  /// No reference yet for the snapshot's light: the first consistent snapshots are being kept.
  case learning
  case clear
  case obstructed
  case moved
  case blurred
  /// Nothing to score: no snapshot (the camera is down), or one of another size than the
  /// reference. Never `clear` without a scored snapshot.
  case unscored

  public var name: String {
    switch self {
    case .learning: return "learning"
    case .clear: return "clear"
    case .obstructed: return "obstructed"
    case .moved: return "moved"
    case .blurred: return "blurred"
    case .unscored: return "unscored"
    }
  }
}

/// One camera's view watch (issue 14): its references (day, night), the learning of a missing
/// one, and the state machine over the snapshots' scores. A state is entered only when it holds
/// for `holds` of the last `window` snapshots, and left the same way (another state holding
/// so): a bus in front of the camera for one snapshot changes nothing. A missed snapshot
/// counts in the window as `unscored`, so a camera that stops giving pictures becomes
/// `unscored` the same way, never stays `clear`.
public struct ViewWatch {
  /// Consistent snapshots that make a reference.
  public static let learnFrom = 5
  /// The hysteresis: `holds` of the last `window` snapshots.
  public static let window = 4
  public static let holds = 3
  /// A learning snapshot agrees with the one before it when its coverage against it reaches
  /// this and it scores `clear`: stricter than `obstructedBelow`, so that the reference is not
  /// made of a moving scene. An inconsistent snapshot restarts the learning from itself
  /// (skipping it instead would never recover if the first snapshot was the odd one).
  public static let consistentCoverage = 850
  /// A learning snapshot needs this many of the 64 blocks with structure; one with fewer
  /// (a cover, a lens in the dark) is skipped, not learnt, and counts as `obstructed` once the
  /// camera has a reference in the other light.
  public static let minInformativeBlocks = 16

  public private(set) var state: ViewState = .unscored
  /// The last scored snapshot's score (nil while learning, and once unscored).
  public private(set) var lastScore: ViewScore?
  /// The light of the last snapshot.
  public private(set) var lastMode: ViewMode?
  private var day: ViewReference?
  private var night: ViewReference?
  private var learningMode: ViewMode?
  private var candidates: [ViewFeatures] = []
  private var recent: [ViewState] = []

  public init() {}

  /// What one snapshot did.
  public struct Step: Equatable {
    /// The new state, when it changed (the caller's view_* event, with this snapshot's topic).
    public var changed: ViewState?
    /// The light whose reference was just learnt: the caller saves
    /// `reference(mode)?.encode()` under the state folder.
    public var learnt: ViewMode?
    /// This snapshot's score against the reference (nil while learning).
    public var score: ViewScore?
  }

  public func reference(_ mode: ViewMode) -> ViewReference? { mode == .day ? day : night }

  /// Consistent snapshots kept so far towards a reference (for "learning 3/5").
  public var learntSoFar: Int { candidates.count }

  /// Puts back a reference read from disk; the state stays until snapshots are scored.
  public mutating func install(_ r: ViewReference) {
    if r.mode == .day { day = r } else { night = r }
    if learningMode == r.mode {
      candidates = []
      learningMode = nil
    }
  }

  /// Scores (or learns from) one decoded snapshot, in the light the caller measured.
  public mutating func saw(_ image: ViewImage, mode: ViewMode, scorer: inout ViewScorer) -> Step {
    lastMode = mode
    guard let ref = reference(mode) else { return learn(image, mode, &scorer) }
    guard let s = scorer.score(image, against: ref.features) else {
      return Step(changed: push(.unscored), learnt: nil, score: nil)
    }
    lastScore = s
    return Step(changed: push(s.condition), learnt: nil, score: s)
  }

  /// A snapshot turn that gave no picture (or one that could not be decoded).
  public mutating func missed() -> ViewState? { push(.unscored) }

  /// Forgets the reference of `mode` (both when nil) and learns it anew from the next
  /// snapshots: the technician's `view CAM reference`, after a lens is moved on purpose.
  public mutating func retake(_ mode: ViewMode?) -> ViewState? {
    if mode != .night { day = nil }
    if mode != .day { night = nil }
    candidates = []
    learningMode = nil
    return enter(.learning)
  }

  private mutating func learn(_ image: ViewImage, _ mode: ViewMode,
                              _ scorer: inout ViewScorer) -> Step {
    if learningMode != mode {
      candidates = []
      learningMode = mode
    }
    var f = ViewFeatures()
    guard scorer.measure(image, into: &f) else {
      return Step(changed: push(.unscored), learnt: nil, score: nil)
    }
    let structured = scorer.informativeBlocks(f.work) >= Self.minInformativeBlocks
    if let other = reference(mode == .day ? .night : .day)?.features,
      !structured || Self.soft(f, against: other)
    {
      // A commissioned camera whose picture turns featureless or soft in the other light is
      // covered: a bag over it gives a grey picture, read as night (the evaluation set), and
      // learning a night reference from it would never end, or learn the bag. The same lens
      // in infrared keeps its edges as sharp as by day.
      return Step(changed: push(.obstructed), learnt: nil, score: nil)
    }
    let entered = enter(.learning)
    guard structured else { return Step(changed: entered, learnt: nil, score: nil) }
    if let previous = candidates.last {
      let s = scorer.compare(f, previous)
      if let s = s, s.condition == .clear, s.coverage >= Self.consistentCoverage {
        candidates.append(f)
      } else {
        candidates = [f]
      }
    } else {
      candidates = [f]
    }
    guard candidates.count >= Self.learnFrom,
      let r = ViewReference(mode: mode, learntFrom: candidates)
    else { return Step(changed: entered, learnt: nil, score: nil) }
    install(r)
    // The learnt snapshots are the evidence: they agreed with each other, with structure.
    return Step(changed: enter(.clear), learnt: mode, score: nil)
  }

  /// Whether `f`'s edges are softer than `other`'s (the same camera in the other light) by
  /// more than a strong blur: no lens in focus, a cover.
  static func soft(_ f: ViewFeatures, against other: ViewFeatures) -> Bool {
    guard other.sharpRatio > 0 else { return false }
    return UInt64(f.sharpRatio) * 1000 < UInt64(other.sharpRatio) * UInt64(ViewScore.strongBlurBelow)
  }

  /// Adds a snapshot's condition to the window; enters it when it holds `holds` of `window`.
  private mutating func push(_ condition: ViewState) -> ViewState? {
    recent.append(condition)
    if recent.count > Self.window { recent.removeFirst() }
    var n = 0
    for c in recent where c == condition { n += 1 }
    guard n >= Self.holds, condition != state else { return nil }
    if condition == .unscored { lastScore = nil }
    return enter(condition)
  }

  private mutating func enter(_ s: ViewState) -> ViewState? {
    guard s != state else { return nil }
    // A new state starts a fresh window: learning, and the clear after it, are facts.
    if s == .learning || state == .learning { recent = [] }
    state = s
    return s
  }
}
