#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real: Chromium (the docs-through-proxy test), redis-server
# (the shared login throttle), Java 17 (the Firestore emulator), buildah, podman, runc, mmdebstrap, the CNI plugins
# and iptables (the image tests: scripts/build-image.sh builds, podman runs with published ports), fuse-overlayfs (overlay
# image storage where the kernel cannot mount overlayfs: bench/container_storage.py), plus any command named as an argument whose
# package has the same name (`make bench` asks for wrk; h2load comes from nghttp2-client). The Firestore emulator itself ships with the Cloud SDK
# (package google-cloud-cli-firestore-emulator, from Google's apt repository): installed when that repository is
# configured, else the Firestore tests fail saying it is missing.
# Idempotent: does nothing when they are present. Needs root (or sudo) the first time.
set -euo pipefail
need=()
want() {  # want COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || need+=("$2")
}
want chromium chromium
want redis-server redis-server
want java openjdk-17-jre-headless
want curl curl  # the h2c SIGTERM test's client (nghttp2 inside)
want buildah buildah
want podman podman
want runc runc
want mmdebstrap mmdebstrap
want iptables iptables  # podman's published ports (-p 127.0.0.1:H:C)
want fuse-overlayfs fuse-overlayfs  # overlay image storage without the kernel's overlayfs (bench/container_storage.py)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)  # podman's default network
for command in "$@"; do
  case "$command" in
    h2load) want h2load nghttp2-client ;;  # the HTTP/2 server comparison's load generator
    *) want "$command" "$command" ;;
  esac
done
if command -v gcloud >/dev/null 2>&1; then
  sdk_root="$(dirname "$(dirname "$(readlink -f "$(command -v gcloud)")")")"
  [ -d "$sdk_root/platform/cloud-firestore-emulator" ] || need+=(google-cloud-cli-firestore-emulator)
fi
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "installing system packages: ${need[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
