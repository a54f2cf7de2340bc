import Foundation
import Testing

/// The fixtures themselves: a suite that fails one run in a few keeps good work from landing.
struct HarnessTests {
  @Test func testPortsAreDistinctAndOutsideTheEphemeralRange() {
    let ephemeral = Harness.ephemeralRange()
    let ports = (0..<200).map { _ in Harness.freePort() }
    #expect(Set(ports).count == ports.count)
    #expect(ports.allSatisfy { !ephemeral.contains($0) && $0 >= 1024 && $0 <= 65535 },
            "\(ports.filter { ephemeral.contains($0) }) in \(ephemeral)")
  }

  @Test func aBrokerThatCannotBindASecondListenerIsAnErrorWithItsLog() throws {
    let taken = try ProbeTarget()  // something else already listens on this port
    #expect {
      _ = try Broker(extraConfig: "listener \(taken.port) 127.0.0.1\nallow_anonymous true")
    } throws: { error in
      let text = "\(error)"
      return text.contains("mosquitto exited") && text.contains("\(taken.port)")
    }
  }
}
