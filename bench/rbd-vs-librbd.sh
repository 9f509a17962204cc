#!/bin/bash
# RBD namespaces: our target (nvmeof perf -> nvmeof-target -> librbd) against
# librbd used directly (fio --ioengine=rbd) on the same image of a one-node
# Ceph cluster, in the same run, alternating the two for each workload:
# 4 KiB randwrite and randread at QD32, 1 MiB write and read at QD8.
# Prints IOPS and MiB/s of each run and the ratio target / librbd (of the
# means over ROUNDS rounds).
#
# Order matters: the memstore OSD slows down as overwrites fragment its
# objects (4 KiB randwrite fell from 8.2 k to 3.5 k IOPS over six 5 s runs
# of either client). So each write workload first runs once untimed, and
# the order alternates round by round (librbd, target; target, librbd; ...):
# with an even ROUNDS both sides see the same drift.
#
#   usage: bench/rbd-vs-librbd.sh [BUILD_DIR] [SECONDS] [ROUNDS]   (build, 10, 2)
#   TARGET_ARGS="--spin-us 0 ..." adds options to nvmeof-target, FIO_OPTS to fio,
#   PERF_OPTS to nvmeof perf (default --no-busy-poll: both clients sleep until a
#   completion, as fio's rbd engine does by default; PERF_OPTS= FIO_OPTS=--busy_poll=1
#   compares both spinning).
#
# Needs root (a private network namespace for the cluster's fixed ports),
# fio with its rbd engine, and the Ceph packages (see ../shared/ceph/README.md).
# The cluster is memstore, no manager; the image (1 GiB) is written once
# before measuring, so that reads hit real objects.
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) bdir=$build ;; *) bdir=$repo/$build ;; esac
SECS=${2:-10}
ROUNDS=${3:-2}

[ "$(id -u)" = 0 ] || { echo "rbd-vs-librbd: needs root" >&2; exit 1; }
if [ -z "${NVMEOF_BENCH_NETNS:-}" ]; then
	exec unshare -n env NVMEOF_BENCH_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' \
		"$0" "$bdir" "$SECS" "$ROUNDS"
fi
fio --enghelp=rbd >/dev/null 2>&1 || { echo "rbd-vs-librbd: fio has no rbd engine" >&2; exit 1; }
ceph_sn=
for d in "${CEPH_SINGLE_NODE:-}" "$repo/../shared/ceph/ceph-single-node" /work/shared/ceph/ceph-single-node; do
	[ -n "$d" ] && [ -x "$d" ] && { ceph_sn=$d; break; }
done
[ -n "$ceph_sn" ] || { echo "rbd-vs-librbd: ceph-single-node not found (set CEPH_SINGLE_NODE)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/rbd-vs-librbd.XXXXXX)
tpid=
cleanup() {
	[ -n "$tpid" ] && kill "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
	"$ceph_sn" stop "$tmp/ceph" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
CEPH_WITH_MGR=0 CEPH_OBJECTSTORE=memstore CEPH_OSD_SIZE_MB=3072 CEPH_IMAGE_SIZE=1G \
	"$ceph_sn" start "$tmp/ceph" >"$tmp/ceph.env" 2>"$tmp/ceph.log" || { tail "$tmp/ceph.log"; exit 1; }
# shellcheck disable=SC1091
. "$tmp/ceph.env"
export CEPH_CONF # fio's rbd engine reads the default conf, which CEPH_CONF names

NQN=nqn.2026-01.io.nvmeof:rbd-bench
PORT=4420
"$bdir/nvmeof-target" --addr 127.0.0.1 --port $PORT --disc-port 0 --nqn $NQN --ram-size 1M \
	--rpc-socket "$tmp/sock" --ceph-conf "$CEPH_CONF" ${TARGET_ARGS:-} >"$tmp/target.log" 2>&1 &
tpid=$!
for _ in $(seq 100); do grep -q 'nvmeof-target: ready' "$tmp/target.log" && [ -S "$tmp/sock" ] && break; sleep 0.1; done
"$bdir/nvmeof" target --rpc-socket "$tmp/sock" add-ns $NQN --nsid 2 --path "rbd:$CEPH_POOL/$CEPH_IMAGE" >/dev/null ||
	{ tail "$tmp/target.log"; exit 1; }

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime of every thread
HZ=$(getconf CLK_TCK)
with_cpu() { # FILE CMD... : runs CMD, writes its CPU use (all threads, % of one CPU) to FILE
	python3 -c '
import resource, subprocess, sys, time
t = time.monotonic()
rc = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%.1f" % ((r.ru_utime + r.ru_stime) / (time.monotonic() - t) * 100))
sys.exit(rc)' "$@"
}

fio_run() { # PATTERN BS QD -> "IOPS MIBPS CPU%" (CPU: fio's, which runs librbd)
	# shellcheck disable=SC2086
	with_cpu "$tmp/fio.cpu" fio --name=librbd --ioengine=rbd --clientname=admin --pool="$CEPH_POOL" \
		--rbdname="$CEPH_IMAGE" --rw="$1" --bs="$2" --iodepth="$3" --numjobs=1 --direct=1 --time_based \
		--runtime="$SECS" ${FIO_OPTS:-} --output-format=json >"$tmp/fio.json" 2>"$tmp/fio.err" ||
		{ cat "$tmp/fio.err" >&2; echo "0 0 0"; return; }
	python3 - "$tmp/fio.json" "$1" "$(cat "$tmp/fio.cpu")" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
d = j["read"] if "read" in sys.argv[2] else j["write"]
print(d["iops"], d["bw_bytes"] / 1048576, sys.argv[3])
EOF
}
perf_run() { # PATTERN BS QD -> "IOPS MIBPS CPU%" (CPU: the target's, over the whole run)
	local t0 c0
	t0=$(date +%s.%N) c0=$(ticks "$tpid")
	"$bdir/nvmeof" perf -t tcp -a 127.0.0.1 -s $PORT -n $NQN -N 2 -w "$1" -o "$2" -q "$3" -T "$SECS" \
		${PERF_OPTS---no-busy-poll} --json --no-progress >"$tmp/perf.json" 2>"$tmp/perf.err" || { cat "$tmp/perf.err" >&2; echo "0 0 0"; return; }
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["iops"], d["mibps"], sys.argv[2])' "$tmp/perf.json" \
		"$(python3 -c "import sys; print(($(ticks "$tpid") - $c0) / $HZ / ($(date +%s.%N) - $t0) * 100)")"
}

echo "prefill: 1 MiB sequential writes over the whole image"
fio --name=fill --ioengine=rbd --clientname=admin --pool="$CEPH_POOL" --rbdname="$CEPH_IMAGE" \
	--rw=write --bs=1M --iodepth=16 >/dev/null 2>&1

echo "target options: ${TARGET_ARGS:-(defaults)}; fio options: ${FIO_OPTS:-(defaults)}; perf options: ${PERF_OPTS---no-busy-poll}"
echo "$(nproc) vCPUs; ${SECS} s per run, ${ROUNDS} rounds, alternating librbd (fio rbd engine) and the target"
printf '%-22s %-7s %12s %10s %6s\n' workload via IOPS MiB/s CPU%
summary=()
for w in "randwrite 4k 32" "randread 4k 32" "write 1m 8" "read 1m 8"; do
	# shellcheck disable=SC2086
	set -- $w
	fi=0 fm=0 fc=0 pi=0 pm=0 pc=0
	case $1 in *write*) fio_run "$1" "$2" "$3" >/dev/null ;; esac # untimed: see the top
	for r in $(seq "$ROUNDS"); do
		if [ $((r % 2)) = 1 ]; then order="librbd target"; else order="target librbd"; fi
		for via in $order; do
			if [ "$via" = librbd ]; then
				read -r i m c < <(fio_run "$1" "$2" "$3")
				read -r fi fm fc < <(python3 -c "print($fi + $i, $fm + $m, $fc + $c)")
			else
				read -r i m c < <(perf_run "$1" "$2" "$3")
				read -r pi pm pc < <(python3 -c "print($pi + $i, $pm + $m, $pc + $c)")
			fi
			printf '%-22s %-7s %12.0f %10.1f %6.0f\n' "$1 $2 QD$3" "$via" "$i" "$m" "$c"
		done
	done
	summary+=("$(python3 -c "
n = $ROUNDS
f, p, fm, pm, fc, pc = $fi / n, $pi / n, $fm / n, $pm / n, $fc / n, $pc / n
print('%-22s librbd %9.0f IOPS %8.1f MiB/s %4.0f%% CPU | target %9.0f IOPS %8.1f MiB/s %4.0f%% CPU | ratio %.2f'
      % ('$1 $2 QD$3', f, fm, fc, p, pm, pc, p / f if f else 0))")")
done
echo
echo "means over $ROUNDS rounds (ratio = target / librbd; CPU: fio's, which runs librbd, and the target's, in % of one CPU):"
printf '%s\n' "${summary[@]}"
