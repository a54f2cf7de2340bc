import Foundation
import Testing

// The centre's side of a test: `vigil-centre exporter` as a process, a real Prometheus
// scraping it, and plain HTTP GETs (curl, a real client). The site side (mosquitto, agents,
// fake cameras, sim boards) is the integration suite's Harness, shared as the same files.

/// One HTTP answer: status, headers' content type, body.
struct HTTPAnswer {
  let status: Int
  let contentType: String
  let body: Data
  var text: String { String(decoding: body, as: UTF8.self) }
}

enum HTTP {
  /// GET with curl; nil when nothing answered.
  static func get(_ url: String, timeoutS: Int = 5) -> HTTPAnswer? {
    let dir = Harness.tempDir("http")
    let bodyFile = dir.appendingPathComponent("body")
    let (s, out) = Harness.run("/usr/bin/curl", [
      "-s", "-m", "\(timeoutS)", "-o", bodyFile.path, "-w", "%{http_code} %{content_type}", url,
    ])
    defer { try? FileManager.default.removeItem(at: dir) }
    guard s == 0 else { return nil }
    let parts = out.split(separator: " ", maxSplits: 1)
    guard let code = parts.first.flatMap({ Int($0) }), code > 0 else { return nil }
    let body = (try? Data(contentsOf: bodyFile)) ?? Data()
    return HTTPAnswer(status: code, contentType: parts.count > 1 ? String(parts[1]) : "",
                      body: body)
  }
}

/// `vigil-centre exporter` on a free loopback port.
final class ExporterProcess {
  let port: Int
  let log = LineCollector()
  private let process: Process

  init(brokerPort: Int, inventory: URL?, extra: [String] = []) throws {
    port = Harness.freePort()
    let p = Process()
    p.executableURL = URL(fileURLWithPath: Harness.centreBinary)
    var args = ["exporter", "--broker", "127.0.0.1:\(brokerPort)", "--listen", "127.0.0.1:\(port)"]
    if let i = inventory { args += ["--inventory", i.path] }
    p.arguments = args + extra
    try p.runAsFixture(output: log)
    process = p
    // Ready when it says it is connected to the broker and its HTTP port answers.
    let deadline = Date().addingTimeInterval(15)
    while !(log.text.contains("connected to 127.0.0.1:\(brokerPort)")
      && Harness.canConnect(port: port))
    {
      if !p.isRunning {
        p.waitUntilExit()
        throw HarnessError("exporter exited (\(p.terminationStatus)): \(log.textAtEnd())")
      }
      if Date() > deadline { throw HarnessError("exporter not ready within 15 s: \(log.text)") }
      usleep(20_000)
    }
  }

  var url: String { "http://127.0.0.1:\(port)" }
  var pid: Int32 { process.processIdentifier }
  var isRunning: Bool { process.isRunning }

  func get(_ path: String) -> HTTPAnswer? { HTTP.get(url + path) }

  func stop() { process.killAndWait() }

  deinit { stop() }
}

/// A real Prometheus (Debian's /usr/bin/prometheus) scraping `targets` every second, with its
/// storage in a temporary folder.
final class PrometheusServer {
  let port: Int
  let dir: URL
  let log = LineCollector()
  private let process: Process
  static let scrapeIntervalS = 1.0

  init(targets: [Int]) throws {
    port = Harness.freePort()
    dir = Harness.tempDir("prometheus")
    let list = targets.map { "'127.0.0.1:\($0)'" }.joined(separator: ", ")
    let conf = dir.appendingPathComponent("prometheus.yml")
    try """
      global:
        scrape_interval: 1s
        scrape_timeout: 1s
        evaluation_interval: 1s
      scrape_configs:
        - job_name: vigil
          static_configs:
            - targets: [\(list)]
      """.write(to: conf, atomically: true, encoding: .utf8)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
    p.arguments = ["--config.file=\(conf.path)",
                   "--storage.tsdb.path=\(dir.appendingPathComponent("data").path)",
                   "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"]
    try p.runAsFixture(output: log)
    process = p
    let deadline = Date().addingTimeInterval(30)
    while HTTP.get("http://127.0.0.1:\(port)/-/ready", timeoutS: 1)?.status != 200 {
      if !p.isRunning {
        p.waitUntilExit()
        throw HarnessError("prometheus exited (\(p.terminationStatus)): \(log.textAtEnd())")
      }
      if Date() > deadline { throw HarnessError("prometheus not ready within 30 s: \(log.text)") }
      usleep(100_000)
    }
  }

  /// The instant vector of `query` now: each series' labels and value.
  func query(_ query: String) -> [(labels: [String: String], value: Double)]? {
    var c = URLComponents(string: "http://127.0.0.1:\(port)/api/v1/query")
    c?.queryItems = [URLQueryItem(name: "query", value: query)]
    // URLComponents leaves `+` alone, which a query string reads as a space.
    guard let raw = c?.url?.absoluteString.replacingOccurrences(of: "+", with: "%2B"),
      let a = HTTP.get(raw), a.status == 200,
      let j = (try? JSONSerialization.jsonObject(with: a.body)) as? [String: Any],
      let data = j["data"] as? [String: Any], let result = data["result"] as? [[String: Any]]
    else { return nil }
    return result.compactMap { r in
      guard let m = r["metric"] as? [String: String], let v = r["value"] as? [Any], v.count == 2,
        let s = v[1] as? String, let d = Double(s)
      else { return nil }
      return (m, d)
    }
  }

  /// The raw samples of one series over the last `seconds`: each scrape's time (Unix seconds,
  /// when the scrape began) and value, oldest first; nil unless the selector picks one series.
  func samples(_ selector: String, seconds: Int) -> [(at: Double, value: Double)]? {
    var c = URLComponents(string: "http://127.0.0.1:\(port)/api/v1/query")
    c?.queryItems = [URLQueryItem(name: "query", value: "\(selector)[\(seconds)s]")]
    guard let raw = c?.url?.absoluteString.replacingOccurrences(of: "+", with: "%2B"),
      let a = HTTP.get(raw), a.status == 200,
      let j = (try? JSONSerialization.jsonObject(with: a.body)) as? [String: Any],
      let data = j["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
      result.count == 1, let values = result[0]["values"] as? [[Any]]
    else { return nil }
    return values.compactMap { v in
      guard v.count == 2, let t = v[0] as? Double, let s = v[1] as? String, let d = Double(s)
      else { return nil }
      return (t, d)
    }
  }

  /// When the scrape that first gave `v` for `selector` (in the last `seconds`) began, as a
  /// date, and the value of the scrape before it.
  func firstScrape(_ selector: String, equal v: Double, seconds: Int = 60)
    -> (at: Date, before: Double?)?
  {
    guard let s = samples(selector, seconds: seconds),
      let i = s.firstIndex(where: { $0.value == v })
    else { return nil }
    return (Date(timeIntervalSince1970: s[i].at), i > 0 ? s[i - 1].value : nil)
  }

  /// The value of a query that selects one series, nil when it selects none (or several).
  func value(_ q: String) -> Double? {
    guard let r = query(q), r.count == 1 else { return nil }
    return r[0].value
  }

  /// Waits until `q`'s one series has `v`; returns when that was first seen, nil if never.
  func waitFor(_ q: String, equal v: Double, within seconds: Double) async -> Date? {
    var at: Date?
    _ = await Harness.wait(seconds) {
      if value(q) == v { at = Date() }
      return at != nil
    }
    return at
  }

  /// Whether the scrape of the exporter is up (Prometheus' own `up`).
  func targetUp() -> Bool { value("up{job=\"vigil\"}") == 1 }

  func stop() { process.killAndWait() }

  deinit { stop() }
}
