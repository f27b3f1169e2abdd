#!/usr/bin/env bash
# Starts TokenService and the verifier sidecar in the foreground with SYSTEM.md's defaults
# (data in ./var). Ctrl-C stops both.
set -uo pipefail
bin=bazel-bin
data_dir=${DATA_DIR:-./var}

"$bin/services/token_service" --listen 127.0.0.1:50051 --data-dir "$data_dir" &
service=$!
trap 'kill -TERM $service ${verifier:-} 2>/dev/null; wait; echo "stopped"; exit 0' INT TERM

# The verifier needs the key that TokenService writes on first start.
for _ in $(seq 100); do
  [ -s "$data_dir/verifier.key" ] && break
  kill -0 $service 2>/dev/null || { echo "token_service failed to start" >&2; exit 1; }
  sleep 0.1
done
"$bin/verifier/token_verifier" --listen 127.0.0.1:50061 --http-listen 127.0.0.1:9091 \
  --token-service 127.0.0.1:50051 --key-file "$data_dir/verifier.key" &
verifier=$!

echo "TokenService: 127.0.0.1:50051   verifier: 127.0.0.1:50061   verifier HTTP: 127.0.0.1:9091"
echo "admin key: $data_dir/admin.key   Ctrl-C stops both."
wait -n $service $verifier
kill -TERM $service $verifier 2>/dev/null
wait
