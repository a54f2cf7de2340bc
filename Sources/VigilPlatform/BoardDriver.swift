import VigilCore

/// A board line that cannot be opened, read or written: which line of the board file, and why.
public struct BoardError: Error {
  public var line: String
  public var reason: String

  public init(line: String, _ reason: String) {
    self.line = line
    self.reason = reason
  }

  /// `board line "cam1_power": gpiochip0 offset 17 is in use by "gpiomon"`.
  public var message: String { line.isEmpty ? reason : "board line \"" + line + "\": " + reason }
}

/// The GPIO lines of a board file, whatever drives them: the real chip through libgpiod
/// (`GPIOChip`) or the simulated board's folder of files (`SimBoard`). Levels are logical:
/// `active_low` is applied by the driver, so an input reads true when what it watches is
/// present (power good, door closed, mains ok) and a relay written true powers its camera.
public protocol BoardDriver: AnyObject {
  /// Called in the loop with a line's name when an input may have changed; read it then.
  var onInput: ((String) -> Void)? { get set }
  /// Requests every line of the board file: inputs watched in the loop, outputs driven at their
  /// safe level (relays on: cameras powered). On failure nothing stays requested.
  func open() throws(BoardError)
  /// The logical level of a line now (an output: the level it is driven at).
  func read(_ name: String) throws(BoardError) -> Bool
  /// Drives an output line at a logical level.
  func write(_ name: String, _ on: Bool) throws(BoardError)
  /// Releases every line; outputs are first set to their safe level.
  func close()
}

public enum Board {
  /// The driver a board file names.
  public static func driver(for file: BoardFile, loop: EventLoop) -> any BoardDriver {
    switch file.driver {
    case .gpiod: return GPIOChip(file, loop: loop)
    case .sim: return SimBoard(file, loop: loop)
    }
  }

  /// The physical level for a logical one, and back: `active_low` inverts.
  @inline(__always)
  static func physical(_ logical: Bool, _ line: BoardFile.Line) -> Bool {
    line.activeLow ? !logical : logical
  }
}
