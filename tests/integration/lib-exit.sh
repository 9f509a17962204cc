#!/bin/bash
# tests/lib.sh's exit handling, which every integration script relies on.
#
#   tests/integration/lib-exit.sh [BUILD]      (BUILD is accepted, not used)
#
# A child the shell forks runs the parent's EXIT trap when SIGTERM reaches it
# before it reset the traps it inherited, and run_bounded ends its watchdog
# that way as soon as a quick test is done. With `trap cleanup EXIT`, under
# load, run.sh's cleanup then ran in a watchdog: it killed the target and
# removed the temporary directory mid-run ("target died", exit 99, no summary
# line). on_exit must run its command once, in the script's own shell.
set -u
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
use_build "${1:-}"
lib=${LIB_SH:-$repo/tests/lib.sh} # LIB_SH: another copy to test
dir=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-lib-exit.XXXXXX")
# shellcheck disable=SC2016 # expanded at exit
on_exit 'rm -rf "$dir"'

# A script that sets its cleanup with on_exit, runs N quick bounded commands
# and exits 3; every process that runs the cleanup appends its pid.
child() { # N
	# shellcheck disable=SC2016 # expanded by the child
	bash -c '. "$1"; on_exit "read -r p x </proc/self/stat; echo \$p >>\"$2\""; echo $$ >"$2.main"
		for _ in $(seq "$3"); do run_bounded 60 true; done; exit 3' _ "$lib" "$dir/ran" "$1" 2>"$dir/err"
}

: >"$dir/ran"
rc=0
child 300 || rc=$?
runs=$(wc -l <"$dir/ran")
if [ "$rc" = 3 ] && [ "$runs" = 1 ] && [ "$(cat "$dir/ran")" = "$(cat "$dir/ran.main")" ]; then
	pass "on_exit: run once, in the script's shell, exit status kept (300 bounded commands)"
else
	fail "on_exit: exit status $rc (want 3), cleanup run $runs times (want once, by $(cat "$dir/ran.main")): $(tr '\n' ' ' <"$dir/ran")"
	head -n 5 "$dir/err"
fi

# run_bounded: the command's status, and SIGTERM once its time is up.
rc=0
run_bounded 30 sh -c 'exit 7' || rc=$?
check "run_bounded returns the command's status" [ "$rc" = 7 ]
t0=$SECONDS
rc=0
run_bounded 1 sleep 30 || rc=$?
secs=$((SECONDS - t0))
check "run_bounded ends a command after its time (status $rc, $secs s)" test "$rc" = 143 -a "$secs" -lt 10
finish
