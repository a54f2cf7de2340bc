import CGpiod
import CVigil
import VigilCore

/// The `gpiod` driver: real GPIO character devices through libgpiod 1.6 (the v1 uAPI; sysfs
/// GPIO is deprecated). Chips are opened by name, path, number or label
/// (`gpiod_chip_open_lookup`); inputs are requested for both-edge events and their event
/// descriptors polled in the agent's loop; outputs are requested at their safe level at once,
/// so a relay never drops its camera while the agent starts.
public final class GPIOChip: BoardDriver {
  private final class Requested {
    let spec: BoardFile.Line
    let line: OpaquePointer
    var watch: EventLoop.Watch?
    var eventFD: Int32 = -1

    init(spec: BoardFile.Line, line: OpaquePointer) {
      self.spec = spec
      self.line = line
    }
  }

  public var onInput: ((String) -> Void)?
  private let file: BoardFile
  private let loop: EventLoop
  private var chips: [(String, OpaquePointer)] = []
  private var lines: [Requested] = []
  static let consumer = "vigil"

  public init(_ file: BoardFile, loop: EventLoop) {
    self.file = file
    self.loop = loop
  }

  deinit { close() }

  public func open() throws(BoardError) {
    do throws(BoardError) {
      for spec in file.lines { try request(spec) }
    } catch {
      close()
      throw error
    }
  }

  private func chip(for spec: BoardFile.Line) throws(BoardError) -> OpaquePointer {
    for (name, c) in chips where name == spec.chip { return c }
    guard let c = gpiod_chip_open_lookup(spec.chip) else {
      let e = Sys.errno
      let why = e == EACCES || e == EPERM
        ? "cannot open GPIO chip \"" + spec.chip + "\": permission denied (run as a member of the "
          + "group owning /dev/gpiochip*)"
        : "no GPIO chip \"" + spec.chip + "\" (looked up by name, path, number and label; "
          + "`gpiodetect` lists the chips)"
      throw BoardError(line: spec.name, why)
    }
    chips.append((spec.chip, c))
    return c
  }

  private func request(_ spec: BoardFile.Line) throws(BoardError) {
    let c = try chip(for: spec)
    let chipName = String(cString: gpiod_chip_name(c))
    let count = Int(gpiod_chip_num_lines(c))
    if spec.offset >= count {
      throw BoardError(
        line: spec.name,
        "offset " + String(spec.offset) + " is out of range: " + chipName + " has "
          + String(count) + " lines (0-" + String(count - 1) + ")")
    }
    guard let line = gpiod_chip_get_line(c, UInt32(spec.offset)) else {
      throw BoardError(line: spec.name, chipName + " offset " + String(spec.offset) + ": "
        + Self.text(Sys.errno))
    }
    let rc: Int32
    switch spec.direction {
    case .input:
      rc = gpiod_line_request_both_edges_events(line, Self.consumer)
    case .output:
      // The safe level: logical on, a relay that powers its camera.
      rc = gpiod_line_request_output(line, Self.consumer, Board.physical(true, spec) ? 1 : 0)
    }
    if rc < 0 {
      let e = Sys.errno
      if e == EBUSY {
        let who = gpiod_line_consumer(line).map { String(cString: $0) } ?? "another program"
        throw BoardError(
          line: spec.name,
          chipName + " offset " + String(spec.offset) + " is in use by \"" + who
            + "\" (`gpioinfo " + chipName + "` "
            + "shows who holds it)")
      }
      throw BoardError(
        line: spec.name, "cannot request " + chipName + " offset " + String(spec.offset) + ": "
          + Self.text(e))
    }
    let r = Requested(spec: spec, line: line)
    lines.append(r)
    if spec.direction == .input {
      let fd = gpiod_line_event_get_fd(line)
      if fd < 0 || vigil_set_nonblock_cloexec(fd) < 0 {
        throw BoardError(line: spec.name, "no event descriptor: " + Self.text(Sys.errno))
      }
      r.eventFD = fd
      let name = spec.name
      r.watch = loop.watch(fd, events: Int16(POLLIN)) { [self] _ in self.drain(r, name) }
    }
  }

  /// Reads every queued edge; the level itself is read afterwards, since the kernel's queue
  /// (16 events) may have dropped some while a contact chattered.
  private func drain(_ r: Requested, _ name: String) {
    var events = [gpiod_line_event](repeating: gpiod_line_event(), count: 16)
    while true {
      let n = events.withUnsafeMutableBufferPointer { buf in
        gpiod_line_event_read_fd_multiple(r.eventFD, buf.baseAddress, UInt32(buf.count))
      }
      if n < 16 { break }
    }
    onInput?(name)
  }

  public func read(_ name: String) throws(BoardError) -> Bool {
    guard let r = lines.first(where: { $0.spec.name == name }) else { throw BoardError(line: name, "not open") }
    let v = gpiod_line_get_value(r.line)
    if v < 0 { throw BoardError(line: name, "cannot read: " + Self.text(Sys.errno)) }
    return Board.physical(v == 1, r.spec)
  }

  public func write(_ name: String, _ on: Bool) throws(BoardError) {
    guard let r = lines.first(where: { $0.spec.name == name }) else { throw BoardError(line: name, "not open") }
    guard r.spec.direction == .output else { throw BoardError(line: name, "is an input") }
    if gpiod_line_set_value(r.line, Board.physical(on, r.spec) ? 1 : 0) < 0 {
      throw BoardError(line: name, "cannot write: " + Self.text(Sys.errno))
    }
  }

  public func close() {
    for r in lines {
      if let w = r.watch { loop.unwatch(w) }
      r.watch = nil
      if r.spec.direction == .output {
        _ = gpiod_line_set_value(r.line, Board.physical(true, r.spec) ? 1 : 0)
      }
      gpiod_line_release(r.line)
    }
    lines.removeAll()
    for (_, c) in chips { gpiod_chip_close(c) }
    chips.removeAll()
  }

  static func text(_ errno: Int32) -> String {
    strerror(errno).map { String(cString: $0) } ?? "errno " + String(errno)
  }
}
