import VigilCore
import VigilPlatform

/// The cost of one snapshot on the agent's path (`vigil-view-eval --time`): decode at 1/8 scale
/// with the light, copy the luma, and `ViewWatch.saw` against a reference learnt from the same
/// picture. In-process: the file is read once before, no process start is counted.
public enum EvalTiming {
  /// Each run's wall time in nanoseconds, on CLOCK_MONOTONIC.
  public static func decodeAndScore(_ path: String, runs: Int) throws(EvalRun.Problem) -> [Int64] {
    let jpeg: [UInt8]
    do throws(SystemError) {
      jpeg = try Files.read(path, limit: 16 << 20)
    } catch {
      throw EvalRun.Problem(message: error.message)
    }
    guard let decoder = JPEGDecoder() else {
      throw EvalRun.Problem(message: "libturbojpeg could not start")
    }
    var image = ViewImage(width: 0, height: 0)
    var scorer = ViewScorer()
    if let why = decoder.view(jpeg, into: &image) {
      throw EvalRun.Problem(message: path + ": " + why)
    }
    var features = ViewFeatures()
    guard scorer.measure(image, into: &features) else {
      throw EvalRun.Problem(message: path + ": a picture of " + String(image.width) + " x "
        + String(image.height) + " at 1/8 scale is too small or too large to score")
    }
    var watch = ViewWatch()
    watch.install(ViewReference(mode: decoder.mode, features: features))
    var out: [Int64] = []
    for _ in 0..<max(1, runs) {
      let t0 = Clock.monotonicNs()
      if let why = decoder.view(jpeg, into: &image) {
        throw EvalRun.Problem(message: path + ": " + why)
      }
      let step = watch.saw(image, mode: decoder.mode, scorer: &scorer)
      let t1 = Clock.monotonicNs()
      guard step.score != nil else { throw EvalRun.Problem(message: path + ": not scored") }
      out.append(t1 - t0)
    }
    return out
  }

  /// The median of `ns`, as milliseconds with three decimals ("3.142").
  public static func medianMs(_ ns: [Int64]) -> String {
    let s = ns.sorted()
    guard !s.isEmpty else { return "0.000" }
    let m = s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    let us = (m + 500) / 1000
    let frac = String(us % 1000)
    return String(us / 1000) + "." + String(repeating: "0", count: 3 - frac.count) + frac
  }
}
