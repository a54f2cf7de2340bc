import Foundation

// Fixtures for self-updates (issue 16), shared by the integration suite's SelfUpdateTests and
// the centre's RolloutTests (a symbolic link in Tests/VigilCentreTests).

/// Python's http.server over a folder, on a reserved loopback port.
final class WebServer {
  let port: Int
  let dir: URL
  private let process: Process
  let log = LineCollector()

  init(port: Int = Harness.freePort(), dir: URL = Harness.tempDir("www")) throws {
    self.dir = dir
    self.port = port
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    p.arguments = ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", dir.path]
    try p.runAsFixture(output: log)
    process = p
    let deadline = Date().addingTimeInterval(10)
    while !Harness.canConnect(port: port) {
      if Date() > deadline || !p.isRunning {
        throw HarnessError("http.server did not start on \(port): \(log.textAtEnd()) \(Harness.holders(port))")
      }
      usleep(20_000)
    }
  }

  deinit { process.killAndWait() }
}

/// The binary an update test serves.
enum UpdateFile {
  /// The file to serve as the update: the binary under test itself when it is an ELF file; a
  /// qemu-user wrapper script (Scripts/qemu-vigil*) finds its binary from its own path, so it
  /// is served as a two-line script that runs the wrapper where it is.
  static func file(into dir: URL) throws -> (URL, isELF: Bool) {
    let bin = URL(fileURLWithPath: Harness.vigilBinary)
    let out = dir.appendingPathComponent("vigil-next")
    let head = (try? FileHandle(forReadingFrom: bin).readData(ofLength: 4)) ?? Data()
    let isELF = head == Data([0x7F, 0x45, 0x4C, 0x46])
    if isELF {
      try FileManager.default.copyItem(at: bin, to: out)
    } else {
      try "#!/bin/sh\nexec '\(bin.path)' \"$@\"\n".write(to: out, atomically: true, encoding: .utf8)
    }
    return (out, isELF)
  }

  static func sha256(_ url: URL) -> String {
    let (_, out) = Harness.run("/usr/bin/sha256sum", [url.path])
    return String(out.prefix(64))
  }
}
