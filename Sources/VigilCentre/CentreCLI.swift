import VigilCore
import VigilPlatform

/// `vigil-centre`'s command line: the commands the district centre runs on its own servers,
/// kept out of the board's binary. Options are parsed with `Getopt`, as `vigil`'s are.
public enum CentreCLI {
  static let usage = """
    usage: vigil-centre COMMAND [OPTIONS]

    The district centre's tool for its Vigil gateways; it runs on the centre's servers, not on
    a gateway.

    commands:
      keygen PREFIX             make an Ed25519 key pair for signing configs: PREFIX.key
                                (secret, mode 0600) and PREFIX.pub (the public key, base64)
      sign --key KEY FILE       print the signed envelope {"doc":…,"sig":…} for FILE
      sign-command --key KEY --site SITE LINE...
                                print a signed command for R/cmd (expires in 300 s)
      sign-update --key KEY --site SITE MANIFEST
                                print a signed update manifest for R/update on SITE
      rollout --broker HOST:PORT --sites FILE --key KEY (--config DOC | --update MANIFEST)
                                send a signed config or update to sites in waves, halting
                                at the first site that refuses it or does not answer
      exporter --broker HOST:PORT [...]
                                Prometheus metrics and the district page from the broker
      version                   print the version
      help                      this text

    Each command takes --help.
    """

  /// Entry point; returns the process exit status (2 for a usage error, as `vigil`).
  public static func main(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32
  {
    guard argc >= 2 else {
      err(usage)
      return 2
    }
    let command = argv[1].map { String(cString: $0) } ?? ""
    // Subcommands parse their own options: hand getopt the arguments after the command.
    let subArgc = argc - 1
    let subArgv = argv + 1
    switch command {
    case "keygen": return keygen(subArgc, subArgv)
    case "sign": return sign(subArgc, subArgv)
    case "sign-command": return signCommand(subArgc, subArgv)
    case "sign-update": return signUpdate(subArgc, subArgv)
    case "rollout": return rollout(subArgc, subArgv)
    case "exporter": return exporter(subArgc, subArgv)
    case "version", "--version", "-V":
      out("vigil-centre \(Messages.version)")
      return 0
    case "help", "--help", "-h":
      out(usage)
      return 0
    default:
      err("vigil-centre: unknown command \"\(command)\"\n\n\(usage)")
      return 2
    }
  }

  static func usageError(_ command: String, _ message: String, _ text: String) -> Int32 {
    err("vigil-centre \(command): \(message)\n\n\(text)")
    return 2
  }

  static func out(_ s: String) { try? Sys.writeAll(1, Array((s + "\n").utf8)) }
  static func err(_ s: String) { try? Sys.writeAll(2, Array((s + "\n").utf8)) }
}
