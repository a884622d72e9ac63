#!/usr/bin/env bash
# Writes a throwaway PKI for the TLS tests into DIR (created): a CA (ca.pem, ca.key), a server
# certificate it signed for localhost and 127.0.0.1 (server.pem, server.key), a second one for
# reload tests (server2.pem, server2.key), a client certificate (client.pem, client.key), and a
# CA nobody trusts with a server and a client certificate of its own (rogue-*.pem/key). Keys are
# P-256, owner-only; everything is valid for two days.
#   make_certs.sh DIR
set -euo pipefail
dir=${1:?usage: make_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077
ossl() { openssl "$@" 2>/dev/null; }
key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

ca() {  # name subject
  key "$1.key"
  ossl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

leaf() {  # name ca subject usage
  key "$1.key"
  ossl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$3"
  printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=%s\n' \
    "$4" > "$1.ext"
  ossl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" \
    -days 2 -extfile "$1.ext"
  rm -f "$1.csr" "$1.ext"
}

ca ca "sluice test CA"
leaf server ca "sluice test server" serverAuth
leaf server2 ca "sluice test server 2" serverAuth
leaf client ca "sluice test client" clientAuth
ca rogue-ca "untrusted test CA"
leaf rogue-server rogue-ca "untrusted server" serverAuth
leaf rogue-client rogue-ca "untrusted client" clientAuth
chmod 644 ./*.pem
