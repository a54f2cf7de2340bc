import Testing
@testable import VigilCore

@Suite struct HTTPDateTests {
  @Test func theThreeForms() {
    // RFC 9110's own example: 784111777.
    #expect(HTTPDate.unixSeconds("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
    #expect(HTTPDate.unixSeconds("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777)
    #expect(HTTPDate.unixSeconds("Sun Nov  6 08:49:37 1994") == 784_111_777)
    #expect(HTTPDate.unixSeconds("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
    #expect(HTTPDate.unixSeconds("Sat, 01 Jan 2000 00:00:00 UTC") == 946_684_800)
    #expect(HTTPDate.unixSeconds("Tue, 29 Feb 2028 23:59:59 GMT") == 1_835_481_599)
    #expect(HTTPDate.unixSeconds("Tuesday, 01-Jan-30 00:00:00 GMT") == 1_893_456_000)
    #expect(HTTPDate.unixSeconds("Fri, 31 Dec 9999 23:59:59 GMT") == 253_402_300_799)
    #expect(HTTPDate.unixSeconds("Wed, 31 Dec 1969 23:59:59 GMT") == -1)
    // Lenient: case, no weekday, no zone, tabs, a leap second.
    #expect(HTTPDate.unixSeconds("sun, 06 nov 1994 08:49:37 gmt") == 784_111_777)
    #expect(HTTPDate.unixSeconds("06 Nov 1994 08:49:37 GMT") == 784_111_777)
    #expect(HTTPDate.unixSeconds("Sun,\t06 Nov 1994 08:49:37") == 784_111_777)
    #expect(HTTPDate.unixSeconds("Sat, 31 Dec 2016 23:59:60 GMT") == 1_483_228_800)
  }

  @Test func daysFromCivilAgreesWithACountOfDays() {
    var n: Int64 = 0
    for y: Int64 in 1970..<2400 {
      for m: Int64 in 1...12 {
        #expect(HTTPDate.days(year: y, month: m, day: 1) == n, "\(y)-\(m)")
        n += HTTPDate.daysInMonth(m, year: y)
      }
    }
  }

  @Test func garbageIsNil() {
    let bad = [
      "", " ", "GMT", "yesterday", "Sun, 06 Nov 1994", "Sun, 06 Nov 1994 08:49 GMT",
      "Sun, 06 Nov 08:49:37 GMT", "Sun, Nov 1994 08:49:37 GMT", "Sun, 32 Jan 1994 08:49:37 GMT",
      "Sun, 00 Jan 1994 08:49:37 GMT", "Sun, 29 Feb 1900 08:49:37 GMT",
      "Sun, 31 Apr 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:61 GMT",
      "Sun, 06 Nov 199999 08:49:37 GMT", "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",
      "Sun, 06 Nov 994 08:49:37 GMT", "Sun, 006 Nov 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37 PST", "Sun, 06 Nov 1994 08:49:37 +0700",
      "Sun, 06 Nov 1994 08:49:37 GMT 1995", "Sun, 06 Nov Dec 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 08:49:37 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
      "Sun, 06 Nov 1994 0a:49:37 GMT", "Sun, 06 Nov 1994 08:49:3 GMT",
      "Sun, 06 Nov 1994 08:49:37 GMT" + String(repeating: " ", count: 60),
      "Sün, 06 Nov 1994 08:49:37 GMT", "Sun Sun, 06 Nov 1994 08:49:37 GMT",
    ]
    for s in bad { #expect(HTTPDate.unixSeconds(s) == nil, "\(s)") }
  }
}

@Suite struct CameraClockTests {
  typealias E = CameraClock.Event
  let base: Int64 = 1_800_000_000_000
  let minute: Int64 = 60_000

  /// A camera whose clock is `skewS` ahead, answering the request sent at `t` within 40 ms.
  func answer(_ c: inout CameraClock, skewS: Int64, at t: Int64, synced: Bool = true) -> E? {
    let cameraS = (t + 20) / 1000 + skewS
    return c.answered(date: httpDate(cameraS), sentMs: t, receivedMs: t + 40, synced: synced)
  }

  /// The IMF-fixdate of Unix seconds (the test's own, by counting).
  func httpDate(_ s: Int64) -> String {
    var days = s / 86_400
    let rest = s % 86_400
    var y: Int64 = 1970
    while days >= (HTTPDate.daysInMonth(2, year: y) == 29 ? 366 : 365) {
      days -= HTTPDate.daysInMonth(2, year: y) == 29 ? 366 : 365
      y += 1
    }
    var m: Int64 = 1
    while days >= HTTPDate.daysInMonth(m, year: y) {
      days -= HTTPDate.daysInMonth(m, year: y)
      m += 1
    }
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                  "Dec"]
    func two(_ x: Int64) -> String { x < 10 ? "0\(x)" : "\(x)" }
    return "Mon, \(two(days + 1)) \(months[Int(m - 1)]) \(y) \(two(rest / 3600)):"
      + "\(two(rest / 60 % 60)):\(two(rest % 60)) GMT"
  }

  @Test func theSkewIsMeasuredAgainstTheMidpoint() {
    var c = CameraClock()
    // The camera says 12:00:00 (so 12:00:00.5); the request left at 11:59:59.0 and the answer
    // came at 12:00:01.0: the midpoint is 12:00:00.0, the skew +0.5 s.
    let noon: Int64 = 1_800_000_000
    #expect(c.measured(cameraS: noon, sentMs: noon * 1000 - 1000, receivedMs: noon * 1000 + 1000,
                       synced: true) == nil)
    #expect(c.skewMs == 500)
    #expect(c.skewS == 1)
    _ = answer(&c, skewS: -600, at: base)
    #expect(c.skewS == -600)
    _ = answer(&c, skewS: 0, at: base)
    #expect(c.skewS == 0)
    #expect(httpDate(784_111_777) == "Mon, 06 Nov 1994 08:49:37 GMT")
  }

  @Test func oneEventOncePast60sHasHeldAndHysteresis() {
    var c = CameraClock()
    var events: [E] = []
    var t = base
    // Ten minutes off, an answer every 30 s for an hour: one event, 5 minutes after the first.
    for _ in 0..<120 {
      if let e = answer(&c, skewS: 600, at: t) {
        events.append(e)
        #expect(t == base + 5 * minute)
      }
      t += 30_000
    }
    #expect(events == [.skewed(seconds: 600)])
    #expect(c.raised)
    // Between 30 and 60 s: still raised, no event.
    #expect(answer(&c, skewS: 45, at: t) == nil)
    #expect(c.raised)
    // Under 30 s: re-armed.
    #expect(answer(&c, skewS: -20, at: t) == .corrected(seconds: -20))
    #expect(!c.raised)
    // Past 60 s again: another event, once it has held.
    #expect(answer(&c, skewS: -61, at: t) == nil)
    #expect(answer(&c, skewS: -61, at: t + 5 * minute) == .skewed(seconds: -61))
  }

  @Test func aCameraThatSetsItsClockAfterBootingRaisesNothing() {
    var c = CameraClock()
    // Booted in 1970; it sets its clock from NTP two minutes later.
    var t = base
    #expect(c.measured(cameraS: 10, sentMs: t, receivedMs: t + 30, synced: true) == nil)
    t += 60_000
    #expect(c.measured(cameraS: 70, sentMs: t, receivedMs: t + 30, synced: true) == nil)
    for _ in 0..<20 {
      t += 60_000
      #expect(answer(&c, skewS: 0, at: t) == nil)
    }
    // Flapping around 60 s does not raise either: each return under it starts the hold again.
    for k in 0..<40 {
      t += 60_000
      #expect(answer(&c, skewS: k % 3 == 2 ? 50 : 70, at: t) == nil)
    }
    #expect(!c.raised)
  }

  @Test func nothingWhileTheGatewayIsNotSynced() {
    var c = CameraClock()
    var t = base
    for _ in 0..<30 {
      #expect(answer(&c, skewS: 3600, at: t, synced: false) == nil)
      #expect(c.skewS == nil)
      t += 60_000
    }
    // Synced: the hold starts now, not with the answers seen before.
    #expect(answer(&c, skewS: 3600, at: t) == nil)
    #expect(answer(&c, skewS: 3600, at: t + 4 * minute) == nil)
    #expect(answer(&c, skewS: 3600, at: t + 5 * minute) == .skewed(seconds: 3600))
    // The sync lost and found again: the event stays raised, it is not sent again.
    #expect(answer(&c, skewS: 3600, at: t + 6 * minute, synced: false) == nil)
    #expect(answer(&c, skewS: 3600, at: t + 20 * minute) == nil)
    #expect(c.raised)
  }

  @Test func aDateThatIsNoDateChangesNothingAndExtremesDoNotTrap() {
    var c = CameraClock()
    _ = answer(&c, skewS: 5, at: base)
    #expect(c.answered(date: "soon", sentMs: base, receivedMs: base, synced: true) == nil)
    #expect(c.skewS == 5)
    for cam in [Int64.min, Int64.max, 0] {
      for sent in [Int64.min, Int64.max, 0] {
        for got in [Int64.min, Int64.max, 0] {
          _ = c.measured(cameraS: cam, sentMs: sent, receivedMs: got, synced: true)
          #expect(c.skewMs != nil)
        }
      }
    }
  }
}
