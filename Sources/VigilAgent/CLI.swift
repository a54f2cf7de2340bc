import CVigil
import VigilCore
import VigilPlatform

/// `vigil`'s command line, parsed with getopt_long(3): the embedded convention, and
/// swift-argument-parser does not build in Embedded mode.
public enum CLI {
  static let usage = """
    usage: vigil COMMAND [OPTIONS]

    commands:
      run [--config FILE]       run the agent (default config /etc/vigil/config.json)
      check-config FILE         say whether FILE (and the board file it names) is valid
      keygen PREFIX             make an Ed25519 key pair for signing configs: PREFIX.key
                                (secret, mode 0600) and PREFIX.pub (the public key, base64)
      sign --key KEY FILE       print the signed envelope {"doc":…,"sig":…} for FILE
      pin-hash                  read a technician PIN on standard input, print its hash
      version                   print the version
      help                      this text

    Each command takes --help.
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
    ids, line names the board lacks. Exit status 0 when valid; otherwise 1 and a line naming
    the field and the reason.
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
    // Subcommands parse their own options: hand getopt the arguments after the command.
    let subArgc = argc - 1
    let subArgv = argv + 1
    switch command {
    case "run": return run(subArgc, subArgv)
    case "check-config": return checkConfig(subArgc, subArgv)
    case "keygen": return keygen(subArgc, subArgv)
    case "sign": return sign(subArgc, subArgv)
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

  /// The result of getopt_long over one command's arguments.
  struct Parsed {
    var options: [(Character, String?)] = []
    var operands: [String] = []
    var error: String?
  }

  /// Runs getopt_long over `argv` with long options given as (name, takes argument, short).
  static func parse(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
                    short: String, long: [(String, Bool, Character)]) -> Parsed {
    var result = Parsed()
    // The names must outlive the parse; they are few and the process is short-lived here.
    var table: [option] = long.map { entry in
      option(name: strdup(entry.0), has_arg: entry.1 ? required_argument : no_argument,
             flag: nil, val: Int32(entry.2.asciiValue ?? 0))
    }
    table.append(option(name: nil, has_arg: 0, flag: nil, val: 0))
    optind = 0  // glibc: 0 re-initialises getopt for a fresh argument vector
    opterr = 0
    // '+': stop at the first operand, as POSIX asks; ':' first: report a missing argument.
    let spec = "+:" + short
    while true {
      var index: Int32 = 0
      let c = table.withUnsafeBufferPointer { buf in
        getopt_long(argc, argv, spec, buf.baseAddress, &index)
      }
      if c == -1 { break }
      let prev = Int(optind) - 1
      let word = prev >= 0 && prev < Int(argc) ? (argv[prev].map { String(cString: $0) } ?? "") : ""
      if c == Int32(UInt8(ascii: "?")) {
        result.error = "unknown option \"\(word)\""
        break
      }
      if c == Int32(UInt8(ascii: ":")) {
        result.error = "option \"\(word)\" needs a value"
        break
      }
      let arg = optarg.map { String(cString: $0) }
      result.options.append((Character(Unicode.Scalar(UInt8(truncatingIfNeeded: c))), arg))
    }
    for entry in table { free(UnsafeMutableRawPointer(mutating: entry.name)) }
    var i = Int(optind)
    while i < Int(argc) {
      result.operands.append(argv[i].map { String(cString: $0) } ?? "")
      i += 1
    }
    return result
  }

  static func run(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    let p = parse(argc, argv, short: "c:h", long: [("config", true, "c"), ("help", false, "h")])
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
    return Agent.run(configPath: path)
  }

  static func checkConfig(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32
  {
    let p = parse(argc, argv, short: "h", long: [("help", false, "h")])
    if let e = p.error { return usageError("check-config", e, checkUsage) }
    if p.options.contains(where: { $0.0 == "h" }) {
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
      return 0
    } catch {
      err("\(path): \(error.message)")
      return 1
    }
  }

  static let keygenUsage = """
    usage: vigil keygen PREFIX

    Makes an Ed25519 key pair for the centre: PREFIX.key, the secret key in base64 (mode 0600;
    keep it at the centre), and PREFIX.pub, the public key in base64 on one line, for the
    gateways' trusted_keys. Existing files are never overwritten.
    """

  static let signUsage = """
    usage: vigil sign --key PREFIX.key FILE

    Prints {"doc": base64(FILE), "sig": base64(Ed25519 signature of FILE's bytes)}, the
    envelope a gateway with trusted_keys accepts on R/config/set. FILE must be a JSON object.
      -k, --key FILE   the secret key made by `vigil keygen`
    """

  static func keygen(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32
  {
    let p = parse(argc, argv, short: "h", long: [("help", false, "h")])
    if let e = p.error { return usageError("keygen", e, keygenUsage) }
    if p.options.contains(where: { $0.0 == "h" }) {
      out(keygenUsage)
      return 0
    }
    guard p.operands.count == 1, !p.operands[0].isEmpty else {
      return usageError("keygen", "give exactly one PREFIX", keygenUsage)
    }
    let prefix = p.operands[0]
    for path in [prefix + ".key", prefix + ".pub"] where Files.exists(path) {
      err("vigil keygen: \(path) exists; not overwriting it")
      return 1
    }
    guard let pair = Signature.keyPair() else {
      err("vigil keygen: libsodium could not make a key pair")
      return 1
    }
    let publicKey = Signature.base64(pair.publicKey)
    do throws(SystemError) {
      try Files.writeAtomically(
        prefix + ".key", Array((Signature.base64(pair.secretKey) + "\n").utf8), mode: 0o600)
      try Files.writeAtomically(prefix + ".pub", Array((publicKey + "\n").utf8), mode: 0o644)
    } catch {
      err("vigil keygen: \(error.message)")
      return 1
    }
    out("wrote \(prefix).key (secret) and \(prefix).pub: \(publicKey)")
    return 0
  }

  static func sign(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    let p = parse(argc, argv, short: "k:h", long: [("key", true, "k"), ("help", false, "h")])
    if let e = p.error { return usageError("sign", e, signUsage) }
    var keyPath: String? = nil
    for (flag, value) in p.options {
      if flag == "h" {
        out(signUsage)
        return 0
      }
      if flag == "k" { keyPath = value }
    }
    guard let key = keyPath else { return usageError("sign", "--key is required", signUsage) }
    guard p.operands.count == 1 else { return usageError("sign", "give exactly one FILE", signUsage) }
    let file = p.operands[0]
    let keyText: [UInt8]
    let doc: [UInt8]
    do throws(SystemError) {
      keyText = try Files.read(key, limit: 4096)
      doc = try Files.read(file, limit: 1 << 20)
    } catch {
      err("vigil sign: \(error.message)")
      return 1
    }
    let trimmed = String(decoding: keyText.filter { $0 > 0x20 }, as: UTF8.self)
    guard let secret = Signature.fromBase64(trimmed), secret.count == 64 else {
      err("vigil sign: \(key) is not a secret key made by `vigil keygen`")
      return 1
    }
    guard let parsed = try? JSON.parse(doc), case .object = parsed else {
      err("vigil sign: \(file) is not a JSON object")
      return 1
    }
    guard let sig = Signature.sign(doc, secretKey: secret) else {
      err("vigil sign: signing failed")
      return 1
    }
    var w = JSONWriter()
    w.beginObject()
    w.field("doc", Signature.base64(doc))
    w.field("sig", Signature.base64(sig))
    w.endObject()
    out(w.text)
    return 0
  }

  static func pinHash(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32
  {
    let p = parse(argc, argv, short: "ht", long: [("help", false, "h"), ("time", false, "t")])
    if let e = p.error { return usageError("pin-hash", e, pinHashUsage) }
    if p.options.contains(where: { $0.0 == "h" }) {
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
      err("vigil pin-hash: cannot read standard input: \(why)")
      return 1
    }
    if let problem = PinRule.problem(pin) {
      err("vigil pin-hash: \(problem)")
      return 1
    }
    guard let hash = PinHash.make(pin) else {
      err("vigil pin-hash: libsodium could not make the hash (out of memory?)")
      return 1
    }
    out(hash)
    if p.options.contains(where: { $0.0 == "t" }) { return timeChecks(pin, hash) }
    return 0
  }

  /// `pin-hash --time`: the median of 10 checks, each what a console login costs the loop.
  static func timeChecks(_ pin: String, _ hash: String) -> Int32 {
    var us: [Int64] = []
    for _ in 0..<10 {
      let started = Clock.monotonicNs()
      let r = PinHash.check(pin, against: hash)
      us.append((Clock.monotonicNs() - started) / 1000)
      if r != .match {
        err("vigil pin-hash: the new hash did not check (\(r))")
        return 1
      }
    }
    us.sort()
    let median = (us[4] + us[5]) / 2
    let l = PinHashLimits.preset
    err("one PIN check (Argon2id m=\(l.memoryKiB) KiB, t=\(l.passes), p=\(l.lanes)): median "
      + "\(median / 1000).\(median % 1000 / 100) ms of 10, \(us[0] / 1000) to \(us[9] / 1000) ms")
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
