import CVigil
import VigilCore
import VigilPlatform

/// `vigil`'s command line, the board's commands; each parses its options with `Getopt`.
public enum CLI {
  /// The whole command line, for the update launcher's execv.
  nonisolated(unsafe) static var processArgv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
  static let usage = """
    usage: vigil COMMAND [OPTIONS]

    commands:
      run [--config FILE]       run the agent (default config /etc/vigil/config.json)
      check-config FILE         say whether FILE (and the board file it names) is valid
      pin-hash                  read a technician PIN on standard input, print its hash
      version                   print the version
      help                      this text

    Each command takes --help. Signing keys and signed documents are made at the centre,
    with `vigil-centre keygen` and `vigil-centre sign`.
    """

  static let runUsage = """
    usage: vigil run [--config FILE]

    Runs the agent in the foreground until SIGTERM or SIGINT. SIGHUP reloads the config file
    (a file that does not validate is refused and the running config stays).
      -c, --config FILE   the config file (default /etc/vigil/config.json)
      -h, --help          this text
    """

  static let checkUsage = """
    usage: vigil check-config FILE

    Validates FILE and the board file it names: types, ranges, unknown keys, duplicate camera
    ids, camera hosts that are not IP addresses, line names the board lacks. Exit status 0 when
    valid; otherwise 1 and a line for each problem (the first 20) naming the field and the
    reason, then how many there are.
    """

  static let pinHashUsage = """
    usage: vigil pin-hash < FILE

    Reads a technician PIN, one line on standard input (asked for without echo on a
    terminal), and prints its Argon2id hash for the config's "console": {"pin_hash": …}.
    A PIN is 6 to 12 digits. Exit status 0 with the hash; 1 when the PIN is refused.
      -t, --time          also check the PIN against its hash 10 times and say, on
                          stderr, how long one check takes on this machine (a login's cost)
      -h, --help          this text
    """

  /// Entry point; returns the process exit status.
  public static func main(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32
  {
    var args: [String] = []
    for i in 0..<Int(argc) { args.append(argv[i].map { String(cString: $0) } ?? "") }
    guard args.count >= 2 else {
      err(usage)
      return 2
    }
    let command = args[1]
    processArgv = argv
    // Subcommands parse their own options: hand getopt the arguments after the command.
    let subArgc = argc - 1
    let subArgv = argv + 1
    switch command {
    case "run": return run(subArgc, subArgv)
    case "check-config": return checkConfig(subArgc, subArgv)
    case "keygen", "sign":
      // Centre-side commands live in the centre's tool, so the board's binary stays small.
      err("vigil: \"\(command)\" moved to the centre's tool: run `vigil-centre \(command)` on the "
        + "centre's server (the board only checks signatures)")
      return 2
    case "pin-hash": return pinHash(subArgc, subArgv)
    case "version", "--version", "-V":
      out("vigil \(Messages.version)")
      return 0
    case "help", "--help", "-h":
      out(usage)
      return 0
    default:
      err("vigil: unknown command \"\(command)\"\n\n\(usage)")
      return 2
    }
  }

  static func run(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    let p = Getopt.parse(argc, argv, short: "c:h",
                         long: [("config", true, "c"), ("help", false, "h")])
    if let e = p.error { return usageError("run", e, runUsage) }
    var path = "/etc/vigil/config.json"
    for (flag, value) in p.options {
      switch flag {
      case "h":
        out(runUsage)
        return 0
      case "c": path = value ?? path
      default: break
      }
    }
    if !p.operands.isEmpty { return usageError("run", "unexpected \"\(p.operands[0])\"", runUsage) }
    Heap.configure()
    return Agent.run(configPath: path, argv: processArgv)
  }

  static func checkConfig(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32
  {
    let p = Getopt.parse(argc, argv, short: "h", long: [("help", false, "h")])
    if let e = p.error { return usageError("check-config", e, checkUsage) }
    if p.has("h") {
      out(checkUsage)
      return 0
    }
    guard p.operands.count == 1 else {
      return usageError("check-config", "give exactly one FILE", checkUsage)
    }
    let path = p.operands[0]
    do {
      let loaded = try ConfigFile.load(path)
      let c = loaded.config
      let board = loaded.board.map { " board \"\($0.name)\" (\($0.lines.count) lines)," } ?? ""
      out("\(path): valid: site \(c.siteId), version \(c.version),\(board) "
        + "\(c.cameras.count) cameras, \(c.brokers.count) brokers")
      if c.trustedKeys.isEmpty {
        err("\(path): warning: no trusted_keys: anyone who can publish on the broker may "
          + "configure this site and switch its cameras (see \"For the centre\" in the README)")
      }
      return 0
    } catch {
      // Every problem, one line each, so the installer fixes the file in one go.
      for e in error.all { err("\(path): \(e.message)") }
      if error.count > 1 {
        let shown = error.more.count + 1
        err("\(path): \(error.count) problems" + (shown < error.count ? " (first \(shown) shown)" : ""))
      }
      return 1
    }
  }

  static func pinHash(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32
  {
    let p = Getopt.parse(argc, argv, short: "ht",
                         long: [("help", false, "h"), ("time", false, "t")])
    if let e = p.error { return usageError("pin-hash", e, pinHashUsage) }
    if p.has("h") {
      out(pinHashUsage)
      return 0
    }
    if !p.operands.isEmpty {
      return usageError("pin-hash", "unexpected \"\(p.operands[0])\" (the PIN is read on standard "
        + "input, never from the command line, where `ps` would show it)", pinHashUsage)
    }
    let pin: String
    switch readPinLine() {
    case .pin(let s): pin = s
    case .tooLong:
      err("vigil pin-hash: the line is too long (a PIN is 6 to 12 digits)")
      return 1
    case .unreadable(let why):
      err("vigil pin-hash: cannot read standard input: " + why)
      return 1
    }
    if let problem = PinRule.problem(pin) {
      err("vigil pin-hash: " + problem)
      return 1
    }
    guard let hash = PinHash.make(pin) else {
      err("vigil pin-hash: libsodium could not make the hash (out of memory?)")
      return 1
    }
    out(hash)
    if p.has("t") { return timeChecks(pin, hash) }
    return 0
  }

  /// `pin-hash --time`: the median of 10 checks, each what a console login costs the loop.
  static func timeChecks(_ pin: String, _ hash: String) -> Int32 {
    // Ten times, kept in order as they come (an insertion: the generic sort costs 2 KB here).
    var us: [Int64] = []
    for _ in 0..<10 {
      let started = Clock.monotonicNs()
      let r = PinHash.check(pin, against: hash)
      let t = (Clock.monotonicNs() - started) / 1000
      var i = us.count
      us.append(t)
      while i > 0 && us[i - 1] > t {
        us[i] = us[i - 1]
        i -= 1
      }
      us[i] = t
      if r != .match {
        err("vigil pin-hash: the new hash did not check")
        return 1
      }
    }
    let median = (us[4] + us[5]) / 2
    let l = PinHashLimits.preset
    err("one PIN check (Argon2id m=" + String(l.memoryKiB) + " KiB, t=" + String(l.passes) + ", p="
      + String(l.lanes) + "): median " + String(median / 1000) + "." + String(median % 1000 / 100)
      + " ms of 10, " + String(us[0] / 1000) + " to " + String(us[9] / 1000) + " ms")
    return 0
  }

  enum PinLine {
    case pin(String)
    case tooLong
    case unreadable(String)
  }

  /// The first line of standard input without its line end. On a terminal, asks on stderr and
  /// turns echo off while the PIN is typed.
  static func readPinLine() -> PinLine {
    var saved = termios()
    let terminal = isatty(0) == 1 && tcgetattr(0, &saved) == 0
    if terminal {
      var quiet = saved
      quiet.c_lflag &= ~tcflag_t(ECHO)
      tcsetattr(0, TCSANOW, &quiet)
      try? Sys.writeAll(2, Array("PIN: ".utf8))
    }
    defer {
      if terminal {
        tcsetattr(0, TCSANOW, &saved)
        try? Sys.writeAll(2, [0x0A])
      }
    }
    var line: [UInt8] = []
    var byte: UInt8 = 0
    while true {
      let r = CVigil.read(0, &byte, 1)
      if r < 0 {
        if Sys.errno == EINTR { continue }
        return .unreadable(SystemError("read", errno: Sys.errno).message)
      }
      if r == 0 || byte == 0x0A { break }
      line.append(byte)
      if line.count > 64 { return .tooLong }
    }
    if line.last == 0x0D { line.removeLast() }
    return .pin(String(decoding: line, as: UTF8.self))
  }

  static func usageError(_ command: String, _ message: String, _ text: String) -> Int32 {
    err("vigil \(command): \(message)\n\n\(text)")
    return 2
  }

  static func out(_ s: String) { try? Sys.writeAll(1, Array((s + "\n").utf8)) }
  static func err(_ s: String) { try? Sys.writeAll(2, Array((s + "\n").utf8)) }
}

/// The Embedded build's entry point, called from C `main` (Embedded Swift has no CommandLine).
@_cdecl("vigil_entry")
public func vigilMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
  -> Int32
{
  return CLI.main(argc, argv)
}
