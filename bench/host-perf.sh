#!/bin/bash
# Host performance on loopback, next to the loopback TCP limits measured in
# the same run.
#
#   bench/host-perf.sh [BUILD_DIR] [SECONDS]     (defaults: build, 10)
#
# Starts BUILD/nvmeof-target (RAM namespace) on a free port in 15000-15999,
# measures 4 KiB ping-pong round trips and 128 KiB bulk bandwidth with
# bench/tcp_probe (receiver blocking and busy-polling), then runs
# `nvmeof perf` for 4 KiB randread QD1 and QD32, 128 KiB read QD8 and 4 KiB
# randwrite QD32, and prints IOPS, latency percentiles and the ratios
# QD1 latency / TCP RTT and 128 KiB bandwidth / TCP bandwidth.
set -eu

BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
TARGET=${NVMEOF_TARGET:-$BUILD/nvmeof-target}
NQN=nqn.2026-01.io.nvmeof:ramdisk
TMP=$(mktemp -d)
TGT=

cleanup() {
	[ -n "$TGT" ] && kill "$TGT" 2>/dev/null && wait "$TGT" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

mkdir -p "$BUILD/bench"
cc -O2 -Wall -Wextra -Werror -pthread -o "$BUILD/bench/tcp_probe" "$HERE/tcp_probe.c"

for _ in $(seq 50); do
	PORT=$((15000 + (RANDOM % 499) * 2))
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break
done
"$TARGET" --addr 127.0.0.1 --port "$PORT" --disc-port 0 --nqn "$NQN" --ram-size 1G \
	--rpc-socket none >"$TMP/target.log" 2>&1 &
TGT=$!
for _ in $(seq 100); do
	grep -q '^nvmeof-target: ready' "$TMP/target.log" && break
	sleep 0.1
done
grep -q '^nvmeof-target: ready' "$TMP/target.log" || { cat "$TMP/target.log"; exit 1; }

json() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d[sys.argv[1]])' "$1"; }

echo "== loopback TCP (bench/tcp_probe) =="
declare -A tcp
for rx in blocking busy; do
	pp=$("$BUILD/bench/tcp_probe" pingpong 4096 50000 "$rx")
	st=$("$BUILD/bench/tcp_probe" stream 131072 3 "$rx")
	tcp[rtt_$rx]=$(echo "$pp" | json p50_us)
	tcp[bw_$rx]=$(echo "$st" | json mibps)
	printf '  receiver %-8s 4 KiB RTT p50 %7.2f us (p99 %7.2f)   128 KiB stream %8.1f MiB/s\n' \
		"$rx" "${tcp[rtt_$rx]}" "$(echo "$pp" | json p99_us)" "${tcp[bw_$rx]}"
done

echo "== nvmeof perf against nvmeof-target (${SECS}s each) =="
run() { # label, perf options...
	local label=$1
	shift
	"$BUILD/nvmeof" perf -t tcp -a 127.0.0.1 -s "$PORT" -n "$NQN" -T "$SECS" --json "$@" >"$TMP/$label.json"
	python3 - "$TMP/$label.json" "$label" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("  %-22s %9.0f IOPS %9.1f MiB/s  avg %7.1f  p50 %7.1f  p99 %7.1f  p99.9 %7.1f  p99.99 %8.1f us  cpu %.2f+%.2f s  errors %d"
      % (sys.argv[2], d["iops"], d["mibps"], d["avg_us"], d["p50_us"], d["p99_us"], d["p99_9_us"],
         d["p99_99_us"], d["cpu_user_s"], d["cpu_sys_s"], d["errors"]))
PY
}
run randread-4k-qd1 -w randread -o 4k -q 1
run randread-4k-qd32 -w randread -o 4k -q 32
run read-128k-qd8 -w read -o 128k -q 8
run randwrite-4k-qd32 -w randwrite -o 4k -q 32

qd1=$(json p50_us <"$TMP/randread-4k-qd1.json")
bw=$(json mibps <"$TMP/read-128k-qd8.json")
echo "== ratios =="
python3 - "$qd1" "${tcp[rtt_blocking]}" "${tcp[rtt_busy]}" "$bw" "${tcp[bw_blocking]}" "${tcp[bw_busy]}" <<'PY'
import sys
qd1, rb, rp, bw, bb, bp = map(float, sys.argv[1:])
print("  QD1 4 KiB read p50 / TCP 4 KiB RTT p50: %.2fx (blocking receiver), %.2fx (busy-polling)" % (qd1 / rb, qd1 / rp))
print("  128 KiB read bandwidth / TCP stream:     %.2f (blocking receiver), %.2f (busy-polling)" % (bw / bb, bw / bp))
PY
