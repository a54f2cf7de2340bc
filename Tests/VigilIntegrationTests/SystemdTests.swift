import Foundation
import Testing

/// The agent under systemd, without systemd: the test binds the notify socket (`Type=notify`)
/// and sets `WATCHDOG_USEC` as the service manager would, and reads what the agent says.
@Suite(.serialized)
struct SystemdTests {
  @Test func notifiesReadyWatchdogReloadAndStopping() async throws {
    let broker = try Broker()
    let notify = try NotifySocket()
    let agent = try AgentProcess(config: testConfig(brokers: brokerEntry(broker.port), heartbeat: 30))
    // 600 ms: the agent must ping every 300 ms.
    try agent.start(env: ["NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "600000"])

    let ready = await notify.waitFor(within: 10) { $0.hasLine("READY=1") }
    #expect(ready != nil, "no READY=1: \(notify.all) \(agent.log.text)")
    #expect(await notify.waitFor(within: 10) { $0.hasPrefix("STATUS=online via 127.0.0.1:") } != nil,
            "\(notify.all)")

    // Pings keep coming at half the interval: at least 5 in 2.5 s, and no gap near the timeout.
    let pingsBefore = notify.count { $0 == "WATCHDOG=1" }
    try await Task.sleep(nanoseconds: 2_500_000_000)
    let pings = notify.times { $0 == "WATCHDOG=1" }
    #expect(pings.count - pingsBefore >= 5, "\(pings.count - pingsBefore) pings in 2.5 s")
    let gaps = zip(pings.dropFirst(), pings).map { $0.timeIntervalSince($1) }
    #expect((gaps.max() ?? 0) < 0.55, "longest gap between pings: \(gaps.max() ?? 0) s")

    // SIGHUP: RELOADING=1 (with the monotonic time), then READY=1 again.
    let mark = notify.all.count
    agent.signal(SIGHUP)
    let reloaded = await notify.waitFor(within: 5, after: mark) { $0.hasLine("READY=1") }
    #expect(reloaded != nil, "\(notify.all.dropFirst(mark))")
    let sinceHup = Array(notify.all.dropFirst(mark))
    let reloading = sinceHup.firstIndex { $0.hasLine("RELOADING=1") }
    let readyAgain = sinceHup.firstIndex { $0.hasLine("READY=1") }
    #expect(reloading != nil && readyAgain != nil && reloading! < readyAgain!,
            "RELOADING=1 then READY=1: \(sinceHup)")
    #expect(sinceHup.first { $0.hasLine("RELOADING=1") }?.contains("MONOTONIC_USEC=") == true)

    // SIGTERM: STOPPING=1, then a clean exit.
    let beforeStop = notify.all.count
    agent.signal(SIGTERM)
    #expect(await notify.waitFor(within: 5, after: beforeStop) { $0 == "STOPPING=1" } != nil,
            "\(notify.all.dropFirst(beforeStop))")
    #expect(await agent.waitExit(10) == 0, "\(agent.log.text)")
  }

  @Test func abstractNotifySocketIsReached() async throws {
    let broker = try Broker()
    let notify = try NotifySocket(abstract: true)
    let agent = try AgentProcess(config: testConfig(brokers: brokerEntry(broker.port), heartbeat: 30))
    try agent.start(env: ["NOTIFY_SOCKET": notify.address])
    #expect(await notify.waitFor(within: 10) { $0.hasLine("READY=1") } != nil,
            "\(notify.address): \(agent.log.text)")
    // No WATCHDOG_USEC: no pings.
    try await Task.sleep(nanoseconds: 1_000_000_000)
    #expect(notify.count { $0 == "WATCHDOG=1" } == 0)
    agent.kill9()
  }

  @Test func noWatchdogPingsWhenWatchdogPidNamesAnotherProcess() async throws {
    let broker = try Broker()
    let notify = try NotifySocket()
    let agent = try AgentProcess(config: testConfig(brokers: brokerEntry(broker.port), heartbeat: 30))
    try agent.start(env: ["NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "200000",
                          "WATCHDOG_PID": "1"])
    #expect(await notify.waitFor(within: 10) { $0.hasLine("READY=1") } != nil, "\(agent.log.text)")
    try await Task.sleep(nanoseconds: 1_000_000_000)
    #expect(notify.count { $0 == "WATCHDOG=1" } == 0, "\(notify.all)")
    agent.kill9()
  }

  @Test func invalidConfigNeverSaysReady() async throws {
    let notify = try NotifySocket()
    let agent = try AgentProcess(config: testConfig(brokers: brokerEntry(1883), heartbeat: -5))
    try agent.start(env: ["NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "200000"])
    #expect(await agent.waitExit(10) == 1, "\(agent.log.text)")
    #expect(agent.log.text.contains("heartbeat_s"), "\(agent.log.text)")
    try await Task.sleep(nanoseconds: 200_000_000)
    #expect(!notify.all.contains { $0.hasLine("READY=1") }, "\(notify.all)")
  }
}

private extension String {
  /// Whether one of the datagram's `KEY=value` lines is exactly `line`.
  func hasLine(_ line: String) -> Bool { split(separator: "\n").contains { $0 == line } }
}

/// A datagram socket bound where systemd's notify socket would be, collecting what arrives.
final class NotifySocket: @unchecked Sendable {
  /// What to put in `NOTIFY_SOCKET`: a path, or `@name` for an abstract socket.
  let address: String
  private let inbox: Inbox

  /// What the reader thread shares with the test; the thread holds this, not the socket object,
  /// so the socket's deinit can end it.
  private final class Inbox: @unchecked Sendable {
    let lock = NSLock()
    var received: [(Date, String)] = []
    var open = true
    var finished = false
  }

  init(abstract: Bool = false) throws {
    let s = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard s >= 0 else { throw HarnessError("socket: errno \(errno)") }
    let name = abstract
      ? "@vigil-test-notify-\(UUID().uuidString.prefix(8))"
      : Harness.tempDir("notify").appendingPathComponent("notify.sock").path
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(name.utf8)
    withUnsafeMutableBytes(of: &addr.sun_path) { dst in
      for (i, b) in bytes.enumerated() { dst[i] = b }
      if abstract { dst[0] = 0 }
    }
    let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
    let r = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) }
    }
    guard r == 0 else {
      close(s)
      throw HarnessError("bind \(name): errno \(errno)")
    }
    var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    address = name
    let inbox = Inbox()
    self.inbox = inbox
    Thread {
      var buf = [UInt8](repeating: 0, count: 4096)
      while inbox.lock.withLock({ inbox.open }) {
        let n = buf.withUnsafeMutableBytes { recv(s, $0.baseAddress, $0.count, 0) }
        if n > 0 {
          let text = String(decoding: buf[0..<n], as: UTF8.self)
          inbox.lock.withLock { inbox.received.append((Date(), text)) }
        }
      }
      close(s)
      inbox.lock.withLock { inbox.finished = true }
    }.start()
  }

  var all: [String] { inbox.lock.withLock { inbox.received.map { $0.1 } } }

  func count(_ match: (String) -> Bool) -> Int { all.filter(match).count }

  func times(_ match: (String) -> Bool) -> [Date] {
    inbox.lock.withLock { inbox.received.filter { match($0.1) }.map { $0.0 } }
  }

  /// Waits for a datagram (after the first `after`) matching `match`; returns it or nil.
  func waitFor(within seconds: Double, after: Int = 0, _ match: @escaping (String) -> Bool) async
    -> String?
  {
    var found: String?
    _ = await Harness.wait(seconds) {
      found = self.all.dropFirst(after).first(where: match)
      return found != nil
    }
    return found
  }

  deinit {
    inbox.lock.withLock { inbox.open = false }
    // The reader wakes within its 100 ms receive timeout, sees `open` cleared and closes.
    while !inbox.lock.withLock({ inbox.finished }) { usleep(10_000) }
    if !address.hasPrefix("@") { unlink(address) }
  }
}
