import Foundation
import Testing

/// The parts of a real site that the integration tests start: mosquitto brokers on free
/// loopback ports, the agent as a process, and the centre as a real MQTT client
/// (mosquitto_sub / mosquitto_pub), never the agent's own code.
enum Harness {
  static let root: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  /// The binary under test: `VIGIL_BIN` (Scripts/test points it at the Embedded build too),
  /// else the debug build SwiftPM made.
  static var vigilBinary: String {
    if let b = ProcessInfo.processInfo.environment["VIGIL_BIN"], !b.isEmpty { return b }
    return root.appendingPathComponent(".build/debug/vigil").path
  }

  /// The centre's tool: `VIGIL_CENTRE_BIN`, else the debug build SwiftPM made. It is a host
  /// build only, so it stays the same when `VIGIL_BIN` points at an Embedded `vigil`.
  static var centreBinary: String {
    if let b = ProcessInfo.processInfo.environment["VIGIL_CENTRE_BIN"], !b.isEmpty { return b }
    return root.appendingPathComponent(".build/debug/vigil-centre").path
  }

  /// A loopback port for a test listener that nothing else can take before the listener binds
  /// it. A port found by binding port 0 lies in the kernel's ephemeral range, where any
  /// process's next outgoing connection may be given it first (seen in CI: a TLS broker's
  /// second listener lost its port, mosquitto exited, and the test timed out). These come from
  /// outside that range, and each is reserved for this process's life by an flock on
  /// /tmp/vigil-test-ports/PORT, the scheme Scripts/lib/testports.py shares, so no two
  /// fixtures of any test process get the same one; a port once handed out is never handed out
  /// again in this run (a port a fake camera closed must stay refused).
  static func freePort() -> Int { freePort { _ in true } }

  /// The same, with `claim` run on each candidate while its lock is held: a fixture of this
  /// process binds its own listener there (and returns true), so no check-then-bind gap is left.
  @discardableResult
  static func freePort(claim: (Int) -> Bool) -> Int {
    portLock.lock()
    defer { portLock.unlock() }
    let ranges = candidateRanges()
    let total = ranges.reduce(0) { $0 + $1.count }
    let start = Int.random(in: 0..<max(1, total))
    for i in 0..<total {
      var k = (start + i) % total
      var port = 0
      for r in ranges {
        if k < r.count { port = r.lowerBound + k; break }
        k -= r.count
      }
      if handedOut.contains(port) { continue }
      mkdir(lockDir, 0o777)
      let fd = open("\(lockDir)/\(port)", O_CREAT | O_RDWR | O_CLOEXEC, 0o666)
      if fd < 0 { continue }
      if flock(fd, LOCK_EX | LOCK_NB) != 0 || !bindable(port) || !claim(port) {
        close(fd)
        continue
      }
      handedOut.insert(port)  // the lock's fd stays open until the test runner exits
      return port
    }
    Issue.record("no free test port outside the ephemeral range \(ephemeralRange())")
    return 1
  }

  private static let portLock = NSLock()
  nonisolated(unsafe) private static var handedOut: Set<Int> = []
  private static let lockDir = "/tmp/vigil-test-ports"

  /// The kernel's ephemeral (source) port range.
  static func ephemeralRange() -> ClosedRange<Int> {
    let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range",
                            encoding: .utf8)) ?? ""
    let f = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap {
      Int($0)
    }
    guard f.count >= 2, f[0] <= f[1] else { return 32768...60999 }
    return f[0]...f[1]
  }

  /// Ports outside the ephemeral range, above the well-known and most registered ones.
  private static func candidateRanges() -> [Range<Int>] {
    let e = ephemeralRange()
    var r: [Range<Int>] = []
    if e.lowerBound > 20000 { r.append(20000..<e.lowerBound) }
    if e.upperBound < 65535 { r.append((e.upperBound + 1)..<65536) }
    if r.isEmpty { r.append(10000..<max(10001, e.lowerBound)) }
    return r
  }

  /// Whether nothing holds `port` on 127.0.0.1 now (no listener, no socket in TIME_WAIT).
  private static func bindable(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(truncatingIfNeeded: port).bigEndian
    return withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    } == 0
  }

  /// Who holds a loopback TCP port, as `ss` shows it (for an error message).
  static func holders(_ port: Int) -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/ss")
    p.arguments = ["-tanpH", "sport = :\(port)"]
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    guard (try? p.run()) != nil else { return "(ss did not run)" }
    let out = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    return text.isEmpty ? "ss shows no socket on it now" : "ss: " + text
  }

  static func tempDir(_ name: String = "vigil") -> URL {
    let url = URL(fileURLWithPath: NSTemporaryDirectory())
      .appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  static func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    let r = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    return r == 0
  }

  /// Starts one of Tests/Fixtures' Python servers (`script` with `args`, its output into `log`)
  /// and waits for the port it writes to `portFile` once it listens. Throws, naming `what`, when
  /// it exits first or has not written it within `seconds`.
  static func startFixture(_ script: String, _ args: [String], portFile: URL, log: LineCollector,
                           what: String, within seconds: Double = 10) throws -> (Process, Int) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    p.arguments = [root.appendingPathComponent("Tests/Fixtures/" + script).path] + args
    try p.runAsFixture(output: log)
    let deadline = Date().addingTimeInterval(seconds)
    while true {
      if let s = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(s) {
        return (p, port)
      }
      if !p.isRunning || Date() > deadline {
        throw HarnessError("\(what) did not start (\(p.isRunning ? "no port within \(Int(seconds)) s" : "exited")): "
          + (p.isRunning ? log.text : log.textAtEnd()))
      }
      usleep(20_000)
    }
  }

  /// Polls `condition` every 50 ms until it holds or `seconds` pass.
  static func wait(_ seconds: Double, _ condition: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if condition() { return true }
      try? await Task.sleep(nanoseconds: 50_000_000)
    }
    return condition()
  }

  /// Runs a command to its end; returns (status, stdout + stderr).
  @discardableResult
  static func run(_ path: String, _ args: [String], stdin: String? = nil, env: [String: String] = [:])
    -> (Int32, String)
  {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    var environment = ProcessInfo.processInfo.environment
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    let input = Pipe()
    p.standardInput = input
    do { try p.run() } catch { return (-1, "cannot run \(path): \(error)") }
    if let s = stdin { input.fileHandleForWriting.write(s.data(using: .utf8) ?? Data()) }
    try? input.fileHandleForWriting.close()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
  }
}

/// Lines a child process writes, collected as they come.
final class LineCollector: @unchecked Sendable {
  private let lock = NSLock()
  private var buffer = Data()
  private var lines: [String] = []
  private var ended = false

  func attach(_ pipe: Pipe) {
    pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
      let d = h.availableData
      if d.isEmpty {
        h.readabilityHandler = nil
        self?.markEnded()
        return
      }
      self?.append(d)
    }
  }

  private func markEnded() {
    lock.lock()
    defer { lock.unlock() }
    if !buffer.isEmpty {
      lines.append(String(decoding: buffer, as: UTF8.self))
      buffer.removeAll()
    }
    ended = true
  }

  /// The whole output of a process that has exited: its last lines reach the pipe's reader
  /// after the exit is seen (a broker's "Address already in use" was missing from the error
  /// of a test that checks for it, one run in a few). Waits for the end of the pipe, at most
  /// `seconds`.
  func textAtEnd(within seconds: Double = 2) -> String {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      lock.lock()
      let done = ended
      lock.unlock()
      if done { break }
      usleep(10_000)
    }
    return text
  }

  private func append(_ d: Data) {
    lock.lock()
    defer { lock.unlock() }
    buffer.append(d)
    while let nl = buffer.firstIndex(of: 0x0A) {
      lines.append(String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self))
      buffer.removeSubrange(buffer.startIndex...nl)
    }
  }

  var all: [String] {
    lock.lock()
    defer { lock.unlock() }
    return lines
  }

  var text: String { all.joined(separator: "\n") }
}

/// A mosquitto broker on a free loopback port, with its own config and log.
final class Broker {
  let port: Int
  let dir: URL
  private var process: Process?
  private let extraConfig: String
  let log = LineCollector()

  /// Whether the broker keeps sessions (a durable centre's subscription and its queued QoS 1
  /// messages) across `stop()` and `start()`, as a production broker with persistence does.
  let durable: Bool

  init(port: Int = Harness.freePort(), extraConfig: String = "", durable: Bool = false) throws {
    self.port = port
    self.dir = Harness.tempDir("broker")
    self.extraConfig = extraConfig
    self.durable = durable
    try start()
  }

  /// Starts (again) on the same port.
  func start() throws {
    let conf = dir.appendingPathComponent("mosquitto.conf")
    let text = """
      listener \(port) 127.0.0.1
      allow_anonymous true
      persistence \(durable ? "true" : "false")
      \(durable ? "persistence_location \(dir.path)/\nautosave_interval 1\nuser root" : "")
      \(extraConfig)
      """
    try text.write(to: conf, atomically: true, encoding: .utf8)
    let p = Process()
    if durable {
      // Started with the signal mask cleared, so that SIGTERM reaches it and it saves its
      // sessions on the way out (children of the test runner inherit a mask that blocks it).
      p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
      p.arguments = ["-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); "
                     + "os.execv(sys.argv[1], sys.argv[1:])",
                     "/usr/sbin/mosquitto", "-c", conf.path, "-v"]
    } else {
      p.executableURL = URL(fileURLWithPath: "/usr/sbin/mosquitto")
      p.arguments = ["-c", conf.path, "-v"]
    }
    func runs() -> Int { log.all.filter { $0.hasSuffix(" running") }.count }
    let before = runs()  // the log goes on across a restart
    try p.runAsFixture(output: log)
    process = p
    // Ready only when mosquitto says it runs (it prints that once every listener is bound) and
    // every listener accepts: mosquitto exits when a later listener cannot bind, after an
    // earlier one already accepted, and a port another process holds would accept anyway.
    let ports = Broker.listenerPorts(text)
    let deadline = Date().addingTimeInterval(10)
    func running() -> Bool { runs() > before }
    while let waiting = running() ? ports.first(where: { !Harness.canConnect(port: $0) })
      : ports.first
    {
      if !p.isRunning {
        p.waitUntilExit()
        throw HarnessError("mosquitto exited (status \(p.terminationStatus)) before listening "
          + "on \(waiting): \(log.textAtEnd())")
      }
      if Date() > deadline {
        throw HarnessError("mosquitto did not listen on \(waiting) within 10 s: \(log.text)")
      }
      usleep(20_000)
    }
  }

  /// The ports of every `listener PORT ...` line of a mosquitto config.
  static func listenerPorts(_ conf: String) -> [Int] {
    conf.split(separator: "\n").compactMap { line in
      let w = line.split(separator: " ", omittingEmptySubsequences: true)
      return w.count >= 2 && w[0] == "listener" ? Int(w[1]) : nil
    }
  }

  func stop() {
    // A durable broker ends cleanly (saving what it holds for offline sessions), as a
    // restarted production broker does; SIGKILL if it has not within 5 s.
    process?.end(graceSeconds: durable ? 5 : 0)
    process = nil
  }

  deinit { stop() }
}

/// Every fixture process, so that none outlives the test runner: a fixture object that is never
/// deinitialised (held by a cycle somewhere) would leave its process running (one mosquitto
/// per `swift test` run was found still listening afterwards). At exit, whichever is still
/// running is killed; one already reaped is skipped, so a reused pid is never hit.
enum FixtureReaper {
  private static let lock = NSLock()
  nonisolated(unsafe) private static var processes: [Process] = []
  private static let installed: Void = { atexit { FixtureReaper.killAll() } }()

  static func track(_ p: Process) {
    _ = installed
    lock.lock()
    processes.removeAll { !$0.isRunning }
    processes.append(p)
    lock.unlock()
  }

  static func killAll() {
    lock.lock()
    for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
    lock.unlock()
  }
}

extension Process {
  /// `run()`, with the process ended at the test runner's exit if nothing ended it before.
  func runAsFixture() throws {
    try run()
    FixtureReaper.track(self)
  }

  /// The same, its stdout and stderr read into `log`.
  func runAsFixture(output log: LineCollector) throws {
    let pipe = Pipe()
    standardOutput = pipe
    standardError = pipe
    log.attach(pipe)
    try runAsFixture()
  }

  /// Ends a fixture at once. SIGKILL: children of the test runner inherit its blocked signal
  /// mask (Dispatch's threads block SIGTERM), so SIGTERM would wait forever.
  func killAndWait() { end(graceSeconds: 0) }

  /// SIGTERM first, for a fixture that should stop cleanly, then SIGKILL after `graceSeconds`.
  func end(graceSeconds: Double) {
    if graceSeconds > 0 && isRunning {
      kill(processIdentifier, SIGTERM)
      let deadline = Date().addingTimeInterval(graceSeconds)
      while isRunning && Date() < deadline { usleep(20_000) }
    }
    if isRunning { kill(processIdentifier, SIGKILL) }
    waitUntilExit()
  }
}

struct HarnessError: Error, CustomStringConvertible {
  let description: String
  init(_ d: String) { description = d }
}

/// One MQTT message as the centre saw it.
struct Seen {
  let topic: String
  let payload: Data
  let retained: Bool
  let at: Date

  var text: String { String(decoding: payload, as: UTF8.self) }
  var json: [String: Any]? {
    (try? JSONSerialization.jsonObject(with: payload)) as? [String: Any]
  }
}

/// The district centre: a real MQTT client subscribed to the site's topics.
final class Centre: @unchecked Sendable {
  private var process: Process?
  private let lock = NSLock()
  private var seen: [Seen] = []
  private var buffer = Data()
  let port: Int
  /// What mosquitto_sub wrote to stderr: why it could not connect, if it could not.
  let stderr = LineCollector()

  /// Subscribes to `topic` on the broker at `port` and returns once the subscription is live.
  init(port: Int, topic: String = "vigil/#", extra: [String] = []) async throws {
    self.port = port
    let probe = "centre-probe/\(UUID().uuidString.prefix(8))"
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_sub")
    // Each line: retained flag, topic, payload in hex (payloads may be binary).
    p.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-t", topic, "-t", probe,
                   "-F", "%r %t %x", "-V", "mqttv311"] + extra
    let pipe = Pipe()
    p.standardOutput = pipe
    let errors = Pipe()
    p.standardError = errors
    stderr.attach(errors)
    pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
      let d = h.availableData
      if d.isEmpty { h.readabilityHandler = nil; return }
      self?.append(d)
    }
    try p.runAsFixture()
    process = p
    // The subscription is live once a message published to the probe topic comes back.
    var published = ""
    let ok = await Harness.wait(30) {
      if !p.isRunning { return true }
      published = Harness.run("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", "\(port)",
                                                         "-t", probe, "-m", "x"]).1
      return self.messages(probe).count > 0
    }
    if !p.isRunning {
      p.waitUntilExit()
      throw HarnessError("centre's mosquitto_sub exited (status \(p.terminationStatus)) on port "
        + "\(port): \(stderr.textAtEnd())")
    }
    if !ok {
      throw HarnessError("centre could not subscribe on port \(port) within 30 s: "
        + "mosquitto_sub said \"\(stderr.text)\", mosquitto_pub said \"\(published)\"")
    }
  }

  private func append(_ d: Data) {
    lock.lock()
    defer { lock.unlock() }
    buffer.append(d)
    while let nl = buffer.firstIndex(of: 0x0A) {
      let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
      buffer.removeSubrange(buffer.startIndex...nl)
      let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
      guard parts.count >= 2 else { continue }
      let hex = parts.count == 3 ? Array(parts[2].utf8) : []
      // Decoded by hand, byte by byte: snapshots make lines of hundreds of KB.
      func nibble(_ c: UInt8) -> UInt8 {
        c >= 0x61 ? c - 0x61 + 10 : c >= 0x41 ? c - 0x41 + 10 : c &- 0x30
      }
      var raw = [UInt8](repeating: 0, count: hex.count / 2)
      for i in 0..<raw.count { raw[i] = nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]) }
      let bytes = Data(raw)
      seen.append(Seen(topic: String(parts[1]), payload: bytes, retained: parts[0] == "1",
                       at: Date()))
    }
  }

  /// Every message so far on `topic` (an exact topic, or a prefix ending in `/`).
  func messages(_ topic: String) -> [Seen] {
    lock.lock()
    defer { lock.unlock() }
    if topic.hasSuffix("/") { return seen.filter { $0.topic.hasPrefix(topic) } }
    return seen.filter { $0.topic == topic }
  }

  /// Waits for a message on `topic` matching `match`; returns it or nil.
  func waitFor(_ topic: String, within seconds: Double, after: Int = 0,
               _ match: @escaping (Seen) -> Bool = { _ in true }) async -> Seen? {
    var found: Seen?
    _ = await Harness.wait(seconds) {
      found = self.messages(topic).dropFirst(after).first(where: match)
      return found != nil
    }
    return found
  }

  func publish(_ topic: String, _ message: String, retain: Bool = false) {
    var args = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-t", topic, "-m", message]
    if retain { args.append("-r") }
    Harness.run("/usr/bin/mosquitto_pub", args)
  }

  func stop() {
    process?.killAndWait()
    process = nil
  }

  deinit { stop() }
}

/// The agent under test, run as its own process with a config written for the test.
final class AgentProcess {
  let dir: URL
  let configURL: URL
  private var process: Process?
  let log = LineCollector()

  init(config: String, dir: URL = Harness.tempDir("agent")) throws {
    self.dir = dir
    self.configURL = dir.appendingPathComponent("config.json")
    try config.write(to: configURL, atomically: true, encoding: .utf8)
  }

  /// `output`: where stdout and stderr go instead of `log` (a pipe the test does not read).
  /// `resolvConf`: run the agent in a mount namespace of its own (`unshare -m`, as root) with
  /// this file over /etc/resolv.conf, so that its name servers are a test's fixtures. `unshare`
  /// and `sh` exec in turn, so the pid is the agent's.
  func start(env: [String: String] = [:], output: FileHandle? = nil, resolvConf: URL? = nil)
    throws
  {
    let p = Process()
    if let rc = resolvConf {
      p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
      p.arguments = ["-m", "--propagation", "private", "/bin/sh", "-c",
                     "mount --bind \"$1\" /etc/resolv.conf && shift && exec \"$@\"", "sh",
                     rc.path, Harness.vigilBinary, "run", "--config", configURL.path]
    } else {
      p.executableURL = URL(fileURLWithPath: Harness.vigilBinary)
      p.arguments = ["run", "--config", configURL.path]
    }
    var environment = ProcessInfo.processInfo.environment
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    if let out = output {
      p.standardOutput = out
      p.standardError = out
    } else {
      let pipe = Pipe()
      p.standardOutput = pipe
      p.standardError = pipe
      log.attach(pipe)
    }
    try p.runAsFixture()
    process = p
  }

  var pid: Int32 { process?.processIdentifier ?? 0 }
  var isRunning: Bool { process?.isRunning ?? false }

  func signal(_ s: Int32) { if let p = process, p.isRunning { kill(p.processIdentifier, s) } }

  /// Waits for the process to end; returns its status, or nil if it still runs after `seconds`.
  func waitExit(_ seconds: Double) async -> Int32? {
    guard let p = process else { return nil }
    let ended = await Harness.wait(seconds) { !p.isRunning }
    return ended ? p.terminationStatus : nil
  }

  func kill9() { process?.killAndWait() }

  deinit { process?.killAndWait() }
}

/// A config document for tests, with short intervals.
extension Harness {
  /// Private dirty memory of a process in KiB (`/proc/PID/smaps_rollup`), 0 when unreadable.
  static func privateDirtyKiB(_ pid: Int32) -> Int {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8)) ?? ""
    var total = 0
    for line in text.split(separator: "\n") where line.hasPrefix("Private_Dirty:") {
      total += Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
    return total
  }
}

func testConfig(site: String = "t-\(UUID().uuidString.prefix(6).lowercased())",
                brokers: String, heartbeat: Int = 1, keepalive: Int = 5,
                spoolDir: String = "spool", extra: String = "") -> String {
  """
  {"version": 1, "site_id": "\(site)", "heartbeat_s": \(heartbeat), "keepalive_s": \(keepalive),
   "brokers": [\(brokers)], "spool": {"dir": "\(spoolDir)"}\(extra.isEmpty ? "" : ", " + extra)}
  """
}

func brokerEntry(_ port: Int, _ more: String = "") -> String {
  "{\"host\": \"127.0.0.1\", \"port\": \(port)\(more.isEmpty ? "" : ", " + more)}"
}

/// A fake camera: a TCP listener on a loopback port that accepts and hangs up, as a camera's
/// RTSP port answers a probe. `close()` makes the port refuse, as a hung camera's would;
/// `open()` brings it back on the same port.
final class ProbeTarget: @unchecked Sendable {
  let port: Int
  private let lock = NSLock()
  private var fd: Int32 = -1

  /// On a port of its own: the listener itself is bound while the port's lock is held, so
  /// nothing can take the port between a check and the bind (a check-then-bind, as for the
  /// fixtures in other processes, lost its port once in a full run: errno 98 at the bind).
  init() throws {
    var chosen: (port: Int, fd: Int32)?
    _ = Harness.freePort { port in
      let s = ProbeTarget.listener(port)
      if s < 0 {
        // Taken since the check: say by whom, so the cause is on record, and use another.
        FileHandle.standardError.write(Data(
          "note: test port \(port) was taken between the check and the bind: \(Harness.holders(port))\n".utf8))
        return false
      }
      chosen = (port, s)
      return true
    }
    guard let c = chosen else { throw HarnessError("no port for a fake camera") }
    port = c.port
    adopt(c.fd)
  }

  /// On a given port (`listening: false`: refusing until `open()`).
  init(port: Int, listening: Bool = true) throws {
    self.port = port
    if listening { try open() }
  }

  /// A listening socket on 127.0.0.1:`port`, or -1 with errno set.
  private static func listener(_ port: Int) -> Int32 {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    if s < 0 { return -1 }
    var one: Int32 = 1
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(truncatingIfNeeded: port).bigEndian
    let r = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard r == 0, listen(s, 64) == 0 else {
      let e = errno
      Foundation.close(s)
      errno = e
      return -1
    }
    return s
  }

  var isOpen: Bool {
    lock.lock()
    defer { lock.unlock() }
    return fd >= 0
  }

  func open() throws {
    let s = ProbeTarget.listener(port)
    guard s >= 0 else {
      let e = errno
      throw HarnessError("fake camera cannot listen on \(port): errno \(e); \(Harness.holders(port))")
    }
    adopt(s)
  }

  private func adopt(_ s: Int32) {
    lock.lock()
    fd = s
    lock.unlock()
    let t = Thread {
      while true {
        let c = accept(s, nil, nil)
        if c < 0 { break }
        Foundation.close(c)
      }
    }
    t.start()
  }

  /// Stops listening: connects to the port are refused from now on.
  func close() {
    lock.lock()
    let s = fd
    fd = -1
    lock.unlock()
    if s >= 0 {
      shutdown(s, Int32(SHUT_RDWR))
      Foundation.close(s)
    }
  }

  deinit { close() }
}

/// The simulated board of a test: a folder with one file per line holding its level, and the
/// board file that names it (`driver: sim`).
final class SimBoardDir: @unchecked Sendable {
  let dir: URL
  let boardURL: URL
  let lines: [String: (input: Bool, debounceMs: Int)]

  /// `lines`: name → (input or output, debounce). Inputs start at 1 (present).
  init(in parent: URL, lines: [String: (input: Bool, debounceMs: Int)]) throws {
    dir = parent.appendingPathComponent("sim")
    boardURL = parent.appendingPathComponent("board.json")
    self.lines = lines
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    var entries: [String] = []
    for (name, l) in lines.sorted(by: { $0.key < $1.key }) {
      if l.input {
        entries.append("\"\(name)\": {\"direction\": \"input\", \"debounce_ms\": \(l.debounceMs)}")
        try "1\n".write(to: dir.appendingPathComponent(name), atomically: false, encoding: .utf8)
      } else {
        entries.append("\"\(name)\": {\"direction\": \"output\"}")
      }
    }
    let text = "{\"name\": \"test-sim\", \"driver\": \"sim\", \"dir\": \"sim\", \"lines\": {"
      + entries.joined(separator: ", ") + "}}"
    try text.write(to: boardURL, atomically: true, encoding: .utf8)
  }

  /// Sets an input line as `echo V > FILE` does (truncate, write), or as an editor does
  /// (write a new file, rename it over the old one).
  func set(_ name: String, _ level: Int, byRename: Bool = false) {
    let url = dir.appendingPathComponent(name)
    if byRename {
      let tmp = dir.appendingPathComponent(".\(name).new")
      try? "\(level)\n".write(to: tmp, atomically: false, encoding: .utf8)
      rename(tmp.path, url.path)
    } else {
      let fd = Foundation.open(url.path, O_WRONLY | O_TRUNC | O_CREAT, 0o644)
      _ = "\(level)\n".withCString { Foundation.write(fd, $0, 2) }
      Foundation.close(fd)
    }
  }

  /// The level a line's file holds now, nil if missing or garbled.
  func level(_ name: String) -> Int? {
    guard let s = try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
    else { return nil }
    return Int(s.trimmingCharacters(in: .whitespacesAndNewlines))
  }
}

/// Watches one line file in the background and records each level it takes, so a relay that
/// is off for one second is seen however the test is scheduled.
final class LineRecorder: @unchecked Sendable {
  private let lock = NSLock()
  private var levels: [Int] = []
  private var running = true

  init(_ board: SimBoardDir, _ name: String) {
    let t = Thread { [self] in
      while self.isRunning {
        if let v = board.level(name) {
          self.lock.lock()
          if self.levels.last != v { self.levels.append(v) }
          self.lock.unlock()
        }
        usleep(10_000)
      }
    }
    t.start()
  }

  private var isRunning: Bool {
    lock.lock()
    defer { lock.unlock() }
    return running
  }

  /// The levels seen so far, each change once: e.g. [1, 0, 1] for one power cycle.
  var history: [Int] {
    lock.lock()
    defer { lock.unlock() }
    return levels
  }

  func stop() {
    lock.lock()
    running = false
    lock.unlock()
  }

  deinit { stop() }
}

extension Centre {
  /// The events of `kind` seen so far on `R/event`.
  func events(_ root: String, _ kind: String) -> [[String: Any]] {
    messages("\(root)/event").compactMap { $0.json }.filter { $0["kind"] as? String == kind }
  }

  /// Waits for an event of `kind` (matching `match`) and returns it with when it was seen.
  func waitForEvent(_ root: String, _ kind: String, within seconds: Double,
                    _ match: @escaping ([String: Any]) -> Bool = { _ in true }) async
    -> ([String: Any], Date)?
  {
    guard let seen = await waitFor("\(root)/event", within: seconds, { s in
      guard let j = s.json, j["kind"] as? String == kind else { return false }
      return match(j)
    }), let j = seen.json else { return nil }
    return (j, seen.at)
  }

  /// The camera entry `id` of the heartbeats seen after `after` heartbeats, first match.
  func waitForCamera(_ root: String, _ id: String, within seconds: Double, after: Int = 0,
                     _ match: @escaping ([String: Any]) -> Bool) async -> [String: Any]? {
    var found: [String: Any]?
    _ = await waitFor("\(root)/heartbeat", within: seconds, after: after) { s in
      guard let cams = s.json?["cameras"] as? [[String: Any]],
        let cam = cams.first(where: { $0["id"] as? String == id }), match(cam)
      else { return false }
      found = cam
      return true
    }
    return found
  }
}
