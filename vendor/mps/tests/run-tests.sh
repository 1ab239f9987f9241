#!/bin/sh
# run-tests.sh ENV DIR TEST... [-- DIR TEST...]...
#
# Run each test program DIR/tests/TEST with the environment assignments in
# ENV (a string of VAR=value words, may be empty), output to
# DIR/tests/TEST.log.  Prints one line per test (result, variety/test, time,
# seed); at the first failure prints the tail of the log and exits 1.
# A test running longer than TEST_TIMEOUT seconds (default 300) fails.
# RUN_LABEL, if set, is appended to the variety in the lines printed.

env_words=$1
shift
total=0
start_all=$(date +%s.%N)
dir=
expect_dir=1
for arg in "$@"; do
  if [ "$arg" = "--" ]; then
    expect_dir=1
    continue
  fi
  if [ $expect_dir = 1 ]; then
    dir=$arg
    expect_dir=0
    continue
  fi
  t=$arg
  bin=$dir/tests/$t
  log=$dir/tests/$t.log
  variety=$(basename "$dir")${RUN_LABEL:+-$RUN_LABEL}
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  timeout "${TEST_TIMEOUT:-300}" env $env_words "$bin" >"$log" 2>&1
  rc=$?
  if [ $rc -eq 124 ]; then
    echo "(killed after ${TEST_TIMEOUT:-300}s: hung?)" >>"$log"
  fi
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  seed=$(sed -n 's/.*seed=\([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)
  total=$((total + 1))
  if [ $rc -ne 0 ]; then
    printf 'FAIL  %-20s %7ss  seed=%s  (exit %d)\n' "$variety/$t" "$secs" "$seed" "$rc"
    echo "---- last lines of $log ----"
    tail -n 30 "$log"
    echo "---- reproduce: $env_words MPS_TEST_SEED=$seed $bin ----"
    exit 1
  fi
  printf 'pass  %-20s %7ss  seed=%s\n' "$variety/$t" "$secs" "$seed"
done
end_all=$(date +%s.%N)
printf 'all %d tests passed in %ss\n' "$total" \
  "$(awk -v a="$start_all" -v b="$end_all" 'BEGIN { printf "%.1f", b - a }')"
