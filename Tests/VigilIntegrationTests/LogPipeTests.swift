import Foundation
import Testing

/// Issue 12: stderr writes must not block the loop. An agent whose stderr is a full pipe that
/// nobody reads (a wedged log collector) keeps its heartbeats and GPIO events; its log lines are
/// dropped and counted, and the count is told once the pipe drains.
@Suite struct LogPipeTests {
  /// F_SETPIPE_SZ (F_LINUX_SPECIFIC_BASE + 7), which Glibc's module does not export.
  static let setPipeSize: Int32 = 1031

  /// What is in the pipe now, without waiting.
  static func drain(_ fd: Int32) -> [UInt8] {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
      var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      if poll(&p, 1, 0) != 1 { break }
      let n = read(fd, &buf, buf.count)
      if n <= 0 { break }
      out.append(contentsOf: buf[0..<n])
    }
    return out
  }

  @Test func aFullStderrPipeDelaysNeitherHeartbeatsNorAPowerCutAndTheDropsAreTold() async throws {
    // A one-page pipe, filled before the agent starts: its first log line finds no room.
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    let (r, w) = (fds[0], fds[1])
    defer { close(r) }
    let size = Int(fcntl(w, Self.setPipeSize, 4096))
    try #require(size >= 4096)
    let filler = [UInt8](repeating: 0x2E, count: size)
    try #require(write(w, filler, size) == size)

    let broker = try Broker()
    let dir = Harness.tempDir("logpipe")
    let board = try SimBoardDir(in: dir, lines: ["cam1_power": (true, 50), "cam1_relay": (false, 0)])
    let cam = try ProbeTarget()
    let site = "t-\(UUID().uuidString.prefix(6).lowercased())"
    let root = "vigil/\(site)"
    let config = testConfig(site: site, brokers: brokerEntry(broker.port), extra: """
      "board": "board.json", "probe_s": 1,
      "cameras": [{"id": "cam1", "host": "127.0.0.1", "probe_port": \(cam.port),
                   "power_line": "cam1_power", "relay_line": "cam1_relay"}]
      """)
    let agent = try AgentProcess(config: config, dir: dir)
    let centre = try await Centre(port: broker.port)
    // Debug lines too: every probe and heartbeat has one, so the pipe stays full all along.
    try agent.start(env: ["VIGIL_DEBUG": "1"],
                    output: FileHandle(fileDescriptor: w, closeOnDealloc: true))
    defer { agent.kill9() }

    // Heartbeats at their 1 s pace.
    let first = await centre.waitFor("\(root)/heartbeat", within: 10)
    #expect(first != nil, "no heartbeat while stderr is full")
    let n = centre.messages("\(root)/heartbeat").count
    try await Task.sleep(nanoseconds: 4_000_000_000)
    let more = centre.messages("\(root)/heartbeat").count - n
    #expect(more >= 3, "\(more) heartbeats in 4 s")

    // A power cut reported within a second, as with a stderr that is read.
    let healthy = await centre.waitForCamera(root, "cam1", within: 10) {
      $0["state"] as? String == "healthy"
    }
    #expect(healthy != nil)
    let cut = Date()
    board.set("cam1_power", 0, byRename: true)
    let lost = await centre.waitForEvent(root, "camera_power_lost", within: 5)
    #expect(lost != nil, "no camera_power_lost while stderr is full")
    if let at = lost?.1 { #expect(at.timeIntervalSince(cut) < 1.0, "seen after \(at.timeIntervalSince(cut)) s") }

    // Nothing but the filler is in the pipe: every line so far was dropped, none waited for.
    let held = Self.drain(r)
    #expect(held.count >= size)
    #expect(held.prefix(size).allSatisfy { $0 == 0x2E })
    var text = String(decoding: held.dropFirst(size), as: UTF8.self)

    // Drained: the next line out says how many were dropped.
    let deadline = Date().addingTimeInterval(5)
    while !text.contains("dropped: stderr was full") && Date() < deadline {
      try await Task.sleep(nanoseconds: 100_000_000)
      text += String(decoding: Self.drain(r), as: UTF8.self)
    }
    let notice = text.split(separator: "\n").first { $0.contains("dropped: stderr was full") }
    let told = notice.flatMap { line in
      line.split(separator: " ").first(where: { Int($0) != nil }).flatMap { Int($0) }
    }
    #expect((told ?? 0) > 10, "notice: \(notice ?? "none"); read: \(text.prefix(2000))")
    // The notice comes first (as a warning: "<4>" when the runner's environment is a journal's).
    let head = text.split(separator: "\n").first ?? ""
    #expect(head.contains("dropped: stderr was full")
              && (head.hasPrefix("vigil: warning: ") || head.hasPrefix("<4>")),
            "the notice comes first: \(text.prefix(300))")

    // The console's `log` (here over R/cmd) shows every line, and the count since start.
    let before = centre.messages("\(root)/cmd/result").count
    centre.publish("\(root)/cmd", #"{"id":"l-1","line":"log 5"}"#)
    let result = await centre.waitFor("\(root)/cmd/result", within: 5, after: before)
    let output = result?.json?["output"] as? String ?? ""
    let shown = output.split(separator: "\n").last.flatMap { line in
      line.hasPrefix("stderr full: ") ? line.split(separator: " ").dropFirst(2).first.flatMap { Int($0) } : nil
    }
    #expect((shown ?? 0) >= (told ?? 1), "log output: \(output)")
  }
}
