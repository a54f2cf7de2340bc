import Foundation
import Testing
@testable import VigilPlatform

/// The spool's disk thread against real files.
@Suite struct DiskWorkerTests {
  let dir = NSTemporaryDirectory() + "disk-worker-\(UUID().uuidString.prefix(8))"

  func openDir() -> Int32 {
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return Foundation.open(dir, O_RDONLY | O_DIRECTORY)
  }

  @Test func writesAreWholeUnderTheirNamesInOrderAndShareBatches() throws {
    let fd = openDir()
    defer { Foundation.close(fd) }
    let worker = try DiskWorker(directoryFD: fd, capacity: 512)
    for i in 0..<300 {
      #expect(worker.write(String(format: "%016x.e", i), Array("message \(i)".utf8),
                           tag: UInt64(i)))
    }
    let done = worker.finish()
    #expect(done.map(\.tag) == (0..<300).map { UInt64($0) })
    #expect(done.allSatisfy { $0.op == .write && $0.errno == 0 })
    for i in [0, 150, 299] {
      let text = try String(contentsOfFile: dir + "/" + String(format: "%016x.e", i),
                            encoding: .utf8)
      #expect(text == "message \(i)")
    }
    let names = try FileManager.default.contentsOfDirectory(atPath: dir)
    #expect(names.count == 300 && !names.contains { $0.hasSuffix(".tmp") })
    // Writes submitted together share a batch (and its one folder fsync).
    #expect(worker.batches < 300, "\(worker.batches) batches for 300 writes")
  }

  @Test func aRemovalAfterAWriteOfTheSameFileLeavesNothing() throws {
    let fd = openDir()
    defer { Foundation.close(fd) }
    let worker = try DiskWorker(directoryFD: fd)
    #expect(worker.write("0000000000000001.s", [1, 2, 3], tag: 1))
    #expect(worker.unlink("0000000000000001.s", tag: 2))
    #expect(worker.unlink("0000000000000009.s", tag: 3))  // already gone: no error
    let done = worker.finish()
    #expect(done == [.init(tag: 1, op: .write, errno: 0), .init(tag: 2, op: .unlink, errno: 0),
                     .init(tag: 3, op: .unlink, errno: 0)])
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
  }

  @Test func badNamesAndAFullQueueAreRefusedNotQueued() throws {
    let fd = openDir()
    defer { Foundation.close(fd) }
    let worker = try DiskWorker(directoryFD: fd, capacity: 4)
    #expect(!worker.write("../escape", [1], tag: 1))
    #expect(!worker.write("", [1], tag: 1))
    #expect(!worker.write(String(repeating: "x", count: 80), [1], tag: 1))
    var accepted = 0
    for i in 0..<50 where worker.write("f\(i)", [UInt8](repeating: 7, count: 4096), tag: UInt64(i)) {
      accepted += 1
    }
    #expect(accepted >= 4 && accepted < 50)
    let done = worker.finish()
    #expect(done.count == accepted && done.allSatisfy { $0.errno == 0 })
    #expect(worker.write("again", [1], tag: 99), "room again once the results are read")
    #expect(worker.finish().map(\.tag) == [99])
  }

  @Test func copiesHeldAreBoundedInBytesButOneWriteAlwaysGoes() throws {
    let fd = openDir()
    defer { Foundation.close(fd) }
    let worker = try DiskWorker(directoryFD: fd, capacity: 64, maxBytes: 50_000)
    #expect(worker.write("big", [UInt8](repeating: 1, count: 200_000), tag: 1), "one always goes")
    var accepted = 0
    for i in 0..<20 where worker.write("s\(i)", [UInt8](repeating: 2, count: 20_000), tag: 2) {
      accepted += 1
    }
    #expect(accepted < 20, "the bytes held are bounded")
    _ = worker.finish()
    #expect(worker.write("after", [UInt8](repeating: 3, count: 20_000), tag: 3), "room again")
    _ = worker.finish()
  }

  @Test func aWriteThatFailsSaysWhyAndLeavesNoTemporaryFile() throws {
    let fd = openDir()
    defer { Foundation.close(fd) }
    try FileManager.default.createDirectory(atPath: dir + "/taken", withIntermediateDirectories: true)
    let worker = try DiskWorker(directoryFD: fd)
    #expect(worker.write("taken", [1, 2], tag: 5))  // rename over a folder fails
    let done = worker.finish()
    #expect(done.count == 1 && done[0].errno != 0)
    #expect(!FileManager.default.fileExists(atPath: dir + "/taken.tmp"))
  }
}
