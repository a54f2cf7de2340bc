import CVigil
import VigilCore
import VigilPlatform

/// `vigil-centre rollout`: its options, read and checked before anything is sent.
extension CentreCLI {
  static let rolloutUsage = """
    usage: vigil-centre rollout --broker HOST:PORT --sites FILE --key KEY
                                (--config DOC.json | --update MANIFEST.json)
                                [--waves 1,5,25%] [--timeout S] [--state FILE [--resume]]
                                [--prefix vigil] [--username U --password-file F]
                                [--ca-file CA.pem]

    Sends a signed configuration document or update manifest to the sites of FILE in waves and
    watches each site's answer: a config is done when R/config/state says the new version is
    applied, an update when R/update/state says committed. A wave starts only when every site
    of the one before has it; the first site that refuses it (rejected), undoes it
    (rolled_back) or does not answer within the timeout halts the rollout, named with its
    reason, and the command exits 1. Each site's copy names it in site_id, is signed with KEY
    and is published retained (QoS 1) on R/config/set or R/update.
      -b, --broker HOST:PORT    the centre's broker
      -s, --sites FILE          one site id per line, in order (the first is the canary);
                                '#' starts a comment
      -c, --config DOC          a configuration document (plain JSON, with its version)
      -U, --update MANIFEST     an update manifest {"version","seq","sha256","size","arch","url"}
      -k, --key KEY             the secret key made by `vigil-centre keygen`
      -w, --waves LIST          wave sizes, numbers of sites or percentages of all of them;
                                the last repeats (default 1,5,25%)
      -t, --timeout S           seconds a wave may take, 1-86400 (default 600: above a
                                site's default confirm_s of 300)
      -S, --state FILE          the progress file, written after every site that succeeds
      -r, --resume              continue the rollout of the progress file: sites done are
                                skipped, the others are checked and sent the document
      -p, --prefix PREFIX       the sites' topic_prefix (default vigil)
      -u, --username U          the centre's MQTT username
      -P, --password-file F     a file whose first line is its password
      -C, --ca-file CA.pem      connect with TLS, the broker's certificate checked against
                                this CA and the broker's HOST
    """

  static func rollout(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>)
    -> Int32
  {
    let p = Getopt.parse(
      argc, argv, short: "b:s:c:U:k:w:t:S:rp:u:P:C:h",
      long: [("broker", true, "b"), ("sites", true, "s"), ("config", true, "c"),
             ("update", true, "U"), ("key", true, "k"), ("waves", true, "w"),
             ("timeout", true, "t"), ("state", true, "S"), ("resume", false, "r"),
             ("prefix", true, "p"), ("username", true, "u"), ("password-file", true, "P"),
             ("ca-file", true, "C"), ("help", false, "h")])
    func usage(_ m: String) -> Int32 { usageError("rollout", m, rolloutUsage) }
    if let e = p.error { return usage(e) }
    if p.has("h") {
      out(rolloutUsage)
      return 0
    }
    if !p.operands.isEmpty { return usage("unexpected \"\(p.operands[0])\"") }
    var brokerText: String?, sitesPath: String?, configPath: String?, updatePath: String?
    var keyPath: String?, statePath: String?, username: String?, passwordPath: String?
    var caFile: String?
    var wavesText = "1,5,25%", prefix = "vigil", timeoutS = 600, resume = false
    for (flag, arg) in p.options {
      let v = arg ?? ""
      switch flag {
      case "b": brokerText = v
      case "s": sitesPath = v
      case "c": configPath = v
      case "U": updatePath = v
      case "k": keyPath = v
      case "w": wavesText = v
      case "t":
        guard let t = Int(v), t >= 1, t <= 86_400 else {
          return usage("--timeout must be 1 to 86400 seconds (got \"\(v)\")")
        }
        timeoutS = t
      case "S": statePath = v
      case "r": resume = true
      case "p": prefix = v
      case "u": username = v
      case "P": passwordPath = v
      case "C": caFile = v
      default: break
      }
    }
    guard let sitesFile = sitesPath else { return usage("--sites is required") }
    guard let key = keyPath else { return usage("--key is required") }
    if (configPath == nil) == (updatePath == nil) {
      return usage("give one of --config and --update")
    }
    if resume && statePath == nil { return usage("--resume needs --state FILE") }
    guard BrokerOptions.isTopicPrefix(prefix) else {
      return usage("--prefix: \"\(prefix)\" is not a topic prefix (no '+', '#', and no '/' at "
        + "either end)")
    }
    let broker: Config.Broker
    do throws(BrokerOptions.Problem) {
      broker = try BrokerOptions.broker(brokerText, username: username, passwordFile: passwordPath,
                                        caFile: caFile)
    } catch {
      if error.isUsage { return usage(error.message) }
      err("vigil-centre rollout: " + error.message)
      return 1
    }
    let waves: RolloutWaves
    do throws(RolloutError) { waves = try RolloutWaves.parse(wavesText) } catch {
      return usage(error.message)
    }

    // Files: each problem names its file.
    func fail(_ m: String) -> Int32 {
      err("vigil-centre rollout: \(m)")
      return 1
    }
    func read(_ option: String, _ path: String) -> [UInt8]? {
      do throws(SystemError) { return try Files.read(path, limit: 1 << 20) } catch {
        let text = strerror(error.errno).map { String(cString: $0) } ?? "errno \(error.errno)"
        let verb = error.call == "open" ? "open" : "read"
        _ = fail("\(option) \(path): cannot \(verb) it: \(text)")
        return nil
      }
    }
    guard let sitesBytes = read("--sites", sitesFile) else { return 1 }
    let sites: [String]
    let target: RolloutTarget
    do throws(RolloutError) {
      sites = try SitesFile.parse(sitesBytes, path: sitesFile)
      if let c = configPath {
        guard let bytes = read("--config", c) else { return 1 }
        target = try RolloutTarget.config(bytes, path: c)
      } else if let u = updatePath {
        guard let bytes = read("--update", u) else { return 1 }
        target = try RolloutTarget.update(bytes, path: u)
      } else {
        return usage("give one of --config and --update")
      }
    } catch {
      return fail(error.message)
    }
    guard let keyText = read("--key", key), let secret = secretKey(keyText, key, "rollout") else {
      return 1
    }
    var progress = RolloutProgress(kind: target.kind, target: target.label)
    if let state = statePath {
      if resume {
        guard let bytes = read("--state", state) else { return 1 }
        do throws(RolloutError) { progress = try RolloutProgress.parse(bytes, path: state) } catch {
          return fail(error.message)
        }
        if progress.kind != target.kind || progress.target != target.label {
          return fail("\(state) is the progress of the \(progress.kind.rawValue) "
            + "\(progress.target) rollout, not of \(target.kind.rawValue) \(target.label): "
            + "resume that one, or give another --state file")
        }
      } else if Files.exists(state) {
        return fail("\(state) exists: give --resume to continue its rollout, or remove it to "
          + "start anew")
      }
    }
    guard Signature.initialise() else { return fail("libsodium could not be initialised") }
    // The session's own notices (connecting, connected) stay quiet: progress lines say it.
    Log.threshold = .warning
    let loop: EventLoop
    do throws(SystemError) { loop = try EventLoop() } catch { return fail(error.message) }
    let run = Rollout(loop: loop, settings: Rollout.Settings(
      broker: broker, prefix: prefix, sites: sites, waves: waves, target: target, secret: secret,
      timeoutS: timeoutS, statePath: statePath, progress: progress))
    return run.run()
  }
}
