#!/usr/bin/env bash
# make-credentials.sh DIR: new credentials for a Steward deployment.
#
# Writes into DIR (created, mode 0700) one secret per service, in the files
# directory, access, licensing, audit and gateway (32 random bytes, base64url
# without padding, mode 0600), and services.sha256: each service's name with
# the SHA-256 (hex) of its secret's bytes, which every backend verifies its
# callers against. This is what the launcher (`make run`) creates in
# data/credentials/; a deployment makes them once, keeps them safe, and hands
# each service its own secret and services.sha256 (deploy/kubernetes: Secrets;
# deploy/systemd: /etc/steward/credentials/). Existing files are never
# overwritten: to rotate one secret, write a new set elsewhere and copy.
set -euo pipefail
umask 077

dir=${1:?usage: make-credentials.sh DIR}
services=(directory access licensing audit gateway)

for s in "${services[@]}" services.sha256; do
  if [[ -e $dir/$s ]]; then
    echo "make-credentials.sh: $dir/$s exists; nothing written" >&2
    exit 1
  fi
done
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

{
  echo "# Steward's trusted services: a service name, then the SHA-256 (hex) of its secret."
  for s in "${services[@]}"; do
    head -c 32 /dev/urandom >"$tmp/raw"
    # base64url, no padding: the form the services read and send.
    base64 -w0 <"$tmp/raw" | tr '+/' '-_' | tr -d '=' >"$dir/$s"
    echo >>"$dir/$s"
    echo "$s $(sha256sum <"$tmp/raw" | cut -d' ' -f1)"
  done
} >"$tmp/services.sha256"
mv "$tmp/services.sha256" "$dir/services.sha256"
echo "make-credentials.sh: wrote ${services[*]} and services.sha256 in $dir"
