# Shared by the Scripts: set-up that installs what is missing, quietly, and small helpers.
# Sourced, not run.

VIGIL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export VIGIL_ROOT

say() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages every Script needs: the C libraries for the host and the boards (arm64 and
# armhf through multiarch), the cross toolchains and qemu-user for the board binaries, and the
# real broker and clients the tests and the demo use; GStreamer's RTSP server for the fake
# camera's stream.
VIGIL_PACKAGES=(
  pkg-config mosquitto mosquitto-clients openssl curl
  libmosquitto-dev libgpiod-dev gpiod libcjson-dev libcurl4-openssl-dev libsodium-dev
  libc-ares-dev libssl-dev libturbojpeg0-dev
  gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static
  libmosquitto-dev:arm64 libgpiod-dev:arm64 libcjson-dev:arm64 libcurl4-openssl-dev:arm64
  libsodium-dev:arm64 libc-ares-dev:arm64 libssl-dev:arm64 libturbojpeg0-dev:arm64
  gcc-arm-linux-gnueabihf binutils-arm-linux-gnueabihf libc6-dev-armhf-cross
  libmosquitto-dev:armhf libgpiod-dev:armhf libcjson-dev:armhf libcurl4-openssl-dev:armhf
  libsodium-dev:armhf libc-ares-dev:armhf libssl-dev:armhf libturbojpeg0-dev:armhf
  picocom python3-pexpect
  libmicrohttpd-dev prometheus chromium chromium-driver python3-selenium
  python3-gi gir1.2-gst-rtsp-server-1.0 python3-gst-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
)

# The view watch's evaluation set (Tests/Fixtures/view-eval.py): the scenes of opencv-doc,
# OpenCV and NumPy for Debian's python3; djpeg for the bench's baseline.
VIEW_EVAL_PACKAGES=(opencv-doc python3-opencv python3-numpy libjpeg-turbo-progs)

# Installs the named packages that are not installed yet; silent when all are.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
  local a
  for a in arm64 armhf; do
    if printf '%s\n' "${missing[@]}" | grep -q ":$a\$" \
       && ! dpkg --print-foreign-architectures | grep -qx "$a"; then
      say "adding the $a architecture (multiarch)"
      dpkg --add-architecture "$a"
    fi
  done
  say "installing: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/tmp/vigil-apt.log 2>&1 || { tail -20 /tmp/vigil-apt.log >&2; die "apt-get install failed"; }
}

ensure_setup() {
  command -v swiftc >/dev/null || die "swiftc not on PATH: install the Swift 6.3 toolchain"
  ensure_packages "${VIGIL_PACKAGES[@]}"
}

# A free TCP port on loopback outside the kernel's ephemeral range, so no outgoing connection
# can take it before the listener binds (Scripts/lib/testports.py says why).
free_port() {
  python3 "$VIGIL_ROOT/Scripts/lib/testports.py"
}
