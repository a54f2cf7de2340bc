import VigilCore
import VigilPlatform

/// What a command printed, and whether it worked.
public struct CommandResult {
  public var ok: Bool
  public var output: String

  public static func ok(_ output: String) -> CommandResult { CommandResult(ok: true, output: output) }
  public static func fail(_ output: String) -> CommandResult {
    CommandResult(ok: false, output: output)
  }
}

/// Where a command came from: the console and `R/cmd` run the same dispatcher, and
/// state-changing commands are reported as events naming their origin.
public enum CommandOrigin: Equatable {
  case console
  case remote(id: String)

  var label: String {
    switch self {
    case .console: return "console"
    case .remote: return "mqtt"
    }
  }
}

/// The one command dispatcher behind the serial console and `R/cmd`.
final class Commands {
  struct Entry {
    var name: String
    var usage: String
    var summary: String
    var run: (_ args: [String], _ origin: CommandOrigin) -> CommandResult
  }

  private(set) var entries: [Entry] = []
  /// Longest accepted line, for the console and `R/cmd` alike.
  static let maxLine = 256

  func register(_ name: String, usage: String, summary: String,
                _ run: @escaping (_ args: [String], _ origin: CommandOrigin) -> CommandResult)
  {
    entries.removeAll { $0.name == name }
    entries.append(Entry(name: name, usage: usage, summary: summary, run: run))
  }

  /// Runs one line such as `relay cam1 cycle`.
  func run(_ line: String, origin: CommandOrigin) -> CommandResult {
    if line.utf8.count > Self.maxLine {
      return .fail("line too long (at most " + String(Self.maxLine) + " characters)")
    }
    for b in line.utf8 where b < 0x20 && b != 0x09 || b == 0x7F {
      return .fail("line holds control characters")
    }
    let words = CommandWords.split(line)
    guard let name = words.first else { return .fail("empty command; try \"help\"") }
    guard let entry = entries.first(where: { $0.name == name }) else {
      return .fail("unknown command \"" + name + "\"; try \"help\"")
    }
    return entry.run(Array(words.dropFirst()), origin)
  }

  /// `help`: one line per command, fitting 80 columns.
  func helpText() -> String {
    var out = ""
    for e in entries {
      var left = e.usage
      while left.utf8.count < 26 { left += " " }
      out += left + " " + e.summary + "\n"
    }
    return out
  }
}
