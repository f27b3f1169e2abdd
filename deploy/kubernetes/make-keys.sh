#!/usr/bin/env bash
# Generates the keys the Kubernetes manifests put in Secrets (docs/kubernetes.md):
#   admin.key       the admin caller's key (tokenctl, the UI backend): Secret token-service-admin-key
#   verifier.key    the verifiers' key: Secret token-verifier-key, mounted by every sidecar
#   credentials     TokenService's caller list, SHA-256 digests only: Secret token-service-credentials
#   page_token.key  HMAC key for page tokens, shared by all replicas (used by overlays/postgres)
# Usage: deploy/kubernetes/make-keys.sh [DIR]   (default: deploy/kubernetes/base/keys)
# Refuses to overwrite existing keys unless FORCE=1. The files are 0600 and git-ignored.
set -euo pipefail
dir=${1:-$(dirname "$0")/base/keys}
mkdir -p "$dir"
for f in admin.key verifier.key credentials page_token.key; do
  if [ -e "$dir/$f" ] && [ "${FORCE:-0}" != 1 ]; then
    echo "make-keys: $dir/$f exists; FORCE=1 replaces every key (then restart TokenService and the verifiers)" >&2
    exit 1
  fi
done
umask 077
new_key() { echo "tkk_$(openssl rand -hex 32)"; }
digest() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
admin=$(new_key)
verifier=$(new_key)
printf '%s\n' "$admin" > "$dir/admin.key"
printf '%s\n' "$verifier" > "$dir/verifier.key"
{
  echo "# TokenService callers: <name> <role> <sha256 of key>. Keys are not stored here."
  echo "admin admin $(digest "$admin")"
  echo "verifier verifier $(digest "$verifier")"
} > "$dir/credentials"
openssl rand 32 > "$dir/page_token.key"
echo "make-keys: wrote admin.key, verifier.key, credentials, page_token.key to $dir"
