import Foundation
import Testing
@testable import VigilCore

/// The board files shipped in `Board/` parse, and keep the lines the demo, the tests and the
/// reference config rely on.
@Suite struct BoardFilesTests {
  static let boardDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Board")

  func load(_ name: String) throws -> BoardFile {
    let bytes = try [UInt8](Data(contentsOf: Self.boardDir.appendingPathComponent(name)))
    return try BoardFile.parse(bytes, baseDir: Self.boardDir.path)
  }

  @Test(arguments: ["sim.json", "rpi4.json", "generic-aarch64.json"])
  func everyShippedBoardParses(_ name: String) throws {
    let b = try load(name)
    #expect(!b.lines.isEmpty)
    for l in b.lines where l.name.hasSuffix("_relay") { #expect(l.direction == .output) }
    for l in b.lines where l.name.hasSuffix("_power") || l.name == "door" || l.name == "mains" {
      #expect(l.direction == .input, "\(name): \(l.name)")
    }
  }

  @Test func theSimBoardKeepsTheDemoLines() throws {
    let b = try load("sim.json")
    #expect(b.driver == .sim)
    #expect(b.simDir == "/run/vigil-sim")
    for n in ["cam1_power", "cam1_relay", "cam2_power", "cam2_relay", "cam3_power", "cam3_relay",
              "door", "mains"] {
      #expect(b.line(named: n) != nil, "\(n)")
    }
  }

  @Test func theRaspberryPiMapKeepsTheReferenceLines() throws {
    let b = try load("rpi4.json")
    #expect(b.line(named: "cam1_power")?.offset == 17)
    #expect(b.line(named: "cam1_relay")?.offset == 27)
    #expect(b.line(named: "cam1_relay")?.activeLow == true)
    #expect(b.line(named: "door")?.offset == 22)
    #expect(b.line(named: "mains")?.offset == 23)
    // Relays on pins the Pi pulls down at reset (9-27), so a booting Pi leaves the relay coils
    // off and, with cameras on the normally-closed contacts, the cameras powered.
    for l in b.lines where l.direction == .output { #expect(l.offset >= 9 && l.offset <= 27) }
  }
}
