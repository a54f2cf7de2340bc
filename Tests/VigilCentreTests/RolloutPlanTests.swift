import Testing
import VigilCore
@testable import VigilCentre

/// The pure parts of a rollout: the sites file, the waves, the documents and how a site's
/// answer is read.
struct RolloutPlanTests {
  func sites(_ text: String) throws(RolloutError) -> [String] {
    try SitesFile.parse(Array(text.utf8), path: "sites.txt")
  }

  /// The message of the RolloutError `body` throws; nil when it throws none.
  func problem(_ body: () throws -> Void) -> String? {
    do { try body() } catch { return (error as? RolloutError)?.message ?? "\(error)" }
    return nil
  }

  @Test func sitesFileKeepsOrderAndSkipsCommentsAndBlanks() throws {
    #expect(try sites("# ward Tân Sơn Nhì\ntp-0001\n\n  tp-0002  # the canary's neighbour\r\ntp-0003")
            == ["tp-0001", "tp-0002", "tp-0003"])
  }

  @Test func sitesFileProblemsNameTheLine() {
    #expect(problem { _ = try sites("tp-0001\ntp 0002\n") }
            == "sites.txt line 2: \"tp 0002\" is more than one site id (give one a line)")
    #expect(problem { _ = try sites("tp-0001\n\nvigil/tp-0002\n") }
            == "sites.txt line 3: \"vigil/tp-0002\" is not a site id (1-64 letters, digits, '-', '_' or '.')")
    #expect(problem { _ = try sites("tp-0001\ntp-0002\ntp-0001\n") }
            == "sites.txt line 3: tp-0001 is listed twice (first on line 1)")
    #expect(problem { _ = try sites("# nothing yet\n\n") } == "sites.txt lists no sites")
  }

  @Test func wavesRepeatTheLastSizeAndRoundPercentagesUp() throws {
    let w = try RolloutWaves.parse("1,5,25%")
    #expect(w.sizes == [.sites(1), .sites(5), .percent(25)])
    // 100 sites: 1, 5, then 25 at a time, the last wave what is left.
    #expect(w.cut(100).map { $0.count } == [1, 5, 25, 25, 25, 19])
    #expect(w.cut(3).map { $0.count } == [1, 2])
    #expect(try RolloutWaves.parse("10%").cut(11).map { $0.count } == [2, 2, 2, 2, 2, 1])
    #expect(try RolloutWaves.parse("100%").cut(7) == [0..<7])
  }

  @Test func badWaveSizesAreRefusedNamingThem() {
    for bad in ["0", "1,,5", "0%", "101%", "-3", "five", ""] {
      #expect(problem { _ = try RolloutWaves.parse(bad) }?.hasPrefix("--waves: \"") == true,
              "\(bad)")
    }
  }

  @Test func eachSitesCopyNamesItAndKeepsTheRest() throws {
    let t = try RolloutTarget.config(
      Array(#"{"site_id":"template","version":8,"heartbeat_s":30}"#.utf8), path: "v8.json")
    #expect(t.label == "v8")
    #expect(String(decoding: t.document(for: "tp-0007"), as: UTF8.self)
            == #"{"site_id":"tp-0007","version":8,"heartbeat_s":30}"#)
    #expect(problem { _ = try RolloutTarget.config(Array(#"{"heartbeat_s":30}"#.utf8), path: "d.json") }
            == "d.json: version: missing (a document needs an integer version)")
    #expect(problem { _ = try RolloutTarget.config(Array(#"{"version":"8"}"#.utf8), path: "d.json") }
            == "d.json: version: must be an integer from 1 (got \"8\")")
    #expect(problem { _ = try RolloutTarget.config(Array(#"{"doc":"e30=","sig":"x"}"#.utf8), path: "d.json") }
            == "d.json is a signed envelope: give the plain document, the rollout signs each site's copy")
    #expect(problem { _ = try RolloutTarget.config(Array("[1]".utf8), path: "d.json") }
            == "d.json is not a JSON object: it is an array")
  }

  @Test func configAnswersAreReadForThisVersionOnly() throws {
    let t = try RolloutTarget.config(Array(#"{"version":8}"#.utf8), path: "v8.json")
    func a(_ s: String) -> RolloutTarget.Answer { t.answer(Array(s.utf8)) }
    #expect(a(#"{"version":8,"status":"applied","error":null}"#) == .success("applied v8"))
    #expect(a(#"{"version":8,"status":"pending_confirm","error":null}"#) == .progress("pending_confirm v8"))
    #expect(a(#"{"version":8,"status":"rolled_back","error":"no broker connection within 300 s"}"#)
            == .failure("rolled_back v8: no broker connection within 300 s"))
    // A signed document refused before its version was read is answered with version null.
    #expect(a(#"{"version":null,"status":"rejected","error":"door_line: no such line"}"#)
            == .failure("rejected v8: door_line: no such line"))
    #expect(a(#"{"version":7,"status":"applied","error":null}"#) == .other)
    #expect(a(#"{"version":7,"status":"rolled_back","error":"x"}"#) == .other)
    #expect(a("not json") == .other)
    #expect(t.alreadyThere(Array(#"{"version":8,"status":"applied","error":null}"#.utf8)) == "already applied v8")
    #expect(t.alreadyThere(Array(#"{"version":9,"status":"applied","error":null}"#.utf8))
            == "already at v9, newer than v8")
    #expect(t.alreadyThere(Array(#"{"version":8,"status":"rejected","error":"x"}"#.utf8)) == nil)
    #expect(t.alreadyThere(Array(#"{"version":7,"status":"applied","error":null}"#.utf8)) == nil)
  }

  let manifest = #"{"version":"0.2.0","seq":4,"sha256":"\#(String(repeating: "ab", count: 32))","size":516616,"arch":"aarch64","url":"https://centre.example/vigil-0.2.0-aarch64"}"#

  @Test func updateManifestsAreCheckedFieldByField() throws {
    let t = try RolloutTarget.update(Array(manifest.utf8), path: "m.json")
    #expect(t.label == "0.2.0 (seq 4)")
    #expect(String(decoding: t.document(for: "tp-0001"), as: UTF8.self).hasPrefix(#"{"site_id":"tp-0001","version":"0.2.0","seq":4,"#))
    func refused(_ from: String, _ to: String) -> String? {
      problem { _ = try RolloutTarget.update(Array(manifest.replacingOccurrences(of: from, with: to).utf8), path: "m.json") }
    }
    #expect(refused(#""arch":"aarch64""#, #""arch":"arm64""#) == "m.json: arch: must be one of aarch64, armv7, x86_64")
    #expect(refused(#""seq":4"#, #""seq":0"#) == "m.json: seq: must be an integer from 1 (it orders updates)")
    #expect(refused(String(repeating: "ab", count: 32), "abc") == "m.json: sha256: must be 64 lower-case hex digits")
    #expect(refused("https://", "ftp://") == "m.json: url: must be an http:// or https:// address")
    #expect(refused(#""size":516616"#, #""bytes":516616"#) == "m.json: bytes: not a manifest field (they are version, seq, sha256, size, arch, url, trial_s)")
    #expect(refused(#""size":516616"#, #""size":16777217"#) == "m.json: size: must be the file's size in bytes, from 1 to 16777216")
    // trial_s, as a gateway takes it: 10 to 86400 s.
    #expect(refused(#""size":516616"#, #""size":516616,"trial_s":600"#) == nil)
    #expect(refused(#""size":516616"#, #""size":516616,"trial_s":5"#) == "m.json: trial_s: must be whole seconds from 10 to 86400")
    #expect(refused(#""size":516616"#, #""size":516616,"trial_s":"600""#) == "m.json: trial_s: must be whole seconds from 10 to 86400")
  }

  @Test func updateAnswersAreReadForThisSeqOnly() throws {
    let t = try RolloutTarget.update(Array(manifest.utf8), path: "m.json")
    func a(_ s: String) -> RolloutTarget.Answer { t.answer(Array(s.utf8)) }
    #expect(a(#"{"state":"committed","version":"0.2.0","seq":4,"reason":null,"ts":1}"#) == .success("committed 0.2.0"))
    #expect(a(#"{"state":"trial","version":"0.2.0","seq":4,"reason":null,"ts":1}"#) == .progress("trial 0.2.0"))
    #expect(a(#"{"state":"rolled_back","version":"0.2.0","seq":4,"reason":"no broker in trial","ts":1}"#)
            == .failure("rolled_back 0.2.0: no broker in trial"))
    #expect(a(#"{"state":"rejected","version":"0.2.0","seq":4,"reason":"sha256 mismatch","ts":1}"#)
            == .failure("rejected 0.2.0: sha256 mismatch"))
    #expect(a(#"{"state":"committed","version":"0.1.9","seq":3,"reason":null,"ts":1}"#) == .other)
    #expect(t.alreadyThere(Array(#"{"state":"committed","version":"0.2.0","seq":4}"#.utf8)) == "already committed 0.2.0")
    #expect(t.alreadyThere(Array(#"{"state":"staged","version":"0.2.0","seq":4}"#.utf8)) == nil)
  }

  @Test func progressFilesRoundTripAndBadOnesAreNamed() throws {
    let p = RolloutProgress(kind: .config, target: "v8", done: ["tp-0001", "tp-0002"],
                            halted: (site: "tp-0003", reason: "rejected v8: door_line: no such line"))
    #expect(try RolloutProgress.parse(p.encoded(), path: "p.json") == p)
    #expect(problem { _ = try RolloutProgress.parse(Array("{}".utf8), path: "p.json") }
            == "p.json is not a rollout progress file (written by vigil-centre rollout --state)")
  }
}
