import CVigil

/// getopt_long(3) over one command's arguments, for `vigil` and `vigil-centre`: the embedded
/// convention, and swift-argument-parser does not build in Embedded mode.
public enum Getopt {
  /// What one parse found: the options in order, the operands after them, or the first error.
  public struct Parsed {
    public var options: [(Character, String?)] = []
    public var operands: [String] = []
    public var error: String?

    /// Whether the option `flag` was given.
    public func has(_ flag: Character) -> Bool { options.contains(where: { $0.0 == flag }) }
  }

  /// Runs getopt_long over `argv` with long options given as (name, takes argument, short).
  public static func parse(
    _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
    short: String, long: [(String, Bool, Character)]
  ) -> Parsed {
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
}
