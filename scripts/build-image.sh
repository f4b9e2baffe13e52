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
base_image="${CLOUDGATE_BASE_IMAGE:-localhost/cloudgate-base:bookworm}"

if [ "$base_image" = localhost/cloudgate-base:bookworm ] && ! podman image exists "$base_image"; then
  base_tar="$("$root/scripts/build-base.sh" "$cache")"
  # One builder at a time imports the base; the others wait for it.
  exec 9>"$cache/base.lock"
  flock 9
  if ! podman image exists "$base_image"; then
    echo "cloudgate: importing $base_tar as $base_image" >&2
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
exec buildah bud --isolation chroot -v /etc/ssl/certs:/etc/ssl/certs:ro -v "$cache/pip:/root/.cache/pip" \
  --build-arg "BASE=$base_image" --tag "$tag" "$@" "$context"
