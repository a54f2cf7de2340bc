import CSodium

import VigilCore

/// Technician PIN hashes: Argon2id through libsodium, in its `$argon2id$v=19$m=…,t=…,p=1$…`
/// string form, which carries its own salt and limits. A hash whose limits pass
/// `PinHashLimits.preset` is refused before libsodium sees it: libsodium would take them as
/// written, and a hash asking for 1 GiB would stall or kill the board at the next login.
public enum PinHash {
  /// The preset's memory (4 MiB) and passes (3); its reasons are at `PinHashLimits.preset`.
  public static let memoryBytes = Int(PinHashLimits.preset.memoryKiB) * 1024
  public static let passes = Int(PinHashLimits.preset.passes)

  /// The outcome of one PIN check.
  public enum Check: Equatable {
    case match
    case wrong
    /// The hash was not checked at all: why (a reason after `console.pin_hash: `).
    case refused(String)
  }

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

  /// Whether `pin` matches `hash`. A hash that is not one, or asks for more than the preset, is
  /// refused without running Argon2: the check stays as short as the preset makes it.
  public static func check(_ pin: String, against hash: String) -> Check {
    do throws(PinHashRefusal) { _ = try PinHashLimits.checked(hash) } catch {
      return .refused(error.reason)
    }
    guard initialize() else { return .refused("libsodium cannot start (no entropy source?)") }
    let bytes = Array(pin.utf8)
    if bytes.isEmpty { return .wrong }
    let ok = bytes.withUnsafeBufferPointer { p in
      p.baseAddress.map { base in
        base.withMemoryRebound(to: CChar.self, capacity: bytes.count) { c in
          crypto_pwhash_str_verify(hash, c, UInt64(bytes.count)) == 0
        }
      } ?? false
    }
    return ok ? .match : .wrong
  }
}
