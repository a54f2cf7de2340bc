import CVigil
import VigilCore
import VigilPlatform

/// The centre's connection to the district's broker as its commands take it on the command line
/// (`--broker HOST:PORT`, `--username`, `--password-file`, `--ca-file`, `--prefix`): read and
/// checked one way for `exporter` and `rollout`.
enum BrokerOptions {
  /// What is wrong, naming the option; `isUsage`: a wrong command line (exit 2, with the
  /// usage), else a file that cannot be read (exit 1).
  struct Problem: Error {
    let message: String
    let isUsage: Bool
  }

  /// `HOST:PORT` or `[IPv6]:PORT`, a port from 1 to 65535; nil when it is neither.
  static func hostPort(_ s: String) -> (String, Int)? {
    guard let colon = s.lastIndex(of: ":") else { return nil }
    var host = String(s[s.startIndex..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty, let port = Int(s[s.index(after: colon)...]), port >= 1, port <= 65_535
    else { return nil }
    return (host, port)
  }

  /// A topic prefix: not empty, no wildcards, no '/' at either end.
  static func isTopicPrefix(_ s: String) -> Bool {
    !s.isEmpty && !s.hasPrefix("/") && !s.hasSuffix("/") && !s.contains("+") && !s.contains("#")
  }

  /// The broker the options name: its address, the username and the password file's first
  /// line (a CR before the LF dropped), TLS checked against `caFile` when given.
  static func broker(_ text: String?, username: String?, passwordFile: String?, caFile: String?)
    throws(Problem) -> Config.Broker
  {
    guard let t = text else { throw Problem(message: "--broker HOST:PORT is required", isUsage: true) }
    guard let (host, port) = hostPort(t) else {
      throw Problem(message: "--broker \"" + t + "\" is not HOST:PORT (a port from 1 to 65535)",
                    isUsage: true)
    }
    if passwordFile != nil && username == nil {
      throw Problem(message: "--password-file needs --username", isUsage: true)
    }
    var b = Config.Broker(host: host, port: port, username: username)
    if let f = passwordFile {
      let bytes = try read("--password-file", f)
      let line = bytes.split(separator: 0x0A, maxSplits: 1, omittingEmptySubsequences: false).first ?? []
      b.password = String(decoding: line.filter { $0 != 0x0D }, as: UTF8.self)
    }
    if let ca = caFile {
      _ = try read("--ca-file", ca)
      b.tls = Config.TLS(caFile: ca)
    }
    return b
  }

  private static func read(_ option: String, _ path: String) throws(Problem) -> [UInt8] {
    do throws(SystemError) { return try Files.read(path, limit: 1 << 20) } catch {
      let text = strerror(error.errno).map { String(cString: $0) } ?? "errno \(error.errno)"
      let verb = error.call == "open" ? "open" : "read"
      throw Problem(message: option + " " + path + ": cannot " + verb + " it: " + text, isUsage: false)
    }
  }
}
