#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real (Chromium for the docs-through-proxy test;
# buildah, podman, runc and mmdebstrap for the image tests, see scripts/build-image.sh),
# plus any command named as an argument whose package has the same name (`make bench` asks for wrk).
# Idempotent: does nothing when they are present. Needs root (or sudo) the first time.
set -euo pipefail
need=()
for command in chromium buildah podman runc mmdebstrap "$@"; do
  command -v "$command" >/dev/null 2>&1 || need+=("$command")
done
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "installing system packages: ${need[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
