import VigilCore

/// A part of the agent with state of its own (cameras, spool, console, remote configuration).
/// The agent calls each part at these moments, in the order the parts were added; each method
/// has a default that does nothing, so a part implements only what it needs.
protocol AgentPart: AnyObject {
  /// The loop is about to run; open descriptors, start timers.
  func start()
  /// Connected to a broker, the online status already published.
  func brokerConnected()
  /// The broker acknowledged this QoS 1 message id (PUBACK).
  func acknowledged(mid: Int32)
  /// Adds what the part knows to a heartbeat about to be sent.
  func fill(_ heartbeat: inout Heartbeat)
  /// Adds lines to the `status` command's answer.
  func status(into lines: inout [String])
  /// Adds checks to the `selftest` command: a name, whether it passed, and a detail.
  func selftest(into checks: inout [SelftestCheck])
  /// A message arrived on a subscribed topic; true when the part handled it.
  func received(topic: String, payload: [UInt8]) -> Bool
  /// A message too large to copy (`BrokerSession.maxPayloadBytes`, `maxCommandBytes` on a
  /// `/cmd` topic) arrived on a subscribed
  /// topic; true when the part answered it.
  func oversized(topic: String, bytes: Int) -> Bool
  /// A new configuration is in effect (reload or remote).
  func configChanged(from old: LoadedConfig)
  /// The agent is stopping; release lines and descriptors.
  func stop()
}

extension AgentPart {
  func start() {}
  func brokerConnected() {}
  func acknowledged(mid: Int32) {}
  func fill(_ heartbeat: inout Heartbeat) {}
  func received(topic: String, payload: [UInt8]) -> Bool { false }
  func oversized(topic: String, bytes: Int) -> Bool { false }
  func status(into lines: inout [String]) {}
  func selftest(into checks: inout [SelftestCheck]) {}
  func configChanged(from old: LoadedConfig) {}
  func stop() {}
}

/// One line of `selftest`: what was checked, whether it passed, and what was seen.
struct SelftestCheck {
  var name: String
  var ok: Bool
  var detail: String
}
