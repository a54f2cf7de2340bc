import VigilPlatform

/// The exporter's picture of the district: every site and camera as their last messages
/// describe them, fed one MQTT message at a time and read by `/metrics`, `/api/state` and the
/// snapshot URLs. Times are the exporter's monotonic milliseconds, given by the caller (tests
/// pass their own): a site's age is how long ago *we* heard it, whatever its own clock says.
final class DistrictModel {
  enum Kind: String, CaseIterable {
    case status, heartbeat, event, config_state, update_state, snapshot, bad
  }

  final class Site {
    let id: String
    /// The retained status: true online, false offline, nil none seen (or cleared).
    var online: Bool?
    var statusVersion: String?
    var heartbeat: SiteReports.Heartbeat?
    /// When the last heartbeat arrived (monotonic ms).
    var heartbeatAtMs: Int64?
    /// The heartbeat interval: the longest of the last few gaps between consecutive heartbeats
    /// (`ts` over `seq`), so one sent early (at a reconnect) does not make the site look stale.
    var intervalMs: Int64 = DistrictModel.defaultIntervalMs
    var recentGapsMs: [Int64] = []
    /// The boot the site is in, from its status, heartbeats and event ids.
    var bootId: Int64?
    var consoleLoggedIn = false
    var configState: SiteReports.ConfigState?
    var updateState: SiteReports.UpdateState?
    /// When a bad message of this site was last logged, and how many were not logged since.
    var badLoggedAtMs: Int64?
    var badUnlogged = 0
    /// Whether any message of the site has been read (an inventory site may have none).
    var heard = false

    init(id: String) { self.id = id }
  }

  static let defaultIntervalMs: Int64 = 60_000
  /// A site is up while its last heartbeat is younger than this many intervals.
  static let staleIntervals: Int64 = 3
  /// How many heartbeat gaps the interval is the longest of: a site whose `heartbeat_s` was
  /// lowered is judged by the new one after this many heartbeats.
  static let gapsKept = 4
  /// Sites beyond this are refused (each a bad message): a publisher inventing site ids must
  /// not grow the exporter without bound. A district has about 1,600.
  static let maxSites = 20_000
  /// The largest status, heartbeat, event or state document read (the agent's own limit on
  /// documents); only snapshots may be larger (the session's limit, `Exporter.maxSnapshotBytes`).
  static let maxDocumentBytes = 256 * 1024
  /// Bad messages are logged once per site per this many ms.
  static let badLogEveryMs: Int64 = 60_000

  let prefix: String
  private(set) var inventory: Inventory
  private(set) var sites: [String: Site] = [:]
  private(set) var counts: [Kind: Int64] = [:]
  private(set) var snapshots: SnapshotStore
  /// Where bad-message lines go (the log; a test collects them).
  var logBad: (String) -> Void = { Log.warning($0) }

  init(prefix: String, inventory: Inventory, snapshotBudgetBytes: Int) {
    self.prefix = prefix
    self.inventory = inventory
    self.snapshots = SnapshotStore(budgetBytes: snapshotBudgetBytes)
    for id in inventory.sites.keys { sites[id] = Site(id: id) }
  }

  /// A new inventory (the exporter's SIGHUP): its sites are added, the wards and addresses are
  /// its own from now on; a site only the old one listed, never heard from, is dropped.
  func replaceInventory(_ new: Inventory) {
    for (id, s) in sites where !s.heard && new.sites[id] == nil { sites[id] = nil }
    inventory = new
    for id in new.sites.keys where sites[id] == nil { sites[id] = Site(id: id) }
  }

  func ward(_ site: String) -> String { inventory.sites[site]?.ward ?? "" }

  func count(_ k: Kind) -> Int64 { counts[k] ?? 0 }

  // MARK: reading

  /// Whether the site is up at `nowMs`: online, and heard from within 3 intervals.
  func isUp(_ s: Site, nowMs: Int64) -> Bool {
    guard s.online == true, let at = s.heartbeatAtMs else { return false }
    return nowMs - at < Self.staleIntervals * s.intervalMs
  }

  /// Seconds since the last heartbeat, nil if none came.
  func heartbeatAgeS(_ s: Site, nowMs: Int64) -> Double? {
    guard let at = s.heartbeatAtMs else { return nil }
    return Double(max(0, nowMs - at)) / 1000
  }

  /// Site ids in order, for stable output.
  var siteIds: [String] { sites.keys.sorted() }

  // MARK: messages

  /// One message on a subscribed topic. `size` is its length, also when the session did not
  /// copy it (over the limit: `payload` is empty).
  func ingest(topic: String, payload: [UInt8], size: Int, nowMs: Int64) {
    guard topic.hasPrefix(prefix + "/") else {
      return bad(nil, topic, "not under \(prefix)/", nowMs)
    }
    let rest = topic.dropFirst(prefix.count + 1).split(separator: "/", maxSplits: 1,
                                                       omittingEmptySubsequences: false)
    guard rest.count == 2 else { return bad(nil, topic, "no site and subtopic", nowMs) }
    let siteId = String(rest[0])
    let sub = String(rest[1])
    guard SiteId.isValid(siteId) else { return bad(nil, topic, "not a site id", nowMs) }
    if payload.count != size || (size > Self.maxDocumentBytes && !sub.hasPrefix("snapshot/")) {
      return bad(siteId, topic, "\(size) bytes, over the limit", nowMs)
    }
    let site: Site
    if let s = sites[siteId] {
      site = s
    } else {
      guard sites.count < Self.maxSites else {
        return bad(nil, topic, "more than \(Self.maxSites) sites", nowMs)
      }
      site = Site(id: siteId)
      sites[siteId] = site
    }
    site.heard = true
    do throws(SiteReports.Refusal) {
      switch sub {
      case "status":
        try status(site, payload)
        counts[.status, default: 0] += 1
      case "heartbeat":
        try heartbeat(site, payload, nowMs)
        counts[.heartbeat, default: 0] += 1
      case "event":
        let e = try SiteReports.event(payload)
        event(site, e)
        counts[.event, default: 0] += 1
      case "config/state":
        site.configState = payload.isEmpty ? nil : try SiteReports.configState(payload)
        counts[.config_state, default: 0] += 1
      case "update/state":
        site.updateState = payload.isEmpty ? nil : try SiteReports.updateState(payload)
        counts[.update_state, default: 0] += 1
      default:
        if sub.hasPrefix("snapshot/") {
          try snapshot(site, sub, payload)
          counts[.snapshot, default: 0] += 1
        } else {
          throw SiteReports.Refusal("not a topic the exporter reads")
        }
      }
    } catch {
      bad(siteId, topic, error.reason, nowMs)
    }
  }

  private func status(_ site: Site, _ payload: [UInt8]) throws(SiteReports.Refusal) {
    // An empty retained message clears the status (someone removed it at the broker).
    guard !payload.isEmpty else {
      site.online = nil
      return
    }
    let s = try SiteReports.status(payload)
    site.online = s.online
    if let v = s.version { site.statusVersion = v }
    if s.online, let b = s.bootId { enterBoot(site, b) }
  }

  private func heartbeat(_ site: Site, _ payload: [UInt8], _ nowMs: Int64)
    throws(SiteReports.Refusal)
  {
    guard !payload.isEmpty else { throw SiteReports.Refusal("empty") }
    let hb = try SiteReports.heartbeat(payload)
    if let prev = site.heartbeat, prev.bootId == hb.bootId, hb.seq > prev.seq {
      // Per heartbeat, so one that was lost on the way does not double the interval.
      let per = (hb.ts - prev.ts) / (hb.seq - prev.seq)
      if per >= 500 && per <= 86_400_000 {
        site.recentGapsMs.append(per)
        if site.recentGapsMs.count > Self.gapsKept { site.recentGapsMs.removeFirst() }
        site.intervalMs = site.recentGapsMs.max() ?? per
      }
    }
    enterBoot(site, hb.bootId)
    site.heartbeat = hb
    site.heartbeatAtMs = nowMs
  }

  private func event(_ site: Site, _ e: SiteReports.Event) {
    if let b = e.bootId {
      if let current = site.bootId, b < current { return }  // a late event of an earlier boot
      enterBoot(site, b)
    }
    switch e.kind {
    case "console_login": site.consoleLoggedIn = true
    case "console_logout": site.consoleLoggedIn = false
    default: break
    }
  }

  /// A new boot: nobody is logged in at the console of a box that just started.
  private func enterBoot(_ site: Site, _ boot: Int64) {
    if let current = site.bootId, boot <= current { return }
    site.bootId = boot
    site.consoleLoggedIn = false
  }

  /// `snapshot/<camera>/<capture_ms>`, a JPEG.
  private func snapshot(_ site: Site, _ sub: String, _ payload: [UInt8])
    throws(SiteReports.Refusal)
  {
    let parts = sub.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 3, SiteId.isValid(String(parts[1])), let ms = Int64(parts[2]) else {
      throw SiteReports.Refusal("not snapshot/<camera>/<capture_ms>")
    }
    guard payload.count >= 3, payload[0] == 0xFF, payload[1] == 0xD8, payload[2] == 0xFF else {
      throw SiteReports.Refusal("not a JPEG")
    }
    snapshots.put(site.id, String(parts[1]), captureMs: ms, payload)
  }

  private func bad(_ siteId: String?, _ topic: String, _ reason: String, _ nowMs: Int64) {
    counts[.bad, default: 0] += 1
    // Per site where the topic names a known one; messages with no usable site share one slot.
    let site = siteId.flatMap { sites[$0] } ?? unattributed
    if let at = site.badLoggedAtMs, nowMs - at < Self.badLogEveryMs {
      site.badUnlogged += 1
      return
    }
    let n = site.badUnlogged
    let more = n > 0 ? " (\(n) more not logged in the last minute)" : ""
    site.badLoggedAtMs = nowMs
    site.badUnlogged = 0
    logBad("bad message on \(topic): \(reason)\(more)")
  }

  private let unattributed = Site(id: "")
}
