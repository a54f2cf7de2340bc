import CVigil
import VigilCore
import VigilPlatform

/// `vigil-centre exporter` at run time: one `EventLoop` carries the MQTT session (the
/// project's `BrokerSession`, subscribed to every site's topics) and the HTTP server
/// (libmicrohttpd without a thread of its own), so the model is only ever touched on the
/// loop's thread. A scrape is rendered inside the loop: MQTT messages wait in the socket
/// meanwhile (measured in BENCHMARKS.md: well under a second for 1,600 sites).
final class Exporter: BrokerSessionDelegate {
  struct Settings {
    var broker: Config.Broker
    var prefix = "vigil"
    var listenAddress = "127.0.0.1"
    var listenPort: UInt16 = 9717
    var snapshotBudgetBytes = 64 << 20
    var inventory = Inventory()
    /// Where the inventory was read from: read again at SIGHUP.
    var inventoryPath: String?
  }

  /// The largest snapshot taken from the broker: the agent refuses bodies over 4 MiB.
  static let maxSnapshotBytes = 4 << 20 + 64 * 1024

  private let loop: EventLoop
  private let settings: Settings
  private let session: BrokerSession
  private let model: DistrictModel
  private var server: HTTPServer?

  init(loop: EventLoop, settings: Settings) {
    self.loop = loop
    self.settings = settings
    model = DistrictModel(prefix: settings.prefix, inventory: settings.inventory,
                          snapshotBudgetBytes: settings.snapshotBudgetBytes)
    // A random client id: two exporters (a pair for redundancy) must not take each other's.
    let id = "vigil-centre-exporter-\(String(Sys.random64() % 1_000_000_000, radix: 16))"
    session = BrokerSession(loop: loop, clientId: id, brokers: [settings.broker], keepaliveS: 30,
                            willTopic: "", willPayload: [])
    session.payloadLimit = Self.maxSnapshotBytes
  }

  /// Listens, connects, and runs until SIGTERM or SIGINT; SIGHUP reads the inventory again.
  /// Returns the exit status.
  func run() -> Int32 {
    let s = HTTPServer(loop: loop) { [unowned self] path in self.route(path) }
    do throws(HTTPServer.StartError) {
      try s.start(address: settings.listenAddress, port: settings.listenPort)
    } catch {
      Log.error("exporter: \(error.message)")
      return 1
    }
    server = s
    Log.notice("exporter: serving http://\(settings.listenAddress):\(settings.listenPort)/ "
      + "(/metrics, /api/state); reading \(settings.prefix)/+/… from \(settings.broker.label)")
    session.delegate = self
    session.start()
    loop.onSignal = { [unowned self] signo in
      if signo == SIGHUP {
        self.reloadInventory()
        return
      }
      Log.notice("exporter: signal \(signo), stopping")
      self.loop.stop()
    }
    do throws(SystemError) {
      try loop.run()
    } catch {
      Log.error("exporter: \(error.message)")
      return 1
    }
    session.stop()
    s.stop()
    return 0
  }

  /// The inventory file read again (a ward added, a site moved): a file that cannot be used
  /// changes nothing, and the log says why.
  private func reloadInventory() {
    guard let path = settings.inventoryPath else {
      Log.notice("exporter: SIGHUP: no --inventory to read again")
      return
    }
    do throws(Inventory.Problem) {
      let inventory = try Inventory.load(path)
      model.replaceInventory(inventory)
      Log.notice("exporter: inventory \(path) read again: \(inventory.sites.count) sites")
    } catch {
      Log.error("exporter: inventory \(error.message); the one before is kept")
    }
  }

  // MARK: HTTP

  private func route(_ path: String) -> HTTPServer.Response {
    let now = Clock.monotonicMs()
    switch path {
    case "/", "/index.html":
      return .init(status: 200, contentType: "text/html; charset=utf-8",
                   body: Array(DistrictPage.html.utf8))
    case "/page.css":
      return .init(status: 200, contentType: "text/css; charset=utf-8",
                   body: Array(DistrictPage.css.utf8))
    case "/page.js":
      return .init(status: 200, contentType: "text/javascript; charset=utf-8",
                   body: Array(DistrictPage.js.utf8))
    case "/metrics":
      let body = MetricsText.render(model, nowMs: now, brokerConnected: session.isConnected)
      return .init(status: 200, contentType: MetricsText.contentType, body: body)
    case "/api/state":
      return .init(status: 200, contentType: "application/json",
                   body: DistrictState.render(model, nowMs: now))
    default:
      if path.hasPrefix("/snapshot/") {
        let parts = path.dropFirst("/snapshot/".count).split(separator: "/",
                                                             omittingEmptySubsequences: false)
        if parts.count == 2,
          let p = model.snapshots.picture(String(parts[0]), String(parts[1]))
        {
          return .init(status: 200, contentType: "image/jpeg", body: p.bytes,
                       headers: [("X-Capture-Ms", "\(p.captureMs)")])
        }
        return .text(404, "no snapshot of that camera")
      }
      return .text(404, "not found")
    }
  }

  // MARK: MQTT

  func brokerConnected(_ broker: Config.Broker) {
    let p = settings.prefix
    session.subscribe("\(p)/+/status", qos: 1)
    session.subscribe("\(p)/+/heartbeat", qos: 0)
    session.subscribe("\(p)/+/event", qos: 1)
    session.subscribe("\(p)/+/config/state", qos: 1)
    session.subscribe("\(p)/+/update/state", qos: 1)
    if settings.snapshotBudgetBytes > 0 { session.subscribe("\(p)/+/snapshot/#", qos: 1) }
  }

  func brokerLost(_ reason: String) {}

  func brokerAcknowledged(mid: Int32) {}

  func brokerMessage(topic: String, payload: [UInt8], size: Int) {
    model.ingest(topic: topic, payload: payload, size: size, nowMs: Clock.monotonicMs())
  }
}
