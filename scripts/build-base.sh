#!/usr/bin/env bash
# Makes the Debian bookworm base tarball that scripts/build-image.sh imports, once per cache folder:
#   scripts/build-base.sh [CACHE_DIR]      (default: $CLOUDGATE_IMAGE_CACHE, else /var/cache/cloudgate)
# Writes CACHE_DIR/base-bookworm.tar (minbase + python3, python3-venv, ca-certificates, from deb.debian.org) and
# prints its path. An existing non-empty tarball is kept; a partial one left by an interrupted run is removed.
set -euo pipefail
cache="${1:-${CLOUDGATE_IMAGE_CACHE:-/var/cache/cloudgate}}"
base_tar="$cache/base-bookworm.tar"
mkdir -p "$cache"
# One builder at a time makes the tarball; the others wait for it and then use the same file.
exec 9>"$cache/base-tar.lock"
flock 9
if [ ! -f "$base_tar" ] || [ ! -s "$base_tar" ]; then
  echo "cloudgate: building the Debian base with mmdebstrap into $cache (once per machine, a few minutes)" >&2
  # mmdebstrap picks its output format from the file name: the partial file must end in .tar (an unknown
  # suffix makes a directory, which podman import refuses). --format=tar says it outright too.
  partial="$cache/base-bookworm.partial.tar"
  rm -rf "$partial" "$base_tar"
  # --verbose: apt's download and unpack lines, so a first build is not silent for minutes.
  mmdebstrap --verbose --format=tar --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$partial" http://deb.debian.org/debian >&2
  mv "$partial" "$base_tar"
fi
echo "$base_tar"
