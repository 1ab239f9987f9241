#!/bin/sh
# Installs Boehm GC (Debian's libgc-dev), the peer the benchmarks compare
# against, when it is missing.  Used by `make bench`.
set -eu
if [ -f /usr/include/gc.h ] || [ -f /usr/include/gc/gc.h ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
fi
echo "bench: installing libgc-dev (Boehm GC) with apt-get"
DEBIAN_FRONTEND=noninteractive $sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends libgc-dev
