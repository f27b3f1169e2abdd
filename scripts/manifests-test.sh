#!/usr/bin/env bash
# `make manifests-test`: renders the base and each overlay of deploy/kubernetes with
# `kubectl kustomize` and validates every rendered object offline against the Kubernetes
# OpenAPI schema, plus the security settings docs/kubernetes.md promises
# (deploy/kubernetes/tools/validate.mjs). A copy of the tree gets throwaway keys, so your own
# deploy/kubernetes/base/keys are neither needed nor read. Then proves the check can fail: a
# deliberately broken copy of a rendered object must be rejected.
#
# Needs kubectl (kustomize) and node; npm installs the validator once into
# deploy/kubernetes/tools/node_modules (from package-lock.json); after that it runs offline.
# Ends with PASS or FAIL; exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
repo=$PWD
k8s=$repo/deploy/kubernetes
tools=$k8s/tools

fail() { echo "manifests-test: $*"; echo "FAIL"; exit 1; }

scripts/install-deps.sh kubectl nodejs >/dev/null || fail "installing kubectl and nodejs failed"
command -v npm >/dev/null || scripts/install-deps.sh npm >/dev/null || fail "installing npm failed"

"$tools/install.sh" || fail "npm ci in deploy/kubernetes/tools failed"

work=$(mktemp -d "${TMPDIR:-/tmp}/manifests-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/k8s"
cp -r "$k8s/base" "$k8s/overlays" "$k8s/make-keys.sh" "$work/k8s/"
rm -f "$work/k8s/base/keys/"*.key "$work/k8s/base/keys/credentials"
"$work/k8s/make-keys.sh" "$work/k8s/base/keys" >/dev/null || fail "make-keys.sh failed"

status=0
for target in base overlays/sqlite overlays/postgres; do
  out=$work/$(echo "$target" | tr / -).yaml
  echo "== $target"
  if ! kubectl kustomize "$work/k8s/$target" > "$out" 2> "$work/err"; then
    cat "$work/err"
    echo "manifests-test: kubectl kustomize $target failed"
    status=1
    continue
  fi
  node "$tools/validate.mjs" "$out" || status=1
done

# Negative control: the same validator must reject broken objects (a schema type error, an
# enum outside the schema, a missing required field, and a dropped security setting).
echo "== negative control (each must be rejected)"
broken=$work/overlays-sqlite.yaml
check_rejects() {
  local what=$1 expr=$2
  sed -E "$expr" "$broken" > "$work/broken.yaml"
  cmp -s "$broken" "$work/broken.yaml" && { echo "negative control '$what': the edit changed nothing"; status=1; return; }
  if node "$tools/validate.mjs" "$work/broken.yaml" > "$work/broken.out" 2>&1; then
    echo "NOT rejected: $what"; status=1
  else
    echo "rejected: $what ($(grep -m1 -E '^ +' "$work/broken.out" | sed -E 's/^ +//'))"
  fi
}
check_rejects "replicas as a string" 's/^  replicas: 1$/  replicas: "one"/'
check_rejects "unknown seccomp profile type" '0,/type: RuntimeDefault/s//type: Sometimes/'
check_rejects "container without a name" 's/^        name: app$/        tty: false/'
check_rejects "capabilities not dropped" '0,/- ALL/s//- NET_RAW/'

if [ $status -eq 0 ]; then echo "PASS"; else echo "FAIL"; fi
exit $status
