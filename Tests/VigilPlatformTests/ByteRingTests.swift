import Testing
import VigilPlatform

/// The log's ring of recent lines (the console's `log N`).
@Suite struct ByteRingTests {
  @Test func givesTheLastLinesOldestFirst() {
    var r = ByteRing(capacity: 1024)
    for i in 1...5 { r.append("line \(i)") }
    #expect(r.lines(last: 3) == ["line 3", "line 4", "line 5"])
    #expect(r.lines(last: 10) == ["line 1", "line 2", "line 3", "line 4", "line 5"])
    #expect(r.lines(last: 0) == [])
    #expect(ByteRing(capacity: 1024).lines(last: 5) == [])
  }

  @Test func overwritesTheOldestAndNeverGivesAPartLine() {
    var r = ByteRing(capacity: 128)
    for i in 1...100 { r.append("message number \(i)") }
    // 1,792 bytes written in all: the buffer holds the last 128, which are line 100 (19 bytes
    // with its newline), lines 94-99 (18 each) and the newline of line 93, left out.
    #expect(r.lines(last: 200) == (94...100).map { "message number \($0)" })
    r.append("message number 101")
    // Line 94 is overwritten whole and the buffer now starts at line 95, which is left out
    // all the same: once wrapped, the ring cannot tell a whole first line from a cut one.
    #expect(r.lines(last: 200) == (96...101).map { "message number \($0)" })
  }

  @Test func keepsWorkingAcrossManyWraps() {
    var r = ByteRing(capacity: 100)
    for i in 0..<10_000 { r.append(String(repeating: "x", count: i % 23)) }
    let lines = r.lines(last: 1000)
    #expect(!lines.isEmpty)
    // The newest line is always whole: 9999 % 23 = 17 x's.
    #expect(lines.last == String(repeating: "x", count: 17))
    #expect(lines.allSatisfy { $0.allSatisfy { $0 == "x" } })
  }

  @Test func cutsALongLineAndFlattensNewlines() {
    var r = ByteRing(capacity: 400)
    r.append(String(repeating: "a", count: 500))
    r.append("two\nparts")
    #expect(r.lines(last: 2) == [String(repeating: "a", count: 100), "two parts"])
  }
}
