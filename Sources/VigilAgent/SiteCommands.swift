import VigilCore
import VigilPlatform

/// The commands about the agent as a whole: `help`, `status`, `mqtt`, `config`, `log`.
extension Agent {
  func registerCommands() {
    commands.register("help", usage: "help", summary: "list the commands") { [self] _, _ in
      .ok(self.commands.helpText())
    }
    commands.register("status", usage: "status", summary: "site, uplink and health at a glance") {
      [self] _, _ in .ok(self.statusText())
    }
    commands.register("mqtt", usage: "mqtt", summary: "the uplink: broker, state, reconnects") {
      [self] _, _ in .ok(self.mqttText())
    }
    commands.register("config", usage: "config", summary: "the running config, secrets masked") {
      [self] _, _ in .ok(ConfigText.describe(self.config, board: self.loaded.board))
    }
    commands.register("log", usage: "log [N]", summary: "the last N log lines (default 20)") {
      args, _ in
      var n = 20
      if let a = args.first {
        guard let v = Int(a), v > 0, v <= Log.ringSize else {
          return .fail("log: N must be a number from 1 to \(Log.ringSize)")
        }
        n = v
      }
      var out = ""
      for line in Log.recent(n) { out += line + "\n" }
      // Every line is here; these are the ones the journal (stderr) did not get.
      let dropped = Log.droppedLines
      if dropped > 0 { out += "stderr full: \(dropped) lines not written there since start\n" }
      return .ok(out)
    }
  }

  func statusText() -> String {
    var lines = [
      "site \(config.siteId)  vigil \(Messages.version)  boot \(bootId)  up \(uptimeS) s",
      "config version \(config.version)  clock \(Clock.isSynced() ? "synced" : "NOT synced")",
      "uplink \(session.isConnected ? "connected to" : "DOWN, trying") \(session.currentBroker.label)"
        + "  connects \(session.connects)",
    ]
    for p in parts { p.status(into: &lines) }
    var out = ""
    for l in lines { out += l + "\n" }
    return out
  }

  func mqttText() -> String {
    var out = "state    \(session.isConnected ? "connected" : "disconnected")\n"
    out += "broker   \(session.currentBroker.label)\n"
    out += "client   \(config.clientId)  keepalive \(config.keepaliveS) s\n"
    out += "topics   \(topicRoot)/...\n"
    out += "connects \(session.connects)  last outage \(session.lastOutageS) s\n"
    if !session.lastError.isEmpty { out += "error    \(session.lastError)\n" }
    for (i, b) in config.brokers.enumerated() {
      let tls = b.tls == nil ? "" : (b.tls?.certFile == nil ? " tls" : " mutual-tls")
      out += "broker[\(i)] \(b.label)\(tls)\(b.protocolV5 ? " v5" : " v3.1.1")\n"
    }
    return out
  }
}

/// The config as a technician reads it: every setting, passwords and keys masked.
enum ConfigText {
  static func describe(_ c: Config, board: BoardFile?) -> String {
    var out = "version \(c.version)  site \(c.siteId)  prefix \(c.topicPrefix)\n"
    out += "heartbeat \(c.heartbeatS) s  keepalive \(c.keepaliveS) s  probe \(c.probeS) s"
    out += "  confirm \(c.confirmS) s\n"
    for (i, b) in c.brokers.enumerated() {
      var line = "broker[\(i)] \(b.label)"
      if let u = b.username { line += "  user \(u)" }
      if b.password != nil { line += "  password ****" }
      if let t = b.tls { line += "  ca \(t.caFile)" + (t.certFile != nil ? "  client cert" : "") }
      out += line + "\n"
    }
    out += "board \(board?.name ?? "none")  door \(c.doorLine ?? "-")  mains \(c.mainsLine ?? "-")\n"
    for cam in c.cameras {
      var line = "camera \(cam.id) \(cam.host):\(cam.probePort) \(cam.owner.rawValue)"
      line += "  power \(cam.powerLine ?? "-")  relay \(cam.relayLine ?? "-")"
      line += "  snapshot \(cam.snapshotURL == nil ? "-" : "every \(cam.snapshotS) s")"
      if cam.password != nil { line += "  password ****" }
      out += line + "\n"
    }
    let p = c.powerCycle
    out += "power_cycle after \(p.afterFailures)  off \(p.offS) s  boot \(p.bootS) s"
    out += "  max \(p.maxPerHour)/h\n"
    out += "spool \(c.spool.dir)  max \(c.spool.maxBytes) bytes\n"
    if let con = c.console {
      out += "console \(con.device) \(con.baud)  pin ****  lockout \(con.lockoutS) s\n"
    }
    out += "trusted_keys \(c.trustedKeys.count)\n"
    return out
  }
}
