import CVigil
import VigilCore
import VigilPlatform

/// The running agent: one event loop, one uplink, and the site's state, wired together.
public final class Agent: BrokerSessionDelegate {
  public private(set) var loaded: LoadedConfig
  public let bootId: Int
  private let loop: EventLoop
  private let session: BrokerSession
  private var heartbeatTimer: EventLoop.Timer?
  private var heartbeatSeq = 0
  private let startMs: Int64
  private var exitCode: Int32 = 0
  private var stopping = false

  var config: Config { loaded.config }

  init(loaded: LoadedConfig, loop: EventLoop, bootId: Int) {
    self.loaded = loaded
    self.loop = loop
    self.bootId = bootId
    self.startMs = Clock.monotonicMs()
    let c = loaded.config
    session = BrokerSession(
      loop: loop, clientId: c.clientId, brokers: c.brokers, keepaliveS: c.keepaliveS,
      willTopic: "\(c.topicRoot)/status", willPayload: Messages.offline(bootId: bootId))
    session.delegate = self
  }

  /// Loads the config, takes a boot number, and runs until SIGTERM or SIGINT. Returns the exit
  /// code.
  public static func run(configPath: String) -> Int32 {
    let loaded: LoadedConfig
    do { loaded = try ConfigFile.load(configPath) } catch {
      Log.error("config \(configPath): \(error.message)")
      return 1
    }
    let c = loaded.config
    let stateDir = c.spool.dir + "/state"
    let bootId: Int
    do {
      try Files.makeDirectories(stateDir)
      bootId = try BootCounter.next(at: stateDir + "/boot_count")
    } catch {
      Log.error("state folder \(stateDir): \(error.message)")
      return 1
    }
    let loop: EventLoop
    do { loop = try EventLoop() } catch {
      Log.error("event loop: \(error.message)")
      return 1
    }
    let agent = Agent(loaded: loaded, loop: loop, bootId: bootId)
    return agent.run()
  }

  func run() -> Int32 {
    Log.notice("vigil \(Messages.version) starting: site \(config.siteId), boot \(bootId), "
      + "config version \(config.version)")
    loop.onSignal = { signo in self.signal(signo) }
    session.start()
    scheduleHeartbeat()
    do { try loop.run() } catch {
      Log.error("event loop failed: \(error.message)")
      return 1
    }
    return exitCode
  }

  // MARK: signals

  private func signal(_ signo: Int32) {
    if signo == SIGHUP {
      reload()
    } else {
      shutdown()
    }
  }

  /// SIGHUP: the file is read and validated again; a bad one is refused and the running config
  /// stays.
  private func reload() {
    let next: LoadedConfig
    do { next = try ConfigFile.load(loaded.path) } catch {
      Log.error("reload refused, keeping version \(config.version): \(error.message)")
      return
    }
    apply(next)
    Log.notice("reloaded \(loaded.path): version \(config.version)")
  }

  /// Puts a validated config into effect: the uplink reconnects only if its settings changed.
  func apply(_ next: LoadedConfig) {
    let old = loaded.config
    loaded = next
    if old.brokers != next.config.brokers || old.keepaliveS != next.config.keepaliveS
      || old.topicRoot != next.config.topicRoot
    {
      session.replace(brokers: next.config.brokers, keepaliveS: next.config.keepaliveS)
    }
    if old.heartbeatS != next.config.heartbeatS { scheduleHeartbeat() }
  }

  /// SIGTERM or SIGINT: the retained status says `shutdown`, and once the broker has
  /// acknowledged it (or 3 s have passed) a clean disconnect, which suppresses the will; exit 0.
  private func shutdown() {
    if stopping { return }
    stopping = true
    Log.notice("stopping")
    loop.cancel(heartbeatTimer)
    let payload = Messages.offline(bootId: bootId, reason: "shutdown", tsMs: Clock.wallMs())
    guard session.isConnected,
      let mid = session.publish(statusTopic, payload, qos: 1, retain: true)
    else {
      finishStop()
      return
    }
    shutdownMid = mid
    loop.after(ms: 3000) {
      if self.shutdownMid != nil {
        Log.warning("broker did not acknowledge the shutdown status within 3 s")
        self.finishStop()
      }
    }
  }

  private var shutdownMid: Int32?

  private func finishStop() {
    shutdownMid = nil
    session.stop()
    loop.stop()
  }

  // MARK: heartbeat

  var statusTopic: String { "\(config.topicRoot)/status" }

  private func scheduleHeartbeat() {
    loop.cancel(heartbeatTimer)
    heartbeatTimer = loop.every(ms: Int64(config.heartbeatS) * 1000) {
      self.sendHeartbeat()
    }
  }

  private func sendHeartbeat() {
    guard session.isConnected else { return }
    heartbeatSeq += 1
    let payload = heartbeat().encode()
    session.publish("\(config.topicRoot)/heartbeat", payload, qos: 0, retain: false)
  }

  func heartbeat() -> Heartbeat {
    var hb = Heartbeat(
      site: config.siteId, seq: heartbeatSeq, bootId: bootId,
      uptimeS: Int((Clock.monotonicMs() - startMs) / 1000), tsMs: Clock.wallMs(),
      clockSynced: Clock.isSynced(), configVersion: config.version,
      broker: session.currentBroker.label, connects: session.connects,
      lastOutageS: session.lastOutageS)
    hb.cameras = config.cameras.map { Heartbeat.Camera(id: $0.id) }
    return hb
  }

  // MARK: BrokerSessionDelegate

  public func brokerConnected(_ broker: Config.Broker) {
    // The retained status is published again on every connect: a clustered broker keeps
    // retained messages per node, so the node reached now may not have it.
    session.publish(
      statusTopic, Messages.online(bootId: bootId, tsMs: Clock.wallMs()), qos: 1, retain: true)
  }

  public func brokerLost(_ reason: String) {}

  public func brokerAcknowledged(mid: Int32) {
    if let m = shutdownMid, m == mid { finishStop() }
  }

  public func brokerMessage(topic: String, payload: [UInt8]) {}
}
