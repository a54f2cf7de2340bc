import CVigil
import VigilCore

/// The `sim` driver (DESIGN.md, "Board files"): each line is a one-line file named after it in
/// the board's folder, holding `0` or `1`, the physical level. Inputs are watched with inotify on
/// the folder, so a writer that replaces the file by rename (`mv tmp cam1_power`) is seen as well
/// as `echo 0 > cam1_power`; outputs are written there, by rename, so a reader never sees a
/// half-written file. The demo and the tests play the field with it.
public final class SimBoard: BoardDriver {
  public var onInput: ((String) -> Void)?
  private let file: BoardFile
  private let loop: EventLoop
  private let dir: String
  private var inotifyFD: Int32 = -1
  private var watch: EventLoop.Watch?
  /// The level each output was last written at.
  private var outputs: [(name: String, on: Bool)] = []

  public init(_ file: BoardFile, loop: EventLoop) {
    self.file = file
    self.loop = loop
    self.dir = file.simDir ?? "/run/vigil-sim"
  }

  deinit { close() }

  private func path(_ name: String) -> String { dir + "/" + name }

  public func open() throws(BoardError) {
    do { try Files.makeDirectories(dir, mode: 0o755) } catch {
      throw BoardError(line: "", "sim board folder " + dir + ": " + error.message)
    }
    let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
    if fd < 0 { throw BoardError(line: "", "inotify_init1: " + GPIOChip.text(Sys.errno)) }
    let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MODIFY | IN_CREATE | IN_DELETE)
    if inotify_add_watch(fd, dir, mask) < 0 {
      let e = Sys.errno
      Sys.close(fd)
      throw BoardError(line: "", "cannot watch sim board folder " + dir + ": " + GPIOChip.text(e))
    }
    inotifyFD = fd
    watch = loop.watch(fd, events: Int16(POLLIN)) { [self] _ in self.readEvents() }
    for line in file.lines where line.direction == .output {
      do throws(BoardError) { try write(line.name, true) } catch {
        close()
        throw error
      }
    }
  }

  /// Reads the queued inotify events and reports each input line named in one.
  private func readEvents() {
    var buf = [UInt8](repeating: 0, count: 4096)
    var changed: [String] = []
    var overflow = false
    while true {
      let n = buf.withUnsafeMutableBytes { raw in CVigil.read(inotifyFD, raw.baseAddress, raw.count) }
      if n <= 0 { break }
      var i = 0
      // struct inotify_event: int wd; uint32 mask, cookie, len; char name[len] (NUL padded).
      while i + 16 <= n {
        let mask = UInt32(buf[i + 4]) | UInt32(buf[i + 5]) << 8 | UInt32(buf[i + 6]) << 16
          | UInt32(buf[i + 7]) << 24
        let len = Int(buf[i + 12]) | Int(buf[i + 13]) << 8 | Int(buf[i + 14]) << 16
          | Int(buf[i + 15]) << 24
        if mask & UInt32(IN_Q_OVERFLOW) != 0 { overflow = true }
        var end = i + 16
        while end < min(i + 16 + len, n) && buf[end] != 0 { end += 1 }
        let name = String(decoding: buf[(i + 16)..<end], as: UTF8.self)
        if !name.isEmpty && !changed.contains(name) { changed.append(name) }
        i += 16 + len
      }
    }
    for line in file.lines where line.direction == .input {
      if overflow || changed.contains(line.name) { onInput?(line.name) }
    }
  }

  public func read(_ name: String) throws(BoardError) -> Bool {
    guard let spec = file.line(named: name) else { throw BoardError(line: name, "no such line") }
    if spec.direction == .output, let o = outputs.first(where: { $0.name == name }) { return o.on }
    let bytes: [UInt8]
    do { bytes = try Files.read(path(name), limit: 64) } catch {
      throw BoardError(line: name, "cannot read " + path(name) + ": " + error.message)
    }
    // The first non-blank byte: `0` or `1`. A file being rewritten may be empty for a moment.
    for b in bytes where b != 0x20 && b != 0x0A && b != 0x09 && b != 0x0D {
      if b == 0x30 || b == 0x31 { return Board.physical(b == 0x31, spec) }
      break
    }
    throw BoardError(line: name, path(name) + " holds neither 0 nor 1")
  }

  public func write(_ name: String, _ on: Bool) throws(BoardError) {
    guard let spec = file.line(named: name) else { throw BoardError(line: name, "no such line") }
    guard spec.direction == .output else { throw BoardError(line: name, "is an input") }
    let level = Board.physical(on, spec) ? "1\n" : "0\n"
    let tmp = dir + "/." + name + ".tmp"
    do throws(SystemError) {
      let fd = try Sys.open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
      defer { Sys.close(fd) }
      try Sys.writeAll(fd, Array(level.utf8))
    } catch {
      throw BoardError(line: name, "cannot write " + tmp + ": " + error.message)
    }
    if rename(tmp, path(name)) < 0 {
      throw BoardError(line: name, "cannot write " + path(name) + ": " + GPIOChip.text(Sys.errno))
    }
    if let i = outputs.firstIndex(where: { $0.name == name }) {
      outputs[i].on = on
    } else {
      outputs.append((name, on))
    }
  }

  public func close() {
    if inotifyFD < 0 { return }
    for o in outputs where !o.on { try? write(o.name, true) }
    if let w = watch { loop.unwatch(w) }
    watch = nil
    Sys.close(inotifyFD)
    inotifyFD = -1
  }
}
