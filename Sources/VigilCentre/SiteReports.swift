import VigilCore

/// What a site's messages say, read from their JSON with every type checked: a message with a
/// wrong type is refused whole, naming the field, so the exporter never shows half of one.
/// Fields a later agent adds are ignored; a `view` may be present or absent.
enum SiteReports {
  struct Refusal: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
  }

  struct Status {
    var online: Bool
    var bootId: Int64?
    var version: String?
  }

  struct View: Equatable {
    var state: String
    var coverage: Double?
    var sharpness: Double?
    var shiftPx: Double?
  }

  struct Camera: Equatable {
    var id: String
    var state: String
    var power: String
    var link: String
    var relay: String
    var sinceS: Int64?
    var cycles: Int64?
    var snapshotAgeS: Int64?
    var fault: String?
    var owner: String
    var view: View?
  }

  struct Heartbeat {
    var seq: Int64
    var bootId: Int64
    var ts: Int64
    var version: String?
    var configVersion: Int64?
    var cameras: [Camera]
    var uplinkConnects: Int64?
    var spoolCount: Int64?
    var spoolBytes: Int64?
    var spoolDropped: Int64?
    var door: String?
    var mains: String?
    var trust: String?
  }

  struct Event {
    var kind: String
    /// The boot the event was taken in, from its id `"<boot_id>-<sequence>"`.
    var bootId: Int64?
  }

  struct ConfigState {
    var version: Int64?
    var status: String
  }

  struct UpdateState {
    var state: String
    var version: String?
  }

  /// A camera list longer than this is refused: the board's own limit is far lower.
  static let maxCameras = 64

  static func object(_ bytes: [UInt8]) throws(Refusal) -> JSONValue {
    let v: JSONValue
    do throws(JSONParseError) {
      v = try JSON.parse(bytes)
    } catch {
      throw Refusal(error.message)
    }
    guard case .object = v else { throw Refusal("not a JSON object but \(v.typeName)") }
    return v
  }

  static func status(_ bytes: [UInt8]) throws(Refusal) -> Status {
    let v = try object(bytes)
    let state = try string(v, "state")
    guard state == "online" || state == "offline" else {
      throw Refusal("state: \"\(state)\" is neither online nor offline")
    }
    return Status(online: state == "online", bootId: try optionalInt(v, "boot_id"),
                  version: try optionalString(v, "version"))
  }

  static func heartbeat(_ bytes: [UInt8]) throws(Refusal) -> Heartbeat {
    let v = try object(bytes)
    guard let camsValue = v["cameras"] else { throw Refusal("cameras: missing") }
    guard case .array(let items) = camsValue else {
      throw Refusal("cameras: must be an array, not \(camsValue.typeName)")
    }
    guard items.count <= maxCameras else {
      throw Refusal("cameras: \(items.count) entries, more than \(maxCameras)")
    }
    var cams: [Camera] = []
    for (i, item) in items.enumerated() {
      do throws(Refusal) {
        cams.append(try camera(item))
      } catch {
        throw Refusal("cameras[\(i)].\(error.reason)")
      }
    }
    let uplink = try optionalObject(v, "uplink")
    let spool = try optionalObject(v, "spool")
    let board = try optionalObject(v, "board")
    return Heartbeat(
      seq: try int(v, "seq"), bootId: try int(v, "boot_id"), ts: try int(v, "ts"),
      version: try optionalString(v, "version"),
      configVersion: try optionalInt(v, "config_version"), cameras: cams,
      uplinkConnects: try optionalInt(in: uplink, "connects", "uplink."),
      spoolCount: try optionalInt(in: spool, "count", "spool."),
      spoolBytes: try optionalInt(in: spool, "bytes", "spool."),
      spoolDropped: try optionalInt(in: spool, "dropped", "spool."),
      door: try optionalString(in: board, "door", "board."),
      mains: try optionalString(in: board, "mains", "board."),
      trust: try optionalString(v, "trust"))
  }

  static func camera(_ v: JSONValue) throws(Refusal) -> Camera {
    guard case .object = v else { throw Refusal("must be an object, not \(v.typeName)") }
    let id = try string(v, "id")
    guard SiteId.isValid(id) else { throw Refusal("id: \"\(id)\" is no camera id") }
    var view: View? = nil
    if let vv = v["view"], case .object = vv {
      view = View(state: try string(vv, "state", "view."),
                  coverage: try optionalNumber(vv, "coverage", "view."),
                  sharpness: try optionalNumber(vv, "sharpness", "view."),
                  shiftPx: try optionalNumber(vv, "shift_px", "view."))
    } else if let vv = v["view"], !isNull(vv) {
      throw Refusal("view: must be an object, not \(vv.typeName)")
    }
    return Camera(
      id: id, state: try string(v, "state"), power: try optionalString(v, "power") ?? "unknown",
      link: try optionalString(v, "link") ?? "unknown",
      relay: try optionalString(v, "relay") ?? "unknown",
      sinceS: try optionalInt(v, "since_s"), cycles: try optionalInt(v, "cycles"),
      snapshotAgeS: try optionalInt(v, "snapshot_age_s"), fault: try optionalString(v, "fault"),
      owner: try optionalString(v, "owner") ?? "", view: view)
  }

  static func event(_ bytes: [UInt8]) throws(Refusal) -> Event {
    let v = try object(bytes)
    let kind = try string(v, "kind")
    var boot: Int64? = nil
    if let id = try optionalString(v, "id"), let dash = id.firstIndex(of: "-") {
      boot = Int64(id[id.startIndex..<dash])
    }
    return Event(kind: kind, bootId: boot)
  }

  static func configState(_ bytes: [UInt8]) throws(Refusal) -> ConfigState {
    let v = try object(bytes)
    return ConfigState(version: try optionalInt(v, "version"), status: try string(v, "status"))
  }

  static func updateState(_ bytes: [UInt8]) throws(Refusal) -> UpdateState {
    let v = try object(bytes)
    return UpdateState(state: try string(v, "state"), version: try optionalString(v, "version"))
  }

  // MARK: typed members

  private static func isNull(_ v: JSONValue) -> Bool {
    if case .null = v { return true }
    return false
  }

  private static func string(_ v: JSONValue, _ key: String, _ path: String = "")
    throws(Refusal) -> String
  {
    guard let m = v[key] else { throw Refusal("\(path)\(key): missing") }
    guard let s = m.stringValue else {
      throw Refusal("\(path)\(key): must be a string, not \(m.typeName)")
    }
    return s
  }

  private static func optionalString(_ v: JSONValue, _ key: String, _ path: String = "")
    throws(Refusal) -> String?
  {
    guard let m = v[key], !isNull(m) else { return nil }
    guard let s = m.stringValue else {
      throw Refusal("\(path)\(key): must be a string or null, not \(m.typeName)")
    }
    return s
  }

  private static func int(_ v: JSONValue, _ key: String) throws(Refusal) -> Int64 {
    guard let m = v[key] else { throw Refusal("\(key): missing") }
    guard let i = m.int64Value else {
      throw Refusal("\(key): must be a whole number, not \(m.typeName)")
    }
    return i
  }

  /// A member of a nested object that may itself be absent (`uplink`, `spool`, `board`).
  private static func optionalInt(in v: JSONValue?, _ key: String, _ path: String)
    throws(Refusal) -> Int64?
  {
    guard let v = v else { return nil }
    return try optionalInt(v, key, path)
  }

  private static func optionalString(in v: JSONValue?, _ key: String, _ path: String)
    throws(Refusal) -> String?
  {
    guard let v = v else { return nil }
    return try optionalString(v, key, path)
  }

  private static func optionalInt(_ v: JSONValue, _ key: String, _ path: String = "")
    throws(Refusal) -> Int64?
  {
    guard let m = v[key], !isNull(m) else { return nil }
    guard let i = m.int64Value else {
      throw Refusal("\(path)\(key): must be a whole number or null, not \(m.typeName)")
    }
    return i
  }

  private static func optionalNumber(_ v: JSONValue, _ key: String, _ path: String = "")
    throws(Refusal) -> Double?
  {
    guard let m = v[key], !isNull(m) else { return nil }
    guard case .number(let d) = m, d.isFinite else {
      throw Refusal("\(path)\(key): must be a number or null, not \(m.typeName)")
    }
    return d
  }

  private static func optionalObject(_ v: JSONValue, _ key: String) throws(Refusal) -> JSONValue? {
    guard let m = v[key], !isNull(m) else { return nil }
    guard case .object = m else { throw Refusal("\(key): must be an object, not \(m.typeName)") }
    return m
  }
}
