#!/bin/bash
# RBD namespaces: our target (nvmeof perf -> nvmeof-target -> librbd) against
# librbd used directly (fio --ioengine=rbd) on the same image of a one-node
# Ceph cluster, in the same run, alternating the two for each workload:
# 4 KiB randwrite and randread at QD32, 1 MiB write and read at QD8.
# Prints IOPS and MiB/s of each run and the ratio target / librbd (of the
# means over ROUNDS rounds).
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

fio_run() { # PATTERN BS QD -> "IOPS MIBPS"
	fio --name=librbd --ioengine=rbd --clientname=admin --pool="$CEPH_POOL" --rbdname="$CEPH_IMAGE" \
		--rw="$1" --bs="$2" --iodepth="$3" --numjobs=1 --direct=1 --time_based --runtime="$SECS" ${FIO_OPTS:-} \
		--output-format=json >"$tmp/fio.json" 2>"$tmp/fio.err" || { cat "$tmp/fio.err" >&2; echo "0 0"; return; }
	python3 - "$tmp/fio.json" "$1" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
d = j["read"] if "read" in sys.argv[2] else j["write"]
print(d["iops"], d["bw_bytes"] / 1048576)
EOF
}
perf_run() { # PATTERN BS QD -> "IOPS MIBPS"
	"$bdir/nvmeof" perf -t tcp -a 127.0.0.1 -s $PORT -n $NQN -N 2 -w "$1" -o "$2" -q "$3" -T "$SECS" \
		${PERF_OPTS---no-busy-poll} --json --no-progress >"$tmp/perf.json" 2>"$tmp/perf.err" || { cat "$tmp/perf.err" >&2; echo "0 0"; return; }
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["iops"], d["mibps"])' "$tmp/perf.json"
}

echo "prefill: 1 MiB sequential writes over the whole image"
fio --name=fill --ioengine=rbd --clientname=admin --pool="$CEPH_POOL" --rbdname="$CEPH_IMAGE" \
	--rw=write --bs=1M --iodepth=16 >/dev/null 2>&1

echo "target options: ${TARGET_ARGS:-(defaults)}; fio options: ${FIO_OPTS:-(defaults)}; perf options: ${PERF_OPTS---no-busy-poll}"
echo "$(nproc) vCPUs; ${SECS} s per run, ${ROUNDS} rounds, alternating librbd (fio rbd engine) and the target"
printf '%-22s %-7s %12s %10s\n' workload via IOPS MiB/s
summary=()
for w in "randwrite 4k 32" "randread 4k 32" "write 1m 8" "read 1m 8"; do
	# shellcheck disable=SC2086
	set -- $w
	fi=0 fm=0 pi=0 pm=0
	for r in $(seq "$ROUNDS"); do
		read -r i m < <(fio_run "$1" "$2" "$3")
		printf '%-22s %-7s %12.0f %10.1f\n' "$1 $2 QD$3" librbd "$i" "$m"
		fi=$(python3 -c "print($fi + $i)"); fm=$(python3 -c "print($fm + $m)")
		read -r i m < <(perf_run "$1" "$2" "$3")
		printf '%-22s %-7s %12.0f %10.1f\n' "$1 $2 QD$3" target "$i" "$m"
		pi=$(python3 -c "print($pi + $i)"); pm=$(python3 -c "print($pm + $m)")
	done
	summary+=("$(python3 -c "
f, p, fm, pm = $fi / $ROUNDS, $pi / $ROUNDS, $fm / $ROUNDS, $pm / $ROUNDS
print('%-22s librbd %9.0f IOPS %8.1f MiB/s | target %9.0f IOPS %8.1f MiB/s | ratio %.2f' % ('$1 $2 QD$3', f, fm, p, pm, p / f if f else 0))")")
done
echo
echo "means over $ROUNDS rounds (ratio = target / librbd):"
printf '%s\n' "${summary[@]}"
