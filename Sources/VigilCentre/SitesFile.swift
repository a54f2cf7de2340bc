import VigilCore

/// Why a rollout's input cannot be used: a sites file, a wave list, a document, a progress file.
/// The message names the file or option and what is wrong.
public struct RolloutError: Error, Equatable {
  public let message: String
  public init(_ message: String) { self.message = message }
}

/// A rollout's sites file: one site id per line, in the order the sites are to be reached (the
/// first is the canary); `#` starts a comment, blank lines are skipped. Ids follow `site_id`'s
/// own rule (1-64 letters, digits, '-', '_' or '.'), so every one is a valid topic level.
public enum SitesFile {
  public static func parse(_ bytes: [UInt8], path: String) throws(RolloutError) -> [String] {
    var sites: [String] = []
    var firstLine: [String: Int] = [:]
    var lineNumber = 0
    for raw in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
      lineNumber += 1
      var line = Array(raw)
      if let hash = line.firstIndex(of: 0x23) { line.removeSubrange(hash...) }
      while let last = line.last, isBlank(last) { line.removeLast() }
      while let first = line.first, isBlank(first) { line.removeFirst() }
      if line.isEmpty { continue }
      let text = String(decoding: line, as: UTF8.self)
      if line.contains(where: isBlank) {
        throw RolloutError("\(path) line \(lineNumber): \"\(text)\" is more than one site id "
          + "(give one a line)")
      }
      guard Names.isSafeName(text, maxLength: 64) else {
        throw RolloutError("\(path) line \(lineNumber): \"\(text)\" is not a site id "
          + "(1-64 letters, digits, '-', '_' or '.')")
      }
      if let first = firstLine[text] {
        throw RolloutError("\(path) line \(lineNumber): \(text) is listed twice (first on line "
          + "\(first))")
      }
      firstLine[text] = lineNumber
      sites.append(text)
    }
    if sites.isEmpty { throw RolloutError("\(path) lists no sites") }
    return sites
  }

  private static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }
}
