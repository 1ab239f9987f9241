#!/bin/sh
# compare.sh: every collector variant of the suite with two bench binaries
# (a "before" and an "after" library), interleaved in the same rounds, and
# one markdown table of their figures side by side (bench/README.md,
# "Before and after").
#
#   sh bench/compare.sh BEFORE_BENCH AFTER_BENCH [ROUNDS]
#
# Each round runs every (workload, variant) below once with each binary
# (before, then after) and each Boehm peer once with AFTER_BENCH (Boehm's
# figures do not depend on our library); for each (binary, workload,
# variant) the round with the median wall time is kept.  Environment as
# for the suite (BENCH_SCALE, BENCH_BT_DEPTH).
set -eu

before=$1
after=$2
rounds=${3:-3}
ours="bintrees:amc alloc:amc pause:amc pause:amc-5ms scripts:amc"
peers="bintrees:boehm alloc:boehm pause:boehm scripts:boehm"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() { # label exe workload variant round
  f="$out/$1.$3.$4.$5"
  if ! "$2" run "$3" "$4" > "$f" 2> "$f.err"; then
    echo "compare: $1 $3 $4 failed (round $5):" >&2
    cat "$f.err" >&2
    exit 1
  fi
  printf 'compare: round %s %-6s %-8s %-8s wall %s\n' "$5" "$1" "$3" "$4" \
    "$(sed -n 's/^wall=//p' "$f")" >&2
}

r=1
while [ "$r" -le "$rounds" ]; do
  for wv in $ours; do
    run before "$before" "${wv%%:*}" "${wv#*:}" "$r"
    run after "$after" "${wv%%:*}" "${wv#*:}" "$r"
  done
  for wv in $peers; do
    run peer "$after" "${wv%%:*}" "${wv#*:}" "$r"
  done
  r=$((r + 1))
done

# The median round of each (label, workload, variant) by wall time.
median() { # label workload variant -> file
  for f in "$out/$1.$2.$3".*; do
    case $f in *.err) continue ;; esac
    printf '%s %s\n' "$(sed -n 's/^wall=//p' "$f")" "$f"
  done | sort -g | awk -v n="$rounds" 'NR == int((n + 1) / 2) { print $2 }'
}

get() { sed -n "s/^$2=//p" "$1" | head -n 1; }

echo "| workload | variant | figure | before | after | after / before | Boehm (same run) |"
echo "|---|---|---|---|---|---|---|"
for wv in $ours; do
  w=${wv%%:*}
  v=${wv#*:}
  b=$(median before "$w" "$v")
  a=$(median after "$w" "$v")
  p=$(median peer "$w" boehm)
  for key in wall cpu peak_rss_kib collections gcs full_gcs mprotect \
             mprotect_per_gc mprotect_process objs_per_s p50 p99 max gc_total \
             after_full_committed after_full_rss_kib; do
    bv=$(get "$b" "$key")
    [ -n "$bv" ] || continue
    av=$(get "$a" "$key")
    pv=$(get "$p" "$key")
    awk -v w="$w" -v v="$v" -v k="$key" -v b="$bv" -v a="$av" -v p="$pv" '
      function show(x) {
        if (x == "") return "—"
        if (k ~ /kib$/) return sprintf("%.1f MiB", x / 1024)
        if (k == "after_full_committed") return sprintf("%.1f MiB", x / 1048576)
        if (k == "wall" || k == "cpu" || k == "gc_total") return sprintf("%.3f s", x)
        if (k == "p50" || k == "p99" || k == "max") return sprintf("%.2f ms", x * 1e3)
        if (k == "objs_per_s") return sprintf("%.1f M/s", x / 1e6)
        if (k == "mprotect_per_gc") return sprintf("%.1f", x)
        return sprintf("%.0f", x)
      }
      BEGIN {
        ratio = (b + 0 != 0) ? sprintf("%.2f×", a / b) : "—"
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", w, v, k, show(b),
               show(a), ratio, show(p)
      }'
  done
done
echo
echo "BENCH_SCALE=${BENCH_SCALE:-1}, $rounds rounds (median by wall time);" \
     "before: $before; after: $after; /proc/loadavg at the end:" \
     "$(cat /proc/loadavg)."
