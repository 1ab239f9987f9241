#!/bin/sh
# run-tests.sh ENV DIR TEST... [-- DIR TEST...]...
#
# Run each test program DIR/tests/TEST with the environment assignments in
# ENV (a string of VAR=value words, may be empty), output to
# DIR/tests/TEST.log.  Prints one line per test (result, variety/test, time,
# seed); at the first failure prints the tail of the log and exits 1.
# RUN_LABEL, if set, is appended to the variety in the lines printed.
#
# A test running longer than its time limit is killed (with any processes
# it forked) and fails as hung.  The limit, in seconds: MPS_TEST_TIMEOUT
# (also the Rust tests' limit) or TEST_TIMEOUT if set, else 300, times
# STRESS when that is above 1 (STRESS scales the tests' work).

env_words=$1
shift

if [ -n "${MPS_TEST_TIMEOUT:-}" ]; then
  limit=$MPS_TEST_TIMEOUT
elif [ -n "${TEST_TIMEOUT:-}" ]; then
  limit=$TEST_TIMEOUT
else
  limit=$(awk -v k="${STRESS:-1}" \
    'BEGIN { k += 0; if (k < 1) k = 1; printf "%d", 300 * k + 0.5 }')
fi
# Grace after the limit's SIGTERM before SIGKILL (for a test that cannot
# act on SIGTERM, stuck with it blocked).
kill_after=10

# Seconds timeout(1) allows: the limit, plus time for gdb.
outer_limit=$(awk -v l="$limit" 'BEGIN { printf "%d", l + 90.5 }')

# watch_test PID LOG: once the test run by timeout(1) PID has run for
# $limit seconds, create LOG.hung, append the stack of each of the test's
# threads to LOG (gdb in batch mode, if there is one), and stop the test
# (timeout passes the SIGTERM on).  Polls once a second, so it ends soon
# after the test does.
watch_test() {
  waited=0
  while kill -0 "$1" 2>/dev/null; do
    if awk -v w="$waited" -v l="$limit" 'BEGIN { exit !(w >= l) }'; then
      : >"$2.hung"
      echo "run-tests.sh: still running after ${limit}s; the stacks of its threads:" >>"$2"
      if command -v gdb >/dev/null 2>&1; then
        for pid in $(pgrep -P "$1" 2>/dev/null); do
          timeout 60 gdb -nx -batch -p "$pid" -ex 'thread apply all bt' \
            </dev/null >>"$2" 2>&1
        done
      fi
      kill -TERM "$1" 2>/dev/null
      return
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

# timeout(1) runs each test in a process group of its own, which signals
# sent to ours (Ctrl-C, or the limit of an enclosing timeout such as
# .ci/run's) do not reach: on those, pass SIGTERM on to the running test's
# timeout, which passes it on to the test's group, and wait for it to end.
running=
on_signal() {
  if [ -n "$running" ]; then
    kill -TERM "$running" 2>/dev/null
    wait "$running"
  fi
  exit "$1"
}
trap 'on_signal 129' HUP
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

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
  # In the background, so that `wait` (unlike a foreground command) lets
  # the traps above run at once.  timeout(1)'s own limit leaves time for
  # the watcher to print the stacks of a test still running at $limit.
  # Appending (the log emptied first), so that what the watcher appends is
  # not overwritten by the test's later output.
  : >"$log"
  rm -f "$log.hung"
  # shellcheck disable=SC2086
  timeout -k "$kill_after" "$outer_limit" env $env_words "$bin" >>"$log" 2>&1 &
  running=$!
  watch_test "$running" "$log" &
  watcher=$!
  wait "$running"
  rc=$?
  running=
  kill "$watcher" 2>/dev/null
  wait "$watcher" 2>/dev/null
  if [ -e "$log.hung" ]; then
    rm -f "$log.hung"
    rc=124
  fi
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  # 124: ended by timeout's SIGTERM at the limit; 137: by SIGKILL, which
  # timeout sends kill_after seconds later (or something else did, if the
  # test had not run that long).
  why="exit $rc"
  if [ $rc -eq 124 ] || { [ $rc -eq 137 ] &&
      awk -v s="$secs" -v l="$limit" 'BEGIN { exit !(s >= l) }'; }; then
    why="timed out after ${limit}s: hung?"
    echo "run-tests.sh: $variety/$t $why (MPS_TEST_TIMEOUT=<seconds> changes the limit)" >>"$log"
  fi
  seed=$(sed -n 's/.*seed=\([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)
  total=$((total + 1))
  if [ $rc -ne 0 ]; then
    printf 'FAIL  %-20s %7ss  seed=%s  (%s)\n' "$variety/$t" "$secs" "$seed" "$why"
    echo "---- last lines of $log ----"
    if [ $rc -eq 124 ]; then
      tail -n 400 "$log"
    else
      tail -n 30 "$log"
    fi
    echo "---- reproduce: $env_words MPS_TEST_SEED=$seed $bin ----"
    exit 1
  fi
  printf 'pass  %-20s %7ss  seed=%s\n' "$variety/$t" "$secs" "$seed"
done
end_all=$(date +%s.%N)
printf 'all %d tests passed in %ss\n' "$total" \
  "$(awk -v a="$start_all" -v b="$end_all" 'BEGIN { printf "%.1f", b - a }')"
