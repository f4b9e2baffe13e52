# Sourced (`. scripts/container-env.sh`) before podman or buildah on machines like CI's: root, no overlayfs,
# no systemd. Points both at scripts/containers/ (vfs storage under /var/cache/cloudgate, runc, cgroupfs, no
# default ulimits). Settings already in the environment win, so a machine with its own podman setup can keep it.
_cloudgate_containers="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/containers"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$_cloudgate_containers/containers.conf}"
export CONTAINERS_STORAGE_CONF="${CONTAINERS_STORAGE_CONF:-$_cloudgate_containers/storage.conf}"
unset _cloudgate_containers
