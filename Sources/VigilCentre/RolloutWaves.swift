/// How a rollout's sites are cut into waves: `1,5,25%` is one site (the canary), then five,
/// then a quarter of the sites at a time until every site is in a wave (the last size repeats).
/// A percentage is of all the sites in the list, rounded up, at least one.
public struct RolloutWaves: Equatable {
  public enum Size: Equatable {
    case sites(Int)
    case percent(Int)
  }

  public let sizes: [Size]

  /// The most sites one wave may name: more than a district has.
  public static let maxSites = 100_000

  public init(_ sizes: [Size]) { self.sizes = sizes }

  public static func parse(_ text: String) throws(RolloutError) -> RolloutWaves {
    var sizes: [Size] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
      let word = String(part)
      let problem = RolloutError("--waves: \"\(word)\" is not a wave size (a number of sites "
        + "from 1, or a percentage from 1% to 100%)")
      if word.hasSuffix("%") {
        guard let p = Int(word.dropLast()), p >= 1, p <= 100 else { throw problem }
        sizes.append(.percent(p))
      } else {
        guard let n = Int(word), n >= 1, n <= maxSites else { throw problem }
        sizes.append(.sites(n))
      }
    }
    return RolloutWaves(sizes)
  }

  /// The waves for `count` sites, as index ranges into the sites list, in order.
  public func cut(_ count: Int) -> [Range<Int>] {
    guard count > 0, let last = sizes.last else { return count > 0 ? [0..<count] : [] }
    var waves: [Range<Int>] = []
    var start = 0
    var i = 0
    while start < count {
      let size = self.size(i < sizes.count ? sizes[i] : last, of: count)
      let end = min(count, start + size)
      waves.append(start..<end)
      start = end
      i += 1
    }
    return waves
  }

  private func size(_ s: Size, of count: Int) -> Int {
    switch s {
    case .sites(let n): return n
    case .percent(let p): return max(1, (count * p + 99) / 100)
    }
  }
}
