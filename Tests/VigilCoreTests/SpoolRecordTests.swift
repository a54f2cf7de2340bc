import Testing
@testable import VigilCore

@Suite struct SpoolRecordTests {
  let record = SpoolRecord(
    kind: .snapshot, sequence: 0x1234_5678_9abc, captureMs: 1_795_920_655_370,
    topic: "vigil/tp-0412/snapshot/cam1/1795920655370", payload: [0xFF, 0xD8, 0x00, 0xFF, 0xD9])

  @Test func roundTrips() throws {
    let bytes = record.encode()
    #expect(bytes.count == record.encodedSize)
    #expect(Array(bytes[0..<4]) == Array("VGSP".utf8))
    #expect(try SpoolRecord.decode(bytes) == record)
    let empty = SpoolRecord(kind: .event, sequence: 1, captureMs: -5, topic: "", payload: [])
    #expect(try SpoolRecord.decode(empty.encode()) == empty)
  }

  @Test func crc32cMatchesTheStandardCheckValue() {
    // The check value of CRC-32C for "123456789" (RFC 3720, B.4).
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    // Running over parts gives the same as over the whole.
    let a = CRC32C.update(0, Array("12345".utf8))
    #expect(CRC32C.update(a, Array("6789".utf8)) == 0xE306_9283)
  }

  @Test func everyFlippedByteIsCaught() {
    let bytes = record.encode()
    for i in 0..<bytes.count {
      var bad = bytes
      bad[i] ^= 0x10
      #expect(throws: SpoolRecord.DecodeError.self) { try SpoolRecord.decode(bad) }
    }
  }

  @Test func everyTruncationIsCaught() {
    let bytes = record.encode()
    for n in 0..<bytes.count {
      #expect(throws: SpoolRecord.DecodeError.self) { try SpoolRecord.decode(Array(bytes[0..<n])) }
    }
    #expect(throws: SpoolRecord.DecodeError.lengthMismatch(expected: Int64(bytes.count),
                                                            found: Int64(bytes.count) + 1)) {
      try SpoolRecord.decode(bytes + [0])
    }
  }

  @Test func foreignBytesAreNamed() {
    #expect(throws: SpoolRecord.DecodeError.notASpoolFile) {
      try SpoolRecord.decode(Array("{\"not\":\"a spool file\", \"padding\": 1234567890}".utf8))
    }
    var v2 = record.encode()
    v2[4] = 2
    #expect(throws: SpoolRecord.DecodeError.unknownVersion(2)) { try SpoolRecord.decode(v2) }
  }

  @Test func fileNamesSortBySequenceAndParseBack() throws {
    #expect(SpoolRecord.fileName(sequence: 1, kind: .event) == "0000000000000001.e")
    #expect(SpoolRecord.fileName(sequence: 0xabc, kind: .snapshot) == "0000000000000abc.s")
    let seqs: [UInt64] = [1, 9, 10, 15, 16, 255, 256, 4096, 1 << 40, UInt64.max]
    let names = seqs.map { SpoolRecord.fileName(sequence: $0, kind: .event) }
    #expect(names == names.sorted())
    for (s, n) in zip(seqs, names) {
      let p = try #require(SpoolRecord.parseFileName(n))
      #expect(p.sequence == s && p.kind == .event)
    }
    for bad in ["0000000000000001.x", "000000000000001.e", "0000000000000001.e.tmp",
                "000000000000000G.e", "quarantine", "", "0000000000000001es"] {
      #expect(SpoolRecord.parseFileName(bad) == nil, "\(bad)")
    }
  }
}

@Suite struct SnapshotCheckTests {
  /// Hikvision's XML error, sent with status 200: its `statusString` names the cause in the log.
  @Test func aHikvisionXMLErrorGivesItsStatusString() {
    let xml = #"<?xml version="1.0" encoding="UTF-8"?><ResponseStatus version="2.0">"#
      + "<statusCode>4</statusCode><statusString>Invalid Operation</statusString></ResponseStatus>"
    #expect(Snapshot.statusString(Array(xml.utf8)) == "Invalid Operation")
    #expect(Snapshot.statusString(Array("<html>error</html>".utf8)) == nil)
    #expect(Snapshot.statusString(Array("<statusString>\u{1}</statusString>".utf8)) == nil)
    let long = "<statusString>" + String(repeating: "x", count: 65) + "</statusString>"
    #expect(Snapshot.statusString(Array(long.utf8)) == nil)
  }

  @Test func wholeJPEGsPass() {
    #expect(Snapshot.isWholeJPEG([0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x02, 0xFF, 0xD9]))
    // Padding after EOI, as some cameras send.
    #expect(Snapshot.isWholeJPEG([0xFF, 0xD8, 0xFF, 0xDB, 0xFF, 0xD9, 0x00, 0x00, 0x0D, 0x0A]))
  }

  @Test func othersFail() {
    #expect(!Snapshot.isWholeJPEG([]))
    #expect(!Snapshot.isWholeJPEG(Array("<html>401 Unauthorized</html>".utf8)))
    // Truncated: no EOI.
    #expect(!Snapshot.isWholeJPEG([0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00, 0x01]))
    // A PNG.
    #expect(!Snapshot.isWholeJPEG([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0xFF, 0xD9]))
    // Too much trailing padding is not a camera quirk but a broken body.
    #expect(!Snapshot.isWholeJPEG([0xFF, 0xD8, 0xFF, 0xDB, 0xFF, 0xD9] + [UInt8](repeating: 0, count: 100)))
  }

  @Test func topicCarriesTheCaptureTime() {
    #expect(Snapshot.topic(root: "vigil/tp-0412", cameraId: "cam1", captureMs: 1_795_920_655_370)
      == "vigil/tp-0412/snapshot/cam1/1795920655370")
  }

  @Test func lateEventsSaySo() throws {
    let e = Array(#"{"id":"3-7","ts":1700000000000,"kind":"door_opened"}"#.utf8)
    let late = Messages.markedLate(e)
    #expect(String(decoding: late, as: UTF8.self)
      == #"{"id":"3-7","ts":1700000000000,"kind":"door_opened","late":true}"#)
    let v = try JSON.parse(late)
    #expect(v["ts"]?.intValue == 1_700_000_000_000)
    #expect(String(decoding: Messages.markedLate(Array("{}".utf8)), as: UTF8.self)
      == #"{"late":true}"#)
    // Not an object: left alone.
    #expect(Messages.markedLate(Array("[1]".utf8)) == Array("[1]".utf8))
  }
}
