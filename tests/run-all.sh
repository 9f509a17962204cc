#!/bin/bash
# Every test of the project, in one command (`make check` runs this):
#
#   build        release (build/), ASan+UBSan (build-san/) and ThreadSanitizer
#                (build-tsan/) builds
#   unit         unit tests in all three builds, and the release build's under
#                valgrind
#   integration  tests/integration/run.sh and every other tests/integration/*.sh,
#                on all three builds (under TSan every race reported is a failure)
#   soak         tests/soak/run.sh on the ASan+UBSan build, when it exists
#   fuzz         libFuzzer targets, FUZZ_SECONDS each (default 60)
#   interop      tests/interop/run.sh and tests/interop/target-*.sh (the Linux
#                host, or SPDK's perf client, vs. our target),
#                tests/interop/host-vs-kernel-target.sh (our host vs. the Linux
#                target), tests/interop/host-tls-vs-kernel-target.sh (the same
#                over TLS, 6.12 kernel), tests/interop/auth.sh (DH-HMAC-CHAP both ways with
#                the Linux 6.12 host and target); needs root, skipped otherwise
#
#   RUN_ALL_SKIP="fuzz interop ..."   stages to leave out (stage names below)
#   RUN_ALL_ONLY="unit-release ..."   run only these stages
#   JOBS                              make parallelism (default: nproc)
#
# Stage names: build-release build-san build-tsan unit-release unit-san
# unit-tsan unit-valgrind integration-release integration-san integration-tsan
# integration-NAME[-san|-tsan] soak fuzz interop-target interop-target-NAME interop-tls
# interop-host interop-host-tls interop-auth. A group name selects or skips several stages: the text before
# the first "-" (build, unit, integration, soak, fuzz, interop), or a build
# variant at the end (release, san, tsan, valgrind): RUN_ALL_ONLY=tsan runs
# build-tsan unit-tsan integration-tsan integration-NAME-tsan.
# Each stage's output is shown as it runs and kept in build/check-logs/.
# The last line is "N passed, N failed" summed over all stages; the exit
# status is nonzero if anything failed.
set -u
cd "$(dirname "$0")/.." || exit 1
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
logs=build/check-logs
mkdir -p "$logs"
export FUZZ_SECONDS=${FUZZ_SECONDS:-60}

total_passed=0
total_failed=0
summary=()
failed_stages=()
t_start=$(date +%s)

# listed LIST NAME GROUP VARIANT: is one of them a word of LIST?
listed() {
	local w
	for w in "$2" "$3" "$4"; do
		[ -n "$w" ] && [[ " $1 " == *" $w "* ]] && return 0
	done
	return 1
}

want() { # a stage runs unless skipped, by its name or one of its groups
	local s=$1 group=${1%%-*} variant=${1##*-}
	case $variant in release | san | tsan | valgrind) ;; *) variant= ;; esac
	[ "$variant" = "$s" ] && variant=
	if [ -n "${RUN_ALL_ONLY:-}" ]; then
		listed "$RUN_ALL_ONLY" "$s" "$group" "$variant" || return 1
	fi
	listed "${RUN_ALL_SKIP:-}" "$s" "$group" "$variant" && return 1
	return 0
}

# stage NAME COMMAND...: run it, show and log its output, take its
# "N passed, N failed" line (or count the command as one test), exit 77 = skipped.
stage() {
	local name=$1 log=$logs/$1.log rc=0 t0 secs line np nf
	shift
	if ! want "$name"; then
		summary+=("$(printf '%-30s %s' "$name" "not selected")")
		return 0
	fi
	echo
	echo "======== $name: $*"
	t0=$(date +%s)
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	secs=$(($(date +%s) - t0))
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ "$rc" = 77 ]; then
		summary+=("$(printf '%-30s %-28s %5ss' "$name" "skipped" "$secs")")
		echo "======== $name: skipped ($(grep -m1 -i 'skipped' "$log" || echo 'no reason given'))"
		return 0
	fi
	if [ -n "$line" ]; then
		np=${line%% passed*}
		nf=${line#*, }
		nf=${nf%% failed*}
	elif [ "$rc" = 0 ]; then
		np=1 nf=0
	else
		np=0 nf=1
	fi
	# A nonzero exit with no counted failure is still a failure.
	[ "$rc" != 0 ] && [ "$nf" = 0 ] && nf=1
	total_passed=$((total_passed + np))
	total_failed=$((total_failed + nf))
	local verdict=PASS
	[ "$nf" = 0 ] || verdict=FAIL
	summary+=("$(printf '%-30s %-4s %4s passed %4s failed %5ss' "$name" "$verdict" "$np" "$nf" "$secs")")
	[ "$nf" = 0 ] || failed_stages+=("$name")
	echo "======== $name: $verdict ($np passed, $nf failed, ${secs}s)"
}

skip_stage() { # NAME REASON
	if want "$1"; then
		echo
		echo "======== $1: skipped: $2"
		summary+=("$(printf '%-30s %-28s' "$1" "skipped: $2")")
	fi
}

# ------------------------------------------------------------------ builds
stage build-release make -j"$jobs" tests
stage build-san make -j"$jobs" SAN=1 tests
stage build-tsan make -j"$jobs" TSAN=1 tests

# -------------------------------------------------------------------- unit
stage unit-release tests/run-unit.sh build
stage unit-san tests/run-unit.sh build-san
stage unit-tsan tests/run-unit.sh build-tsan
if command -v valgrind >/dev/null; then
	stage unit-valgrind tests/run-unit.sh --valgrind build
else
	skip_stage unit-valgrind "valgrind is not installed"
fi

# ------------------------------------------------------------- integration
if [ -f tests/integration/run.sh ]; then
	stage integration-release bash tests/integration/run.sh build
	stage integration-san bash tests/integration/run.sh build-san
	stage integration-tsan bash tests/integration/run.sh build-tsan
else
	for s in integration-release integration-san integration-tsan; do
		skip_stage "$s" "tests/integration/run.sh does not exist yet"
	done
fi
# Further integration suites (e.g. control.sh), on the sanitizer builds too.
for f in tests/integration/*.sh; do
	[ -f "$f" ] && [ "$f" != tests/integration/run.sh ] || continue
	n=$(basename "$f" .sh)
	stage "integration-$n" bash "$f" build
	stage "integration-$n-san" bash "$f" build-san
	stage "integration-$n-tsan" bash "$f" build-tsan
done

# -------------------------------------------------------------------- soak
if [ -f tests/soak/run.sh ]; then
	stage soak bash tests/soak/run.sh build-san
else
	skip_stage soak "tests/soak/run.sh does not exist yet"
fi

# -------------------------------------------------------------------- fuzz
if command -v "${CLANG:-clang}" >/dev/null; then
	stage fuzz tests/fuzz/run.sh
else
	skip_stage fuzz "clang is not installed (apt-get install clang libclang-rt-14-dev)"
fi

# ----------------------------------------------------------------- interop
if [ "$(id -u)" != 0 ]; then
	skip_stage interop-target "needs root: the kernel interop harness installs qemu with apt-get"
	skip_stage interop-host "needs root: the kernel interop harness installs qemu with apt-get"
	skip_stage interop-host-tls "needs root: the kernel interop harness installs qemu with apt-get"
	skip_stage interop-tls "needs root: the kernel interop harness installs qemu with apt-get"
	skip_stage interop-auth "needs root: the kernel interop harness installs qemu with apt-get"
else
	stage interop-target tests/interop/run.sh build
	# More kernel-host scenarios for our target (e.g. live reconfiguration).
	for f in tests/interop/target-*.sh; do
		[ -f "$f" ] || continue
		stage "interop-$(basename "$f" .sh)" bash "$f" build
	done
	# TLS 1.3 with the 6.12 kernel host (trixie guest with tlshd).
	stage interop-tls bash tests/interop/tls.sh build
	if [ -f tests/interop/host-vs-kernel-target.sh ]; then
		stage interop-host bash tests/interop/host-vs-kernel-target.sh build
	else
		skip_stage interop-host "tests/interop/host-vs-kernel-target.sh does not exist yet"
	fi
	# Our host over TLS vs. the 6.12 kernel target (the harness's trixie image).
	stage interop-host-tls bash tests/interop/host-tls-vs-kernel-target.sh build
	# DH-HMAC-CHAP with Linux 6.12 (trixie guest) as host of our target and as target of our host.
	stage interop-auth bash tests/interop/auth.sh build
fi

echo
echo "======== summary ($(($(date +%s) - t_start))s, logs in $logs/)"
for s in "${summary[@]}"; do
	echo "  $s"
done
# What failed, again at the end: often only the tail of the output is kept.
for s in "${failed_stages[@]}"; do
	echo "======== $s: failed checks (first 10 of $logs/$s.log)"
	grep -E 'FAIL|ERROR: AddressSanitizer|WARNING: ThreadSanitizer|runtime error' "$logs/$s.log" |
		head -n 10 | cut -c1-200 | sed 's/^/  /'
done
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" = 0 ]
