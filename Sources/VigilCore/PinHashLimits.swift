/// What an Argon2id PIN hash asks the board to spend, read from its string form
/// (`$argon2id$v=19$m=4096,t=3,p=1$<salt>$<digest>`, libsodium's and the reference encoding).
///
/// Argon2 takes its cost from the hash string itself: a verify of a hash that says `m=1048576`
/// allocates 1 GiB, which stalls or kills a 256 MiB board at the next login, on the agent's one
/// thread. So a hash is refused, before libsodium sees it, unless its memory, passes and lanes
/// are all within `preset`, the limits `vigil pin-hash` uses.
public struct PinHashLimits: Equatable {
  /// Memory in KiB (Argon2's `m`).
  public var memoryKiB: UInt32
  /// Passes over the memory (`t`).
  public var passes: UInt32
  /// Lanes (`p`); libsodium always makes 1 and computes lanes one after the other anyway.
  public var lanes: UInt32

  public init(memoryKiB: UInt32, passes: UInt32, lanes: UInt32) {
    self.memoryKiB = memoryKiB
    self.passes = passes
    self.lanes = lanes
  }

  /// `vigil pin-hash`'s limits: 4 MiB, 3 passes, 1 lane. libsodium's "interactive" preset
  /// (64 MiB, 2 passes) is sized for servers; a gateway may have 256 MiB in all and checks the
  /// PIN on its one thread. 4 MiB × 3 passes is 12,288 block compressions: 8-19 ms on the x86-64
  /// development host, ~0.1-0.2 s on a Cortex-A53 (README, "The serial console", has the
  /// measured figures). The lockout, not the hash's cost, is what protects a 6-12 digit PIN.
  public static let preset = PinHashLimits(memoryKiB: 4096, passes: 3, lanes: 1)

  /// libsodium's `crypto_pwhash_STRBYTES`: a hash string is shorter than this.
  public static let maxLength = 128

  /// The limits written in `hash`, or why it is not an Argon2id v1.3 hash string.
  public static func parse(_ hash: String) throws(PinHashRefusal) -> PinHashLimits {
    let bytes = Array(hash.utf8)
    if bytes.count >= maxLength {
      throw PinHashRefusal("is " + String(bytes.count)
        + " bytes long; a hash from `vigil pin-hash` is under " + String(maxLength))
    }
    let parts = bytes.split(separator: 0x24, omittingEmptySubsequences: false)  // "$"
    // "", "argon2id", "v=19", "m=…,t=…,p=…", salt, digest
    guard parts.count == 6, parts[0].isEmpty, parts[1].elementsEqual("argon2id".utf8) else {
      throw PinHashRefusal("must be an Argon2id hash made by `vigil pin-hash` ($argon2id$v=19$m=…)")
    }
    guard parts[2].elementsEqual("v=19".utf8) else {
      throw PinHashRefusal("must be Argon2 version 19 (\"v=19\"), the one libsodium makes")
    }
    let fields = parts[3].split(separator: 0x2C, omittingEmptySubsequences: false)  // ","
    guard fields.count == 3 else {
      throw PinHashRefusal("its parameters must read \"m=KiB,t=passes,p=lanes\"")
    }
    let m = try number(fields[0], named: "m")
    let t = try number(fields[1], named: "t")
    let p = try number(fields[2], named: "p")
    guard isBase64(parts[4], atLeast: 8) else {
      throw PinHashRefusal("its salt must be unpadded base64, at least 8 characters")
    }
    guard isBase64(parts[5], atLeast: 16) else {
      throw PinHashRefusal("its digest must be unpadded base64, at least 16 characters")
    }
    return PinHashLimits(memoryKiB: m, passes: t, lanes: p)
  }

  /// The limits of `hash` if it parses and stays within `preset`; else why not.
  public static func checked(_ hash: String) throws(PinHashRefusal) -> PinHashLimits {
    let l = try parse(hash)
    let most = preset
    if l.memoryKiB > most.memoryKiB || l.passes > most.passes || l.lanes > most.lanes {
      throw PinHashRefusal(
        "asks Argon2 for m=" + String(l.memoryKiB) + " KiB, t=" + String(l.passes) + ", p="
          + String(l.lanes) + "; a gateway checks at "
          + "most m=" + String(most.memoryKiB) + " KiB, t=" + String(most.passes) + ", p="
          + String(most.lanes) + " (the `vigil pin-hash` "
          + "preset): make the hash again with `vigil pin-hash`")
    }
    return l
  }

  /// `name=digits`: a decimal from 1 to 2^32-1, no sign, no leading zero. Checked arithmetic,
  /// so `m=99999999999999999999` is refused rather than wrapped (a 32-bit board's Int too).
  private static func number(_ field: ArraySlice<UInt8>, named name: String)
    throws(PinHashRefusal) -> UInt32
  {
    let prefix = Array((name + "=").utf8)
    let shape = "its parameters must read \"m=KiB,t=passes,p=lanes\""
    guard field.count > prefix.count, field.prefix(prefix.count).elementsEqual(prefix) else {
      throw PinHashRefusal(shape)
    }
    let digits = field.dropFirst(prefix.count)
    guard let first = digits.first, first != 0x30 else {
      throw PinHashRefusal(name + " must be a number from 1 to " + String(UInt32.max)
        + ", without leading zeros")
    }
    var value: UInt32 = 0
    for d in digits {
      guard d >= 0x30, d <= 0x39 else { throw PinHashRefusal(shape) }
      let times = value.multipliedReportingOverflow(by: 10)
      let plus = times.partialValue.addingReportingOverflow(UInt32(d - 0x30))
      if times.overflow || plus.overflow {
        throw PinHashRefusal(name + " must be a number from 1 to " + String(UInt32.max))
      }
      value = plus.partialValue
    }
    return value
  }

  private static func isBase64(_ s: ArraySlice<UInt8>, atLeast n: Int) -> Bool {
    if s.count < n { return false }
    for c in s {
      let ok = (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39)
        || c == 0x2B || c == 0x2F
      if !ok { return false }
    }
    return true
  }
}

/// Why a PIN hash is refused, as a reason after the field's name (`console.pin_hash: …`).
public struct PinHashRefusal: Error, Equatable {
  public var reason: String
  public init(_ reason: String) { self.reason = reason }
}
