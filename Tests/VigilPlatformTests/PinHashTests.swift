import Foundation
import Testing
import VigilCore
@testable import VigilPlatform

/// PIN checks through libsodium, bounded by the preset before libsodium sees the hash.
@Suite struct PinHashTests {
  @Test func aHashMadeHereChecksItsPinAndNoOther() throws {
    let hash = try #require(PinHash.make("246810"))
    #expect(hash.hasPrefix("$argon2id$v=19$m=4096,t=3,p=1$"))
    #expect(PinHash.check("246810", against: hash) == .match)
    #expect(PinHash.check("246811", against: hash) == .wrong)
    #expect(PinHash.check("", against: hash) == .wrong)
  }

  /// The verify path refuses on its own, whatever config validation let through: a hash asking
  /// for 1 GiB (or 2^32-1 passes) is refused at once, never handed to Argon2.
  @Test(arguments: ["m=1048576,t=3,p=1", "m=4096,t=4294967295,p=1", "m=4096,t=3,p=255",
                    "m=4294967296,t=3,p=1"])
  func aHashBeyondThePresetIsRefusedWithoutRunningArgon2(_ params: String) throws {
    let good = try #require(PinHash.make("246810"))
    let bad = good.replacingOccurrences(of: "m=4096,t=3,p=1", with: params)
    let started = Date()
    let r = PinHash.check("246810", against: bad)
    guard case .refused(let why) = r else {
      Issue.record("checked: \(r)")
      return
    }
    #expect(!why.isEmpty)
    #expect(Date().timeIntervalSince(started) < 0.005, "refused from the string alone")
  }

  @Test func garbageIsRefusedNotChecked() {
    for h in ["", "$argon2id$", "$argon2id$v=19$m=4096,t=3,p=1$x$y", "plain"] {
      if case .refused = PinHash.check("246810", against: h) { continue }
      Issue.record("not refused: \(h)")
    }
  }
}
