import Testing
import VigilCore

@Suite struct EarliestDeadlineTests {
  @Test func nothingPendingIsNil() {
    var next = EarliestDeadline()
    #expect(next.ms == nil)
    next.consider(nil)
    #expect(next.ms == nil)
  }

  @Test func theSoonestWinsWhateverTheOrder() {
    var next = EarliestDeadline()
    for d in [5_000, nil, 1_200, 9_000, 1_200, nil] as [Int64?] { next.consider(d) }
    #expect(next.ms == 1_200)
    next.consider(0)
    #expect(next.ms == 0)
  }
}
