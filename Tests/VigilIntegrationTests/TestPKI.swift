import Foundation

/// Certificates made with openssl for one test run: a CA, a server certificate for 127.0.0.1,
/// a client certificate, and a second CA that signed nothing the broker uses.
struct TestPKI {
  let dir: URL
  var path: (String) -> String { { self.dir.appendingPathComponent($0).path } }

  init() throws {
    dir = Harness.tempDir("pki")
    let d = dir.path
    let script = """
      set -e
      cd '\(d)'
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=vigil-test-ca \
        -keyout ca.key -out ca.pem 2>/dev/null
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca \
        -keyout other.key -out other.pem 2>/dev/null
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext
      openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key \
        -out server.csr 2>/dev/null
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile san.ext -out server.pem 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -subj /CN=tp-0412 -keyout site.key -out site.csr 2>/dev/null
      openssl x509 -req -in site.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -out site.pem 2>/dev/null
      chmod 644 *.key
      """
    let (status, out) = Harness.run("/bin/sh", ["-c", script])
    if status != 0 { throw HarnessError("openssl failed: \(out)") }
  }

  func listener(requireClientCert: Bool) -> String {
    """
    cafile \(path("ca.pem"))
    certfile \(path("server.pem"))
    keyfile \(path("server.key"))
    require_certificate \(requireClientCert ? "true" : "false")
    """
  }
}
