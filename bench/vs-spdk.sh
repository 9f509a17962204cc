#!/bin/bash
# Our target against SPDK's, side by side: the same clients, alternating targets.
#
#   bench/vs-spdk.sh [--runs N] [--seconds S] [--rows LIST] [--load] [--idle S]
#                    [--build DIR] [--json FILE]
#
# Needs root and the SPDK peer (../shared/peers/spdk: nvmf_tgt, spdk_nvme_perf,
# hugepages). Runs in its own network namespace (unshare -n): both targets
# listen on 127.0.0.1:4420 in turn.
#
#   SPDK:  ../shared/peers/spdk/start-target (nvmf_tgt on core 0, 1 GiB malloc
#          bdev with 4096-byte blocks, in-capsule data 8192, queue depth 129)
#   ours:  BUILD/nvmeof-target --reactors 1 pinned to core 0 (taskset), one
#          1 GiB RAM namespace with 4096-byte blocks, preallocated as SPDK's
#          malloc bdev is (a generated config file), in-capsule data 8192 (our
#          default). PREALLOCATE=0 leaves it lazily allocated: every first touch
#          of a page then costs our reactor a page fault. Both run with their
#          defaults otherwise (our reactor asks for a 100 us CPU slice);
#          OUR_ARGS adds options to nvmeof-target, e.g. OUR_ARGS="--reactor-nice
#          -10" (which, under --load, keeps the reactor's CPU from the busy loop).
#          Each target runs in a session of its own (setsid, as start-target
#          starts nvmf_tgt): with the kernel's autogroup scheduling a target left
#          in this script's session would share one scheduling group with the
#          busy loop and the clients, and get less of core 0 under --load than
#          the other target does.
#
# Each run starts one target, measures its idle CPU over --idle seconds, runs
# every selected row against it, stops it; then the same for the other target
# (the order swaps every run). Clients are pinned to core 1: spdk_nvme_perf
# through ../shared/peers/spdk/perf, and `BUILD/nvmeof perf` for the row
# named nvmeof-*. With --load a busy loop (`taskset -c 0 sh -c 'while :; do
# :; done'`) competes with the target on core 0 for the whole run.
#
# Target CPU per million I/Os: the target's utime + stime (/proc/PID/stat,
# every thread), sampled every 50 ms while the client runs, over the middle
# 80 % of the timed window (client start-up and connect left out; /proc
# counts in 10 ms ticks, so a lightly loaded target needs longer runs), as
# CPU seconds per second divided by the client's IOPS. nvmf_tgt polls at
# 100 % of its core busy or idle, so its figure is about 1 / IOPS; ours is
# what it actually spent.
#
# Rows (--rows takes a comma-separated subset; default all):
#   r4k-qd1  r4k-qd32  r4k-qd128  w4k-qd32  r128k-qd16  w128k-qd16   spdk_nvme_perf
#   nvmeof-r4k-qd32                                                    nvmeof perf
# (4k rows are random, 128k rows sequential.) Output: one line per run and
# target, then a table of medians and ratios ours / SPDK; --json FILE also
# writes every run and the medians as JSON (default: bench-vs-spdk.json in
# the temporary directory, printed at the end).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEER=${SPDK_PEER:-$(cd "$ROOT/.." && pwd)/shared/peers/spdk}
RUNS=5 SECS=10 IDLE=3 LOAD=0 BUILD=$ROOT/build JSON='' ROWS=''
ALL_ROWS=(r4k-qd1 r4k-qd32 r4k-qd128 w4k-qd32 r128k-qd16 w128k-qd16 nvmeof-r4k-qd32)

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
ARGS=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--rows) ROWS=$2; shift 2 ;;
	--idle) IDLE=$2; shift 2 ;;
	--load) LOAD=1; shift ;;
	--build) BUILD=$(cd "$2" && pwd); shift 2 ;;
	--json) JSON=$2; shift 2 ;;
	-h | --help) usage ;;
	*) echo "vs-spdk: unknown option $1" >&2; usage ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "vs-spdk: needs root (hugepages, network namespace)" >&2; exit 77; }
[ -x "$PEER/bin/nvmf_tgt" ] || { echo "vs-spdk: no SPDK peer at $PEER" >&2; exit 77; }
{ [ -x "$BUILD/nvmeof-target" ] && [ -x "$BUILD/nvmeof" ]; } || { echo "vs-spdk: build $BUILD first" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "vs-spdk: needs 2 CPUs (target on 0, client on 1)" >&2; exit 77; }

if [ "${VS_SPDK_INNER:-0}" != 1 ]; then
	# shellcheck disable=SC2016 # expanded by the inner shell
	exec env VS_SPDK_INNER=1 unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' \
		bash "$HERE/vs-spdk.sh" "${ARGS[@]}"
fi

if [ -n "$ROWS" ]; then
	IFS=, read -r -a SEL <<<"$ROWS"
	for r in "${SEL[@]}"; do
		[[ " ${ALL_ROWS[*]} " == *" $r "* ]] || { echo "vs-spdk: unknown row $r (${ALL_ROWS[*]})" >&2; exit 2; }
	done
else
	SEL=("${ALL_ROWS[@]}")
fi

TMP=$(mktemp -d /tmp/vs-spdk.XXXXXX)
[ -n "$JSON" ] || JSON=$TMP/bench-vs-spdk.json
export RUN_DIR=$TMP/spdk TGT_PORT=4420 TGT_ADDR=127.0.0.1 TGT_CPUMASK=0x1 PERF_CPUMASK=0x2
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:1f0e6a36-5d47-4b8e-a3b1-6c2c5a0d9e01
export HOSTNQN
OUR_NQN=nqn.2026-01.io.nvmeof:ramdisk
SPDK_NQN=nqn.2016-06.io.spdk:cnode1
HZ=$(getconf CLK_TCK)
TGT='' LOADPID='' KIND=''
RESULTS=$TMP/results.tsv
: >"$RESULTS"

cleanup() {
	stop_target || true
	if [ -n "$LOADPID" ]; then
		kill "$LOADPID" 2>/dev/null || true
		wait "$LOADPID" 2>/dev/null || true # 143: killed, as meant
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$TMP/ours.json" <<EOF
{ "ports": [ { "portid": 1,
    "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "4420" },
    "subsystems": [ "$OUR_NQN" ] } ],
  "subsystems": [ { "nqn": "$OUR_NQN", "attr": { "allow_any_host": "1" },
    "namespaces": [ { "nsid": 1, "device": { "size": "1G", "block_size": 4096,
      "preallocate": "${PREALLOCATE:-1}" } } ] } ] }
EOF

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

start_target() { # spdk|ours
	KIND=$1
	if [ "$KIND" = spdk ]; then
		TGT=$("$PEER/start-target" posix 1024 129 | tail -n 1)
	else
		# shellcheck disable=SC2086 # OUR_ARGS: several options
		setsid taskset -c 0 "$BUILD/nvmeof-target" -c "$TMP/ours.json" --reactors 1 --rpc-socket none ${OUR_ARGS:-} \
			>"$TMP/ours.log" 2>&1 &
		TGT=$!
		for _ in $(seq 100); do
			grep -q '^nvmeof-target: ready' "$TMP/ours.log" && break
			kill -0 "$TGT" 2>/dev/null || break
			sleep 0.1
		done
		grep -q '^nvmeof-target: ready' "$TMP/ours.log" || { cat "$TMP/ours.log" >&2; return 1; }
	fi
}

stop_target() {
	[ -n "$TGT" ] || return 0
	if [ "$KIND" = spdk ]; then
		"$PEER/stop-target"
	else
		kill "$TGT" 2>/dev/null || true
		wait "$TGT" 2>/dev/null || true
	fi
	TGT=
}

# Runs a client, samples the target's CPU time every 50 ms meanwhile (the
# sampler is not pinned: a busy-polling client would starve it on core 1), and
# prints "iops mibps p50_us p99_us cpu_s_per_mio". The CPU is taken over the
# middle 80 % of the timed window, which starts when spdk_nvme_perf logs
# "Launching workers" (or when nvmeof perf starts: it connects within
# milliseconds), so neither start-up (hugepages, connect) nor teardown counts.
cat >"$TMP/sample.py" <<'PY'
import json, subprocess, sys, time
pid, secs, kind = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
hz, log = float(sys.argv[4]), sys.argv[5]
def ticks():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
start = time.monotonic()  # nvmeof perf connects within milliseconds
p = subprocess.Popen(sys.argv[6:], stdout=subprocess.PIPE, text=True)
samples, seen = [], kind == "nvmeof"
while p.poll() is None:
    samples.append((time.monotonic(), ticks()))
    if not seen:  # spdk_nvme_perf: I/O starts after hugepage set-up and connect
        try:
            if "Launching workers" in open(log).read():
                start, seen = samples[-1][0], True
        except OSError:
            pass
    time.sleep(0.05)
end = time.monotonic()
samples.append((end, ticks()))
out = p.stdout.read()
if p.returncode:
    sys.exit(1)
if kind == "nvmeof":
    d = json.loads(out)
    iops, mibps, p50, p99 = d["iops"], d["mibps"], d["p50_us"], d["p99_us"]
else:
    kv = dict(x.split("=", 1) for x in out.split() if "=" in x)
    iops, mibps, p50, p99 = (float(kv[k]) for k in ("iops", "mibps", "p50_us", "p99_us"))
if seen:
    t_a, t_b = start + 0.1 * secs, start + 0.9 * secs
else:  # no start seen: count back from the exit
    t_a, t_b = end - 0.9 * secs, end - 0.1 * secs
a = min(samples, key=lambda s: abs(s[0] - t_a))
b = min(samples, key=lambda s: abs(s[0] - t_b))
if b[0] - a[0] < 0.25 * secs:  # the sampler was starved: the client's whole life instead
    a, b = samples[0], samples[-1]
rate = (b[1] - a[1]) / hz / (b[0] - a[0]) if b[0] > a[0] else 0.0
print(f"{iops:.0f} {mibps:.1f} {p50:.1f} {p99:.1f} {rate / iops * 1e6 if iops else 0:.3f}")
PY

run_row() { # row
	local row=$1 qd size wl nqn
	[ "$KIND" = spdk ] && nqn=$SPDK_NQN || nqn=$OUR_NQN
	case $row in
	*r4k-qd1) qd=1 size=4096 wl=randread ;;
	*r4k-qd32) qd=32 size=4096 wl=randread ;;
	r4k-qd128) qd=128 size=4096 wl=randread ;;
	w4k-qd32) qd=32 size=4096 wl=randwrite ;;
	r128k-qd16) qd=16 size=131072 wl=read ;;
	w128k-qd16) qd=16 size=131072 wl=write ;;
	esac
	if [[ $row == nvmeof-* ]]; then
		python3 "$TMP/sample.py" "$TGT" "$SECS" nvmeof "$HZ" - taskset -c 1 "$BUILD/nvmeof" perf \
			-t tcp -a 127.0.0.1 -s 4420 -n "$nqn" --hostnqn "$HOSTNQN" \
			-q "$qd" -o "$size" -w "$wl" -T "$SECS" --json --no-progress
	else
		rm -f "$RUN_DIR/perf.log"
		# Line-buffered, so that "Launching workers" shows when I/O starts.
		python3 "$TMP/sample.py" "$TGT" "$SECS" spdk "$HZ" "$RUN_DIR/perf.log" \
			stdbuf -oL "$PEER/perf" "$qd" "$size" "$wl" "$SECS" 4420 "$nqn"
	fi
}

if [ "$LOAD" = 1 ]; then
	taskset -c 0 sh -c 'while :; do :; done' &
	LOADPID=$!
fi

echo "vs-spdk: $RUNS runs x ${SECS}s, rows ${SEL[*]}, idle ${IDLE}s$([ "$LOAD" = 1 ] && echo ", busy loop on core 0")"
for run in $(seq "$RUNS"); do
	if [ $((run % 2)) = 1 ]; then order=(spdk ours); else order=(ours spdk); fi
	for kind in "${order[@]}"; do
		start_target "$kind"
		sleep 1
		t0=$(cpu_ticks "$TGT")
		sleep "$IDLE"
		t1=$(cpu_ticks "$TGT")
		idle=$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v s="$IDLE" 'BEGIN { printf "%.3f", d / hz / s }')
		printf 'run %d %-4s idle CPU %5.1f %%\n' "$run" "$kind" "$(awk -v i="$idle" 'BEGIN { print 100 * i }')"
		printf '%s\t%s\t%s\t%s\n' "$run" "$kind" idle "$idle" >>"$RESULTS"
		for row in "${SEL[@]}"; do
			if r=$(run_row "$row"); then
				# shellcheck disable=SC2086 # five fields
				printf 'run %d %-4s %-16s iops %-10s MiB/s %-9s p50 %-8s p99 %-8s CPU s/MIO %s\n' \
					"$run" "$kind" "$row" $r
			else
				r="0 0 0 0 0"
				printf 'run %d %-4s %-16s FAILED\n' "$run" "$kind" "$row"
			fi
			printf '%s\t%s\t%s\t%s\n' "$run" "$kind" "$row" "$r" >>"$RESULTS"
		done
		stop_target
	done
done

python3 - "$RESULTS" "$JSON" "$RUNS" "$SECS" "$LOAD" "${SEL[@]}" <<'PY'
import json, statistics, sys
res, out, runs, secs, load, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "1", sys.argv[6:]
data = {"spdk": {}, "ours": {}}
for line in open(res):
    run, kind, row, vals = line.rstrip("\n").split("\t")
    if row == "idle":
        data[kind].setdefault("idle", []).append(float(vals))
        continue
    iops, mibps, p50, p99, cpu = (float(x) for x in vals.split())
    if iops <= 0:
        continue  # failed run: left out of the medians
    data[kind].setdefault(row, []).append({"run": int(run), "iops": iops, "mibps": mibps, "p50_us": p50,
                                           "p99_us": p99, "cpu_s_per_mio": cpu})
med = {}
for kind, d in data.items():
    med[kind] = {"idle_cpu_pct": round(100 * statistics.median(d.get("idle", [0])), 1)}
    for row in rows:
        rs = d.get(row, [])
        if rs:
            med[kind][row] = {k: statistics.median(r[k] for r in rs)
                              for k in ("iops", "mibps", "p50_us", "p99_us", "cpu_s_per_mio")}
            med[kind][row]["runs"] = len(rs)
ratio = {}
for row in rows:
    s, o = med["spdk"].get(row), med["ours"].get(row)
    if s and o:
        ratio[row] = {"iops": o["iops"] / s["iops"] if s["iops"] else None,
                      "p50_us": o["p50_us"] / s["p50_us"] if s["p50_us"] else None,
                      "cpu_s_per_mio": o["cpu_s_per_mio"] / s["cpu_s_per_mio"] if s["cpu_s_per_mio"] else None}
json.dump({"runs": runs, "seconds": secs, "load": load, "rows": rows, "raw": data, "median": med,
           "ratio_ours_over_spdk": ratio}, open(out, "w"), indent=1)
print()
print(f"medians of {runs} runs x {secs:g} s{' with a busy loop on the target core' if load else ''}; "
      f"ratio = ours / SPDK (IOPS: higher is better; p50, CPU: lower is better)")
print(f"{'row':<16} {'SPDK IOPS':>10} {'ours IOPS':>10} {'ratio':>6}  {'SPDK p50':>8} {'ours p50':>8} {'ratio':>6}"
      f"  {'SPDK CPU s/MIO':>14} {'ours CPU s/MIO':>14} {'ratio':>6}")
f = lambda x, fmt: "-" if x is None else format(x, fmt)
for row in rows:
    s, o, r = med["spdk"].get(row), med["ours"].get(row), ratio.get(row)
    if not (s and o):
        print(f"{row:<16} (no successful runs on {'SPDK' if not s else 'ours'})")
        continue
    print(f"{row:<16} {s['iops']:>10.0f} {o['iops']:>10.0f} {f(r['iops'], '6.2f'):>6}  {s['p50_us']:>8.1f} "
          f"{o['p50_us']:>8.1f} {f(r['p50_us'], '6.2f'):>6}  {s['cpu_s_per_mio']:>14.2f} {o['cpu_s_per_mio']:>14.2f} "
          f"{f(r['cpu_s_per_mio'], '6.2f'):>6}")
print(f"{'idle CPU':<16} {med['spdk']['idle_cpu_pct']:>9.1f}% {med['ours']['idle_cpu_pct']:>9.1f}%")
print(f"JSON: {out}")
PY
