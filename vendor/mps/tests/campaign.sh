#!/bin/sh
# campaign.sh VARIETY TEST RUNS
#
# Run one C test RUNS times with a random seed each time, alternating the
# default pause time and MPS_TEST_PAUSE_TIME=0, while LOAD busy processes
# (default: one per core) keep every core busy.  The asan variety runs
# with the sanitizer options of the Makefile (ASAN_ENV, passed in by
# `make campaign`).  Prints one line per failure (seed, pause setting,
# exit status, last line of output, log kept in build/campaign/) and a
# summary; exits 1 if any run failed.  Each run has the time limit of
# run-tests.sh (MPS_TEST_TIMEOUT, default 300 s).  CAMPAIGN_PROGRESS=file:
# the run count so far is kept in that file.
#
#   make campaign CAMPAIGN_TEST=threads CAMPAIGN_RUNS=1000 CAMPAIGN_VARIETY=asan

variety=$1
test=$2
runs=$3
bin=build/$variety/tests/$test
[ -x "$bin" ] || { echo "campaign.sh: no $bin (make tests-$variety)" >&2; exit 2; }
limit=${MPS_TEST_TIMEOUT:-300}
load=${LOAD:-$(nproc)}
logdir=build/campaign
mkdir -p "$logdir"
# A copy of the binary, so that rebuilding during the campaign does not
# change what it tests.
snap=$logdir/$variety-$test-$$.bin
cp "$bin" "$snap" || exit 2
bin=$snap

pids=
i=0
while [ "$i" -lt "$load" ]; do
  sh -c 'while :; do :; done' &
  pids="$pids $!"
  i=$((i + 1))
done
# shellcheck disable=SC2086
trap 'kill $pids 2>/dev/null; rm -f "$snap"' EXIT
trap 'exit 130' INT TERM

fails=0
start=$(date +%s)
i=1
while [ "$i" -le "$runs" ]; do
  seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
  if [ $((i % 2)) -eq 0 ]; then pause="MPS_TEST_PAUSE_TIME=0"; else pause=""; fi
  log=$logdir/$variety-$test-$seed.log
  # shellcheck disable=SC2086
  timeout -k 10 "$limit" env $CAMPAIGN_ENV $pause MPS_TEST_SEED="$seed" \
    "$bin" >"$log" 2>&1
  rc=$?
  # Progress, for a long campaign watched from elsewhere.
  [ -n "${CAMPAIGN_PROGRESS:-}" ] &&
    printf '%s/%s: run %d of %d, %d failed\n' "$variety" "$test" "$i" "$runs" \
      "$fails" >"$CAMPAIGN_PROGRESS"
  if [ $rc -ne 0 ]; then
    fails=$((fails + 1))
    printf 'FAIL run %d: seed=%s %s exit %d: %s\n' "$i" "$seed" \
      "${pause:-default-pause}" "$rc" "$(tail -n 1 "$log")"
  else
    rm -f "$log"
  fi
  i=$((i + 1))
done
end=$(date +%s)
printf 'campaign %s/%s: %d runs, %d failed, %d busy processes, %ds\n' \
  "$variety" "$test" "$runs" "$fails" "$load" $((end - start))
[ "$fails" -eq 0 ]
