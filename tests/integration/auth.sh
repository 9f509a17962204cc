#!/bin/bash
# DH-HMAC-CHAP between our host (build/nvmeof) and our target on loopback:
# unidirectional and bidirectional with a DH group, verified I/O; no key, a
# wrong key and a wrong controller key refused within 3 s with a clear
# message; a live key change affects new connections only (a workload
# running on the old keys completes); keys never show in `target list`,
# the JSON snapshot or the log; save-config writes them back, mode 0600.
#
#   usage: tests/integration/auth.sh [BUILD]      (BUILD defaults to build)
#
# In a ThreadSanitizer build, each distinct race reported is one more
# failure. The last line is "N passed, N failed".
set -u
CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
integration_begin auth "$@"
port=$(free_port)
NQN=nqn.2026-01.io.nvmeof:auth
HN=nqn.2014-08.org.nvmexpress:uuid:5b7e1f0c-3c41-4c1e-9d3e-2f6a7b8c9d01
SOCK=$tmp/target.sock
LOG=$tmp/target.log
tcli() { "$CLI" target --rpc-socket "$SOCK" "$@"; }
conn=(-t tcp -a 127.0.0.1 -s "$port" -n "$NQN" --hostnqn "$HN")

"$TGT" --addr 127.0.0.1 --port "$port" --disc-port 0 --nqn "$NQN" --ram-size 32M --rpc-socket "$SOCK" \
	--log-level info >"$LOG" 2>&1 &
tpid=$!
TPID=$tpid
for _ in $(seq 100); do
	grep -q 'nvmeof-target: ready' "$LOG" && [ -S "$SOCK" ] && break
	sleep 0.1
done
target_wait_ready "$SOCK"

KEY=$("$CLI" gen-dhchap-key --hmac=1 --nqn "$HN")
KEY2=$("$CLI" gen-dhchap-key --hmac=2 --nqn "$HN")
CKEY=$("$CLI" gen-dhchap-key --key-length=48)
check "gen-dhchap-key prints interchange-format keys" bash -c "[[ '$KEY' == DHHC-1:01:*: && '$KEY2' == DHHC-1:02:*: && '$CKEY' == DHHC-1:00:*: ]]"

check "add-host with a key" tcli add-host "$NQN" "$HN" --dhchap-secret "$KEY"
check "allow only listed hosts" tcli set-allow-any-host "$NQN" off
check "add-host refuses a malformed key" bash -c "! '$CLI' target --rpc-socket '$SOCK' add-host '$NQN' '$HN' --dhchap-secret DHHC-1:01:bad: 2>/dev/null"

# io NAME ARGS...: write 256 KiB, read it back, compare.
head -c 262144 /dev/urandom >"$tmp/data"
io() {
	"$CLI" write "${conn[@]}" "$@" --start-block 0 --data-size 262144 --data "$tmp/data" >/dev/null 2>"$tmp/io.err" &&
		"$CLI" read "${conn[@]}" "$@" --start-block 0 --data-size 262144 --data "$tmp/back" >/dev/null 2>>"$tmp/io.err" &&
		cmp -s "$tmp/data" "$tmp/back"
}
# refused DESCRIPTION ARGS...: the connect fails within 3 s saying why.
refused() {
	local what=$1 t0
	shift
	t0=$(date +%s%N)
	if run_bounded 20 "$CLI" id-ctrl "${conn[@]}" "$@" >/dev/null 2>"$tmp/ref.err"; then
		fail "$what: connected"
		return
	fi
	local ms=$((($(date +%s%N) - t0) / 1000000))
	if grep -q 'authentication failed' "$tmp/ref.err" && [ "$ms" -lt 3000 ]; then
		pass "$what: refused in $ms ms ($(grep -m1 'authentication failed: ' "$tmp/ref.err" | sed 's/.*authentication failed: //'))"
	else
		fail "$what: refused after $ms ms: $(head -n 2 "$tmp/ref.err")"
	fi
}

echo "== unidirectional"
check "right key: write, read back, compare" io --dhchap-secret "$KEY"
check "right key: perf --verify on 2 queues" bash -c "'$CLI' perf ${conn[*]} -S '$KEY' --queues 2 -q 8 -o 4096 -w randrw -T 1 --verify 2>&1 | grep -q ' 0 errors'"
refused "no key" 
refused "wrong key" -S "$KEY2"

echo "== bidirectional with ffdhe2048 and hmac(sha512)"
check "set-host-keys (controller key, hash, group)" tcli set-host-keys "$HN" --dhchap-secret "$KEY" \
	--dhchap-ctrl-secret "$CKEY" --dhchap-hash 'hmac(sha512)' --dhchap-dhgroup ffdhe2048
check "both keys: perf --verify" bash -c "'$CLI' --log-level=info perf ${conn[*]} -S '$KEY' -C '$CKEY' --queues 2 -q 8 -o 4096 -w randrw -T 1 --verify >'$tmp/bi.out' 2>&1 && grep -q ' 0 errors' '$tmp/bi.out'"
check "the host reports hmac(sha512), ffdhe2048, controller authenticated" \
	grep -q 'authenticated with hmac(sha512), dhgroup ffdhe2048, controller authenticated' "$tmp/bi.out"
check "I/O queues authenticate too (target log)" grep -q 'qid 2: authenticated (hmac(sha512), dhgroup ffdhe2048, bidirectional)' "$LOG"
refused "wrong controller key" -S "$KEY" -C "$KEY2"

echo "== live key change"
"$CLI" perf "${conn[@]}" -S "$KEY" -C "$CKEY" --queues 1 -q 4 -o 4096 -w randrw -T 4 --verify >"$tmp/live.out" 2>&1 &
ppid=$!
sleep 1.5
check "set-host-keys while a host is connected" tcli set-host-keys "$HN" --dhchap-secret "$KEY2"
refused "old key on a new connection" -S "$KEY"
# (perf --verify owns the blocks meanwhile: identify only.)
check "new key on a new connection" bash -c "'$CLI' id-ctrl ${conn[*]} -S '$KEY2' >/dev/null"
wait "$ppid"
check "the connection made with the old keys finished its workload" grep -q ' 0 errors' "$tmp/live.out"
check "new key: write, read back, compare" io --dhchap-secret "$KEY2"

echo "== a host without keys on the target"
HN2=nqn.2014-08.org.nvmexpress:uuid:5b7e1f0c-3c41-4c1e-9d3e-2f6a7b8c9d02
check "add-host without keys" tcli add-host "$NQN" "$HN2"
check "a host secret alone is not used when the controller does not ask" bash -c \
	"'$CLI' --log-level=info id-ctrl -t tcp -a 127.0.0.1 -s '$port' -n '$NQN' --hostnqn '$HN2' -S '$KEY2' >/dev/null 2>'$tmp/unasked.err' &&
	 grep -q 'does not ask for authentication' '$tmp/unasked.err'"
refused_as() { # HOSTNQN DESCRIPTION ARGS...
	local hn=$1
	shift
	conn=(-t tcp -a 127.0.0.1 -s "$port" -n "$NQN" --hostnqn "$hn")
	refused "$@"
	conn=(-t tcp -a 127.0.0.1 -s "$port" -n "$NQN" --hostnqn "$HN")
}
refused_as "$HN2" "a controller secret makes the host authenticate unasked; the target has no key" -S "$KEY2" -C "$CKEY"

echo "== secrets stay secret"
check "target list says a key is set" bash -c "'$CLI' target --rpc-socket '$SOCK' list | grep -q '$HN (DH-HMAC-CHAP)'"
check "list --json has no secret" bash -c "'$CLI' target --rpc-socket '$SOCK' list --json | grep -q '\"dhchap_key\": *true' && ! '$CLI' target --rpc-socket '$SOCK' list --json | grep -q DHHC-1"
check "save-config writes the keys back" bash -c "'$CLI' target --rpc-socket '$SOCK' save-config '$tmp/saved.json' && grep -q '\"key\": \"$KEY2\"' '$tmp/saved.json'"
check "the saved config is mode 0600" bash -c "[ \"\$(stat -c %a '$tmp/saved.json')\" = 600 ]"
check "the target log holds no secret" bash -c "! grep -q 'DHHC-1' '$LOG'"
check "refusals are logged with host, peer, qid and reason" grep -q "host $HN (peer 127.0.0.1:[0-9]*) qid 0: authentication refused: authentication failed (the host's response does not match its key)" "$LOG"

check "target still running" kill -0 "$tpid"
kill -TERM "$tpid"
rc=0
wait "$tpid" || rc=$?
tpid=
check "target exits 0 on SIGTERM" [ "$rc" = 0 ]
[ "$tsan" = 1 ] && tsan_check "$tmp/tsan"
if [ "$failed" != 0 ]; then
	echo "--- target log (warnings and errors)"
	grep -iE 'warn|error' "$LOG" | head -n 30
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
