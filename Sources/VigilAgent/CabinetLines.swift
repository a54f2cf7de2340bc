import VigilCore
import VigilPlatform

/// The board's lines as the cabinet sees them: the driver, each input's debounce, and the door
/// switch and mains monitor with their events. What a camera makes of a line (its power-good
/// input) is its owner's: each debounced change goes to `onLevel`.
final class CabinetLines {
  private let loop: EventLoop
  private let events: EventLog
  private let holdMs: Int64
  /// The line the configuration names for the door or the mains now; nil when it names none.
  private let lineFor: (CabinetSignal.Kind) -> String?
  private(set) var driver: (any BoardDriver)?
  private(set) var board: BoardFile?
  /// Why the board's lines could not be opened.
  private(set) var boardError: String?
  /// The input lines and their debounce, in board file order.
  private var inputs: [(name: String, debounce: LineDebounce)] = []
  private(set) var door: CabinetSignal?
  private(set) var mains: CabinetSignal?

  /// A line's debounced level changed: its name, the level and when.
  var onLevel: ((String, Bool, Int64) -> Void)?
  /// The driver reported an input and it has been read: time for the owner's deadlines.
  var onEdge: (() -> Void)?

  init(loop: EventLoop, events: EventLog, holdMs: Int64,
       lineFor: @escaping (CabinetSignal.Kind) -> String?) {
    self.loop = loop
    self.events = events
    self.holdMs = holdMs
    self.lineFor = lineFor
    renew(.door, nowMs: 0)
    renew(.mains, nowMs: 0)
  }

  /// Opens `file`'s lines and reads every input once; returns why not.
  func open(_ file: BoardFile?) -> String? {
    board = file
    boardError = nil
    inputs = []
    guard let b = file else { return nil }
    let d = Board.driver(for: b, loop: loop)
    do { try d.open() } catch {
      boardError = "board \(b.name): \(error.message)"
      return boardError
    }
    driver = d
    d.onInput = { [self] name in
      self.sample(name, nowMs: Clock.monotonicMs())
      self.onEdge?()
    }
    let t = Clock.monotonicMs()
    for l in b.lines where l.direction == .input {
      inputs.append((l.name, LineDebounce(debounceMs: l.debounceMs)))
      sample(l.name, nowMs: t)
    }
    return nil
  }

  func close() {
    driver?.onInput = nil
    driver?.close()
    driver = nil
  }

  /// A new door or mains signal, for a line the configuration names anew; it starts from the
  /// line's debounced level, if known.
  func renew(_ kind: CabinetSignal.Kind, nowMs: Int64) {
    let line = lineFor(kind)
    var signal = line.map { _ in CabinetSignal(kind, holdMs: holdMs) }
    if let l = line, let level = stable(l) { _ = signal?.level(level, nowMs: nowMs) }
    if kind == .door { door = signal } else { mains = signal }
  }

  /// An input's debounced level, if known.
  func stable(_ name: String) -> Bool? {
    inputs.first(where: { $0.name == name })?.debounce.stable
  }

  /// Reads every input again: a missed edge is caught.
  func sampleAll(nowMs: Int64) {
    for input in inputs { sample(input.name, nowMs: nowMs) }
  }

  /// Reads the inputs whose debounce may have settled by now.
  func settle(nowMs: Int64) {
    for input in inputs {
      if let due = input.debounce.deadlineMs, due <= nowMs { sample(input.name, nowMs: nowMs) }
    }
  }

  /// Reports a door or mains return that has held by now.
  func tick(nowMs: Int64) {
    if let e = door?.tick(nowMs: nowMs), let l = lineFor(.door) { emit(e, l) }
    if let e = mains?.tick(nowMs: nowMs), let l = lineFor(.mains) { emit(e, l) }
  }

  /// When `settle` or `tick` next has something to do; nil when nothing is pending.
  var deadlineMs: Int64? {
    var next = EarliestDeadline()
    for input in inputs { next.consider(input.debounce.deadlineMs) }
    next.consider(door?.deadlineMs)
    next.consider(mains?.deadlineMs)
    return next.ms
  }

  /// Reads an input line and feeds its debounce.
  private func sample(_ name: String, nowMs: Int64) {
    guard let d = driver, let i = inputs.firstIndex(where: { $0.name == name }) else { return }
    let level: Bool
    do { level = try d.read(name) } catch {
      // A sim file being rewritten is empty for a moment; the next event reads it again.
      Log.debug(error.message)
      return
    }
    if let stable = inputs[i].debounce.sample(level, nowMs: nowMs) { deliver(name, stable, nowMs) }
  }

  /// A line's debounced level changed.
  private func deliver(_ name: String, _ level: Bool, _ nowMs: Int64) {
    Log.debug("line \(name) is \(level ? 1 : 0)")
    onLevel?(name, level, nowMs)
    if lineFor(.door) == name, let e = door?.level(level, nowMs: nowMs) { emit(e, name) }
    if lineFor(.mains) == name, let e = mains?.level(level, nowMs: nowMs) { emit(e, name) }
  }

  private func emit(_ e: CabinetSignal.Event, _ line: String) {
    var fields: [EventField] = [.f("line", line)]
    if e.previousMs > 0 {
      let key: String
      switch e.kind {
      case "door_closed": key = "open_s"
      case "door_opened": key = "closed_s"
      case "mains_restored": key = "lost_s"
      default: key = "ok_s"
      }
      fields.append(.f(key, Int(e.previousMs / 1000)))
    }
    events.emit(e.kind, fields)
  }
}
