#!/usr/bin/env bash
# Builds the service image with buildah, on a machine that cannot pull from a registry (like CI's):
#   scripts/build-image.sh [TAG] [more buildah bud arguments...]     e.g. scripts/build-image.sh cloudgate:dev
# The base is Debian bookworm's python3 (3.11), made once with mmdebstrap into /var/cache/cloudgate and imported
# as localhost/cloudgate-base:bookworm; the image storage lives under /var/cache/cloudgate too (vfs: see
# scripts/containers/). Where registries work, `docker build .` (python:3.11-slim) is enough.
# Env: CLOUDGATE_CONTEXT (default: the repository), CLOUDGATE_BASE_IMAGE (default: the mmdebstrap base),
#      CLOUDGATE_IMAGE_CACHE (default: /var/cache/cloudgate; where the base tarball and pip's cache are kept).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/container-env.sh"
tag="${1:-localhost/cloudgate:latest}"
shift || true
context="${CLOUDGATE_CONTEXT:-$root}"
cache="${CLOUDGATE_IMAGE_CACHE:-/var/cache/cloudgate}"
base_tar="$cache/base-bookworm.tar"
base_image="${CLOUDGATE_BASE_IMAGE:-localhost/cloudgate-base:bookworm}"

if [ "$base_image" = localhost/cloudgate-base:bookworm ] && ! podman image exists "$base_image"; then
  mkdir -p "$cache"
  # One builder at a time makes the base; the others wait for it and then import the same tarball.
  exec 9>"$cache/base.lock"
  flock 9
  if ! podman image exists "$base_image"; then
    if [ ! -f "$base_tar" ] || [ ! -s "$base_tar" ]; then
      echo "building the Debian base with mmdebstrap (once per machine, a few minutes)" >&2
      # mmdebstrap picks its output format from the file name: the partial file must end in .tar (an unknown
      # suffix makes a directory). A partial file or folder left by an interrupted run is removed first.
      partial="$cache/base-bookworm.partial.tar"
      rm -rf "$partial" "$base_tar"
      mmdebstrap --format=tar --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$partial" http://deb.debian.org/debian
      mv "$partial" "$base_tar"
    fi
    podman import --quiet "$base_tar" "$base_image" >/dev/null
  fi
  flock -u 9
fi

# chroot isolation: no nested runtime needed. Mounted into every RUN, never into the image: the host's CA bundle
# (pip trusts what the host trusts) and pip's cache, kept between builds (it caches what the index lets it).
# No --layers: with vfs storage every committed layer is a full copy of the tree, so one commit per stage is
# much faster than caching each step.
mkdir -p "$cache/pip"
podman image prune --force >/dev/null 2>&1 || true  # images an earlier build left untagged
exec buildah bud --quiet --isolation chroot -v /etc/ssl/certs:/etc/ssl/certs:ro -v "$cache/pip:/root/.cache/pip" \
  --build-arg "BASE=$base_image" --tag "$tag" "$@" "$context"
