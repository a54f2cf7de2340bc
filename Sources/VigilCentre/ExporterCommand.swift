import VigilCore
import VigilPlatform

/// `vigil-centre exporter`: its options, checked before anything starts.
extension CentreCLI {
  static let exporterUsage = """
    usage: vigil-centre exporter --broker HOST:PORT [--username U --password-file F]
                                 [--prefix vigil] [--inventory FILE] [--listen ADDR:PORT]
                                 [--snapshots MIB]

    Reads every site's status, heartbeats, events, config and update states and snapshots from
    the broker, and serves Prometheus metrics at /metrics, the district page at /, its data at
    /api/state and each camera's last snapshot at /snapshot/SITE/CAMERA.
      -b, --broker HOST:PORT   the district's broker (an address or a name)
      -u, --username U         MQTT username
      -p, --password-file F    a file holding the MQTT password (its first line)
      -P, --prefix P           the sites' topic_prefix (default vigil)
      -i, --inventory FILE     {"sites":{"SITE":{"ward":…,"address":…,"lat":…,"lon":…}}}:
                               ward labels and the page's grouping
      -l, --listen ADDR:PORT   where to serve HTTP, IPv4 (default 127.0.0.1:9717)
      -s, --snapshots MIB      memory for the cameras' last snapshots, in MiB (default 64;
                               0: snapshots not read)
    """

  static func exporter(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32
  {
    let p = Getopt.parse(argc, argv, short: "hb:u:p:P:i:l:s:", long: [
      ("help", false, "h"), ("broker", true, "b"), ("username", true, "u"),
      ("password-file", true, "p"), ("prefix", true, "P"), ("inventory", true, "i"),
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
    var settings = Exporter.Settings(broker: Config.Broker(host: "", port: 0))
    var inventoryFile: String?
    for (flag, value) in p.options {
      let v = value ?? ""
      switch flag {
      case "b": brokerText = v
      case "u": username = v
      case "p": passwordFile = v
      case "P":
        guard !v.isEmpty, !v.contains("+"), !v.contains("#"), !v.hasSuffix("/") else {
          return usageError("exporter", "--prefix \"\(v)\" is no topic prefix", exporterUsage)
        }
        settings.prefix = v
      case "i": inventoryFile = v
      case "l":
        guard let (host, port) = hostPort(v), port > 0 else {
          return usageError("exporter", "--listen \"\(v)\" is not ADDR:PORT", exporterUsage)
        }
        settings.listenAddress = host
        settings.listenPort = port
      case "s":
        guard let mib = Int(v), mib >= 0, mib <= 4096 else {
          return usageError("exporter", "--snapshots \"\(v)\" is not 0-4096 (MiB)", exporterUsage)
        }
        settings.snapshotBudgetBytes = mib << 20
      default: break
      }
    }
    guard let b = brokerText else {
      return usageError("exporter", "--broker HOST:PORT is required", exporterUsage)
    }
    guard let (host, port) = hostPort(b), port > 0 else {
      return usageError("exporter", "--broker \"\(b)\" is not HOST:PORT", exporterUsage)
    }
    var password: String?
    if let f = passwordFile {
      do throws(SystemError) {
        let bytes = try Files.read(f, limit: 4096)
        let line = bytes.split(separator: 0x0A, maxSplits: 1, omittingEmptySubsequences: false)
        password = String(decoding: line.first ?? [], as: UTF8.self)
      } catch {
        err("vigil-centre exporter: --password-file: \(error.message)")
        return 1
      }
      if username == nil {
        return usageError("exporter", "--password-file needs --username", exporterUsage)
      }
    }
    settings.broker = Config.Broker(host: host, port: Int(port), username: username,
                                    password: password)
    if let f = inventoryFile {
      do throws(Inventory.Problem) {
        settings.inventory = try Inventory.load(f)
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

  /// `host:port` or `[v6]:port`; nil when it is neither.
  static func hostPort(_ s: String) -> (String, UInt16)? {
    guard let colon = s.lastIndex(of: ":") else { return nil }
    var host = String(s[s.startIndex..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty, let port = UInt16(s[s.index(after: colon)...]) else { return nil }
    return (host, port)
  }
}
