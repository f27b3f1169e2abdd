#!/usr/bin/env bash
# Installs this folder's npm packages (kubernetes-models, yaml) from package-lock.json when they
# are missing or the lock file changed; otherwise does nothing and needs no network.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing the manifest tools (npm ci in deploy/kubernetes/tools)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi
