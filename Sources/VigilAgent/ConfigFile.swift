import VigilCore
import VigilPlatform

/// A configuration as loaded from disk: the document, and the board file it names, both
/// validated and checked against each other.
public struct LoadedConfig {
  public var config: Config
  public var board: BoardFile?
  public var path: String
  /// The document as stored, and parsed: remote documents are compared and merged with it.
  public var bytes: [UInt8]
  public var document: JSONValue
}

public enum ConfigFile {
  /// Reads and validates `path` and its board file. Every failure names the field or file.
  public static func load(_ path: String) throws(ConfigError) -> LoadedConfig {
    let bytes: [UInt8]
    do { bytes = try Files.read(path, limit: 1 << 20) } catch {
      throw ConfigError("", "cannot read " + path + ": " + error.message)
    }
    return try validate(bytes, path: path)
  }

  /// Validates a document as if it were at `path` (relative paths resolve against its folder).
  /// Refused with every problem found, the board file's among them.
  public static func validate(_ bytes: [UInt8], path: String) throws(ConfigError) -> LoadedConfig {
    let document: JSONValue
    do { document = try JSON.parse(bytes) } catch { throw ConfigError(error) }
    let problems = ConfigProblems()
    let config = Config.read(document, baseDir: Paths.directory(of: path), problems: problems)
    var board: BoardFile? = nil
    if let b = config.board {
      do { board = try loadBoard(b) } catch { problems.add(error) }
    }
    // Lines are checked against a board that was read, or against none when none is named.
    if board != nil || document["board"] == nil { config.check(against: board, problems) }
    try problems.check()
    return LoadedConfig(config: config, board: board, path: path, bytes: bytes, document: document)
  }

  /// A refused file in the log: the first problem with how many there are, then the others.
  static func log(_ what: String, _ error: ConfigError) {
    Log.error(what + ": " + error.summary)
    for e in error.more { Log.error(what + ": also " + e.message) }
  }

  public static func loadBoard(_ path: String?) throws(ConfigError) -> BoardFile? {
    guard let path = path else { return nil }
    let bytes: [UInt8]
    do { bytes = try Files.read(path, limit: 1 << 20) } catch {
      throw ConfigError("board", "cannot read board file " + path + ": " + error.message)
    }
    do {
      return try BoardFile.parse(bytes, baseDir: Paths.directory(of: path))
    } catch {
      // Each of the board file's problems, named as the board file's.
      var first = ConfigError("board", "board file " + path + ": " + error.message)
      for e in error.more {
        first.more.append(ConfigError("board", "board file " + path + ": " + e.message))
      }
      first.count = error.count
      throw first
    }
  }
}
