#!/usr/bin/env bash
# `make image`: builds the OCI image with token_service, token_verifier and tokenctl from Debian
# packages only, with no container registry (docs/kubernetes.md).
#
#   1. bazel builds the three binaries (-c opt);
#   2. `ldd` + `dpkg -S` name the Debian packages that hold their shared libraries;
#   3. mmdebstrap extracts just those packages (and their dependencies) into a root filesystem
#      tarball, adds /etc/passwd with the non-root user 65532, and drops docs and apt state;
#   4. `podman import` makes that tarball a base image, and `podman build` with
#      deploy/image/Containerfile adds the binaries.
#
# Environment:
#   IMAGE        name of the result (default localhost/deployment-tokens:latest)
#   SKIP_BUILD=1 use the binaries already in Bazel's output tree, do not run bazel
#   PODMAN_CONF  containers.conf for podman (default deploy/image/containers.conf, the sandbox
#                settings); PODMAN_CONF= (empty) uses the host's own podman configuration
#   SUITE        Debian suite of the root filesystem (default: this host's, e.g. bookworm)
#   MIRROR       Debian mirror URL for mmdebstrap (default: mmdebstrap's own)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

IMAGE=${IMAGE:-localhost/deployment-tokens:latest}
BAZEL=${BAZEL:-bazel}
PODMAN_CONF=${PODMAN_CONF-$repo/deploy/image/containers.conf}
[ -n "$PODMAN_CONF" ] && export CONTAINERS_CONF=$PODMAN_CONF
binaries=(services/token_service verifier/token_verifier cli/tokenctl)
# Not a library of the binaries: the shell tools of the Kubernetes init step that installs the
# credentials file into the data directory (token_service has no flag for its location).
extra_packages=(busybox)

log() { echo "image: $*" >&2; }

scripts/install-deps.sh mmdebstrap podman runc uidmap

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "building ${binaries[*]} (-c opt)"
  "$BAZEL" build -c opt //services:token_service //verifier:token_verifier //cli:tokenctl
fi
bin_dir=$("$BAZEL" info -c opt bazel-bin 2>/dev/null)

work=$(mktemp -d "${TMPDIR:-/tmp}/tokens-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/context"
for b in "${binaries[@]}"; do
  [ -x "$bin_dir/$b" ] || { log "missing $bin_dir/$b"; exit 1; }
  # Debug info off (-g1 in .bazelrc); symbols stay for readable stack traces.
  strip --strip-debug -o "$work/context/$(basename "$b")" "$bin_dir/$b"
done

# The Debian package of every shared library the binaries load. dpkg records paths as shipped
# (/lib/... or /usr/lib/...), which on a merged-/usr host may differ from what ldd prints.
owner_of() {
  local lib=$1 real p
  real=$(realpath "$lib")
  for p in "$lib" "$real" "/usr$lib" "${lib#/usr}" "/usr$real" "${real#/usr}"; do
    dpkg -S "$p" 2>/dev/null | head -n 1 | cut -d: -f1 && return 0
  done
  return 1
}
declare -A packages=()
for b in "$work"/context/*; do
  while read -r lib; do
    pkg=$(owner_of "$lib") || { log "no Debian package owns $lib (needed by $(basename "$b"))"; exit 1; }
    packages[$pkg]=1
  done < <(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }')
done
for p in "${extra_packages[@]}"; do packages[$p]=1; done
include=$(printf '%s\n' "${!packages[@]}" | sort | paste -sd, -)
log "runtime packages: ${include//,/ }"

suite=${SUITE:-$(. /etc/os-release && echo "$VERSION_CODENAME")}
# extract: only the named packages and their dependencies are unpacked (no Essential set, no
# dpkg, no shell but busybox); the hooks run on the host with the root directory as $1.
mmdebstrap --quiet --variant=extract --include="$include" \
  --customize-hook='printf "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/var/lib/token-service:/sbin/nologin\n" > "$1/etc/passwd"' \
  --customize-hook='printf "root:x:0:\nnonroot:x:65532:\n" > "$1/etc/group"' \
  --customize-hook='printf "passwd: files\ngroup: files\nhosts: files dns\n" > "$1/etc/nsswitch.conf"' \
  --customize-hook='mkdir -p "$1/tmp" "$1/var/lib/token-service" && chmod 1777 "$1/tmp" && chown 65532:65532 "$1/var/lib/token-service" && chmod 0700 "$1/var/lib/token-service"' \
  --customize-hook='rm -rf "$1"/usr/share/doc "$1"/usr/share/man "$1"/usr/share/info "$1"/usr/share/locale "$1"/usr/share/lintian "$1"/etc/apt "$1"/var/lib/apt "$1"/var/cache/apt "$1"/var/lib/dpkg "$1"/etc/dpkg' \
  --customize-hook='ldconfig -r "$1"' \
  "$suite" "$work/rootfs.tar" ${MIRROR:+"$MIRROR"}

revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
base="localhost/deployment-tokens-base:$revision"
log "importing the root filesystem as $base"
podman import --quiet "$work/rootfs.tar" "$base" >/dev/null
cp deploy/image/Containerfile "$work/context/Containerfile"
log "building $IMAGE"
podman build --quiet --pull=never --layers=false --build-arg BASE="$base" --build-arg REVISION="$revision" \
  -t "$IMAGE" -f "$work/context/Containerfile" "$work/context" >/dev/null
podman image rm "$base" >/dev/null 2>&1 || true
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "built $IMAGE ($((size / 1024 / 1024)) MiB, revision $revision, packages: ${include//,/ })"
