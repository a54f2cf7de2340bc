/// Software debounce of one input line: a new level is believed once it has held, unchanged,
/// for `debounceMs` (the board file's `debounce_ms`). A contact that chatters never holds, so it
/// yields no change until it settles.
public struct LineDebounce {
  public let debounceMs: Int64
  /// The level last believed; nil until the line has been read once.
  public private(set) var stable: Bool?
  private var raw: Bool?
  private var rawSinceMs: Int64 = 0

  public init(debounceMs: Int) {
    self.debounceMs = Int64(max(0, debounceMs))
  }

  /// Records the level read now. Returns the new stable level when it changes at once (the
  /// first reading, or no debounce); otherwise call `settle` at `deadlineMs`.
  public mutating func sample(_ level: Bool, nowMs: Int64) -> Bool? {
    if raw != level {
      raw = level
      rawSinceMs = nowMs
    }
    if stable == nil {
      // The first reading is the line's state at start: nothing to debounce against.
      stable = level
      return level
    }
    return settle(nowMs: nowMs)
  }

  /// The new stable level if the raw level has held long enough and differs.
  public mutating func settle(nowMs: Int64) -> Bool? {
    guard let r = raw, r != stable, nowMs - rawSinceMs >= debounceMs else { return nil }
    stable = r
    return r
  }

  /// When `settle` may next report a change; nil when nothing is pending.
  public var deadlineMs: Int64? {
    guard let r = raw, r != stable else { return nil }
    return rawSinceMs + debounceMs
  }
}

/// A reading that raises fast and clears slow: a loss ("bad") is reported as soon as it is
/// known, a return ("good") only once it has held for `holdMs` with no loss in between. Alarm
/// panels work this way; it is what keeps a loose connector from flooding the centre with
/// lost/restored pairs.
public struct RecoveryHold {
  public struct Change: Equatable {
    /// The reading before: nil when this is the first one.
    public var from: Bool?
    public var to: Bool
    /// How long the previous reading was reported, in ms (0 for the first).
    public var heldMs: Int64
  }

  public let holdMs: Int64
  /// The reported reading; nil until the first.
  public private(set) var reported: Bool?
  public private(set) var reportedAtMs: Int64 = 0
  private var goodSinceMs: Int64?

  public init(holdMs: Int64) { self.holdMs = max(0, holdMs) }

  /// Feeds the current evidence; returns the change of the reported reading, if any.
  public mutating func update(_ good: Bool, nowMs: Int64) -> Change? {
    if !good {
      goodSinceMs = nil
      return reported == false ? nil : enter(false, nowMs)
    }
    if reported == nil { return enter(true, nowMs) }
    if reported == true {
      goodSinceMs = nil
      return nil
    }
    if goodSinceMs == nil { goodSinceMs = nowMs }
    return tick(nowMs: nowMs)
  }

  /// Reports a pending return once it has held.
  public mutating func tick(nowMs: Int64) -> Change? {
    guard let since = goodSinceMs, nowMs - since >= holdMs else { return nil }
    goodSinceMs = nil
    return enter(true, nowMs)
  }

  /// When `tick` may next report a change; nil when nothing is pending.
  public var deadlineMs: Int64? { goodSinceMs.map { $0 + holdMs } }

  /// Whether a return is waiting out its hold.
  public var isRecovering: Bool { goodSinceMs != nil }

  private mutating func enter(_ value: Bool, _ nowMs: Int64) -> Change {
    let change = Change(from: reported, to: value,
                        heldMs: reported == nil ? 0 : nowMs - reportedAtMs)
    reported = value
    reportedAtMs = nowMs
    return change
  }
}

/// The cabinet's own inputs, door switch and mains (or UPS) monitor: a debounced line level
/// turned into the heartbeat's words and the contract's events. An input reads 1 when what it
/// watches is present (door closed, mains ok), after `active_low`.
public struct CabinetSignal {
  public enum Kind: Equatable { case door, mains }

  public struct Event: Equatable {
    /// `door_opened`, `door_closed`, `mains_lost` or `mains_restored`.
    public var kind: String
    /// How long the previous state lasted, in ms (0 when it was not known).
    public var previousMs: Int64
  }

  public let kind: Kind
  private var hold: RecoveryHold

  public init(_ kind: Kind, holdMs: Int64) {
    self.kind = kind
    hold = RecoveryHold(holdMs: holdMs)
  }

  /// The heartbeat's `board.door` (`closed|open|unknown`) or `board.mains` (`ok|lost|unknown`).
  public var word: String {
    guard let present = hold.reported else { return "unknown" }
    switch kind {
    case .door: return present ? "closed" : "open"
    case .mains: return present ? "ok" : "lost"
    }
  }

  /// The debounced level of the line (true: closed, or mains ok).
  public mutating func level(_ present: Bool, nowMs: Int64) -> Event? {
    event(hold.update(present, nowMs: nowMs))
  }

  public mutating func tick(nowMs: Int64) -> Event? { event(hold.tick(nowMs: nowMs)) }

  public var deadlineMs: Int64? { hold.deadlineMs }

  private func event(_ change: RecoveryHold.Change?) -> Event? {
    guard let c = change else { return nil }
    // The first reading is news only when it is bad: a box that starts with its door open.
    if c.from == nil && c.to { return nil }
    let name: String
    switch kind {
    case .door: name = c.to ? "door_closed" : "door_opened"
    case .mains: name = c.to ? "mains_restored" : "mains_lost"
    }
    return Event(kind: name, previousMs: c.heldMs)
  }
}
