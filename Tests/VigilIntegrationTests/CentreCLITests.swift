import Foundation
import Testing

/// `vigil-centre` as the centre's operator runs it: keygen, sign, usage errors, help.
@Suite struct CentreCLITests {
  func centre(_ args: [String]) -> (Int32, String) { Harness.run(Harness.centreBinary, args) }

  /// A key pair made in a fresh folder; its prefix.
  func keyPair() throws -> String {
    let prefix = Harness.tempDir("centre").appendingPathComponent("centre").path
    let (s, out) = centre(["keygen", prefix])
    try #require(s == 0, "\(out)")
    return prefix
  }

  @Test func keygenWritesASecretKeyOnlyItsOwnerReadsAndAPublicKeyLine() throws {
    let prefix = try keyPair()
    let attributes = try FileManager.default.attributesOfItem(atPath: prefix + ".key")
    #expect(attributes[.posixPermissions] as? Int == 0o600)
    let pub = try String(contentsOfFile: prefix + ".pub", encoding: .utf8)
    #expect(pub.hasSuffix("\n") && !pub.dropLast().contains("\n"))
    #expect(Data(base64Encoded: String(pub.dropLast()))?.count == 32)
  }

  @Test func keygenRefusesToOverwriteEitherFile() throws {
    let prefix = try keyPair()
    let secret = try String(contentsOfFile: prefix + ".key", encoding: .utf8)
    let (s, out) = centre(["keygen", prefix])
    #expect(s == 1)
    #expect(out.contains("vigil-centre keygen: \(prefix).key exists; not overwriting it"), "\(out)")
    #expect(try String(contentsOfFile: prefix + ".key", encoding: .utf8) == secret)
    // Only the public half left behind: still refused, and no secret key written beside it.
    let lone = Harness.tempDir("centre").appendingPathComponent("lone").path
    try "x\n".write(toFile: lone + ".pub", atomically: true, encoding: .utf8)
    let (s2, out2) = centre(["keygen", lone])
    #expect(s2 == 1)
    #expect(out2.contains("\(lone).pub exists; not overwriting it"), "\(out2)")
    #expect(!FileManager.default.fileExists(atPath: lone + ".key"))
  }

  @Test func signPrintsTheEnvelopeOfTheFileBytes() throws {
    let prefix = try keyPair()
    let doc = #"{"version": 2, "heartbeat_s": 30}"# + "\n"
    let file = prefix + "-v2.json"
    try doc.write(toFile: file, atomically: true, encoding: .utf8)
    let (s, out) = centre(["sign", "--key", prefix + ".key", file])
    try #require(s == 0, "\(out)")
    let envelope = try #require(
      try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: String], "\(out)")
    #expect(envelope["doc"] == Data(doc.utf8).base64EncodedString())
    #expect(Data(base64Encoded: envelope["sig"] ?? "")?.count == 64)
  }

  @Test func signOfAFileThatIsNotAJSONObjectNamesTheProblem() throws {
    let prefix = try keyPair()
    let cases = [
      ("broken.json", #"{"version": 2,"#, "broken.json is not a JSON object: not valid JSON"),
      ("list.json", "[1, 2]", "list.json is not a JSON object: it is an array"),
    ]
    for (name, text, message) in cases {
      let file = URL(fileURLWithPath: prefix).deletingLastPathComponent()
        .appendingPathComponent(name).path
      try text.write(toFile: file, atomically: true, encoding: .utf8)
      let (s, out) = centre(["sign", "--key", prefix + ".key", file])
      #expect(s == 1, "\(name)")
      #expect(out.contains("vigil-centre sign: ") && out.contains(message), "\(out)")
      #expect(!out.contains("\"sig\""), "\(out)")
    }
  }

  @Test func signNamesAKeyThatIsNotASecretKey() throws {
    let prefix = try keyPair()
    let file = prefix + "-v2.json"
    try #"{"version": 2}"#.write(toFile: file, atomically: true, encoding: .utf8)
    let (s, out) = centre(["sign", "--key", prefix + ".pub", file])
    #expect(s == 1)
    #expect(out.contains("\(prefix).pub is not a secret key made by `vigil-centre keygen`"),
            "\(out)")
    let (s2, out2) = centre(["sign", "--key", prefix + ".missing", file])
    #expect(s2 == 1)
    #expect(out2.contains("\(prefix).missing"), "\(out2)")
  }

  @Test func usageErrorsExitTwo() {
    #expect(centre([]).0 == 2)
    let (s, out) = centre(["frobnicate"])
    #expect(s == 2)
    #expect(out.contains("vigil-centre: unknown command \"frobnicate\""), "\(out)")
    let (s2, out2) = centre(["sign", "x.json"])
    #expect(s2 == 2)
    #expect(out2.contains("vigil-centre sign: --key is required"), "\(out2)")
    #expect(centre(["keygen"]).0 == 2)
    #expect(centre(["keygen", "--force", "x"]).0 == 2)
    let (s3, out3) = centre(["sign-command", "--key", "k", "--site", "s", "--ttl", "601", "status"])
    #expect(s3 == 2 && out3.contains("--ttl must be 1 to 600 seconds"), "\(out3)")
    let (s4, out4) = centre(["sign-command", "--key", "k", "status"])
    #expect(s4 == 2 && out4.contains("--site is required"), "\(out4)")
    let (s5, out5) = centre(["sign-command", "--key", "k", "--site", "s"])
    #expect(s5 == 2 && out5.contains("give the command line"), "\(out5)")
  }

  @Test func helpAndVersion() {
    let (s, v) = centre(["version"])
    #expect(s == 0 && v.hasPrefix("vigil-centre 0.1.0"), "\(v)")
    for args in [["help"], ["--help"]] {
      let (s, out) = centre(args)
      #expect(s == 0)
      #expect(out.contains("usage: vigil-centre COMMAND") && out.contains("keygen PREFIX"))
    }
    for cmd in ["keygen", "sign", "sign-command"] {
      let (s, out) = centre([cmd, "--help"])
      #expect(s == 0)
      #expect(out.contains("usage: vigil-centre \(cmd)"), "\(out)")
    }
  }
}
