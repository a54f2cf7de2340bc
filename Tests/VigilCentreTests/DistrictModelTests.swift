import Testing
@testable import VigilCentre

/// The exporter's model, fed messages with a clock the test sets: staleness by heartbeat age,
/// the interval learnt, the console flag across boots, bad messages counted and logged once a
/// minute per site, and the work lists.
struct DistrictModelTests {
  static func heartbeat(seq: Int, boot: Int = 3, ts: Int, cameras: String = Self.cameras,
                        mains: String = "ok") -> [UInt8] {
    Array("""
      {"site":"s1","seq":\(seq),"boot_id":\(boot),"uptime_s":1,"ts":\(ts),"version":"0.1.0",
       "config_version":4,"cameras":[\(cameras)],
       "uplink":{"broker":"b:1883","connects":2,"last_outage_s":0},
       "spool":{"count":5,"bytes":900,"oldest_ms":null,"dropped":1},
       "board":{"door":"open","mains":"\(mains)"},"trust":"signed"}
      """.utf8)
  }

  static let cameras = """
    {"id":"cam1","state":"no_power","power":"off","link":"down","relay":"on","since_s":40,
     "cycles":0,"snapshot_age_s":null,"fault":"power","owner":"police"},
    {"id":"cam2","state":"healthy","power":"on","link":"up","relay":"on","since_s":9,"cycles":1,
     "snapshot_age_s":3,"fault":null,"owner":"district",
     "view":{"state":"obstructed","coverage":0.4,"sharpness":0.9,"shift_px":2,"mode":"day"}},
    {"id":"cam3","state":"no_video","power":"on","link":"up","relay":"on","since_s":5,
     "cycles":0,"snapshot_age_s":null,"fault":"auth","owner":"resident"}
    """

  func model(_ logged: Box) -> DistrictModel {
    var inv = Inventory()
    if let i = try? Inventory.parse(Array(#"{"sites":{"s1":{"ward":"W \"1\""},"s9":{"ward":"W9"}}}"#.utf8)) {
      inv = i
    }
    let m = DistrictModel(prefix: "vigil", inventory: inv, snapshotBudgetBytes: 1 << 20)
    m.logBad = { logged.lines.append($0) }
    return m
  }

  final class Box { var lines: [String] = [] }

  func put(_ m: DistrictModel, _ sub: String, _ payload: [UInt8], at ms: Int64) {
    m.ingest(topic: "vigil/s1/\(sub)", payload: payload, size: payload.count, nowMs: ms)
  }

  @Test func aSiteIsUpWhileOnlineAndHeardWithinThreeIntervals() throws {
    let m = model(Box())
    put(m, "status", Array(#"{"state":"online","boot_id":3,"version":"0.1.0","ts":1}"#.utf8), at: 0)
    let s = try #require(m.sites["s1"])
    #expect(!m.isUp(s, nowMs: 0), "no heartbeat yet")
    put(m, "heartbeat", Self.heartbeat(seq: 1, ts: 1_000), at: 1_000)
    #expect(s.intervalMs == 60_000)
    put(m, "heartbeat", Self.heartbeat(seq: 2, ts: 3_000), at: 3_000)
    #expect(s.intervalMs == 2_000)
    // A heartbeat lost on the way does not double the interval.
    put(m, "heartbeat", Self.heartbeat(seq: 4, ts: 7_000), at: 7_000)
    #expect(s.intervalMs == 2_000)
    #expect(m.isUp(s, nowMs: 12_999))
    #expect(!m.isUp(s, nowMs: 13_000))
    // One sent early (as at a reconnect) does not shorten it; a lower heartbeat_s is learnt
    // after 4 heartbeats.
    put(m, "heartbeat", Self.heartbeat(seq: 5, ts: 7_600), at: 7_600)
    #expect(s.intervalMs == 2_000)
    for (i, ts) in [8_600, 9_600, 10_600, 11_600].enumerated() {
      put(m, "heartbeat", Self.heartbeat(seq: 6 + i, ts: ts), at: Int64(ts))
    }
    #expect(s.intervalMs == 1_000)
    #expect(!m.isUp(s, nowMs: 14_600))
    put(m, "status", Array(#"{"state":"offline","boot_id":3}"#.utf8), at: 7_500)
    #expect(!m.isUp(s, nowMs: 7_500))
    // The inventory's other site, never heard from, is known and down.
    #expect(m.sites["s9"].map { m.isUp($0, nowMs: 0) } == false)
  }

  @Test func theConsoleFlagFollowsLoginsAndResetsOnANewBoot() throws {
    let m = model(Box())
    put(m, "heartbeat", Self.heartbeat(seq: 1, ts: 1_000), at: 0)
    put(m, "event", Array(#"{"id":"3-7","ts":1,"kind":"console_login"}"#.utf8), at: 0)
    let s = try #require(m.sites["s1"])
    #expect(s.consoleLoggedIn)
    // A late logout from an earlier boot changes nothing.
    put(m, "event", Array(#"{"id":"2-9","ts":1,"kind":"console_logout"}"#.utf8), at: 0)
    #expect(s.consoleLoggedIn)
    put(m, "heartbeat", Self.heartbeat(seq: 1, boot: 4, ts: 9_000), at: 0)
    #expect(!s.consoleLoggedIn, "a box that restarted has nobody at its console")
  }

  @Test func badMessagesAreCountedAndLoggedOncePerSitePerMinute() {
    let logged = Box()
    let m = model(logged)
    put(m, "heartbeat", Array("not json".utf8), at: 0)
    put(m, "heartbeat", Array(#"{"seq":"1","boot_id":1,"ts":1,"cameras":[]}"#.utf8), at: 1_000)
    put(m, "heartbeat", Array(#"{"seq":1,"boot_id":1,"ts":1,"cameras":[{"id":"c","state":7}]}"#.utf8), at: 2_000)
    put(m, "status", Array(#"{"state":"maybe"}"#.utf8), at: 3_000)
    m.ingest(topic: "vigil/s1/snapshot/cam1/5", payload: [], size: 9 << 20, nowMs: 4_000)
    put(m, "snapshot/cam1/5", Array("GIF89a".utf8), at: 5_000)
    put(m, "event", [UInt8](repeating: 0x20, count: 256 * 1024 + 1), at: 5_500)
    #expect(m.count(.bad) == 7)
    #expect(m.count(.heartbeat) == 0)
    #expect(logged.lines == ["bad message on vigil/s1/heartbeat: not valid JSON (near byte 0)"])
    put(m, "heartbeat", Array("[]".utf8), at: 61_000)
    #expect(logged.lines.count == 2)
    #expect(logged.lines.last == "bad message on vigil/s1/heartbeat: not a JSON object but an "
      + "array (6 more not logged in the last minute)")
    // The messages' refusals name the field.
    let wrong = Box()
    let m2 = model(wrong)
    put(m2, "heartbeat", Array(#"{"seq":1,"boot_id":1,"ts":1,"cameras":[{"id":"c","state":7}]}"#.utf8), at: 0)
    #expect(wrong.lines.first?.hasSuffix("cameras[0].state: must be a string, not a number") == true,
            "\(wrong.lines)")
  }

  @Test func theWorkListsSortTheFaultsForTheirCrews() {
    let m = model(Box())
    put(m, "status", Array(#"{"state":"online","boot_id":3}"#.utf8), at: 0)
    put(m, "heartbeat", Self.heartbeat(seq: 1, ts: 1_000, mains: "lost"), at: 0)
    let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]
    put(m, "snapshot/cam2/1700", jpeg, at: 0)
    let w = DistrictState.workLists(m, nowMs: 1_000)
    #expect(w.power.map { $0.camera ?? "-" } == ["-", "cam1"])
    #expect(w.power.first?.problem == "mains lost")
    #expect(w.tree.map { $0.camera } == ["cam2"] && w.tree.first?.snapshot == true)
    #expect(w.installers.map { $0.camera } == ["cam3"])
    #expect(w.network.map { $0.site } == ["s9"] && w.network.first?.problem == "never heard from")
    #expect(m.snapshots.picture("s1", "cam2")?.bytes == jpeg)
    // An older capture arriving late does not replace the newer one.
    put(m, "snapshot/cam2/1600", jpeg + [9], at: 0)
    #expect(m.snapshots.picture("s1", "cam2")?.captureMs == 1700)
  }
}
