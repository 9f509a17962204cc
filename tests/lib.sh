# Shared pieces of the test scripts (source it; bash only).
#
#   CHECK_PREFIX   text before "ok:"/"FAIL:" in pass/fail lines (default "CHECK ")
#   pass MSG / fail MSG   count and print one check
#   finish                print "N passed, N failed" and exit (nonzero on failure)
#   find_interop          print the kernel interop harness directory (INTEROP_DIR,
#                         else ../shared/interop beside the repository)
#   run_bounded SECS CMD...   run CMD in a subshell, SIGTERM it after SECS; its status

passed=${passed:-0}
failed=${failed:-0}

pass() { echo "${CHECK_PREFIX-CHECK }ok: $*"; passed=$((passed + 1)); }
fail() { echo "${CHECK_PREFIX-CHECK }FAIL: $*"; failed=$((failed + 1)); }

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit $?
}

find_interop() {
	local d top
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	for d in "${INTEROP_DIR:-}" "$top/../shared/interop" /work/shared/interop; do
		[ -n "$d" ] && [ -x "$d/kernel-host" ] && { (cd "$d" && pwd); return 0; }
	done
	return 1
}

run_bounded() {
	local secs=$1 pid wd rc
	shift
	("$@") &
	pid=$!
	# The watchdog's own sleep is killed with it, so nothing lingers.
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep "$secs" &
		s=$!
		wait "$s" && kill -TERM "$pid"
	) >/dev/null 2>&1 &
	wd=$!
	wait "$pid"
	rc=$?
	kill "$wd" 2>/dev/null
	wait "$wd" 2>/dev/null
	return "$rc"
}
