// `vigil-view-eval`: the view watch over the evaluation set (issue 14), a host build only,
// never Embedded (Scripts/build-embedded builds the board's `vigil` alone).
//   vigil-view-eval DIR [--out FILE]    DIR/manifest.json (Tests/Fixtures/view-eval.py DIR):
//                                        JSON to FILE or stdout, the summary on stderr; exit 1
//                                        if the Done-when is not met, 2 for bad input
//   vigil-view-eval --time FILE.jpg [--runs N]
//                                        decode and score one JPEG N times (default 200), in
//                                        process: {"runs":N,"median_ms":…}
import VigilCore
import VigilPlatform
import VigilViewEval

#if canImport(Glibc)
import Glibc
#endif

func say(_ s: String, to fd: Int32) { try? Sys.writeAll(fd, Array(s.utf8)) }

let usage = """
  usage: vigil-view-eval DIR [--out FILE]
         vigil-view-eval --time FILE.jpg [--runs N]

  """

func run(_ args: [String]) -> Int32 {
  var dir: String?
  var out: String?
  var timeFile: String?
  var runs = 200
  var k = 0
  while k < args.count {
    let a = args[k]
    let next: String? = k + 1 < args.count ? args[k + 1] : nil
    switch a {
    case "--out", "--time", "--runs":
      guard let v = next else {
        say("vigil-view-eval: " + a + " needs a value\n" + usage, to: 2)
        return 2
      }
      if a == "--out" { out = v } else if a == "--time" { timeFile = v } else {
        guard let n = Int(v), n >= 1, n <= 100_000 else {
          say("vigil-view-eval: --runs must be a whole number from 1 to 100000\n", to: 2)
          return 2
        }
        runs = n
      }
      k += 2
    case "-h", "--help":
      say(usage, to: 1)
      return 0
    default:
      guard dir == nil, !a.hasPrefix("-") else {
        say("vigil-view-eval: unexpected \"" + a + "\"\n" + usage, to: 2)
        return 2
      }
      dir = a
      k += 1
    }
  }
  if let file = timeFile {
    do throws(EvalRun.Problem) {
      let ns = try EvalTiming.decodeAndScore(file, runs: runs)
      say("{\"file\":" + JSONWriter.quoted(file) + ",\"runs\":" + String(ns.count)
        + ",\"median_ms\":" + EvalTiming.medianMs(ns) + "}\n", to: 1)
      return 0
    } catch {
      say("vigil-view-eval: " + error.message + "\n", to: 2)
      return 2
    }
  }
  guard let d = dir else {
    say(usage, to: 2)
    return 2
  }
  let manifest: EvalManifest
  do throws(EvalManifest.Problem) {
    manifest = try EvalManifest.load(d)
  } catch {
    say("vigil-view-eval: " + error.message + "\n", to: 2)
    return 2
  }
  let results: [EvalRun.Result]
  do throws(EvalRun.Problem) {
    var run = try EvalRun()
    results = try run.run(manifest)
  } catch {
    say("vigil-view-eval: " + error.message + "\n", to: 2)
    return 2
  }
  let json = EvalReport.json(results)
  if let o = out {
    do throws(SystemError) {
      try Files.writeAtomically(o, json)
    } catch {
      say("vigil-view-eval: " + error.message + "\n", to: 2)
      return 2
    }
  } else {
    say(String(decoding: json, as: UTF8.self), to: 1)
  }
  say(EvalReport.text(results), to: 2)
  return results.allSatisfy { $0.passes } ? 0 : 1
}

exit(run(Array(CommandLine.arguments.dropFirst())))
