import Foundation
import Testing

/// `vigil-centre exporter` between real parts: a mosquitto broker, real `vigil` agents (the
/// host build, as in the integration suite) with fake cameras and sim boards, a real
/// Prometheus scraping the exporter every second, and the district page in headless Chromium.
/// What is asserted is what the centre's staff see: Prometheus' answers and the page.
@Suite(.serialized)
struct ExporterSiteTests {
  static let heartbeatS = 2

  /// One gateway: its agent, board, fake cameras (cam1, cam2, …) and topic root.
  struct Gateway {
    let id: String
    let root: String
    let agent: AgentProcess
    let board: SimBoardDir
    let cameras: [FakeCamera]
  }

  /// A gateway with `cameras` cameras (cam1 has a power line) on `broker`.
  func gateway(_ broker: Broker, _ tag: String, cameras: Int, keepalive: Int = 5) throws
    -> Gateway
  {
    let id = "t-\(tag)-\(UUID().uuidString.prefix(4).lowercased())"
    let dir = Harness.tempDir("exporter-\(tag)")
    let board = try SimBoardDir(in: dir, lines: ["cam1_power": (true, 50), "mains": (true, 50)])
    var cams: [FakeCamera] = []
    var entries: [String] = []
    for i in 1...cameras {
      let cam = try FakeCamera(auth: .none, pad: 200)
      cams.append(cam)
      var e = String(cam.entry("cam\(i)", every: 1, auth: false).dropLast())
      if i == 1 { e += ", \"power_line\": \"cam1_power\"" }
      entries.append(e + ", \"owner\": \"\(i == 1 ? "police" : "district")\"}")
    }
    let config = testConfig(site: id, brokers: brokerEntry(broker.port), heartbeat: Self.heartbeatS,
                            keepalive: keepalive, extra: """
      "board": "board.json", "mains_line": "mains", "probe_s": 1,
      "cameras": [\(entries.joined(separator: ", "))]
      """)
    let agent = try AgentProcess(config: config, dir: dir)
    return Gateway(id: id, root: "vigil/\(id)", agent: agent, board: board, cameras: cams)
  }

  func inventory(_ sites: [(String, String)]) throws -> URL {
    let body = sites.map { "\"\($0.0)\": {\"ward\": \"\($0.1)\", \"address\": \"\($0.0) street\"}" }
    let url = Harness.tempDir("inventory").appendingPathComponent("inventory.json")
    try "{\"sites\": {\(body.joined(separator: ", "))}}".write(to: url, atomically: true,
                                                              encoding: .utf8)
    return url
  }

  func cameraQuery(_ metric: String, _ g: Gateway, _ cam: String, _ more: String = "") -> String {
    "\(metric){site=\"\(g.id)\",camera=\"\(cam)\"\(more.isEmpty ? "" : "," + more)}"
  }

  /// "A camera's power cut shows as its vigil_camera_state{state="no_power"} going to 1 within
  /// one scrape interval after the agent's heartbeat reports it", and the page: the dark camera
  /// is in the power company's list and clicking it shows its last snapshot. Also a bad message
  /// is counted and logged, and changes nothing else.
  @Test func aPowerCutReachesPrometheusWithinAScrapeAndThePowerCompanysList() async throws {
    let broker = try Broker()
    let a = try gateway(broker, "a", cameras: 2)
    let b = try gateway(broker, "b", cameras: 3)
    let inv = try inventory([(a.id, "Tân Sơn Nhì"), (b.id, "Phú Thạnh")])
    let centre = try await Centre(port: broker.port)
    let exporter = try ExporterProcess(brokerPort: broker.port, inventory: inv)
    let prom = try PrometheusServer(targets: [exporter.port])
    try a.agent.start()
    try b.agent.start()
    defer {
      a.agent.kill9()
      b.agent.kill9()
    }

    // Both sites up and every camera healthy, as Prometheus sees them.
    for (g, n) in [(a, 2), (b, 3)] {
      let up = await prom.waitFor("vigil_site_up{site=\"\(g.id)\"}", equal: 1, within: 30)
      #expect(up != nil, "\(g.id) not up: \(g.agent.log.text)\n\(exporter.log.text)")
      let healthy = await prom.waitFor(
        "count(vigil_camera_state{site=\"\(g.id)\",state=\"healthy\"} == 1)", equal: Double(n),
        within: 20)
      #expect(healthy != nil, "\(exporter.get("/metrics")?.text ?? "")")
    }
    let ward = prom.query("vigil_site_up{site=\"\(a.id)\"}")?.first?.labels["ward"]
    #expect(ward == "Tân Sơn Nhì")
    // The owner label is the heartbeat's `owner` ("police" in the config), "" from an agent that
    // does not send it yet (and Prometheus holds an empty label as no label).
    let owner = prom.query(cameraQuery("vigil_camera_dark", a, "cam1"))?.first?.labels["owner"]
    let sent = (centre.messages("\(a.root)/heartbeat").last?.json?["cameras"] as? [[String: Any]])?
      .first { $0["id"] as? String == "cam1" }?["owner"] as? String
    #expect((owner ?? "") == (sent ?? ""), "owner label \(owner ?? "none"), heartbeat \(sent ?? "none")")
    // A snapshot of cam1 has reached the centre, and the exporter serves the last one.
    let snap = await centre.waitFor("\(a.root)/snapshot/cam1/", within: 10)
    #expect(snap != nil, "\(a.agent.log.text)")

    // The power cut: the camera's power line goes down, and the camera with it. The heartbeat
    // that first reports it, as the centre's subscriber sees it.
    let beats = centre.messages("\(a.root)/heartbeat").count
    a.board.set("cam1_power", 0)
    a.cameras[0].stop()
    let reported = await centre.waitFor("\(a.root)/heartbeat", within: 10, after: beats) { s in
      let cams = s.json?["cameras"] as? [[String: Any]]
      return cams?.first { $0["id"] as? String == "cam1" }?["state"] as? String == "no_power"
    }
    let reportedAt = try #require(reported?.at, "no heartbeat reported no_power")
    let q = cameraQuery("vigil_camera_state", a, "cam1", "state=\"no_power\"")
    #expect(await prom.waitFor(q, equal: 1, within: 10) != nil, "\(exporter.log.text)")
    // The scrape that first had it, from Prometheus' own samples (their times are when each
    // scrape began): the first scrape after the heartbeat, so within one interval of it.
    let first = prom.firstScrape(q, equal: 1)
    let lag = (first?.at ?? .distantFuture).timeIntervalSince(reportedAt)
    #expect(first?.before == 0, "the scrape before it: \(String(describing: first?.before))")
    #expect(lag <= PrometheusServer.scrapeIntervalS + 0.05,
            "Prometheus' first no_power sample was scraped \(lag) s after the heartbeat")
    print("power cut: the first scrape with no_power began \(String(format: "%.3f", lag)) s "
      + "after the heartbeat reached the centre")
    #expect(prom.value(cameraQuery("vigil_camera_fault", a, "cam1", "fault=\"power\"")) == 1)
    #expect(prom.value(cameraQuery("vigil_camera_dark", a, "cam1")) == 1)
    #expect(prom.value(cameraQuery("vigil_camera_dark", a, "cam2")) == 0)
    #expect(prom.value("vigil_site_up{site=\"\(a.id)\"}") == 1)

    // What the exporter serves for cam1 is the last snapshot the agent sent of it.
    #expect(await centre.caughtUp(a.root))
    let last = centre.snapshots(a.root).last { $0.camera == "cam1" }
    let served = exporter.get("/snapshot/\(a.id)/cam1")
    #expect(served?.status == 200 && served?.contentType == "image/jpeg")
    #expect(served?.body == last?.payload, "not the last snapshot of cam1")
    #expect(exporter.get("/snapshot/\(a.id)/nocam")?.status == 404)

    // The page in a real browser: the dark camera is in the power company's list; clicking it
    // shows that snapshot.
    let shot = "/tmp/vigil-centre-page.png"
    try? FileManager.default.removeItem(atPath: shot)
    let (status, out) = Harness.run("/usr/bin/python3", [
      Harness.root.appendingPathComponent("Tests/Fixtures/district-page.py").path,
      "--url", exporter.url + "/", "--site", a.id, "--camera", "cam1", "--screenshot", shot,
    ])
    #expect(status == 0, "\(out)")
    print("district page: \(out)")
    let png = (try? Data(contentsOf: URL(fileURLWithPath: shot))) ?? Data()
    #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "no PNG screenshot at \(shot)")

    // Bad messages: counted, logged once a minute per site, and the site is untouched.
    let bad = prom.value("vigil_exporter_messages_total{kind=\"bad\"}") ?? -1
    centre.publish("\(a.root)/heartbeat", "not json")
    centre.publish("\(a.root)/heartbeat", #"{"seq":"one","boot_id":1,"ts":1,"cameras":[]}"#)
    let counted = await prom.waitFor("vigil_exporter_messages_total{kind=\"bad\"}",
                                     equal: bad + 2, within: 5)
    #expect(counted != nil, "\(exporter.log.text)")
    let lines = exporter.log.all.filter { $0.contains("bad message on \(a.root)/heartbeat") }
    #expect(lines.count == 1, "\(lines)")
    #expect(lines.first?.contains("not valid JSON") == true, "\(lines)")
    #expect(prom.value("vigil_site_up{site=\"\(a.id)\"}") == 1)
    #expect(prom.value(q) == 1)
    #expect(exporter.isRunning)
  }

  /// "A stopped agent (SIGKILL, its will makes status offline; also a test where the broker
  /// connection is left open but heartbeats stop, e.g. SIGSTOP) becomes vigil_site_up 0 within
  /// 3 heartbeat intervals." The stopped agent's keepalive is 30 s, so its broker sends no
  /// will for 45 s: only the heartbeats' age can tell.
  @Test func aStoppedOrKilledAgentIsDownWithinThreeHeartbeats() async throws {
    let broker = try Broker()
    let stopped = try gateway(broker, "stop", cameras: 2, keepalive: 30)
    let killed = try gateway(broker, "kill", cameras: 2)
    let centre = try await Centre(port: broker.port)
    let exporter = try ExporterProcess(brokerPort: broker.port,
                                       inventory: try inventory([(stopped.id, "W1"),
                                                                 (killed.id, "W2")]))
    let prom = try PrometheusServer(targets: [exporter.port])
    try stopped.agent.start()
    try killed.agent.start()
    defer {
      stopped.agent.signal(SIGCONT)
      stopped.agent.kill9()
      killed.agent.kill9()
    }
    let window = Double(3 * Self.heartbeatS)
    for g in [stopped, killed] {
      #expect(await prom.waitFor("vigil_site_up{site=\"\(g.id)\"}", equal: 1, within: 30) != nil,
              "\(g.agent.log.text)")
      // The interval is learnt from two heartbeats (the board's timer: 2 s and a few ms).
      let learnt = await Harness.wait(10) {
        abs((prom.value("vigil_site_heartbeat_interval_seconds{site=\"\(g.id)\"}") ?? 0)
          - Double(Self.heartbeatS)) < 0.1
      }
      #expect(learnt, "\(exporter.get("/metrics")?.text ?? "")")
    }

    // SIGSTOP: the connection stays open, the status stays online, the heartbeats stop.
    let beats = centre.messages("\(stopped.root)/heartbeat").count
    _ = await centre.waitFor("\(stopped.root)/heartbeat", within: 5, after: beats)
    let interval = try #require(
      prom.value("vigil_site_heartbeat_interval_seconds{site=\"\(stopped.id)\"}"))
    stopped.agent.signal(SIGSTOP)
    let down = await prom.waitFor("vigil_site_up{site=\"\(stopped.id)\"}", equal: 0,
                                  within: window + 5)
    #expect(down != nil, "\(exporter.log.text)")
    // The last heartbeat that came (one may have been on its way when the agent stopped), and
    // the first scrape that said 0.
    let lastBeat = try #require(centre.messages("\(stopped.root)/heartbeat").last?.at)
    let first = prom.firstScrape("vigil_site_up{site=\"\(stopped.id)\"}", equal: 0)
    let after = (first?.at ?? .distantFuture).timeIntervalSince(lastBeat)
    print("SIGSTOP: the first scrape with vigil_site_up 0 began \(String(format: "%.3f", after)) "
      + "s after the last heartbeat")
    // Once 3 intervals (as learnt) have passed since the last heartbeat, at the next scrape.
    #expect(after <= 3 * interval + PrometheusServer.scrapeIntervalS + 0.05, "after \(after) s")
    #expect(after >= 3 * interval - 0.2, "down after \(after) s, before 3 intervals had passed")
    let offline = centre.messages("\(stopped.root)/status").last?.json?["state"] as? String
    #expect(offline == "online", "the will came: the test shows nothing about heartbeats")
    #expect(prom.value("vigil_camera_dark{site=\"\(stopped.id)\",camera=\"cam2\"}") == 1)
    let state = exporter.get("/api/state")?.text ?? ""
    #expect(state.contains("\"site\":\"\(stopped.id)\",\"camera\":null,\"ward\":\"W1\","
      + "\"problem\":\"heartbeats stopped\""), "\(state)")
    // And back when it goes on.
    stopped.agent.signal(SIGCONT)
    #expect(await prom.waitFor("vigil_site_up{site=\"\(stopped.id)\"}", equal: 1,
                               within: window + 5) != nil)

    // SIGKILL: the broker sends the will, the status is offline, the site is down at the next
    // scrape, well within 3 intervals.
    let killedAt = Date()
    killed.agent.kill9()
    let gone = await prom.waitFor("vigil_site_up{site=\"\(killed.id)\"}", equal: 0,
                                  within: window + 5)
    #expect(gone != nil)
    let firstDown = prom.firstScrape("vigil_site_up{site=\"\(killed.id)\"}", equal: 0)
    let took = (firstDown?.at ?? .distantFuture).timeIntervalSince(killedAt)
    print("SIGKILL: the first scrape with vigil_site_up 0 began \(String(format: "%.3f", took)) "
      + "s after the kill")
    // The will: the next scrape (and the will's way through the broker), not 3 intervals.
    #expect(took <= PrometheusServer.scrapeIntervalS + 0.25, "after \(took) s")
    let will = await centre.waitFor("\(killed.root)/status", within: 5) {
      $0.json?["state"] as? String == "offline"
    }
    #expect(will != nil)
    #expect(prom.value("vigil_site_up{site=\"\(stopped.id)\"}") == 1)
  }
}

/// The exporter's command line and signals, as the centre's operator meets them.
@Suite struct ExporterCommandTests {
  /// SIGHUP reads the inventory again: a site moved to another ward carries the new ward label
  /// at the next scrape; a broken file changes nothing and the log says why.
  @Test func sighupReadsTheInventoryAgainAndABrokenOneChangesNothing() async throws {
    let broker = try Broker()
    let dir = Harness.tempDir("inv")
    let file = dir.appendingPathComponent("inventory.json")
    try #"{"sites": {"tp-0501": {"ward": "Ward 1"}}}"#.write(to: file, atomically: true, encoding: .utf8)
    let exporter = try ExporterProcess(brokerPort: broker.port, inventory: file)
    func metrics() -> String { exporter.get("/metrics")?.text ?? "" }
    #expect(await Harness.wait(5) { metrics().contains(#"vigil_site_up{site="tp-0501",ward="Ward 1"}"#) },
            "\(metrics().prefix(1500))")
    try #"{"sites": {"tp-0501": {"ward": "Ward 9"}, "tp-0502": {"ward": "Ward 9"}}}"#
      .write(to: file, atomically: true, encoding: .utf8)
    kill(exporter.pid, SIGHUP)
    #expect(await Harness.wait(5) {
      let m = metrics()
      return m.contains(#"vigil_site_up{site="tp-0501",ward="Ward 9"}"#)
        && m.contains(#"vigil_site_up{site="tp-0502",ward="Ward 9"}"#)
    }, "\(metrics().prefix(1500)) \(exporter.log.text)")
    #expect(exporter.log.text.contains("inventory \(file.path) read again: 2 sites"), "\(exporter.log.text)")
    try #"{"sites": {"tp-0501": {"ward": 7}}}"#.write(to: file, atomically: true, encoding: .utf8)
    kill(exporter.pid, SIGHUP)
    #expect(await Harness.wait(5) { exporter.log.text.contains("the one before is kept") },
            "\(exporter.log.text)")
    #expect(exporter.isRunning)
    #expect(metrics().contains(#"vigil_site_up{site="tp-0502",ward="Ward 9"}"#), "\(metrics().prefix(1500))")
  }

  /// `--ca-file`: the exporter reads the district over the broker's TLS listener, the broker's
  /// certificate checked against the CA; with another CA it never connects and says why.
  @Test func theExporterReadsTheDistrictOverTLSWithACAFile() async throws {
    let pki = try TestPKI()
    let tlsPort = Harness.freePort()
    let broker = try Broker(extraConfig: "listener \(tlsPort) 127.0.0.1\n"
      + pki.listener(requireClientCert: false))
    let status = #"{"state":"online","boot_id":3,"version":"0.1.0","ts":1796320637541}"#
    let (st, out) = Harness.run("/usr/bin/mosquitto_pub", [
      "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-r", "-t", "vigil/tp-tls1/status",
      "-m", status])
    try #require(st == 0, "\(out)")
    let exporter = try ExporterProcess(brokerPort: tlsPort, inventory: nil,
                                       extra: ["--ca-file", pki.path("ca.pem")])
    let seen = await Harness.wait(10) {
      exporter.get("/metrics")?.text.contains(#"vigil_site_up{site="tp-tls1""#) ?? false
    }
    #expect(seen, "\(exporter.get("/metrics")?.text.prefix(2000) ?? "no answer") \(exporter.log.text)")
    #expect(exporter.log.text.contains("connected to 127.0.0.1:\(tlsPort)"), "\(exporter.log.text)")

    // The wrong CA: the broker's certificate is refused, and the log says so.
    let wrong = Harness.tempDir("wrongca").appendingPathComponent("ca.pem")
    try FileManager.default.copyItem(atPath: pki.path("other.pem"), toPath: wrong.path)
    do {
      _ = try ExporterProcess(brokerPort: tlsPort, inventory: nil, extra: ["--ca-file", wrong.path])
      Issue.record("the exporter connected with a CA that did not sign the broker's certificate")
    } catch let e as HarnessError {
      #expect(e.description.contains("not ready") && e.description.contains("TLS error"), "\(e)")
    }
  }
}
