#!/bin/bash
# What `nvmeof attach` (FUSE) + losetup costs against the host library alone,
# in the same run: fio on the loop device (--direct=1 --ioengine=libaio)
# alternating with `nvmeof perf` on the same namespace of the same target.
#
#   bench/fuse-vs-perf.sh [BUILD_DIR] [SECONDS] [ROUNDS]    (defaults: build, 10, 2)
#
# Workloads: 4 KiB randread QD32, 128 KiB read QD16, 4 KiB randwrite QD32,
# 128 KiB write QD16. Each runs ROUNDS times through each path, alternating,
# and the best round of each counts. Prints IOPS, MiB/s and fio/perf.
# ATTACH_OPTS: more options for `nvmeof attach` (e.g. "--nr-io-queues 32").
# Needs root, /dev/fuse, a free loop device and fio; run it in a private
# network namespace on a shared machine:
#   unshare -n sh -c 'ip link set lo up; bench/fuse-vs-perf.sh'
set -eu

BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-10}
ROUNDS=${3:-2}
NQN=nqn.2026-01.io.nvmeof:ramdisk
TMP=$(mktemp -d)
TGT=
LOOP=
export NVMEOF_ATTACH_DIR=$TMP/registry

cleanup() {
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	grep -q " $TMP/mnt " /proc/self/mounts && { "$BUILD/nvmeof" detach "$TMP/mnt" || umount -l "$TMP/mnt"; }
	[ -n "$TGT" ] && kill "$TGT" 2>/dev/null && wait "$TGT" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

for t in fio losetup; do
	command -v "$t" >/dev/null || { echo "fuse-vs-perf: $t is not installed" >&2; exit 1; }
done
[ -c /dev/fuse ] || { echo "fuse-vs-perf: no /dev/fuse" >&2; exit 1; }

for _ in $(seq 50); do
	PORT=$((15000 + (RANDOM % 499) * 2))
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break
done
"$BUILD/nvmeof-target" --addr 127.0.0.1 --port "$PORT" --disc-port 0 --nqn "$NQN" --ram-size 1G \
	--rpc-socket none >"$TMP/target.log" 2>&1 &
TGT=$!
for _ in $(seq 100); do
	grep -qs "^nvmeof-target: ready" "$TMP/target.log" && break
	sleep 0.1
done
grep -q '^nvmeof-target: ready' "$TMP/target.log" || { cat "$TMP/target.log"; exit 1; }

mkdir -p "$TMP/mnt"
# As many queues as perf gets by default, so that both paths have the same connections.
# shellcheck disable=SC2086 # ATTACH_OPTS is a list of options
"$BUILD/nvmeof" attach -t tcp -a 127.0.0.1 -s "$PORT" -n "$NQN" ${ATTACH_OPTS:-} "$TMP/mnt"
LOOP=$(losetup -f --show --direct-io=on "$TMP/mnt/ns1" 2>/dev/null) ||
	LOOP=$(losetup -f --show "$TMP/mnt/ns1")
dio=$(cat "/sys/block/${LOOP#/dev/}/loop/dio" 2>/dev/null || echo "?")
echo "== $LOOP on $TMP/mnt/ns1 (loop direct I/O: $dio), ${SECS}s per run, best of $ROUNDS =="

# fio_run RW BS QD: IOPS on the loop device.
fio_run() {
	fio --name=b --filename="$LOOP" --direct=1 --ioengine=libaio --rw="$1" --bs="$2" \
		--iodepth="$3" --runtime="$SECS" --time_based --numjobs=1 --size=1G \
		--output-format=json >"$TMP/fio.json" 2>"$TMP/fio.err" || { cat "$TMP/fio.err" >&2; return 1; }
	python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print(j["read"]["iops"] + j["write"]["iops"])' "$TMP/fio.json"
}
# perf_run RW BS QD: IOPS of nvmeof perf on the same namespace.
perf_run() {
	"$BUILD/nvmeof" perf -t tcp -a 127.0.0.1 -s "$PORT" -n "$NQN" -T "$SECS" --json \
		-w "$1" -o "$2" -q "$3" >"$TMP/perf.json"
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["iops"])' "$TMP/perf.json"
}

printf '  %-22s %12s %10s %12s %10s %9s\n' workload "fio+loop IOPS" "MiB/s" "perf IOPS" "MiB/s" fio/perf
for w in "randread 4k 32" "read 128k 16" "randwrite 4k 32" "write 128k 16"; do
	# shellcheck disable=SC2086 # "RW BS QD"
	set -- $w
	best_f=0 best_p=0
	for _ in $(seq "$ROUNDS"); do
		f=$(fio_run "$1" "$2" "$3")
		p=$(perf_run "$1" "$2" "$3")
		best_f=$(python3 -c "print(max($best_f, $f))")
		best_p=$(python3 -c "print(max($best_p, $p))")
	done
	python3 - "$1-$2-qd$3" "$2" "$best_f" "$best_p" <<'PY'
import sys
label, bs, f, p = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
kib = int(bs.rstrip("k"))
print("  %-22s %12.0f %10.1f %12.0f %10.1f %9.2f" % (label, f, f * kib / 1024, p, p * kib / 1024, f / p))
PY
done
