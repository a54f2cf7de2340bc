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
      throw ConfigError("", "cannot read \(path): \(error.message)")
    }
    return try validate(bytes, path: path)
  }

  /// Validates a document as if it were at `path` (relative paths resolve against its folder).
  public static func validate(_ bytes: [UInt8], path: String) throws(ConfigError) -> LoadedConfig {
    let document: JSONValue
    do { document = try JSON.parse(bytes) } catch { throw ConfigError("", error.message) }
    let config = try Config.parse(document, baseDir: Paths.directory(of: path))
    let board = try loadBoard(config.board)
    try config.validate(against: board)
    return LoadedConfig(config: config, board: board, path: path, bytes: bytes, document: document)
  }

  public static func loadBoard(_ path: String?) throws(ConfigError) -> BoardFile? {
    guard let path = path else { return nil }
    let bytes: [UInt8]
    do { bytes = try Files.read(path, limit: 1 << 20) } catch {
      throw ConfigError("board", "cannot read board file \(path): \(error.message)")
    }
    do {
      return try BoardFile.parse(bytes, baseDir: Paths.directory(of: path))
    } catch {
      let inner = error.field.isEmpty ? error.reason : "\(error.field): \(error.reason)"
      throw ConfigError("board", "board file \(path): \(inner)")
    }
  }
}
