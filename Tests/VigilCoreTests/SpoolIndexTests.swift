import Testing
@testable import VigilCore

/// The spool's index in memory: runs of sequences, against a model of the folder.
@Suite struct SpoolIndexTests {
  typealias Kind = SpoolRecord.Kind

  /// Every present (sequence, kind) in order, probing `disk` for merged runs.
  func present(_ index: inout SpoolIndex, _ disk: [UInt64: Kind], kind: Kind? = nil)
    -> [UInt64]
  {
    var out: [UInt64] = []
    var budget = Int.max
    _ = index.walk(from: 0, kind: kind, budget: &budget, probe: { disk[$0] }) { seq, k in
      #expect(disk[seq] == k)
      out.append(seq)
      return true
    }
    return out
  }

  @Test func appendsInOrderMakeOneRunPerKindChange() {
    var i = SpoolIndex()
    for s in UInt64(1)...1000 { i.insert(s, .event, bytes: 100) }
    #expect(i.runs.count == 1 && i.count == 1000 && i.bytes == 100_000)
    i.insert(1001, .snapshot, bytes: 5000)
    i.insert(1002, .snapshot, bytes: 5000)
    i.insert(1003, .event, bytes: 100)
    #expect(i.runs.count == 3)
    #expect(i.runs[1] == {
      var r = SpoolIndex.Run(first: 1001, span: 2)
      r.snapshots = 2
      r.snapshotBytes = 10_000
      return r
    }())
    #expect(i.snapshotCount == 2 && i.snapshotBytes == 10_000 && i.highest == 1003)
    #expect(i.lookup(1002) == .present(.snapshot) && i.lookup(1004) == .absent)
  }

  @Test func acknowledgedRemovalsShrinkAndSplitRuns() {
    var i = SpoolIndex()
    for s in UInt64(1)...10 { i.insert(s, .event, bytes: 10) }
    let first = i.remove(1, .event, bytes: 10)
    #expect(first == 10)
    #expect(i.runs.count == 1 && i.runs[0].first == 2 && i.runs[0].span == 9)
    let again = i.remove(1, .event, bytes: 10)
    #expect(again == nil, "already gone")
    let wrongKind = i.remove(5, .snapshot, bytes: 10)
    #expect(wrongKind == nil, "wrong kind")
    // Out of order (a PUBACK ahead of an older one): a split, healed as the front is removed.
    i.remove(5, .event, bytes: 10)
    #expect(i.runs.count == 2 && i.count == 8 && i.bytes == 80)
    for s in UInt64(2)...4 { i.remove(s, .event, bytes: 10) }
    #expect(i.runs.count == 1 && i.runs[0].first == 6 && i.count == 5 && i.bytes == 50)
    i.remove(10, .event, bytes: 10)
    #expect(i.runs[0].span == 4)
    for s in UInt64(6)...9 { i.remove(s, .event, bytes: 10) }
    #expect(i.runs.isEmpty && i.count == 0 && i.bytes == 0 && i.firstSequence == nil)
  }

  @Test func evictionFindsTheOldestSnapshotsPastEvents() {
    var i = SpoolIndex()
    var disk: [UInt64: Kind] = [:]
    let kinds: [Kind] = [.event, .event, .snapshot, .snapshot, .event, .snapshot]
    for (n, k) in kinds.enumerated() {
      i.insert(UInt64(n + 1), k, bytes: k == .snapshot ? 1000 : 10)
      disk[UInt64(n + 1)] = k
    }
    #expect(present(&i, disk, kind: .snapshot) == [3, 4, 6])
    // The quota removes the oldest snapshot: events untouched, the rest in order.
    i.remove(3, .snapshot, bytes: 1000)
    disk[3] = nil
    #expect(present(&i, disk, kind: .snapshot) == [4, 6])
    #expect(present(&i, disk) == [1, 2, 4, 5, 6])
    #expect(i.snapshotCount == 2 && i.snapshotBytes == 2000 && i.eventCount == 3)
  }

  @Test func rebuildAtRestartInAnyOrderGivesTheSameRuns() {
    var inOrder = SpoolIndex()
    var shuffled = SpoolIndex()
    var seqs: [(UInt64, Kind)] = []
    for s in UInt64(1)...300 { seqs.append((s, s % 50 < 10 ? .snapshot : .event)) }
    for (s, k) in seqs { inOrder.insert(s, k, bytes: 7) }
    // readdir's order: deterministic but scrambled.
    var order = Array(seqs.indices)
    var x: UInt64 = 12345
    for j in stride(from: order.count - 1, to: 0, by: -1) {
      x = x &* 6364136223846793005 &+ 1442695040888963407
      order.swapAt(j, Int(x >> 33) % (j + 1))
    }
    for j in order { shuffled.insert(seqs[j].0, seqs[j].1, bytes: 7) }
    #expect(shuffled == inOrder)
    #expect(inOrder.runs.count == 13, "6 runs of each kind, and the last snapshot")
    let duplicate = shuffled.insert(17, .event, bytes: 7)
    #expect(!duplicate, "a second file for one sequence is refused")
    let tooHigh = shuffled.insert(UInt64.max, .event, bytes: 7)
    #expect(!tooHigh)
  }

  @Test func aBacklogReadInHashOrderEndsAsOneRunEvenUnderTheCap() {
    // 20,000 events in a row, inserted in a scrambled order as readdir gives them, with a cap
    // far below the pieces on the way: one exact run at the end.
    var i = SpoolIndex(maxRuns: 64)
    var order = Array(UInt64(1)...20_000)
    var x: UInt64 = 99
    for j in stride(from: order.count - 1, to: 0, by: -1) {
      x = x &* 6364136223846793005 &+ 1442695040888963407
      order.swapAt(j, Int(x >> 33) % (j + 1))
    }
    for s in order {
      i.insert(s, .event, bytes: 100)
      #expect(i.runs.count <= 64)
    }
    #expect(i.runs.count == 1 && i.runs[0].isExact && i.count == 20_000 && i.bytes == 2_000_000)
  }

  @Test func gapsAreNotRunsAndMergedRunsProbeTheirHoles() {
    var i = SpoolIndex(maxRuns: 4)
    var disk: [UInt64: Kind] = [:]
    // Alternating kinds with gaps: far more pieces than the cap allows.
    var s: UInt64 = 10
    for n in 0..<40 {
      let k: Kind = n % 2 == 0 ? .event : .snapshot
      i.insert(s, k, bytes: 100)
      disk[s] = k
      s += n % 3 == 0 ? 5 : 1
    }
    #expect(i.runs.count <= 4, "memory capped whatever the input")
    #expect(i.count == 40 && i.bytes == 4000 && i.snapshotCount == 20)
    #expect(present(&i, disk) == disk.keys.sorted())
    #expect(present(&i, disk, kind: .snapshot) == disk.filter { $0.value == .snapshot }.keys.sorted())
    // Removing from merged runs keeps the counts; the walk still finds exactly what is left.
    for seq in disk.keys.sorted().prefix(15) {
      let taken = i.remove(seq, disk[seq] ?? .event, bytes: 100)
      #expect(taken == 100)
      disk[seq] = nil
    }
    #expect(i.count == 25 && i.bytes == 2500)
    #expect(present(&i, disk) == disk.keys.sorted())
    // The walk trimmed the absent front: it starts at the first message left.
    #expect(i.firstSequence == disk.keys.min())
  }

  @Test func aSpentProbeBudgetSaysWhereToContinue() {
    var i = SpoolIndex(maxRuns: 2)
    var disk: [UInt64: Kind] = [:]
    for s in UInt64(1)...30 where s % 2 == 1 {
      let k: Kind = s % 4 == 1 ? .event : .snapshot
      i.insert(s, k, bytes: 1)
      disk[s] = k
    }
    var seen: [UInt64] = []
    var from: UInt64 = 0
    var rounds = 0
    while rounds < 100 {
      rounds += 1
      var budget = 4
      let resume = i.walk(from: from, kind: nil, budget: &budget, probe: { disk[$0] }) { s, _ in
        seen.append(s)
        return true
      }
      guard let r = resume else { break }
      from = r + 1
    }
    #expect(seen == disk.keys.sorted())
    #expect(rounds > 2)
  }

  @Test func dropCountsRoundTripAndDamageIsRefused() {
    let d = SpoolDrops(events: 3, snapshots: 120_000_000_000, writeFailed: 0)
    #expect(SpoolDrops.decode(d.encode()) == d)
    #expect(SpoolDrops.decode(Array("1 2 3".utf8)) == SpoolDrops(events: 1, snapshots: 2, writeFailed: 3))
    for bad in ["", "1 2", "1 2 3 4", "1  2 3", "-1 2 3", "1 2 x", "1 2 3\n4",
                "1 2 9999999999999999999"] {
      #expect(SpoolDrops.decode(Array(bad.utf8)) == nil, "\(bad)")
    }
  }
}
