import Foundation
import Testing

/// `vigil-centre sign-update`, run as the centre runs it.
struct SignUpdateTests {
  @Test func signsTheManifestForOneSiteAndRefusesABadOne() throws {
    let dir = Harness.tempDir("sign-update")
    let prefix = dir.appendingPathComponent("centre").path
    let (k, keyOut) = Harness.run(Harness.centreBinary, ["keygen", prefix])
    try #require(k == 0, "\(keyOut)")
    let manifest = dir.appendingPathComponent("m.json").path
    let sha = String(repeating: "0f", count: 32)
    try """
      {"site_id": "template", "version": "0.2.0", "seq": 4, "sha256": "\(sha)", "size": 516616,
       "arch": "aarch64", "url": "https://centre.example/vigil-0.2.0-aarch64"}
      """.write(toFile: manifest, atomically: true, encoding: .utf8)
    let (status, out) = Harness.run(Harness.centreBinary,
                                    ["sign-update", "--key", prefix + ".key", "--site", "tp-0412", manifest])
    #expect(status == 0, "\(out)")
    let envelope = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]
    let doc = (envelope?["doc"] as? String).flatMap { Data(base64Encoded: $0) }
      .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    #expect(doc?["site_id"] as? String == "tp-0412")
    #expect(doc?["seq"] as? Int == 4)
    #expect(doc?["sha256"] as? String == sha)
    #expect((envelope?["sig"] as? String).flatMap { Data(base64Encoded: $0) }?.count == 64)

    let bad = dir.appendingPathComponent("bad.json").path
    try #"{"version": "0.2.0", "seq": 4, "sha256": "\#(sha)", "size": 516616, "arch": "arm64", "url": "https://x/y"}"#
      .write(toFile: bad, atomically: true, encoding: .utf8)
    let (badStatus, badOut) = Harness.run(Harness.centreBinary,
                                          ["sign-update", "--key", prefix + ".key", "--site", "tp-0412", bad])
    #expect(badStatus == 1)
    #expect(badOut.contains("vigil-centre sign-update: \(bad): arch: must be one of aarch64, armv7, x86_64"),
            "\(badOut)")
    let (siteStatus, siteOut) = Harness.run(Harness.centreBinary,
                                            ["sign-update", "--key", prefix + ".key", "--site", "tp/1", manifest])
    #expect(siteStatus == 2)
    #expect(siteOut.contains("--site: \"tp/1\" is not a site id"), "\(siteOut)")
  }
}
