#!/bin/bash
# Installs the Debian packages nvmeof needs to build and test, if missing.
#   scripts/install-deps.sh          build dependencies: what `make` links, and no more
#   scripts/install-deps.sh --test   build + test dependencies (cmocka, clang/libFuzzer, valgrind)
set -eu

pkgs=(build-essential pkg-config liburing-dev libisal-dev libjson-c-dev libssl-dev librbd-dev libfuse3-dev)
if [ "${1:-}" = --test ]; then
	pkgs+=(libcmocka-dev clang libclang-rt-14-dev valgrind python3 iproute2 procps e2fsprogs)
fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "missing packages: ${missing[*]}" >&2
	echo "install them with: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
