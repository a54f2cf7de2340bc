import CVigil
import VigilCore

/// Whole-file reads and crash-safe writes.
public enum Files {
  /// Reads a whole file of at most `limit` bytes.
  public static func read(_ path: String, limit: Int = 16 << 20) throws(SystemError) -> [UInt8] {
    let fd = try Sys.open(path, O_RDONLY)
    defer { Sys.close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16_384)
    while true {
      let r = chunk.withUnsafeMutableBytes { raw in
        CVigil.read(fd, raw.baseAddress, raw.count)
      }
      if r < 0 {
        if Sys.errno == EINTR { continue }
        throw SystemError("read", errno: Sys.errno, subject: path)
      }
      let n = r
      if n == 0 { break }
      out.append(contentsOf: chunk[0..<n])
      if out.count > limit { throw SystemError("read", errno: EFBIG, subject: path) }
    }
    return out
  }

  public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

  /// Writes `bytes` so that after a crash at any moment the file holds either the old content
  /// or the new, whole: a temporary name, fsync, rename, then fsync of the folder so the rename
  /// itself is on disk (the ext4 delayed-allocation lesson).
  /// `directoryFD`: the folder, already open (the spool writes many files into one folder and
  /// keeps it open rather than opening it for every fsync).
  public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: UInt32 = 0o644,
                                     directoryFD: Int32? = nil) throws(SystemError)
  {
    let tmp = path + ".tmp"
    let fd = try Sys.open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode: mode)
    do throws(SystemError) {
      try Sys.writeAll(fd, bytes)
      if fsync(fd) < 0 { throw SystemError("fsync", errno: Sys.errno, subject: tmp) }
    } catch {
      Sys.close(fd)
      unlink(tmp)
      throw error
    }
    Sys.close(fd)
    if rename(tmp, path) < 0 {
      let e = Sys.errno
      unlink(tmp)
      throw SystemError("rename", errno: e, subject: path)
    }
    if let dfd = directoryFD {
      if fsync(dfd) < 0 {
        throw SystemError("fsync", errno: Sys.errno, subject: Paths.directory(of: path))
      }
    } else {
      try syncDirectory(Paths.directory(of: path))
    }
  }

  public static func syncDirectory(_ dir: String) throws(SystemError) {
    let fd = try Sys.open(dir, O_RDONLY | O_DIRECTORY)
    defer { Sys.close(fd) }
    if fsync(fd) < 0 { throw SystemError("fsync", errno: Sys.errno, subject: dir) }
  }

  /// `mkdir -p`.
  public static func makeDirectories(_ path: String, mode: UInt32 = 0o750) throws(SystemError) {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
      prefix += part
      if mkdir(prefix, mode_t(mode)) < 0 {
        let e = Sys.errno
        if e != EEXIST { throw SystemError("mkdir", errno: e, subject: prefix) }
      }
      prefix += "/"
    }
  }
}

/// The boot counter kept on disk: every start gets a number never used before, which makes
/// `boot_id` and, with a sequence, event ids unique per site across restarts.
public enum BootCounter {
  /// Increments and returns the counter stored at `path`. A missing file starts at 1. A damaged
  /// one cannot be trusted to be the highest number used, so the count restarts above any value
  /// it could have held: the wall clock in seconds, which only grows across reboots of a synced
  /// box and is far above any real boot count. 64 bits on every board: the wall clock in
  /// seconds passes a 32-bit `Int` in 2038.
  public static func next(at path: String) throws(SystemError) -> Int64 {
    var previous: Int64 = 0
    if Files.exists(path) {
      let bytes = try Files.read(path, limit: 64)
      if let n = parse(bytes) {
        previous = n
      } else {
        previous = Clock.wallMs() / 1000
        Log.warning("boot counter " + path + " is damaged; continuing from " + String(previous))
      }
    }
    let next = previous + 1
    try Files.writeAtomically(path, Array((String(next) + "\n").utf8), mode: 0o640)
    return next
  }

  /// At most 15 digits: never past what an Int64 (or a JSON number) holds.
  static func parse(_ bytes: [UInt8]) -> Int64? {
    var n: Int64 = 0
    var digits = 0
    for b in bytes {
      if b == 0x0A { break }
      guard b >= 0x30 && b <= 0x39, digits < 15 else { return nil }
      n = n * 10 + Int64(b - 0x30)
      digits += 1
    }
    return digits > 0 ? n : nil
  }
}
