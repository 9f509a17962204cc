#!/bin/bash
# The target dies (SIGKILL) while `nvmeof perf` runs and does not come back:
# perf must still stop at -T (not at ctrl_loss_tmo), report what it measured
# and the I/Os that failed or never completed, exit nonzero, and sleep rather
# than spin while the host library waits for the reconnect. With --count
# instead of -T, ctrl_loss_tmo ends the run, again without spinning.
#
#   usage: tests/integration/perf-target-loss.sh [BUILD]      (BUILD defaults to build)
#
# Runs in a private network namespace (re-executes itself under unshare -n;
# needs root), so the target's default port 4420 is free. The last line is
# "N passed, N failed"; the exit status is nonzero on any failure.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case $build in /*) bdir=$build ;; *) bdir=$repo/$build ;; esac

if [ -z "${NVMEOF_TEST_NETNS:-}" ]; then
	if ! unshare -n true 2>/dev/null; then
		echo "perf-target-loss: skipped (needs unshare -n, i.e. root)"
		exit 77
	fi
	exec unshare -n env NVMEOF_TEST_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$1"' \
		"$0" "$bdir"
fi

CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$repo/tests/lib.sh"

TGT=$bdir/nvmeof-target
CLI=$bdir/nvmeof
NQN=nqn.2026-01.io.nvmeof:ramdisk
T=4 # perf -T
SLACK=3 # perf must be gone by T + SLACK seconds
KILL_AFTER=1 # seconds of I/O before the target is killed
CPU_MAX_PCT=30 # CPU time allowed after the kill, in % of the wall time
HARD_LIMIT=20 # a perf still running then is killed (the unfixed one runs ~600 s)

for b in "$TGT" "$CLI"; do
	if [ ! -x "$b" ]; then
		echo "perf-target-loss: $b not built"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-perfloss.XXXXXX")
tpid=
ppid_file=$tmp/perf.pid
cleanup() {
	[ -n "$tpid" ] && kill -9 "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
	[ -s "$ppid_file" ] && kill -9 "$(cat "$ppid_file")" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

start_target() {
	: >"$tmp/target.log"
	"$TGT" --addr 127.0.0.1 --port 4420 --disc-port 0 --nqn "$NQN" --ram-size 64M --reactors 1 \
		--rpc-socket none >"$tmp/target.log" 2>&1 &
	tpid=$!
	for _ in $(seq 100); do
		grep -q 'ready' "$tmp/target.log" && return 0
		kill -0 "$tpid" 2>/dev/null || break
		sleep 0.1
	done
	echo "target did not start:"
	sed 's/^/    /' "$tmp/target.log"
	return 1
}

kill_target() {
	kill -9 "$tpid" 2>/dev/null
	wait "$tpid" 2>/dev/null
	tpid=
}

# User + system CPU of a live process, in clock ticks.
proc_cpu_ticks() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	stat=${stat##*) }
	# shellcheck disable=SC2086
	set -- $stat
	echo $((${12} + ${13}))
}

# Run a command as a child of python, which writes its pid to $1 and, once
# it exited, its user + system CPU seconds to $2; exits with its status.
run_rusage() {
	python3 -c '
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.argv[3], sys.argv[3:])
    finally:
        os._exit(127)
with open(sys.argv[1], "w") as f:
    f.write(f"{pid}\n")
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[2], "w") as f:
    f.write(f"{ru.ru_utime + ru.ru_stime:.3f}\n")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
' "$@"
}

fcmp() { python3 -c "import sys; sys.exit(0 if $1 else 1)"; }

# run_loss NAME LIMIT PERF-ARGS...: start the target and perf, SIGKILL the
# target KILL_AFTER s after perf connected and check how perf ends: within LIMIT seconds of
# its start, nonzero status, little CPU after the kill, a report on stdout.
run_loss() {
	local name=$1 limit=$2 t0 t_kill t_end rc cpu_before cpu_total perf_pid wrapper
	shift 2
	start_target || { fail "$name: target start"; return; }
	rm -f "$ppid_file" "$tmp/perf.cpu"
	t0=$EPOCHREALTIME
	run_rusage "$ppid_file" "$tmp/perf.cpu" "$CLI" perf -t tcp -a 127.0.0.1 -s 4420 -n "$NQN" \
		--json "$@" >"$tmp/perf.json" 2>"$tmp/perf.err" &
	wrapper=$!
	# Under load perf may take a while to start: time it from its Connect,
	# so that the kill always lands on a connected host.
	for _ in $(seq 300); do
		[ -s "$ppid_file" ] && grep -q ' connected to ' "$tmp/target.log" && break
		kill -0 "$wrapper" 2>/dev/null || break
		sleep 0.05
	done
	t0=$EPOCHREALTIME
	sleep "$KILL_AFTER"
	perf_pid=$(cat "$ppid_file" 2>/dev/null)
	cpu_before=$(proc_cpu_ticks "$perf_pid")
	t_kill=$EPOCHREALTIME
	kill_target
	while kill -0 "$wrapper" 2>/dev/null; do
		if fcmp "$EPOCHREALTIME - $t0 > $HARD_LIMIT"; then
			echo "    perf still running after $HARD_LIMIT s: killing it"
			kill -9 "$perf_pid" 2>/dev/null
			break
		fi
		sleep 0.05
	done
	wait "$wrapper"
	rc=$?
	t_end=$EPOCHREALTIME
	cpu_total=$(cat "$tmp/perf.cpu" 2>/dev/null || echo 0)
	local elapsed after cpu_after pct
	elapsed=$(python3 -c "print(f'{$t_end - $t0:.2f}')")
	after=$(python3 -c "print(f'{$t_end - $t_kill:.2f}')")
	cpu_after=$(python3 -c "print(f'{max(0.0, $cpu_total - $cpu_before / $(getconf CLK_TCK)):.2f}')")
	pct=$(python3 -c "print(f'{100 * $cpu_after / max($after, 0.01):.0f}')")
	echo "    $name: exit $rc after $elapsed s ($after s after the kill), CPU $cpu_total s in all," \
		"$cpu_after s after the kill ($pct %)"
	sed 's/^/    perf: /' "$tmp/perf.json"
	grep -v '^$' "$tmp/perf.err" | head -n 6 | sed 's/^/    perf stderr: /'

	if fcmp "$elapsed <= $limit"; then
		pass "$name: perf ended within $limit s ($elapsed s)"
	else
		fail "$name: perf ended within $limit s ($elapsed s)"
	fi
	if [ "$rc" != 0 ]; then
		pass "$name: nonzero exit status ($rc)"
	else
		fail "$name: nonzero exit status ($rc)"
	fi
	if fcmp "$pct < $CPU_MAX_PCT"; then
		pass "$name: no spinning after the kill ($pct % CPU < $CPU_MAX_PCT %)"
	else
		fail "$name: no spinning after the kill ($pct % CPU < $CPU_MAX_PCT %)"
	fi
	if grep -qE 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$tmp/perf.err"; then
		fail "$name: sanitizer report"
		grep -m 10 -A 10 -E 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$tmp/perf.err" | sed 's/^/    /'
	fi
	if python3 - "$tmp/perf.json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    ok = d["ios"] > 0 and d["errors"] + d.get("not_completed", 0) > 0
except (OSError, ValueError, KeyError) as e:
    print(f"    no usable report: {e}")
    sys.exit(1)
sys.exit(0 if ok else 1)
PY
	then
		pass "$name: report with the I/Os done and the ones failed or not completed"
	else
		fail "$name: report with the I/Os done and the ones failed or not completed"
	fi
}

run_loss "randread qd32 -T $T" $((T + SLACK)) -w randread -q 32 -T "$T"
run_loss "randrw 2 queues 2 threads -T $T" $((T + SLACK)) -w randrw -q 16 --queues 2 --threads 2 -T "$T"
# No -T: only ctrl_loss_tmo can end it, and the wait for it must not spin either.
run_loss "randwrite --count, ctrl_loss_tmo 3" $((KILL_AFTER + 3 + SLACK)) -w randwrite -q 8 \
	--count 1000000000 --reconnect-delay 1 --ctrl-loss-tmo 3
finish
