/// The spool's index in memory: runs of consecutive sequence numbers, each with its counts and
/// bytes by kind, so that the store never reads its folder again after the start (README, "The
/// spool"). A backlog of 50,000 messages taken in a row is one run; memory grows only with how
/// broken up the sequence is, and is capped at `maxRuns` runs whatever the input.
///
/// A run is **exact** when every sequence in it is present and of one kind: the file names are
/// then known without touching the disk. When the cap is reached, the two neighbouring runs
/// that cost least to join (smallest gap between them, then fewest messages) are merged into
/// one that is not exact: it still counts its messages and bytes by kind, but which sequence in
/// it is present, and as which kind, is found by looking for the file (the store "probes"). So
/// the cap trades a few `stat` calls for memory, and only in a spool broken up into more than
/// `maxRuns` pieces (events and snapshots alternating for hours, say).
///
/// Pure: no I/O, every operation is O(log runs) or O(maxRuns).
public struct SpoolIndex: Equatable {
  public typealias Kind = SpoolRecord.Kind

  public struct Run: Equatable {
    /// The first sequence number the run covers.
    public var first: UInt64
    /// How many sequence numbers it covers: `first ..< first + span`.
    public var span: UInt64
    public var events: Int64 = 0
    public var snapshots: Int64 = 0
    public var eventBytes: Int64 = 0
    public var snapshotBytes: Int64 = 0

    public init(first: UInt64, span: UInt64) {
      self.first = first
      self.span = span
    }

    /// One past the last sequence covered. `first + span` cannot overflow: the index refuses
    /// `UInt64.max`, so `first + span <= UInt64.max`.
    public var end: UInt64 { first + span }
    public var count: Int64 { events + snapshots }
    public var bytes: Int64 { eventBytes + snapshotBytes }
    /// The one kind of its messages, nil when it holds both.
    public var kind: Kind? {
      if snapshots == 0 { return .event }
      if events == 0 { return .snapshot }
      return nil
    }
    /// Every sequence covered is present, all of one kind: names known without probing.
    public var isExact: Bool { kind != nil && count >= 0 && UInt64(count) == span }

    public func contains(_ seq: UInt64) -> Bool { seq >= first && seq - first < span }
    public func count(of kind: Kind) -> Int64 { kind == .event ? events : snapshots }

    fileprivate mutating func add(_ kind: Kind, _ bytes: Int64, _ n: Int64 = 1) {
      if kind == .event {
        events += n
        eventBytes += bytes
      } else {
        snapshots += n
        snapshotBytes += bytes
      }
    }

    /// Takes one message of `kind` out; `bytes` nil when its size is unknown (its file went
    /// missing): the run's average for that kind is taken then.
    fileprivate mutating func take(_ kind: Kind, _ bytes: Int64?) -> Int64 {
      if kind == .event {
        let b = min(eventBytes, max(0, bytes ?? (events > 0 ? eventBytes / events : 0)))
        events -= 1
        eventBytes = events == 0 ? 0 : eventBytes - b
        return b
      } else {
        let b = min(snapshotBytes, max(0, bytes ?? (snapshots > 0 ? snapshotBytes / snapshots : 0)))
        snapshots -= 1
        snapshotBytes = snapshots == 0 ? 0 : snapshotBytes - b
        return b
      }
    }

    fileprivate mutating func absorb(_ r: Run) {
      span = r.end - first
      events += r.events
      snapshots += r.snapshots
      eventBytes += r.eventBytes
      snapshotBytes += r.snapshotBytes
    }
  }

  /// Sorted by `first`, never overlapping, none empty.
  public private(set) var runs: [Run] = []
  /// The cap in force; the start-up scan raises it for the scan (`readdir` gives names in hash
  /// order, which breaks a backlog into many pieces until they join up) and lowers it after.
  public private(set) var maxRuns: Int
  public private(set) var count: Int64 = 0
  public private(set) var bytes: Int64 = 0
  public private(set) var snapshotCount: Int64 = 0
  public private(set) var snapshotBytes: Int64 = 0
  /// The highest sequence ever inserted, 0 when none.
  public private(set) var highest: UInt64 = 0

  /// 256 runs are 12 KiB: next to nothing on the board, and more pieces than a real outage
  /// makes (each event among snapshots costs two).
  public init(maxRuns: Int = 256) {
    self.maxRuns = max(2, maxRuns)
  }

  /// Sets the cap, merging runs now if there are more.
  public mutating func setCap(_ n: Int) {
    maxRuns = max(2, n)
    enforceCap()
  }

  public var eventCount: Int64 { count - snapshotCount }
  /// The first sequence that may be present, nil when empty.
  public var firstSequence: UInt64? { runs.first?.first }

  /// Index of the first run that ends after `seq` (holds it or comes after it); `runs.count`
  /// when none.
  public func firstRun(endingAfter seq: UInt64) -> Int {
    var lo = 0
    var hi = runs.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if runs[mid].end <= seq { lo = mid + 1 } else { hi = mid }
    }
    return lo
  }

  /// What the index knows of one sequence.
  public enum Lookup: Equatable {
    /// Not present.
    case absent
    /// Present, of this kind (an exact run).
    case present(Kind)
    /// In a run that is not exact: the file must be looked for.
    case unknown
  }

  public func lookup(_ seq: UInt64) -> Lookup {
    let i = firstRun(endingAfter: seq)
    guard i < runs.count, runs[i].contains(seq) else { return .absent }
    let r = runs[i]
    if r.isExact, let k = r.kind { return .present(k) }
    return .unknown
  }

  /// Adds a message. False (nothing changed) for `UInt64.max` or a sequence already present in
  /// an exact run (two files for one sequence: the caller sets the second aside). In any order:
  /// the start rebuilds the index from the folder's names as `readdir` gives them.
  @discardableResult
  public mutating func insert(_ seq: UInt64, _ kind: Kind, bytes size: Int64) -> Bool {
    if seq == UInt64.max { return false }
    let size = max(0, size)
    let i = firstRun(endingAfter: seq)
    if i < runs.count && runs[i].contains(seq) {
      // Inside a run: a duplicate if the run is exact, else a hole of a merged run filled.
      if runs[i].isExact { return false }
      runs[i].add(kind, size)
      account(kind, size, +1)
      // A merged run whose holes are all filled with one kind is exact again: join neighbours.
      coalesce(i)
      return true
    }
    // runs[i - 1] ends at or before seq; runs[i], if any, starts after it. A run of this one
    // kind that it touches grows (an exact one stays exact; a merged one may become so).
    let joinsBefore = i > 0 && runs[i - 1].end == seq && runs[i - 1].kind == kind
    let joinsAfter = i < runs.count && runs[i].first == seq + 1 && runs[i].kind == kind
    if joinsBefore {
      runs[i - 1].span += 1
      runs[i - 1].add(kind, size)
      if joinsAfter {
        runs[i - 1].absorb(runs[i])
        runs.remove(at: i)
      }
      coalesce(i - 1)
    } else if joinsAfter {
      runs[i].first = seq
      runs[i].span += 1
      runs[i].add(kind, size)
      coalesce(i)
    } else {
      var r = Run(first: seq, span: 1)
      r.add(kind, size)
      runs.insert(r, at: i)
    }
    account(kind, size, +1)
    if seq > highest { highest = seq }
    enforceCap()
    return true
  }

  /// Joins run `i` with an exact neighbour of its kind that it touches, when it is exact.
  private mutating func coalesce(_ i: Int) {
    guard i < runs.count, runs[i].isExact else { return }
    var i = i
    if i > 0 && runs[i - 1].isExact && runs[i - 1].kind == runs[i].kind
      && runs[i - 1].end == runs[i].first
    {
      runs[i - 1].absorb(runs[i])
      runs.remove(at: i)
      i -= 1
    }
    if i + 1 < runs.count && runs[i + 1].isExact && runs[i + 1].kind == runs[i].kind
      && runs[i].end == runs[i + 1].first
    {
      runs[i].absorb(runs[i + 1])
      runs.remove(at: i + 1)
    }
  }

  /// Takes a message out (acknowledged, dropped, set aside or gone). `bytes`: its size, nil
  /// when unknown. Returns the bytes taken off, nil when the index did not hold it.
  @discardableResult
  public mutating func remove(_ seq: UInt64, _ kind: Kind, bytes size: Int64?) -> Int64? {
    let i = firstRun(endingAfter: seq)
    guard i < runs.count, runs[i].contains(seq), runs[i].count(of: kind) > 0 else { return nil }
    let exact = runs[i].isExact
    let taken = runs[i].take(kind, size)
    account(kind, taken, -1)
    if runs[i].count == 0 {
      runs.remove(at: i)
      return taken
    }
    let r = runs[i]
    if seq == r.first {
      runs[i].first += 1
      runs[i].span -= 1
    } else if seq == r.end - 1 {
      runs[i].span -= 1
    } else if exact {
      // Out of the middle of an exact run: two exact runs, each of the one kind.
      var before = Run(first: r.first, span: seq - r.first)
      before.add(kind, 0, Int64(before.span))
      var after = Run(first: seq + 1, span: r.end - seq - 1)
      after.add(kind, 0, Int64(after.span))
      // Split the bytes in proportion: exact sizes are not kept per message.
      let total = kind == .event ? r.eventBytes : r.snapshotBytes
      let beforeBytes = total / r.count * before.count
      if kind == .event {
        before.eventBytes = beforeBytes
        after.eventBytes = total - beforeBytes
      } else {
        before.snapshotBytes = beforeBytes
        after.snapshotBytes = total - beforeBytes
      }
      runs[i] = before
      runs.insert(after, at: i + 1)
      enforceCap()
    }
    return taken
  }

  /// The store looked for `seq` in a run that is not exact and found no file: the run is
  /// trimmed when `seq` is at one of its ends, so the next look starts past it.
  public mutating func noteAbsent(_ seq: UInt64) {
    let i = firstRun(endingAfter: seq)
    guard i < runs.count, runs[i].contains(seq), !runs[i].isExact else { return }
    // A run never covers fewer sequences than it counts messages.
    guard runs[i].count >= 0, runs[i].span > UInt64(runs[i].count) else { return }
    if seq == runs[i].first {
      runs[i].first += 1
      runs[i].span -= 1
    } else if seq == runs[i].end - 1 {
      runs[i].span -= 1
    }
  }

  /// Visits the messages present from sequence `start` on, oldest first, of `want` (any kind
  /// when nil), until `visit` returns false. Exact runs give their sequences and kinds at once;
  /// in merged runs each sequence is looked for with `probe` (the store looks for the file), at
  /// most `budget` of them: when that runs out, returns the last sequence looked at, so the
  /// caller can continue after it later; nil otherwise. Absent ends of merged runs are trimmed.
  public mutating func walk(from start: UInt64, kind want: Kind?, budget: inout Int,
                            probe: (UInt64) -> Kind?, visit: (UInt64, Kind) -> Bool) -> UInt64?
  {
    var seq = start
    var i = firstRun(endingAfter: seq)
    while i < runs.count {
      let r = runs[i]
      if let w = want, r.count(of: w) == 0 {
        i += 1
        continue
      }
      if seq < r.first { seq = r.first }
      let exactKind: Kind? = r.isExact ? r.kind : nil
      // noteAbsent may trim this run's ends while it is walked: its end is read each time.
      while seq < runs[i].end {
        if let k = exactKind {
          if want == nil || want == k {
            if !visit(seq, k) { return nil }
          }
        } else {
          if budget <= 0 { return seq - 1 }
          budget -= 1
          if let k = probe(seq) {
            if want == nil || want == k {
              if !visit(seq, k) { return nil }
            }
          } else {
            noteAbsent(seq)
          }
        }
        seq += 1
      }
      i += 1
    }
    return nil
  }

  private mutating func account(_ kind: Kind, _ size: Int64, _ sign: Int64) {
    count += sign
    bytes += sign * size
    if kind == .snapshot {
      snapshotCount += sign
      snapshotBytes += sign * size
    }
    if count <= 0 {
      count = 0
      bytes = 0
      snapshotCount = 0
      snapshotBytes = 0
    }
  }

  /// Over the cap: merges the neighbours that cost least to join: of one kind first (such a
  /// run is exact again once its holes are filled, as at the start-up scan), then the smallest
  /// gap, then the fewest messages. O(maxRuns) per merge, one or two merges per change.
  private mutating func enforceCap() {
    while runs.count > maxRuns {
      var best = 0
      var bestMixed = true
      var bestGap = UInt64.max
      var bestCount = Int64.max
      for j in 0..<(runs.count - 1) {
        let a = runs[j].kind
        let mixed = a == nil || a != runs[j + 1].kind
        let gap = runs[j + 1].first - runs[j].end
        let n = runs[j].count + runs[j + 1].count
        let better: Bool
        if mixed != bestMixed {
          better = !mixed
        } else if gap != bestGap {
          better = gap < bestGap
        } else {
          better = n < bestCount
        }
        if better {
          best = j
          bestMixed = mixed
          bestGap = gap
          bestCount = n
        }
      }
      runs[best].absorb(runs[best + 1])
      runs.remove(at: best + 1)
    }
  }
}
