#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine with Rust:
#   1. installs the peers the tests drive (SIPp, baresip, PostgreSQL, sox, espeak-ng, tshark…)
#      with apt-get, and schemathesis with pip, when they are missing;
#   2. starts a throwaway PostgreSQL cluster (stopped again on exit);
#   3. runs every test: unit, property, integration with real peers, RFC 4475 conformance.
# Under CI=true a test whose peer is missing fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have sipp      || need+=(sip-tester)
have baresip   || need+=(baresip-core)
have espeak-ng || need+=(espeak-ng)
have sox       || need+=(sox)
have curl      || need+=(curl)           # the README's commands (tests/readme.rs)
have tshark    || need+=(tshark)
have tcpdump   || need+=(tcpdump)
have xxd       || need+=(xxd)
have unshare   || need+=(util-linux)
have ip        || need+=(iproute2)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
/usr/bin/python3 -c 'import numpy' 2>/dev/null || need+=(python3-numpy)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# schemathesis (PyPI) checks the API against its OpenAPI document.
have schemathesis || { python3 -m pip install -q schemathesis && { command -v pyenv >/dev/null && pyenv rehash || true; }; }

if [ -x scripts/pg-test.sh ]; then
  # A cluster of this run's own (two runs at once must not share one); the fault tests'
  # pause/resume find it through the same variable.
  QONYRAU_PG_STATE=${QONYRAU_PG_STATE:-$(mktemp -d /tmp/qonyrau-pg.XXXXXX)}
  export QONYRAU_PG_STATE
  QONYRAU_TEST_PG_URL=$(scripts/pg-test.sh start)
  export QONYRAU_TEST_PG_URL
  trap 'scripts/pg-test.sh stop >/dev/null 2>&1 || true' EXIT
fi

export QONYRAU_TEST_PEERS=1
cargo test --all-targets -- --test-threads="${QONYRAU_TEST_THREADS:-2}"
