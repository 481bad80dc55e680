#!/usr/bin/env bash
# Runs the profiler's bookkeeping structures (spin lock, live table, block
# headers and their bitmap, stack table, rings, heap clock, sampler, OS
# memory, thread state) under Miri.
# Stack capture and symbolization use inline assembly and the system
# unwinder, which Miri cannot run; they are covered by the end-to-end tests
# and scripts/memcheck.sh. Needs a nightly toolchain with the miri component.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "SKIPPED: Miri needs a nightly toolchain with miri (rustup component add --toolchain nightly miri rust-src)"
  exit 0
fi
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/miri-build" \
  cargo +nightly miri test -p alloc-profiler --lib -- \
  spin:: live_table:: stack_table:: record:: heap:: figures:: os_mem:: thread:: header:: \
  sampling::tests::weights sampling::tests::the_filter
