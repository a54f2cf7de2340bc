/// The last snapshot of each camera, for the district page, within a byte budget: a newer
/// picture of a camera replaces its older one, and when the total passes the budget the
/// pictures received longest ago go first. Memory is bounded by the budget, not by the number
/// of cameras or how long the exporter runs.
struct SnapshotStore {
  struct Picture {
    var captureMs: Int64
    var bytes: [UInt8]
    /// Order of arrival, for dropping the oldest.
    var arrival: Int64
  }

  let budgetBytes: Int
  private(set) var totalBytes = 0
  private var pictures: [String: Picture] = [:]
  private var arrivals: Int64 = 0

  init(budgetBytes: Int) { self.budgetBytes = max(0, budgetBytes) }

  static func key(_ site: String, _ camera: String) -> String { site + "/" + camera }

  var count: Int { pictures.count }

  func picture(_ site: String, _ camera: String) -> Picture? {
    pictures[Self.key(site, camera)]
  }

  /// Keeps `bytes` as the camera's last snapshot unless a later capture is held already (a
  /// spooled picture that arrives after a newer one). Returns whether it was kept.
  @discardableResult
  mutating func put(_ site: String, _ camera: String, captureMs: Int64, _ bytes: [UInt8]) -> Bool {
    guard bytes.count <= budgetBytes else { return false }
    let k = Self.key(site, camera)
    if let old = pictures[k] {
      if old.captureMs > captureMs { return false }
      totalBytes -= old.bytes.count
    }
    arrivals += 1
    pictures[k] = Picture(captureMs: captureMs, bytes: bytes, arrival: arrivals)
    totalBytes += bytes.count
    if totalBytes > budgetBytes { dropOldest() }
    return true
  }

  mutating func remove(site: String) {
    for (k, p) in pictures where k.hasPrefix(site + "/") {
      totalBytes -= p.bytes.count
      pictures[k] = nil
    }
  }

  /// Drops pictures, the least recently received first, until the total is 7/8 of the budget:
  /// one sort for many arrivals, not one per picture once the budget is full.
  private mutating func dropOldest() {
    let order = pictures.sorted { $0.value.arrival < $1.value.arrival }
    let lowWater = budgetBytes - budgetBytes / 8
    for (k, p) in order {
      if totalBytes <= lowWater { break }
      totalBytes -= p.bytes.count
      pictures[k] = nil
    }
  }
}
