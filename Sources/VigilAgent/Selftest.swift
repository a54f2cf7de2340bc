import CVigil
import VigilCore
import VigilPlatform

/// `selftest`: the agent's own checks (storage, uplink, clock), then every part's (lines
/// readable, cameras answering…), one PASS/FAIL line each.
extension Agent {
  func registerSelftest() {
    commands.register("selftest", usage: "selftest",
                      summary: "check lines, spool, broker and clock") { [self] _, _ in
      var checks = [self.storageCheck(), self.brokerCheck(), self.clockCheck()]
      for p in self.parts { p.selftest(into: &checks) }
      return Selftest.report(checks)
    }
  }

  /// The spool folder takes a file: written, synced and renamed in the state folder under it
  /// (the same filesystem), so a full or read-only disk shows here and the spool's own files
  /// are left alone.
  func storageCheck() -> SelftestCheck {
    let dir = config.spool.dir
    let probe = stateDir + "/selftest"
    do throws(SystemError) {
      try Files.makeDirectories(stateDir)
      try Files.writeAtomically(probe, Array("selftest\n".utf8))
      unlink(probe)
    } catch {
      return SelftestCheck(name: "spool", ok: false, detail: dir + ": " + error.message)
    }
    if access(dir, W_OK) != 0 {
      let e = SystemError("access", errno: Sys.errno, subject: dir)
      return SelftestCheck(name: "spool", ok: false, detail: e.message)
    }
    return SelftestCheck(name: "spool", ok: true, detail: dir + " writable")
  }

  func brokerCheck() -> SelftestCheck {
    if session.isConnected {
      return SelftestCheck(name: "broker", ok: true,
                           detail: "connected to " + session.currentBroker.label)
    }
    var detail = "not connected, trying " + session.currentBroker.label
    if !session.lastError.isEmpty { detail += ": " + session.lastError }
    return SelftestCheck(name: "broker", ok: false, detail: detail)
  }

  func clockCheck() -> SelftestCheck {
    Clock.isSynced()
      ? SelftestCheck(name: "clock", ok: true, detail: "synchronised (NTP)")
      : SelftestCheck(name: "clock", ok: false,
                      detail: "not synchronised: message times may be wrong")
  }
}

enum Selftest {
  /// One line per check, `PASS  name      detail`, and a count; ok only if all passed.
  static func report(_ checks: [SelftestCheck]) -> CommandResult {
    var out = ""
    var failed = 0
    for c in checks {
      var name = c.name
      while name.utf8.count < 9 { name += " " }
      out += (c.ok ? "PASS" : "FAIL") + "  " + name + " " + c.detail + "\n"
      if !c.ok { failed += 1 }
    }
    out += "selftest: " + String(checks.count - failed) + " passed, " + String(failed) + " failed\n"
    return failed == 0 ? .ok(out) : .fail(out)
  }
}
