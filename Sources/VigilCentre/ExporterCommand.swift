import VigilCore
import VigilPlatform

/// `vigil-centre exporter`: its options, checked before anything starts.
extension CentreCLI {
  static let exporterUsage = """
    usage: vigil-centre exporter --broker HOST:PORT [--username U --password-file F]
                                 [--ca-file CA.pem] [--prefix vigil] [--inventory FILE]
                                 [--listen ADDR:PORT] [--snapshots MIB]

    Reads every site's status, heartbeats, events, config and update states and snapshots from
    the broker, and serves Prometheus metrics at /metrics, the district page at /, its data at
    /api/state and each camera's last snapshot at /snapshot/SITE/CAMERA.
      -b, --broker HOST:PORT   the district's broker (an address or a name)
      -u, --username U         MQTT username
      -p, --password-file F    a file holding the MQTT password (its first line)
      -C, --ca-file CA.pem     connect with TLS, the broker's certificate checked against
                               this CA and the broker's HOST
      -P, --prefix P           the sites' topic_prefix (default vigil)
      -i, --inventory FILE     {"sites":{"SITE":{"ward":…,"address":…,"lat":…,"lon":…}}}:
                               ward labels and the page's grouping; read again at SIGHUP
      -l, --listen ADDR:PORT   where to serve HTTP, IPv4 (default 127.0.0.1:9717)
      -s, --snapshots MIB      memory for the cameras' last snapshots, in MiB (default 64;
                               0: snapshots not read)
    """

  static func exporter(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32
  {
    let p = Getopt.parse(argc, argv, short: "hb:u:p:C:P:i:l:s:", long: [
      ("help", false, "h"), ("broker", true, "b"), ("username", true, "u"),
      ("password-file", true, "p"), ("ca-file", true, "C"), ("prefix", true, "P"), ("inventory", true, "i"),
      ("listen", true, "l"), ("snapshots", true, "s"),
    ])
    if let e = p.error { return usageError("exporter", e, exporterUsage) }
    if p.has("h") {
      out(exporterUsage)
      return 0
    }
    if !p.operands.isEmpty {
      return usageError("exporter", "unexpected \"\(p.operands[0])\"", exporterUsage)
    }
    var brokerText: String?
    var username: String?
    var passwordFile: String?
    var caFile: String?
    var settings = Exporter.Settings(broker: Config.Broker(host: "", port: 0))
    var inventoryFile: String?
    for (flag, value) in p.options {
      let v = value ?? ""
      switch flag {
      case "b": brokerText = v
      case "u": username = v
      case "p": passwordFile = v
      case "C": caFile = v
      case "P":
        guard BrokerOptions.isTopicPrefix(v) else {
          return usageError("exporter", "--prefix \"\(v)\" is no topic prefix", exporterUsage)
        }
        settings.prefix = v
      case "i": inventoryFile = v
      case "l":
        guard let (host, port) = BrokerOptions.hostPort(v), let p16 = UInt16(exactly: port) else {
          return usageError("exporter", "--listen \"\(v)\" is not ADDR:PORT", exporterUsage)
        }
        settings.listenAddress = host
        settings.listenPort = p16
      case "s":
        guard let mib = Int(v), mib >= 0, mib <= 4096 else {
          return usageError("exporter", "--snapshots \"\(v)\" is not 0-4096 (MiB)", exporterUsage)
        }
        settings.snapshotBudgetBytes = mib << 20
      default: break
      }
    }
    do throws(BrokerOptions.Problem) {
      settings.broker = try BrokerOptions.broker(brokerText, username: username,
                                                 passwordFile: passwordFile, caFile: caFile)
    } catch {
      if error.isUsage { return usageError("exporter", error.message, exporterUsage) }
      err("vigil-centre exporter: " + error.message)
      return 1
    }
    if let f = inventoryFile {
      do throws(Inventory.Problem) {
        settings.inventory = try Inventory.load(f)
        settings.inventoryPath = f
      } catch {
        err("vigil-centre exporter: inventory \(error.message)")
        return 1
      }
    }
    // Large blocks (a scrape's text, 28 MB for a district, and MHD's copy of it; snapshots) are
    // mapped on their own and unmapped when freed. Without it glibc raises its mmap threshold
    // to the size of the first such block freed and keeps the next ones in the heap, dirty,
    // between scrapes.
    Heap.configure()
    let loop: EventLoop
    do throws(SystemError) {
      loop = try EventLoop()
    } catch {
      err("vigil-centre exporter: \(error.message)")
      return 1
    }
    return Exporter(loop: loop, settings: settings).run()
  }
}
