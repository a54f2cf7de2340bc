/// The part of a camera's DESCRIBE answer (SDP, RFC 8866) a stream check needs: where to SETUP
/// its video. A camera names each media's control URL in an `a=control:` line after its `m=`
/// line: absolute (Hikvision: `rtsp://.../Streaming/Channels/101/trackID=1`) or relative to the
/// base (Dahua, GStreamer: `trackID=0`, `stream=0`), the base being the answer's `Content-Base:`
/// or else the URL asked (RFC 2326, C.1.1).
public enum SDP {
  /// The SETUP URL of the first video media (of the first media when none says `video`); nil
  /// when the SDP names no media.
  public static func setupURL(_ sdp: [UInt8], base: String) -> String? {
    var inMedia = false
    var isVideo = false
    var control: String? = nil
    var first: String? = nil
    var video: String? = nil
    forEachLine(sdp) { line in
      if video != nil { return }
      let media = starts(line, "m=")
      if media {
        if inMedia {
          let url = control.map { resolve($0, base: base) } ?? base
          if isVideo { video = url; return }
          if first == nil { first = url }
        }
        inMedia = true
        isVideo = starts(line, "m=video")
        control = nil
      } else if inMedia, control == nil, starts(line, "a=control:") {
        control = String(decoding: line[(line.startIndex + 10)...], as: UTF8.self)
      }
    }
    if let v = video { return v }
    if inMedia {
      let url = control.map { resolve($0, base: base) } ?? base
      if isVideo || first == nil { return url }
    }
    return first
  }

  /// A control URL against the base: absolute as it is, `*` the base, else appended to it.
  public static func resolve(_ control: String, base: String) -> String {
    if control.hasPrefix("rtsp://") || control.hasPrefix("rtsps://") { return control }
    if control == "*" || control.isEmpty { return base }
    return base.hasSuffix("/") ? base + control : base + "/" + control
  }

  private static func starts(_ line: ArraySlice<UInt8>, _ p: StaticString) -> Bool {
    let n = p.utf8CodeUnitCount
    guard line.count >= n else { return false }
    var k = line.startIndex
    for i in 0..<n {
      if line[k] != p.utf8Start[i] { return false }
      k += 1
    }
    return true
  }

  /// Each line without its CR or LF.
  private static func forEachLine(_ b: [UInt8], _ body: (ArraySlice<UInt8>) -> Void) {
    var start = 0
    var i = 0
    while i <= b.count {
      if i == b.count || b[i] == 0x0A {
        var end = i
        if end > start, b[end - 1] == 0x0D { end -= 1 }
        body(b[start..<end])
        start = i + 1
      }
      i += 1
    }
  }
}
