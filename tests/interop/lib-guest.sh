# Host side of the interop tests whose guest script paces itself with "MARK
# name" lines (source it after tests/lib.sh; bash only). Uses interop (the
# harness directory, from find_interop) and CLI.
#
#   guest_start OUT SCRIPT [KEY=VALUE]...   run SCRIPT in a kernel-host guest
#                         (with tests/interop/guest/lib.sh), its output in OUT
#                         and, prefixed, on stdout; sets GPID
#   wait_mark NAME        wait for the guest's "MARK NAME" (false if the guest
#                         ended or MARK_TIMEOUT seconds passed); polls every 50 ms,
#                         so the time it returns is the time the guest got there
#   guest_finish          wait for the guest, one check for its exit status, and
#                         count its own CHECK lines
#   subsys_io SOCK NQN    reads + writes the target on SOCK served for NQN
#   now_ms                this machine's clock in milliseconds
# shellcheck shell=bash

guest_start() {
	local out=$1 script=$2
	shift 2
	OUT=$out
	# shellcheck disable=SC2154 # set by the sourcing script
	INTEROP_TIMEOUT=${INTEROP_TIMEOUT:-900} bash "$interop/kernel-host" -f tests/interop/guest/lib.sh \
		"$@" "$script" >"$OUT" 2>&1 &
	GPID=$!
	tail -n +1 -f "$OUT" --pid="$GPID" 2>/dev/null | sed 's/^/  guest| /' &
	guest_tail_pid=$!
}

wait_mark() {
	for _ in $(seq 1 $((${MARK_TIMEOUT:-600} * 20))); do
		grep -q "MARK $1" "$OUT" && return 0
		kill -0 "$GPID" 2>/dev/null || { grep -q "MARK $1" "$OUT"; return; }
		sleep 0.05
	done
	return 1
}

guest_finish() {
	local rc=0 n
	wait "$GPID" || rc=$?
	GPID=
	wait "$guest_tail_pid" 2>/dev/null
	case $rc in
	0) pass "guest script finished cleanly" ;;
	124) fail "guest timed out (INTEROP_TIMEOUT)" ;;
	125) fail "guest or harness failure" ;;
	*) fail "guest script exited with status $rc" ;;
	esac
	n=$(grep -c 'CHECK ok:' "$OUT")
	passed=$((passed + n))
	n=$(grep -c 'CHECK FAIL:' "$OUT")
	failed=$((failed + n))
}

subsys_io() {
	"$CLI" target --rpc-socket "$1" list --json 2>/dev/null | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(sum(s['stats']['reads'] + s['stats']['writes'] for s in d['subsystems'] if s['nqn'] == sys.argv[1]))" "$2" 2>/dev/null
}

now_ms() { date +%s%3N; }
