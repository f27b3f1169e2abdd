#!/usr/bin/env bash
# Starts TokenService and the verifier sidecar in the foreground with the documented defaults
# (data in ./var). Ctrl-C stops both: the verifier first, so that its last usage report still
# reaches TokenService, then TokenService.
#
# Overridable for tests: BIN (where the binaries are), DATA_DIR, SERVICE_LISTEN,
# VERIFIER_LISTEN, VERIFIER_HTTP_LISTEN.
set -uo pipefail
bin=${BIN:-bazel-bin}
data_dir=${DATA_DIR:-./var}
service_listen=${SERVICE_LISTEN:-127.0.0.1:50051}
verifier_listen=${VERIFIER_LISTEN:-127.0.0.1:50061}
verifier_http_listen=${VERIFIER_HTTP_LISTEN:-127.0.0.1:9091}

# TokenService runs in a session of its own: Ctrl-C in the terminal reaches the verifier (and
# this script) but not TokenService, which this script stops once the verifier has exited.
setsid "$bin/services/token_service" --listen "$service_listen" --data-dir "$data_dir" &
service=$!
verifier=""

stop_all() {
  if [ -n "$verifier" ]; then
    kill -TERM "$verifier" 2>/dev/null
    wait "$verifier" 2>/dev/null
  fi
  kill -TERM "$service" 2>/dev/null
  wait "$service" 2>/dev/null
  echo "stopped"
  exit 0
}
trap stop_all INT TERM

# The verifier needs the key that TokenService writes on first start.
for _ in $(seq 100); do
  [ -s "$data_dir/verifier.key" ] && break
  kill -0 "$service" 2>/dev/null || { echo "token_service failed to start" >&2; exit 1; }
  sleep 0.1
done
"$bin/verifier/token_verifier" --listen "$verifier_listen" --http-listen "$verifier_http_listen" \
  --token-service "$service_listen" --key-file "$data_dir/verifier.key" &
verifier=$!

echo "TokenService: $service_listen   verifier: $verifier_listen   verifier HTTP: $verifier_http_listen"
echo "admin key: $data_dir/admin.key   Ctrl-C stops both."
wait -n "$service" "$verifier"
stop_all
