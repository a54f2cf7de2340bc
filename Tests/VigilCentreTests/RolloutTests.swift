import Foundation
import Testing
import VigilCore

/// `vigil-centre rollout` with real parts: a mosquitto broker on loopback, real `vigil` agents
/// (with the centre's key in their trusted_keys) on simulated boards, the centre's tool as a
/// process, and a real MQTT client watching what goes over the broker.
@Suite(.serialized)
struct RolloutTests {
  /// One gateway of the test district.
  struct Site {
    let id: String
    let agent: AgentProcess
    let board: SimBoardDir
  }

  /// A site on version 1, trusting `publicKey`; `door`: whether its board has a door switch.
  func startSite(_ id: String, broker: Broker, publicKey: String, door: Bool = true) throws -> Site {
    let config = """
      {"version": 1, "site_id": "\(id)", "heartbeat_s": 1, "keepalive_s": 5,
       "brokers": [\(brokerEntry(broker.port))], "board": "board.json", "spool": {"dir": "spool"},
       "confirm_s": 5, "trusted_keys": ["\(publicKey)"]}
      """
    let agent = try AgentProcess(config: config)
    let board = try SimBoardDir(in: agent.dir, lines: Self.lines(door: door))
    try agent.start()
    return Site(id: id, agent: agent, board: board)
  }

  static func lines(door: Bool) -> [String: (input: Bool, debounceMs: Int)] {
    door ? ["mains": (true, 0), "door": (true, 0)] : ["mains": (true, 0)]
  }

  /// Version 2 for every site: it watches the cabinet door, which a board without the line
  /// refuses (`door_line: no line "door" in board …`).
  func documentV2(_ broker: Broker, in dir: URL) throws -> String {
    let path = dir.appendingPathComponent("v2.json").path
    try """
      {"version": 2, "heartbeat_s": 1, "keepalive_s": 5, "brokers": [\(brokerEntry(broker.port))],
       "confirm_s": 5, "door_line": "door"}
      """.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  func centreKeys() throws -> (dir: URL, key: String, publicKey: String) {
    let dir = Harness.tempDir("rollout")
    let prefix = dir.appendingPathComponent("centre").path
    let (status, out) = Harness.run(Harness.centreBinary, ["keygen", prefix])
    try #require(status == 0, "\(out)")
    let pub = try String(contentsOfFile: prefix + ".pub", encoding: .utf8)
      .trimmingCharacters(in: .whitespacesAndNewlines)
    return (dir, prefix + ".key", pub)
  }

  /// Runs `vigil-centre rollout` to its end off the test's own threads; (status, output).
  func rollout(_ args: [String]) async -> (Int32, String) {
    await withCheckedContinuation { c in
      Thread { c.resume(returning: Harness.run(Harness.centreBinary, ["rollout"] + args)) }.start()
    }
  }

  /// Whether a client that subscribes now is given a retained copy on `topic`.
  func retainedCopy(_ broker: Broker, _ topic: String) async throws -> Seen? {
    let late = try await Centre(port: broker.port, topic: topic)
    defer { late.stop() }
    return await late.waitFor(topic, within: 5) { $0.retained }
  }

  /// The newest `R/config/state` the centre has seen from `site`.
  func configState(_ centre: Centre, _ site: String) -> [String: Any]? {
    centre.messages("vigil/\(site)/config/state").last?.json
  }

  /// Waits until every site has said online and applied version 1.
  func waitUntilReady(_ centre: Centre, _ sites: [Site]) async {
    for s in sites {
      let state = await centre.waitFor("vigil/\(s.id)/config/state", within: 15) {
        $0.json?["version"] as? Int == 1 && $0.json?["status"] as? String == "applied"
      }
      #expect(state != nil, "\(s.id) never applied version 1: \(s.agent.log.text)")
    }
  }

  @Test func aRolloutHaltsAtTheSiteThatRejectsItAndResumesOnceItIsFixed() async throws {
    let broker = try Broker()
    let keys = try centreKeys()
    let centre = try await Centre(port: broker.port)
    let ids = (1...6).map { "tp-000\($0)" }
    // tp-0003 is an older cabinet without a door switch: version 2 is refused there.
    var sites: [Site] = []
    for id in ids {
      sites.append(try startSite(id, broker: broker, publicKey: keys.publicKey, door: id != "tp-0003"))
    }
    await waitUntilReady(centre, sites)
    let sitesFile = keys.dir.appendingPathComponent("sites.txt").path
    try ("# ward Tân Sơn Nhì, the canary first\n" + ids.joined(separator: "\n") + "\n")
      .write(toFile: sitesFile, atomically: true, encoding: .utf8)
    let doc = try documentV2(broker, in: keys.dir)
    let progress = keys.dir.appendingPathComponent("progress.json").path
    let args = ["--broker", "127.0.0.1:\(broker.port)", "--sites", sitesFile, "--key", keys.key,
                "--config", doc, "--waves", "1,2", "--timeout", "20", "--state", progress]

    let (status, out) = await rollout(args)
    #expect(status == 1, "\(out)")
    #expect(out.contains("rollout of config v2 to 6 sites in 4 waves (1, 2, 2, 1)"), "\(out)")
    #expect(out.contains("wave 1/4: 1 site (tp-0001)"), "\(out)")
    #expect(out.contains("  tp-0001 applied v2 ("), "\(out)")
    #expect(out.contains("wave 2/4: 2 sites (tp-0002 … tp-0003)"), "\(out)")
    #expect(out.contains(#"HALTED at wave 2/4, site tp-0003: rejected v2: door_line: no line "door" in board"#),
            "\(out)")
    // The other site of the halted wave was heard out before the halt.
    #expect(out.contains("  tp-0002 applied v2 ("), "\(out)")
    #expect(!out.contains("wave 3/4"), "\(out)")
    // The canary and the site beside the failing one have version 2; the later waves' sites
    // were sent nothing and still run version 1.
    for id in ["tp-0001", "tp-0002"] {
      #expect(configState(centre, id)?["version"] as? Int == 2, "\(id): \(out)")
      #expect(configState(centre, id)?["status"] as? String == "applied", "\(id): \(out)")
    }
    for id in ["tp-0004", "tp-0005", "tp-0006"] {
      #expect(centre.messages("vigil/\(id)/config/set").isEmpty, "\(id) was sent the document")
      #expect(configState(centre, id)?["version"] as? Int == 1, "\(id)")
      #expect(configState(centre, id)?["status"] as? String == "applied", "\(id)")
    }
    let kept = try String(contentsOfFile: progress, encoding: .utf8)
    #expect(kept.contains(#""done":["tp-0001","tp-0002"]"#), "\(kept)")
    #expect(kept.contains(#""halted":{"site":"tp-0003","reason":"rejected v2: door_line: "#), "\(kept)")

    // Resuming without a fix halts at the same site again at once (it refused this very
    // document, still retained for it), and sends the later waves nothing.
    let resumedAt = Date()
    let (again, againOut) = await rollout(args + ["--resume"])
    #expect(again == 1, "\(againOut)")
    #expect(againOut.contains("resuming: 2 of them done before; it halted at tp-0003: rejected v2"),
            "\(againOut)")
    #expect(againOut.contains("wave 2/4: 2 sites (tp-0002 … tp-0003), 1 done before"), "\(againOut)")
    #expect(againOut.contains(#"  tp-0003 rejected v2: door_line: no line "door" in board "test-sim" (its answer before this run"#),
            "\(againOut)")
    #expect(againOut.contains("HALTED at wave 2/4, site tp-0003: rejected v2: door_line: "), "\(againOut)")
    #expect(Date().timeIntervalSince(resumedAt) < 10, "\(againOut)")
    #expect(centre.messages("vigil/tp-0004/config/set").isEmpty)

    // The fix, on the box: the door switch wired and named in its board file, the agent
    // restarted. The document still retained for it on the broker is taken on its way up.
    let fixed = sites[2]
    fixed.agent.kill9()
    _ = try SimBoardDir(in: fixed.agent.dir, lines: Self.lines(door: true))
    let seen = centre.messages("vigil/tp-0003/config/state").count
    try fixed.agent.start()
    let applied = await centre.waitFor("vigil/tp-0003/config/state", within: 15, after: seen) {
      $0.json?["version"] as? Int == 2 && $0.json?["status"] as? String == "applied"
    }
    #expect(applied != nil, "\(fixed.agent.log.text)")

    let (resumed, resumedOut) = await rollout(args + ["--resume"])
    #expect(resumed == 0, "\(resumedOut)\n\(fixed.agent.log.text)")
    #expect(resumedOut.contains("wave 1/4: 1 site, done before"), "\(resumedOut)")
    #expect(resumedOut.contains("wave 2/4: 2 sites (tp-0002 … tp-0003), 1 done before"), "\(resumedOut)")
    #expect(resumedOut.contains("  tp-0003 already applied v2"), "\(resumedOut)")
    #expect(resumedOut.contains("wave 4/4: 1 site (tp-0006)"), "\(resumedOut)")
    #expect(resumedOut.contains("rollout of config v2 done: 6 sites have it"), "\(resumedOut)")
    for id in ids {
      let s = await centre.waitFor("vigil/\(id)/config/state", within: 5) {
        $0.json?["version"] as? Int == 2 && $0.json?["status"] as? String == "applied"
      }
      #expect(s != nil, "\(id) does not report version 2 applied")
    }
    // Each site was sent its own copy, signed for it.
    let envelope = centre.messages("vigil/tp-0005/config/set").last?.json
    let inner = (envelope?["doc"] as? String).flatMap { Data(base64Encoded: $0) }
    let signedDoc = inner.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
    #expect(signedDoc?["site_id"] as? String == "tp-0005")
    #expect(try await retainedCopy(broker, "vigil/tp-0005/config/set") != nil)
  }

  @Test func aSiteThatRollsBackHaltsTheRolloutAndResumeGoesOnWithoutIt() async throws {
    // Version 2 moves the sites to the broker's TLS listener, trusting the CA in a file beside
    // each site's config. tp-0203 holds a stale CA there: it cannot connect under version 2,
    // and puts version 1 back after confirm_s (5 s). Six sites in waves of 1, 2, 2, 1: the
    // rollout halts in wave 2 at tp-0203, and the 3 sites of the later waves never get it.
    let pki = try TestPKI()
    let tlsPort = Harness.freePort()
    let broker = try Broker(extraConfig: "listener \(tlsPort) 127.0.0.1\n"
      + pki.listener(requireClientCert: false))
    let keys = try centreKeys()
    let centre = try await Centre(port: broker.port)
    let ids = ["tp-0201", "tp-0202", "tp-0203", "tp-0204", "tp-0205", "tp-0206"]
    var sites: [Site] = []
    for id in ids {
      let site = try startSite(id, broker: broker, publicKey: keys.publicKey)
      try FileManager.default.copyItem(
        atPath: pki.path(id == "tp-0203" ? "other.pem" : "ca.pem"),
        toPath: site.agent.dir.appendingPathComponent("centre-ca.pem").path)
      sites.append(site)
    }
    await waitUntilReady(centre, sites)
    let sitesFile = keys.dir.appendingPathComponent("sites.txt").path
    try (ids.joined(separator: "\n") + "\n").write(toFile: sitesFile, atomically: true, encoding: .utf8)
    let doc = keys.dir.appendingPathComponent("v2.json").path
    try """
      {"version": 2, "heartbeat_s": 1, "keepalive_s": 5, "confirm_s": 5,
       "brokers": [\(brokerEntry(tlsPort, #""tls": {"ca_file": "centre-ca.pem"}"#))]}
      """.write(toFile: doc, atomically: true, encoding: .utf8)
    let progress = keys.dir.appendingPathComponent("progress.json").path
    let args = ["--broker", "127.0.0.1:\(broker.port)", "--sites", sitesFile, "--key", keys.key,
                "--config", doc, "--waves", "1,2", "--timeout", "30", "--state", progress]

    let (status, out) = await rollout(args)
    #expect(status == 1, "\(out)\n\(sites[2].agent.log.text)")
    #expect(out.contains("  tp-0201 applied v2 ("), "\(out)")
    #expect(out.contains("  tp-0202 applied v2 ("), "\(out)")
    #expect(out.contains("  tp-0203 pending_confirm v2 ("), "\(out)")
    #expect(out.contains("HALTED at wave 2/4, site tp-0203: rolled_back v2: "), "\(out)")
    #expect(!out.contains("wave 3/4"), "\(out)")
    for later in ["tp-0204", "tp-0205", "tp-0206"] {
      #expect(centre.messages("vigil/\(later)/config/set").isEmpty, "\(later) got the document")
      #expect(configState(centre, later)?["version"] as? Int == 1, "\(later)")
    }
    // The site is back on version 1 and reachable: its heartbeats say so.
    let hb = await centre.waitFor("vigil/tp-0203/heartbeat", within: 5,
                                  after: centre.messages("vigil/tp-0203/heartbeat").count)
    #expect(hb?.json?["config_version"] as? Int == 1)

    // The operator leaves the site out (it needs its CA file replaced, then a higher version),
    // and resumes over the broker's TLS listener this time.
    try "tp-0201\ntp-0202\ntp-0204\ntp-0205\ntp-0206\n".write(toFile: sitesFile, atomically: true,
                                                              encoding: .utf8)
    var overTLS = args
    overTLS[1] = "127.0.0.1:\(tlsPort)"
    let (resumed, resumedOut) = await rollout(overTLS + ["--resume", "--ca-file", pki.path("ca.pem")])
    #expect(resumedOut.contains("connected to 127.0.0.1:\(tlsPort)"), "\(resumedOut)")
    #expect(resumed == 0, "\(resumedOut)")
    for later in ["tp-0204", "tp-0205", "tp-0206"] {
      #expect(resumedOut.contains("  \(later) applied v2 ("), "\(resumedOut)")
    }
    #expect(resumedOut.contains("rollout of config v2 done: 5 sites have it"), "\(resumedOut)")
  }

  @Test func aSiteThatDoesNotAnswerHaltsTheRolloutAndResumeGoesOnWithoutIt() async throws {
    let broker = try Broker()
    let keys = try centreKeys()
    let centre = try await Centre(port: broker.port)
    let sites = [try startSite("tp-0101", broker: broker, publicKey: keys.publicKey),
                 try startSite("tp-0103", broker: broker, publicKey: keys.publicKey)]
    await waitUntilReady(centre, sites)
    let sitesFile = keys.dir.appendingPathComponent("sites.txt").path
    // tp-0102 is in the list but has never connected (a gateway not installed yet).
    try "tp-0101\ntp-0102\ntp-0103\n".write(toFile: sitesFile, atomically: true, encoding: .utf8)
    let doc = try documentV2(broker, in: keys.dir)
    let progress = keys.dir.appendingPathComponent("progress.json").path
    let args = ["--broker", "127.0.0.1:\(broker.port)", "--sites", sitesFile, "--key", keys.key,
                "--config", doc, "--waves", "1", "--timeout", "3", "--state", progress]
    let started = Date()
    let (status, out) = await rollout(args)
    #expect(status == 1, "\(out)")
    #expect(out.contains("HALTED at wave 2/3, site tp-0102: no answer within 3 s; it has no "
      + "retained status (never connected to this broker?)"), "\(out)")
    #expect(Date().timeIntervalSince(started) < 10, "\(out)")
    #expect(centre.messages("vigil/tp-0103/config/set").isEmpty)
    #expect(configState(centre, "tp-0103")?["version"] as? Int == 1)

    // The operator takes the site out of the list and resumes.
    try "tp-0101\ntp-0103\n".write(toFile: sitesFile, atomically: true, encoding: .utf8)
    let (resumed, resumedOut) = await rollout(args + ["--resume"])
    #expect(resumed == 0, "\(resumedOut)")
    #expect(resumedOut.contains("  tp-0103 applied v2 ("), "\(resumedOut)")
    #expect(resumedOut.contains("rollout of config v2 done: 2 sites have it (1 answered now, 0 "
      + "had it already, 1 done in an earlier run)"), "\(resumedOut)")
    // The site that never answered got its copy retained, for when it connects.
    #expect(try await retainedCopy(broker, "vigil/tp-0102/config/set") != nil)
  }

  @Test func badInputIsAClearErrorBeforeAnythingIsSent() async throws {
    let keys = try centreKeys()
    let dir = keys.dir
    func file(_ name: String, _ text: String) throws -> String {
      let p = dir.appendingPathComponent(name).path
      try text.write(toFile: p, atomically: true, encoding: .utf8)
      return p
    }
    let sites = try file("sites.txt", "tp-0001\ntp-0002\n")
    let doc = try file("v2.json", #"{"version": 2, "heartbeat_s": 30}"#)
    // Nothing listens on port 1: every case below must fail before connecting.
    let base = ["--broker", "127.0.0.1:1", "--config", doc]
    func run(_ args: [String]) -> (Int32, String) {
      Harness.run(Harness.centreBinary, ["rollout"] + args)
    }

    let badSites = try file("bad-sites.txt", "tp-0001\n# the new ward\ntp-0002 tp-0003\n")
    var (status, out) = run(base + ["--sites", badSites, "--key", keys.key])
    #expect(status == 1)
    #expect(out.contains("vigil-centre rollout: \(badSites) line 3: \"tp-0002 tp-0003\" is more "
      + "than one site id (give one a line)"), "\(out)")

    (status, out) = run(base + ["--sites", dir.appendingPathComponent("none.txt").path, "--key", keys.key])
    #expect(status == 1)
    #expect(out.contains("--sites \(dir.path)/none.txt: cannot open it: No such file or directory"),
            "\(out)")

    let missingKey = dir.appendingPathComponent("missing.key").path
    (status, out) = run(base + ["--sites", sites, "--key", missingKey])
    #expect(status == 1)
    #expect(out.contains("--key \(missingKey): cannot open it: No such file or directory"), "\(out)")

    let notAKey = try file("not.key", "hello\n")
    (status, out) = run(base + ["--sites", sites, "--key", notAKey])
    #expect(status == 1)
    #expect(out.contains("\(notAKey) is not a secret key made by `vigil-centre keygen`"), "\(out)")

    (status, out) = run(["--broker", "127.0.0.1:1", "--sites", sites, "--key", keys.key])
    #expect(status == 2)
    #expect(out.contains("give one of --config and --update"), "\(out)")

    (status, out) = run(base + ["--sites", sites, "--key", keys.key, "--resume"])
    #expect(status == 2)
    #expect(out.contains("--resume needs --state FILE"), "\(out)")

    let other = try file("other.json",
      #"{"kind":"config","target":"v7","done":["tp-0001"],"halted":null}"# + "\n")
    (status, out) = run(base + ["--sites", sites, "--key", keys.key, "--state", other])
    #expect(status == 1)
    #expect(out.contains("\(other) exists: give --resume to continue its rollout"), "\(out)")
    (status, out) = run(base + ["--sites", sites, "--key", keys.key, "--state", other, "--resume"])
    #expect(status == 1)
    #expect(out.contains("\(other) is the progress of the config v7 rollout, not of config v2"),
            "\(out)")

    // A broker that is not there: said once the connection timeout passes, nothing sent.
    (status, out) = run(base + ["--sites", sites, "--key", keys.key])
    #expect(status == 1)
    #expect(out.contains("HALTED at the start: cannot reach the broker 127.0.0.1:1 within 15 s"),
            "\(out)")
  }

  /// systemd's part for agents without one: an agent that has stopped (to run its update) is
  /// started again, from a thread of its own, until `stop`.
  final class Restarter: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private(set) var restarts = 0

    init(_ agents: [AgentProcess]) {
      Thread { [self] in
        while true {
          lock.lock()
          let done = stopped
          lock.unlock()
          if done { return }
          for a in agents where !a.isRunning {
            if (try? a.start()) != nil {
              lock.lock()
              restarts += 1
              lock.unlock()
            }
          }
          usleep(200_000)
        }
      }.start()
    }

    func stop() {
      lock.lock()
      stopped = true
      lock.unlock()
    }
  }

  /// `--update` over real agents: each site's copy of the manifest is signed for it; the site
  /// fetches the binary from a web server, checks it, stages it and stops; started again, it
  /// runs it on trial and commits after 10 s. tp-0023 trusts another key and rejects it: the
  /// rollout halts there, and the sites of the later wave are sent nothing.
  @Test func anUpdateRolloutCommitsWaveByWaveAndHaltsAtTheSiteThatRejectsIt() async throws {
    let broker = try Broker()
    let keys = try centreKeys()
    let other = try centreKeys()
    let centre = try await Centre(port: broker.port)
    let ids = (1...5).map { "tp-002\($0)" }
    var sites: [Site] = []
    for id in ids {
      sites.append(try startSite(id, broker: broker,
                                 publicKey: id == "tp-0023" ? other.publicKey : keys.publicKey))
    }
    await waitUntilReady(centre, sites)
    let web = try WebServer()
    let (file, _) = try UpdateFile.file(into: web.dir)
    let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int ?? 0
    let manifest = keys.dir.appendingPathComponent("vigil-0.9.2.json").path
    try #"{"version":"0.9.2","seq":5,"sha256":"\#(UpdateFile.sha256(file))","size":\#(size),"arch":"\#(UpdateManifest.buildArch)","url":"http://127.0.0.1:\#(web.port)/vigil-next","trial_s":10}"#
      .write(toFile: manifest, atomically: true, encoding: .utf8)
    let sitesFile = keys.dir.appendingPathComponent("sites.txt").path
    try (ids.joined(separator: "\n") + "\n").write(toFile: sitesFile, atomically: true, encoding: .utf8)
    let restarter = Restarter(sites.map(\.agent))
    defer { restarter.stop() }

    let (status, out) = await rollout([
      "--broker", "127.0.0.1:\(broker.port)", "--sites", sitesFile, "--key", keys.key,
      "--update", manifest, "--waves", "1,2", "--timeout", "60"])
    #expect(status == 1, "\(out)")
    #expect(out.contains("rollout of update 0.9.2 (seq 5) to 5 sites in 3 waves (1, 2, 2)"), "\(out)")
    #expect(out.contains("  tp-0021 committed 0.9.2"), "\(out)")
    #expect(out.contains("  tp-0022 committed 0.9.2"), "\(out)")
    #expect(out.contains("HALTED at wave 2/3, site tp-0023: rejected 0.9.2: sig: signature does not match any trusted key"),
            "\(out)")
    #expect(!out.contains("wave 3/3"), "\(out)")
    for id in ["tp-0021", "tp-0022"] {
      let s = centre.messages("vigil/\(id)/update/state").last?.json
      #expect(s?["state"] as? String == "committed" && s?["seq"] as? Int == 5, "\(id): \(s ?? [:])")
    }
    for id in ["tp-0024", "tp-0025"] {
      #expect(centre.messages("vigil/\(id)/update").isEmpty, "\(id) was sent the manifest")
    }
    // The two that committed were each started once more, to run the update.
    #expect(restarter.restarts == 2, "restarts: \(restarter.restarts)")
  }
}
