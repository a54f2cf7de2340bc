import CVigil
import VigilCore

/// The spool on disk: one file per message (`SpoolRecord`), named by its sequence so that the
/// folder itself is the index, oldest first. Only counters and the highest sequence are kept in
/// memory; the next messages to send are found by reading the folder, so memory does not grow
/// with the length of an outage.
///
/// Each file is written under a temporary name, fsynced, renamed, and the folder fsynced: after
/// a crash at any moment a message is either whole under its final name or absent (its `.tmp`
/// is set aside at the next start). Files are removed only when the caller says so (after the
/// broker's PUBACK), or by the quota. Removal is not fsynced: a removal lost in a crash means a
/// message sent twice, which at-least-once delivery allows, never a message lost.
public final class SpoolStore {
  /// A message in the folder, as its name says.
  public struct Entry: Equatable {
    public var sequence: UInt64
    public var kind: SpoolRecord.Kind
    public var name: String { SpoolRecord.fileName(sequence: sequence, kind: kind) }

    public init(sequence: UInt64, kind: SpoolRecord.Kind) {
      self.sequence = sequence
      self.kind = kind
    }
  }

  /// What reading one message gave.
  public enum Loaded {
    case record(SpoolRecord, size: Int)
    /// Removed meanwhile (acknowledged, or dropped by the quota).
    case missing
    /// Damaged since it was written; it has been set aside and counted.
    case corrupt(String)
  }

  /// What `append` did.
  public struct Appended {
    /// The new message's entry; nil when it was itself dropped (larger than the quota, or a
    /// snapshot when only events and messages in flight remain).
    public var entry: Entry?
    /// Messages removed to make room, oldest snapshots first, events last.
    public var dropped: [Entry] = []
  }

  /// `<spool.dir>/queue`.
  public let dir: String
  /// `<spool.dir>/queue/quarantine`: files that are not whole messages, kept for a technician,
  /// never sent, not counted against the quota.
  public let quarantineDir: String
  public var maxBytes: Int
  public private(set) var count = 0
  public private(set) var bytes = 0
  public private(set) var snapshotCount = 0
  public private(set) var snapshotBytes = 0
  /// Messages the quota removed since start (or refused: larger than the quota), by kind.
  public private(set) var droppedEvents = 0
  public private(set) var droppedSnapshots = 0
  /// Files set aside since start (at the start-up scan, or found damaged before sending).
  public private(set) var quarantined = 0
  /// Why the last few files were set aside, for the `spool` command.
  public private(set) var quarantineNotes: [String] = []
  /// Messages the quota must not remove: those in flight, whose PUBACK will remove them. A
  /// short list (the in-flight windows), not a set: Embedded Swift pays for each specialisation.
  public var pinned: [UInt64] = []

  /// The sequence the next message will get; every message stored so far has a lower one.
  public private(set) var nextSequence: UInt64 = 1
  private let dirFD: Int32
  /// Capture time of the oldest message; recomputed after the oldest may have gone.
  private var oldestCache: Int64?
  private var oldestKnown = false

  public var dropped: Int { droppedEvents + droppedSnapshots }
  public var eventCount: Int { count - snapshotCount }

  /// Opens (creating) the folder and scans it: every whole message is counted, anything else
  /// (a `.tmp` left by a crash, a torn or foreign file) is moved to `quarantine/`.
  public init(dir: String, maxBytes: Int) throws(SystemError) {
    self.dir = dir
    self.quarantineDir = dir + "/quarantine"
    self.maxBytes = maxBytes
    try Files.makeDirectories(quarantineDir)
    dirFD = try Sys.open(dir, O_RDONLY | O_DIRECTORY)
    scanAtStart()
  }

  deinit { Sys.close(dirFD) }

  // MARK: start-up scan

  private func scanAtStart() {
    var highest: UInt64 = 0
    var setAside: [(String, String)] = []
    Directory.each(dir) { name, isDir in
      if isDir { return }
      guard let (seq, kind) = SpoolRecord.parseFileName(name) else {
        setAside.append((name, name.hasSuffix(".tmp") ? "unfinished write" : "foreign file"))
        return
      }
      switch checkHeader(name, seq, kind) {
      case .success(let size):
        count += 1
        bytes += size
        if kind == .snapshot {
          snapshotCount += 1
          snapshotBytes += size
        }
        if seq > highest { highest = seq }
      case .failure(let why):
        setAside.append((name, why))
      }
    }
    for (name, why) in setAside { quarantine(name, why) }
    if !setAside.isEmpty { fsync(dirFD) }
    nextSequence = highest + 1
    if count > 0 || !setAside.isEmpty {
      Log.notice("spool \(dir): \(count) messages, \(bytes) bytes; "
        + "\(setAside.count) files set aside in quarantine/")
    }
  }

  private enum HeaderCheck {
    case success(Int)
    case failure(String)
  }

  /// Reads the fixed header only: a start with a full spool must not read it all (the
  /// checksum of the whole is checked before each send instead).
  private func checkHeader(_ name: String, _ seq: UInt64, _ kind: SpoolRecord.Kind) -> HeaderCheck {
    let fd: Int32
    do { fd = try Sys.open(dir + "/" + name, O_RDONLY) } catch {
      return .failure(error.message)
    }
    defer { Sys.close(fd) }
    var st = stat()
    if fstat(fd, &st) < 0 { return .failure("fstat failed") }
    let size = Int(st.st_size)
    var head = [UInt8](repeating: 0, count: SpoolRecord.headerSize)
    let n = head.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress, raw.count, 0) }
    if n < 0 { return .failure("cannot read") }
    let h: SpoolRecord.Header
    do { h = try SpoolRecord.header(head[0..<n]) } catch { return .failure(error.message) }
    if h.sequence != seq || h.kind != kind { return .failure("name does not match its header") }
    if h.fileSize != size {
      return .failure(SpoolRecord.DecodeError.lengthMismatch(expected: h.fileSize, found: size)
        .message)
    }
    return .success(size)
  }

  /// Moves `name` into quarantine/ under a name not used there yet.
  private func quarantine(_ name: String, _ why: String) {
    var target = quarantineDir + "/" + name
    var n = 1
    while Files.exists(target) && n < 1000 {
      target = quarantineDir + "/" + name + ".\(n)"
      n += 1
    }
    if rename(dir + "/" + name, target) < 0 {
      // Cannot be moved (a read-only folder?): it stays, unsent, and is named in the log.
      Log.error("spool: cannot set aside \(name) (\(why)): errno \(Sys.errno)")
    } else {
      Log.warning("spool: set aside \(name): \(why)")
    }
    quarantined += 1
    quarantineNotes.append("\(name): \(why)")
    if quarantineNotes.count > 5 { quarantineNotes.removeFirst() }
  }

  // MARK: writing

  /// Stores a message, first making room under the quota if needed. Throws only when the file
  /// cannot be written (disk full, read-only); the message is then not stored.
  public func append(kind: SpoolRecord.Kind, topic: String, payload: [UInt8], captureMs: Int64)
    throws(SystemError) -> Appended
  {
    let size = SpoolRecord.size(topicBytes: topic.utf8.count, payloadBytes: payload.count)
    var result = Appended()
    if size > maxBytes || topic.utf8.count > SpoolRecord.maxTopicBytes {
      countDrop(kind)
      return result
    }
    if bytes + size > maxBytes {
      result.dropped = makeRoom(for: size, kind: kind)
      if bytes + size > maxBytes {
        countDrop(kind)
        return result
      }
    }
    let seq = nextSequence
    let record = SpoolRecord(
      kind: kind, sequence: seq, captureMs: captureMs, topic: topic, payload: payload)
    let name = SpoolRecord.fileName(sequence: seq, kind: kind)
    try writeDurably(name, record.encode())
    nextSequence += 1
    count += 1
    bytes += size
    if kind == .snapshot {
      snapshotCount += 1
      snapshotBytes += size
    }
    if count == 1 {
      oldestCache = captureMs
      oldestKnown = true
    }
    result.entry = Entry(sequence: seq, kind: kind)
    return result
  }

  /// Temporary name, fsync, rename, fsync of the folder (kept open): a file is whole or absent.
  private func writeDurably(_ name: String, _ data: [UInt8]) throws(SystemError) {
    try Files.writeAtomically(dir + "/" + name, data, mode: 0o640, directoryFD: dirFD)
  }

  /// Removes the oldest snapshots, then (only if the new message is an event) the oldest
  /// events, until `size` more bytes fit. Pinned messages are never removed.
  private func makeRoom(for size: Int, kind: SpoolRecord.Kind) -> [Entry] {
    var removed: [Entry] = []
    let order: [SpoolRecord.Kind] = kind == .snapshot ? [.snapshot] : [.snapshot, .event]
    for victimKind in order {
      while bytes + size > maxBytes {
        let batch = oldest(16, kind: victimKind)
        if batch.isEmpty { break }
        for e in batch where bytes + size > maxBytes {
          if remove(e) {
            countDrop(e.kind)
            removed.append(e)
          }
        }
      }
    }
    return removed
  }

  private func countDrop(_ kind: SpoolRecord.Kind) {
    if kind == .snapshot { droppedSnapshots += 1 } else { droppedEvents += 1 }
  }

  // MARK: reading

  /// Up to `limit` messages with a sequence above `after` (all when nil), oldest first,
  /// leaving out `skipping`. One pass over the folder; memory bounded by `limit`.
  public func next(after: UInt64?, limit: Int, skipping: [UInt64] = []) -> [Entry] {
    smallest(limit) { e in
      (after.map { e.sequence > $0 } ?? true) && !skipping.contains(e.sequence)
    }
  }

  /// The oldest `limit` messages of a kind, leaving out pinned ones.
  public func oldest(_ limit: Int, kind: SpoolRecord.Kind) -> [Entry] {
    smallest(limit) { e in e.kind == kind && !self.pinned.contains(e.sequence) }
  }

  private func smallest(_ limit: Int, where keep: (Entry) -> Bool) -> [Entry] {
    var best: [Entry] = []
    if limit <= 0 { return best }
    Directory.each(dir) { name, isDir in
      guard !isDir, let (seq, kind) = SpoolRecord.parseFileName(name) else { return }
      let e = Entry(sequence: seq, kind: kind)
      guard keep(e) else { return }
      if best.count == limit {
        guard let last = best.last, seq < last.sequence else { return }
        best.removeLast()
      }
      var i = best.count
      while i > 0 && best[i - 1].sequence > seq { i -= 1 }
      best.insert(e, at: i)
    }
    return best
  }

  /// Reads one message whole and checks it. A damaged one is set aside (never sent).
  public func load(_ e: Entry) -> Loaded {
    let bytes: [UInt8]
    do {
      bytes = try Files.read(dir + "/" + e.name, limit: SpoolRecord.size(
        topicBytes: SpoolRecord.maxTopicBytes, payloadBytes: max(maxBytes, Snapshot.maxBytes)))
    } catch {
      if error.errno == ENOENT { return .missing }
      forget(e, size: fileSize(e.name))
      quarantine(e.name, error.message)
      return .corrupt(error.message)
    }
    do throws(SpoolRecord.DecodeError) {
      let r = try SpoolRecord.decode(bytes)
      if r.sequence != e.sequence || r.kind != e.kind {
        throw SpoolRecord.DecodeError.notASpoolFile
      }
      return .record(r, size: bytes.count)
    } catch {
      forget(e, size: bytes.count)
      quarantine(e.name, error.message)
      return .corrupt(error.message)
    }
  }

  /// Removes a message (its PUBACK came); false if it was already gone.
  @discardableResult
  public func remove(_ e: Entry) -> Bool {
    let path = dir + "/" + e.name
    let size = fileSize(e.name)
    if size < 0 || unlink(path) < 0 { return false }
    forget(e, size: size)
    return true
  }

  /// Takes a message that left the folder out of the counters.
  private func forget(_ e: Entry, size: Int) {
    guard size >= 0 else { return }
    count = max(0, count - 1)
    bytes = max(0, bytes - size)
    if e.kind == .snapshot {
      snapshotCount = max(0, snapshotCount - 1)
      snapshotBytes = max(0, snapshotBytes - size)
    }
    oldestKnown = false
  }

  private func fileSize(_ name: String) -> Int {
    var st = stat()
    if stat(dir + "/" + name, &st) < 0 { return -1 }
    return Int(st.st_size)
  }

  /// Capture time (Unix ms) of the oldest message, nil when empty. Reads the oldest file's
  /// header when the oldest may have changed.
  public func oldestCaptureMs() -> Int64? {
    if count == 0 { return nil }
    if oldestKnown { return oldestCache }
    oldestCache = nil
    if let e = next(after: nil, limit: 1).first {
      let fd = try? Sys.open(dir + "/" + e.name, O_RDONLY)
      if let fd = fd {
        var head = [UInt8](repeating: 0, count: SpoolRecord.headerSize)
        let n = head.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress, raw.count, 0) }
        Sys.close(fd)
        if n == SpoolRecord.headerSize, let h = try? SpoolRecord.header(head[...]) {
          oldestCache = h.captureMs
        }
      }
    }
    oldestKnown = true
    return oldestCache
  }

  /// Whether a file can be created, written and fsynced in the folder now (the selftest).
  public func probeWritable() -> String? {
    let path = dir + "/selftest.probe"
    do throws(SystemError) {
      let fd = try Sys.open(path, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o640)
      defer { Sys.close(fd) }
      try Sys.writeAll(fd, [0x76])
      if fsync(fd) < 0 { throw SystemError("fsync", errno: Sys.errno, subject: path) }
    } catch {
      unlink(path)
      return error.message
    }
    unlink(path)
    return nil
  }

  /// Bytes free for an unprivileged writer on the spool's file system; nil if unknown.
  public func freeBytes() -> Int? {
    var s = statvfs()
    if statvfs(dir, &s) < 0 { return nil }
    return Int(s.f_bavail) * Int(s.f_frsize)
  }
}

/// Reading a folder's names with opendir/readdir, one at a time.
enum Directory {
  static func each(_ path: String, _ body: (String, Bool) -> Void) {
    guard let d = opendir(path) else { return }
    defer { closedir(d) }
    while let ent = readdir(d) {
      let isDir = ent.pointee.d_type == UInt8(DT_DIR)
      let name = withUnsafePointer(to: &ent.pointee.d_name) { p in
        p.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
      }
      if name == "." || name == ".." { continue }
      body(name, isDir)
    }
  }
}
