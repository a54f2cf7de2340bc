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
    let keyText: [UInt8]
    let doc: [UInt8]
    do throws(SystemError) {
      keyText = try Files.read(key, limit: 4096)
      doc = try Files.read(file, limit: 1 << 20)
    } catch {
      err("vigil-centre sign: \(error.message)")
      return 1
    }
    let trimmed = String(decoding: keyText.filter { $0 > 0x20 }, as: UTF8.self)
    guard let secret = Signature.fromBase64(trimmed), secret.count == 64 else {
      err("vigil-centre sign: \(key) is not a secret key made by `vigil-centre keygen`")
      return 1
    }
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
    guard let sig = Signature.sign(doc, secretKey: secret) else {
      err("vigil-centre sign: signing failed")
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
}
