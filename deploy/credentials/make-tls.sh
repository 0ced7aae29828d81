#!/usr/bin/env bash
# make-tls.sh DIR [NAMESPACE]: a CA and TLS certificates for the four
# backends, with openssl.
#
# Writes into DIR (created, mode 0700):
#   ca.crt, ca.key       the CA (ECDSA P-256, 10 years). Keep ca.key offline:
#                        it is only needed to issue certificates again.
#   <service>.crt/.key   for directory, access, licensing and audit
#                        (ECDSA P-256, DAYS days, 825 by default), signed by
#                        the CA, for server and client authentication:
#                        CommonName steward-<service>, which authenticates
#                        the service to the others (their -tls-client-ca),
#                        and as names <service>, <service>.NAMESPACE,
#                        <service>.NAMESPACE.svc (the addresses of
#                        deploy/kubernetes/10-config.yaml; NAMESPACE is
#                        steward by default),
#                        <service>.NAMESPACE.svc.cluster.local, localhost and
#                        127.0.0.1.
# Each backend uses its own pair both to serve (-tls-cert, -tls-key) and to
# call the others (-peer-tls-cert, -peer-tls-key), and ca.crt to verify
# them (-tls-client-ca, -peer-tls-ca); the gateway needs ca.crt alone
# (-tls-ca). Existing files are never overwritten. Other names (another
# cluster domain, hosts of systemd units): issue certificates the same way
# with your own CA, or edit the names below.
set -euo pipefail
umask 077

dir=${1:?usage: make-tls.sh DIR [NAMESPACE]}
ns=${2:-steward}
days=${DAYS:-825}
services=(directory access licensing audit)

command -v openssl >/dev/null || { echo "make-tls.sh: openssl is not installed" >&2; exit 1; }
for f in ca.crt ca.key "${services[@]/%/.crt}" "${services[@]/%/.key}"; do
  if [[ -e $dir/$f ]]; then
    echo "make-tls.sh: $dir/$f exists; nothing written" >&2
    exit 1
  fi
done
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$tmp/ca.key" -out "$tmp/ca.crt" -days 3650 -subj "/CN=Steward CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

for s in "${services[@]}"; do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tmp/$s.key" -out "$tmp/$s.csr" -subj "/CN=steward-$s" 2>/dev/null
  cat >"$tmp/$s.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:$s,DNS:$s.$ns,DNS:$s.$ns.svc,DNS:$s.$ns.svc.cluster.local,DNS:localhost,IP:127.0.0.1
EOF
  openssl x509 -req -in "$tmp/$s.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
    -out "$tmp/$s.crt" -days "$days" -extfile "$tmp/$s.ext" 2>/dev/null
done

for f in ca.crt ca.key "${services[@]/%/.crt}" "${services[@]/%/.key}"; do
  mv "$tmp/$f" "$dir/$f"
done
echo "make-tls.sh: wrote ca.crt, ca.key and a certificate and key for each of ${services[*]} in $dir"
