import Foundation
import Testing

@Suite(.serialized)
struct TLSTests {
  /// The centre listens on a plain port of the same broker, to see what the agent publishes
  /// over TLS.
  func brokerWithTLS(_ pki: TestPKI, mutual: Bool) throws -> (Broker, Int) {
    let plain = Harness.freePort()
    let broker = try Broker(extraConfig: pki.listener(requireClientCert: mutual)
      + "\nlistener \(plain) 127.0.0.1\nallow_anonymous true")
    return (broker, plain)
  }

  @Test func connectsOverTLSWithTheCentresCA() async throws {
    let pki = try TestPKI()
    let (broker, plain) = try brokerWithTLS(pki, mutual: false)
    let centre = try await Centre(port: plain)
    let config = testConfig(
      site: "t-tls", brokers: brokerEntry(broker.port, "\"tls\": {\"ca_file\": \"\(pki.path("ca.pem"))\"}"))
    let agent = try AgentProcess(config: config)
    try agent.start()
    let status = await centre.waitFor("vigil/t-tls/status", within: 10)
    #expect(status?.json?["state"] as? String == "online", "\(agent.log.text)\n\(broker.log.text)")
  }

  @Test func connectsWithMutualTLS() async throws {
    let pki = try TestPKI()
    let (broker, plain) = try brokerWithTLS(pki, mutual: true)
    let centre = try await Centre(port: plain)
    let tls = """
      "tls": {"ca_file": "\(pki.path("ca.pem"))", "cert_file": "\(pki.path("site.pem"))",
              "key_file": "\(pki.path("site.key"))"}
      """
    let agent = try AgentProcess(config: testConfig(site: "t-mtls", brokers: brokerEntry(broker.port, tls)))
    try agent.start()
    let status = await centre.waitFor("vigil/t-mtls/status", within: 10)
    #expect(status?.json?["state"] as? String == "online", "\(agent.log.text)\n\(broker.log.text)")
  }

  @Test func mutualTLSBrokerRefusesAnAgentWithoutACertificate() async throws {
    let pki = try TestPKI()
    let (broker, plain) = try brokerWithTLS(pki, mutual: true)
    let centre = try await Centre(port: plain)
    let config = testConfig(
      site: "t-nocert", brokers: brokerEntry(broker.port, "\"tls\": {\"ca_file\": \"\(pki.path("ca.pem"))\"}"))
    let agent = try AgentProcess(config: config)
    try agent.start()
    #expect(await centre.waitFor("vigil/t-nocert/status", within: 5) == nil)
    #expect(agent.log.text.contains("cannot connect"), "\(agent.log.text)")
    #expect(agent.isRunning, "a refused connection is retried, not fatal")
  }

  @Test func refusesABrokerSignedByAnotherCA() async throws {
    let pki = try TestPKI()
    let (broker, plain) = try brokerWithTLS(pki, mutual: false)
    let centre = try await Centre(port: plain)
    let config = testConfig(
      site: "t-wrongca",
      brokers: brokerEntry(broker.port, "\"tls\": {\"ca_file\": \"\(pki.path("other.pem"))\"}"))
    let agent = try AgentProcess(config: config)
    try agent.start()
    #expect(await centre.waitFor("vigil/t-wrongca/status", within: 5) == nil)
    #expect(await Harness.wait(5) { agent.log.text.contains("cannot connect to 127.0.0.1:\(broker.port)") },
            "\(agent.log.text)")
    // OpenSSL's reason ("self-signed certificate in certificate chain" with this broker).
    #expect(agent.log.text.contains("A TLS error occurred (certificate of 127.0.0.1: "),
            "\(agent.log.text)")
    #expect(agent.isRunning)
  }

  @Test func aMissingCAFileIsReportedAndRetried() async throws {
    let broker = try Broker()
    let config = testConfig(
      site: "t-noca", brokers: brokerEntry(broker.port, "\"tls\": {\"ca_file\": \"/nonexistent/ca.pem\"}"))
    let agent = try AgentProcess(config: config)
    try agent.start()
    #expect(await Harness.wait(5) { agent.log.text.contains("ca_file /nonexistent/ca.pem") },
            "\(agent.log.text)")
    #expect(agent.isRunning)
  }
}
