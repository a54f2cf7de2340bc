/// A board file: logical line names mapped to GPIO lines (DESIGN.md, "Board files").
public struct BoardFile: Equatable {
  public enum Driver: Equatable { case gpiod, sim }
  public enum Direction: Equatable { case input, output }

  public struct Line: Equatable {
    public var name: String
    /// Chip by name (`gpiochip0`) or label (`pinctrl-bcm2711`); unused by the sim driver.
    public var chip: String
    public var offset: Int
    public var direction: Direction
    public var activeLow: Bool
    public var debounceMs: Int
  }

  public var name: String
  public var driver: Driver
  /// The sim driver's folder of one-line files, resolved against the board file's folder.
  public var simDir: String?
  public var lines: [Line]

  public func line(named name: String) -> Line? {
    for l in lines where l.name == name { return l }
    return nil
  }

  public static let maxLines = 256

  /// Parses and validates a board file. `baseDir` resolves a relative `dir`. Refused with
  /// every problem found.
  public static func parse(_ bytes: [UInt8], baseDir: String) throws(ConfigError) -> BoardFile {
    let doc: JSONValue
    do { doc = try JSON.parse(bytes) } catch { throw ConfigError(error) }
    let problems = ConfigProblems()
    let board = read(doc, baseDir: baseDir, problems)
    try problems.check()
    return board
  }

  static func read(_ doc: JSONValue, baseDir: String, _ problems: ConfigProblems) -> BoardFile {
    let r = ObjectReader(doc, path: "", known: ["name", "driver", "dir", "lines"], problems: problems)
    let name = r.string("name")
    let driverName = r.oneOf("driver", ["gpiod", "sim"])
    let driver: Driver = driverName == "sim" ? .sim : .gpiod
    var simDir: String? = nil
    if driver == .sim {
      simDir = Paths.resolve(r.string("dir"), against: baseDir)
    } else if r.has("dir") {
      r.fail("dir", "is only for the sim driver")
    }
    var members: [JSONMember] = []
    if let linesValue = r.value("lines") {
      if case .object(let m) = linesValue {
        members = m
      } else {
        r.fail("lines", "must be an object, not " + linesValue.typeName)
      }
    } else if case .object = doc {
      r.fail("lines", "is required")
    }
    if members.count > maxLines {
      r.fail("lines", "has more than " + String(maxLines) + " lines")
      members = []
    }
    var lines: [Line] = []
    for m in members {
      let path = "lines." + m.name
      guard Names.isSafeName(m.name, maxLength: 48) else {
        problems.add(path, "line names are 1-48 letters, digits, '-', '_' or '.'")
        continue
      }
      if lines.contains(where: { $0.name == m.name }) {
        problems.add(path, "given twice")
        continue
      }
      let before = problems.count
      let l = ObjectReader(
        m.value, path: path, known: ["chip", "offset", "direction", "active_low", "debounce_ms"],
        problems: problems)
      let chip: String
      let offset: Int
      if driver == .gpiod {
        chip = l.string("chip")
        offset = l.int("offset", 0...1023)
      } else {
        chip = l.string("chip", default: "sim")
        offset = l.int("offset", 0...1023, default: 0)
      }
      let dir = l.oneOf("direction", ["input", "output"])
      let direction: Direction = dir == "input" ? .input : .output
      let activeLow = l.bool("active_low", default: false)
      let debounce = l.int("debounce_ms", 0...60_000, default: 0)
      if direction == .output && l.has("debounce_ms") {
        l.fail("debounce_ms", "is only for inputs")
      }
      if driver == .gpiod, problems.count == before,
        let other = lines.first(where: { $0.chip == chip && $0.offset == offset })
      {
        problems.add(path, "uses " + chip + " offset " + String(offset) + ", as does line \""
          + other.name + "\"")
      }
      lines.append(
        Line(name: m.name, chip: chip, offset: offset, direction: direction,
             activeLow: activeLow, debounceMs: debounce))
    }
    return BoardFile(name: name, driver: driver, simDir: simDir, lines: lines)
  }
}

/// Path arithmetic, pure: the config's relative paths are relative to the file's folder.
public enum Paths {
  public static func resolve(_ path: String, against baseDir: String) -> String {
    if path.hasPrefix("/") || baseDir.isEmpty { return path }
    return baseDir.hasSuffix("/") ? baseDir + path : baseDir + "/" + path
  }

  /// The folder part of a path: `a/b.json` → `a`, `b.json` → `.`.
  public static func directory(of path: String) -> String {
    let bytes = Array(path.utf8)
    guard let slash = bytes.lastIndex(of: 0x2F) else { return "." }
    if slash == 0 { return "/" }
    return String(decoding: bytes[0..<slash], as: UTF8.self)
  }
}
