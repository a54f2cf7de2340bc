import Foundation
import Testing

/// Issue 16's board side without systemd, against every build `Scripts/test` runs (the 32-bit
/// one under qemu-user too): a signed manifest from a real client, the binary fetched from a
/// real HTTP server (Python's http.server), checked, staged; the agent exits, the test starts
/// it again as systemd would, and it runs the update on trial and commits it. Then a damaged
/// state file, which must not open the box to a replayed manifest. Scripts/test-install shows
/// the rest under a real systemd (watchdog, crashes, reboots, dpkg).
@Suite struct SelfUpdateTests {
  /// A site that trusts a centre key, running, with the centre's client subscribed; a sim
  /// board with its mains line.
  final class UpdateSite {
    let broker: Broker
    let centre: Centre
    let agent: AgentProcess
    let board: SimBoardDir
    let site = "t-upd-\(UUID().uuidString.prefix(4).lowercased())"
    var root: String { "vigil/\(site)" }
    private let keyPrefix: String
    private var sent = 0

    init() async throws {
      broker = try Broker()
      keyPrefix = Harness.tempDir("updkeys").appendingPathComponent("centre").path
      let (k, kout) = Harness.run(Harness.centreBinary, ["keygen", keyPrefix])
      guard k == 0 else { throw HarnessError("vigil-centre keygen: \(kout)") }
      let pub = try String(contentsOfFile: keyPrefix + ".pub", encoding: .utf8)
        .trimmingCharacters(in: .whitespacesAndNewlines)
      let dir = Harness.tempDir("update")
      board = try SimBoardDir(in: dir, lines: ["mains": (true, 50)])
      agent = try AgentProcess(config: testConfig(
        site: site, brokers: brokerEntry(broker.port),
        extra: #""board": "board.json", "mains_line": "mains", "trusted_keys": ["\#(pub)"]"#),
        dir: dir)
      centre = try await Centre(port: broker.port)
      try agent.start()
      guard await centre.waitFor("\(root)/heartbeat", within: 15) != nil else {
        throw HarnessError("no heartbeat: \(agent.log.text)")
      }
    }

    /// Signs a manifest for this site with the centre's key and publishes it on `R/update`.
    func publish(_ fields: [String: Any], retain: Bool = false) throws {
      sent += 1
      let doc = Harness.tempDir("manifest").appendingPathComponent("m-\(sent).json")
      var m = fields
      m["site_id"] = site
      try JSONSerialization.data(withJSONObject: m).write(to: doc)
      let (st, env) = Harness.run(Harness.centreBinary, ["sign", "--key", keyPrefix + ".key", doc.path])
      guard st == 0 else { throw HarnessError("vigil-centre sign: \(env)") }
      centre.publish("\(root)/update", env.trimmingCharacters(in: .whitespacesAndNewlines), retain: retain)
    }

    /// Publishes and returns the first `update/state` since that names its seq and matches.
    func send(_ fields: [String: Any], retain: Bool = false, within: Double = 15,
              until: @escaping ([String: Any]) -> Bool) async throws -> [String: Any]? {
      let after = centre.messages("\(root)/update/state").count
      try publish(fields, retain: retain)
      let seq = fields["seq"] as? Int
      return await centre.waitFor("\(root)/update/state", within: within, after: after) {
        guard let j = $0.json else { return false }
        return j["seq"] as? Int == seq && until(j)
      }?.json
    }

    /// This box's architecture, as it names it refusing a manifest for another.
    func arch(_ manifest: [String: Any]) async throws -> String {
      var m = manifest
      m["arch"] = "none"
      let r = try await send(m) { $0["state"] as? String == "rejected" }
      let reason = r?["reason"] as? String ?? ""
      let head = "arch: is none; this box runs "
      guard reason.hasPrefix(head) else { throw HarnessError("arch refusal: \(r ?? [:]) \(agent.log.text)") }
      return String(reason.dropFirst(head.count))
    }
  }

  @Test func aSignedUpdateIsFetchedCheckedTriedAndCommittedAndADamagedStateRefusesAReplay()
    async throws
  {
    let web = try WebServer()
    let u = try await UpdateSite()
    let (agent, centre, root) = (u.agent, u.centre, u.root)
    defer { agent.kill9() }

    // The box names its architecture when a manifest names another.
    let (file, isELF) = try UpdateFile.file(into: web.dir)
    let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int ?? 0
    var manifest: [String: Any] = [
      "version": "0.9.0", "seq": 7, "sha256": UpdateFile.sha256(file), "size": size,
      "url": "http://127.0.0.1:\(web.port)/vigil-next", "trial_s": 10,
    ]
    manifest["arch"] = try await u.arch(manifest)

    // Taken: fetched, checked (the new binary's own check-config), staged; the agent exits.
    let staged = try await u.send(manifest, retain: true, within: 60) {
      $0["state"] as? String == "staged"
    }
    #expect(staged?["version"] as? String == "0.9.0", "\(agent.log.text)")
    #expect(await agent.waitExit(15) == 0, "\(agent.log.text)")
    #expect(agent.log.text.contains("update 0.9.0 in place; the next start runs it on trial"),
            "\(agent.log.text)")
    let updateDir = agent.dir.appendingPathComponent("spool/state/update")
    let current = try? FileManager.default.destinationOfSymbolicLink(
      atPath: updateDir.appendingPathComponent("current").path)
    #expect(current == "vigil-7")
    #expect(!FileManager.default.fileExists(atPath: updateDir.appendingPathComponent("download.part").path))

    // Started again (systemd's part): the launcher runs the update in place, on trial, and it
    // commits after 10 s connected with heartbeats going out, not counting 8 s on the UPS (the
    // mains line lost: the site's power, not the binary's fault, and its clock stops).
    try agent.start()
    let trial = await centre.waitFor("\(root)/update/state", within: 20) {
      $0.json?["state"] as? String == "trial"
    }
    #expect(trial != nil, "\(agent.log.text)")
    let trialAt = Date()
    u.board.set("mains", 0)
    #expect(await centre.waitForEvent(root, "mains_lost", within: 5) != nil, "\(agent.log.text)")
    try await Task.sleep(nanoseconds: 8_000_000_000)
    u.board.set("mains", 1)
    let committed = await centre.waitFor("\(root)/update/state", within: 40) {
      $0.json?["state"] as? String == "committed"
    }
    #expect(committed?.json?["seq"] as? Int == 7, "\(agent.log.text)")
    let took = Date().timeIntervalSince(trialAt)
    #expect(took >= 17 && took < 30, "committed \(took) s after the trial began, with 8 s of it on the UPS")
    #expect(agent.log.text.contains("running the update in place, vigil-7"), "\(agent.log.text)")
    if isELF {
      // The same process (systemd's main pid), now running the update's file.
      let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(agent.pid)/exe")
      #expect(exe?.hasSuffix("spool/state/update/vigil-7") == true, "the agent runs \(exe ?? "?")")
    }

    // state.json damaged (a bad block, a hand edit): the launcher runs the installed binary, and
    // the retained manifest, and an older one, are still refused: the last seq is kept apart.
    agent.signal(SIGTERM)
    #expect(await agent.waitExit(15) == 0)
    try Data("{\"state\": \"comm".utf8).write(to: updateDir.appendingPathComponent("state.json"))
    let before = centre.messages("\(root)/update/state").count
    try agent.start()
    let replay = await centre.waitFor("\(root)/update/state", within: 20, after: before) {
      $0.json?["state"] as? String == "rejected"
    }
    #expect(replay?.json?["reason"] as? String == "seq: 7 is not newer than the last update taken (7)",
            "\(replay?.json ?? [:]) \(agent.log.text)")
    #expect(agent.log.text.contains("state.json is damaged"), "\(agent.log.text)")
    manifest["seq"] = 6
    let older = try await u.send(manifest) { $0["state"] as? String == "rejected" }
    #expect(older?["reason"] as? String == "seq: 6 is not newer than the last update taken (7)",
            "\(older ?? [:])")
    #expect(!FileManager.default.fileExists(atPath: updateDir.appendingPathComponent("current").path))
  }

  /// The download server unreachable (the uplink's outage, the centre's web server down): the
  /// state says why and when it is tried again, and once the server answers the update goes
  /// on to `staged`, from the start, with no half file left behind.
  @Test func aDownloadThatCannotConnectIsTriedAgainAndCompletes() async throws {
    let u = try await UpdateSite()
    let (agent, centre, root) = (u.agent, u.centre, u.root)
    defer { agent.kill9() }
    let www = Harness.tempDir("www")
    let (file, _) = try UpdateFile.file(into: www)
    let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int ?? 0
    let port = Harness.freePort()  // reserved; nothing listens on it yet
    var manifest: [String: Any] = [
      "version": "0.9.1", "seq": 3, "sha256": UpdateFile.sha256(file), "size": size,
      "url": "http://127.0.0.1:\(port)/vigil-next", "trial_s": 10,
    ]
    manifest["arch"] = try await u.arch(manifest)
    try u.publish(manifest)
    let failed = await centre.waitFor("\(root)/update/state", within: 20) {
      $0.json?["state"] as? String == "downloading"
        && ($0.json?["reason"] as? String ?? "").hasPrefix("download failed: ")
    }
    let why = failed?.json?["reason"] as? String ?? ""
    #expect(why.hasSuffix("; again in 30 s"), "\(why) \(agent.log.text)")
    let failedAt = Date()
    let web = try WebServer(port: port, dir: www)
    let staged = await centre.waitFor("\(root)/update/state", within: 50) {
      $0.json?["state"] as? String == "staged"
    }
    #expect(staged?.json?["seq"] as? Int == 3, "\(agent.log.text) \(web.log.text)")
    // Tried again after its 30 s, not at once and not never.
    let took = Date().timeIntervalSince(failedAt)
    #expect(took > 25 && took < 50, "staged \(took) s after the failure")
    #expect(await agent.waitExit(15) == 0, "\(agent.log.text)")
    let updateDir = agent.dir.appendingPathComponent("spool/state/update")
    #expect(!FileManager.default.fileExists(atPath: updateDir.appendingPathComponent("download.part").path))
    #expect(FileManager.default.fileExists(atPath: updateDir.appendingPathComponent("vigil-3").path))
  }
}
