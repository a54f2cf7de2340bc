import VigilCore

/// `/api/state`, what the district page shows: the wards with their sites and cameras, each
/// with its colour's reason, and the four work lists, worked out here so the page only draws.
enum DistrictState {
  /// One line of a work list: a site, or a camera of it, what is wrong and for how long.
  struct Job: Equatable {
    var site: String
    var camera: String?
    var ward: String
    var problem: String
    var forS: Double?
    var snapshot: Bool
  }

  struct WorkLists: Equatable {
    /// Cameras with no power, sites whose mains are lost.
    var power: [Job] = []
    /// Sites not up, cameras that do not answer.
    var network: [Job] = []
    /// Views obstructed (branches), each with the snapshot that showed it.
    var tree: [Job] = []
    /// Wrong logins and wrong snapshot URLs: `auth` and `bad_image`.
    var installers: [Job] = []
  }

  static func workLists(_ m: DistrictModel, nowMs: Int64) -> WorkLists {
    var w = WorkLists()
    for id in m.siteIds {
      guard let s = m.sites[id] else { continue }
      let ward = m.ward(id)
      let up = m.isUp(s, nowMs: nowMs)
      if !up {
        let problem: String
        if !s.heard {
          problem = "never heard from"
        } else if s.heartbeatAtMs == nil {
          problem = "no heartbeat yet"
        } else if s.online == false {
          problem = "offline"
        } else if s.online == nil {
          problem = "no status at the broker"
        } else {
          problem = "heartbeats stopped"
        }
        w.network.append(Job(site: id, camera: nil, ward: ward, problem: problem,
                             forS: m.heartbeatAgeS(s, nowMs: nowMs), snapshot: false))
      }
      guard let hb = s.heartbeat else { continue }
      if hb.mains == "lost" {
        w.power.append(Job(site: id, camera: nil, ward: ward,
                           problem: up ? "mains lost" : "mains lost, site silent", forS: nil,
                           snapshot: false))
      }
      // A silent site's cameras are in its network line: their last state is old news.
      guard up else { continue }
      for c in hb.cameras {
        let snap = m.snapshots.picture(id, c.id) != nil
        let since = c.sinceS.map { Double($0) }
        func job(_ problem: String) -> Job {
          Job(site: id, camera: c.id, ward: ward, problem: problem, forS: since, snapshot: snap)
        }
        switch c.fault {
        case "power": w.power.append(job("no power"))
        case "unreachable": w.network.append(job("unreachable"))
        case "auth": w.installers.append(job("login refused (auth)"))
        case "bad_image": w.installers.append(job("no picture at its URL (bad_image)"))
        default: break
        }
        if c.view?.state == "obstructed" { w.tree.append(job("view obstructed")) }
      }
    }
    return w
  }

  static func render(_ m: DistrictModel, nowMs: Int64) -> [UInt8] {
    var w = JSONWriter()
    w.beginObject()
    var wards: [String: [String]] = [:]
    for id in m.siteIds { wards[m.ward(id), default: []].append(id) }
    var siteCount = 0, upCount = 0, cameraCount = 0, darkCount = 0
    w.key("wards")
    w.beginArray()
    for ward in wards.keys.sorted() {
      w.beginObject()
      w.field("ward", ward)
      w.key("sites")
      w.beginArray()
      for id in wards[ward] ?? [] {
        guard let s = m.sites[id] else { continue }
        let up = m.isUp(s, nowMs: nowMs)
        siteCount += 1
        if up { upCount += 1 }
        w.beginObject()
        w.field("id", id)
        w.field("address", m.inventory.sites[id]?.address ?? "")
        w.field("up", up)
        w.field("status", s.online.map { $0 ? "online" : "offline" } ?? "unknown")
        w.key("heartbeat_age_s")
        if let age = m.heartbeatAgeS(s, nowMs: nowMs) { number(&w, age) } else { w.null() }
        w.field("interval_s", Int(s.intervalMs / 1000))
        let hb = s.heartbeat
        w.field("mains", optional: hb?.mains)
        w.field("door", optional: hb?.door)
        w.field("version", optional: hb?.version ?? s.statusVersion)
        w.field("console", s.consoleLoggedIn)
        w.key("cameras")
        w.beginArray()
        for c in hb?.cameras ?? [] {
          let dark = c.fault != nil || !up
          cameraCount += 1
          if dark { darkCount += 1 }
          w.beginObject()
          w.field("id", c.id)
          w.field("owner", c.owner)
          w.field("state", c.state)
          w.field("fault", optional: c.fault)
          w.field("dark", dark)
          w.key("since_s")
          if let v = c.sinceS { w.int64(v) } else { w.null() }
          w.field("view", c.view?.state ?? "unscored")
          let pic = m.snapshots.picture(id, c.id)
          w.field("snapshot", pic != nil)
          w.key("snapshot_ms")
          if let p = pic { w.int64(p.captureMs) } else { w.null() }
          w.endObject()
        }
        w.endArray()
        w.endObject()
      }
      w.endArray()
      w.endObject()
    }
    w.endArray()
    let lists = workLists(m, nowMs: nowMs)
    w.key("work")
    w.beginObject()
    for (name, jobs) in [("power", lists.power), ("network", lists.network), ("tree", lists.tree),
                         ("installers", lists.installers)] {
      w.key(name)
      w.beginArray()
      for j in jobs {
        w.beginObject()
        w.field("site", j.site)
        w.field("camera", optional: j.camera)
        w.field("ward", j.ward)
        w.field("problem", j.problem)
        w.key("for_s")
        if let f = j.forS { number(&w, f) } else { w.null() }
        w.field("snapshot", j.snapshot)
        w.endObject()
      }
      w.endArray()
    }
    w.endObject()
    w.key("totals")
    w.beginObject()
    w.field("sites", siteCount)
    w.field("up", upCount)
    w.field("cameras", cameraCount)
    w.field("dark", darkCount)
    w.endObject()
    w.endObject()
    return w.bytes
  }

  /// Seconds to a tenth, as JSON.
  private static func number(_ w: inout JSONWriter, _ d: Double) {
    let tenths = Int64((d * 10).rounded())
    w.rawJSON(Array("\(tenths / 10).\(tenths % 10)".utf8))
  }
}
