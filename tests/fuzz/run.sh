#!/bin/bash
# Build the fuzz targets with libFuzzer (clang, ASan, UBSan) into build-fuzz/
# and run each for a bounded time.
#
#   usage: tests/fuzz/run.sh [TARGET...]           fuzz (all targets by default)
#          tests/fuzz/run.sh --replay [TARGET...]  no libFuzzer: build with cc +
#                                                  ASan/UBSan and replay the corpora
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_JOBS      parallel fuzzing processes per target (default 1)
#   FUZZ_OUT       build directory (default build-fuzz)
#   CLANG          compiler for libFuzzer builds (default clang)
#
# Corpora: build-fuzz/corpus/TARGET/ (seeded by gen_corpus.py, grows across
# runs) plus tests/fuzz/corpus/TARGET/ when present (checked-in regressions,
# read only). A crash, leak, sanitizer report or timeout fails the target; the
# input is kept as build-fuzz/artifacts/TARGET-crash-*. The last line is
# "N passed, N failed"; the exit status is nonzero if a target failed.
set -u
cd "$(dirname "$0")/../.."

replay=0
if [ "${1:-}" = --replay ]; then
	replay=1
	shift
fi
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
out=${FUZZ_OUT:-build-fuzz}
clang=${CLANG:-clang}
all_targets="fuzz_tcp_pdu fuzz_target_cmd fuzz_tcp_conn fuzz_auth_msg"
targets=${*:-$all_targets}

# What each target links: the directories under src/ it needs, users before
# what they use (the archives are also listed twice for the cycles).
target_dirs() {
	case $1 in
	fuzz_tcp_pdu) echo "src/proto src/common" ;;
	fuzz_target_cmd) echo "src/control src/transport src/target src/backend src/reactor src/crypto src/proto src/common" ;;
	fuzz_tcp_conn) echo "src/control src/transport src/target src/backend src/reactor src/crypto src/proto src/common" ;;
	fuzz_auth_msg) echo "src/host src/crypto src/proto src/common" ;;
	*) return 1 ;;
	esac
}

if [ "$replay" = 1 ]; then
	cc=${CC:-cc}
	san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
	objdir=$out/replay-obj
	bindir=$out/replay
else
	cc=$clang
	command -v "$cc" >/dev/null || {
		echo "fuzz: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2
		echo "0 passed, 1 failed"
		exit 1
	}
	san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
	objdir=$out/obj
	bindir=$out
fi
cflags="-std=c17 -D_GNU_SOURCE -O1 -g -Wall -Wno-unused-parameter -Isrc -Iinclude -pthread $san"
mkdir -p "$objdir" "$bindir" "$out/artifacts"

# Compile every .c of a directory into one archive, so a target links only
# the objects it needs. Rebuilds objects older than their source or headers.
build_lib() {
	local dir=$1 lib=$objdir/lib$(echo "$1" | tr / _).a objs=() src obj newest
	newest=$(find src -name '*.h' -printf '%T@\n' | sort -n | tail -n 1)
	for src in "$dir"/*.c; do
		[ -f "$src" ] || continue
		obj=$objdir/${src%.c}.o
		mkdir -p "$(dirname "$obj")"
		if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] ||
			awk -v a="$(stat -c %Y "$obj")" -v b="${newest%.*}" 'BEGIN { exit !(b > a) }'; then
			# shellcheck disable=SC2086
			$cc $cflags -c "$src" -o "$obj" || return 1
		fi
		objs+=("$obj")
	done
	rm -f "$lib"
	[ ${#objs[@]} -gt 0 ] || return 2
	ar rcs "$lib" "${objs[@]}"
	echo "$lib"
}

build_target() {
	local t=$1 libs=() d lib rc
	for d in $(target_dirs "$t"); do
		rc=0
		lib=$(build_lib "$d") || rc=$?
		if [ "$rc" = 2 ]; then
			echo "fuzz: $t needs $d, which has no sources yet" >&2
			return 2
		fi
		[ "$rc" = 0 ] || return 1
		libs+=("$lib")
	done
	local main=() link=-fsanitize=fuzzer
	if [ "$replay" = 1 ]; then
		main=(tests/fuzz/standalone.c)
		link=
	fi
	# System libraries as the Makefile links the target (plus libm).
	local syslibs
	syslibs=$(sed -n 's/^LIBS_TARGET *:*= *//p' Makefile)
	# Libraries twice: the archives depend on each other in both directions.
	# shellcheck disable=SC2086
	$cc $cflags $link -o "$bindir/$t" "tests/fuzz/$t.c" ${main[@]+"${main[@]}"} \
		"${libs[@]}" "${libs[@]}" ${syslibs:--luring -lisal -ljson-c} -lm
}

python3 tests/fuzz/gen_corpus.py "$out/corpus" >/dev/null || {
	echo "fuzz: gen_corpus.py failed" >&2
	echo "0 passed, 1 failed"
	exit 1
}

passed=0
failed=0
for t in $targets; do
	target_dirs "$t" >/dev/null || { echo "fuzz: unknown target $t" >&2; failed=$((failed + 1)); continue; }
	echo "=== $t: build"
	rc=0
	build_target "$t" || rc=$?
	if [ "$rc" != 0 ]; then
		echo "FAIL $t: build failed"
		failed=$((failed + 1))
		continue
	fi
	corpora=("$out/corpus/$t")
	[ -d "tests/fuzz/corpus/$t" ] && corpora+=("tests/fuzz/corpus/$t")
	log=$out/$t.log
	if [ "$replay" = 1 ]; then
		echo "=== $t: replay ${corpora[*]}"
		rc=0
		"$bindir/$t" "${corpora[@]}" >"$log" 2>&1 || rc=$?
	else
		echo "=== $t: fuzz for ${seconds}s (corpus ${corpora[*]})"
		fork=()
		[ "$jobs" -gt 1 ] && fork=(-fork="$jobs")
		rc=0
		# -close_fd_mask=2: the code under test logs every refused input to
		# stderr; libFuzzer and the sanitizers still report through their own fd.
		ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
			UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
			"$bindir/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=3072 -max_len=65536 \
			-print_final_stats=1 -close_fd_mask=2 -artifact_prefix="$out/artifacts/$t-" \
			${fork[@]+"${fork[@]}"} \
			"${corpora[@]}" >"$log" 2>&1 || rc=$?
	fi
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
		if [ "$replay" = 1 ]; then
			echo "PASS $t: $(tail -n 1 "$log")"
		else
			stats=$(grep -E '^stat::(number_of_executed_units|new_units_added)' "$log" | tr '\n' ' ')
			cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
			echo "PASS $t: $cov $stats"
		fi
	else
		failed=$((failed + 1))
		echo "FAIL $t: exit status $rc; report:"
		grep -nE 'ERROR|SUMMARY|runtime error|invariant failed|Test unit written|deadly signal|#[0-9]+ 0x' "$log" |
			head -n 60 | sed 's/^/    /'
		echo "    (full log: $log)"
		art=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -n 1 | sed 's/.* //')
		# Replay: the input that was running when it failed.
		[ -z "$art" ] && [ "$replay" = 1 ] && art=$(sed -n 's/^Running: //p' "$log" | tail -n 1)
		[ -n "$art" ] && echo "    reproduce (messages on stderr included): $bindir/$t $art"
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
