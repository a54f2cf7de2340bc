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

  func open(maxBytes: Int = 1 << 20) throws -> SpoolStore {
    do { return try SpoolStore(dir: queue, maxBytes: maxBytes) } catch {
      throw HarnessFailure(error.message)
    }
  }

  @discardableResult
  func put(_ s: SpoolStore, _ kind: SpoolRecord.Kind, _ text: String, size: Int = 0,
           at ms: Int64 = 1000) throws -> SpoolStore.Appended {
    var payload = Array(text.utf8)
    if size > payload.count { payload += [UInt8](repeating: 0x2E, count: size - payload.count) }
    do {
      return try s.append(kind: kind, topic: "vigil/t/\(kind == .event ? "event" : "snapshot")",
                          payload: payload, captureMs: ms)
    } catch { throw HarnessFailure(error.message) }
  }

  func texts(_ s: SpoolStore) -> [String] {
    s.next(after: nil, limit: 1000).compactMap { e in
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
      let batch = s.next(after: cursor, limit: 4)
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
    let all = s.next(after: nil, limit: 10)
    #expect(s.remove(all[0]))
    #expect(!s.remove(all[0]), "already gone")
    #expect(s.count == 4)
    #expect(s.oldestCaptureMs() == 2)
    if case .missing = s.load(all[0]) {} else { Issue.record("a removed message loads as missing") }
    for e in all.dropFirst() { s.remove(e) }
    #expect(s.count == 0 && s.bytes == 0 && s.oldestCaptureMs() == nil)
  }

  @Test func quotaDropsOldestSnapshotsFirstAndEventsLast() throws {
    let one = SpoolRecord.size(topicBytes: "vigil/t/snapshot".utf8.count, payloadBytes: 1000)
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
    let one = SpoolRecord.size(topicBytes: "vigil/t/snapshot".utf8.count, payloadBytes: 2000)
    while s.bytes + one <= 65_536 { try put(s, .snapshot, "s", size: 2000) }
    let oldest = s.next(after: nil, limit: 2)
    s.pinned = oldest.map { $0.sequence }
    let r = try put(s, .snapshot, "new", size: 2000)
    #expect(r.dropped.count == 1)
    #expect(!r.dropped.contains { s.pinned.contains($0.sequence) })
    #expect(s.next(after: nil, limit: 2) == oldest)
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
    let entries = s.next(after: nil, limit: 2)
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
    let entries = s.next(after: nil, limit: 10)
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
}

struct HarnessFailure: Error, CustomStringConvertible {
  let description: String
  init(_ d: String) { description = d }
}
