import VigilCore
import VigilPlatform

/// `keygen` and `sign`: the centre's Ed25519 key pair and the signed envelopes a gateway with
/// `trusted_keys` accepts. The secret key never leaves the centre.
extension CentreCLI {
  static let keygenUsage = """
    usage: vigil-centre keygen PREFIX

    Makes an Ed25519 key pair for the centre: PREFIX.key, the secret key in base64 (mode 0600;
    keep it at the centre), and PREFIX.pub, the public key in base64 on one line, for the
    gateways' trusted_keys. Existing files are never overwritten.
    """

  static let signUsage = """
    usage: vigil-centre sign --key PREFIX.key FILE

    Prints {"doc": base64(FILE), "sig": base64(Ed25519 signature of FILE's bytes)}, the
    envelope a gateway with trusted_keys accepts on R/config/set. FILE must be a JSON object.
      -k, --key FILE   the secret key made by `vigil-centre keygen`
    """

  static let signCommandUsage = """
    usage: vigil-centre sign-command --key PREFIX.key --site SITE [--id ID] [--ttl S]
                                     [--boot N] LINE...

    Prints the signed envelope of one command for R/cmd on a site with trusted_keys: its
    document is {"site_id":SITE,"id":ID,"expires":now+S,"line":LINE}. The gateway runs it once,
    before it expires, and refuses it again (a replay), for another site, or after expiry.
      -k, --key FILE   the secret key made by `vigil-centre keygen`
      -s, --site SITE  the site it is for
      -i, --id ID      a unique id (default: random); the answer on R/cmd/result carries it
      -t, --ttl S      seconds until it expires, 1-600 (default 300)
      -b, --boot N     only this boot of the box (its heartbeat's boot_id) runs it
    """

  static func keygen(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32
  {
    let p = Getopt.parse(argc, argv, short: "h", long: [("help", false, "h")])
    if let e = p.error { return usageError("keygen", e, keygenUsage) }
    if p.has("h") {
      out(keygenUsage)
      return 0
    }
    guard p.operands.count == 1, !p.operands[0].isEmpty else {
      return usageError("keygen", "give exactly one PREFIX", keygenUsage)
    }
    let prefix = p.operands[0]
    for path in [prefix + ".key", prefix + ".pub"] where Files.exists(path) {
      err("vigil-centre keygen: \(path) exists; not overwriting it")
      return 1
    }
    guard let pair = Signature.keyPair() else {
      err("vigil-centre keygen: libsodium could not make a key pair")
      return 1
    }
    let publicKey = Signature.base64(pair.publicKey)
    do throws(SystemError) {
      try Files.writeAtomically(
        prefix + ".key", Array((Signature.base64(pair.secretKey) + "\n").utf8), mode: 0o600)
      try Files.writeAtomically(prefix + ".pub", Array((publicKey + "\n").utf8), mode: 0o644)
    } catch {
      err("vigil-centre keygen: \(error.message)")
      return 1
    }
    out("wrote \(prefix).key (secret) and \(prefix).pub: \(publicKey)")
    return 0
  }

  static func signCommand(_ argc: Int32,
                          _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32
  {
    let p = Getopt.parse(argc, argv, short: "k:s:i:t:b:h",
                         long: [("key", true, "k"), ("site", true, "s"), ("id", true, "i"),
                                ("ttl", true, "t"), ("boot", true, "b"), ("help", false, "h")])
    if let e = p.error { return usageError("sign-command", e, signCommandUsage) }
    var keyPath: String? = nil
    var site: String? = nil
    var id = String(Sys.random64(), radix: 16)
    var ttl: Int64 = 300
    var boot: Int64? = nil
    for (flag, arg) in p.options {
      let value = arg ?? ""
      switch flag {
      case "h":
        out(signCommandUsage)
        return 0
      case "k": keyPath = value
      case "s": site = value
      case "i": id = value
      case "t":
        guard let t = Int64(value), t >= 1, t <= SignedCommand.maxAheadS else {
          return usageError("sign-command", "--ttl must be 1 to 600 seconds", signCommandUsage)
        }
        ttl = t
      case "b":
        guard let b = Int64(value), b >= 1 else {
          return usageError("sign-command", "--boot must be a boot id (a positive number)", signCommandUsage)
        }
        boot = b
      default: break
      }
    }
    guard let key = keyPath else { return usageError("sign-command", "--key is required", signCommandUsage) }
    guard let s = site, !s.isEmpty else {
      return usageError("sign-command", "--site is required", signCommandUsage)
    }
    guard !p.operands.isEmpty else {
      return usageError("sign-command", "give the command line", signCommandUsage)
    }
    var line = ""
    for w in p.operands { line += line.isEmpty ? w : " " + w }
    guard let secret = readSecret(key, "sign-command") else { return 1 }
    var w = JSONWriter()
    w.beginObject()
    w.field("site_id", s)
    w.field("id", id)
    w.field("expires", Clock.wallMs() / 1000 + ttl)
    if let b = boot { w.field("boot_id", b) }
    w.field("line", line)
    w.endObject()
    return printEnvelope(w.bytes, secret, "sign-command")
  }

  /// The secret key at `path`, or nil after saying why.
  static func readSecret(_ path: String, _ command: String) -> [UInt8]? {
    let keyText: [UInt8]
    do { keyText = try Files.read(path, limit: 4096) } catch {
      err("vigil-centre \(command): \(error.message)")
      return nil
    }
    return secretKey(keyText, path, command)
  }

  /// The secret key in `keyText` (the contents of `path`), or nil after saying why.
  static func secretKey(_ keyText: [UInt8], _ path: String, _ command: String) -> [UInt8]? {
    let trimmed = String(decoding: keyText.filter { $0 > 0x20 }, as: UTF8.self)
    guard let secret = Signature.fromBase64(trimmed), secret.count == 64 else {
      err("vigil-centre \(command): \(path) is not a secret key made by `vigil-centre keygen`")
      return nil
    }
    return secret
  }

  /// `{"doc":…,"sig":…}` for `doc`, or nil when libsodium cannot sign.
  static func envelope(_ doc: [UInt8], _ secret: [UInt8]) -> [UInt8]? {
    guard let sig = Signature.sign(doc, secretKey: secret) else { return nil }
    var w = JSONWriter()
    w.beginObject()
    w.field("doc", Signature.base64(doc))
    w.field("sig", Signature.base64(sig))
    w.endObject()
    return w.bytes
  }

  /// Prints `{"doc":…,"sig":…}` for `doc`; the exit status.
  static func printEnvelope(_ doc: [UInt8], _ secret: [UInt8], _ command: String) -> Int32 {
    guard let e = envelope(doc, secret) else {
      err("vigil-centre \(command): signing failed")
      return 1
    }
    out(String(decoding: e, as: UTF8.self))
    return 0
  }

  static let signUpdateUsage = """
    usage: vigil-centre sign-update --key PREFIX.key --site SITE MANIFEST

    Prints the signed envelope of an update manifest for R/update on one site: MANIFEST is
    {"version","seq","sha256","size","arch","url"}, checked field by field, and the signed
    document is it with "site_id": SITE added (a site_id in MANIFEST is replaced). `rollout
    --update` does the same for each site of a rollout.
      -k, --key FILE   the secret key made by `vigil-centre keygen`
      -s, --site SITE  the site it is for
    """

  static func signUpdate(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32
  {
    let p = Getopt.parse(argc, argv, short: "k:s:h",
                         long: [("key", true, "k"), ("site", true, "s"), ("help", false, "h")])
    if let e = p.error { return usageError("sign-update", e, signUpdateUsage) }
    var keyPath: String? = nil
    var site: String? = nil
    for (flag, value) in p.options {
      switch flag {
      case "h":
        out(signUpdateUsage)
        return 0
      case "k": keyPath = value
      case "s": site = value
      default: break
      }
    }
    guard let key = keyPath else { return usageError("sign-update", "--key is required", signUpdateUsage) }
    guard let s = site else { return usageError("sign-update", "--site is required", signUpdateUsage) }
    guard Names.isSafeName(s, maxLength: 64) else {
      return usageError("sign-update", "--site: \"\(s)\" is not a site id (1-64 letters, "
        + "digits, '-', '_' or '.')", signUpdateUsage)
    }
    guard p.operands.count == 1 else {
      return usageError("sign-update", "give exactly one MANIFEST", signUpdateUsage)
    }
    let file = p.operands[0]
    let target: RolloutTarget
    do throws(SystemError) {
      let bytes = try Files.read(file, limit: 1 << 20)
      do throws(RolloutError) { target = try RolloutTarget.update(bytes, path: file) } catch {
        err("vigil-centre sign-update: \(error.message)")
        return 1
      }
    } catch {
      err("vigil-centre sign-update: \(error.message)")
      return 1
    }
    guard let secret = readSecret(key, "sign-update") else { return 1 }
    return printEnvelope(target.document(for: s), secret, "sign-update")
  }

  static func sign(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32
  {
    let p = Getopt.parse(argc, argv, short: "k:h", long: [("key", true, "k"), ("help", false, "h")])
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
    guard p.operands.count == 1 else {
      return usageError("sign", "give exactly one FILE", signUsage)
    }
    let file = p.operands[0]
    let doc: [UInt8]
    do throws(SystemError) { doc = try Files.read(file, limit: 1 << 20) } catch {
      err("vigil-centre sign: \(error.message)")
      return 1
    }
    guard let secret = readSecret(key, "sign") else { return 1 }
    // A gateway takes only a JSON object: say what the file is instead, and where it breaks.
    do throws(JSONParseError) {
      let parsed = try JSON.parse(doc)
      guard case .object = parsed else {
        err("vigil-centre sign: \(file) is not a JSON object: it is \(parsed.typeName)")
        return 1
      }
    } catch {
      err("vigil-centre sign: \(file) is not a JSON object: \(error.message)")
      return 1
    }
    return printEnvelope(doc, secret, "sign")
  }
}
