import Testing
@testable import VigilCentre

/// The exposition text itself: label values escaped as format 0.0.4 says, each family under
/// one HELP and TYPE, one series per state value, and the snapshot store's budget.
struct MetricsTextTests {
  func render(_ site: String, ward: String, heartbeat: [UInt8]) -> String {
    let inv = (try? Inventory.parse(Array("{\"sites\":{\"\(site.replacingOccurrences(of: "\"", with: "\\\""))\":{\"ward\":\(ward)}}}".utf8))) ?? Inventory()
    let m = DistrictModel(prefix: "vigil", inventory: inv, snapshotBudgetBytes: 0)
    let status = Array(#"{"state":"online","boot_id":3}"#.utf8)
    m.ingest(topic: "vigil/\(site)/status", payload: status, size: status.count, nowMs: 0)
    m.ingest(topic: "vigil/\(site)/heartbeat", payload: heartbeat, size: heartbeat.count, nowMs: 0)
    return String(decoding: MetricsText.render(m, nowMs: 1_500, brokerConnected: true), as: UTF8.self)
  }

  @Test func labelValuesAreEscapedAndEveryFamilyIsGrouped() {
    let hb = DistrictModelTests.heartbeat(seq: 1, ts: 1, cameras: """
      {"id":"c\\\\1","state":"healthy","power":"on","link":"up","relay":"on","since_s":1,
       "cycles":0,"snapshot_age_s":null,"fault":null,"owner":"police"}
      """)
    let text = render(#"s"1"#, ward: #""Tân \"Sơn\"\nNhì""#, heartbeat: hb)
    let labels = #"site="s\"1",camera="c\\1",owner="police",ward="Tân \"Sơn\"\nNhì""#
    #expect(text.contains("vigil_camera_state{\(labels),state=\"healthy\"} 1\n"), "\(text)")
    #expect(text.contains("vigil_camera_state{\(labels),state=\"no_power\"} 0\n"))
    #expect(text.contains("vigil_camera_fault{\(labels),fault=\"power\"} 0\n"))
    #expect(text.contains("vigil_camera_view_state{\(labels),state=\"unscored\"} 1\n"))
    #expect(text.contains("vigil_site_heartbeat_age_seconds{site=\"s\\\"1\",ward=\"Tân \\\"Sơn\\\"\\nNhì\"} 1.5\n"))
    #expect(!text.contains("vigil_camera_snapshot_age_seconds{"), "absent while null")
    #expect(text.contains("vigil_site_up{site=\"s\\\"1\",ward=\"Tân \\\"Sơn\\\"\\nNhì\"} 1\n"))
    #expect(!text.contains("bad\"} 1"), "\(text)")
    #expect(text.contains("vigil_site_door_open{site=\"s\\\"1\",ward=\"Tân \\\"Sơn\\\"\\nNhì\"} 1\n"))
    // Each family once, its samples right after its TYPE line.
    var families: [String] = []
    var current = ""
    for line in text.split(separator: "\n") {
      if line.hasPrefix("# TYPE ") {
        current = String(line.split(separator: " ")[2])
        #expect(!families.contains(current), "\(current) twice")
        families.append(current)
      } else if !line.hasPrefix("#") {
        let name = String(line.prefix { $0 != "{" && $0 != " " })
        #expect(name == current, "\(name) outside its family \(current)")
      }
    }
    for name in ["vigil_site_up", "vigil_site_spool_dropped_total", "vigil_site_info",
                 "vigil_camera_dark", "vigil_exporter_messages_total", "vigil_exporter_sites"] {
      #expect(families.contains(name), "\(name) missing")
    }
  }

  @Test func theSnapshotStoreKeepsTheLastOfEachCameraWithinItsBudget() {
    var s = SnapshotStore(budgetBytes: 1000)
    s.put("a", "c1", captureMs: 1, [UInt8](repeating: 1, count: 400))
    s.put("a", "c2", captureMs: 1, [UInt8](repeating: 2, count: 400))
    s.put("a", "c1", captureMs: 2, [UInt8](repeating: 3, count: 400))
    #expect(s.totalBytes == 800 && s.count == 2)
    // Over the budget: the picture received longest ago (c2) goes.
    s.put("b", "c1", captureMs: 1, [UInt8](repeating: 4, count: 400))
    #expect(s.picture("a", "c2") == nil)
    #expect(s.picture("a", "c1")?.captureMs == 2 && s.picture("b", "c1") != nil)
    #expect(s.totalBytes <= 1000)
    let tooBig = s.put("a", "c9", captureMs: 1, [UInt8](repeating: 0, count: 1001))
    #expect(!tooBig)
  }
}
