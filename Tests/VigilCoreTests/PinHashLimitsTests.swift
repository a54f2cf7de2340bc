import Foundation
import Testing
@testable import VigilCore

/// The Argon2 limits read from a PIN hash string, and the preset bound on them.
@Suite struct PinHashLimitsTests {
  /// A hash `vigil pin-hash` made (of 246810).
  static let made = "$argon2id$v=19$m=4096,t=3,p=1$NRx1sQb9eHfqAhPoFZatpg$s0Sg9HmqJ+blw7XQHMSp169zGf5ow1ZI4js55D2Spm0"
  static let salt = "NRx1sQb9eHfqAhPoFZatpg"
  static let digest = "s0Sg9HmqJ+blw7XQHMSp169zGf5ow1ZI4js55D2Spm0"

  static func hash(_ params: String, v: String = "v=19") -> String {
    "$argon2id$\(v)$\(params)$\(salt)$\(digest)"
  }

  func reason(_ hash: String) -> String? {
    do throws(PinHashRefusal) {
      _ = try PinHashLimits.checked(hash)
      return nil
    } catch {
      return error.reason
    }
  }

  @Test func theHashPinHashMakesIsWithinThePreset() throws {
    let l = try PinHashLimits.checked(Self.made)
    #expect(l == PinHashLimits.preset)
    #expect(l == PinHashLimits(memoryKiB: 4096, passes: 3, lanes: 1))
  }

  @Test func cheaperLimitsAreAccepted() throws {
    let l = try PinHashLimits.checked(Self.hash("m=1024,t=1,p=1"))
    #expect(l.memoryKiB == 1024 && l.passes == 1 && l.lanes == 1)
  }

  @Test(arguments: [
    ("m=1048576,t=3,p=1", "m=1048576 KiB"),  // 1 GiB: the remote trust issue's example
    ("m=4097,t=3,p=1", "m=4097 KiB"),
    ("m=4096,t=4,p=1", "t=4"),
    ("m=4096,t=3,p=2", "p=2"),
    ("m=4294967295,t=4294967295,p=16777215", "m=4294967295 KiB"),
  ])
  func limitsBeyondThePresetAreRefused(_ params: String, _ named: String) {
    let r = reason(Self.hash(params))
    #expect(r?.contains(named) == true, "\(r ?? "accepted")")
    #expect(r?.contains("m=4096 KiB, t=3, p=1") == true, "the preset is named: \(r ?? "")")
    // Parsing alone accepts them: the bound is a separate step.
    #expect((try? PinHashLimits.parse(Self.hash(params))) != nil)
  }

  @Test(arguments: [
    // Numbers beyond 32 bits: refused, never wrapped (4294967296 + 4096 would wrap to 4096).
    "m=4294971392,t=3,p=1", "m=4294967296,t=3,p=1", "m=99999999999999999999999,t=3,p=1",
    "m=4096,t=4294967299,p=1", "m=4096,t=3,p=18446744073709551617",
    // Signs, zeros, spaces, other digits, missing or extra parameters, wrong order.
    "m=-4096,t=3,p=1", "m=+4096,t=3,p=1", "m=0,t=3,p=1", "m=04096,t=3,p=1", "m=4096,t=0,p=1",
    "m=4096,t=3,p=0", "m= 4096,t=3,p=1", "m=4096 ,t=3,p=1", "m=４０９６,t=3,p=1", "m=,t=3,p=1",
    "m=4096,t=3", "m=4096,t=3,p=1,x=1", "t=3,m=4096,p=1", "m=4096;t=3;p=1", "M=4096,t=3,p=1",
    "m=0x1000,t=3,p=1", "m=4096,,t=3,p=1", "",
  ])
  func malformedParametersAreRefused(_ params: String) {
    let r = reason(Self.hash(params))
    #expect(r != nil, "accepted \(params)")
    #expect((try? PinHashLimits.parse(Self.hash(params))) == nil)
  }

  @Test(arguments: [
    "", "1234", "$argon2id$...", "$argon2id$x", "$argon2i$v=19$m=4096,t=3,p=1$\(salt)$\(digest)",
    "$argon2d$v=19$m=4096,t=3,p=1$\(salt)$\(digest)", "argon2id$v=19$m=4096,t=3,p=1$\(salt)$\(digest)",
    "$argon2id$v=16$m=4096,t=3,p=1$\(salt)$\(digest)", "$argon2id$m=4096,t=3,p=1$\(salt)$\(digest)",
    "$argon2id$v=19$m=4096,t=3,p=1$\(salt)", "$argon2id$v=19$m=4096,t=3,p=1$\(salt)$\(digest)$",
    "$argon2id$v=19$m=4096,t=3,p=1$short$\(digest)", "$argon2id$v=19$m=4096,t=3,p=1$\(salt)$short",
    "$argon2id$v=19$m=4096,t=3,p=1$\(salt)==$\(digest)", "$argon2id$v=19$m=4096,t=3,p=1$\(salt)$\(digest)\n",
    "$argon2id$v=19$m=4096,t=3,p=1$\(salt)$\(digest)\u{0}", "$ARGON2ID$v=19$m=4096,t=3,p=1$\(salt)$\(digest)",
    "$argon2id$v=19$m=4096,t=3,p=1$\(salt)$\(String(repeating: "A", count: 100))",
  ])
  func malformedHashesAreRefused(_ hash: String) {
    #expect(reason(hash) != nil, "accepted \(hash)")
  }

  @Test func everyTruncationOfAGoodHashIsRefused() {
    let bytes = Array(Self.made.utf8)
    // Below 16 digest characters the digest is too short; any cut before it breaks the shape.
    let digestStart = bytes.count - Self.digest.utf8.count
    for n in 0..<(digestStart + 16) {
      let cut = String(decoding: bytes[0..<n], as: UTF8.self)
      #expect(reason(cut) != nil, "accepted a cut at \(n): \(cut)")
    }
  }

  @Test func randomBytesNeverTrap() {
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<2000 {
      let n = Int.random(in: 0..<140, using: &rng)
      let alphabet = Array("$argon2idv=19mtp,0123456789AZaz+/=-".utf8)
      let bytes = (0..<n).map { _ in alphabet.randomElement(using: &rng) ?? 0x24 }
      _ = reason(String(decoding: bytes, as: UTF8.self))
    }
  }
}
