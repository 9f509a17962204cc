#!/bin/bash
# Interop suite for our target against the real Linux NVMe/TCP host (a qemu
# guest, see the interop harness's README) plus malformed input from here.
#
#   usage: tests/interop/run.sh [BUILD]        (BUILD defaults to build)
#
# Parts (each a group of checks):
#   io        RAM target: discovery, 2 I/O queues, id-ctrl/id-ns/list-subsys,
#             fio 4k random + 128k sequential verify, ext4, disconnect; then
#             the same connection again with header + data digests
#   persist   file-backed target from an nvmetcli config: an unlisted host is
#             refused (and logged), data written before a SIGTERM restart
#             reads back after it and is in the backing file
#   badpdu    malformed PDUs from this machine; the daemon stays up and a
#             valid connection keeps working
#
#   INTEROP_DIR       the harness (default: ../shared/interop beside the repo,
#                     then /work/shared/interop)
#   INTEROP_PARTS     parts to run (default "io persist badpdu")
#   INTEROP_PORT      first I/O port to try (default 14420)
#   INTEROP_DISC_PORT first discovery port to try (default 18009)
#   FIO_RAND_SIZE, FIO_SEQ_SIZE, FILE_MIB   data volumes in the guest
#
# Needs root (the harness installs qemu etc. with apt-get). Exit status 77
# means skipped (not root / no harness); otherwise nonzero if a check failed.
# The last line is "N passed, N failed".
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo" || exit 1
build=${1:-build}
target_bin=$build/nvmeof-target
parts=${INTEROP_PARTS:-io persist badpdu}


# shellcheck source=../lib.sh
. "$repo/tests/lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "interop: skipped: needs root (the harness installs qemu and nvme-cli with apt-get)"
	exit 77
fi
if ! interop=$(find_interop); then
	echo "interop: skipped: no interop harness (set INTEROP_DIR; looked in ../shared/interop and /work/shared/interop)"
	exit 77
fi
if [ ! -x "$target_bin" ]; then
	fail "no $target_bin (build first)"
	finish
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-interop.XXXXXX")
TPID=
cleanup() {
	if [ -n "$TPID" ] && kill -0 "$TPID" 2>/dev/null; then
		kill -TERM "$TPID" 2>/dev/null
		wait "$TPID" 2>/dev/null
	fi
	[ "${INTEROP_KEEP:-0}" = 1 ] && echo "interop: kept $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "interop: harness $interop, target $target_bin, work dir $work"
if ! bash "$interop/setup" >"$work/setup.log" 2>&1; then
	cat "$work/setup.log"
	fail "interop harness setup"
	finish
fi

# Two free TCP ports on 127.0.0.1, starting from the defaults.
port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
PORT=${INTEROP_PORT:-14420}
DISC=${INTEROP_DISC_PORT:-18009}
for _ in $(seq 1 50); do
	port_free "$PORT" && port_free "$DISC" && break
	PORT=$((PORT + 10))
	DISC=$((DISC + 10))
done
echo "interop: target ports $PORT (I/O), $DISC (discovery)"

# start_target LOG ARGS...: start the daemon, wait for its ready line.
start_target() {
	local log=$1 i
	shift
	"$target_bin" "$@" >>"$log" 2>&1 &
	TPID=$!
	for i in $(seq 1 300); do
		grep -q 'nvmeof-target: ready' "$log" && return 0
		kill -0 "$TPID" 2>/dev/null || break
		sleep 0.1
	done
	echo "    target did not get ready; its log:"
	tail -n 30 "$log" | sed 's/^/    | /'
	kill -TERM "$TPID" 2>/dev/null
	wait "$TPID" 2>/dev/null
	TPID=
	return 1
}

# stop_target: SIGTERM, wait (20 s at most); returns the daemon's exit status.
stop_target() {
	local rc=0 i
	[ -n "$TPID" ] || return 0
	kill -TERM "$TPID" 2>/dev/null
	for i in $(seq 1 200); do
		kill -0 "$TPID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$TPID" 2>/dev/null; then
		echo "    target ignored SIGTERM for 20 s; killing it"
		kill -KILL "$TPID" 2>/dev/null
	fi
	wait "$TPID" || rc=$?
	TPID=
	return "$rc"
}

# Count the CHECK lines a guest script or client printed.
count_checks() {
	local n
	n=$(grep -c '^CHECK ok:' "$1")
	passed=$((passed + n))
	n=$(grep -c '^CHECK FAIL:' "$1")
	failed=$((failed + n))
}

# kernel-host exit status: the script's own, or the harness's 124/125.
guest_status() { # $1 = status, $2 = what
	case $1 in
	0) pass "$2: guest script finished cleanly" ;;
	124) fail "$2: guest timed out (INTEROP_TIMEOUT)" ;;
	125) fail "$2: guest or harness failure" ;;
	*) fail "$2: guest script exited with status $1" ;;
	esac
}

show_target_log() { # $1 = log: errors and warnings, for the target engineers
	if grep -qiE 'error|warn' "$1"; then
		echo "    target log, warnings and errors:"
		grep -iE 'error|warn' "$1" | head -n 40 | sed 's/^/    | /'
	fi
}

NQN=nqn.2026-01.io.nvmeof:ramdisk

# ------------------------------------------------------------------- io
part_io() {
	local log=$work/target-io.log out=$work/guest-io.out rc=0
	echo "=== io: kernel host against the RAM target (guest output follows)"
	# Debug level: the target then logs digest negotiation and each I/O
	# queue's Connect (not every command).
	if ! start_target "$log" --addr 127.0.0.1 --port "$PORT" --disc-port "$DISC" --log-level debug; then
		fail "io: start the RAM target"
		return
	fi
	pass "io: RAM target ready on 127.0.0.1:$PORT"
	INTEROP_TIMEOUT=${INTEROP_TIMEOUT:-900} kernel_host_with_retry bash "$interop/kernel-host" -f tests/interop/guest/lib.sh \
		NQN="$NQN" TARGET_PORT="$PORT" DISC_PORT="$DISC" \
		${FIO_RAND_SIZE:+FIO_RAND_SIZE="$FIO_RAND_SIZE"} ${FIO_SEQ_SIZE:+FIO_SEQ_SIZE="$FIO_SEQ_SIZE"} \
		${FILE_MIB:+FILE_MIB="$FILE_MIB"} \
		tests/interop/guest/host-io.sh 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	count_checks "$out"
	guest_status "$rc" "io"

	# The target's side of the story: I/O queues and digests as asked.
	if grep -qE 'I/O queue 2 connected' "$log"; then
		pass "io: target log shows I/O queue 2 connected"
	else
		fail "io: target log shows no second I/O queue Connect"
	fi
	if grep -qE 'hdgst 1 ddgst 1' "$log"; then
		pass "io: target log shows header and data digests negotiated"
	else
		fail "io: target log shows no connection with header and data digests"
	fi
	if kill -0 "$TPID" 2>/dev/null; then
		pass "io: target still running after the guest"
	else
		fail "io: target died during the guest run"
	fi
	show_target_log "$log"

	if [[ " $parts " == *" badpdu "* ]] && [ -n "$TPID" ] && kill -0 "$TPID" 2>/dev/null; then
		part_badpdu "$log"
	fi
	rc=0
	stop_target || rc=$?
	[ "$rc" = 0 ] && pass "io: SIGTERM: target exited with status 0" ||
		{ fail "io: SIGTERM: target exited with status $rc"; tail -n 20 "$log" | sed 's/^/    | /'; }
}

# --------------------------------------------------------------- badpdu
part_badpdu() {
	local log=$1 out=$work/badpdu.out
	echo "=== badpdu: malformed PDUs against 127.0.0.1:$PORT (target pid $TPID)"
	timeout 300 python3 tests/interop/bad_pdu.py 127.0.0.1 "$PORT" "$NQN" --pid "$TPID" 2>&1 | tee "$out"
	count_checks "$out"
	if kill -0 "$TPID" 2>/dev/null; then
		pass "badpdu: target still running"
	else
		fail "badpdu: target died"
		tail -n 30 "$log" | sed 's/^/    | /'
	fi
	if grep -qiE 'term|protocol|invalid|digest' "$log"; then
		echo "    target log on the malformed input (first lines):"
		grep -iE 'term|protocol|invalid|digest' "$log" | head -n 15 | sed 's/^/    | /'
	fi
}

# -------------------------------------------------------------- persist
part_persist() {
	local dir=$work/persist log=$work/target-persist.log out=$work/guest-persist.out rc=0
	local pnqn=nqn.2026-01.io.nvmeof:persist
	local ok_host=nqn.2014-08.org.nvmexpress:uuid:8b1e0a1c-5a9e-4e44-9d34-1b0e7a1d0001
	local bad_host=nqn.2014-08.org.nvmexpress:uuid:8b1e0a1c-5a9e-4e44-9d34-1b0e7a1dbad0
	echo "=== persist: file namespace, access control, restart (guest output follows)"
	mkdir -p "$dir"
	# A pattern nobody could produce by accident: 8 MiB of seeded pseudo-random bytes.
	python3 -c 'import random,sys; r=random.Random(20260101); sys.stdout.buffer.write(r.randbytes(8 << 20))' \
		>"$dir/pattern.bin"
	cat >"$dir/config.json" <<-EOF
	{
	  "hosts": [ { "nqn": "$ok_host" } ],
	  "ports": [
	    { "portid": 1,
	      "addr": { "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$PORT", "trtype": "tcp" },
	      "referrals": [], "subsystems": [ "$pnqn" ] },
	    { "portid": 2,
	      "addr": { "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$DISC", "trtype": "tcp" },
	      "referrals": [], "subsystems": [] }
	  ],
	  "subsystems": [
	    { "nqn": "$pnqn",
	      "attr": { "allow_any_host": "0", "serial": "persist0001", "model": "nvmeof persist test" },
	      "allowed_hosts": [ "$ok_host" ],
	      "namespaces": [
	        { "nsid": 1, "enable": 1,
	          "device": { "path": "$dir/ns1.img", "uuid": "5b0a7e5e-9d1c-4c1e-8f43-6a3f1e2d0001",
	                      "nguid": "5b0a7e5e-9d1c-4c1e-8f43-6a3f1e2d0001", "size": "1G" } }
	      ] }
	  ]
	}
	EOF
	if ! start_target "$log" -c "$dir/config.json" --log-level info; then
		fail "persist: start the file-backed target from $dir/config.json"
		return
	fi
	pass "persist: file-backed target ready ($(stat -c %s "$dir/ns1.img" 2>/dev/null || echo '?') byte image)"

	# The guest asks for the restart on its console; this side does it.
	INTEROP_TIMEOUT=${INTEROP_TIMEOUT:-900} bash "$interop/kernel-host" -f tests/interop/guest/lib.sh \
		-f "$dir/pattern.bin" NQN="$pnqn" TARGET_PORT="$PORT" DISC_PORT="$DISC" \
		HOSTNQN_OK="$ok_host" HOSTNQN_BAD="$bad_host" \
		tests/interop/guest/host-persist.sh >"$out" 2>&1 &
	local gpid=$! shown=0 restarted=0 i
	# Show the guest's output as it comes, before this side's own lines.
	show_guest() {
		local lines
		lines=$(wc -l <"$out")
		if [ "$lines" -gt "$shown" ]; then
			sed -n "$((shown + 1)),${lines}p" "$out"
			shown=$lines
		fi
	}
	while kill -0 "$gpid" 2>/dev/null; do
		show_guest
		if [ "$restarted" = 0 ] && grep -q '^@@RESTART-TARGET@@' "$out"; then
			restarted=1
			rc=0
			stop_target || rc=$?
			[ "$rc" = 0 ] && pass "persist: SIGTERM: target flushed and exited with status 0" ||
				fail "persist: SIGTERM: target exited with status $rc"
			# Stay down until the guest has seen it (bounded). A discovery
			# that the shutdown caught can hold the guest for the kernel's
			# 60 s admin timeout before its next probe sees the target gone.
			for i in $(seq 1 1500); do
				grep -q '^@@TARGET-DOWN-SEEN@@' "$out" && break
				kill -0 "$gpid" 2>/dev/null || break
				sleep 0.1
			done
			show_guest
			echo "restart" >>"$log"
			if start_target "$log" -c "$dir/config.json" --log-level info; then
				pass "persist: target restarted from the same config"
			else
				fail "persist: target restart from the same config"
			fi
		fi
		sleep 0.2
	done
	wait "$gpid"
	rc=$?
	sed -n "$((shown + 1)),\$p" "$out"
	count_checks "$out"
	guest_status "$rc" "persist"
	[ "$restarted" = 1 ] || fail "persist: the guest never asked for the restart"

	# The refusal is in the target's log with the host NQN and its address.
	local refusal
	refusal=$(grep -F "$bad_host" "$log" | head -n 3)
	if [ -n "$refusal" ] && grep -F "$bad_host" "$log" | grep -q '127\.0\.0\.1'; then
		pass "persist: target log names the refused host and its address"
		echo "$refusal" | sed 's/^/    | /'
	else
		fail "persist: target log does not name the refused host $bad_host with its address"
		grep -iE 'refus|denied|not allowed|reject' "$log" | head -n 5 | sed 's/^/    | /'
	fi
	show_target_log "$log"

	rc=0
	stop_target || rc=$?
	[ "$rc" = 0 ] && pass "persist: final SIGTERM: exit status 0" || fail "persist: final SIGTERM: exit status $rc"
	# What the guest wrote is in the backing file itself.
	if cmp -s -n $((8 << 20)) "$dir/pattern.bin" "$dir/ns1.img" &&
		cmp -s -n $((8 << 20)) "$dir/pattern.bin" - < <(tail -c +$(((512 << 20) + 1)) "$dir/ns1.img"); then
		pass "persist: backing file holds the pattern at 0 and 512 MiB"
	else
		fail "persist: backing file does not hold the pattern the guest wrote"
	fi
}

for p in $parts; do
	case $p in
	io) part_io ;;
	persist) part_persist ;;
	badpdu) [[ " $parts " == *" io "* ]] || {
		log=$work/target-badpdu.log
		if start_target "$log" --addr 127.0.0.1 --port "$PORT" --disc-port "$DISC" --log-level info; then
			part_badpdu "$log"
			rc=0
			stop_target || rc=$?
			[ "$rc" = 0 ] && pass "badpdu: SIGTERM: exit status 0" || fail "badpdu: SIGTERM: exit status $rc"
		else
			fail "badpdu: start the RAM target"
		fi
	} ;;
	*) fail "unknown part $p" ;;
	esac
done
finish
