#!/bin/bash
# DH-HMAC-CHAP against the Linux 6.12 kernel (trixie guest of the interop
# harness, see its README "TLS and DH-HMAC-CHAP"):
#
#   kernel host -> our target   nvme-host-check.sh with CHECKS=full:
#       unidirectional (hmac(sha256), null group), then bidirectional with
#       hmac(sha384) and ffdhe2048 set live on the same target; each run also
#       proves that no key, a wrong key (and a wrong controller key) are
#       refused, and refusals must come within 5 s
#   our host -> kernel target   build/nvmeof with the host key alone (write,
#       read back, compare), bidirectional with ffdhe2048 (perf --verify), a
#       wrong key and a wrong controller key refused promptly
#
#   usage: tests/interop/auth.sh [BUILD]        (BUILD defaults to build)
#
#   INTEROP_DIR      the harness (default: ../shared/interop beside the repo,
#                    then /work/shared/interop)
#   AUTH_PARTS       "host target" (default both: kernel host, kernel target)
#
# Needs root (the harness installs qemu with apt-get). Exit status 77 means
# skipped. The last line is "N passed, N failed".
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo" || exit 1
build=${1:-build}
case $build in /*) ;; *) build=$repo/$build ;; esac
parts=${AUTH_PARTS:-host target}
# shellcheck source=../lib.sh
. "$repo/tests/lib.sh"
export INTEROP_KERNEL_SUITE=trixie INTEROP_GUEST_TOOLS=trixie

# ---- inside kernel-target: the kernel target is up, our host connects ----
if [ "${2:-}" = --inner ]; then
	CLI=$build/nvmeof
	tmp=$(mktemp -d)
	on_exit 'rm -rf "$tmp"'
	conn=(-t tcp -a "$NVMET_ADDR" -s "$NVMET_PORT" -n "$NVMET_NQN" --hostnqn "$NVMET_HOSTNQN")
	step() { echo "--- $*"; }
	# refused WHAT ARGS...: the connect fails within 5 s, saying it was authentication.
	refused() {
		local what=$1 t0=$SECONDS rc
		shift
		run_bounded 30 "$CLI" id-ctrl "${conn[@]}" "$@" >"$tmp/out" 2>"$tmp/err"
		rc=$?
		if [ "$rc" != 0 ] && grep -q 'authentication failed' "$tmp/err" && [ $((SECONDS - t0)) -lt 5 ]; then
			pass "our host -> kernel target: $what refused in $((SECONDS - t0)) s: $(grep -m1 'authentication failed:' "$tmp/err" | sed 's/.*authentication failed: //')"
		else
			fail "our host -> kernel target: $what not refused promptly (exit $rc, $((SECONDS - t0)) s)"
			sed 's/^/    | /' "$tmp/err" | tail -5
		fi
	}
	step "host key only (unidirectional): write 1 MiB, read back, compare"
	head -c 1048576 /dev/urandom >"$tmp/data"
	if run_bounded 60 "$CLI" write "${conn[@]}" --dhchap-secret "$NVMET_DHCHAP_KEY" --start-block 0 --data-size 1048576 \
		--data "$tmp/data" >"$tmp/w.out" 2>&1 &&
		run_bounded 60 "$CLI" read "${conn[@]}" --dhchap-secret "$NVMET_DHCHAP_KEY" --start-block 0 --data-size 1048576 \
			--data "$tmp/back" >"$tmp/r.out" 2>&1 && cmp -s "$tmp/data" "$tmp/back"; then
		pass "our host -> kernel target: unidirectional write/read/compare"
	else
		fail "our host -> kernel target: unidirectional write/read/compare"
		sed 's/^/    | /' "$tmp/w.out" "$tmp/r.out" 2>/dev/null | tail -8
	fi
	step "both keys (bidirectional, the target's ffdhe2048): perf --verify on 2 queues"
	if run_bounded 120 "$CLI" --log-level=info perf "${conn[@]}" -S "$NVMET_DHCHAP_KEY" \
		-C "$NVMET_DHCHAP_CTRL_KEY" --queues 2 -q 8 -o 4096 -w randrw -T 3 --verify >"$tmp/p.out" 2>&1 &&
		grep -q ' 0 errors' "$tmp/p.out"; then
		pass "our host -> kernel target: bidirectional perf --verify ($(grep -m1 'authenticated with' "$tmp/p.out" | sed 's/.*authenticated with //'))"
	else
		fail "our host -> kernel target: bidirectional perf --verify"
		sed 's/^/    | /' "$tmp/p.out" | tail -10
	fi
	step "refusals"
	refused "no key" 
	refused "a wrong key" -S "$("$CLI" gen-dhchap-key -m 1 -n "$NVMET_HOSTNQN")"
	refused "a wrong controller key" -S "$NVMET_DHCHAP_KEY" -C "$("$CLI" gen-dhchap-key -m 1 -n "$NVMET_NQN")"
	finish
fi

# ---- outside ----
if [ "$(id -u)" != 0 ]; then
	echo "interop auth: skipped: needs root (the harness installs qemu with apt-get)"
	exit 77
fi
if ! interop=$(find_interop); then
	echo "interop auth: skipped: no interop harness (set INTEROP_DIR)"
	exit 77
fi
TGT=$build/nvmeof-target
CLI=$build/nvmeof
for b in "$TGT" "$CLI"; do
	[ -x "$b" ] || { fail "no $b (build first)"; finish; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-interop-auth.XXXXXX")
TPID=
cleanup() {
	if [ -n "$TPID" ] && kill -0 "$TPID" 2>/dev/null; then
		kill -TERM "$TPID" 2>/dev/null
		wait "$TPID" 2>/dev/null
	fi
	[ "${INTEROP_KEEP:-0}" = 1 ] && echo "interop auth: kept $work" || rm -rf "$work"
}
on_exit cleanup
trap 'exit 130' INT
trap 'exit 143' TERM

echo "interop auth: harness $interop, build $build, work dir $work"
if ! bash "$interop/setup" >"$work/setup.log" 2>&1; then
	tail -n 20 "$work/setup.log"
	fail "interop harness setup (trixie kernel and tools)"
	finish
fi

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
pick() { # first free port from $1 in steps of 10
	local p=$1
	for _ in $(seq 1 50); do port_free "$p" && { echo "$p"; return; }; p=$((p + 10)); done
	echo "$1"
}
NQN=nqn.2026-01.io.nvmeof:auth
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:$(cat /proc/sys/kernel/random/uuid)

# Guest output: count its refusals and make sure each came within 5 s.
check_guest() { # OUT STATUS WHAT
	local out=$1 rc=$2 what=$3 slow
	if [ "$rc" = 0 ] && grep -q 'fio ok' "$out"; then
		pass "kernel host -> our target: $what: connect, fio write + verify"
	else
		fail "kernel host -> our target: $what: guest script exited $rc"
	fi
	slow=$(grep -c 'refused as expected after \([5-9]\|[0-9][0-9]\)' "$out")
	n=$(grep -c 'refused as expected' "$out")
	if [ "$n" -ge "$4" ] && [ "$slow" = 0 ]; then
		pass "kernel host -> our target: $what: $n refusals, each within 5 s"
	else
		fail "kernel host -> our target: $what: $n refusals (want $4), $slow slow"
	fi
}

part_host() {
	local log=$work/target.log sock=$work/rpc.sock port disc key ckey out rc
	port=$(pick 14520)
	disc=$(pick 18109)
	echo "=== kernel 6.12 host -> our target on 127.0.0.1:$port"
	"$TGT" --addr 127.0.0.1 --port "$port" --disc-port "$disc" --nqn "$NQN" --ram-size 64M \
		--rpc-socket "$sock" --log-level info >"$log" 2>&1 &
	TPID=$!
	for _ in $(seq 1 100); do [ -S "$sock" ] && grep -q 'nvmeof-target: ready' "$log" && break; sleep 0.1; done
	# Our key generator for the host key, nvme-cli's for the controller key.
	key=$("$CLI" gen-dhchap-key --hmac=1 --nqn "$HOSTNQN")
	ckey=$(nvme gen-dhchap-key --hmac=1 --nqn "$NQN")
	if "$CLI" target --rpc-socket "$sock" add-host "$NQN" "$HOSTNQN" --dhchap-secret "$key" &&
		"$CLI" target --rpc-socket "$sock" set-allow-any-host "$NQN" off; then
		pass "target: host $HOSTNQN added with a DH-HMAC-CHAP key"
	else
		fail "target: add-host with a key"
		return
	fi

	out=$work/guest-uni.out
	echo "--- unidirectional, hmac(sha256), null DH group (guest output follows)"
	INTEROP_TIMEOUT=600 kernel_host_with_retry bash "$interop/kernel-host" NQN="$NQN" HOSTNQN="$HOSTNQN" TARGET_PORT="$port" \
		DISC_PORT="$disc" DHCHAP_KEY="$key" CHECKS=full "$interop/tests/nvme-host-check.sh" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	check_guest "$out" "$rc" "unidirectional" 2

	# Live change: bidirectional, hash and group pinned; applies to new connections.
	if "$CLI" target --rpc-socket "$sock" set-host-keys "$HOSTNQN" --dhchap-secret "$key" \
		--dhchap-ctrl-secret "$ckey" --dhchap-hash 'hmac(sha384)' --dhchap-dhgroup ffdhe2048; then
		pass "target: keys changed live (controller key, hmac(sha384), ffdhe2048)"
	else
		fail "target: set-host-keys"
	fi
	out=$work/guest-bi.out
	echo "--- bidirectional, hmac(sha384), ffdhe2048 (guest output follows)"
	INTEROP_TIMEOUT=600 kernel_host_with_retry bash "$interop/kernel-host" NQN="$NQN" HOSTNQN="$HOSTNQN" TARGET_PORT="$port" \
		DISC_PORT="$disc" DHCHAP_KEY="$key" DHCHAP_CTRL_KEY="$ckey" CHECKS=full \
		"$interop/tests/nvme-host-check.sh" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	check_guest "$out" "$rc" "bidirectional + ffdhe2048" 3
	if grep -q 'authenticated with hash hmac(sha384) dhgroup ffdhe2048' "$out" &&
		grep -q 'controller authenticated' "$out"; then
		pass "kernel host -> our target: the kernel reports hmac(sha384), ffdhe2048, controller authenticated"
	else
		fail "kernel host -> our target: no 'authenticated with hash hmac(sha384) dhgroup ffdhe2048' in dmesg"
	fi
	if grep -q 'qid 2: authenticated (hmac(sha384), dhgroup ffdhe2048, bidirectional)' "$log"; then
		pass "target log: I/O queue 2 authenticated too"
	else
		fail "target log: no authenticated I/O queue 2"
	fi
	if grep -q "authentication refused: authentication failed (the host's response does not match its key)" "$log"; then
		pass "target log: the wrong key's refusal is logged with its reason"
	else
		fail "target log: no logged refusal of the wrong key"
	fi
	if grep -q 'DHHC-1' "$log"; then
		fail "target log contains a secret"
	else
		pass "target log holds no secret"
	fi
	if kill -0 "$TPID" 2>/dev/null; then pass "target still running"; else fail "target died"; fi
	kill -TERM "$TPID"
	wait "$TPID"
	TPID=
	grep -iE 'warn|error' "$log" | head -n 20 | sed 's/^/    | /'
}

part_target() {
	local port key ckey out=$work/host-vs-kernel.out rc
	port=$(pick 16520)
	key=$(nvme gen-dhchap-key --hmac=1 --nqn "$HOSTNQN")
	ckey=$("$CLI" gen-dhchap-key --hmac=1 --nqn "nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
	echo "=== our host -> kernel 6.12 target (bidirectional keys, ffdhe2048), port $port"
	INTEROP_TIMEOUT=600 kernel_target_with_retry bash "$interop/kernel-target" --port "$port" --disc-port 0 --size 64 \
		--host-nqn "$HOSTNQN" --dhchap-secret "$key" --dhchap-ctrl-secret "$ckey" --dhchap-dhgroup ffdhe2048 -- \
		bash "$repo/tests/interop/auth.sh" "$build" --inner 2>"$work/kt.err" | tee "$out"
	rc=${PIPESTATUS[0]}
	n=$(grep -c '^CHECK ok:' "$out")
	passed=$((passed + n))
	n=$(grep -c '^CHECK FAIL:' "$out")
	failed=$((failed + n))
	case $rc in
	0) ;;
	124 | 125) fail "our host -> kernel target: harness status $rc"; tail -n 20 "$work/kt.err" ;;
	*) grep -E 'nvmet|auth' "$work/kt.err" | tail -n 10 | sed 's/^/    | /' ;;
	esac
}

for p in $parts; do
	case $p in
	host) part_host ;;
	target) part_target ;;
	*) fail "unknown part $p" ;;
	esac
done
finish
