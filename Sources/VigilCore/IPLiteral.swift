/// IP address literals, as `inet_pton` reads them: the agent reaches cameras by address only,
/// since a name would need a DNS lookup, which blocks the loop (issue 13).
public enum IPLiteral {
  /// `192.168.1.64` or `fe80::1`, `2001:db8::c0a8:140` or `::ffff:192.168.1.64`.
  public static func isAddress(_ s: String) -> Bool {
    let b = Array(s.utf8)
    return isIPv4(b[...]) || isIPv6(b)
  }

  /// Four decimal parts 0-255, no leading zeros.
  static func isIPv4(_ b: ArraySlice<UInt8>) -> Bool {
    var parts = 0
    var digits = 0
    var value = 0
    var leadingZero = false
    for c in b {
      if c == 0x2E {
        if digits == 0 { return false }
        parts += 1
        digits = 0
        value = 0
      } else if c >= 0x30 && c <= 0x39 {
        if digits == 0 { leadingZero = c == 0x30 } else if leadingZero { return false }
        digits += 1
        value = value * 10 + Int(c - 0x30)
        if digits > 3 || value > 255 { return false }
      } else {
        return false
      }
    }
    return digits > 0 && parts == 3
  }

  /// Groups of 1-4 hex digits, eight in all or fewer with one `::`; the last two may be
  /// written as an IPv4 address.
  static func isIPv6(_ b: [UInt8]) -> Bool {
    if b.count < 2 || b.count > 45 { return false }
    var groups = 0
    var compressed = false
    var i = 0
    if b[0] == 0x3A {
      guard b[1] == 0x3A else { return false }
      compressed = true
      i = 2
      if i == b.count { return true }
    }
    while i < b.count {
      var j = i
      while j < b.count && b[j] != 0x3A { j += 1 }
      let group = b[i..<j]
      if group.isEmpty { return false }
      if j == b.count && group.contains(0x2E) {
        guard isIPv4(group) else { return false }
        groups += 2
      } else {
        if group.count > 4 { return false }
        for c in group where !isHex(c) { return false }
        groups += 1
      }
      if j == b.count { break }
      // b[j] is ':'; a second one right after is the one `::`.
      if j + 1 < b.count && b[j + 1] == 0x3A {
        if compressed { return false }
        compressed = true
        i = j + 2
        if i == b.count { break }
      } else {
        if j + 1 == b.count { return false }
        i = j + 1
      }
    }
    return compressed ? groups <= 7 : groups == 8
  }

  static func isHex(_ c: UInt8) -> Bool {
    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
  }

  /// The host of `scheme://[user@]host[:port][/path]`; brackets of an IPv6 host removed.
  /// nil when the URL has no `://`.
  public static func host(ofURL url: String) -> String? {
    let b = Array(url.utf8)
    var start = -1
    var i = 0
    while i + 2 < b.count {
      if b[i] == 0x3A && b[i + 1] == 0x2F && b[i + 2] == 0x2F {
        start = i + 3
        break
      }
      i += 1
    }
    guard start >= 0 else { return nil }
    var end = start
    while end < b.count && b[end] != 0x2F && b[end] != 0x3F && b[end] != 0x23 { end += 1 }
    var a = start
    for k in start..<end where b[k] == 0x40 { a = k + 1 }
    if a < end && b[a] == 0x5B {
      var close = a
      while close < end && b[close] != 0x5D { close += 1 }
      guard close < end else { return nil }
      return String(decoding: b[(a + 1)..<close], as: UTF8.self)
    }
    var colon = end
    for k in a..<end where b[k] == 0x3A { colon = k; break }
    return String(decoding: b[a..<colon], as: UTF8.self)
  }
}
