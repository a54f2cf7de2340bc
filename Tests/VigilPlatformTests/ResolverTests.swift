import Testing
import VigilPlatform

/// The parts of the name lookup that need no name server (ResolverTests in the integration
/// tests run it against fake ones).
@Suite struct ResolverUnitTests {
  @Test func numericHostsNeedNoLookup() {
    for h in ["127.0.0.1", "192.0.2.7", "::1", "2001:db8::7", "::ffff:192.0.2.7"] {
      #expect(Resolver.isNumeric(h), "\(h)")
    }
    for h in ["mqtt.centre.example", "localhost", "", "192.0.2", "192.0.2.7.", "1.2.3.4:1883",
              "[::1]", "999.1.1.1"] {
      #expect(!Resolver.isNumeric(h), "\(h)")
    }
  }

  /// c-ares answers an address at once, inside the call; the answer still comes from the loop.
  @Test func anAnswerGivenAtOnceComesFromTheLoopNotFromStart() throws {
    let loop = try EventLoop()
    let lookup = Resolver(loop: loop, host: "192.0.2.7")
    var answers: [String] = []
    var insideStart = true
    lookup.start(timeoutMs: 2000) { outcome in
      #expect(!insideStart)
      switch outcome {
      case .address(let a): answers.append(a)
      case .failed(let why): answers.append("failed: \(why)")
      }
      loop.stop()
    }
    insideStart = false
    let guardTimer = loop.after(ms: 3000) { loop.stop() }
    try loop.run()
    loop.cancel(guardTimer)
    #expect(answers == ["192.0.2.7"])
  }

  @Test func aCancelledLookupNeverAnswers() throws {
    let loop = try EventLoop()
    let lookup = Resolver(loop: loop, host: "192.0.2.8")
    var called = false
    lookup.start(timeoutMs: 2000) { _ in called = true }
    lookup.cancel()
    loop.after(ms: 100) { loop.stop() }
    try loop.run()
    #expect(!called)
  }
}
