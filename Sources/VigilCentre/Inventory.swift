import VigilCore
import VigilPlatform

/// The district's list of sites (`--inventory FILE`): each site's ward, address and position,
/// which the exporter's labels and the district page's grouping take. A site that sends but is
/// not listed gets the ward "".
public struct Inventory {
  public struct Site: Equatable {
    public var ward: String
    public var address: String
    public var lat: Double?
    public var lon: Double?
  }

  public private(set) var sites: [String: Site] = [:]

  public init() {}

  /// Why an inventory file cannot be used, naming the value (`sites.tp-0412.ward`).
  public struct Problem: Error {
    public let message: String
  }

  public static func load(_ path: String) throws(Problem) -> Inventory {
    let bytes: [UInt8]
    do throws(SystemError) {
      bytes = try Files.read(path, limit: 64 << 20)
    } catch {
      throw Problem(message: error.message)
    }
    do throws(Problem) {
      return try parse(bytes)
    } catch {
      throw Problem(message: "\(path): \(error.message)")
    }
  }

  /// `{"sites":{"tp-0412":{"ward":"Tân Sơn Nhì","address":"…","lat":10.79,"lon":106.63}}}`:
  /// `ward` is required; `address`, `lat` and `lon` may be left out; any other key is refused,
  /// so that a misspelt one is not silently ignored.
  public static func parse(_ bytes: [UInt8]) throws(Problem) -> Inventory {
    let root: JSONValue
    do throws(JSONParseError) {
      root = try JSON.parse(bytes)
    } catch {
      throw Problem(message: error.message)
    }
    guard case .object(let top) = root else {
      throw Problem(message: "must be a JSON object {\"sites\":{…}}, not \(root.typeName)")
    }
    for m in top where m.name != "sites" {
      throw Problem(message: "\(m.name): unknown key (only \"sites\")")
    }
    guard let sitesValue = root["sites"] else { throw Problem(message: "sites: missing") }
    guard case .object(let entries) = sitesValue else {
      throw Problem(message: "sites: must be an object of site ids, not \(sitesValue.typeName)")
    }
    var inv = Inventory()
    for e in entries {
      let path = "sites.\(e.name)"
      guard SiteId.isValid(e.name) else {
        throw Problem(message: "\(path): not a site id (1-64 characters, no / + # or space)")
      }
      if inv.sites[e.name] != nil { throw Problem(message: "\(path): given twice") }
      guard case .object(let fields) = e.value else {
        throw Problem(message: "\(path): must be an object, not \(e.value.typeName)")
      }
      var site = Site(ward: "", address: "", lat: nil, lon: nil)
      var hasWard = false
      for f in fields {
        let fp = "\(path).\(f.name)"
        switch f.name {
        case "ward":
          guard let s = f.value.stringValue else {
            throw Problem(message: "\(fp): must be a string, not \(f.value.typeName)")
          }
          site.ward = s
          hasWard = true
        case "address":
          guard let s = f.value.stringValue else {
            throw Problem(message: "\(fp): must be a string, not \(f.value.typeName)")
          }
          site.address = s
        case "lat", "lon":
          guard case .number(let d) = f.value else {
            throw Problem(message: "\(fp): must be a number, not \(f.value.typeName)")
          }
          let limit = f.name == "lat" ? 90.0 : 180.0
          guard d >= -limit && d <= limit else {
            throw Problem(message: "\(fp): \(d) is outside -\(Int(limit))..\(Int(limit))")
          }
          if f.name == "lat" { site.lat = d } else { site.lon = d }
        default:
          throw Problem(message: "\(fp): unknown key (ward, address, lat, lon)")
        }
      }
      guard hasWard else { throw Problem(message: "\(path).ward: missing") }
      inv.sites[e.name] = site
    }
    return inv
  }
}

/// What a site id may be, as a topic level: the exporter refuses others from the wire too.
enum SiteId {
  static func isValid(_ s: String) -> Bool {
    let b = Array(s.utf8)
    guard !b.isEmpty, b.count <= 64 else { return false }
    return !b.contains { $0 == 0x2F || $0 == 0x2B || $0 == 0x23 || $0 <= 0x20 || $0 == 0x7F }
  }
}
