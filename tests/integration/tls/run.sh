#!/usr/bin/env bash
# Runs tls.test.mjs with a throwaway PKI (make_certs.sh) whose CA node trusts through
# NODE_EXTRA_CA_CERTS, as an operator's clients would trust the CA that signed the daemon's
# certificate; the AWS SDK's HTTP/2 handler takes no CA option of its own.
#   run.sh NODE SLUICE_BIN [TEST_FILE]   (default: tls.test.mjs beside this script)
set -euo pipefail
node=${1:?usage: run.sh NODE SLUICE_BIN [TEST_FILE]}
export SLUICE_BIN=${2:?usage: run.sh NODE SLUICE_BIN [TEST_FILE]}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$(mktemp -d -t sluice-tls-XXXXXX)
trap 'rm -rf "$dir"' EXIT
bash "$here/make_certs.sh" "$dir/certs"
export SLUICE_TLS_CERTS="$dir/certs" SLUICE_TLS_WORK="$dir/work"
NODE_EXTRA_CA_CERTS="$dir/certs/ca.pem" "$node" --test "$here/${3:-tls.test.mjs}"
