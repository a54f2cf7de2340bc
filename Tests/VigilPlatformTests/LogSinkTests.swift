import Foundation
import Testing
@testable import VigilPlatform

/// Log lines to a descriptor that nobody reads: dropped and counted, never waited for.
@Suite struct LogSinkTests {
  static func notice(_ n: Int) -> String { "\(n) dropped\n" }
  static func put(_ sink: inout LogSink, _ line: String) -> Bool {
    sink.write(line, notice: notice)
  }

  /// F_SETPIPE_SZ (F_LINUX_SPECIFIC_BASE + 7), which Glibc's module does not export.
  static let setPipeSize: Int32 = 1031

  /// Reads what is there now, without waiting.
  static func drain(_ fd: Int32) -> String {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
      var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      if poll(&p, 1, 0) != 1 { break }
      let n = read(fd, &buf, buf.count)
      if n <= 0 { break }
      out.append(contentsOf: buf[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// A pipe of one page, full: what a stderr nobody reads comes to.
  static func fullPipe() throws -> (read: Int32, write: Int32) {
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    let size = fcntl(fds[1], Self.setPipeSize, 4096)
    try #require(size >= 4096)
    let filler = [UInt8](repeating: 0x2E, count: Int(size))
    try #require(write(fds[1], filler, filler.count) == filler.count)
    var p = pollfd(fd: fds[1], events: Int16(POLLOUT), revents: 0)
    try #require(poll(&p, 1, 0) == 0, "the pipe is full")
    return (fds[0], fds[1])
  }

  @Test func aFullPipeDropsLinesWithoutWaitingAndTheNextLineTellsHowMany() throws {
    let (r, w) = try Self.fullPipe()
    defer { close(r); close(w) }
    var sink = LogSink(fd: w)
    let started = Date()
    for i in 0..<1000 { #expect(!Self.put(&sink, "line \(i)\n")) }
    #expect(Date().timeIntervalSince(started) < 1, "never waits")
    #expect(sink.dropped == 1000)
    let filler = Self.drain(r)
    #expect(filler.allSatisfy { $0 == "." })
    #expect(Self.put(&sink, "after\n"))
    #expect(Self.drain(r) == "1000 dropped\nafter\n")
    #expect(Self.put(&sink, "again\n"))
    #expect(Self.drain(r) == "again\n", "told once")
    #expect(sink.dropped == 1000, "the count since start stays")
  }

  @Test func aFullSocketDropsLinesToo() throws {
    var fds: [Int32] = [0, 0]
    try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
    defer { close(fds[0]); close(fds[1]) }
    // Fill it as journald's stream fills when the journal is behind.
    let chunk = [UInt8](repeating: 0x2E, count: 1024)
    while send(fds[1], chunk, chunk.count, Int32(MSG_DONTWAIT)) > 0 {}
    var sink = LogSink(fd: fds[1])
    #expect(!Self.put(&sink, "lost\n"))
    #expect(!Self.put(&sink, "lost\n"))
    #expect(sink.dropped == 2)
    let filler = Self.drain(fds[0])
    #expect(!filler.contains("lost"))
    #expect(Self.put(&sink, "back\n"))
    let text = Self.drain(fds[0])
    // A stream socket may have taken part of a line when nearly full: then it was counted too.
    #expect(text.hasSuffix(" dropped\nback\n"), "\(text)")
  }

  @Test func aLongLineIsCutWithinOnePipeWriteAndMarked() throws {
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    defer { close(fds[0]); close(fds[1]) }
    var sink = LogSink(fd: fds[1])
    // 3-byte characters, so that a cut in the middle of one would show.
    let long = String(repeating: "€", count: 3000) + "\n"
    #expect(Self.put(&sink, long))
    let text = Self.drain(fds[0])
    #expect(text.utf8.count <= LogSink.maxWrite)
    #expect(text.hasSuffix("€ [cut]\n"), "cut at a character boundary")
    #expect(!text.contains("\u{FFFD}"))
  }

  @Test func aFileTakesEveryLine() throws {
    let path = NSTemporaryDirectory() + "logsink-\(UUID().uuidString)"
    let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    try #require(fd >= 0)
    defer { close(fd); unlink(path) }
    var sink = LogSink(fd: fd)
    for i in 0..<100 { #expect(Self.put(&sink, "line \(i)\n")) }
    #expect(sink.dropped == 0)
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.hasPrefix("line 0\n") && text.hasSuffix("line 99\n"))
  }
}
