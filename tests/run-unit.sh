#!/bin/bash
# Run every unit test program of a build and aggregate the cmocka results.
#
#   usage: tests/run-unit.sh [--valgrind] [BUILD]      (BUILD defaults to build)
#
# Each BUILD/tests/test_* program is run on its own (UNIT_TIMEOUT seconds,
# default 300, 120 under valgrind; SIGKILL 10 s later if it ignores SIGTERM). Its cmocka summary gives the number of passed and failed test
# cases; a program that crashes or exits nonzero without a cmocka summary
# counts as one failure. With --valgrind every program runs under
# valgrind --error-exitcode=1 --leak-check=full, and any valgrind error fails
# that program. In a ThreadSanitizer build (make TSAN=1) any race report fails
# the program that printed it (suppressions: tests/tsan.supp, if any). The
# last line is "N passed, N failed"; the exit status is nonzero if anything
# failed or no test program was found.
set -u
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
args=("$@")

valgrind=0
if [ "${1:-}" = --valgrind ]; then
	valgrind=1
	shift
fi
build=${1:-build}
timeout_s=${UNIT_TIMEOUT:-300}
[ "$valgrind" = 1 ] && timeout_s=${UNIT_TIMEOUT:-120}

if [ ! -d "$build/tests" ]; then
	echo "run-unit: no $build/tests directory (build first: make${build:+ BUILD=$build})" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
tsan=0
tsan_setup "$build" "${args[@]}" && tsan=1

wrap=()
if [ "$valgrind" = 1 ]; then
	command -v valgrind >/dev/null || { echo "run-unit: valgrind is not installed" >&2; echo "0 passed, 1 failed"; exit 1; }
	wrap=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible
		--show-leak-kinds=definite,possible --track-fds=no)
fi

logdir=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-unit.XXXXXX")
trap 'rm -rf "$logdir"' EXIT

passed=0
failed=0
programs=0
for t in "$build"/tests/test_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	case $t in *.d | *.o) continue ;; esac
	name=${t##*/}
	programs=$((programs + 1))
	log=$logdir/$name.log
	start=$(date +%s.%N)
	rc=0
	# cmocka writes its report to stdout and failure details to stderr.
	timeout -k 10 "$timeout_s" ${wrap[@]+"${wrap[@]}"} "$t" >"$log" 2>&1 || rc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

	np=$(grep -o '\[  PASSED  \] [0-9]*' "$log" | awk '{ s += $NF } END { print s + 0 }')
	nf=$(grep -o '\[  FAILED  \] [0-9]*' "$log" | awk '{ s += $NF } END { print s + 0 }')
	ns=$(grep -o '\[  SKIPPED \] [0-9]*' "$log" | awk '{ s += $NF } END { print s + 0 }')
	have_summary=0
	grep -q '\[==========\] .* test(s) run' "$log" && have_summary=1

	if [ "$rc" = 0 ] && [ "$nf" = 0 ]; then
		if [ "$have_summary" = 1 ]; then
			passed=$((passed + np))
			skipped=
			[ "$ns" = 0 ] || skipped=", $ns skipped"
			echo "PASS $name: $np passed$skipped (${secs}s)"
		else
			passed=$((passed + 1))
			echo "PASS $name (${secs}s)"
		fi
		continue
	fi

	why="exit status $rc"
	[ "$rc" = 124 ] && why="timed out after ${timeout_s}s"
	[ "$rc" = 137 ] && why="timed out after ${timeout_s}s and ignored SIGTERM (killed)"
	[ "$rc" = 99 ] && [ "$valgrind" = 1 ] && why="valgrind reported errors"
	[ "$rc" = 66 ] && [ "$tsan" = 1 ] && why="ThreadSanitizer reported races"
	[ "$rc" -gt 128 ] && [ "$rc" != 137 ] && why="killed by signal $((rc - 128))"
	[ "$nf" = 0 ] && nf=1 # a crash or valgrind error fails the program as a whole
	passed=$((passed + np))
	failed=$((failed + nf))
	echo "FAIL $name: $np passed, $nf failed, $why (${secs}s)"
	# Show what went wrong: the whole output when short, otherwise the
	# cmocka failure lines and sanitizer/valgrind reports, then the tail.
	if [ "$(wc -l <"$log")" -le 80 ]; then
		sed 's/^/    | /' "$log"
	elif grep -q '^WARNING: ThreadSanitizer' "$log"; then
		sed -n '/^==================$/,/^==================$/p' "$log" | head -n 200 | sed 's/^/    | /'
	else
		grep -E '\[  FAILED  \]|\[  ERROR   \]|\[   LINE   \]|ERROR: |runtime error|^==[0-9]+==' "$log" |
			head -n 60 | sed 's/^/    /'
		echo "    (last 40 lines of output)"
		tail -n 40 "$log" | sed 's/^/    | /'
	fi
done

if [ "$programs" = 0 ]; then
	echo "run-unit: no test programs in $build/tests" >&2
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
