#!/usr/bin/env bash
# Runs the daemon on the embedded default config (conf/sluice.yaml) with a demo feed: a small
# generator appends web-server lines to var/log/demo.log, the agent tails them into the broker
# stream `app-logs`, and the `archive` delivery writes objects under var/out/. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=build/release
mkdir -p var/log var/out
"$bin/tests/bench/tools/sluice-loggen" --out var/log/demo.log --rate 20 --lines 100000000 \
  >/dev/null &
gen=$!
trap 'kill $gen 2>/dev/null || true' EXIT INT TERM
cat <<MSG
sluice demo
  input:    var/log/demo.log (a generator appends 20 lines/s)
  broker:   var/data/ (stream app-logs), Kinesis API on 127.0.0.1:4567
  output:   var/out/ (the file sink; a new object every few seconds)
  errors:   var/errors/
  look:     ls -R var/out | tail; curl -s 127.0.0.1:4195/status
  stop:     Ctrl-C
MSG
"$bin/sluice" run -c conf/sluice.yaml
