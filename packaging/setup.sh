#!/usr/bin/env bash
# Sets up a Debian 12 machine for sluice and builds it. Idempotent: installs only what is missing.
#
#   packaging/setup.sh            install dependencies, build the release preset
#   packaging/setup.sh --demo     ... then run the daemon on conf/sluice.yaml with a demo log feed
#   packaging/setup.sh --test     ... then install the npm test peers and run every test (ctest),
#                                 then build the fuzz targets with clang and run each briefly,
#                                 then the unit and integration suites under ASan + UBSan and
#                                 the delivery engine's tests under ThreadSanitizer
#   packaging/setup.sh --deps     install dependencies only
#
# Environment: SLUICE_PRESET (default release) picks the CMake preset for --test and the build.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
mode="${1:-build}"
preset="${SLUICE_PRESET:-release}"

# Every Debian package the build, the tests and the test peers need.
packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libuv1-dev libyaml-cpp-dev libcurl4-openssl-dev libsnappy-dev zlib1g-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libpq-dev postgresql
  libpcre2-dev libnghttp2-dev libhttp-parser-dev libdeflate-dev libisal-dev
  rapidjson-dev libcli11-dev librdkafka-dev kcat liblua5.4-dev libsystemd-dev systemd-journal-remote
  libcbor-dev python3-boto3
  gzip unzip python3 procps chromium libfaketime
  clang libclang-rt-14-dev
)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_missing() {
  local missing=()
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  # node and npm may come from another Debian-compatible source; only ask for what is absent.
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"
  fi
}

npm_peers() {
  # The test peers (AWS SDK clients, s3rver, ...) are pinned in tests/package-lock.json.
  if [ -f tests/package-lock.json ]; then
    local stamp=tests/node_modules/.sluice-lock
    if [ ! -f "$stamp" ] || ! cmp -s tests/package-lock.json "$stamp"; then
      (cd tests && npm ci --no-audit --no-fund --loglevel=error)
      cp tests/package-lock.json "$stamp"
    fi
  fi
}

build() {
  cmake --preset "$1" -G Ninja >/dev/null
  cmake --build --preset "$1"
}

fuzz_smoke() {
  # The libFuzzer targets (clang, ASan + UBSan): only they and the libraries they need are built
  # in build/fuzz; each runs for a few seconds from its seed corpus (tests/fuzz/README.md).
  CC=clang CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSLUICE_FUZZ=ON -DSLUICE_BUILD_TESTS=OFF >/dev/null
  cmake --build build/fuzz --target fuzz
  ctest --test-dir build/fuzz -L fuzz --output-on-failure
}

sanitizers() {
  # ASan + UBSan (the asan preset): the unit and integration suites. The e2e, torture and
  # bench-smoke labels drive full-rate load with timing bounds meant for the release build; the
  # package and plugin-SDK builds check packaging and compilers, not sluice's memory.
  build asan
  ctest --preset asan -L '^(unit|integration)$' -E '^(package[.]deb|plugin_tool[.]sdk_projects)$'
  # ThreadSanitizer (the tsan preset): the threaded delivery engine (worker threads, the
  # consumer, transforms, the plugin host) and the Kinesis API's put workers; only their test
  # binaries are built.
  cmake --preset tsan -G Ninja >/dev/null
  cmake --build --preset tsan --target sluice_delivery_test sluice_api_workers_test
  ctest --preset tsan -R '^(DeliveryStreamTest|KinesisApiWorkersTest|KinesisApiDurableTest|DurableAcksTest)[.]'
}

install_missing "${packages[@]}"
case "$mode" in
  --deps) ;;
  build|--build) build "$preset" ;;
  --demo) build release; exec packaging/demo.sh ;;
  --test)
    npm_peers
    build "$preset"
    ctest --preset "$preset"
    fuzz_smoke
    sanitizers
    ;;
  *) echo "usage: $0 [--demo|--test|--deps]" >&2; exit 2 ;;
esac
