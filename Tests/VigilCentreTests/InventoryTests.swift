import Foundation
import Testing
@testable import VigilCentre

/// The inventory file: a good one read whole; a bad one refused naming what is wrong, and the
/// exporter does not start on it (exit 1, the reason on stderr).
struct InventoryTests {
  func problem(_ text: String) -> String? {
    do throws(Inventory.Problem) {
      _ = try Inventory.parse(Array(text.utf8))
      return nil
    } catch {
      return error.message
    }
  }

  @Test func aGoodFileIsReadWhole() throws {
    let inv = try Inventory.parse(Array("""
      {"sites":{"tp-0412":{"ward":"Tân Sơn Nhì","address":"12 Lũy Bán Bích","lat":10.79,"lon":106.63},
                "tp-0413":{"ward":"Phú Thạnh"}}}
      """.utf8))
    #expect(inv.sites["tp-0412"] == Inventory.Site(ward: "Tân Sơn Nhì", address: "12 Lũy Bán Bích",
                                                    lat: 10.79, lon: 106.63))
    #expect(inv.sites["tp-0413"]?.ward == "Phú Thạnh")
  }

  @Test func aBadFileNamesTheProblem() {
    #expect(problem("{\"sites\":") == "not valid JSON (near byte 9)")
    #expect(problem("[]") == "must be a JSON object {\"sites\":{…}}, not an array")
    #expect(problem("{}") == "sites: missing")
    #expect(problem(#"{"site":{}}"#) == "site: unknown key (only \"sites\")")
    #expect(problem(#"{"sites":{"a":{"ward":3}}}"#) == "sites.a.ward: must be a string, not a number")
    #expect(problem(#"{"sites":{"a":{"address":"x"}}}"#) == "sites.a.ward: missing")
    #expect(problem(#"{"sites":{"a":{"ward":"w","lat":91}}}"#) == "sites.a.lat: 91.0 is outside -90..90")
    #expect(problem(#"{"sites":{"a":{"ward":"w","wrad":"x"}}}"#)
      == "sites.a.wrad: unknown key (ward, address, lat, lon)")
    #expect(problem(#"{"sites":{"a/b":{"ward":"w"}}}"#)
      == "sites.a/b: not a site id (1-64 characters, no / + # or space)")
    #expect(problem(#"{"sites":{"a":{"ward":"w"},"a":{"ward":"v"}}}"#) == "sites.a: given twice")
  }

  @Test func theExporterDoesNotStartOnABadFile() throws {
    let file = Harness.tempDir("inv").appendingPathComponent("inventory.json")
    try #"{"sites":{"tp-0412":{"ward":["Tân Sơn Nhì"]}}}"#.write(to: file, atomically: true,
                                                                encoding: .utf8)
    let (s, out) = Harness.run(Harness.centreBinary, ["exporter", "--broker", "127.0.0.1:1",
                                                      "--inventory", file.path])
    #expect(s == 1)
    #expect(out == "vigil-centre exporter: inventory \(file.path): sites.tp-0412.ward: must be "
      + "a string, not an array\n", "\(out)")
    let (m, missing) = Harness.run(Harness.centreBinary, ["exporter", "--broker", "127.0.0.1:1",
                                                          "--inventory", "/nonexistent.json"])
    #expect(m == 1 && missing.contains("/nonexistent.json: No such file or directory"), "\(missing)")
    let (u, usage) = Harness.run(Harness.centreBinary, ["exporter"])
    #expect(u == 2 && usage.contains("--broker HOST:PORT is required"), "\(usage)")
  }
}
