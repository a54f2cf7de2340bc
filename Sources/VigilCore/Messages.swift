/// The MQTT contract's messages (DESIGN.md, "The MQTT contract (v1)"), encoded. Pure: the
/// caller supplies every value, so tests check the exact bytes.
public enum Messages {
  #if !VIGIL_NEXT_VERSION
    public static let version = "0.1.0"
  #else
    /// A build that says it is the next version, for the self-update tests only
    /// (`VIGIL_NEXT_VERSION=1 Scripts/build-embedded x86_64`): the same code, another version.
    public static let version = "0.1.1"
  #endif

  /// `R/status`, retained: `online` at every connect.
  public static func online(bootId: Int64, tsMs: Int64) -> [UInt8] {
    var w = JSONWriter()
    w.beginObject()
    w.field("state", "online")
    w.field("boot_id", bootId)
    w.field("version", version)
    w.field("ts", tsMs)
    w.endObject()
    return w.bytes
  }

  /// The will, set at connect, and with `reason` the status of a clean stop.
  public static func offline(bootId: Int64, reason: String? = nil, tsMs: Int64? = nil) -> [UInt8] {
    var w = JSONWriter()
    w.beginObject()
    w.field("state", "offline")
    w.field("boot_id", bootId)
    if let r = reason { w.field("reason", r) }
    if let ts = tsMs { w.field("ts", ts) }
    w.endObject()
    return w.bytes
  }
}

/// Everything a heartbeat says (DESIGN.md, "Heartbeat").
public struct Heartbeat {
  public struct Camera {
    public var id: String
    public var state: String
    public var power: String
    public var link: String
    public var relay: String
    public var sinceS: Int
    public var cycles: Int
    /// Seconds since the last good snapshot; nil before the first.
    public var snapshotAgeS: Int?
    /// Why it gives no video (`CameraFault`'s wire name); nil while healthy.
    public var fault: String?
    /// Its clock minus the gateway's, in seconds; nil when unknown or the gateway is unsynced.
    public var clockSkewS: Int64?
    /// Who installed and owns it (`police`, `district`, `resident`), from its config entry.
    public var owner: String
    /// The view watch's object (`{"state":…,"coverage":…}`), JSON; nil leaves it out.
    public var view: [UInt8]?

    public init(id: String, owner: String = "district", state: String = "unknown", power: String = "unknown",
                link: String = "unknown", relay: String = "on", sinceS: Int = 0, cycles: Int = 0,
                snapshotAgeS: Int? = nil, fault: String? = nil, clockSkewS: Int64? = nil) {
      self.id = id
      self.state = state
      self.power = power
      self.link = link
      self.relay = relay
      self.sinceS = sinceS
      self.cycles = cycles
      self.snapshotAgeS = snapshotAgeS
      self.fault = fault
      self.clockSkewS = clockSkewS
      self.owner = owner
    }
  }

  public var site: String
  public var seq: Int
  public var bootId: Int64
  public var uptimeS: Int
  public var tsMs: Int64
  public var clockSynced: Bool
  public var configVersion: Int
  public var cameras: [Camera] = []
  public var broker: String
  public var connects: Int
  public var lastOutageS: Int
  public var spoolCount: Int64 = 0
  public var spoolBytes: Int64 = 0
  /// Capture time (Unix ms) of the oldest message waiting; nil when the spool is empty.
  public var spoolOldestMs: Int64? = nil
  public var spoolDropped: Int64 = 0
  public var door: String = "unknown"
  public var mains: String = "unknown"
  /// `signed`: the site has trusted keys, so configs and commands must be signed; `unsigned`:
  /// anyone who can publish on the broker may configure and command it.
  public var trust: String = "unsigned"

  public init(site: String, seq: Int, bootId: Int64, uptimeS: Int, tsMs: Int64, clockSynced: Bool,
              configVersion: Int, broker: String, connects: Int, lastOutageS: Int) {
    self.site = site
    self.seq = seq
    self.bootId = bootId
    self.uptimeS = uptimeS
    self.tsMs = tsMs
    self.clockSynced = clockSynced
    self.configVersion = configVersion
    self.broker = broker
    self.connects = connects
    self.lastOutageS = lastOutageS
  }

  public func encode() -> [UInt8] {
    var w = JSONWriter()
    w.beginObject()
    w.field("site", site)
    w.field("seq", seq)
    w.field("boot_id", bootId)
    w.field("uptime_s", uptimeS)
    w.field("ts", tsMs)
    w.field("clock_synced", clockSynced)
    w.field("version", Messages.version)
    w.field("config_version", configVersion)
    w.key("cameras")
    w.beginArray()
    for c in cameras {
      w.beginObject()
      w.field("id", c.id)
      w.field("state", c.state)
      w.field("power", c.power)
      w.field("link", c.link)
      w.field("relay", c.relay)
      w.field("since_s", c.sinceS)
      w.field("cycles", c.cycles)
      w.key("snapshot_age_s")
      if let a = c.snapshotAgeS { w.int(a) } else { w.null() }
      w.field("fault", optional: c.fault)
      w.key("clock_skew_s")
      if let k = c.clockSkewS { w.int64(k) } else { w.null() }
      // Fields added after v1's first release go last: a consumer that matched the start of
      // the object (Scripts/test-board did) still matches.
      w.field("owner", c.owner)
      if let v = c.view {
        w.key("view")
        w.rawJSON(v)
      }
      w.endObject()
    }
    w.endArray()
    w.key("uplink")
    w.beginObject()
    w.field("broker", broker)
    w.field("connects", connects)
    w.field("last_outage_s", lastOutageS)
    w.endObject()
    w.key("spool")
    w.beginObject()
    w.field("count", spoolCount)
    w.field("bytes", spoolBytes)
    w.key("oldest_ms")
    if let o = spoolOldestMs { w.int64(o) } else { w.null() }
    w.field("dropped", spoolDropped)
    w.endObject()
    w.key("board")
    w.beginObject()
    w.field("door", door)
    w.field("mains", mains)
    w.endObject()
    w.field("trust", trust)
    w.endObject()
    return w.bytes
  }
}
