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
          return .fail("log: N must be a number from 1 to " + String(Log.ringSize))
        }
        n = v
      }
      var out = ""
      for line in Log.recent(n) { out += line + "\n" }
      // Every line is here; these are the ones the journal (stderr) did not get.
      let dropped = Log.droppedLines
      if dropped > 0 {
        out += "stderr full: " + String(dropped) + " lines not written there since start\n"
      }
      return .ok(out)
    }
  }

  func statusText() -> String {
    var lines = [
      "site " + config.siteId + "  vigil " + Messages.version + "  boot " + String(bootId)
        + "  up " + String(uptimeS) + " s",
      "config version " + String(config.version) + "  clock "
        + (Clock.isSynced() ? "synced" : "NOT synced"),
      "uplink " + (session.isConnected ? "connected to" : "DOWN, trying") + " "
        + session.currentBroker.label
        + "  connects " + String(session.connects),
    ]
    for p in parts { p.status(into: &lines) }
    var out = ""
    for l in lines { out += l + "\n" }
    return out
  }

  func mqttText() -> String {
    var out = "state    " + (session.isConnected ? "connected" : "disconnected") + "\n"
    out += "broker   " + session.currentBroker.label + "\n"
    out += "client   " + config.clientId + "  keepalive " + String(config.keepaliveS) + " s\n"
    out += "topics   " + topicRoot + "/...\n"
    out += "connects " + String(session.connects) + "  last outage " + String(session.lastOutageS)
      + " s\n"
    if !session.lastError.isEmpty { out += "error    " + session.lastError + "\n" }
    for (i, b) in config.brokers.enumerated() {
      let tls = b.tls == nil ? "" : (b.tls?.certFile == nil ? " tls" : " mutual-tls")
      out += "broker[" + String(i) + "] " + b.label + tls + (b.protocolV5 ? " v5" : " v3.1.1")
        + "\n"
    }
    return out
  }
}

/// The config as a technician reads it: every setting, passwords and keys masked.
enum ConfigText {
  static func describe(_ c: Config, board: BoardFile?) -> String {
    var out = "version " + String(c.version) + "  site " + c.siteId + "  prefix " + c.topicPrefix
      + "\n"
    out += "heartbeat " + String(c.heartbeatS) + " s  keepalive " + String(c.keepaliveS)
      + " s  probe " + String(c.probeS) + " s"
    out += "  confirm " + String(c.confirmS) + " s\n"
    for (i, b) in c.brokers.enumerated() {
      var line = "broker[" + String(i) + "] " + b.label
      if let u = b.username { line += "  user " + u }
      if b.password != nil { line += "  password ****" }
      if let t = b.tls { line += "  ca " + t.caFile + (t.certFile != nil ? "  client cert" : "") }
      out += line + "\n"
    }
    out += "board " + (board?.name ?? "none") + "  door " + (c.doorLine ?? "-") + "  mains "
      + (c.mainsLine ?? "-") + "\n"
    for cam in c.cameras {
      var line = "camera " + cam.id + " " + cam.host + ":" + String(cam.probePort) + " "
        + cam.owner.rawValue
      line += "  power " + (cam.powerLine ?? "-") + "  relay " + (cam.relayLine ?? "-")
      line += "  snapshot " + (cam.snapshotURL == nil ? "-" : "every " + String(cam.snapshotS)
        + " s")
      if cam.password != nil { line += "  password ****" }
      out += line + "\n"
    }
    let p = c.powerCycle
    out += "power_cycle after " + String(p.afterFailures) + "  off " + String(p.offS)
      + " s  boot " + String(p.bootS) + " s"
    out += "  max " + String(p.maxPerHour) + "/h\n"
    out += "spool " + c.spool.dir + "  max " + String(c.spool.maxBytes) + " bytes\n"
    if let con = c.console {
      out += "console " + con.device + " " + String(con.baud) + "  pin ****  lockout "
        + String(con.lockoutS) + " s\n"
    }
    out += "trusted_keys " + String(c.trustedKeys.count) + "\n"
    return out
  }
}
