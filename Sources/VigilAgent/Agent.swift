import CVigil
import VigilCore
import VigilPlatform

/// The running agent: one event loop, one uplink, the site's parts, wired together.
public final class Agent: BrokerSessionDelegate, Outbox {
  public private(set) var loaded: LoadedConfig
  public let bootId: Int64
  let loop: EventLoop
  let session: BrokerSession
  let commands = Commands()
  /// systemd's notify socket (`Type=notify`); does nothing when not run by systemd.
  let service = SystemdNotify()
  private(set) var events: EventLog!
  private(set) var parts: [any AgentPart] = []
  /// Every event and snapshot goes through it (Spool.swift).
  private(set) var spool: Spool!
  /// Snapshots of the cameras (Snapshots.swift): `onSnapshotResult` and `requestSnapshot`.
  private(set) var snapshots: Snapshots!
  private var heartbeatTimer: EventLoop.Timer?
  private var heartbeatSeq = 0
  /// When the last heartbeat went out (monotonic ms; 0 before the first), for the update's trial.
  private(set) var lastHeartbeatMs: Int64 = 0
  var heartbeatsSent: Int { heartbeatSeq }
  let startMs: Int64
  private var stopping = false
  /// Set by a part that cannot start (a GPIO line in use, a missing chip): the agent then says
  /// why and exits 1 rather than run blind.
  var startFailure: String?
  private var shutdownMid: Int32?

  var config: Config { loaded.config }
  var topicRoot: String { config.topicRoot }
  var statusTopic: String { "\(topicRoot)/status" }
  /// The folder for state that must survive restarts (boot counter, lockout, pending config).
  var stateDir: String { config.spool.dir + "/state" }

  init(loaded: LoadedConfig, loop: EventLoop, bootId: Int64) {
    self.loaded = loaded
    self.loop = loop
    self.bootId = bootId
    self.startMs = Clock.monotonicMs()
    let c = loaded.config
    session = BrokerSession(
      loop: loop, clientId: c.clientId, brokers: c.brokers, keepaliveS: c.keepaliveS,
      willTopic: "\(c.topicRoot)/status", willPayload: Messages.offline(bootId: bootId))
    session.delegate = self
    events = EventLog(bootId: bootId, topic: { [self] in "\(self.topicRoot)/event" }, outbox: self)
    registerCommands()
    spool = Spool(agent: self)
    add(spool)
    snapshots = Snapshots(agent: self)
    add(RemoteConfig(agent: self))
    add(RemoteCommands(agent: self))
    let cameras = CameraWatch(agent: self)
    // Before the snapshots: a reload's new credentials reach the login budget before the
    // snapshot turn that tries them.
    add(cameras)
    add(snapshots)
    let streams = StreamChecks(agent: self) { [snapshots] in snapshots.http }
    add(streams)
    let update = SelfUpdate(agent: self) { [snapshots] in snapshots.http }
    update.mainsLost = { [cameras] in cameras.cabinet.mains?.word == "lost" }
    add(update)
    // A camera's video state comes from its snapshots; a camera back from a power cut or a
    // power cycle gets a snapshot at once.
    let views = CameraViews(agent: self)
    add(views)
    snapshots.onSnapshotResult = { [cameras, views] r in
      cameras.snapshotResult(r)
      if r.fault != nil { views.missed(r.cameraId) }
    }
    snapshots.onPicture = { [views] id, jpeg, topic in views.picture(id, jpeg, topic: topic) }
    snapshots.mayLogIn = { [cameras] id in cameras.mayLogIn(id) }
    cameras.wantSnapshot = { [snapshots] id in snapshots.requestSnapshot(cameraId: id) }
    streams.onResult = { [cameras] id, r in cameras.streamResult(id, r) }
    streams.mayLogIn = { [cameras] id in cameras.mayLogIn(id) }
    cameras.probeAnswered = { [streams] id, full in streams.probed(id, full: full) }
    cameras.streamSummary = { [streams] id in streams.summary(id) }
    registerSelftest()
    add(SerialConsole(agent: self))
  }

  func add(_ part: any AgentPart) { parts.append(part) }

  /// Loads the config, takes a boot number, and runs until SIGTERM or SIGINT. Returns the exit
  /// code.
  public static func run(configPath: String,
                         argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = nil) -> Int32 {
    var loaded: LoadedConfig
    do { loaded = try ConfigFile.load(configPath) } catch {
      ConfigFile.log("config \(configPath)", error)
      return 1
    }
    loaded = RemoteConfig.recoverAtStart(loaded)
    let stateDir = loaded.config.spool.dir + "/state"
    // A self-update in place runs instead of this binary (the process is replaced).
    UpdateLauncher.launch(stateDir: stateDir, argv: argv)
    let bootId: Int64
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
    loop.onSignal = { [self] signo in self.signal(signo) }
    for p in parts { p.start() }
    if let why = startFailure {
      Log.error(why)
      for p in parts { p.stop() }
      return 1
    }
    session.start()
    scheduleHeartbeat()
    startServiceNotifications()
    do { try loop.run() } catch {
      Log.error("event loop failed: \(error.message)")
      return 1
    }
    for p in parts { p.stop() }
    UpdateLauncher.markCleanExit(stateDir: stateDir)
    Log.notice("stopped")
    return 0
  }

  /// Tells systemd the agent is ready once the loop runs, and pings its watchdog from the loop
  /// at half the interval: a stuck loop stops the pings and systemd restarts the agent.
  private func startServiceNotifications() {
    guard service.isActive else { return }
    loop.after(ms: 0) { [self] in
      self.service.send("READY=1\nSTATUS=connecting to \(self.session.currentBroker.label)")
    }
    if let ms = SystemdNotify.watchdogIntervalMs() {
      Log.info("systemd watchdog: \(ms) ms, pinged every \(max(1, ms / 2)) ms")
      loop.every(ms: max(1, ms / 2)) { [self] in self.service.send("WATCHDOG=1") }
    }
  }

  // MARK: signals and configuration

  private func signal(_ signo: Int32) {
    if signo == SIGHUP { reload() } else { shutdown() }
  }

  /// SIGHUP: the file is read and validated again; a bad one is refused and the running config
  /// stays.
  private func reload() {
    service.reloading()
    defer { service.send("READY=1") }
    let next: LoadedConfig
    do { next = try ConfigFile.load(loaded.path) } catch {
      ConfigFile.log("reload refused, keeping version \(config.version)", error)
      return
    }
    apply(next)
    Log.notice("reloaded \(loaded.path): version \(config.version)")
  }

  /// Puts a validated config into effect: the uplink reconnects only if its settings changed.
  /// Returns whether it reconnects.
  @discardableResult
  func apply(_ next: LoadedConfig) -> Bool {
    let old = loaded
    loaded = next
    let reconnect = old.config.brokers != next.config.brokers
      || old.config.keepaliveS != next.config.keepaliveS
      || old.config.topicRoot != next.config.topicRoot
    if reconnect {
      session.replace(brokers: next.config.brokers, keepaliveS: next.config.keepaliveS,
                      willTopic: statusTopic)
    }
    if old.config.heartbeatS != next.config.heartbeatS { scheduleHeartbeat() }
    for p in parts { p.configChanged(from: old) }
    return reconnect
  }

  /// SIGTERM or SIGINT: the retained status says `shutdown`, and once the broker has
  /// acknowledged it (or 3 s have passed) a clean disconnect, which suppresses the will; exit 0.
  /// The update part's stop: swapping in a staged binary, or rolling a trial back.
  func stopForUpdate() { shutdown() }

  private func shutdown() {
    if stopping { return }
    stopping = true
    service.send("STOPPING=1")
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
    loop.after(ms: 3000) { [self] in
      if self.shutdownMid != nil {
        Log.warning("broker did not acknowledge the shutdown status within 3 s")
        self.finishStop()
      }
    }
  }

  private func finishStop() {
    shutdownMid = nil
    session.stop()
    loop.stop()
  }

  // MARK: heartbeat

  private func scheduleHeartbeat() {
    loop.cancel(heartbeatTimer)
    heartbeatTimer = loop.every(ms: Int64(config.heartbeatS) * 1000) { [self] in
      self.sendHeartbeat()
      // On the same tick, so that an idle agent wakes no more often than it must.
      Heap.giveBackFreePages()
    }
  }

  private func sendHeartbeat() {
    guard session.isConnected else { return }
    heartbeatSeq += 1
    lastHeartbeatMs = Clock.monotonicMs()
    session.publish("\(topicRoot)/heartbeat", heartbeat().encode(), qos: 0, retain: false)
  }

  var uptimeS: Int { Int((Clock.monotonicMs() - startMs) / 1000) }

  func heartbeat() -> Heartbeat {
    var hb = Heartbeat(
      site: config.siteId, seq: heartbeatSeq, bootId: bootId, uptimeS: uptimeS,
      tsMs: Clock.wallMs(), clockSynced: Clock.isSynced(), configVersion: config.version,
      broker: session.currentBroker.label, connects: session.connects,
      lastOutageS: session.lastOutageS)
    hb.cameras = config.cameras.map { Heartbeat.Camera(id: $0.id, owner: $0.owner.rawValue) }
    hb.trust = config.trustedKeys.isEmpty ? "unsigned" : "signed"
    for p in parts { p.fill(&hb) }
    return hb
  }

  // MARK: Outbox

  /// Every event and snapshot is stored in the spool first, connected or not.
  func send(topic: String, payload: [UInt8], captureMs: Int64, kind: SpoolRecord.Kind) {
    spool.enqueue(kind: kind, topic: topic, payload: payload, captureMs: captureMs)
  }

  // MARK: BrokerSessionDelegate

  public func brokerConnected(_ broker: Config.Broker) {
    // The retained status is published again on every connect: a clustered broker keeps
    // retained messages per node, so the node reached now may not have it.
    session.publish(
      statusTopic, Messages.online(bootId: bootId, tsMs: Clock.wallMs()), qos: 1, retain: true)
    // A clean session: subscriptions are made again on every connect. At QoS 0: RabbitMQ keeps
    // a clean session's QoS 1 subscription in a durable queue on the node it was made on, and
    // while that node is down every SUBSCRIBE elsewhere fails and drops the connection (found
    // by Scripts/test-cluster). Nothing is lost by it: the centre's retained config comes again
    // at every connect, and commands are live.
    session.subscribe("\(topicRoot)/config/set", qos: 0)
    session.subscribe("\(topicRoot)/cmd", qos: 0)
    service.send("STATUS=online via \(broker.label)")
    for p in parts { p.brokerConnected() }
  }

  public func brokerLost(_ reason: String) { service.send("STATUS=offline: \(reason)") }

  public func brokerAcknowledged(mid: Int32) {
    if let m = shutdownMid, m == mid { finishStop() }
    for p in parts { p.acknowledged(mid: mid) }
  }

  public func brokerMessage(topic: String, payload: [UInt8], size: Int) {
    if size > payload.count {
      for p in parts where p.oversized(topic: topic, bytes: size) { return }
      Log.warning("message on " + topic + " of " + String(size) + " bytes ignored: too large")
      return
    }
    for p in parts where p.received(topic: topic, payload: payload) { return }
    Log.debug("message on \(topic) not handled")
  }
}
