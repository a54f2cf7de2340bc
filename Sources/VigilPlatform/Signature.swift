import CSodium

/// Ed25519 signatures and base64, from libsodium: the centre signs configuration documents,
/// the gateway checks them against `trusted_keys`. The board calls only `fromBase64` and
/// `verify`; `base64`, `keyPair` and `sign` serve `vigil-centre`, and the board's Embedded link
/// drops them (link-time optimisation and --gc-sections keep only what is called).
public enum Signature {
  private static var ready = false

  /// sodium_init once; it only fails if the kernel gives no randomness.
  @discardableResult
  public static func initialise() -> Bool {
    if ready { return true }
    ready = sodium_init() >= 0
    return ready
  }

  public static func base64(_ bytes: [UInt8]) -> String {
    let variant = Int32(sodium_base64_VARIANT_ORIGINAL)
    let size = Int(sodium_base64_encoded_len(bytes.count, variant))
    var out = [CChar](repeating: 0, count: size)
    bytes.withUnsafeBufferPointer { src in
      _ = sodium_bin2base64(&out, size, src.baseAddress, src.count, variant)
    }
    return String(cString: out)
  }

  /// Decodes standard base64 (padding required); nil for anything else.
  public static func fromBase64(_ text: String) -> [UInt8]? {
    let input = Array(text.utf8)
    var out = [UInt8](repeating: 0, count: input.count / 4 * 3 + 3)
    var length = 0
    let outCount = out.count
    // sodium stops at the first byte that is not base64: all of the text must have been read.
    let whole = input.withUnsafeBufferPointer { src -> Bool in
      src.withMemoryRebound(to: CChar.self) { chars -> Bool in
        guard let base = chars.baseAddress else { return false }
        var end: UnsafePointer<CChar>? = nil
        let rc = sodium_base642bin(&out, outCount, base, chars.count, nil, &length, &end,
                                   Int32(sodium_base64_VARIANT_ORIGINAL))
        return rc == 0 && end == base + chars.count
      }
    }
    return whole ? Array(out[0..<length]) : nil
  }

  /// Whether `sig` is a valid signature of `message` by any of `publicKeys` (base64).
  public static func verify(_ message: [UInt8], signature sig: [UInt8], publicKeys: [String]) -> Bool {
    guard initialise(), sig.count == 64 else { return false }
    for key in publicKeys {
      guard let pk = fromBase64(key), pk.count == 32 else { continue }
      let rc = message.withUnsafeBufferPointer { m in
        crypto_sign_verify_detached(sig, m.baseAddress, UInt64(m.count), pk)
      }
      if rc == 0 { return true }
    }
    return false
  }

  /// A new key pair: (public 32 bytes, secret 64 bytes).
  public static func keyPair() -> (publicKey: [UInt8], secretKey: [UInt8])? {
    guard initialise() else { return nil }
    var pk = [UInt8](repeating: 0, count: 32)
    var sk = [UInt8](repeating: 0, count: 64)
    guard crypto_sign_keypair(&pk, &sk) == 0 else { return nil }
    return (pk, sk)
  }

  /// The detached signature of `message` with a 64-byte secret key.
  public static func sign(_ message: [UInt8], secretKey: [UInt8]) -> [UInt8]? {
    guard initialise(), secretKey.count == 64 else { return nil }
    var sig = [UInt8](repeating: 0, count: 64)
    var sigLength: UInt64 = 0
    let rc = message.withUnsafeBufferPointer { m in
      crypto_sign_detached(&sig, &sigLength, m.baseAddress, UInt64(m.count), secretKey)
    }
    return rc == 0 ? sig : nil
  }
}

/// SHA-256 over a stream, from libsodium: a downloaded binary is hashed a piece at a time, so no
/// step of the loop costs more than one piece.
public final class SHA256Stream {
  private var state = crypto_hash_sha256_state()

  public init() { crypto_hash_sha256_init(&state) }

  public func update(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    crypto_hash_sha256_update(&state, base.assumingMemoryBound(to: UInt8.self),
                              UInt64(bytes.count))
  }

  /// The digest as 64 lowercase hex digits.
  public func finish() -> String {
    var out = [UInt8](repeating: 0, count: 32)
    crypto_hash_sha256_final(&state, &out)
    let digits: StaticString = "0123456789abcdef"
    var hex: [UInt8] = []
    hex.reserveCapacity(64)
    for b in out {
      hex.append(digits.utf8Start[Int(b >> 4)])
      hex.append(digits.utf8Start[Int(b & 15)])
    }
    return String(decoding: hex, as: UTF8.self)
  }
}
