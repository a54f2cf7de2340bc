import Testing
@testable import VigilCore

@Suite struct JSONWriterTests {
  @Test func escapesWhatJSONRequires() throws {
    var w = JSONWriter()
    w.beginObject()
    w.field("a\"b", "line\nbreak \\ tab\t \u{1} é")
    w.field("n", -42)
    w.field("t", true)
    w.key("list")
    w.beginArray()
    w.int(1)
    w.string("x")
    w.null()
    w.endArray()
    w.endObject()
    #expect(w.text == #"{"a\"b":"line\nbreak \\ tab\t \u0001 é","n":-42,"t":true,"list":[1,"x",null]}"#)
    // And it parses back to the same values.
    let v = try JSON.parse(w.bytes)
    #expect(v["a\"b"]?.stringValue == "line\nbreak \\ tab\t \u{1} é")
  }

  @Test func emptyContainers() {
    var w = JSONWriter()
    w.beginObject()
    w.key("a")
    w.beginArray()
    w.endArray()
    w.key("o")
    w.beginObject()
    w.endObject()
    w.endObject()
    #expect(w.text == #"{"a":[],"o":{}}"#)
  }
}

@Suite struct HeartbeatTests {
  @Test func encodesEveryContractField() throws {
    var hb = Heartbeat(site: "tp-0412", seq: 7, bootId: 3, uptimeS: 120, tsMs: 1_700_000_000_123,
                       clockSynced: true, configVersion: 4, broker: "127.0.0.1:1883",
                       connects: 2, lastOutageS: 12)
    hb.cameras = [Heartbeat.Camera(id: "cam1", state: "healthy", power: "on", link: "up",
                                   relay: "on", sinceS: 60, cycles: 1, snapshotAgeS: 5),
                  Heartbeat.Camera(id: "cam2", state: "no_video", fault: "auth",
                                   clockSkewS: -600)]
    hb.spoolCount = 2
    hb.spoolBytes = 100
    hb.spoolOldestMs = 1_699_999_999_000
    hb.door = "closed"
    hb.mains = "ok"
    let v = try JSON.parse(hb.encode())
    #expect(v["site"]?.stringValue == "tp-0412")
    #expect(v["seq"]?.intValue == 7)
    #expect(v["boot_id"]?.intValue == 3)
    #expect(v["uptime_s"]?.intValue == 120)
    #expect(v["ts"]?.intValue == 1_700_000_000_123)
    #expect(v["version"]?.stringValue == Messages.version)
    #expect(v["config_version"]?.intValue == 4)
    guard case .bool(true)? = v["clock_synced"] else { Issue.record("clock_synced"); return }
    guard case .array(let cams)? = v["cameras"], let cam = cams.first else {
      Issue.record("cameras")
      return
    }
    for (k, want) in [("id", "cam1"), ("state", "healthy"), ("power", "on"), ("link", "up"),
                      ("relay", "on")] {
      #expect(cam[k]?.stringValue == want)
    }
    #expect(cam["since_s"]?.intValue == 60)
    #expect(cam["cycles"]?.intValue == 1)
    #expect(cam["snapshot_age_s"]?.intValue == 5)
    // `fault` and `clock_skew_s` (issue 13): null while healthy or unknown, else the values.
    guard case .null? = cam["fault"], case .null? = cam["clock_skew_s"] else {
      Issue.record("fault and clock_skew_s are null for a healthy camera without a skew")
      return
    }
    #expect(cams.count == 2 && cams[1]["fault"]?.stringValue == "auth")
    #expect(cams.count == 2 && cams[1]["clock_skew_s"]?.intValue == -600)
    #expect(v["uplink"]?["broker"]?.stringValue == "127.0.0.1:1883")
    #expect(v["uplink"]?["connects"]?.intValue == 2)
    #expect(v["uplink"]?["last_outage_s"]?.intValue == 12)
    #expect(v["spool"]?["count"]?.intValue == 2)
    #expect(v["spool"]?["bytes"]?.intValue == 100)
    #expect(v["spool"]?["oldest_ms"]?.intValue == 1_699_999_999_000)
    #expect(v["spool"]?["dropped"]?.intValue == 0)
    #expect(v["board"]?["door"]?.stringValue == "closed")
    #expect(v["board"]?["mains"]?.stringValue == "ok")
  }

  @Test func statusMessages() {
    #expect(String(decoding: Messages.online(bootId: 5, tsMs: 10), as: UTF8.self)
      == #"{"state":"online","boot_id":5,"version":"\#(Messages.version)","ts":10}"#)
    #expect(String(decoding: Messages.offline(bootId: 5), as: UTF8.self)
      == #"{"state":"offline","boot_id":5}"#)
    #expect(String(decoding: Messages.offline(bootId: 5, reason: "shutdown", tsMs: 9), as: UTF8.self)
      == #"{"state":"offline","boot_id":5,"reason":"shutdown","ts":9}"#)
  }
}

@Suite struct UplinkScheduleTests {
  @Test func delaysStayWithinTheCappedExponentialCeiling() {
    var s = UplinkSchedule(brokerCount: 2, baseMs: 1000, capMs: 60_000)
    var rng = SystemRandomNumberGenerator()
    for attempt in 1...30 {
      let d = s.failed(random: rng.next())
      let ceiling = min(60_000, Int64(1000) << Int64(min(attempt - 1, 20)))
      #expect(d >= 0 && d <= ceiling, "attempt \(attempt): \(d) > \(ceiling)")
      #expect(s.ceilingMs(failures: attempt) == ceiling)
    }
  }

  @Test func fullJitterSpreadsOverTheWholeRange() {
    // 1,600 gateways after the same failure: their delays must cover the range, not bunch up.
    var rng = SystemRandomNumberGenerator()
    var delays: [Int64] = []
    for _ in 0..<1600 {
      var s = UplinkSchedule(brokerCount: 1, baseMs: 1000, capMs: 60_000)
      for _ in 0..<4 { _ = s.failed(random: rng.next()) }
      delays.append(s.failed(random: rng.next()))  // fifth failure: ceiling 16 s
    }
    var buckets = [Int](repeating: 0, count: 8)
    for d in delays { buckets[min(7, Int(d * 8 / 16_001))] += 1 }
    for b in buckets { #expect(b > 120 && b < 280, "\(buckets)") }
  }

  @Test func brokersAreTriedInOrderAndAWorkingOneFirstAfterALoss() {
    var s = UplinkSchedule(brokerCount: 3)
    #expect(s.broker == 0)
    _ = s.failed(random: 0)
    #expect(s.broker == 1)
    _ = s.failed(random: 0)
    #expect(s.broker == 2)
    _ = s.failed(random: 0)
    #expect(s.broker == 0)
    _ = s.failed(random: 0)
    s.connected()
    #expect(s.failures == 0)
    let d = s.failed(random: UInt64.max, lostWorkingConnection: true)
    #expect(s.broker == 1, "the broker that was working is tried again first")
    #expect(d <= 15_000)
  }

  @Test func theFirstRetryAfterALossIsSpreadOverFifteenSeconds() {
    // A broker restart drops 1,600 gateways at once: their first retries must cover 0-15 s
    // evenly, not come back within the first second.
    var rng = SystemRandomNumberGenerator()
    var delays: [Int64] = []
    for _ in 0..<1600 {
      var s = UplinkSchedule(brokerCount: 2)
      s.connected()
      delays.append(s.failed(random: rng.next(), lostWorkingConnection: true))
      #expect(s.broker == 0 && s.failures == 1)
    }
    #expect(delays.allSatisfy { $0 >= 0 && $0 <= 15_000 })
    var buckets = [Int](repeating: 0, count: 15)
    for d in delays { buckets[min(14, Int(d / 1000))] += 1 }
    for b in buckets { #expect(b > 60 && b < 160, "\(buckets)") }
    // The next failure goes on from the first step, to the next broker.
    var s = UplinkSchedule(brokerCount: 2)
    _ = s.failed(random: 0, lostWorkingConnection: true)
    #expect(s.failed(random: UInt64.max) <= 2000 && s.broker == 1)
  }
}
