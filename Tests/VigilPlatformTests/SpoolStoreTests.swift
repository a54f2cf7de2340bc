import Foundation
import Testing
@testable import VigilCore
@testable import VigilPlatform

/// The spool against real files in a fresh folder.
@Suite struct SpoolStoreTests {
  let root: String

  init() {
    root = NSTemporaryDirectory() + "spool-test-\(UUID().uuidString.prefix(8))"
  }

  var queue: String { root + "/queue" }

  func open(maxBytes: Int64 = 1 << 20) throws -> SpoolStore {
    do { return try SpoolStore(dir: queue, maxBytes: maxBytes) } catch {
      throw HarnessFailure(error.message)
    }
  }

  /// Appends and commits at once, as a turn with one message does.
  @discardableResult
  func put(_ s: SpoolStore, _ kind: SpoolRecord.Kind, _ text: String, size: Int = 0,
           at ms: Int64 = 1000) throws -> SpoolStore.Appended {
    var payload = Array(text.utf8)
    if size > payload.count { payload += [UInt8](repeating: 0x2E, count: size - payload.count) }
    let r: SpoolStore.Appended
    do {
      r = try s.append(kind: kind, topic: "vigil/t/\(kind == .event ? "event" : "snapshot")",
                       payload: payload, captureMs: ms)
    } catch { throw HarnessFailure(error.message) }
    return r
  }

  /// Every message's text, oldest first, continuing where a look stopped early.
  func texts(_ s: SpoolStore) -> [String] {
    var all: [SpoolStore.Entry] = []
    var cursor: UInt64? = nil
    while true {
      let b = s.next(after: cursor, limit: 1000)
      all += b.entries
      guard let r = b.resumeAfter else { break }
      cursor = r
    }
    return all.compactMap { e in
      if case .record(let r, _) = s.load(e) {
        return String(decoding: r.payload.prefix(while: { $0 != 0x2E }), as: UTF8.self)
      }
      return nil
    }
  }

  func files(_ dir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
  }

  @Test func keepsOrderAcrossReopen() throws {
    var s = try open()
    for i in 1...30 { try put(s, i % 3 == 0 ? .snapshot : .event, "m\(i)", at: Int64(i)) }
    #expect(s.count == 30)
    #expect(s.snapshotCount == 10)
    #expect(texts(s) == (1...30).map { "m\($0)" })
    #expect(s.oldestCaptureMs() == 1)
    // Reading in windows from a cursor gives the same order, a bounded number at a time.
    var seen: [UInt64] = []
    var cursor: UInt64? = nil
    while true {
      let batch = s.next(after: cursor, limit: 4).entries
      if batch.isEmpty { break }
      #expect(batch.count <= 4)
      seen += batch.map { $0.sequence }
      cursor = batch.last?.sequence
    }
    #expect(seen == seen.sorted() && seen.count == 30)
    let bytes = s.bytes
    s = try open()
    #expect(s.count == 30 && s.bytes == bytes && s.quarantined == 0)
    try put(s, .event, "m31", at: 31)
    #expect(texts(s).last == "m31", "a reopened spool continues after its highest sequence")
  }

  @Test func removesOnlyWhatItIsTold() throws {
    let s = try open()
    for i in 1...5 { try put(s, .event, "m\(i)", at: Int64(i)) }
    let all = s.next(after: nil, limit: 10).entries
    #expect(s.remove(all[0]))
    #expect(!s.remove(all[0]), "already gone")
    #expect(s.count == 4)
    #expect(s.oldestCaptureMs() == 2)
    if case .missing = s.load(all[0]) {} else { Issue.record("a removed message loads as missing") }
    for e in all.dropFirst() { s.remove(e) }
    #expect(s.count == 0 && s.bytes == 0 && s.oldestCaptureMs() == nil)
  }

  @Test func quotaDropsOldestSnapshotsFirstAndEventsLast() throws {
    let one = Int64(SpoolRecord.size(topicBytes: "vigil/t/snapshot".utf8.count, payloadBytes: 1000))
    let s = try open(maxBytes: 65_536)
    // 2 events, 3 snapshots, 1 event, then snapshots until the quota is reached.
    try put(s, .event, "e1", size: 1000)
    try put(s, .event, "e2", size: 1000)
    for i in 1...3 { try put(s, .snapshot, "s\(i)", size: 1000) }
    try put(s, .event, "e3", size: 1000)
    var n = 3
    while s.bytes + one <= 65_536 {
      n += 1
      try put(s, .snapshot, "s\(n)", size: 1000)
    }
    #expect(s.dropped == 0)
    // One more snapshot: the oldest snapshot goes, the events stay.
    let r = try put(s, .snapshot, "s\(n + 1)", size: 1000)
    #expect(r.entry != nil)
    #expect(r.dropped.map { $0.kind } == [.snapshot])
    #expect(s.droppedSnapshots == 1 && s.droppedEvents == 0)
    var t = texts(s)
    #expect(t.prefix(5) == ["e1", "e2", "s2", "s3", "e3"])
    #expect(s.bytes <= 65_536)
    // A big event makes several snapshots go, oldest first, still no event.
    try put(s, .event, "big", size: 5000)
    t = texts(s)
    #expect(t.prefix(3) == ["e1", "e2", "e3"], "s2, s3 and more dropped before any event")
    #expect(s.droppedEvents == 0)
    #expect(s.bytes <= 65_536)
    // Only events left: a new snapshot is dropped itself rather than an event.
    for e in s.oldest(1000, kind: .snapshot) { s.remove(e) }
    while s.bytes + one <= 65_536 { try put(s, .event, "filler", size: 1000) }
    let before = s.count
    let r2 = try put(s, .snapshot, "late-snap", size: 1000)
    #expect(r2.entry == nil && r2.dropped.isEmpty && s.count == before)
    // A new event when only events are left: the oldest event goes.
    let r3 = try put(s, .event, "newest", size: 1000)
    #expect(r3.entry != nil)
    #expect(r3.dropped.count == 1 && r3.dropped[0].kind == .event)
    #expect(texts(s).first == "e2" && texts(s).last == "newest")
    #expect(s.droppedEvents == 1)
  }

  @Test func quotaNeverDropsMessagesInFlight() throws {
    let s = try open(maxBytes: 65_536)
    let one = Int64(SpoolRecord.size(topicBytes: "vigil/t/snapshot".utf8.count, payloadBytes: 2000))
    while s.bytes + one <= 65_536 { try put(s, .snapshot, "s", size: 2000) }
    let oldest = s.next(after: nil, limit: 2).entries
    s.pinned = oldest.map { $0.sequence }
    let r = try put(s, .snapshot, "new", size: 2000)
    #expect(r.dropped.count == 1)
    #expect(!r.dropped.contains { s.pinned.contains($0.sequence) })
    #expect(s.next(after: nil, limit: 2).entries == oldest)
  }

  @Test func messageLargerThanTheQuotaIsDroppedAndCounted() throws {
    let s = try open(maxBytes: 65_536)
    try put(s, .event, "keep")
    let r = try put(s, .snapshot, "huge", size: 70_000)
    #expect(r.entry == nil)
    #expect(s.droppedSnapshots == 1 && s.count == 1)
  }

  @Test func damagedFileIsSetAsideAtLoadNeverReturned() throws {
    let s = try open()
    try put(s, .event, "a", size: 100)
    try put(s, .event, "b", size: 100)
    let entries = s.next(after: nil, limit: 2).entries
    // Flip one payload byte on disk: same length, so only the checksum can tell.
    let path = queue + "/" + entries[0].name
    var data = try Data(contentsOf: URL(fileURLWithPath: path))
    data[data.count - 10] ^= 0x01
    try data.write(to: URL(fileURLWithPath: path))
    guard case .corrupt = s.load(entries[0]) else {
      Issue.record("a damaged file must not load")
      return
    }
    #expect(s.quarantined == 1 && s.count == 1)
    #expect(files(queue + "/quarantine") == [entries[0].name])
    #expect(texts(s) == ["b"])
  }

  @Test func recoversAFolderWithTornAndForeignFiles() throws {
    var s = try open()
    for i in 1...4 { try put(s, .event, "m\(i)", size: 50) }
    let entries = s.next(after: nil, limit: 10).entries
    s = try open()  // (closes the first)
    // A torn write that made it to its final name (a file system that lied about fsync).
    let torn = queue + "/" + entries[1].name
    let whole = try Data(contentsOf: URL(fileURLWithPath: torn))
    try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: torn))
    // A crash between write and rename leaves a .tmp.
    try whole.write(to: URL(fileURLWithPath: queue + "/0000000000000009.e.tmp"))
    // Foreign things: a stray file, a spool-like name with other bytes, an empty file, and a
    // file whose header names another sequence.
    try Data("hello".utf8).write(to: URL(fileURLWithPath: queue + "/notes.txt"))
    try Data(repeating: 0x41, count: 64).write(to: URL(fileURLWithPath: queue + "/00000000000000aa.s"))
    try Data().write(to: URL(fileURLWithPath: queue + "/00000000000000ab.e"))
    let other = try Data(contentsOf: URL(fileURLWithPath: queue + "/" + entries[3].name))
    try other.write(to: URL(fileURLWithPath: queue + "/00000000000000ac.e"))
    // A folder is left alone.
    try FileManager.default.createDirectory(atPath: queue + "/lost+found",
                                            withIntermediateDirectories: true)
    s = try open()
    #expect(s.quarantined == 6)
    #expect(s.count == 3)
    #expect(texts(s) == ["m1", "m3", "m4"])
    #expect(files(queue + "/quarantine").count == 6)
    #expect(files(queue).sorted() == ([entries[0].name, entries[2].name, entries[3].name,
                                      "lost+found", "quarantine"]).sorted())
    // The next message continues after the highest whole one.
    try put(s, .event, "m5")
    #expect(texts(s).last == "m5")
    // Set aside again on a second start under the same names: none is overwritten.
    try whole.write(to: URL(fileURLWithPath: queue + "/0000000000000009.e.tmp"))
    s = try open()
    #expect(s.quarantined == 1)
    #expect(files(queue + "/quarantine").count == 7)
  }

  @Test func messagesHandedToTheDiskThreadTogetherShareAFolderSync() throws {
    let s = try open()
    try put(s, .event, "first")
    let loop: EventLoop
    do { loop = try EventLoop() } catch { throw HarnessFailure(error.message) }
    var outcomes: [SpoolStore.DiskOutcome] = []
    s.startDiskThread(on: loop) { outcomes.append($0) }
    var appended: [SpoolStore.Appended] = []
    for i in 1...8 { appended.append(try put(s, i % 2 == 0 ? .snapshot : .event, "b\(i)")) }
    // Handed over, not yet stored: not in the index, not sent, but counted in the quota.
    #expect(appended.allSatisfy { !$0.stored && $0.entry != nil })
    #expect(s.writingCount <= 8 && s.count + Int64(s.writingCount) == 9)
    for o in s.finishDisk() { outcomes.append(o) }
    var stored: [UInt64] = []
    for o in outcomes {
      if case .stored(let e, _, let acked) = o, !acked { stored.append(e.sequence) }
    }
    #expect(stored == appended.compactMap { $0.entry?.sequence }, "all stored, in order")
    #expect(s.diskBatches < 8, "\(s.diskBatches) batches (each one folder sync) for 8 writes")
    #expect(texts(s) == ["first"] + (1...8).map { "b\($0)" })
    #expect(files(queue).filter { $0.hasSuffix(".tmp") }.isEmpty)
  }

  @Test func aWritePublishedAndAcknowledgedBeforeItEndsLeavesNoFile() throws {
    let s = try open()
    let loop: EventLoop
    do { loop = try EventLoop() } catch { throw HarnessFailure(error.message) }
    s.startDiskThread(on: loop) { _ in }
    let r = try put(s, .event, "live")
    let seq = try #require(r.entry?.sequence)
    #expect(s.isPending(seq))
    s.acknowledgePending(seq)  // its PUBACK came first
    let outcomes = s.finishDisk()
    guard case .stored(_, _, let acked)? = outcomes.first else {
      Issue.record("no outcome: \(outcomes)")
      return
    }
    #expect(acked && s.count == 0 && s.usedBytes == 0)
    _ = s.finishDisk()  // the removal queued at the write's end
    #expect(files(queue).filter { !$0.hasPrefix("quarantine") }.isEmpty, "\(files(queue))")
  }

  @Test func aWriteLeftUnfinishedIsSetAsideAtTheNextStart() throws {
    var s = try open()
    try put(s, .event, "kept")
    // A crash between the write and its rename: a whole .tmp.
    let good = try #require(files(queue).first { $0.hasSuffix(".e") })
    let copy = try Data(contentsOf: URL(fileURLWithPath: queue + "/" + good))
    try copy.write(to: URL(fileURLWithPath: queue + "/0000000000000002.e.tmp"))
    s = try open()
    #expect(texts(s) == ["kept"] && s.quarantined == 1)
  }

  @Test func theFolderIsReadOnlyAtTheStart() throws {
    let s = try open(maxBytes: 65_536)
    #expect(s.folderReads == 2, "queue/ and quarantine/ once each")
    let one = Int64(SpoolRecord.size(topicBytes: "vigil/t/snapshot".utf8.count, payloadBytes: 1000))
    // Fill the quota, keep appending (evictions), send and remove, as a drain does.
    while s.bytes + one <= 65_536 { try put(s, .snapshot, "s", size: 1000) }
    for i in 0..<200 { try put(s, i % 10 == 0 ? .event : .snapshot, "x", size: 1000) }
    var cursor: UInt64? = nil
    while true {
      let b = s.next(after: cursor, limit: 10)
      if b.entries.isEmpty { break }
      for e in b.entries { s.remove(e) }
      cursor = b.entries.last?.sequence
      _ = s.oldestCaptureMs()
    }
    #expect(s.count == 0 && s.bytes == 0)
    #expect(s.dropped > 100)
    #expect(s.folderReads == 2)
  }

  @Test func aLongBacklogIsOneRun() throws {
    let s = try open(maxBytes: 64 << 20)
    for i in 1...600 { try put(s, .event, "e\(i)", size: 100) }
    #expect(s.count == 600 && s.index.runs.count == 1)
    let reopened = try open(maxBytes: 64 << 20)
    #expect(reopened.count == 600 && reopened.index.runs.count == 1)
    #expect(reopened.bytes == s.bytes)
  }

  @Test func aSpoolInMorePiecesThanTheCapStillSendsInOrder() throws {
    // Events and snapshots alternating: 600 pieces, over the index's cap of 256, so runs are
    // merged and their names looked for on disk; before and after a restart.
    var s = try open(maxBytes: 64 << 20)
    for i in 1...600 {
      try put(s, i % 2 == 0 ? .snapshot : .event, "m\(i)", size: 50)
    }
    #expect(s.count == 600 && s.index.runs.count <= SpoolStore.maxRuns)
    #expect(texts(s) == (1...600).map { "m\($0)" })
    #expect(s.oldest(3, kind: .snapshot).map { $0.sequence } == [2, 4, 6])
    s = try open(maxBytes: 64 << 20)
    #expect(s.count == 600 && s.index.runs.count <= SpoolStore.maxRuns)
    var cursor: UInt64? = nil
    var sent: [UInt64] = []
    var looks = 0
    while looks < 1000 {
      looks += 1
      let b = s.next(after: cursor, limit: 32)
      if b.entries.isEmpty {
        guard let r = b.resumeAfter else { break }
        cursor = r
        continue
      }
      for e in b.entries {
        sent.append(e.sequence)
        s.remove(e)
      }
      cursor = b.entries.last?.sequence
    }
    #expect(sent == Array(1...600))
    #expect(s.count == 0 && s.bytes == 0 && s.index.runs.isEmpty)
    #expect(s.folderReads == 2)
  }

  @Test func quarantineCountsInTheQuotaAndGoesFirst() throws {
    var s = try open(maxBytes: 65_536)
    // Three damaged files from an earlier life, 10 KB each, oldest first.
    try FileManager.default.createDirectory(atPath: queue + "/quarantine",
                                            withIntermediateDirectories: true)
    for i in 1...3 {
      try Data(repeating: 0x41, count: 10_000)
        .write(to: URL(fileURLWithPath: queue + "/quarantine/old\(i)"))
      usleep(20_000)
    }
    s = try open(maxBytes: 65_536)
    #expect(s.quarantineBytes == 30_000 && s.quarantineCount == 3)
    let one = Int64(SpoolRecord.size(topicBytes: "vigil/t/snapshot".utf8.count, payloadBytes: 1000))
    while s.usedBytes + one <= 65_536 { try put(s, .snapshot, "s", size: 1000) }
    let count = s.count
    // Full: the next message takes the oldest quarantined file's room, not a snapshot's.
    let r = try put(s, .snapshot, "new", size: 1000)
    #expect(r.entry != nil && r.dropped.isEmpty && s.count == count + 1)
    #expect(files(queue + "/quarantine") == ["old2", "old3"])
    #expect(s.quarantineBytes == 20_000 && s.usedBytes <= 65_536)
  }

  @Test func quarantineKeepsAtMostItsLimitOldestGoFirst() throws {
    try FileManager.default.createDirectory(atPath: queue + "/quarantine",
                                            withIntermediateDirectories: true)
    let n = SpoolStore.maxQuarantineFiles + 3
    for i in 0..<n {
      try Data("x".utf8).write(to: URL(fileURLWithPath: queue + "/quarantine/f\(1000 + i)"))
      usleep(2_000)
    }
    let s = try open()
    #expect(s.quarantineCount == SpoolStore.maxQuarantineFiles)
    let left = files(queue + "/quarantine")
    #expect(left.count == SpoolStore.maxQuarantineFiles)
    #expect(!left.contains("f1000") && !left.contains("f1002") && left.contains("f\(1000 + n - 1)"))
  }

  @Test func aTruncatedHeaderIsSetAsideWithoutATrap() throws {
    try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
    // A header that promises a 4 GiB payload (a 32-bit Int would overflow), and a 3-byte file.
    var head: [UInt8] = Array("VGSP".utf8) + [1, 0x73, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF]
    head += [UInt8](repeating: 0, count: 8)
    head += [5, 0, 0, 0, 0, 0, 0, 0]
    try Data(head).write(to: URL(fileURLWithPath: queue + "/0000000000000005.s"))
    try Data([0x56, 0x47, 0x53]).write(to: URL(fileURLWithPath: queue + "/0000000000000006.e"))
    try Data("x".utf8).write(to: URL(fileURLWithPath: queue + "/ffffffffffffffff.e"))
    let s = try open()
    #expect(s.count == 0 && s.quarantined == 3)
    try put(s, .event, "after")
    #expect(texts(s) == ["after"])
  }
}

struct HarnessFailure: Error, CustomStringConvertible {
  let description: String
  init(_ d: String) { description = d }
}
