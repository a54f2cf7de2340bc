import CVigil
import VigilCore
import VigilPlatform

/// Which binary runs: at every `vigil run` the binary the service starts (the package's
/// /usr/bin/vigil) looks at the update folder before anything else and, when a self-update is
/// in place, replaces itself with it (`execv`: the same process, so systemd's main pid, its
/// notify socket and its watchdog carry on). The package's files are never written: dpkg's view
/// stays true, and a package install later wins (below).
///
/// The update folder, `<spool.dir>/state/update`: `state.json` (UpdateState), the binaries
/// `vigil-<seq>`, and `current`, a symlink to the one to run, changed only by rename.
///
/// During a trial the launcher counts the new binary's starts that followed a run which did not
/// end cleanly (a crash, an exit, a kill by the watchdog) in the runtime folder (/run/vigil,
/// a tmpfs: emptied by a reboot or a power cut, so neither counts as a failed start). At the
/// third, it goes back to the previous binary: `rolled_back`.
enum UpdateLauncher {
  /// Set in the environment of a binary started by the launcher: it does not launch again.
  static let launchedVariable = "VIGIL_UPDATE_SEQ"
  static let failedStartsAllowed = 3

  static func folder(stateDir: String) -> String { stateDir + "/update" }

  /// The runtime folder: systemd's `RuntimeDirectory=` (its path in `$RUNTIME_DIRECTORY`), else
  /// /run/vigil when it can be written; else the update folder itself, where a reboot is not
  /// told from a crash (said in the log).
  static func runtimeFolder(_ dir: String) -> String {
    if let p = getenv("RUNTIME_DIRECTORY") {
      let s = String(cString: p)
      // A list when the unit names several: the first.
      if let first = s.split(separator: ":").first, !first.isEmpty { return String(first) }
    }
    if access("/run/vigil", W_OK) == 0 { return "/run/vigil" }
    return dir
  }

  /// The sequence this process runs as, when the launcher started it; nil for the package's.
  static var runningSeq: Int64? {
    guard let p = getenv(launchedVariable) else { return nil }
    return Int64(String(cString: p))
  }

  /// The package's binary, as the launcher last saw it (inode, size and modification time of
  /// /proc/self/exe): when it changes, a package was installed over the self-update.
  static func packageIdentity() -> String {
    var st = stat()
    guard stat("/proc/self/exe", &st) == 0 else { return "" }
    // The inode too: dpkg writes a file anew and renames it, so even the same package again
    // (same size and time) is a new inode.
    return String(UInt64(st.st_ino)) + "-" + String(Int64(st.st_size)) + "-"
      + String(Int64(st.st_mtim.tv_sec))
  }

  /// Called first thing in `run`: returns only when this binary is the one to run (it may have
  /// rolled back a trial on the way), else replaces the process.
  static func launch(stateDir: String, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
    if runningSeq != nil { return }
    let dir = folder(stateDir: stateDir)
    guard var state = readState(dir) else { return }
    let current = dir + "/current"
    let identity = packageIdentity()
    let packageFile = dir + "/package"
    let recorded = (try? Files.read(packageFile, limit: 64)).map { String(decoding: $0, as: UTF8.self) }
    if let r = recorded, r != identity, Files.exists(current) {
      // A package install replaced /usr/bin/vigil after the self-update: the package's runs.
      unlink(current)
      let why = "set aside: the package's vigil " + Messages.version + " was installed over it"
      state.phase = .rolledBack
      state.reason = why
      state.tsMs = Clock.wallMs()
      save(state, dir)
      Log.notice("update " + state.version + " " + why)
      return
    }
    if state.phase == .trial {
      let run = runtimeFolder(dir)
      let failures = countStart(run: run, seq: state.seq)
      if failures >= failedStartsAllowed {
        rollBack(&state, dir: dir, reason: "stopped " + String(failures)
          + " times in its trial without a clean exit (crashed, exited or killed by the watchdog)")
      }
    }
    guard let target = link(current) else { return }
    // The file exists and is executable: else run this one (and say why).
    if access(current, X_OK) != 0 {
      Log.error("update: " + current + " -> " + target + " cannot be run; running this binary")
      return
    }
    if let a = argv {
      setenv(launchedVariable, String(seqOf(target) ?? 0), 1)
      setenv("VIGIL_PACKAGE_ID", identity, 1)
      Log.info("running the update in place, " + target)
      _ = vigil_exec_self_args(current, a)
      let e = Sys.errno
      unsetenv(launchedVariable)
      Log.error("update: cannot run " + target + ": " + SystemError("execv", errno: e).message)
      if state.phase == .trial {
        rollBack(&state, dir: dir, reason: "cannot be run: " + SystemError("execv", errno: e).message)
      }
    }
  }

  /// Counts this start: a failed one when the previous start of the same trial left no clean
  /// exit behind. Returns the failures so far. The count is one file per trial,
  /// `update-trial-<seq>`, two bytes: the failures so far, and whether a start is running.
  static func countStart(run: String, seq: Int64) -> Int {
    let file = run + "/update-trial-" + String(seq)
    let clean = run + "/clean-exit"
    var failures: UInt8 = 0
    if let b = try? Files.read(file, limit: 8), b.count == 2, b[0] < 10 {
      failures = b[0]
      if b[1] == 1 && !Files.exists(clean) { failures += 1 }
    }
    unlink(clean)
    do { try Files.writeAtomically(file, [failures, 1], mode: 0o600) } catch {
      Log.warning("update: " + error.message)
    }
    return Int(failures)
  }

  /// A clean stop: the next start is not a failed one.
  static func markCleanExit(stateDir: String) {
    let run = runtimeFolder(folder(stateDir: stateDir))
    if let fd = try? Sys.open(run + "/clean-exit", O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600) {
      Sys.close(fd)
    }
  }

  /// Back to the previous binary: `current` points at it again (or is removed when it was the
  /// package's), atomically; the state says why.
  static func rollBack(_ state: inout UpdateState, dir: String, reason: String) {
    let current = dir + "/current"
    if state.previous.isEmpty {
      unlink(current)
    } else {
      let tmp = dir + "/current.tmp"
      unlink(tmp)
      if symlink(state.previous, tmp) != 0 || rename(tmp, current) != 0 {
        Log.error("update: cannot point current at " + state.previous + "; removing it")
        unlink(current)
      }
    }
    try? Files.syncDirectory(dir)
    let failed = "vigil-" + String(state.seq)
    if failed != state.previous { unlink(dir + "/" + failed) }
    state.phase = .rolledBack
    state.reason = reason
    state.tsMs = Clock.wallMs()
    save(state, dir)
    Log.error("update " + state.version + " rolled back to "
      + (state.previousVersion.isEmpty ? "the previous binary" : state.previousVersion) + ": " + reason)
  }

  static func readState(_ dir: String) -> UpdateState? {
    let path = dir + "/state.json"
    guard Files.exists(path) else { return nil }
    guard let b = try? Files.read(path, limit: 8192), let s = UpdateState.read(b) else {
      Log.error("update: " + path + " is damaged; no update runs until a new one is taken"
        + " (the last sequence taken is kept in last-seq)")
      unlink(dir + "/current")
      return nil
    }
    return s
  }

  /// `last-seq`: the highest sequence ever taken, in decimal, on its own (written before an
  /// update is begun), so that a damaged `state.json` does not open the box to a replayed,
  /// older manifest. 0 when there is none; a damaged one is said and read as 0.
  static func readLastSeq(_ dir: String) -> Int64 {
    let path = dir + "/last-seq"
    guard Files.exists(path) else { return 0 }
    guard var b = try? Files.read(path, limit: 32) else {
      Log.error("update: " + path + " cannot be read; the state's last sequence is used")
      return 0
    }
    while let l = b.last, l == 0x0A || l == 0x20 { b.removeLast() }
    guard let n = Int64(String(decoding: b, as: UTF8.self)), n >= 0 else {
      Log.error("update: " + path + " is damaged; the state's last sequence is used")
      return 0
    }
    return n
  }

  static func saveLastSeq(_ seq: Int64, _ dir: String) throws(SystemError) {
    try Files.writeAtomically(dir + "/last-seq", Array(String(seq).utf8), mode: 0o600)
  }

  static func save(_ s: UpdateState, _ dir: String) {
    do { try Files.writeAtomically(dir + "/state.json", s.encode(), mode: 0o600) } catch {
      Log.error("update: " + error.message)
    }
  }

  /// Where the symlink points (a file name in the folder), or nil.
  static func link(_ path: String) -> String? {
    var buf = [CChar](repeating: 0, count: 256)
    let n = readlink(path, &buf, 255)
    guard n > 0 else { return nil }
    let bytes = buf[0..<n].map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
  }

  static func seqOf(_ name: String) -> Int64? {
    guard name.hasPrefix("vigil-") else { return nil }
    return Int64(String(decoding: Array(name.utf8.dropFirst(6)), as: UTF8.self))
  }
}
