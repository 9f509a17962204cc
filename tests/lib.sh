# Shared pieces of the test scripts (source it; bash only).
#
#   CHECK_PREFIX   text before "ok:"/"FAIL:" in pass/fail lines (default "CHECK ")
#   pass MSG / fail MSG   count and print one check
#   finish                print "N passed, N failed" and exit (nonzero on failure)
#   on_exit CMD           run CMD (a function name, or a command) when this
#                         script exits, in this shell only (see below)
#   use_build [BUILD]     for a script under tests/: cd to the repository and set
#                         repo (its path), build (BUILD, default build), bdir
#                         (BUILD as an absolute path), TGT and CLI (nvmeof-target
#                         and nvmeof in it)
#   target_wait_ready [SOCK]   after starting the target (pid in TPID, log in LOG):
#                         wait up to 10 s for its ready line (and for the socket
#                         SOCK), then one check; if it is not ready, the end of LOG
#                         and finish
#   target_kill           stop the target whose pid is in TPID, if it still runs
#                         (for a cleanup trap)
#   target_stop_check     the last checks of a test that started the target: it
#                         still runs (TPID) and exits 0 on SIGTERM; TPID is cleared,
#                         target_died set when it did not
#   target_log_if_failed PATTERN LINES   if a check failed, print up to LINES lines
#                         of LOG that match PATTERN (grep -iE); if the target died
#                         or exited nonzero, its last LINES lines as well
#   find_interop          print the kernel interop harness directory (INTEROP_DIR,
#                         else ../shared/interop beside the repository)
#   run_bounded SECS CMD...   run CMD in a subshell, SIGTERM it after SECS; its status
#   tsan_setup BUILD_DIR [ARGS...]   for a ThreadSanitizer build: export TSAN_OPTIONS
#                         (with tests/tsan.supp when it exists) and, when the TSan
#                         runtime cannot start under this kernel's address-space
#                         randomisation, run the calling script again (with ARGS,
#                         its own arguments) under `setarch -R`; status 1 for any
#                         other build
#   tsan_log_to DIR       after tsan_setup: every program started from now on
#                         writes its reports into DIR instead of stderr, and its
#                         exit status no longer depends on them
#   tsan_check DIR        one failed check per distinct race reported in DIR (the
#                         first report of each is printed), or one passed check
#   ana_path_config NQN PORT STATE CNTLID_MIN CNTLID_MAX IMG [UUID NGUID]
#                         print a target config: one port on 127.0.0.1 with ANA group 1
#                         in STATE, subsystem NQN with namespace 1 on file IMG in that
#                         group; two instances given the same IMG, UUID and NGUID (and
#                         disjoint cntlid ranges) are two paths to one namespace
#   wait_for SECS CMD...  run CMD until it succeeds, at most SECS seconds; its status

passed=${passed:-0}
failed=${failed:-0}
target_died=
# The repository, found while the path this file was sourced by is still
# valid (a script may cd later).
lib_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# A child this shell forks (a ( ... ) & subshell, or even `sleep &` before it
# execs) runs the parent's EXIT trap if SIGTERM reaches it before it reset its
# traps: bash's handler is still installed. run_bounded kills such children
# when a test ends quickly, so a plain `trap cleanup EXIT` could, under load,
# stop the target and remove the temporary directory in the middle of the run.
# on_exit runs CMD only in the process that set it. (Not by $BASHPID: in such
# a child it can still read as the parent's pid; /proc/self cannot.)
on_exit() {
	# shellcheck disable=SC2064,SC2154 # the pid is fixed now; lib_pid is set in the trap
	trap "read -r lib_pid lib_rest </proc/self/stat; if [ \"\$lib_pid\" = $BASHPID ]; then $1; fi" EXIT
}

pass() { echo "${CHECK_PREFIX-CHECK }ok: $*"; passed=$((passed + 1)); }
fail() { echo "${CHECK_PREFIX-CHECK }FAIL: $*"; failed=$((failed + 1)); }

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit $?
}

# shellcheck disable=SC2034 # set for the caller
use_build() {
	repo=$lib_repo
	cd "$repo" || exit 1
	build=${1:-build}
	case $build in /*) bdir=$build ;; *) bdir=$repo/$build ;; esac
	TGT=$bdir/nvmeof-target
	CLI=$bdir/nvmeof
}

# check DESCRIPTION COMMAND...: one pass or fail, by COMMAND's status.
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# free_port [TAKEN...]: a TCP port in 17000-18999 that nothing on 127.0.0.1
# listens on and that is none of TAKEN (ports picked but not bound yet).
free_port() {
	local p t
	for _ in $(seq 50); do
		p=$((17000 + RANDOM % 2000))
		for t in "$@"; do [ "$p" = "$t" ] && continue 2; done
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

# integration_begin NAME [BUILD [ARGS...]]: the start every integration script
# shares: TGT and CLI of the build (or "0 passed, 1 failed" when not built),
# ThreadSanitizer set up in such a build (tsan=1), a temporary directory
# (tmp), and at exit the target started as tpid stopped and tmp removed.
integration_begin() {
	local name=$1 b
	shift
	use_build "${1:-}"
	for b in "$TGT" "$CLI"; do
		[ -x "$b" ] || { echo "$name: $b not built"; echo "0 passed, 1 failed"; exit 1; }
	done
	tsan=0
	tsan_setup "$bdir" "$@" && tsan=1
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-$name.XXXXXX")
	[ "$tsan" = 1 ] && tsan_log_to "$tmp/tsan"
	tpid=
	on_exit integration_cleanup
}

integration_cleanup() {
	[ -n "${tpid:-}" ] && kill "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
	rm -rf "$tmp"
}

target_wait_ready() {
	# READY_SEEN: "ready" lines in LOG from earlier instances (a log appended to on restart).
	local seen=${READY_SEEN:-0}
	ready_now() { [ "$(grep -c 'nvmeof-target: ready' "$LOG" 2>/dev/null)" -gt "$seen" ]; }
	for _ in $(seq 1 100); do
		ready_now && { [ -z "${1:-}" ] || [ -S "$1" ]; } && break
		kill -0 "$TPID" 2>/dev/null || break
		sleep 0.1
	done
	if ! ready_now; then
		tail -n 30 "$LOG"
		fail "target starts"
		finish
	fi
	pass "target ready"
}

target_kill() {
	if [ -n "${TPID:-}" ] && kill -0 "$TPID" 2>/dev/null; then
		kill -TERM "$TPID"
		wait "$TPID" 2>/dev/null
	fi
}

target_stop_check() {
	local rc=0
	if kill -0 "$TPID" 2>/dev/null; then
		kill -TERM "$TPID"
		wait "$TPID" || rc=$?
		TPID=
		if [ "$rc" = 0 ]; then
			pass "target exits 0 on SIGTERM"
		else
			fail "target exited with status $rc"
		fi
	else
		rc=0
		wait "$TPID" 2>/dev/null || rc=$?
		fail "target died during the test (status $rc)"
		TPID=
		target_died=1
	fi
	[ "$rc" = 0 ] || target_died=1
}

target_log_if_failed() {
	[ "$failed" != 0 ] || return 0
	echo "--- target log (warnings and errors)"
	grep -iE "$1" "$LOG" | head -n "$2"
	# A crash rarely logs a warning first: what it printed last says more.
	if [ -n "$target_died" ]; then
		echo "--- end of the target log"
		tail -n "$2" "$LOG"
	fi
}

find_interop() {
	local d
	for d in "${INTEROP_DIR:-}" "$lib_repo/../shared/interop" /work/shared/interop; do
		[ -n "$d" ] && [ -x "$d/kernel-host" ] && { (cd "$d" && pwd); return 0; }
	done
	return 1
}

# kernel_host_with_retry KERNEL-HOST ARGS...: the harness's kernel-host, run
# once more when its guest died without reporting the script's status (a
# guest kernel panic under emulation); the first attempt's console tail is
# shown, so a crash that comes back every time still fails and is seen.
# Output (the last attempt's) appears once the run ends.
kernel_host_with_retry() {
	local out rc attempt
	out=$(mktemp "${TMPDIR:-/tmp}/kernel-host.XXXXXX")
	for attempt in 1 2; do
		rc=0
		"$@" >"$out" 2>&1 || rc=$?
		if [ "$rc" = 125 ] && [ "$attempt" = 1 ] && grep -q 'stopped without reporting' "$out"; then
			tail -n 25 "$out" | sed 's/^/    (first attempt) /' >&2
			echo "kernel-host: the guest died before the script ended; trying once more" >&2
			continue
		fi
		break
	done
	cat "$out"
	rm -f "$out"
	return "$rc"
}

# kernel_target_with_retry KERNEL-TARGET ARGS...: the harness's kernel-target,
# run once more when its guest died before the target was ready (a boot
# failure under emulation, e.g. a TCG panic: none of our code ran yet).
kernel_target_with_retry() {
	local err rc attempt
	err=$(mktemp "${TMPDIR:-/tmp}/kernel-target.XXXXXX")
	for attempt in 1 2; do
		: >"$err"
		rc=0
		# (Shown once it ends: a tee here could still be writing when it is read.)
		"$@" 2>"$err" || rc=$?
		cat "$err" >&2
		if [ "$rc" = 125 ] && [ "$attempt" = 1 ] && grep -q 'stopped before the target was ready' "$err"; then
			echo "kernel-target: the guest failed to boot; trying once more" >&2
			continue
		fi
		break
	done
	rm -f "$err"
	return "$rc"
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

tsan_build() { # BUILD_DIR: are its programs built with ThreadSanitizer?
	local b
	for b in "$1/nvmeof-target" "$1/nvmeof" "$1"/tests/test_*; do
		[ -f "$b" ] || continue
		grep -q __tsan_init "$b" 2>/dev/null
		return
	done
	return 1
}

tsan_setup() {
	local build=$1 probe=
	shift
	tsan_build "$build" || return 1
	# gcc 12's runtime expects its shadow memory at fixed addresses; with more
	# mmap randomisation than it knows (vm.mmap_rnd_bits above 28) a library
	# may already sit there ("FATAL: ThreadSanitizer: unexpected memory
	# mapping"). Without randomisation the layout is the one it expects.
	for probe in "$build/nvmeof" "$build/nvmeof-target"; do
		[ -x "$probe" ] && break
	done
	if [ -x "$probe" ] && [ -z "${NVMEOF_TSAN_NORANDOM:-}" ] && ! "$probe" --help >/dev/null 2>&1; then
		if setarch "$(uname -m)" -R "$probe" --help >/dev/null 2>&1; then
			echo "tsan: the runtime needs address-space randomisation off here: setarch -R"
			export NVMEOF_TSAN_NORANDOM=1
			exec setarch "$(uname -m)" -R bash "$0" "$@"
		fi
		echo "tsan: $probe does not start (even with setarch -R):" >&2
		"$probe" --help 2>&1 | head -n 5 >&2
	fi
	export TSAN_OPTIONS="second_deadlock_stack=1${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
	[ -f "$lib_repo/tests/tsan.supp" ] && TSAN_OPTIONS="suppressions=$lib_repo/tests/tsan.supp $TSAN_OPTIONS"
	return 0
}

tsan_log_to() {
	mkdir -p "$1"
	export TSAN_OPTIONS="$TSAN_OPTIONS log_path=$1/report exitcode=0"
}

tsan_check() {
	local dir=$1 f sum n=0
	local -A seen=()
	for f in "$dir"/report.*; do
		[ -f "$f" ] || continue
		# A report runs from one "====" line to the next; key it by its SUMMARY.
		while IFS= read -r sum; do
			[ -n "${seen[$sum]:-}" ] && continue
			seen[$sum]=1
			n=$((n + 1))
			fail "ThreadSanitizer: ${sum#SUMMARY: ThreadSanitizer: } (${f##*/})"
			awk -v want="$sum" '
				/^==================$/ { if (hit) exit; buf = "" }
				{ buf = buf "    " $0 "\n" }
				$0 == want { hit = 1 }
				END { if (hit) printf "%s", buf }' "$f"
		done < <(grep '^SUMMARY: ThreadSanitizer' "$f")
		# Reports without a SUMMARY line (e.g. a runtime failure) count too.
		if ! grep -q '^SUMMARY: ThreadSanitizer' "$f" && grep -qE 'ThreadSanitizer|FATAL' "$f"; then
			n=$((n + 1))
			fail "ThreadSanitizer output in ${f##*/}"
			head -n 40 "$f" | sed 's/^/    /'
		fi
	done
	[ "$n" = 0 ] && pass "no ThreadSanitizer reports"
}

ana_path_config() {
	cat <<EOF
{
  "hosts": [],
  "ports": [ { "portid": 1,
      "addr": { "adrfam": "ipv4", "traddr": "127.0.0.1", "treq": "not specified", "trsvcid": "$2", "trtype": "tcp" },
      "ana_groups": [ { "ana": { "state": "$3" }, "grpid": 1 } ],
      "param": {}, "referrals": [], "subsystems": [ "$1" ] } ],
  "subsystems": [ { "nqn": "$1", "allowed_hosts": [],
      "attr": { "allow_any_host": "1", "cntlid_max": "$5", "cntlid_min": "$4", "serial": "mpath0001" },
      "namespaces": [ { "ana_grpid": 1, "enable": 1, "nsid": 1,
          "device": { "path": "$6", "uuid": "${7:-6a3f1c2e-8d4b-4f5a-9e7c-1b2d3e4f5a6b}",
                      "nguid": "${8:-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}" } } ] } ]
}
EOF
}

wait_for() {
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	"$@"
}
