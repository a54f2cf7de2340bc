import CSodium

/// Technician PIN hashes: Argon2id through libsodium, in its `$argon2id$v=19$m=…,t=…,p=1$…`
/// string form, which carries its own salt and limits (so a hash made with other limits still
/// verifies).
public enum PinHash {
  /// Argon2id with 4 MiB of memory and 3 passes. libsodium's "interactive" preset (64 MiB, 2
  /// passes) is sized for servers; a gateway board may have 256 MiB in all, and the check runs
  /// on the agent's one thread. 4 MiB × 3 passes takes about 15 ms on the x86-64 build host and,
  /// by the same count of 12,288 block compressions, about 0.1-0.2 s on a Cortex-A53 at 1.2 GHz:
  /// well under a second, a pause the loop can afford once per typed PIN. What protects a
  /// 6-to-12-digit PIN is the lockout (and the config file's permissions), not the hash's cost:
  /// it only makes a stolen config slower to search.
  public static let memoryBytes = 4 << 20
  public static let passes = 3

  private static var ready = false

  /// `sodium_init` once per process; false if libsodium cannot start (no entropy source).
  static func initialize() -> Bool {
    if ready { return true }
    ready = sodium_init() >= 0
    return ready
  }

  /// The hash string for `pin`, or nil if libsodium fails (out of memory).
  public static func make(_ pin: String) -> String? {
    guard initialize() else { return nil }
    var out = [CChar](repeating: 0, count: Int(crypto_pwhash_strbytes()))
    let bytes = Array(pin.utf8)
    let r = bytes.withUnsafeBufferPointer { p in
      p.baseAddress.map { base in
        base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { c in
          crypto_pwhash_str_alg(
            &out, c, UInt64(bytes.count), UInt64(passes), memoryBytes,
            crypto_pwhash_alg_argon2id13())
        }
      } ?? -1
    }
    if r != 0 { return nil }
    return String(cString: out)
  }

  /// Whether `pin` matches `hash`; false too for a hash that is not one.
  public static func verify(_ pin: String, against hash: String) -> Bool {
    guard initialize() else { return false }
    let bytes = Array(pin.utf8)
    if bytes.isEmpty { return false }
    return bytes.withUnsafeBufferPointer { p in
      p.baseAddress.map { base in
        base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { c in
          crypto_pwhash_str_verify(hash, c, UInt64(bytes.count)) == 0
        }
      } ?? false
    }
  }

  /// Whether `hash` has the shape of an Argon2id string (the check a login makes cannot tell a
  /// damaged hash from a wrong PIN, so the agent warns about it at start).
  public static func looksValid(_ hash: String) -> Bool {
    let parts = hash.split(separator: "$", omittingEmptySubsequences: false)
    // "", "argon2id", "v=19", "m=…,t=…,p=…", salt, digest
    return parts.count == 6 && parts[0].isEmpty && parts[1] == "argon2id"
      && parts[2].hasPrefix("v=") && parts[3].hasPrefix("m=") && parts[4].utf8.count >= 8
      && parts[5].utf8.count >= 16 && hash.utf8.count < Int(crypto_pwhash_strbytes())
  }
}
