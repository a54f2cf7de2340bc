import VigilCore
import VigilPlatform

/// One run of `vigil-centre rollout`, on the project's own event loop and broker session: the
/// sites in waves, each wave sent only once every site of the one before has the document, and
/// a halt at the first site that refuses it, undoes it or does not answer. The sites of the
/// halted wave that were sent it are heard out first (up to the timeout), so the progress file
/// records every one that has it.
///
/// Per wave: subscribe to each site's state and status, then publish a probe to a topic of the
/// rollout's own and wait for it to come back. The broker sends the retained messages of a
/// subscription before anything published after it, so once the probe is back every site's
/// state *before* the document is known: a site that already has it is not sent it again (a
/// resume), and a later message identical to that state is the site repeating itself on a
/// reconnect, not an answer. A site whose state already refuses this very document, still
/// retained for it (Ed25519 signatures are deterministic, so the same document and key give
/// the same bytes), fails at once: a gateway does not look at a document it refused again
/// until its agent restarts.
final class Rollout: BrokerSessionDelegate {
  struct Settings {
    var broker: Config.Broker
    var prefix: String
    var sites: [String]
    var waves: RolloutWaves
    var target: RolloutTarget
    var secret: [UInt8]
    var timeoutS: Int
    var statePath: String?
    var progress: RolloutProgress
  }

  /// One site of the wave under way.
  private final class SiteWatch {
    let site: String
    /// Its retained state before the document was sent (nil: none).
    var before: [UInt8]?
    /// What is retained on its `config/set` or `update` before the document was sent.
    var retainedDocument: [UInt8]?
    /// `online` or `offline`, from its retained `R/status`.
    var status: String?
    /// The last thing it said since the document was sent.
    var last: String?
    var sentMs: Int64 = 0
    var finished = false

    init(_ site: String) { self.site = site }
  }

  /// How long the first connection to the centre's broker may take (the session's own attempt
  /// timeout is up to 15 s).
  static let connectTimeoutMs: Int64 = 15_000

  private let loop: EventLoop
  private let settings: Settings
  private let session: BrokerSession
  private let waves: [[String]]
  private var progress: RolloutProgress
  private var done: Set<String>
  private var waveIndex = -1
  private var watches: [SiteWatch] = []
  /// The probe's payload while the wave's states before the document are being collected.
  private var probe: String?
  private let probeTopic: String
  private var waveTimer: EventLoop.Timer?
  private var connectTimer: EventLoop.Timer?
  private var connected = false
  private var stopped = false
  private var exitStatus: Int32 = 1
  private var alreadyHad = 0
  private var answered = 0
  /// The wave's sites that refused or undid the document, in the order they said so.
  private var failures: [(site: String, reason: String)] = []

  init(loop: EventLoop, settings: Settings) {
    self.loop = loop
    self.settings = settings
    let id = String(Sys.random64(), radix: 16)
    // `~` is in no site id, so the probe's topic is never a site's.
    probeTopic = "\(settings.prefix)/~centre/rollout/\(id)"
    session = BrokerSession(loop: loop, clientId: "vigil-centre-rollout-\(id)",
                            brokers: [settings.broker], keepaliveS: 30, willTopic: "",
                            willPayload: [])
    waves = settings.waves.cut(settings.sites.count).map { Array(settings.sites[$0]) }
    progress = settings.progress
    done = Set(settings.progress.done)
  }

  /// Runs the rollout to its end; the exit status (0 when every site has the document).
  func run() -> Int32 {
    session.delegate = self
    loop.onSignal = { sig in self.halt(site: nil, "interrupted (signal \(sig))") }
    let sizes = waves.map { String($0.count) }.joined(separator: ", ")
    say("rollout of \(settings.target.kind.rawValue) \(settings.target.label) to "
      + "\(settings.sites.count) site\(plural(settings.sites.count)) in \(waves.count) "
      + "wave\(plural(waves.count)) (\(sizes))")
    if let h = settings.progress.halted {
      let reached = settings.sites.filter { done.contains($0) }.count
      say("resuming: \(reached) of them done before; it halted at \(h.site.isEmpty ? "" : h.site + ": ")\(h.reason)")
    }
    connectTimer = loop.after(ms: Self.connectTimeoutMs) {
      if !self.connected {
        self.halt(site: nil, "cannot reach the broker \(self.settings.broker.label) within "
          + "\(Self.connectTimeoutMs / 1000) s: \(self.session.lastError)")
      }
    }
    session.start()
    do throws(SystemError) { try loop.run() } catch {
      CentreCLI.err("vigil-centre rollout: \(error.message)")
      return 1
    }
    return exitStatus
  }

  // MARK: BrokerSessionDelegate

  func brokerConnected(_ broker: Config.Broker) {
    guard !connected, !stopped else { return }
    connected = true
    loop.cancel(connectTimer)
    say("connected to \(broker.label)")
    nextWave()
  }

  func brokerLost(_ reason: String) {
    // A clean session loses its subscriptions: halt with the progress kept rather than guess
    // which answers were missed. `--resume` picks up from there.
    halt(site: nil, "lost the broker \(settings.broker.label): \(reason)")
  }

  func brokerAcknowledged(mid: Int32) {}

  func brokerMessage(topic: String, payload: [UInt8], size: Int) {
    guard !stopped else { return }
    if topic == probeTopic {
      if let p = probe, payload == Array(p.utf8) {
        probe = nil
        sendWave()
      }
      return
    }
    let root = settings.prefix + "/"
    guard topic.hasPrefix(root) else { return }
    let rest = topic.dropFirst(root.count)
    guard let slash = rest.firstIndex(of: "/") else { return }
    let site = String(rest[rest.startIndex..<slash])
    let sub = String(rest[rest.index(after: slash)...])
    guard let w = watches.first(where: { $0.site == site }) else { return }
    if sub == "status" {
      w.status = (try? JSON.parse(payload))?["state"]?.stringValue
      return
    }
    if sub == settings.target.setTopic {
      if probe != nil { w.retainedDocument = payload }
      return
    }
    guard sub == settings.target.stateTopic else { return }
    if probe != nil {
      w.before = payload
      return
    }
    heard(w, payload)
  }

  // MARK: waves

  private func nextWave() {
    loop.cancel(waveTimer)
    waveIndex += 1
    while waveIndex < waves.count && waves[waveIndex].allSatisfy({ done.contains($0) }) {
      let n = waves[waveIndex].count
      say("wave \(waveIndex + 1)/\(waves.count): \(n) site\(plural(n)), done before")
      waveIndex += 1
    }
    guard waveIndex < waves.count else {
      finish()
      return
    }
    let wave = waves[waveIndex]
    let pending = wave.filter { !done.contains($0) }
    let before = wave.count - pending.count
    let span = wave.count == 1 ? wave[0] : "\(wave[0]) … \(wave[wave.count - 1])"
    say("wave \(waveIndex + 1)/\(waves.count): \(wave.count) site\(plural(wave.count)) (\(span))"
      + (before > 0 ? ", \(before) done before" : ""))
    watches = pending.map { SiteWatch($0) }
    for w in watches {
      session.subscribe("\(settings.prefix)/\(w.site)/\(settings.target.stateTopic)", qos: 1)
      session.subscribe("\(settings.prefix)/\(w.site)/status", qos: 1)
      session.subscribe("\(settings.prefix)/\(w.site)/\(settings.target.setTopic)", qos: 1)
    }
    let p = String(Sys.random64(), radix: 16)
    probe = p
    session.subscribe(probeTopic, qos: 1)
    guard session.publish(probeTopic, Array(p.utf8), qos: 1, retain: false) != nil else {
      halt(site: nil, "cannot publish to \(probeTopic): \(session.lastError)")
      return
    }
    let timeoutMs = Int64(settings.timeoutS) * 1000
    waveTimer = loop.after(ms: timeoutMs) { self.waveTimedOut() }
  }

  /// Every state before the document is in: send it to each site that lacks it.
  private func sendWave() {
    let now = Clock.monotonicMs()
    var sent = 0
    for w in watches {
      if let b = w.before, let text = settings.target.alreadyThere(b) {
        w.finished = true
        alreadyHad += 1
        say("  \(w.site) \(text)")
        markDone(w.site)
        continue
      }
      let doc = settings.target.document(for: w.site)
      guard let envelope = CentreCLI.envelope(doc, settings.secret) else {
        halt(site: w.site, "signing its document failed")
        return
      }
      if let b = w.before, case .failure(let text) = settings.target.answer(b),
        w.retainedDocument == envelope
      {
        w.finished = true
        failures.append((w.site, text))
        say("  \(w.site) \(text) (its answer before this run, to this same document: a site "
          + "looks at it again only after its agent restarts)")
        continue
      }
      let topic = "\(settings.prefix)/\(w.site)/\(settings.target.setTopic)"
      guard session.publish(topic, envelope, qos: 1, retain: true) != nil else {
        halt(site: w.site, "cannot publish to \(topic): \(session.lastError)")
        return
      }
      w.sentMs = now
      sent += 1
    }
    if sent > 0 {
      say("  sent to \(sent) site\(plural(sent)); waiting up to \(settings.timeoutS) s")
    }
    waveCheck()
  }

  /// Once every site of the wave has answered: the next wave, or the halt at the first failure.
  private func waveCheck() {
    guard watches.allSatisfy({ $0.finished }) else { return }
    if let f = failures.first {
      halt(site: f.site, f.reason)
    } else {
      nextWave()
    }
  }

  /// A state message from a site after its document was sent.
  private func heard(_ w: SiteWatch, _ payload: [UInt8]) {
    if w.finished || w.sentMs == 0 { return }
    if let b = w.before, b == payload { return }
    let took = seconds(since: w.sentMs)
    switch settings.target.answer(payload) {
    case .success(let text):
      w.finished = true
      answered += 1
      say("  \(w.site) \(text) (\(took))")
      markDone(w.site)
      waveCheck()
    case .failure(let text):
      w.finished = true
      failures.append((w.site, text))
      say("  \(w.site) \(text) (\(took))")
      waveCheck()
    case .progress(let text):
      if w.last != text {
        w.last = text
        say("  \(w.site) \(text) (\(took))")
      }
    case .other:
      w.last = Self.short(payload)
    }
  }

  private func waveTimedOut() {
    guard !stopped else { return }
    if probe != nil {
      halt(site: nil, "the broker did not return the rollout's probe on \(probeTopic) within "
        + "\(settings.timeoutS) s (may the centre's account read and write it?)")
      return
    }
    if let f = failures.first {
      halt(site: f.site, f.reason)
      return
    }
    guard let w = watches.first(where: { !$0.finished }) else { return }
    var reason = "no answer within \(settings.timeoutS) s"
    switch w.status {
    case "offline"?: reason += "; the site is offline"
    case nil: reason += "; it has no retained status (never connected to this broker?)"
    default: break
    }
    if let l = w.last {
      reason += "; it last said: \(l)"
    } else if let b = w.before {
      reason += "; its \(settings.target.stateTopic) still says \(Self.short(b))"
    }
    halt(site: w.site, reason)
  }

  // MARK: the end

  private func halt(site: String?, _ reason: String) {
    guard !stopped else { return }
    stopped = true
    let place = waveIndex >= 0 && waveIndex < waves.count
      ? "wave \(waveIndex + 1)/\(waves.count)" : "the start"
    say("HALTED at \(place)" + (site.map { ", site \($0)" } ?? "") + ": \(reason)")
    for f in failures.dropFirst() { say("  also: \(f.site) \(f.reason)") }
    let waiting = watches.filter { !$0.finished && $0.sentMs > 0 && $0.site != site }
      .map { $0.site }
    if !waiting.isEmpty {
      say("  not answered yet: \(waiting.joined(separator: ", ")) (looked at again on --resume)")
    }
    progress.halted = (site ?? "", reason)
    save()
    if let path = settings.statePath {
      say("  progress kept in \(path): fix the site or take it out of the sites file, then run "
        + "the same command with --resume")
    } else {
      say("  no --state file was given: the next run starts from the first wave")
    }
    exitStatus = 1
    end()
  }

  private func finish() {
    stopped = true
    progress.halted = nil
    save()
    let n = settings.sites.count
    let earlier = Set(settings.progress.done)
    let before = settings.sites.filter { earlier.contains($0) }.count
    say("rollout of \(settings.target.kind.rawValue) \(settings.target.label) done: \(n) "
      + "site\(plural(n)) have it (\(answered) answered now, \(alreadyHad) had it already, "
      + "\(before) done in an earlier run)")
    exitStatus = 0
    end()
  }

  private func end() {
    loop.cancel(waveTimer)
    loop.cancel(connectTimer)
    session.stop()
    loop.stop()
  }

  private func markDone(_ site: String) {
    if done.insert(site).inserted { progress.done.append(site) }
    save()
  }

  private func save() {
    guard let path = settings.statePath else { return }
    do throws(SystemError) { try progress.write(to: path) } catch {
      CentreCLI.err("vigil-centre rollout: cannot write the progress file: \(error.message)")
    }
  }

  // MARK: text

  private func say(_ line: String) { CentreCLI.out(line) }

  private func plural(_ n: Int) -> String { n == 1 ? "" : "s" }

  private func seconds(since ms: Int64) -> String {
    let tenths = (Clock.monotonicMs() - ms + 50) / 100
    return "\(tenths / 10).\(tenths % 10) s"
  }

  /// A message as one short line of text, for a reason.
  static func short(_ payload: [UInt8]) -> String {
    let text = String(decoding: payload.prefix(240), as: UTF8.self)
    return payload.count > 240 ? text + "…" : text
  }
}
