#!/usr/bin/env bash
# Runs every end-to-end test program (each installs the profiler as its
# global allocator) under Valgrind's memcheck, failing on any invalid read or
# write, use of uninitialised memory, or invalid free. Slow: minutes.
# Usage: scripts/memcheck.sh [test-name ...]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 1; }
cargo build --tests --examples -q
mapfile -t names < <(if (($#)); then printf '%s\n' "$@"; else ls tests/*.rs | xargs -n1 basename | sed 's/\.rs$//'; fi)
# dhat_agreement already runs under Valgrind (DHAT); nesting is not possible.
status=0
for name in "${names[@]}"; do
  [[ $name == dhat_agreement || $name == no_frame_pointers ]] && continue
  bin=$(ls -t target/debug/deps/"$name"-* 2>/dev/null | grep -v '\.d$' | head -n1)
  [[ -x $bin ]] || { echo "no binary for $name"; status=1; continue; }
  log=$(mktemp)
  if FORK_ROUNDS=10 THREADS_MIXED_OPS=100000 valgrind --tool=memcheck --error-exitcode=99 --leak-check=no --track-origins=no \
      --trace-children=no "$bin" >"$log" 2>&1; then
    echo "ok       $name"
  else
    echo "FAILED   $name (log: $log)"
    grep -E "Invalid|uninitialised|ERROR SUMMARY" "$log" | head -5
    status=1
  fi
done
exit $status
