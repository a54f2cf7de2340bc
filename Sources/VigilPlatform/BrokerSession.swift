import CMosquitto
import CVigil
import VigilCore

/// What a broker session tells its owner. Calls come from the event loop, never from inside a
/// libmosquitto callback, so the owner may publish, reconfigure or stop from any of them.
public protocol BrokerSessionDelegate: AnyObject {
  /// Connected and accepted (CONNACK 0) by `broker`.
  func brokerConnected(_ broker: Config.Broker)
  /// A working connection was lost; the session is already trying again.
  func brokerLost(_ reason: String)
  /// The broker acknowledged the QoS 1 message with this id (PUBACK).
  func brokerAcknowledged(mid: Int32)
  /// A message on a subscribed topic. One over `BrokerSession.maxPayloadBytes` is not copied:
  /// `payload` is empty and `size` says how large it was.
  func brokerMessage(topic: String, payload: [UInt8], size: Int)
}

/// The uplink: libmosquitto driven from Vigil's own poll loop (its socket polled, POLLOUT asked
/// only while it wants to write, `loop_misc` once a second), with the brokers tried in order,
/// and the reconnect backoff written here since libmosquitto keeps it inside `loop_forever`.
/// A fresh client is made for each attempt, so each broker gets its own TLS and credentials and
/// the socket is always fetched anew (mosquitto issue 1043). A broker given by name is looked up
/// first, in the loop (Resolver), and libmosquitto gets the address: its own `getaddrinfo`
/// would block the loop for as long as the name servers do not answer. Clean sessions: what
/// must arrive is the spool's to resend, and a command queued at the broker for an hour must
/// not fire late.
public final class BrokerSession {
  public enum State: Equatable { case idle, connecting, connected, waiting, stopped }

  /// Held strongly: Embedded Swift has no weak references. The agent and its session live as
  /// long as the process; `stop()` drops the reference.
  public var delegate: BrokerSessionDelegate?
  public private(set) var state: State = .idle
  public private(set) var brokers: [Config.Broker]
  public private(set) var keepaliveS: Int
  /// Successful connections since start.
  public private(set) var connects = 0
  /// How long the last outage lasted, in seconds (0 before the first).
  public private(set) var lastOutageS = 0
  /// Why the last attempt or connection failed, for `mqtt` and the logs.
  public private(set) var lastError = ""
  /// The largest payload copied out of libmosquitto on a topic other than `/cmd`; the agent's
  /// is `maxPayloadBytes`. The centre's exporter raises it to take snapshots (up to 4 MiB).
  public var payloadLimit = BrokerSession.maxPayloadBytes

  private let loop: EventLoop
  private let clientId: String
  private var willTopic: String
  private var willPayload: [UInt8]
  private var schedule: UplinkSchedule
  private var client: OpaquePointer?
  private var socketWatch: EventLoop.Watch?
  private var attemptTimer: EventLoop.Timer?
  private var miscTimer: EventLoop.Timer?
  /// The name lookup of the attempt under way, for a broker given by name.
  private var lookup: Resolver?
  private var outageStartMs: Int64 = 0
  private var connectedBroker = 0

  /// What libmosquitto's callbacks reported during one call into it, handled after it returns.
  private enum Pending {
    case connack(Int32)
    case disconnected(Int32)
    case acknowledged(Int32)
    case message(String, [UInt8], Int)
  }

  /// The largest payload copied out of libmosquitto (a remote document's limit, 256 KiB): a
  /// larger one, such as a 16 MB retained `config/set`, is refused from its size alone. On a
  /// topic ending in `/cmd` the limit is a request's, 4 KiB.
  public static let maxPayloadBytes = 256 * 1024
  public static let maxCommandBytes = 4096

  /// Whether a C topic string ends in `/cmd`.
  static func isCommandTopic(_ t: UnsafePointer<CChar>) -> Bool {
    let n = strlen(t)
    guard n >= 4 else { return false }
    return t[n - 4] == 0x2F && t[n - 3] == 0x63 && t[n - 2] == 0x6D && t[n - 1] == 0x64
  }
  private var pending: [Pending] = []

  private static var libraryReady = false

  public init(loop: EventLoop, clientId: String, brokers: [Config.Broker], keepaliveS: Int,
              willTopic: String, willPayload: [UInt8]) {
    if !Self.libraryReady {
      mosquitto_lib_init()
      Self.libraryReady = true
    }
    self.loop = loop
    self.clientId = clientId
    self.brokers = brokers
    self.keepaliveS = keepaliveS
    self.willTopic = willTopic
    self.willPayload = willPayload
    self.schedule = UplinkSchedule(brokerCount: brokers.count)
  }

  deinit { teardown() }

  public var isConnected: Bool { state == .connected }

  /// The broker in use, or the one being tried.
  public var currentBroker: Config.Broker { brokers[min(schedule.broker, brokers.count - 1)] }

  /// libmosquitto 2.0 refuses keepalives under 5 s (MOSQ_ERR_INVAL from connect), so a shorter
  /// `keepalive_s` is raised to 5 at the broker.
  public static let minimumKeepaliveS = 5
  public var effectiveKeepaliveS: Int { max(keepaliveS, Self.minimumKeepaliveS) }

  /// The longest wait between attempts, for the docs and the cluster test's bound.
  public var backoffCapMs: Int64 { schedule.capMs }

  /// Connects, and keeps connecting until `stop()`.
  public func start() {
    guard state == .idle else { return }
    if keepaliveS < Self.minimumKeepaliveS {
      Log.notice("keepalive_s " + String(keepaliveS) + " raised to "
        + String(Self.minimumKeepaliveS) + " s: libmosquitto's minimum")
    }
    outageStartMs = Clock.monotonicMs()
    startMiscTimer()
    attempt()
  }

  /// libmosquitto's housekeeping (`mosquitto_loop_misc`: the keepalive's PINGREQ, and the check
  /// that its PINGRESP came) a quarter of the keepalive apart, from 1 to 5 s: a ping at most 5 s
  /// late against a 30 s keepalive, and an idle gateway woken every 5 s rather than every
  /// second (measured: the 1 s tick was about a quarter of the agent's idle CPU).
  private func startMiscTimer() {
    loop.cancel(miscTimer)
    let ms = Int64(min(5000, max(1000, effectiveKeepaliveS * 1000 / 4)))
    miscTimer = loop.every(ms: ms) { self.tick() }
  }

  /// New broker settings (a reloaded or remote config): reconnect from the first broker.
  public func replace(brokers: [Config.Broker], keepaliveS: Int, willTopic: String) {
    self.brokers = brokers
    self.keepaliveS = keepaliveS
    self.willTopic = willTopic
    schedule = UplinkSchedule(brokerCount: brokers.count)
    guard state != .idle && state != .stopped else { return }
    startMiscTimer()
    if state == .connected {
      noteOutageStart()
      // What was just published (a config state) goes out before the clean disconnect.
      if let c = client {
        _ = mosquitto_loop_write(c, 1)
        mosquitto_disconnect(c)
        _ = mosquitto_loop_write(c, 1)
      }
    }
    teardown()
    attempt()
  }

  /// Publishes now; returns the message id, or nil when not connected or refused.
  @discardableResult
  public func publish(_ topic: String, _ payload: [UInt8], qos: Int32, retain: Bool) -> Int32? {
    guard state == .connected, let c = client else { return nil }
    var mid: Int32 = 0
    let rc = payload.withUnsafeBytes { raw in
      mosquitto_publish(c, &mid, topic, Int32(raw.count), raw.baseAddress, qos, retain)
    }
    if rc != MOSQ_ERR_SUCCESS.rawValue {
      Log.warning("publish to " + topic + " failed: " + Self.describe(rc))
      if rc == MOSQ_ERR_NO_CONN.rawValue || rc == MOSQ_ERR_CONN_LOST.rawValue {
        connectionFailed(Self.describe(rc))
      }
      return nil
    }
    settle()
    return mid
  }

  public func subscribe(_ topic: String, qos: Int32) {
    guard state == .connected, let c = client else { return }
    let rc = mosquitto_subscribe(c, nil, topic, qos)
    if rc != MOSQ_ERR_SUCCESS.rawValue {
      Log.warning("subscribe to " + topic + " failed: " + Self.describe(rc))
    }
    settle()
  }

  /// Whether libmosquitto still holds bytes to send.
  public var wantsWrite: Bool {
    guard let c = client else { return false }
    return mosquitto_want_write(c)
  }

  /// Disconnects cleanly (the broker then sends no will) and stops for good.
  public func stop() {
    if let c = client, state == .connected {
      mosquitto_disconnect(c)
      _ = mosquitto_loop_write(c, 1)
    }
    teardown()
    loop.cancel(miscTimer)
    miscTimer = nil
    state = .stopped
    delegate = nil
  }

  // MARK: attempts

  /// How long an attempt may take: the name lookup, then the connection, each. A black-holed
  /// address would otherwise wait for the kernel's own connect timeout, and a silent name
  /// server for c-ares' retries.
  private var attemptTimeoutMs: Int64 { Int64(min(effectiveKeepaliveS, 15)) * 1000 }

  /// One attempt: a broker given by name is looked up first, off the loop (Resolver), and
  /// libmosquitto is handed the address, so its own blocking `getaddrinfo` never runs on a name.
  private func attempt() {
    loop.cancel(attemptTimer)
    attemptTimer = nil
    let broker = currentBroker
    state = .connecting
    if Resolver.isNumeric(broker.host) {
      Log.info("connecting to " + broker.label)
      connect(broker, address: broker.host)
      return
    }
    Log.info("connecting to " + broker.label + ": looking up " + broker.host)
    let l = Resolver(loop: loop, host: broker.host)
    lookup = l
    l.start(timeoutMs: attemptTimeoutMs) { outcome in
      guard self.lookup === l, self.state == .connecting else { return }
      self.lookup = nil
      switch outcome {
      case .address(let address):
        Log.info("broker " + broker.host + ": " + address)
        self.connect(broker, address: address)
      case .failed(let why):
        self.connectionFailed("name lookup failed: " + why)
      }
    }
  }

  private func connect(_ broker: Config.Broker, address: String) {
    guard let c = makeClient(for: broker) else {
      connectionFailed(lastError)
      return
    }
    client = c
    _ = BrokerTLS.takeVerifyError()
    let rc = mosquitto_connect_async(c, address, Int32(broker.port), Int32(effectiveKeepaliveS))
    if rc != MOSQ_ERR_SUCCESS.rawValue {
      connectionFailed(failureText(rc))
      return
    }
    let fd = mosquitto_socket(c)
    if fd < 0 {
      connectionFailed("no socket after connect")
      return
    }
    socketWatch = loop.watch(fd, events: events(for: c)) { revents in
      self.socketReady(revents)
    }
    let timeoutMs = attemptTimeoutMs
    attemptTimer = loop.after(ms: timeoutMs) {
      if self.state == .connecting {
        self.connectionFailed("no answer within " + String(timeoutMs / 1000) + " s")
      }
    }
    settle()
  }

  private func makeClient(for broker: Config.Broker) -> OpaquePointer? {
    let me = Unmanaged.passUnretained(self).toOpaque()
    guard let c = mosquitto_new(clientId, true, me) else {
      lastError = "mosquitto_new failed"
      return nil
    }
    _ = mosquitto_int_option(
      c, MOSQ_OPT_PROTOCOL_VERSION, broker.protocolV5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311)
    // Nagle off: each MQTT packet is written whole, and an event must not wait for the
    // broker's delayed ACK of the packet before it (up to 200 ms a message during a replay).
    _ = mosquitto_int_option(c, MOSQ_OPT_TCP_NODELAY, 1)
    // An empty will topic: no will (a centre-side reader has no status of its own to leave).
    var rc = willTopic.isEmpty ? MOSQ_ERR_SUCCESS.rawValue : willPayload.withUnsafeBytes { raw in
      mosquitto_will_set(c, willTopic, Int32(raw.count), raw.baseAddress, 1, true)
    }
    if rc == MOSQ_ERR_SUCCESS.rawValue, let user = broker.username {
      rc = mosquitto_username_pw_set(c, user, broker.password)
    }
    if rc == MOSQ_ERR_SUCCESS.rawValue, let tls = broker.tls {
      // A context of Vigil's own, which checks the certificate against the broker's name as
      // configured, not the address libmosquitto connects to (BrokerTLS); without its defaults
      // libmosquitto adds no check of its own to it.
      let ctx: UnsafeMutableRawPointer
      do throws(BrokerTLS.SetupError) {
        ctx = try BrokerTLS.context(tls, peerName: broker.host)
      } catch {
        lastError = "TLS files for " + broker.label + " cannot be used: " + error.message
        mosquitto_destroy(c)
        return nil
      }
      rc = mosquitto_int_option(c, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0)
      if rc == MOSQ_ERR_SUCCESS.rawValue {
        rc = mosquitto_void_option(c, MOSQ_OPT_SSL_CTX, ctx)
      }
      BrokerTLS.release(ctx)
    }
    if rc != MOSQ_ERR_SUCCESS.rawValue {
      lastError = Self.describe(rc)
      mosquitto_destroy(c)
      return nil
    }
    mosquitto_connect_callback_set(c) { _, obj, rc in
      BrokerSession.owner(obj)?.pending.append(.connack(rc))
    }
    mosquitto_disconnect_callback_set(c) { _, obj, rc in
      BrokerSession.owner(obj)?.pending.append(.disconnected(rc))
    }
    mosquitto_publish_callback_set(c) { _, obj, mid in
      BrokerSession.owner(obj)?.pending.append(.acknowledged(mid))
    }
    mosquitto_message_callback_set(c) { _, obj, msg in
      guard let s = BrokerSession.owner(obj), let m = msg, let t = m.pointee.topic else { return }
      var payload: [UInt8] = []
      let size = Int(m.pointee.payloadlen)
      let limit = BrokerSession.isCommandTopic(t) ? BrokerSession.maxCommandBytes : s.payloadLimit
      if let p = m.pointee.payload, size > 0, size <= limit {
        payload = Array(UnsafeRawBufferPointer(start: p, count: size))
      }
      s.pending.append(.message(String(cString: t), payload, size))
    }
    return c
  }

  private static func owner(_ obj: UnsafeMutableRawPointer?) -> BrokerSession? {
    guard let obj = obj else { return nil }
    return Unmanaged<BrokerSession>.fromOpaque(obj).takeUnretainedValue()
  }

  private func events(for c: OpaquePointer) -> Int16 {
    Int16(POLLIN) | (mosquitto_want_write(c) ? Int16(POLLOUT) : 0)
  }

  private func socketReady(_ revents: Int16) {
    guard let c = client else { return }
    var rc = MOSQ_ERR_SUCCESS.rawValue
    if revents & Int16(POLLOUT) != 0 {
      rc = mosquitto_loop_write(c, 1)
    }
    if rc == MOSQ_ERR_SUCCESS.rawValue && revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 {
      rc = mosquitto_loop_read(c, 1)
      // The broker's PUBACKs are acknowledged at once. A broker with Nagle on (mosquitto's
      // default, `set_tcp_nodelay false`) holds each PUBACK until the one before it is
      // acknowledged, and a delayed ACK here (40 ms) then stalls a replay's window: measured,
      // 3,000 events took 3.1 s with 69 stalls of ~45 ms, and 0.57 s with this.
      let fd = mosquitto_socket(c)
      if fd >= 0 { _ = vigil_tcp_quickack(fd) }
    }
    if rc != MOSQ_ERR_SUCCESS.rawValue {
      pending.append(.disconnected(rc))
    }
    settle()
  }

  /// Keepalive pings and timeouts: libmosquitto's `loop_misc`, once a second.
  private func tick() {
    guard let c = client, state == .connecting || state == .connected else { return }
    let rc = mosquitto_loop_misc(c)
    if rc != MOSQ_ERR_SUCCESS.rawValue && state == .connected {
      pending.append(.disconnected(rc))
    }
    settle()
  }

  /// Handles what the callbacks reported, then asks the loop for POLLOUT if bytes wait.
  private func settle() {
    while !pending.isEmpty {
      let event = pending.removeFirst()
      switch event {
      case .connack(let rc):
        if rc == 0 {
          connectionUp()
        } else {
          let text = mosquitto_connack_string(rc).map { String(cString: $0) } ?? "code "
            + String(rc)
          connectionFailed("refused by " + currentBroker.label + ": " + text)
        }
      case .disconnected(let rc):
        if state == .connected || state == .connecting {
          connectionFailed(failureText(rc))
        }
      case .acknowledged(let mid):
        delegate?.brokerAcknowledged(mid: mid)
      case .message(let topic, let payload, let size):
        delegate?.brokerMessage(topic: topic, payload: payload, size: size)
      }
    }
    if let c = client, let w = socketWatch {
      let fd = mosquitto_socket(c)
      if fd != w.fd {
        // libmosquitto closed the socket inside the call: the connection is gone.
        if state == .connected || state == .connecting {
          connectionFailed("connection closed")
        }
        return
      }
      loop.setEvents(w, events(for: c))
    }
  }

  private func connectionUp() {
    loop.cancel(attemptTimer)
    attemptTimer = nil
    state = .connected
    connectedBroker = schedule.broker
    schedule.connected()
    connects += 1
    lastOutageS = Int((Clock.monotonicMs() - outageStartMs) / 1000)
    lastError = ""
    Log.notice("connected to " + currentBroker.label)
    delegate?.brokerConnected(currentBroker)
  }

  private func connectionFailed(_ reason: String) {
    let wasConnected = state == .connected
    lastError = reason
    teardown()
    if wasConnected { noteOutageStart() }
    let broker = currentBroker.label
    let delay = schedule.failed(random: Sys.random64(), lostWorkingConnection: wasConnected)
    state = .waiting
    if wasConnected {
      Log.warning("lost " + broker + ": " + reason + "; retrying in " + String(delay) + " ms")
      delegate?.brokerLost(reason)
    } else {
      Log.warning("cannot connect to " + broker + ": " + reason + "; next " + currentBroker.label
        + " in " + String(delay) + " ms")
    }
    attemptTimer = loop.after(ms: delay) {
      if self.state == .waiting { self.attempt() }
    }
  }

  private func noteOutageStart() { outageStartMs = Clock.monotonicMs() }

  /// Drops the client and its socket. Never called from inside a libmosquitto callback.
  private func teardown() {
    lookup?.cancel()
    lookup = nil
    if let w = socketWatch { loop.unwatch(w) }
    socketWatch = nil
    loop.cancel(attemptTimer)
    attemptTimer = nil
    if let c = client { mosquitto_destroy(c) }
    client = nil
    pending.removeAll()
  }

  /// libmosquitto's text for `rc`, with why OpenSSL refused the certificate when it did.
  private func failureText(_ rc: Int32) -> String {
    var text = Self.describe(rc)
    guard rc == MOSQ_ERR_TLS.rawValue, let why = BrokerTLS.takeVerifyError() else { return text }
    if text.hasSuffix(".") { text.removeLast() }
    return text + " (certificate of " + currentBroker.host + ": " + why + ")"
  }

  static func describe(_ rc: Int32) -> String {
    if rc == MOSQ_ERR_ERRNO.rawValue {
      return strerror(Sys.errno).map { String(cString: $0) } ?? "system error"
    }
    return mosquitto_strerror(rc).map { String(cString: $0) } ?? "error " + String(rc)
  }
}
