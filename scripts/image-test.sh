#!/usr/bin/env bash
# `make image-test`: runs TokenService and the verifier from the image with podman, the way
# deploy/kubernetes/overlays/sqlite runs them, and walks a token's life through them.
#
# The command and args of each container are read from the rendered manifests (kubectl
# kustomize + deploy/kubernetes/tools/container-spec.mjs), not copied here. As in a pod: the
# init step installs the credentials from a read-only "Secret" folder into the data volume,
# then TokenService and the verifier sidecar share one network namespace (no host
# networking, no published ports: nothing else on the machine is touched), with the manifests'
# security settings (non-root 65532, read-only root filesystem, every capability dropped, no
# privilege escalation, a tmpfs /tmp). The Service name token-service resolves to loopback.
#
# Checks: both report grpc.health.v1 SERVING (a raw gRPC call with curl over HTTP/2 from inside
# the network namespace), then tokenctl from the image: create -> check (allowed) -> delete ->
# check (denied). Prints PASS or FAIL; exits non-zero on failure.
#
# Environment: IMAGE (default localhost/deployment-tokens:latest; built by scripts/image.sh
# when missing), PODMAN_CONF as in scripts/image.sh.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
repo=$PWD

IMAGE=${IMAGE:-localhost/deployment-tokens:latest}
PODMAN_CONF=${PODMAN_CONF-$repo/deploy/image/containers.conf}
[ -n "$PODMAN_CONF" ] && export CONTAINERS_CONF=$PODMAN_CONF
k8s=$repo/deploy/kubernetes
tag=tokens-image-test-$$
svc=$tag-token-service
ver=$tag-verifier

fail() { echo "image-test: $*"; dump_logs; echo "FAIL"; exit 1; }
dump_logs() {
  for c in "$svc" "$ver"; do
    podman container exists "$c" 2>/dev/null || continue
    echo "--- logs of $c (last 20 lines)"
    podman logs "$c" 2>&1 | tail -n 20
  done
}
cleanup() {
  # One at a time: podman 4.3 skips the rest of the list after a name it cannot find.
  local c
  for c in "$ver" "$svc"; do podman rm -f -t 6 "$c" >/dev/null 2>&1; done
  [ -n "${work:-}" ] && rm -rf "$work"
}
trap cleanup EXIT

scripts/install-deps.sh podman runc uidmap kubectl nodejs curl >/dev/null || fail "installing packages failed"
command -v npm >/dev/null || scripts/install-deps.sh npm >/dev/null || fail "installing npm failed"
"$k8s/tools/install.sh" || fail "npm ci in deploy/kubernetes/tools failed"

if ! podman image exists "$IMAGE"; then
  echo "image-test: $IMAGE not found, building it (scripts/image.sh)"
  IMAGE=$IMAGE scripts/image.sh || fail "scripts/image.sh failed"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/image-test.XXXXXX")
chmod 0755 "$work"

# The manifests, rendered with throwaway keys (what the Secrets would hold).
mkdir "$work/k8s"
cp -r "$k8s/base" "$k8s/overlays" "$k8s/make-keys.sh" "$work/k8s/"
rm -f "$work/k8s/base/keys/"*.key "$work/k8s/base/keys/credentials"
"$work/k8s/make-keys.sh" "$work/k8s/base/keys" >/dev/null || fail "make-keys.sh failed"
kubectl kustomize "$work/k8s/overlays/sqlite" > "$work/rendered.yaml" || fail "kubectl kustomize failed"
spec() {  # KIND NAME CONTAINER -> the array named by $4
  local -n spec_words=$4
  mapfile -d '' spec_words < <(node "$k8s/tools/container-spec.mjs" "$work/rendered.yaml" "$1" "$2" "$3")
  [ ${#spec_words[@]} -gt 0 ] || fail "no command for $1/$2 container $3 in the rendered manifests"
}
init_cmd=() service_cmd=() verifier_cmd=()
spec StatefulSet token-service install-credentials init_cmd
spec StatefulSet token-service token-service service_cmd
spec Deployment example-app token-verifier verifier_cmd
echo "image-test: token-service: ${service_cmd[*]}"
echo "image-test: token-verifier: ${verifier_cmd[*]}"

# Volumes as the pods see them: Secret files 0440, group 65532 (fsGroup); the data volume's
# root writable by group 65532.
keys=$work/k8s/base/keys
mkdir -p "$work/secret-credentials" "$work/secret-verifier" "$work/secret-admin" "$work/data"
cp "$keys/credentials" "$keys/page_token.key" "$work/secret-credentials/"
cp "$keys/verifier.key" "$work/secret-verifier/"
cp "$keys/admin.key" "$work/secret-admin/"
chown -R 0:65532 "$work"/secret-*; chmod 0750 "$work"/secret-*; chmod 0440 "$work"/secret-*/*
chown 0:65532 "$work/data"; chmod 2775 "$work/data"
printf '127.0.0.1 localhost token-service\n::1 localhost\n' > "$work/hosts"
chmod 0644 "$work/hosts"

# shellcheck disable=SC2054  # the commas are tmpfs options
restricted=(--user 65532:65532 --group-add 65532 --read-only --cap-drop ALL
  --security-opt no-new-privileges --tmpfs /tmp:rw,size=64m)

echo "image-test: init step (install-credentials)"
podman run --rm --network none "${restricted[@]}" \
  -v "$work/data:/var/lib/token-service" -v "$work/secret-credentials:/etc/token-service:ro" \
  "$IMAGE" "${init_cmd[@]}" || fail "the install-credentials init step failed"

podman run -d --name "$svc" --network none "${restricted[@]}" -v "$work/hosts:/etc/hosts:ro" \
  -v "$work/data:/var/lib/token-service" "$IMAGE" "${service_cmd[@]}" >/dev/null \
  || fail "starting token_service failed"
podman run -d --name "$ver" --network "container:$svc" "${restricted[@]}" \
  -v "$work/hosts:/etc/hosts:ro" -v "$work/secret-verifier:/etc/token-verifier:ro" \
  "$IMAGE" "${verifier_cmd[@]}" >/dev/null || fail "starting token_verifier failed"
pid=$(podman inspect --format '{{.State.Pid}}' "$svc")

# grpc.health.v1.Health/Check with an empty request: one gRPC frame of 0 bytes. The answer
# SERVING is the frame 00 00000002 08 01 (field 1 = 1).
health() {  # PORT -> prints the status frame as hex
  nsenter -t "$pid" -n curl -s --max-time 2 --http2-prior-knowledge -X POST \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    --data-binary @<(printf '\0\0\0\0\0') "http://127.0.0.1:$1/grpc.health.v1.Health/Check" \
    | od -An -tx1 | tr -d ' \n'
}
wait_serving() {  # NAME PORT CONTAINER
  local got=""
  for _ in $(seq 100); do
    [ "$(podman inspect --format '{{.State.Running}}' "$3" 2>/dev/null)" = true ] \
      || fail "$1 exited before it was SERVING"
    got=$(health "$2")
    [ "$got" = 00000000020801 ] && { echo "ok: $1 grpc.health.v1 SERVING on :$2"; return 0; }
    sleep 0.2
  done
  fail "$1 is not SERVING on :$2 after 20 s (last answer: '${got:-none}')"
}
wait_serving token_service 50051 "$svc"
wait_serving token_verifier 50061 "$ver"

user=$(podman exec "$svc" busybox id -u 2>/dev/null)
[ "$user" = 65532 ] || fail "token_service runs as uid '$user', want 65532"
echo "ok: token_service runs as uid 65532"

tokenctl() {  # from the image, in the pod's network namespace, with the admin key Secret
  podman run --rm --network "container:$svc" "${restricted[@]}" \
    -v "$work/secret-admin:/etc/token-service-admin:ro" \
    -e TOKENS_ADMIN_KEY_FILE=/etc/token-service-admin/admin.key -e ASTRO_API_TOKEN="${token:-}" \
    "$IMAGE" /usr/local/bin/tokenctl "$@"
}
deployment=$(printf '%s\n' "${verifier_cmd[@]}" | sed -n 's/^--deployment=//p')
deployment=${deployment:-my-deployment}

token=$(tokenctl token create --deployment "$deployment" --name image-test --expiration-days 1 -o value) \
  || fail "tokenctl token create failed"
[[ $token == dpt_* ]] || fail "token create printed no token value"
id=$(tokenctl token list --deployment "$deployment" -o id | tail -n 1)
[ -n "$id" ] || fail "token list shows no token"
echo "ok: created token $id on $deployment"

allowed=""
for _ in $(seq 50); do
  out=$(tokenctl check --deployment "$deployment" --operation deployment.envVars.create 2>&1) \
    && { allowed=1; break; }
  sleep 0.1
done
[ -n "$allowed" ] || fail "check of the new token was not allowed: $out"
echo "ok: check allowed (${out%%$'\n'*})"

tokenctl token delete "$id" --yes >/dev/null || fail "tokenctl token delete failed"
echo "ok: deleted $id"

denied=""
for _ in $(seq 50); do
  out=$(tokenctl check --deployment "$deployment" --operation deployment.envVars.create 2>&1)
  rc=$?
  [ $rc -eq 1 ] && { denied=1; break; }
  sleep 0.1
done
[ -n "$denied" ] || fail "check of the deleted token was not denied (exit $rc): $out"
echo "ok: check denied after delete (${out%%$'\n'*})"

echo "PASS"
