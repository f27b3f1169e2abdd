#!/usr/bin/env bash
# make run-ha: a throwaway high-availability setup in the foreground. A PostgreSQL 15 cluster
# under ./var/pg (initdb and pg_ctl run as the postgres user when this runs as root), two
# stateless TokenService replicas on it and one verifier attached to both. Ctrl-C stops
# everything: the verifier, the replicas, then PostgreSQL. Data stays in ./var/pg and
# ./var/ha for the next run; `rm -rf var/pg var/ha` starts afresh.
#
# Overridable for tests: BIN, VAR (default ./var), PG_PORT, REPLICA1_LISTEN, REPLICA2_LISTEN,
# VERIFIER_LISTEN, VERIFIER_HTTP_LISTEN.
set -uo pipefail
bin=${BIN:-bazel-bin}
var=$(realpath -m "${VAR:-./var}")
pg_port=${PG_PORT:-55432}
replica1=${REPLICA1_LISTEN:-127.0.0.1:50051}
replica2=${REPLICA2_LISTEN:-127.0.0.1:50052}
verifier_listen=${VERIFIER_LISTEN:-127.0.0.1:50061}
verifier_http_listen=${VERIFIER_HTTP_LISTEN:-127.0.0.1:9091}
pg_bin=/usr/lib/postgresql/15/bin
pg_dir="$var/pg"
database="postgresql://postgres@127.0.0.1:$pg_port/tokens?connect_timeout=5"

as_postgres=()
if [ "$(id -u)" -eq 0 ]; then as_postgres=(runuser -u postgres --); fi

mkdir -p "$pg_dir" "$var/ha/replica1" "$var/ha/replica2"
if [ "$(id -u)" -eq 0 ]; then
  chown postgres "$pg_dir"
  if ! runuser -u postgres -- test -w "$pg_dir"; then
    echo "the postgres user cannot reach $pg_dir (a parent directory is private); set VAR" >&2
    exit 1
  fi
fi
if [ ! -s "$pg_dir/data/PG_VERSION" ]; then
  "${as_postgres[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust >"$pg_dir/initdb.log" \
    || { echo "initdb failed, see $pg_dir/initdb.log" >&2; exit 1; }
fi
"${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1" start >/dev/null \
  || { echo "PostgreSQL failed to start, see $pg_dir/server.log" >&2; exit 1; }
"${as_postgres[@]}" "$pg_bin/../bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qtAc \
  "SELECT 1 FROM pg_database WHERE datname = 'tokens'" postgres | grep -q 1 \
  || "${as_postgres[@]}" /usr/bin/createdb -h 127.0.0.1 -p "$pg_port" -U postgres tokens

service1="" service2="" verifier=""
stop_all() {
  for pid in $verifier $service2 $service1; do
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null
  echo "stopped"
  exit 0
}
trap stop_all INT TERM

start_replica() {  # listen, data dir, http listen
  setsid "$bin/services/token_service" --database "$database" --listen "$1" --data-dir "$2" \
    --http-listen "$3" 2>>"$2/log.jsonl" &
}
# The first replica on an empty database creates the admin and verifier keys in its data dir.
start_replica "$replica1" "$var/ha/replica1" 127.0.0.1:0
service1=$!
key_dir=""
for _ in $(seq 300); do
  for dir in "$var/ha/replica1" "$var/ha/replica2"; do
    [ -s "$dir/verifier.key" ] && key_dir=$dir
  done
  [ -n "$key_dir" ] && break
  kill -0 "$service1" 2>/dev/null || { echo "replica 1 failed, see $var/ha/replica1/log.jsonl" >&2; stop_all; }
  sleep 0.1
done
[ -n "$key_dir" ] || { echo "no verifier.key after 30 s" >&2; stop_all; }
start_replica "$replica2" "$var/ha/replica2" 127.0.0.1:0
service2=$!

"$bin/verifier/token_verifier" --listen "$verifier_listen" --http-listen "$verifier_http_listen" \
  --token-service "$replica1,$replica2" --key-file "$key_dir/verifier.key" &
verifier=$!

echo "PostgreSQL: $database (data $pg_dir)"
echo "TokenService replicas: $replica1 and $replica2 (logs $var/ha/replica*/log.jsonl)"
echo "verifier: $verifier_listen   verifier HTTP: $verifier_http_listen"
echo "admin key: $key_dir/admin.key   Ctrl-C stops everything."
# Ctrl-C, or one of the processes ended: stop the rest.
wait -n "$service1" "$service2" "$verifier"
stop_all
