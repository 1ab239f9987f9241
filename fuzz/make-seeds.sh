#!/bin/sh
# Regenerates the seed corpus of the elf_load target, fuzz/corpus/elf_load/,
# from the sources in fuzz/seeds/: every C file compiled by `cc -c` with
# several option sets, every LLVM IR file by llc-14 (as codepool's jit
# front end does: PIC, small code model; also static and large), and the
# assembly file by `cc -c` (GNU as) and llvm-mc.
#
# Usage: fuzz/make-seeds.sh   (from anywhere; needs cc, and llc-14 /
#        llvm-mc-14 from llvm-14 for the LLVM seeds, skipped if absent)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
seeds="$here/seeds"
out="$here/corpus/elf_load"
LLVM_BIN=${LLVM_BIN:-/usr/lib/llvm-14/bin}
mkdir -p "$out"
rm -f "$out"/seed-*

n=0
for c in "$seeds"/*.c; do
    base=$(basename "$c" .c)
    for opts in "-O0" "-O2" "-O2 -fPIC" "-O0 -fPIC" "-Os -fno-pic -fno-asynchronous-unwind-tables" \
                "-O2 -ffunction-sections -fdata-sections -fPIC" "-O1 -mcmodel=large -fPIE" \
                "-O2 -fPIC -mcmodel=large" "-O2 -fno-plt -fPIC" "-O2 -fno-pic" \
                "-O1 -fno-pic -mcmodel=large"; do
        tag=$(echo "$opts" | tr -d ' =' | tr -c 'A-Za-z0-9\n' '_')
        cc -c -fno-common $opts -o "$out/seed-cc-$base$tag.o" "$c"
        n=$((n + 1))
    done
done
for s in "$seeds"/*.s; do
    base=$(basename "$s" .s)
    cc -c -o "$out/seed-as-$base.o" "$s"
    n=$((n + 1))
    if [ -x "$LLVM_BIN/llvm-mc" ]; then
        "$LLVM_BIN/llvm-mc" -triple=x86_64-unknown-linux-gnu -filetype=obj \
            -o "$out/seed-mc-$base.o" "$s"
        n=$((n + 1))
    fi
done
if [ -x "$LLVM_BIN/llc" ]; then
    for ll in "$seeds"/*.ll; do
        base=$(basename "$ll" .ll)
        for opts in "-relocation-model=pic -code-model=small -O2" \
                    "-relocation-model=pic -code-model=small -O0" \
                    "-relocation-model=static -O2" \
                    "-relocation-model=pic -code-model=large -O2"; do
            tag=$(echo "$opts" | sed 's/-relocation-model=//; s/-code-model=//g' | tr -c 'A-Za-z0-9\n' '_')
            "$LLVM_BIN/llc" -filetype=obj $opts -o "$out/seed-llc-$base-$tag.o" "$ll"
            n=$((n + 1))
        done
    done
else
    echo "make-seeds.sh: $LLVM_BIN/llc not found, no LLVM seeds" >&2
fi
echo "make-seeds.sh: $n objects in $out"
