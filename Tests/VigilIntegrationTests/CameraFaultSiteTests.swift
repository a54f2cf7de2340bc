import Foundation
import Testing
import VigilPlatform

/// Issue 13's snapshot side, as the centre sees it: named faults, power cycles only where one
/// can help, the login budget, and the cameras' clocks. Real parts: mosquitto, the agent as a
/// process, fake cameras over HTTP that behave as Hikvision and Dahua firmware does (digest
/// logins counted, a lockout after five failures, an XML error with status 200, one frozen
/// JPEG, a clock ten minutes off), and a sim board for the relays.
@Suite(.serialized)
struct CameraFaultSiteTests {
  static let cycle = #"{"after_failures": 2, "off_s": 1, "boot_s": 2, "max_per_hour": 5}"#

  /// A camera entry with a relay line.
  func withRelay(_ entry: String, _ relay: String) -> String {
    String(entry.dropLast()) + ", \"relay_line\": \"\(relay)\"}"
  }

  func camera(_ hb: Seen?, _ id: String) -> [String: Any]? {
    (hb?.json?["cameras"] as? [[String: Any]])?.first { $0["id"] as? String == id }
  }

  /// "A camera with a wrong password is never power-cycled; the centre sees `fault: "auth"` and
  /// one `camera_auth_failed`; the camera counts at most 3 failed logins in 30 minutes; a
  /// corrected password sent as remote config brings its snapshots back within one turn."
  /// Without the login budget, a turn every 2 s makes five failed logins in 10 s and the camera
  /// locks the gateway out, so the corrected password is refused too; without the fault given
  /// to the power-cycle policy, the no_video camera is cycled after 2 probe rounds.
  @Test func aWrongPasswordIsNeverCycledLogsInAtMostThriceAndAFixedOneWorksAtOnce()
    async throws
  {
    let broker = try Broker()
    let cam = try FakeCamera(auth: .digest)
    let dir = Harness.tempDir("authcam")
    let board = try SimBoardDir(in: dir, lines: ["cam1_relay": (false, 0)])
    let relay = LineRecorder(board, "cam1_relay")
    let keys = Harness.tempDir("authkeys").appendingPathComponent("centre").path
    let (k, kout) = Harness.run(Harness.centreBinary, ["keygen", keys])
    try #require(k == 0, "\(kout)")
    let pub = try String(contentsOfFile: keys + ".pub", encoding: .utf8)
      .trimmingCharacters(in: .whitespacesAndNewlines)
    let site = "t-auth-\(UUID().uuidString.prefix(4).lowercased())"
    let root = "vigil/\(site)"
    func doc(_ version: Int, _ password: String) -> String {
      let entry = withRelay(cam.entry("cam1", every: 2, password: password), "cam1_relay")
      return """
        {"version": \(version), "site_id": "\(site)", "heartbeat_s": 1, "keepalive_s": 5,
         "brokers": [\(brokerEntry(broker.port))], "spool": {"dir": "spool"},
         "board": "board.json", "probe_s": 1, "power_cycle": \(Self.cycle),
         "trusted_keys": ["\(pub)"], "cameras": [\(entry)]}
        """
    }
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: doc(1, "wrong"), dir: dir)
    try agent.start()
    defer { agent.kill9() }

    let auth = await centre.waitForCamera(root, "cam1", within: 20) {
      $0["fault"] as? String == "auth"
    }
    #expect(auth?["state"] as? String == "no_video", "\(agent.log.text)")
    // Long enough for the policy (2 failed probe rounds, 1 s apart) to have cycled it.
    try await Task.sleep(nanoseconds: 6_000_000_000)
    #expect(centre.events(root, "camera_power_cycled").isEmpty, "\(agent.log.text)")
    #expect(relay.history == [1], "the relay was switched: \(relay.history)")
    let failed = centre.events(root, "camera_auth_failed")
    #expect(failed.count == 1, "\(failed)")
    #expect(failed.first?["camera"] as? String == "cam1")
    #expect(failed.first?["username"] as? String == "viewer")
    #expect((failed.first?["retry_s"] as? Int ?? 0) >= 500, "\(failed)")
    let last = camera(centre.messages("\(root)/heartbeat").last, "cam1")
    #expect(last?["fault"] as? String == "auth" && last?["cycles"] as? Int == 0, "\(last ?? [:])")
    #expect(centre.snapshots(root).isEmpty)

    // The centre sends the corrected password, signed.
    let file = dir.appendingPathComponent("v2.json")
    try doc(2, cam.password).write(to: file, atomically: true, encoding: .utf8)
    let (s, signed) = Harness.run(Harness.centreBinary, ["sign", "--key", keys + ".key", file.path])
    try #require(s == 0, "\(signed)")
    centre.publish("\(root)/config/set", signed.trimmingCharacters(in: .whitespacesAndNewlines))
    let applied = await centre.waitFor("\(root)/config/state", within: 8) {
      $0.json?["status"] as? String == "applied" && $0.json?["version"] as? Int == 2
    }
    try #require(applied != nil, "\(agent.log.text)")
    // Within one snapshot turn (2 s) of the config taking effect.
    let snap = await centre.waitFor("\(root)/snapshot/cam1/", within: 2)
    #expect(snap != nil, "no snapshot within one turn: \(agent.log.text)")
    let healthy = await centre.waitForCamera(root, "cam1", within: 8) {
      $0["state"] as? String == "healthy"
    }
    #expect(healthy != nil && healthy?["fault"] is NSNull, "\(healthy ?? [:])")
    // What the camera counted: one failed login (the first turn), far from its lockout.
    let logins = cam.failedLogins()
    #expect(logins.count <= 3 && !logins.contains { $0.locked }, "\(logins)")
    #expect(logins.count == 1, "\(logins)")
    #expect(centre.events(root, "camera_auth_failed").count == 1)
  }

  /// The board's binary compares text by Unicode scalars, not by canonical equivalence
  /// (Sources/CVigil/unicode_identity.c leaves the stdlib's normalization tables out): a camera
  /// whose password is Vietnamese, with its tone marks, still logs in by digest, on every
  /// binary the suite runs against.
  @Test func aVietnamesePasswordLogsIn() async throws {
    let broker = try Broker()
    let pw = "Mật-khẩu Tân Phú"
    let cam = try FakeCamera(auth: .digest, password: pw)
    let site = "t-utf8-\(UUID().uuidString.prefix(4).lowercased())"
    let root = "vigil/\(site)"
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: testConfig(
      site: site, brokers: brokerEntry(broker.port), extra: """
        "probe_s": 1, "cameras": [\(cam.entry("cam1", every: 2))]
        """), dir: Harness.tempDir("utf8"))
    try agent.start()
    defer { agent.kill9() }
    let snap = await centre.waitFor("\(root)/snapshot/cam1/", within: 10)
    #expect(snap != nil, "\(agent.log.text)")
    #expect(cam.failedLogins().isEmpty, "\(cam.failedLogins())")
  }

  /// "The XML-error, frozen and skewed-clock cameras each give their fault or field": Hikvision's
  /// XML error with status 200 is `bad_image` and is never cycled; the same JPEG turn after turn
  /// is `frozen` and is cycled; a camera whose `Date:` is ten minutes ahead shows
  /// `clock_skew_s` 600, but only while the gateway's own clock is synced. For that the test marks
  /// the kernel's clock synced as timesyncd does (Tests/Fixtures/clock-sync.c, adjtimex as root)
  /// and restores the previous state at the end.
  @Test func xmlErrorFrozenAndSkewedCamerasGiveTheirFaultOrField() async throws {
    let broker = try Broker()
    let open = try FakeCamera(auth: .none)
    let skewed = try FakeCamera(auth: .none, dateOffsetS: 600)
    let dir = Harness.tempDir("faults")
    let board = try SimBoardDir(in: dir, lines: ["xml_relay": (false, 0),
                                                 "frozen_relay": (false, 0)])
    let xmlRelay = LineRecorder(board, "xml_relay")
    let site = "t-faults-\(UUID().uuidString.prefix(4).lowercased())"
    let root = "vigil/\(site)"
    let cams = [
      withRelay(open.entry("xml", path: "/xml-error", auth: false), "xml_relay"),
      withRelay(open.entry("frozen", path: "/frozen.jpg", auth: false), "frozen_relay"),
      skewed.entry("skewed", auth: false),
    ].joined(separator: ", ")
    let clock = try SyncedClock()
    defer { clock.restore() }
    let centre = try await Centre(port: broker.port)
    let agent = try AgentProcess(config: testConfig(
      site: site, brokers: brokerEntry(broker.port), extra: """
        "board": "board.json", "probe_s": 1, "power_cycle": \(Self.cycle), "cameras": [\(cams)]
        """), dir: dir)
    try agent.start()
    defer { agent.kill9() }

    // While the gateway's clock is not synced, no skew is measured.
    if !clock.wasSynced {
      let beat = await centre.waitForCamera(root, "skewed", within: 10) {
        $0["snapshot_age_s"] is Int
      }
      #expect(beat != nil && beat?["clock_skew_s"] is NSNull, "\(beat ?? [:])")
    }
    try clock.mark()
    let skew = await centre.waitForCamera(root, "skewed", within: 10) { $0["clock_skew_s"] is Int }
    // What the centre and the kernel showed, should it fail (it did once under qemu, on a
    // loaded machine, and passed alone: the cause is not known yet).
    let seen = "\(skew ?? [:]); synced now: \(VigilPlatform.Clock.isSynced()); last beat: "
      + "\(camera(centre.messages("\(root)/heartbeat").last, "skewed") ?? [:])\n" + agent.log.text
    #expect(abs((skew?["clock_skew_s"] as? Int ?? 0) - 600) <= 1, "\(seen)")
    #expect(skew?["fault"] is NSNull && skew?["state"] as? String == "healthy")

    let xml = await centre.waitForCamera(root, "xml", within: 15) { $0["fault"] is String }
    #expect(xml?["fault"] as? String == "bad_image", "\(agent.log.text)")
    #expect(xml?["state"] as? String == "no_video")
    // The first heartbeat with a fault may already fall in the cycle that follows at once,
    // where the camera has no power (`power`, rightly): found so in a full run. The frozen
    // camera must show `frozen` in some heartbeat.
    let frozen = await centre.waitForCamera(root, "frozen", within: 15) {
      $0["fault"] as? String == "frozen"
    }
    #expect(frozen?["fault"] as? String == "frozen", "\(agent.log.text)")
    // The frozen camera is cycled (a cycle may cure a hung encoder), the XML one never.
    let cycled = await centre.waitForEvent(root, "camera_power_cycled", within: 15) {
      $0["camera"] as? String == "frozen"
    }
    #expect(cycled?.0["reason"] as? String == "no_video", "\(agent.log.text)")
    #expect(!centre.events(root, "camera_power_cycled").contains {
      $0["camera"] as? String == "xml"
    })
    #expect(xmlRelay.history == [1], "\(xmlRelay.history)")
    // The first two of the same bytes went out; none after it was called frozen.
    #expect(centre.snapshots(root).filter { $0.camera == "frozen" }.count == 2)
    #expect(centre.snapshots(root).filter { $0.camera == "xml" }.isEmpty)
    let log = agent.log.text
    #expect(log.contains("snapshot xml: not a JPEG") && log.contains("Invalid Operation"), "\(log)")
    #expect(log.contains("snapshot frozen: the same picture 3 times in a row (frozen)"), "\(log)")
  }
}

/// The kernel's clock marked synchronised for a test (Tests/Fixtures/clock-sync.c, built here):
/// `mark` clears STA_UNSYNC as timesyncd does, `restore` puts back what was there before.
final class SyncedClock {
  private let tool: String
  private var before: [String]?
  /// Whether the kernel said synced before the test touched it.
  let wasSynced: Bool

  init() throws {
    tool = Harness.tempDir("clocksync").appendingPathComponent("clock-sync").path
    let src = Harness.root.appendingPathComponent("Tests/Fixtures/clock-sync.c").path
    let (s, out) = Harness.run("/usr/bin/gcc", [src, "-o", tool])
    guard s == 0 else { throw HarnessError("clock-sync.c: \(out)") }
    wasSynced = VigilPlatform.Clock.isSynced()
  }

  func mark() throws {
    let (s, out) = Harness.run(tool, ["mark"])
    guard s == 0 else { throw HarnessError("clock-sync mark: \(out)") }
    before = out.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
  }

  func restore() {
    guard let b = before, b.count == 3 else { return }
    Harness.run(tool, ["restore"] + b)
    before = nil
  }

  deinit { restore() }
}
