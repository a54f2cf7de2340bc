import Foundation
import Testing

/// The serial cable of the console tests: two linked pseudo-terminals made by
/// `Scripts/lib/serial-cable.py`. The agent opens `agentEnd` as its `console.device`; picocom opens
/// `technicianEnd`. `unplug()` closes the line as pulling out a USB adapter does.
final class Cable {
  let dir: URL
  private var process: Process?
  private var log = LineCollector()

  var agentEnd: String { dir.appendingPathComponent("agent").path }
  var technicianEnd: String { dir.appendingPathComponent("technician").path }

  init(dir: URL = Harness.tempDir("cable"), plugged: Bool = true) throws {
    self.dir = dir
    if plugged { try plugIn() }
  }

  func plugIn() throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: Technician.python)
    p.arguments = [Harness.root.appendingPathComponent("Scripts/lib/serial-cable.py").path, dir.path]
    log = LineCollector()
    try p.runAsFixture(output: log)
    process = p
    let deadline = Date().addingTimeInterval(10)
    while !log.all.contains("ready") {
      if Date() > deadline || !p.isRunning { throw HarnessError("cable did not start: \(log.text)") }
      usleep(20_000)
    }
  }

  /// Pulls the cable out: the links go and both masters close (cable.py handles SIGTERM).
  func unplug() {
    guard let p = process else { return }
    p.end(graceSeconds: 3)
    process = nil
  }

  deinit { unplug() }
}

/// A technician at picocom, driven with pexpect (`Tests/Fixtures/technician.py`).
enum Technician {
  static let python = "/usr/bin/python3"

  enum Step {
    case send(String)
    case expect(String, within: Double = 10)
    case absent(String, for: Double)
    case noise(bytes: Int)
    case sleep(Double)

    var json: [Any] {
      switch self {
      case .send(let s): return ["send", s]
      case .expect(let r, let t): return ["expect", r, t]
      case .absent(let r, let t): return ["absent", r, t]
      case .noise(let n): return ["noise", n]
      case .sleep(let s): return ["sleep", s]
      }
    }
  }

  struct Session: CustomStringConvertible {
    var ok: Bool
    var error: String
    /// What picocom showed.
    var transcript: String
    /// When each step finished, after `started`.
    var at: [Double]
    var started: Date
    var seed: Int

    var description: String { "\(error)\nseed \(seed)\n--- picocom showed:\n\(transcript)" }

    /// The moment step `i` finished.
    func time(ofStep i: Int) -> Date? {
      i < at.count ? started.addingTimeInterval(at[i]) : nil
    }
  }

  /// Runs picocom on `device` through `steps`; ends picocom and returns what happened.
  static func session(_ device: String, _ steps: [Step], timeout: Double = 120) async -> Session {
    let started = Date()
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = [Harness.root.appendingPathComponent("Tests/Fixtures/technician.py").path, device]
    let input = Pipe()
    let output = Pipe()
    p.standardInput = input
    p.standardOutput = output
    p.standardError = output
    let collected = ByteCollector()
    collected.attach(output)
    do { try p.runAsFixture() } catch {
      return Session(ok: false, error: "cannot run technician.py: \(error)", transcript: "",
                     at: [], started: started, seed: 0)
    }
    let json = (try? JSONSerialization.data(withJSONObject: steps.map { $0.json })) ?? Data()
    input.fileHandleForWriting.write(json)
    try? input.fileHandleForWriting.close()
    if !(await Harness.wait(timeout) { !p.isRunning }) {
      kill(p.processIdentifier, SIGKILL)
      p.waitUntilExit()
    }
    _ = await Harness.wait(2) { collected.closed }
    let data = collected.data
    guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
      return Session(ok: false, error: "technician.py said: \(String(decoding: data, as: UTF8.self))",
                     transcript: "", at: [], started: started, seed: 0)
    }
    return Session(
      ok: obj["ok"] as? Bool ?? false, error: obj["error"] as? String ?? "",
      transcript: obj["transcript"] as? String ?? "",
      at: (obj["at"] as? [NSNumber] ?? []).map { $0.doubleValue }, started: started,
      seed: obj["seed"] as? Int ?? 0)
  }
}

/// All the bytes a child writes, until it closes the pipe.
final class ByteCollector: @unchecked Sendable {
  private let lock = NSLock()
  private var buffer = Data()
  private var ended = false

  func attach(_ pipe: Pipe) {
    pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
      let d = h.availableData
      self?.lock.lock()
      defer { self?.lock.unlock() }
      if d.isEmpty {
        h.readabilityHandler = nil
        self?.ended = true
      } else {
        self?.buffer.append(d)
      }
    }
  }

  var data: Data {
    lock.lock()
    defer { lock.unlock() }
    return buffer
  }

  var closed: Bool {
    lock.lock()
    defer { lock.unlock() }
    return ended
  }
}

/// A console site for the tests: a broker, the centre watching it, a cable, and the agent's
/// config naming the cable's agent end as `console.device`, with `pin` as the technician PIN.
struct ConsoleSite {
  static let pin = "246810"
  /// `vigil pin-hash` of `pin`, made once by the binary under test.
  static let pinHash: String = {
    let (status, out) = Harness.run(Harness.vigilBinary, ["pin-hash"], stdin: pin + "\n")
    return status == 0 ? out.trimmingCharacters(in: .whitespacesAndNewlines) : "pin-hash failed: \(out)"
  }()

  let site: String
  let config: String
  var root: String { "vigil/\(site)" }

  init(brokerPort: Int, device: String, lockoutS: Int = 300, heartbeat: Int = 1) {
    site = "c-\(UUID().uuidString.prefix(6).lowercased())"
    config = testConfig(
      site: site, brokers: brokerEntry(brokerPort), heartbeat: heartbeat,
      extra: """
        "console": {"device": "\(device)", "baud": 115200, "pin_hash": "\(Self.pinHash)",
                    "lockout_s": \(lockoutS)}
        """)
  }
}

extension AgentProcess {
  /// Waits until the agent has opened its console device `times` times in all.
  func waitForConsole(_ device: String, times: Int = 1, within seconds: Double = 15) async -> Bool {
    await Harness.wait(seconds) {
      self.log.all.filter { $0.contains("console: \(device) open at") }.count >= times
    }
  }
}
