#!/bin/bash
# Host <-> target integration tests on loopback: build/nvmeof against
# build/nvmeof-target (RAM namespace). Connect, identify, write/read/compare
# from 512 B to beyond MDTS with and without digests, several queues, perf
# --verify, discovery (text + JSON), failure reporting, and a target restart
# while perf runs (reconnect completes the workload; fast_io_fail_tmo and
# ctrl_loss_tmo turn into reported I/O errors).
#
#   tests/integration/run.sh BUILD_DIR
#
# Ports are picked in 15000-15999. Every test is bounded in time. In a
# ThreadSanitizer build (make TSAN=1), each distinct race reported by the
# target or the host tool is one more failure. The last line is
# "N passed, N failed"; the exit status is nonzero on any failure. When a
# check fails or the target dies, the target's logs are kept (the path is
# printed) and a dead target's last lines are shown.
set -u
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

BUILD=$(cd "${1:-build}" && pwd)
NVMEOF="$BUILD/nvmeof"
TARGET="${NVMEOF_TARGET:-$BUILD/nvmeof-target}"
NQN=nqn.2026-01.io.nvmeof:ramdisk
TEST_TIMEOUT=${TEST_TIMEOUT:-120}
tsan=0
tsan_setup "$BUILD" "$@" && tsan=1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-integration.XXXXXX")
[ "$tsan" = 1 ] && tsan_log_to "$TMP/tsan"
passed=0
failed=0

for bin in "$NVMEOF" "$TARGET"; do
	if [ ! -x "$bin" ]; then
		echo "integration: $bin is not built" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
done

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_ports() {
	local base
	for _ in $(seq 50); do
		base=$((15000 + (RANDOM % 499) * 2))
		if port_free "$base" && port_free "$((base + 1))"; then
			PORT=$base
			DISC_PORT=$((base + 1))
			return 0
		fi
	done
	return 1
}

start_target() {
	: >"$TMP/target.log"
	"$TARGET" --addr 127.0.0.1 --port "$PORT" --disc-port "$DISC_PORT" --nqn "$NQN" \
		--ram-size 256M --rpc-socket none >>"$TMP/target.log" 2>&1 &
	echo $! >"$TMP/target.pid"
	disown $! 2>/dev/null # killing it on purpose is no news
	for _ in $(seq 100); do
		if grep -q '^nvmeof-target: ready' "$TMP/target.log"; then
			return 0
		fi
		if ! target_alive; then
			break
		fi
		sleep 0.1
	done
	echo "integration: target did not become ready:" >&2
	sed 's/^/    /' "$TMP/target.log" >&2
	return 1
}

# The pid lives in a file: tests run in subshells and restart the target.
target_pid() { cat "$TMP/target.pid" 2>/dev/null; }
target_alive() { local p=$(target_pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

stop_target() { # signal
	local p=$(target_pid)
	if [ -n "$p" ]; then
		kill "-${1:-TERM}" "$p" 2>/dev/null
		# Not necessarily our child (started by a test's subshell): poll.
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		wait "$p" 2>/dev/null
	fi
	rm -f "$TMP/target.pid"
}

cleanup() {
	local keep
	stop_target KILL
	if [ "$failed" != 0 ] && ls "$TMP"/target*.log >/dev/null 2>&1; then
		keep=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-integration-failed.XXXXXX") &&
			cp "$TMP"/target*.log "$keep"/ && echo "target logs kept in $keep"
	fi
	rm -rf "$TMP"
}
# Only in this shell: run_bounded's children must not run it (see on_exit).
on_exit cleanup

# The summary line even when the run cannot go on.
give_up() {
	failed=$((failed + 1))
	echo "$passed passed, $failed failed"
	exit 1
}

check() { # name, command...
	local name=$1 t0=$SECONDS rc died=0
	shift
	run_bounded "$TEST_TIMEOUT" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ ! -d "$TMP" ]; then
		echo "integration: $TMP was removed during \"$name\"" >&2
		give_up
	fi
	if ! target_alive; then
		died=1
		echo "    target died during the test" >>"$TMP/err"
		[ "$rc" = 0 ] && rc=99
		# Kept by cleanup; the next target's log starts afresh.
		cp "$TMP/target.log" "$TMP/target-died-$((passed + failed + 1)).log"
	fi
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
		printf 'PASS %-52s %ss\n' "$name" "$((SECONDS - t0))"
	else
		failed=$((failed + 1))
		printf 'FAIL %s (exit %s)\n' "$name" "$rc"
		sed 's/^/    /' "$TMP/out" "$TMP/err" | tail -25
		# A crash rarely logs a warning first: its last lines say more.
		if [ "$died" = 1 ]; then
			tail -40 "$TMP/target.log"
		else
			tail -5 "$TMP/target.log"
		fi | sed 's/^/    target: /'
	fi
	# A test that stopped the target leaves the next one a fresh target.
	if ! target_alive; then
		stop_target KILL
		start_target || give_up
	fi
}

conn() { echo -t tcp -a 127.0.0.1 -s "$PORT" -n "$NQN"; }

# ---- tests ----

t_discover_text() {
	"$NVMEOF" discover -t tcp -a 127.0.0.1 -s "$DISC_PORT" >"$TMP/d" || return 1
	cat "$TMP/d"
	grep -q '^Discovery Log Number of Records [1-9]' "$TMP/d" &&
		grep -q "^subnqn:  $NQN\$" "$TMP/d" && grep -q "^trsvcid: $PORT\$" "$TMP/d" &&
		grep -q '^trtype:  tcp$' "$TMP/d" && grep -q '^traddr:  127.0.0.1$' "$TMP/d"
}

t_discover_json() {
	"$NVMEOF" discover -t tcp -a 127.0.0.1 -s "$DISC_PORT" --output-format=json >"$TMP/d.json" || return 1
	python3 - "$TMP/d.json" "$NQN" "$PORT" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d["genctr"], int)
assert any(r["subnqn"] == sys.argv[2] and r["trsvcid"] == sys.argv[3] and r["adrfam"] == "ipv4"
           for r in d["records"]), d
PY
}

t_id_ctrl() {
	"$NVMEOF" id-ctrl $(conn) >"$TMP/idc" || return 1
	grep -q "^subnqn    : $NQN\$" "$TMP/idc" && grep -q '^mdts' "$TMP/idc" &&
		"$NVMEOF" id-ctrl $(conn) --output-format=json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["subnqn"]==sys.argv[1] and d["kas"]>0 and d["sgls"]&1' "$NQN"
}

t_id_ns() {
	"$NVMEOF" id-ns $(conn) -N 1 --output-format=json >"$TMP/idn" || return 1
	python3 - "$TMP/idn" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
lbads = d["lbafs"][d["flbas"] & 0xf]["ds"]
assert d["nsze"] << lbads == 256 << 20, d
assert d["ncap"] > 0
PY
}

t_id_ns_missing() {
	! "$NVMEOF" id-ns $(conn) -N 77
}

t_list_subsys() {
	"$NVMEOF" list-subsys $(conn) --nr-io-queues=2 >"$TMP/ls" || return 1
	cat "$TMP/ls"
	grep -q "NQN=$NQN" "$TMP/ls" && grep -q ' live ' "$TMP/ls" && grep -q 'io-queues=2' "$TMP/ls" &&
		grep -q 'ns 1:' "$TMP/ls"
}

t_write_read() { # bytes lba [options]
	local bytes=$1 lba=$2
	shift 2
	head -c "$bytes" /dev/urandom >"$TMP/in"
	"$NVMEOF" write $(conn) "$@" -S "$lba" -z "$bytes" -d "$TMP/in" || return 1
	"$NVMEOF" read $(conn) "$@" -S "$lba" -z "$bytes" -d "$TMP/back" || return 1
	cmp "$TMP/in" "$TMP/back"
}

t_stdio() {
	head -c 65536 /dev/urandom >"$TMP/in"
	"$NVMEOF" write $(conn) -S 9000 --blocks 128 <"$TMP/in" || return 1
	"$NVMEOF" read $(conn) -S 9000 --blocks 128 >"$TMP/back" || return 1
	cmp "$TMP/in" "$TMP/back"
}

t_out_of_range() {
	# The last block works, one past the end is refused by the tool.
	"$NVMEOF" read $(conn) -S 524287 --blocks 1 -d "$TMP/x" || return 1
	! "$NVMEOF" read $(conn) -S 524287 --blocks 2 -d "$TMP/x"
}

t_flush() { "$NVMEOF" flush $(conn); }

perf_json() { # perf options...; checks errors == 0 and ios > 0
	"$NVMEOF" perf $(conn) --json "$@" >"$TMP/p.json" || { cat "$TMP/p.json"; return 1; }
	cat "$TMP/p.json"
	python3 - "$TMP/p.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("iops", "mibps", "avg_us", "min_us", "max_us", "p50_us", "p99_us", "p99_9_us",
          "p99_99_us", "cpu_user_s", "cpu_sys_s", "ios", "bytes", "seconds", "errors"):
    assert k in d, k
assert d["errors"] == 0 and d["ios"] > 0, d
assert d["min_us"] <= d["p50_us"] <= d["p99_us"] <= d["p99_9_us"] <= d["p99_99_us"] <= d["max_us"], d
PY
}

t_perf_count() {
	perf_json -w randread -q 4 --count 5000 || return 1
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ios"]==5000, d' "$TMP/p.json"
}

# perf with --verify must catch corruption: a write from another host lands
# in the middle of the verified region while perf reads it back.
t_verify_catches() {
	"$NVMEOF" perf $(conn) -w write -q 4 -o 4096 --size 1M --count 256 --verify --json >"$TMP/v1" || return 1
	# Overwrite some blocks behind perf's back, then verify-read them: a fresh
	# perf run prefills first, so corrupt during a long read phase instead.
	( sleep 1.5; head -c 4096 /dev/zero | "$NVMEOF" write $(conn) -S 800 --blocks 8 ) &
	local corrupt=$!
	"$NVMEOF" perf $(conn) -w read -q 1 -o 4096 --size 1M -T 4 --verify --json >"$TMP/v2" 2>"$TMP/v2.err"
	local rc=$?
	wait "$corrupt"
	cat "$TMP/v2" "$TMP/v2.err"
	[ "$rc" != 0 ] && grep -q 'verify failed at LBA 80[0-7]' "$TMP/v2.err"
}

t_refused() {
	local t0=$SECONDS
	! "$NVMEOF" id-ctrl -t tcp -a 127.0.0.1 -s "$((PORT + 2))" -n "$NQN" 2>"$TMP/r" || return 1
	cat "$TMP/r"
	grep -q 'refused' "$TMP/r" && [ $((SECONDS - t0)) -lt 10 ]
}

t_wrong_nqn() {
	! "$NVMEOF" id-ctrl -t tcp -a 127.0.0.1 -s "$PORT" -n nqn.2026-01.io.nvmeof:nope 2>"$TMP/r" || return 1
	cat "$TMP/r"
	grep -q 'refused Connect: Connect Invalid Parameters (sct 1 sc 0x82' "$TMP/r" &&
		grep -q 'does not serve nqn.2026-01.io.nvmeof:nope' "$TMP/r"
}

# Target restarts while perf runs; ctrl_loss_tmo is long: perf reconnects and
# finishes without errors.
t_restart_reconnect() {
	"$NVMEOF" --log-level=info perf $(conn) -w randrw -q 16 -T 8 --queues 2 --threads 2 \
		--reconnect-delay 1 --ctrl-loss-tmo 60 --json >"$TMP/p.json" 2>"$TMP/p.err" &
	local perf=$!
	sleep 2
	stop_target KILL
	sleep 1.5
	start_target || return 1
	wait "$perf"
	local rc=$?
	cat "$TMP/p.json"
	grep -E 'reconnect|lost' "$TMP/p.err" | head -5
	[ "$rc" = 0 ] && grep -q 'reconnected' "$TMP/p.err" &&
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["errors"]==0 and d["ios"]>0, d' "$TMP/p.json"
}

# Target stays away longer than fast_io_fail_tmo: I/O fails with errors
# reported, then the target comes back and the run still ends on time.
t_restart_fast_io_fail() {
	local t0=$SECONDS
	"$NVMEOF" perf $(conn) -w randread -q 8 -T 6 --reconnect-delay 1 --ctrl-loss-tmo 60 \
		--fast-io-fail-tmo 1 --json >"$TMP/p.json" 2>"$TMP/p.err" &
	local perf=$!
	sleep 1.5
	stop_target KILL
	sleep 3.5
	start_target || return 1
	wait "$perf"
	local rc=$?
	cat "$TMP/p.json"
	head -5 "$TMP/p.err"
	[ "$rc" != 0 ] && [ $((SECONDS - t0)) -lt 20 ] &&
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["errors"]>0 and d["ios"]>0, d' "$TMP/p.json"
}

# Target never comes back: after ctrl_loss_tmo the controller is dead and
# perf ends with errors instead of hanging.
t_ctrl_loss() {
	local t0=$SECONDS
	"$NVMEOF" perf $(conn) -w randwrite -q 8 -T 30 --reconnect-delay 1 --ctrl-loss-tmo 3 \
		--json >"$TMP/p.json" 2>"$TMP/p.err" &
	local perf=$!
	sleep 1.5
	stop_target KILL
	wait "$perf"
	local rc=$?
	cat "$TMP/p.json"
	grep -m3 -E 'dead|failed' "$TMP/p.err"
	start_target || return 1
	[ "$rc" != 0 ] && [ $((SECONDS - t0)) -lt 15 ] && grep -q 'ctrl_loss_tmo' "$TMP/p.err"
}

pick_ports || { echo "no free ports"; exit 1; }
start_target || give_up
echo "target on 127.0.0.1:$PORT, discovery on $DISC_PORT"

check "discover (text)" t_discover_text
check "discover (json)" t_discover_json
check "id-ctrl" t_id_ctrl
check "id-ns" t_id_ns
check "id-ns of a missing namespace fails" t_id_ns_missing
check "list-subsys, 2 I/O queues" t_list_subsys
for size in 512 4096 8192 12288 65536 131072 135168 1048576 1052672 4194304; do
	check "write/read/compare $size B" t_write_read "$size" 1000
	check "write/read/compare $size B, hdr+data digest" t_write_read "$size" 20000 --hdr-digest --data-digest
done
check "write/read/compare 64 KiB, header digest only" t_write_read 65536 30000 --hdr-digest
check "write/read/compare 64 KiB, FUA" t_write_read 65536 31000 --force-unit-access
check "write/read via stdin/stdout" t_stdio
check "read range end checks" t_out_of_range
check "flush" t_flush
check "perf randread 4k qd32" perf_json -w randread -q 32 -T 2
check "perf --count" t_perf_count
check "perf randrw --verify" perf_json -w randrw -q 16 -T 2 --size 32M --verify
check "perf randwrite 1M --verify (MDTS)" perf_json -w randwrite -q 4 -o 1M -T 2 --size 64M --verify
check "perf randwrite 2M --verify (beyond MDTS)" perf_json -w randwrite -q 4 -o 2M -T 2 --size 64M --verify
check "perf write 8k --verify, digests" perf_json -w write -q 8 -o 8k -T 2 --size 8M --verify --hdr-digest --data-digest
check "perf read 128k, 2 queues 2 threads --verify" perf_json -w read -q 8 -o 128k -T 2 --size 32M --queues 2 --threads 2 --verify
check "perf randrw 4 queues 1 thread" perf_json -w randrw -M 70 -q 8 -T 2 --queues 4 --threads 1
check "perf --verify reports corruption with the LBA" t_verify_catches
check "connection refused is reported quickly" t_refused
check "unknown subsystem NQN is reported" t_wrong_nqn
check "target restart: reconnect, perf completes" t_restart_reconnect
check "target restart: fast_io_fail_tmo fails I/O" t_restart_fast_io_fail
check "target gone: ctrl_loss_tmo ends the run" t_ctrl_loss

if ! target_alive; then
	echo "FAIL target died"
	failed=$((failed + 1))
fi
stop_target TERM
if [ "$tsan" = 1 ]; then
	CHECK_PREFIX= tsan_check "$TMP/tsan"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
