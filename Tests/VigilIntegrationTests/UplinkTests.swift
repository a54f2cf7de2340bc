import Foundation
import Testing

/// The foundation's promises at a real broker: status, will, heartbeats, failover, reconnect.
@Suite(.serialized)
struct UplinkTests {
  func site(_ config: String) -> String {
    let data = config.data(using: .utf8) ?? Data()
    let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    return obj?["site_id"] as? String ?? ""
  }

  @Test func retainedOnlineStatusReachesALateSubscriber() async throws {
    let broker = try Broker()
    let config = testConfig(brokers: brokerEntry(broker.port))
    let agent = try AgentProcess(config: config)
    try agent.start()
    let root = "vigil/\(site(config))"
    // Wait until the agent is connected, then subscribe as a newcomer.
    let early = try await Centre(port: broker.port)
    #expect(await early.waitFor("\(root)/heartbeat", within: 10) != nil, "\(agent.log.text)")
    let late = try await Centre(port: broker.port, topic: "\(root)/status")
    let status = try #require(await late.waitFor("\(root)/status", within: 5))
    #expect(status.retained)
    let json = try #require(status.json)
    #expect(json["state"] as? String == "online")
    #expect(json["boot_id"] as? Int ?? 0 >= 1)
    #expect(json["version"] as? String == "0.1.0")
    #expect((json["ts"] as? Int64 ?? 0) > 1_600_000_000_000)
  }

  @Test func willIsPublishedAfterKill9WithinOneAndAHalfKeepalives() async throws {
    let broker = try Broker()
    // 5 s: libmosquitto's smallest keepalive.
    let config = testConfig(brokers: brokerEntry(broker.port), heartbeat: 30, keepalive: 5)
    let root = "vigil/\(site(config))"
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: config)
    try agent.start()
    let online = try #require(await centre.waitFor("\(root)/status", within: 10) {
      $0.json?["state"] as? String == "online"
    })
    let bootId = online.json?["boot_id"] as? Int
    let before = centre.messages("\(root)/status").count
    let killedAt = Date()
    agent.kill9()
    let will = try #require(await centre.waitFor("\(root)/status", within: 10, after: before) {
      $0.json?["state"] as? String == "offline"
    })
    #expect(will.json?["boot_id"] as? Int == bootId)
    #expect(will.json?["reason"] == nil, "a will carries no reason")
    // The broker declares the client gone after 1.5 × keepalive (7.5 s here); allow the poll step.
    #expect(will.at.timeIntervalSince(killedAt) <= 8.0)
  }

  @Test func sigtermPublishesShutdownStatusAndExitsZero() async throws {
    let broker = try Broker()
    let config = testConfig(brokers: brokerEntry(broker.port))
    let root = "vigil/\(site(config))"
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: config)
    try agent.start()
    #expect(await centre.waitFor("\(root)/status", within: 10) != nil)
    agent.signal(SIGTERM)
    let status = await agent.waitExit(10)
    #expect(status == 0, "\(agent.log.text)")
    let last = try #require(await centre.waitFor("\(root)/status", within: 5) {
      $0.json?["reason"] as? String == "shutdown"
    })
    #expect(last.json?["state"] as? String == "offline")
    // A clean disconnect: no will follows the shutdown status.
    try await Task.sleep(nanoseconds: 3_500_000_000)
    #expect(centre.messages("\(root)/status").last?.json?["reason"] as? String == "shutdown")
  }

  @Test func heartbeatsComeEveryIntervalWithRisingSeq() async throws {
    let broker = try Broker()
    let config = testConfig(brokers: brokerEntry(broker.port), heartbeat: 1)
    let root = "vigil/\(site(config))"
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: config)
    try agent.start()
    _ = await Harness.wait(15) { centre.messages("\(root)/heartbeat").count >= 5 }
    let beats = centre.messages("\(root)/heartbeat")
    try #require(beats.count >= 5, "\(agent.log.text)")
    let seqs = beats.compactMap { $0.json?["seq"] as? Int }
    #expect(seqs == Array(seqs[0]..<(seqs[0] + seqs.count)))
    for (a, b) in zip(beats, beats.dropFirst()) {
      let gap = b.at.timeIntervalSince(a.at)
      #expect(gap > 0.6 && gap < 1.6, "heartbeat gap \(gap) s")
    }
    let hb = try #require(beats.last?.json)
    #expect(hb["site"] as? String == site(config))
    #expect(hb["config_version"] as? Int == 1)
    #expect(hb["clock_synced"] is Bool)
    let uplink = try #require(hb["uplink"] as? [String: Any])
    #expect(uplink["broker"] as? String == "127.0.0.1:\(broker.port)")
    #expect(uplink["connects"] as? Int == 1)
    let spool = try #require(hb["spool"] as? [String: Any])
    #expect(spool["count"] as? Int == 0)
    #expect(hb["board"] as? [String: Any] != nil)
    #expect(hb["cameras"] as? [Any] != nil)
    #expect(!beats.contains { $0.retained }, "heartbeats are not retained")
  }

  @Test func failsOverWhenTheFirstBrokerIsDown() async throws {
    let dead = Harness.freePort()
    let broker = try Broker()
    let config = testConfig(brokers: brokerEntry(dead) + ", " + brokerEntry(broker.port))
    let root = "vigil/\(site(config))"
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: config)
    let started = Date()
    try agent.start()
    let online = try #require(await centre.waitFor("\(root)/status", within: 10))
    #expect(online.at.timeIntervalSince(started) < 5, "failover took too long")
    let hb = try #require(await centre.waitFor("\(root)/heartbeat", within: 5))
    #expect((hb.json?["uplink"] as? [String: Any])?["broker"] as? String
      == "127.0.0.1:\(broker.port)")
    #expect(agent.log.text.contains("cannot connect to 127.0.0.1:\(dead)"))
  }

  @Test func reconnectsAfterTheBrokerRestarts() async throws {
    let broker = try Broker()
    let config = testConfig(brokers: brokerEntry(broker.port))
    let root = "vigil/\(site(config))"
    let agent = try AgentProcess(config: config)
    try agent.start()
    var centre = try await Centre(port: broker.port)
    #expect(await centre.waitFor("\(root)/heartbeat", within: 10) != nil)
    broker.stop()
    centre.stop()
    try await Task.sleep(nanoseconds: 2_000_000_000)
    try broker.start()
    centre = try await Centre(port: broker.port)
    // The first retry after a lost connection comes within 15 s (spread so that a district's
    // gateways do not all return at once), the next ones within 2 s.
    let online = try #require(await centre.waitFor("\(root)/status", within: 25) {
      $0.json?["state"] as? String == "online"
    }, "\(agent.log.text)")
    #expect(online.json?["boot_id"] != nil)
    // The restarted broker kept nothing (no persistence): the status a newcomer gets retained
    // is the one published again at reconnect.
    let late = try await Centre(port: broker.port, topic: "\(root)/status")
    #expect(await late.waitFor("\(root)/status", within: 5) { $0.retained } != nil)
    let hb = try #require(await centre.waitFor("\(root)/heartbeat", within: 5))
    let uplink = hb.json?["uplink"] as? [String: Any]
    #expect(uplink?["connects"] as? Int == 2)
    #expect(uplink?["last_outage_s"] as? Int ?? -1 >= 1)
  }

  @Test func bootIdGrowsWithEveryStart() async throws {
    let broker = try Broker()
    let config = testConfig(brokers: brokerEntry(broker.port))
    let root = "vigil/\(site(config))"
    let centre = try await Centre(port: broker.port)
    let first = try AgentProcess(config: config)
    try first.start()
    let a = try #require(await centre.waitFor("\(root)/status", within: 10))
    first.signal(SIGTERM)
    _ = await first.waitExit(10)
    let second = try AgentProcess(config: config, dir: first.dir)
    let count = centre.messages("\(root)/status").count
    try second.start()
    let b = try #require(await centre.waitFor("\(root)/status", within: 10, after: count) {
      $0.json?["state"] as? String == "online"
    })
    let idA = try #require(a.json?["boot_id"] as? Int)
    let idB = try #require(b.json?["boot_id"] as? Int)
    #expect(idB == idA + 1)
  }

  /// Issue 15: a boot counter past a 32-bit Int is read and grown on every board (the armhf
  /// binary included), and a damaged one restarts from the wall clock in seconds, never a trap.
  @Test(arguments: ["999999999999999\n", "not a number\n"])
  func aBootCounterPastThirtyTwoBitsOrDamagedIsNoTrap(_ stored: String) async throws {
    let broker = try Broker()
    let config = testConfig(brokers: brokerEntry(broker.port))
    let root = "vigil/\(site(config))"
    let dir = Harness.tempDir("bootcount")
    let state = dir.appendingPathComponent("spool/state")
    try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
    try stored.write(to: state.appendingPathComponent("boot_count"), atomically: true, encoding: .utf8)
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: config, dir: dir)
    let startedS = Int(Date().timeIntervalSince1970)
    try agent.start()
    defer { agent.kill9() }
    let online = try #require(await centre.waitFor("\(root)/status", within: 10) {
      $0.json?["state"] as? String == "online"
    }, "\(agent.log.text)")
    let id = try #require(online.json?["boot_id"] as? Int, "\(online.text)")
    if stored.hasPrefix("9") {
      #expect(id == 1_000_000_000_000_000)
    } else {
      #expect(id >= startedS - 2 && id <= startedS + 10, "\(id) against \(startedS)")
      #expect(agent.log.text.contains("is damaged; continuing from"), "\(agent.log.text)")
    }
    let written = try String(contentsOf: state.appendingPathComponent("boot_count"), encoding: .utf8)
    #expect(written == "\(id)\n")
  }

  @Test func sighupReloadsAndRefusesABadFile() async throws {
    let broker = try Broker()
    let site = "t-hup"
    let config = testConfig(site: site, brokers: brokerEntry(broker.port), heartbeat: 1)
    let root = "vigil/\(site)"
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: config)
    try agent.start()
    #expect(await centre.waitFor("\(root)/heartbeat", within: 10) != nil)
    // A bad file is refused and the agent keeps running on version 1.
    try "{\"version\": 2, \"site_id\": \"t-hup\", \"heartbeat_s\": -1, \"brokers\": [{\"host\": \"h\"}]}"
      .write(to: agent.configURL, atomically: true, encoding: .utf8)
    agent.signal(SIGHUP)
    #expect(await Harness.wait(5) { agent.log.text.contains("reload refused") })
    #expect(agent.log.text.contains("heartbeat_s"))
    let n = centre.messages("\(root)/heartbeat").count
    #expect(await centre.waitFor("\(root)/heartbeat", within: 3, after: n) {
      $0.json?["config_version"] as? Int == 1
    } != nil)
    // A good one takes effect.
    let v2 = testConfig(site: site, brokers: brokerEntry(broker.port), heartbeat: 1)
      .replacingOccurrences(of: "\"version\": 1", with: "\"version\": 2")
    try v2.write(to: agent.configURL, atomically: true, encoding: .utf8)
    agent.signal(SIGHUP)
    let m = centre.messages("\(root)/heartbeat").count
    #expect(await centre.waitFor("\(root)/heartbeat", within: 5, after: m) {
      $0.json?["config_version"] as? Int == 2
    } != nil)
    #expect(agent.isRunning)
  }
}
