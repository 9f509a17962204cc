#!/bin/bash
# What TLS 1.3 costs the host: `nvmeof perf` against one nvmeof-target with
# a plain port and a TLS port (same subsystem, same RAM namespace), TLS and
# plain runs alternating in one go, medians and the ratio TLS / plain.
#
#   bench/tls-vs-plain.sh [BUILD_DIR] [SECONDS] [ROUNDS]   (defaults: build, 5, 5)
#
# First bench/tls_probe measures the ceiling: a TLS stream through the host
# library's TLS layer against an OpenSSL peer, next to plain loopback TCP.
# Workloads: 4 KiB randread QD32 (IOPS) and 128 KiB read QD8 (MiB/s), one
# I/O queue. Runs in a private network namespace (unshare -n, loopback only)
# when root; host and target each pinned to a CPU when there are two.
# Aim: TLS ≥ 0.7× plain at 128 KiB (AES-GCM runs at ~2.4 GB/s per core here,
# on both ends of the loopback).
#
# The target needs TLS on its ports (config: port "addr": {"tsas": "tls1.3",
# "treq": "required"}, host "tls_key"); when the TLS port does not complete
# a handshake the script says so and exits 77.
set -eu

BUILD=$(cd "${1:-build}" && pwd)
SECS=${2:-5}
ROUNDS=${3:-5}
HERE=$(cd "$(dirname "$0")" && pwd)

if [ "${BENCH_TLS_INNER:-0}" != 1 ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	# Own loopback: no other traffic, ports always free.
	exec env BENCH_TLS_INNER=1 unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' \
		bash "$HERE/tls-vs-plain.sh" "$BUILD" "$SECS" "$ROUNDS"
fi

TARGET=${NVMEOF_TARGET:-$BUILD/nvmeof-target}
NVMEOF=$BUILD/nvmeof
NQN=nqn.2026-01.io.nvmeof:ramdisk
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:5b1d7d2c-0c5e-4f0e-9a43-7f1f6e2c3b11
HOSTID=${HOSTNQN##*:uuid:}
TMP=$(mktemp -d)
TGT=
cleanup() {
	[ -n "$TGT" ] && kill "$TGT" 2>/dev/null && wait "$TGT" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 10000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	return 1
}
PLAIN=$(free_port)
TLSP=$(free_port)
[ "$PLAIN" != "$TLSP" ] || TLSP=$((PLAIN + 1))
KEY=$("$NVMEOF" gen-tls-key --hmac=1)

PIN_T=() PIN_H=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	PIN_T=(taskset -c 1) PIN_H=(taskset -c 0)
fi

cat >"$TMP/config.json" <<EOF
{
  "hosts": [ { "nqn": "$HOSTNQN", "tls_key": "$KEY" } ],
  "ports": [
    { "portid": 1, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1",
                             "trsvcid": "$PLAIN", "treq": "not specified" },
      "subsystems": [ "$NQN" ] },
    { "portid": 2, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1",
                             "trsvcid": "$TLSP", "tsas": "tls1.3", "treq": "required" },
      "subsystems": [ "$NQN" ] }
  ],
  "subsystems": [
    { "nqn": "$NQN", "allowed_hosts": [ "$HOSTNQN" ], "attr": { "allow_any_host": "0" },
      "namespaces": [ { "nsid": 1, "enable": 1, "device": { "size": "1G" } } ] }
  ]
}
EOF
# One reactor on its own CPU: TLS and plain runs never overlap.
"${PIN_T[@]}" "$TARGET" --config "$TMP/config.json" --reactors 1 --rpc-socket none \
	>"$TMP/target.log" 2>&1 &
TGT=$!
for _ in $(seq 100); do
	grep -q '^nvmeof-target: ready' "$TMP/target.log" && break
	kill -0 "$TGT" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q '^nvmeof-target: ready' "$TMP/target.log"; then
	cat "$TMP/target.log"
	if grep -Eq 'tls_key|tsas|treq' "$TMP/target.log"; then
		echo "tls-vs-plain: skipped: this nvmeof-target has no TLS ports yet"
		exit 77
	fi
	exit 1
fi

CONN=(-t tcp -a 127.0.0.1 -n "$NQN" --hostnqn "$HOSTNQN" -I "$HOSTID")
if ! "$NVMEOF" id-ctrl "${CONN[@]}" -s "$TLSP" --tls-key "$KEY" >/dev/null 2>"$TMP/probe.err"; then
	echo "tls-vs-plain: skipped: the target's TLS port does not accept our TLS connection:"
	sed 's/^/    /' "$TMP/probe.err"
	exit 77
fi

# The ceiling on this machine: a TLS stream through the host library vs plain loopback TCP.
cc -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -I"$HERE/../src" -I"$HERE/../include" -pthread -o "$TMP/tls_probe" \
	"$HERE/tls_probe.c" "$BUILD/libnvmeof-host.a" "$BUILD/libnvmeof-common.a" \
	-luring -lisal -ljson-c -lssl -lcrypto -lm
echo "== TLS stream ceiling (bench/tls_probe: host library vs an OpenSSL peer, 128 KiB I/O) =="
for dir in recv send; do
	echo "  $("$TMP/tls_probe" "$dir" 2048 ${PIN_H:+0 1})"
done

echo "== nvmeof perf, plain port $PLAIN vs TLS port $TLSP, ${SECS}s x $ROUNDS rounds each =="
run() { # label, options...
	local label=$1
	shift
	if ! "${PIN_H[@]}" "$NVMEOF" perf "${CONN[@]}" -T "$SECS" --json "$@" >"$TMP/$label.json" \
		2>"$TMP/$label.err"; then
		echo "tls-vs-plain: perf $label failed:" >&2
		cat "$TMP/$label.json" "$TMP/$label.err" >&2
		exit 1
	fi
	python3 - "$TMP/$label.json" "$label" <<'PY' | tee -a "$TMP/results"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["errors"] == 0, d
print("%s %.0f %.1f %.1f %.2f" % (sys.argv[2], d["iops"], d["mibps"], d["p50_us"],
                                  d["cpu_user_s"] + d["cpu_sys_s"]))
PY
}
for r in $(seq "$ROUNDS"); do
	# Alternate which goes first, so that drift hits both alike.
	if [ $((r % 2)) = 1 ]; then order="plain tls"; else order="tls plain"; fi
	for mode in $order; do
		if [ "$mode" = tls ]; then opt=(-s "$TLSP" --tls-key "$KEY"); else opt=(-s "$PLAIN"); fi
		run "$mode-4k" "${opt[@]}" -w randread -o 4k -q 32 >/dev/null
		run "$mode-128k" "${opt[@]}" -w read -o 128k -q 8 >/dev/null
	done
	echo "  round $r done"
done

python3 - "$TMP/results" <<'PY'
import statistics, sys
res = {}
for line in open(sys.argv[1]):
    label, iops, mibps, p50, cpu = line.split()
    res.setdefault(label, []).append((float(iops), float(mibps), float(p50), float(cpu)))
med = lambda label, i: statistics.median(r[i] for r in res[label])
print("  %-16s %10s %10s %9s %9s" % ("median", "IOPS", "MiB/s", "p50 us", "cpu s"))
for label in ("plain-4k", "tls-4k", "plain-128k", "tls-128k"):
    print("  %-16s %10.0f %10.1f %9.1f %9.2f" % (label, med(label, 0), med(label, 1), med(label, 2), med(label, 3)))
r4 = med("tls-4k", 0) / med("plain-4k", 0)
r128 = med("tls-128k", 1) / med("plain-128k", 1)
print("== ratios TLS / plain ==")
print("  4 KiB randread QD32 IOPS:  %.2f" % r4)
print("  128 KiB read QD8 MiB/s:    %.2f  (aim >= 0.70)" % r128)
PY
