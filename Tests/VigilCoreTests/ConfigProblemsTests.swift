import Testing
@testable import VigilCore

/// Issue 13 item 7: a document is refused naming every problem it has, each with its field, and
/// a camera is reached by address only.
@Suite struct ConfigProblemsTests {
  func problems(_ text: String) -> ConfigError? {
    do {
      _ = try Config.parse(Array(text.utf8), baseDir: "/etc/vigil")
      return nil
    } catch {
      return error
    }
  }

  @Test func everyProblemIsNamedInTheOrderFound() throws {
    let doc = #"""
      {"version": 0, "site_id": "bad id", "colour": 1, "brokers": [{"host": "h", "port": 0}],
       "cameras": [{"id": "c1", "host": "cam.local"}, {"id": "c1", "host": "192.0.2.2"},
                   {"id": "c3", "host": "192.0.2.3", "owner": "nobody"}],
       "heartbeat_s": "fast"}
      """#
    let e = try #require(problems(doc))
    #expect(e.all.map(\.field) == [
      "colour", "version", "site_id", "brokers[0].port", "cameras[0].host", "cameras[1].id",
      "cameras[2].owner",
      "heartbeat_s",
    ], "\(e.all.map(\.message))")
    #expect(e.count == 8)
    #expect(e.message == "colour: unknown key")
    #expect(e.summary == "colour: unknown key (and 7 more problems)")
  }

  @Test func aDuplicateIdIsReportedWhenBothCamerasAreOtherwiseGood() throws {
    let doc = #"""
      {"version": 1, "site_id": "s", "brokers": [{"host": "h"}],
       "cameras": [{"id": "c1", "host": "192.0.2.1"}, {"id": "c1", "host": "192.0.2.2"}]}
      """#
    let e = try #require(problems(doc))
    #expect(e.all == [ConfigError("cameras[1].id", "\"c1\" is used by another camera")])
  }

  @Test func aValueOfTheWrongShapeIsOneProblemNotOnePerField() throws {
    let e = try #require(problems(#"{"version": 1, "site_id": "s", "brokers": [7]}"#))
    #expect(e.all == [ConfigError("brokers[0]", "must be an object, not a number")], "\(e.all)")
    let top = try #require(problems("[1, 2]"))
    #expect(top.count == 1)
  }

  @Test func onlyTheFirstTwentyAreKeptAndEachIsBounded() throws {
    var keys = ""
    for i in 0..<30 { keys += ", \"junk\(i)\(String(repeating: "x", count: 500))\": 1" }
    let e = try #require(problems(#"{"version": 1, "site_id": "s", "brokers": [{"host": "h"}]"# + keys + "}"))
    #expect(e.count == 30)
    #expect(e.all.count == ConfigProblems.kept)
    #expect(e.all.allSatisfy { $0.field.utf8.count <= 160 && $0.field.hasSuffix("...") })
  }

  @Test func aClippedFieldIsCutBetweenCharacters() {
    let s = String(repeating: "ắ", count: 100)  // 3 bytes each
    let c = ConfigProblems.clipped(s, 160)
    #expect(c.utf8.count <= 160)
    #expect(c.hasSuffix("..."))
    #expect(c.dropLast(3).allSatisfy { $0 == "ắ" })
  }

  @Test func cameraHostsAndURLsMustBeAddresses() throws {
    func camera(_ fields: String) -> [String] {
      let doc = #"{"version": 1, "site_id": "s", "brokers": [{"host": "broker.example"}], "cameras": [{"id": "c", "#
        + fields + "}]}"
      return problems(doc)?.all.map(\.message) ?? []
    }
    #expect(camera(#""host": "192.168.1.64""#).isEmpty)
    #expect(camera(#""host": "fe80::1""#).isEmpty)
    #expect(camera(#""host": "2001:db8::c0a8:140", "rtsp_url": "rtsp://[2001:db8::c0a8:140]:554/s""#).isEmpty)
    #expect(camera(#""host": "camera1""#) == [
      "cameras[0].host: must be an IPv4 or IPv6 address such as 192.168.1.64, not a name "
        + "(\"camera1\"): the agent does no DNS lookups for cameras",
    ])
    #expect(camera(#""host": "10.0.0.5", "snapshot_url": "http://cam.local/snap.jpg""#) == [
      "cameras[0].snapshot_url: must name the camera by its IP address, not a name (\"cam.local\")",
    ])
    #expect(camera(#""host": "10.0.0.5", "rtsp_url": "rtsp://admin:pw@10.0.0.5:554/Streaming/Channels/101""#).isEmpty)
    #expect(camera(#""host": "10.0.0.5", "rtsp_url": "rtsp://:554/x""#) == ["cameras[0].rtsp_url: has no host"])
  }

  @Test(arguments: [
    ("192.168.1.64", true), ("0.0.0.0", true), ("255.255.255.255", true), ("256.1.1.1", false),
    ("1.2.3", false), ("1.2.3.4.5", false), ("01.2.3.4", false), ("1..2.3", false), ("", false),
    ("::", true), ("::1", true), ("fe80::1", true), ("1::", true), ("2001:db8:0:0:0:0:2:1", true),
    ("2001:db8::2:1", true), ("::ffff:192.0.2.1", true), ("1:2:3:4:5:6:7:8", true),
    ("1:2:3:4:5:6:7:8:9", false), ("1:2:3:4:5:6:7", false), ("1::2::3", false), (":1", false),
    ("1:", false), ("12345::", false), ("g::1", false), ("fe80::1%eth0", false),
    ("1.2.3.4::", false), ("camera.local", false), ("localhost", false),
  ])
  func addressLiterals(_ s: String, _ ok: Bool) {
    #expect(IPLiteral.isAddress(s) == ok, "\(s)")
  }

  @Test func urlHosts() {
    #expect(IPLiteral.host(ofURL: "http://192.0.2.1/snap.jpg") == "192.0.2.1")
    #expect(IPLiteral.host(ofURL: "rtsp://u:p@192.0.2.1:554/s") == "192.0.2.1")
    #expect(IPLiteral.host(ofURL: "http://[fe80::1]:80/") == "fe80::1")
    #expect(IPLiteral.host(ofURL: "http://cam?x=1") == "cam")
    #expect(IPLiteral.host(ofURL: "http://[fe80::1") == nil)
    #expect(IPLiteral.host(ofURL: "nourl") == nil)
  }

  @Test func authIsDigestUnlessTheCameraSaysBasic() throws {
    func cam(_ extra: String) throws -> Config.Camera? {
      try Config.parse(Array((#"{"version": 1, "site_id": "s", "brokers": [{"host": "h"}], "cameras": [{"id": "c", "host": "10.0.0.1""#
        + extra + "}]}").utf8), baseDir: "/").cameras.first
    }
    #expect(try cam("")?.basicAuth == false)
    #expect(try cam(#", "auth": "digest""#)?.basicAuth == false)
    #expect(try cam(#", "auth": "basic""#)?.basicAuth == true)
    #expect(throws: ConfigError("cameras[0].auth", "must be one of digest, basic (got \"ntlm\")")) {
      _ = try cam(#", "auth": "ntlm""#)
    }
  }

  @Test func moreCamerasThanAGatewayWatchesIsOneProblem() throws {
    let cams = (0..<300).map { #"{"id": "c\#($0)", "host": "10.0.0.1"}"# }.joined(separator: ",")
    let e = try #require(problems(#"{"version": 1, "site_id": "s", "brokers": [{"host": "h"}], "cameras": ["# + cams + "]}"))
    #expect(e.all == [ConfigError("cameras", "has 300 cameras; a gateway watches at most 256")])
  }

  @Test func aBoardFileNamesEveryProblem() throws {
    let text = #"""
      {"name": "b", "driver": "gpiod", "lines": {
        "a": {"chip": "gpiochip0", "offset": 2000, "direction": "input"},
        "b c": {"chip": "gpiochip0", "offset": 1, "direction": "input"},
        "d": {"chip": "gpiochip0", "offset": 1, "direction": "sideways"},
        "e": {"chip": "gpiochip0", "offset": 1, "direction": "output", "debounce_ms": 5}}}
      """#
    do {
      _ = try BoardFile.parse(Array(text.utf8), baseDir: "/")
      Issue.record("accepted")
    } catch {
      #expect(error.all.map(\.field) == ["lines.a.offset", "lines.b c", "lines.d.direction",
                                         "lines.e.debounce_ms"], "\(error.all)")
    }
  }
}
