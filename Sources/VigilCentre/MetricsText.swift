/// `/metrics`: the model in Prometheus' text exposition format 0.0.4. Each family's samples are
/// written together under its HELP and TYPE lines, as the format requires. Written as bytes in
/// one pass with no String per sample: a district of 1,600 sites and 12,800 cameras is about
/// 330,000 samples a scrape.
enum MetricsText {
  static let contentType = "text/plain; version=0.0.4; charset=utf-8"

  static let cameraStates = ["healthy", "no_power", "no_link", "no_video", "unknown"]
  static let faults = ["power", "unreachable", "auth", "stream_down", "timeout", "no_media",
                       "frozen", "bad_image"]
  static let viewStates = ["learning", "clear", "obstructed", "moved", "blurred", "unscored"]
  static let configStatuses = ["applied", "pending_confirm", "rejected", "rolled_back"]
  static let updateStates = ["downloading", "verifying", "staged", "trial", "committed",
                             "rolled_back", "rejected"]

  static func render(_ m: DistrictModel, nowMs: Int64, brokerConnected: Bool) -> [UInt8] {
    var w = Writer()
    let ids = m.siteIds
    let sites = ids.compactMap { m.sites[$0] }
    // Measured: about 2,000 bytes a site and 2,000 a camera (22 series); reserved at once, so
    // a district's 28 MB is not copied at each doubling.
    let cameraCount = sites.reduce(0) { $0 + ($1.heartbeat?.cameras.count ?? 0) }
    w.out.reserveCapacity(64 * 1024 + sites.count * 2_400 + cameraCount * 2_400)
    // The label sets, escaped once per scrape.
    let siteLabels: [[UInt8]] = sites.map { s in
      var l: [UInt8] = []
      Writer.label(&l, "site", s.id, first: true)
      Writer.label(&l, "ward", m.ward(s.id))
      return l
    }
    var cameraLabels: [[[UInt8]]] = []
    cameraLabels.reserveCapacity(sites.count)
    for (i, s) in sites.enumerated() {
      let cams = s.heartbeat?.cameras ?? []
      cameraLabels.append(cams.map { c in
        var l: [UInt8] = []
        Writer.label(&l, "site", s.id, first: true)
        Writer.label(&l, "camera", c.id)
        Writer.label(&l, "owner", c.owner)
        Writer.label(&l, "ward", m.ward(sites[i].id))
        return l
      })
    }
    let up = sites.map { m.isUp($0, nowMs: nowMs) }

    // Sites.
    w.family("vigil_site_up", "gauge",
             "1 while the retained status is online and the last heartbeat is younger than "
               + "3 heartbeat intervals")
    for (i, _) in sites.enumerated() { w.sample("vigil_site_up", siteLabels[i], up[i] ? 1 : 0) }
    w.family("vigil_site_heartbeat_age_seconds", "gauge",
             "Seconds since the exporter received the site's last heartbeat")
    for (i, s) in sites.enumerated() {
      if let age = m.heartbeatAgeS(s, nowMs: nowMs) {
        w.sample("vigil_site_heartbeat_age_seconds", siteLabels[i], real: age)
      }
    }
    w.family("vigil_site_heartbeat_interval_seconds", "gauge",
             "The site's heartbeat interval, learnt from consecutive heartbeats (60 until then)")
    for (i, s) in sites.enumerated() where s.heartbeat != nil {
      w.sample("vigil_site_heartbeat_interval_seconds", siteLabels[i],
               real: Double(s.intervalMs) / 1000)
    }
    func siteGauge(_ name: String, _ type: String, _ help: String,
                   _ value: (DistrictModel.Site, SiteReports.Heartbeat) -> Int64?) {
      w.family(name, type, help)
      for (i, s) in sites.enumerated() {
        if let hb = s.heartbeat, let v = value(s, hb) { w.sample(name, siteLabels[i], v) }
      }
    }
    siteGauge("vigil_site_boot_id", "gauge", "The gateway's boot counter") { _, hb in hb.bootId }
    siteGauge("vigil_site_config_version", "gauge", "The version of the config the gateway runs") {
      _, hb in hb.configVersion
    }
    siteGauge("vigil_site_uplink_connects", "gauge", "Broker connections since the agent started") {
      _, hb in hb.uplinkConnects
    }
    siteGauge("vigil_site_spool_messages", "gauge", "Messages waiting in the gateway's spool") {
      _, hb in hb.spoolCount
    }
    siteGauge("vigil_site_spool_bytes", "gauge", "Bytes waiting in the gateway's spool") {
      _, hb in hb.spoolBytes
    }
    siteGauge("vigil_site_spool_dropped_total", "counter",
              "Spooled messages dropped since the spool was made") { _, hb in hb.spoolDropped }
    siteGauge("vigil_site_door_open", "gauge", "1 while the cabinet door is open") { _, hb in
      hb.door.map { $0 == "open" ? 1 : 0 }
    }
    siteGauge("vigil_site_mains_ok", "gauge", "1 while mains power is present, 0 when lost") {
      _, hb in hb.mains.map { $0 == "ok" ? 1 : 0 }
    }
    siteGauge("vigil_site_console_logged_in", "gauge",
              "1 while a technician is logged in at the serial console") { s, _ in
      s.consoleLoggedIn ? 1 : 0
    }
    w.family("vigil_site_info", "gauge",
             "The agent's version and whether the site takes only signed documents")
    for (i, s) in sites.enumerated() {
      guard let version = s.heartbeat?.version ?? s.statusVersion else { continue }
      var l = siteLabels[i]
      Writer.label(&l, "version", version)
      Writer.label(&l, "trust", s.heartbeat?.trust ?? "")
      w.sample("vigil_site_info", l, 1)
    }
    w.family("vigil_site_config_state", "gauge",
             "The remote config's status: 1 for the current one")
    for (i, s) in sites.enumerated() {
      guard let c = s.configState else { continue }
      w.oneOf("vigil_site_config_state", siteLabels[i], "state", configStatuses, c.status)
    }
    w.family("vigil_site_update_state", "gauge",
             "The software update's state: 1 for the current one")
    for (i, s) in sites.enumerated() {
      guard let u = s.updateState else { continue }
      w.oneOf("vigil_site_update_state", siteLabels[i], "state", updateStates, u.state)
    }
    w.family("vigil_site_update_version_info", "gauge", "The version the software update is about")
    for (i, s) in sites.enumerated() {
      guard let v = s.updateState?.version else { continue }
      var l = siteLabels[i]
      Writer.label(&l, "version", v)
      w.sample("vigil_site_update_version_info", l, 1)
    }

    // Cameras.
    func cameras(_ body: (Int, Int, SiteReports.Camera) -> Void) {
      for (i, s) in sites.enumerated() {
        guard let cams = s.heartbeat?.cameras else { continue }
        for (j, c) in cams.enumerated() { body(i, j, c) }
      }
    }
    w.family("vigil_camera_state", "gauge", "The camera's state: 1 for the current one")
    cameras { i, j, c in
      w.oneOf("vigil_camera_state", cameraLabels[i][j], "state", cameraStates, c.state)
    }
    w.family("vigil_camera_fault", "gauge",
             "Why the camera gives no video: 1 for the current fault, all 0 when none")
    cameras { i, j, c in
      w.oneOf("vigil_camera_fault", cameraLabels[i][j], "fault", faults, c.fault ?? "")
    }
    w.family("vigil_camera_dark", "gauge", "1 when the camera has a fault or its site is not up")
    cameras { i, j, c in
      w.sample("vigil_camera_dark", cameraLabels[i][j], c.fault != nil || !up[i] ? 1 : 0)
    }
    w.family("vigil_camera_state_seconds", "gauge", "Seconds the camera has been in its state")
    cameras { i, j, c in
      if let v = c.sinceS { w.sample("vigil_camera_state_seconds", cameraLabels[i][j], v) }
    }
    w.family("vigil_camera_power_cycles", "gauge",
             "Power cycles of the camera since the agent started")
    cameras { i, j, c in
      if let v = c.cycles { w.sample("vigil_camera_power_cycles", cameraLabels[i][j], v) }
    }
    w.family("vigil_camera_snapshot_age_seconds", "gauge", "Age of the camera's last snapshot")
    cameras { i, j, c in
      if let v = c.snapshotAgeS {
        w.sample("vigil_camera_snapshot_age_seconds", cameraLabels[i][j], v)
      }
    }
    w.family("vigil_camera_view_state", "gauge",
             "The view watch's verdict: 1 for the current one, unscored without one")
    cameras { i, j, c in
      w.oneOf("vigil_camera_view_state", cameraLabels[i][j], "state", viewStates,
              c.view?.state ?? "unscored")
    }
    func view(_ name: String, _ help: String, _ value: (SiteReports.View) -> Double?) {
      w.family(name, "gauge", help)
      cameras { i, j, c in
        if let v = c.view, let d = value(v) { w.sample(name, cameraLabels[i][j], real: d) }
      }
    }
    view("vigil_camera_view_coverage", "Share of the reference view still seen, 0 to 1") {
      $0.coverage
    }
    view("vigil_camera_view_sharpness", "Sharpness against the reference view, 0 to 1") {
      $0.sharpness
    }
    view("vigil_camera_view_shift_px", "How far the view has moved, in pixels") { $0.shiftPx }

    // The exporter itself.
    w.family("vigil_exporter_messages_total", "counter",
             "MQTT messages read, by kind; bad ones refused")
    for k in DistrictModel.Kind.allCases {
      var l: [UInt8] = []
      Writer.label(&l, "kind", k.rawValue, first: true)
      w.sample("vigil_exporter_messages_total", l, m.count(k))
    }
    w.family("vigil_exporter_sites", "gauge", "Sites known: heard from or in the inventory")
    w.sample("vigil_exporter_sites", [], Int64(sites.count))
    w.family("vigil_exporter_broker_connected", "gauge",
             "1 while the exporter is connected to the broker (when 0, every site goes stale)")
    w.sample("vigil_exporter_broker_connected", [], brokerConnected ? 1 : 0)
    return w.out
  }

  /// The text format's pieces, appended to one byte buffer.
  struct Writer {
    var out: [UInt8] = []

    mutating func family(_ name: String, _ type: String, _ help: String) {
      out.append(contentsOf: "# HELP \(name) ".utf8)
      // HELP text escapes backslash and newline only.
      for b in help.utf8 {
        switch b {
        case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
        default: out.append(b)
        }
      }
      out.append(contentsOf: "\n# TYPE \(name) \(type)\n".utf8)
    }

    /// `name{labels} value`; `labels` is the inside of the braces (empty: no braces).
    mutating func sample(_ name: String, _ labels: [UInt8], _ value: Int64) {
      head(name, labels)
      Self.digits(&out, value)
      out.append(0x0A)
    }

    mutating func sample(_ name: String, _ labels: [UInt8], real value: Double) {
      head(name, labels)
      if value.isNaN {
        out.append(contentsOf: "NaN".utf8)
      } else if value == value.rounded(), abs(value) < 1e15 {
        Self.digits(&out, Int64(value))
      } else {
        out.append(contentsOf: "\(value)".utf8)
      }
      out.append(0x0A)
    }

    /// One series per value of `values`, 1 where it is `current`, 0 for the others.
    mutating func oneOf(_ name: String, _ labels: [UInt8], _ key: String, _ values: [String],
                        _ current: String) {
      for v in values {
        var l = labels
        Self.label(&l, key, v, first: l.isEmpty)
        sample(name, l, v == current ? 1 : 0)
      }
    }

    private mutating func head(_ name: String, _ labels: [UInt8]) {
      out.append(contentsOf: name.utf8)
      if !labels.isEmpty {
        out.append(0x7B)
        out.append(contentsOf: labels)
        out.append(0x7D)
      }
      out.append(0x20)
    }

    /// `key="value"`, with a comma before it unless `first`; the value escaped as the format
    /// says: backslash, double quote and line feed.
    static func label(_ l: inout [UInt8], _ key: String, _ value: String, first: Bool = false) {
      if !first { l.append(0x2C) }
      l.append(contentsOf: key.utf8)
      l.append(contentsOf: [0x3D, 0x22])
      for b in value.utf8 {
        switch b {
        case 0x5C: l.append(contentsOf: [0x5C, 0x5C])
        case 0x22: l.append(contentsOf: [0x5C, 0x22])
        case 0x0A: l.append(contentsOf: [0x5C, 0x6E])
        default: l.append(b)
        }
      }
      l.append(0x22)
    }

    static func digits(_ out: inout [UInt8], _ v: Int64) {
      if v == 0 {
        out.append(0x30)
        return
      }
      var n = v.magnitude
      if v < 0 { out.append(0x2D) }
      var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
      var count = 0
      withUnsafeMutableBytes(of: &tmp) { buf in
        while n > 0 {
          buf[count] = UInt8(truncatingIfNeeded: n % 10) + 0x30
          n /= 10
          count += 1
        }
        var k = count - 1
        while k >= 0 {
          out.append(buf[k])
          k -= 1
        }
      }
    }
  }
}
