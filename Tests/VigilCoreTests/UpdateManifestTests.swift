import Testing
@testable import VigilCore

/// Issue 16: the update manifest's checks, and the state kept on disk.
@Suite struct UpdateManifestTests {
  let hash = String(repeating: "ab", count: 32)
  var arch: String { UpdateManifest.buildArch }

  func doc(_ changes: [String: String] = [:], drop: String? = nil) -> [UInt8] {
    var fields: [(String, String)] = [
      ("site_id", "\"s1\""), ("version", "\"0.2.0\""), ("seq", "5"), ("sha256", "\"\(hash)\""),
      ("size", "524288"), ("arch", "\"\(arch)\""), ("url", "\"https://centre.example/v/0.2.0\""),
    ]
    for (k, v) in changes {
      if let i = fields.firstIndex(where: { $0.0 == k }) { fields[i].1 = v } else { fields.append((k, v)) }
    }
    fields.removeAll { $0.0 == drop }
    return Array(("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}").utf8)
  }

  func refusal(_ bytes: [UInt8]) -> String {
    do {
      _ = try UpdateManifest.read(bytes, siteId: "s1")
      return "accepted"
    } catch {
      return error.message
    }
  }

  @Test func aGoodManifestReads() throws {
    let m = try UpdateManifest.read(doc(), siteId: "s1")
    #expect(m.version == "0.2.0" && m.seq == 5 && m.size == 524288 && m.sha256 == hash)
    #expect(m.trialS == UpdateManifest.defaultTrialS)
    #expect(try UpdateManifest.read(doc(["trial_s": "30"]), siteId: "s1").trialS == 30)
  }

  @Test func eachBadFieldIsNamed() {
    #expect(refusal(doc(["site_id": "\"s2\""])).hasPrefix("site_id: the document was signed for another site"))
    #expect(refusal(doc(drop: "site_id")).hasPrefix("site_id: a signed document must name its site"))
    #expect(refusal(doc(["version": "\"0.2.0; rm -rf /\""])).hasPrefix("version: may hold only"))
    #expect(refusal(doc(["seq": "0"])).hasPrefix("seq: must be a whole number of at least 1"))
    #expect(refusal(doc(["seq": "1.5"])).hasPrefix("seq: "))
    #expect(refusal(doc(["sha256": "\"ABCD\""])).hasPrefix("sha256: must be 64 lowercase hex digits"))
    #expect(refusal(doc(["sha256": "\"\(String(repeating: "AB", count: 32))\""])).hasPrefix("sha256: "))
    #expect(refusal(doc(["size": "0"])).hasPrefix("size: "))
    #expect(refusal(doc(["size": "3000000000"])).hasPrefix("size: "))  // past 16 MiB, and 32-bit Int
    #expect(refusal(doc(["arch": "\"mips\""])) == "arch: is mips; this box runs \(arch)")
    #expect(refusal(doc(["url": "\"file:///etc/shadow\""])).hasPrefix("url: must be an http"))
    #expect(refusal(doc(["url": "\"http://a b\""])).hasPrefix("url: may not hold spaces"))
    #expect(refusal(doc(["trial_s": "5"])).hasPrefix("trial_s: must be a whole number of seconds from 10"))
    #expect(refusal(doc(["extra": "1"])) == "extra: unknown key")
    #expect(refusal(Array("[1]".utf8)).hasPrefix("must be a JSON object"))
    #expect(refusal(Array("{\"seq\": ".utf8)) != "accepted")
  }

  @Test func theStateFileRoundTripsAndRefusesAPathForItsPrevious() {
    let s = UpdateState(phase: .trial, version: "0.2.0", seq: 5, lastSeq: 5, reason: nil, trialS: 30,
                        previous: "vigil-4", previousVersion: "0.1.0", tsMs: 1_700_000_000_000)
    #expect(UpdateState.read(s.encode()) == s)
    let text = String(decoding: s.encode(), as: UTF8.self)
    #expect(text.hasPrefix(#"{"state":"trial","version":"0.2.0","seq":5,"reason":null,"ts":1700000000000,"#))
    var bad = s
    bad.previous = "../../usr/bin/sh"
    #expect(UpdateState.read(bad.encode()) == nil)
    #expect(UpdateState.read(Array("{\"state\":\"trial\"}".utf8)) == nil)
    #expect(UpdateState.read(Array("not json".utf8)) == nil)
  }
}
