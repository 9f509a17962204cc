#!/bin/bash
# Adaptive polling of the target, measured: idle CPU, and QD1 latency and
# CPU per I/O with the spin window on and off, all in one run.
#
#   bench/target-polling.sh [BUILD_DIR] [SECONDS]     (defaults: build, 5)
#
# For each spin window (0 = always sleep in the kernel, 50 us = default) it
# starts BUILD/nvmeof-target on a free loopback port, samples the daemon's
# CPU time (/proc/PID/stat) over SECONDS of idleness, then over a
# `nvmeof perf` 4 KiB randread QD1 run, and prints latency, IOPS, target CPU
# per I/O and the ratios between the two settings.
set -eu

BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-5}
NQN=nqn.2026-01.io.nvmeof:ramdisk
TMP=$(mktemp -d)
TGT=
HZ=$(getconf CLK_TCK)

cleanup() {
	[ -n "$TGT" ] && kill "$TGT" 2>/dev/null && wait "$TGT" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
	local p
	for _ in $(seq 50); do
		p=$((15001 + (RANDOM % 499) * 2))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	return 1
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

json() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d[sys.argv[1]])' "$1"; }

start_target() { # spin_us
	PORT=$(free_port)
	"$BUILD/nvmeof-target" --port "$PORT" --disc-port 0 --nqn "$NQN" --ram-size 256M \
		--spin-us "$1" --rpc-socket none >"$TMP/target.log" 2>&1 &
	TGT=$!
	for _ in $(seq 100); do
		grep -q '^nvmeof-target: ready' "$TMP/target.log" && return 0
		sleep 0.1
	done
	cat "$TMP/target.log" >&2
	return 1
}

stop_target() {
	kill "$TGT" && wait "$TGT" || true
	TGT=
}

declare -A res
for spin in 0 50; do
	start_target "$spin"
	t0=$(cpu_ticks "$TGT")
	sleep "$SECS"
	t1=$(cpu_ticks "$TGT")
	res[idle_$spin]=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v s="$SECS" 'BEGIN { printf "%.2f", 100 * d / hz / s }')

	t0=$(cpu_ticks "$TGT")
	out=$("$BUILD/nvmeof" perf -t tcp -a 127.0.0.1 -s "$PORT" -n "$NQN" -q 1 -o 4096 -w randread \
		-T "$SECS" --json)
	t1=$(cpu_ticks "$TGT")
	res[p50_$spin]=$(echo "$out" | json p50_us)
	res[p99_$spin]=$(echo "$out" | json p99_us)
	res[iops_$spin]=$(echo "$out" | json iops)
	ios=$(echo "$out" | json ios)
	res[cpu_$spin]=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$ios" 'BEGIN { printf "%.2f", 1e6 * d / hz / n }')
	res[load_$spin]=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v s="$SECS" 'BEGIN { printf "%.0f", 100 * d / hz / s }')
	stop_target
done

printf '%-22s %12s %12s\n' "" "spin 0 us" "spin 50 us"
printf '%-22s %11s%% %11s%%\n' "target CPU when idle" "${res[idle_0]}" "${res[idle_50]}"
printf '%-22s %12.0f %12.0f\n' "QD1 4K read IOPS" "${res[iops_0]}" "${res[iops_50]}"
printf '%-22s %9s us %9s us\n' "QD1 latency p50" "${res[p50_0]}" "${res[p50_50]}"
printf '%-22s %9s us %9s us\n' "QD1 latency p99" "${res[p99_0]}" "${res[p99_50]}"
printf '%-22s %9s us %9s us\n' "target CPU per I/O" "${res[cpu_0]}" "${res[cpu_50]}"
printf '%-22s %11s%% %11s%%\n' "target CPU under QD1" "${res[load_0]}" "${res[load_50]}"
awk -v a="${res[p50_0]}" -v b="${res[p50_50]}" -v i="${res[idle_50]}" 'BEGIN {
	printf "ratio: QD1 p50 latency spinning / sleeping = %.2f; idle CPU with spinning on = %s%% of one core\n", b / a, i }'
