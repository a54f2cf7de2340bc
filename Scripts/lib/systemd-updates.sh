# The service under a real systemd, and the signed self-update end to end (issue 16): sourced by
# Scripts/test-install, run inside its amd64 container (systemd-nspawn --boot, systemd as PID 1)
# with the package installed and the service running. Uses its in_ct, ok, fail, boot_container,
# $root, $work, $arch, $nspawn_pid. Every claim is read from systemctl, the journal, /proc or
# the broker's retained messages.

# The retained R/update/state (or another topic) once it holds all the given strings; fails
# after $2 seconds with what it held.
wait_retained() {
  local topic=$1 within=$2
  shift 2
  local deadline=$((SECONDS + within)) got="" want
  while [ $SECONDS -le $deadline ]; do
    got=$(mosquitto_sub -h 127.0.0.1 -p "$uport" -t "$topic" -C 1 -W 2 -F '%p' 2>/dev/null || true)
    local all=1
    for want in "$@"; do [[ $got == *"$want"* ]] || all=0; done
    [ $all -eq 1 ] && { printf '%s' "$got"; return 0; }
    sleep 0.5
  done
  in_ct journalctl -u vigil --no-pager -n 30 >&2 || true
  fail "$topic did not come to hold $* within ${within}s; it holds: $got"
}

main_pid() { in_ct systemctl show -p MainPID --value vigil.service; }
main_exe() { in_ct readlink "/proc/$(main_pid)/exe"; }

# A manifest for SEQ VERSION FILE (under the web folder) [TRIAL_S] [SHA], signed with KEY.
manifest() {
  local seq=$1 version=$2 file=$3 trial=${4:-10} sha=${5:-} key=${6:-$work/centre.key}
  [ -n "$sha" ] || sha=$(sha256sum "$work/www/$file" | cut -d' ' -f1)
  printf '{"site_id":"%s","version":"%s","seq":%s,"sha256":"%s","size":%s,"arch":"x86_64","url":"http://127.0.0.1:%s/%s","trial_s":%s}' \
    "$usite" "$version" "$seq" "$sha" "$(stat -c %s "$work/www/$file")" "$wport" "$file" "$trial" \
    > "$work/manifest-$seq.json"
  "$centre" sign --key "$key" "$work/manifest-$seq.json"
}

send_update() { mosquitto_pub -h 127.0.0.1 -p "$uport" -t "vigil/$usite/update" -q 1 -r -m "$1"; }

updates_under_systemd() {
  uport=$1
  usite=install-$arch-$$
  local R=vigil/$usite out pid pid2
  centre=$VIGIL_ROOT/.build/debug/vigil-centre
  [ -x "$centre" ] || swift build --product vigil-centre > "$work/centre-build.log" 2>&1 \
    || { tail -20 "$work/centre-build.log" >&2; fail "building vigil-centre"; }
  local next
  next=$(VIGIL_NEXT_VERSION=1 Scripts/build-embedded x86_64 | tail -n 1)
  [ -x "$next" ] || fail "no next-version build"

  # A test drop-in: the watchdog at 6 s and restarts after 1 s, so the test takes seconds.
  mkdir -p "$root/etc/systemd/system/vigil.service.d"
  printf '[Service]\nWatchdogSec=6s\nRestartSec=1s\n' > "$root/etc/systemd/system/vigil.service.d/test.conf"
  # The simulated board's line files at every boot, before the service starts, as a real board's
  # GPIO chip is there at power-up: otherwise the start at boot finds no lines, exits, and is
  # counted as a failed start of a trial (one run counted 1 after the reboot below).
  mkdir -p "$root/var/lib/vigil-test"
  tar -C "$work/run-sim" -cf "$root/var/lib/vigil-test/run-sim.tar" vigil-sim
  printf '%s\n' '[Unit]' 'Description=The test'"'"'s simulated board lines' 'DefaultDependencies=no' \
    'After=local-fs.target' '[Service]' 'Type=oneshot' 'RemainAfterExit=yes' \
    "ExecStart=/bin/sh -c 'tar -C /run -xf /var/lib/vigil-test/run-sim.tar && chown -R vigil:vigil /run/vigil-sim'" \
    > "$root/etc/systemd/system/vigil-test-sim.service"
  printf '[Unit]\nRequires=vigil-test-sim.service\nAfter=vigil-test-sim.service\n' \
    > "$root/etc/systemd/system/vigil.service.d/test-sim.conf"
  # The site trusts the centre's key: updates are refused on a site without one.
  "$centre" keygen "$work/centre" > /dev/null
  "$centre" keygen "$work/other" > /dev/null
  python3 - "$root/etc/vigil/config.json" "$(cat "$work/centre.pub")" <<'EOF'
import json, sys
path, key = sys.argv[1:]
c = json.load(open(path))
c["trusted_keys"] = [key]
json.dump(c, open(path, "w"), indent=2)
EOF
  in_ct systemctl daemon-reload
  in_ct systemctl restart vigil.service || fail "systemctl restart vigil"
  wait_retained "$R/status" 20 '"state":"online"' > /dev/null

  # Type=notify: `systemctl restart` returned once READY=1 came; STATUS= is the agent's line.
  out=$(in_ct systemctl show -p Type,ActiveState,SubState,StatusText vigil.service | tr '\n' ' ')
  local want
  for want in "Type=notify" "ActiveState=active" "SubState=running" "StatusText=online via 127.0.0.1:$uport"; do
    [[ " $out" == *" $want "* ]] || fail "systemctl show: $out (no $want)"
  done
  ok "Type=notify: active (running) after READY=1; $(echo "$out" | grep -o 'StatusText=.*')"

  # systemctl reload: SIGHUP, the same process, RELOADING=1 ... READY=1.
  pid=$(main_pid)
  in_ct systemctl reload vigil.service || fail "systemctl reload"
  [ "$(main_pid)" = "$pid" ] || fail "reload changed the main process"
  in_ct journalctl -u vigil --no-pager | grep -q 'reloaded /etc/vigil/config.json' \
    || fail "no 'reloaded' line in the journal"
  ok "systemctl reload: same MainPID $pid, journal: $(in_ct journalctl -u vigil --no-pager | grep -o 'reloaded /etc/vigil/config.json.*' | tail -1)"

  # A loop that hangs (SIGSTOP) stops its watchdog pings: systemd kills it and starts another.
  in_ct sh -c "kill -STOP $pid"  # the shell's kill: a minimal root has no /bin/kill
  local deadline=$((SECONDS + 20))
  while [ $SECONDS -le $deadline ]; do
    pid2=$(main_pid)
    [ -n "$pid2" ] && [ "$pid2" != 0 ] && [ "$pid2" != "$pid" ] && break
    sleep 0.5
  done
  [ "$pid2" != "$pid" ] || fail "the stopped agent was not replaced within 20 s"
  local wd=""
  for i in $(seq 20); do
    wd=$(in_ct journalctl --no-pager -o cat 2>/dev/null | grep -i 'watchdog timeout' | tail -1 || true)
    [ -n "$wd" ] && break
    sleep 0.5
  done
  [ -n "$wd" ] || { in_ct journalctl --no-pager -n 40 >&2; fail "no watchdog timeout in the journal"; }
  wait_retained "$R/status" 20 '"state":"online"' > /dev/null
  ok "SIGSTOP: $wd; restarted as $pid2 ($(in_ct systemctl show -p NRestarts --value vigil.service) restarts), online"

  # The web server the manifests point at, on loopback (the container shares the network).
  mkdir -p "$work/www"
  cp "$next" "$work/www/vigil-0.1.1"
  printf '#!/bin/sh\n# passes the check, then exits at once, every start\ncase "$1" in check-config) exit 0 ;; esac\necho "vigil-crash: exiting" >&2\nexit 3\n' \
    > "$work/www/vigil-crash"
  wport=$(free_port)
  python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$wport" > "$work/http.log" 2>&1 &
  web_pid=$!
  for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$wport") 2>/dev/null && break; sleep 0.1; done

  # Refused: a manifest signed by a key the site does not trust; one whose binary's SHA-256 is
  # not the manifest's (seq 1 is spent on it).
  send_update "$(manifest 1 0.1.1 vigil-0.1.1 10 "" "$work/other.key")"
  out=$(wait_retained "$R/update/state" 20 '"state":"rejected"' 'signature does not match')
  ok "bad signature: $out"
  send_update "$(manifest 1 0.1.1 vigil-0.1.1 10 "$(printf '0%.0s' $(seq 64))")"
  out=$(wait_retained "$R/update/state" 30 '"state":"rejected"' '"seq":1' 'sha256: the file')
  ok "wrong SHA-256: $out"

  # A good update: downloaded, checked, staged; the agent exits, systemd starts it, and after
  # its 10 s trial, connected with heartbeats going out, it commits.
  send_update "$(manifest 2 0.1.1 vigil-0.1.1 10)"
  wait_retained "$R/update/state" 40 '"state":"trial"' '"seq":2' > /dev/null
  out=$(wait_retained "$R/update/state" 40 '"state":"committed"' '"seq":2')
  [[ $(main_exe) == /var/lib/vigil/spool/state/update/vigil-2 ]] || fail "running $(main_exe), not the update"
  wait_retained "$R/status" 10 '"version":"0.1.1"' > /dev/null
  ok "good update committed: $out; MainPID runs $(main_exe), status says 0.1.1"

  # Replayed: an older sequence (the spent seq 1, signed and well formed) is refused.
  send_update "$(manifest 1 0.1.1 vigil-0.1.1 10)"
  out=$(wait_retained "$R/update/state" 20 '"state":"rejected"' 'not newer than the last update taken (2)')
  ok "older sequence: $out"

  # A binary that passes the check but exits at once: 3 failed starts in its trial, then the
  # launcher goes back to the previous binary (0.1.1, itself an update), which comes online.
  send_update "$(manifest 3 0.1.2 vigil-crash 10)"
  out=$(wait_retained "$R/update/state" 60 '"state":"rolled_back"' '"seq":3')
  [[ $(main_exe) == /var/lib/vigil/spool/state/update/vigil-2 ]] || fail "after the rollback: $(main_exe)"
  wait_retained "$R/status" 20 '"state":"online"' '"version":"0.1.1"' > /dev/null
  # journald writes a stream's lines a little after they are read: the rollback can be seen
  # first (one run found none of the 3 yet).
  for i in $(seq 50); do
    [ "$(in_ct journalctl -u vigil --no-pager | grep -c 'vigil-crash: exiting')" -ge 3 ] && break
    sleep 0.2
  done
  [ "$(in_ct journalctl -u vigil --no-pager | grep -c 'vigil-crash: exiting')" -ge 3 ] \
    || fail "the crashing binary's 3 starts are not in the journal: $(in_ct journalctl -u vigil --no-pager | tail -20)"
  ok "crashing update rolled back: $out; $(in_ct journalctl -u vigil --no-pager | grep -c 'vigil-crash: exiting') crashed starts in the journal; 0.1.1 running and online"

  # A reboot in the middle of a trial is no failed start: after it the trial goes on and commits.
  send_update "$(manifest 4 0.1.1 vigil-0.1.1 20)"
  wait_retained "$R/update/state" 40 '"state":"trial"' '"seq":4' > /dev/null
  in_ct systemctl reboot || true
  for i in $(seq 150); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
  wait "$nspawn_pid" 2>/dev/null || true
  boot_container
  out=$(wait_retained "$R/update/state" 60 '"state":"committed"' '"seq":4')
  [[ $(main_exe) == /var/lib/vigil/spool/state/update/vigil-4 ]] || fail "after the reboot: $(main_exe)"
  # The trial's count of failed starts on the fresh /run: the start at boot was not one.
  local fails boots
  fails=$(in_ct od -An -tu1 -N1 /run/vigil/update-trial-4 | tr -d ' ' || true)
  boots=$(in_ct journalctl --list-boots --no-pager | wc -l)
  [ "$boots" -ge 2 ] || fail "the journal lists $boots boots, not 2 or more"
  [ "$fails" = 0 ] || { in_ct journalctl -u vigil -b --no-pager | tail -20 >&2; fail "after the reboot the trial counted '$fails' failed starts, not 0"; }
  ok "reboot during the trial: $boots boots in the journal, 0 failed starts counted since the boot; $out"

  # A package installed afterwards wins: the self-update is set aside, the package's runs.
  cp "$root/tmp/vigil-upgrade.deb" "$root/root/vigil-upgrade.deb" 2>/dev/null || cp "$deb" "$root/root/vigil-upgrade.deb"
  in_ct dpkg -i /root/vigil-upgrade.deb > "$work/dpkg-after-update.log" 2>&1 \
    || { tail -20 "$work/dpkg-after-update.log" >&2; fail "dpkg -i after the self-update"; }
  in_ct systemctl restart vigil.service
  out=$(wait_retained "$R/update/state" 20 '"state":"rolled_back"' 'set aside')
  [[ $(main_exe) == /usr/bin/vigil ]] || fail "after the package install: $(main_exe)"
  wait_retained "$R/status" 20 '"state":"online"' '"version":"0.1.0"' > /dev/null
  ok "package installed over the self-update: $out; /usr/bin/vigil runs"

  kill "$web_pid" 2>/dev/null || true
  wait "$web_pid" 2>/dev/null || true
  rm -f "$root/etc/systemd/system/vigil.service.d/test.conf" "$root/etc/systemd/system/vigil.service.d/test-sim.conf" \
    "$root/etc/systemd/system/vigil-test-sim.service"
  in_ct systemctl daemon-reload
}
