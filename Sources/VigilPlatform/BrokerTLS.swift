import CTLS
import VigilCore

/// The TLS context of a broker connection (OpenSSL, through the CTLS shim), made here rather
/// than by `mosquitto_tls_set`: libmosquitto checks the certificate against the string it
/// connects to, which for a broker given by name is the address Resolver found. OpenSSL checks
/// the configured name instead (`X509_check_host`), inside the handshake, so a certificate for
/// another name fails before CONNECT (and its credentials) is sent. SNI carries the name, never
/// an address (RFC 6066).
enum BrokerTLS {
  struct SetupError: Error {
    let message: String
  }

  /// An SSL_CTX for libmosquitto's MOSQ_OPT_SSL_CTX; the caller releases its reference with
  /// `release` once libmosquitto holds its own.
  static func context(_ tls: Config.TLS, peerName: String) throws(SetupError)
    -> UnsafeMutableRawPointer
  {
    var error = [CChar](repeating: 0, count: 320)
    let ctx = error.withUnsafeMutableBufferPointer { b in
      vigil_tls_client_context(tls.caFile, tls.certFile, tls.keyFile, peerName, b.baseAddress,
                               b.count)
    }
    guard let c = ctx else {
      let text = error.withUnsafeBufferPointer { b in b.baseAddress.map { String(cString: $0) } }
      throw SetupError(message: text ?? "TLS set-up failed")
    }
    return c
  }

  static func release(_ ctx: UnsafeMutableRawPointer) { vigil_tls_context_release(ctx) }

  /// Why the last peer certificate was refused, once; nil if none was since the last call.
  static func takeVerifyError() -> String? {
    vigil_tls_take_verify_error().map { String(cString: $0) }
  }
}
