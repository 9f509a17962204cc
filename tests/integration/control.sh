#!/bin/bash
# The control plane of a running nvmeof-target: every `nvmeof target`
# subcommand against the real daemon, JSON-RPC error codes on the raw socket,
# the /metrics endpoint (format, errors, counters that match a workload run
# with the host tool), refused-connect auditing, and save-config -> restart
# -> the same target.
#
#   usage: tests/integration/control.sh [BUILD]      (BUILD defaults to build)
#
# Ports are picked free in 16000-16999. In a ThreadSanitizer build, each
# distinct race reported by a program is one more failure. The last line is
# "N passed, N failed".
set -u
CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
use_build "${1:-}"
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

for b in "$TGT" "$CLI"; do
	if [ ! -x "$b" ]; then
		echo "control: $b not built"
		echo "0 passed, 1 failed"
		exit 1
	fi
done
command -v python3 >/dev/null || { echo "control: python3 needed"; echo "0 passed, 1 failed"; exit 1; }

tsan=0
tsan_setup "$bdir" "$@" && tsan=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-control.XXXXXX")
[ "$tsan" = 1 ] && tsan_log_to "$tmp/tsan"
tpid=
cleanup() {
	[ -n "$tpid" ] && kill "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# Free TCP ports in 16000-16999 (different ones on every call).
used_ports=" "
free_port() {
	local p
	p=$(python3 - "$used_ports" <<'PY'
import random, socket, sys
used = set(int(x) for x in sys.argv[1].split())
for _ in range(500):
    p = random.randint(16000, 16999)
    if p in used:
        continue
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
PY
)
	used_ports="$used_ports$p "
	echo "$p"
}

SOCK=$tmp/run/target.sock
IO_PORT=$(free_port)
NEW_PORT=$(free_port)
MET_PORT=$(free_port)
DEF_NQN=nqn.2014-08.org.nvmexpress.test:ctl-default
A=nqn.2014-08.org.nvmexpress.test:ctl-a
B=nqn.2014-08.org.nvmexpress.test:ctl-b
H1=nqn.2014-08.org.nvmexpress.test:host-1
H2=nqn.2014-08.org.nvmexpress.test:host-2
UUID=3f1c8f5e-8b9a-4c3d-9e2f-0a1b2c3d4e5f

tcli() { "$CLI" target --rpc-socket "$SOCK" "$@"; }
quiet() { "$@" >/dev/null; }

# start_target LOG ARGS...: start the daemon, wait for "ready" and the socket.
start_target() {
	local log=$1
	shift
	"$TGT" --rpc-socket "$SOCK" --metrics "127.0.0.1:$MET_PORT" --reactors 2 "$@" >"$log" 2>&1 &
	tpid=$!
	for _ in $(seq 100); do
		if grep -q 'ready' "$log" && [ -S "$SOCK" ]; then
			return 0
		fi
		kill -0 "$tpid" 2>/dev/null || break
		sleep 0.1
	done
	echo "--- target log"
	cat "$log"
	return 1
}

stop_target() {
	kill -TERM "$tpid" 2>/dev/null
	local rc=0
	wait "$tpid" || rc=$?
	tpid=
	return $rc
}

# py EXPR-SCRIPT: run python with the JSON on stdin as `d`.
pyjson() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

# Raw JSON-RPC exchange: sends each argument as one line, prints the answers.
rpc_raw() {
	python3 - "$SOCK" "$@" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
for line in sys.argv[2:]:
    s.sendall(os.fsencode(line) + b"\n")
s.shutdown(socket.SHUT_WR)
buf = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
sys.stdout.write(buf.decode())
PY
}

# http REQUEST: send a raw request to the metrics port, print the response.
http() {
	python3 - "$MET_PORT" "$1" <<'PY'
import os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(os.fsencode(sys.argv[2]))
buf = b""
while True:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        break
    buf += chunk
sys.stdout.write(buf.decode("latin-1"))
PY
}

scrape() { http $'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' | tr -d '\r' | sed '1,/^$/d'; }

# metric NAME{LABELS}: the value of one sample line ("" if absent).
metric() { scrape | awk -v k="$1" '$1 == k { print $2 }'; }

# ------------------------------------------------------------------ #
echo "== start (io port $IO_PORT, metrics $MET_PORT)"
if ! start_target "$tmp/t1.log" --addr 127.0.0.1 --port "$IO_PORT" --disc-port 0 \
	--nqn "$DEF_NQN" --ram-size 16M --log-level info; then
	fail "target starts"
	echo "$passed passed, $failed failed"
	exit 1
fi
pass "target starts with --rpc-socket and --metrics"

check "control socket is mode 0600" [ "$(stat -c %a "$SOCK")" = 600 ]
check "socket directory is mode 0700" [ "$(stat -c %a "$tmp/run")" = 700 ]

out=$(tcli list)
check "list shows the default subsystem" grep -q "subsystem $DEF_NQN" <<<"$out"

# ------------------------------------------------------------------ #
echo "== subsystems"
check "add-subsystem with serial/model/allow-any-host" \
	tcli add-subsystem "$A" --serial SER-A1 --model "Control Test" --allow-any-host
tcli list --json >"$tmp/l.json"
check "list --json has the new subsystem's fields" pyjson "
s = [x for x in d['subsystems'] if x['nqn'] == '$A'][0]
assert s['serial'] == 'SER-A1' and s['model'] == 'Control Test', s
assert s['allow_any_host'] is True and s['monitor'] is False, s" <"$tmp/l.json"

err=$(tcli add-subsystem "$A" 2>&1)
rc=$?
check "duplicate add-subsystem fails with exit 1 and says why" \
	test "$rc" = 1 -a -n "$(grep -i 'exists' <<<"$err")"
err=$(tcli add-subsystem "not an nqn" 2>&1)
check "invalid NQN refused as invalid params" grep -q -- '-32602' <<<"$err"
check "add-subsystem B with --monitor" tcli add-subsystem "$B" --monitor
check "set-monitor off/on live" bash -c "
	'$CLI' target --rpc-socket '$SOCK' set-monitor '$B' off &&
	'$CLI' target --rpc-socket '$SOCK' list --json | python3 -c \"import json,sys; d=json.load(sys.stdin); assert [s for s in d['subsystems'] if s['nqn']=='$B'][0]['monitor'] is False\" &&
	'$CLI' target --rpc-socket '$SOCK' set-monitor '$B' on &&
	'$CLI' target --rpc-socket '$SOCK' list --json | python3 -c \"import json,sys; d=json.load(sys.stdin); assert [s for s in d['subsystems'] if s['nqn']=='$B'][0]['monitor'] is True\""
tcli set-monitor "$B" off >/dev/null
check "set-monitor rejects a bad value with exit 2" bash -c "'$CLI' target --rpc-socket '$SOCK' set-monitor '$B' maybe 2>/dev/null; test \$? = 2"

# ------------------------------------------------------------------ #
echo "== namespaces"
# Reactors keep the daemon's nice value (no --reactor-nice); a custom slice needs Linux 6.12.
check "reactor threads keep the daemon's nice value, with a 100 us CPU slice on Linux 6.12+" bash -c '
	want=$(cut -d" " -f19 /proc/'"$tpid"'/stat)
	kv=$(uname -r | awk -F. "{ print \$1 * 100 + \$2 }")
	n=0
	for t in /proc/'"$tpid"'/task/*; do
		[[ $(cat "$t/comm") == reactor* ]] || continue
		n=$((n + 1))
		[ "$(cut -d" " -f19 "$t/stat")" = "$want" ] || exit 1
		s=$(awk "/^se.slice/ { print \$3 }" "$t/sched" 2>/dev/null)
		[ -z "$s" ] || [ "$kv" -lt 612 ] || [ "$s" = 100000 ] || exit 1
	done
	[ "$n" -ge 1 ]'
# --reactor-nice in a session of its own (systemd, setsid): autogroup scheduling
# weighs sessions by the session's nice value, so the daemon sets it too; from a
# shell it leaves the shell's session alone. Raising nice needs no privilege.
session_nice() { awk '{ print $NF }' "/proc/$1/autogroup"; } # "/autogroup-N nice K"
if [ -r /proc/self/autogroup ]; then
	for mode in own shared; do
		nlog=$tmp/nice-$mode.log
		setsid_cmd=
		[ $mode = own ] && setsid_cmd=setsid
		$setsid_cmd "$TGT" --addr 127.0.0.1 --port "$(free_port)" --disc-port 0 --ram-size 1M --reactors 1 \
			--rpc-socket none --reactor-nice 3 >"$nlog" 2>&1 &
		npid=$!
		for _ in $(seq 100); do grep -q 'ready' "$nlog" 2>/dev/null && break; sleep 0.1; done
		reactor_nice=$(for t in /proc/$npid/task/*; do
			[[ $(cat "$t/comm") == reactor* ]] && cut -d" " -f19 "$t/stat"; done)
		if [ $mode = own ]; then
			check "--reactor-nice 3 in a session of its own: reactors and the session at nice 3" \
				test "$reactor_nice" = 3 -a "$(session_nice $npid)" = 3
		else
			check "--reactor-nice 3 started from a shell: reactors at 3, the shell's session untouched" \
				test "$reactor_nice" = 3 -a "$(session_nice $npid)" = "$(session_nice $$)"
		fi
		kill "$npid" 2>/dev/null
		wait "$npid" 2>/dev/null
	done
fi
rss_before=$(awk '/VmRSS/ { print $2 }' /proc/$tpid/status)
nsid=$(tcli add-ns "$A" --ram 8M)
check "add-ns --ram prints the NSID (1)" test "$nsid" = 1
nsid=$(tcli add-ns "$A" --path "$tmp/disk5.img" --size 4M --nsid 5 --uuid "$UUID" --block-size 4096)
check "add-ns --path --size --nsid --uuid creates the file and prints 5" \
	test "$nsid" = 5 -a "$(stat -c %s "$tmp/disk5.img" 2>/dev/null)" = 4194304
nsid=$(cd "$tmp" && truncate -s 2M rel.img && "$CLI" target --rpc-socket "$SOCK" add-ns "$A" --path rel.img)
check "add-ns with a relative path (made absolute) gets the next free NSID" test "$nsid" = 2
tcli list --json >"$tmp/l.json"
check "list --json shows the namespaces with path, size, uuid" pyjson "
s = [x for x in d['subsystems'] if x['nqn'] == '$A'][0]
ns = {n['nsid']: n for n in s['namespaces']}
assert sorted(ns) == [1, 2, 5], ns.keys()
assert ns[5]['path'] == '$tmp/disk5.img' and ns[5]['size'] == 4194304, ns[5]
assert ns[5]['uuid'].lower() == '$UUID' and ns[5]['block_size'] == 4096, ns[5]
assert ns[2]['path'] == '$tmp/rel.img', ns[2]
assert ns[1]['size'] == 8 << 20, ns[1]" <"$tmp/l.json"
err=$(tcli add-ns "$A" --ram 1M --nsid 5 2>&1)
check "add-ns on a used NSID is refused" test -n "$err"
err=$(tcli add-ns "$A" --path "$tmp/missing.img" 2>&1)
check "add-ns of a missing file without --size names the file" grep -q "missing.img" <<<"$err"
nsid=$(tcli add-ns "$A" --ram 4M --nsid 7 --preallocate)
check "add-ns --ram --preallocate: the namespace says so, its memory is resident" pyjson "
import re
s = [x for x in d['subsystems'] if x['nqn'] == '$A'][0]
ns = {n['nsid']: n for n in s['namespaces']}
assert ns[7]['preallocated'] is True and ns[1]['preallocated'] is False, ns
rss = int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/$tpid/status').read()).group(1))
assert rss >= 4096 + $rss_before, (rss, $rss_before)" < <(tcli list --json)
err=$(tcli add-ns "$A" --path "$tmp/disk5.img" --preallocate 2>&1)
check "add-ns --path --preallocate is refused" grep -q "only a RAM namespace" <<<"$err"
check "remove-ns" tcli remove-ns "$A" 2
check "remove-ns of a removed NSID fails" bash -c "! '$CLI' target --rpc-socket '$SOCK' remove-ns '$A' 2 2>/dev/null"

# ------------------------------------------------------------------ #
echo "== hosts"
check "add-host" tcli add-host "$B" "$H1"
check "list shows the allowed host" bash -c "'$CLI' target --rpc-socket '$SOCK' list | grep -q 'host $H1'"
check "add-host on a subsystem that allows any host notes that the list is not enforced" bash -c "
	'$CLI' target --rpc-socket '$SOCK' add-host '$A' '$H1' 2>&1 | grep -q 'set-allow-any-host $A off' &&
	'$CLI' target --rpc-socket '$SOCK' remove-host '$A' '$H1'"
check "add-ns of a missing file: the errno text once, and that --size creates it" bash -c "
	out=\$('$CLI' target --rpc-socket '$SOCK' add-ns '$B' --path '$tmp/absent.img' 2>&1)
	test \$(grep -o 'No such file or directory' <<<\"\$out\" | wc -l) = 1 && grep -q -- '--size' <<<\"\$out\""
check "add-host twice fails" bash -c "! '$CLI' target --rpc-socket '$SOCK' add-host '$B' '$H1' 2>/dev/null"
check "remove-host" tcli remove-host "$B" "$H1"
check "remove-host of an unlisted host fails" bash -c "! '$CLI' target --rpc-socket '$SOCK' remove-host '$B' '$H1' 2>/dev/null"
tcli add-host "$B" "$H1"

# ------------------------------------------------------------------ #
echo "== ports"
pid=$(tcli add-port --traddr 127.0.0.1 --trsvcid "$NEW_PORT" --portid 7 --subsystem "$A")
check "add-port prints the port id" test "$pid" = 7
check "the new port accepts TCP connections" bash -c "exec 3<>/dev/tcp/127.0.0.1/$NEW_PORT"
check "link-port" tcli link-port 7 "$B"
tcli list --json >"$tmp/l.json"
check "port 7 serves A and B" pyjson "
p = [x for x in d['ports'] if x['portid'] == 7][0]
assert sorted(p['subsystems']) == sorted(['$A', '$B']), p
assert p['trsvcid'] == '$NEW_PORT' and p['adrfam'] == 'ipv4', p" <"$tmp/l.json"
check "unlink-port" tcli unlink-port 7 "$B"
check "add-port on a port in use fails and leaves no port behind" bash -c "
	! '$CLI' target --rpc-socket '$SOCK' add-port --traddr 127.0.0.1 --trsvcid $NEW_PORT --portid 9 2>/dev/null &&
	! '$CLI' target --rpc-socket '$SOCK' list --json | grep -q '\"portid\": 9'"
check "add-port to an unknown subsystem fails" bash -c "! '$CLI' target --rpc-socket '$SOCK' add-port --traddr 127.0.0.1 --trsvcid 1 --subsystem nqn.2014-08.org.nvmexpress.test:none 2>/dev/null"

# ------------------------------------------------------------------ #
echo "== raw JSON-RPC"
out=$(rpc_raw '{"jsonrpc":"2.0","id":1,"method":"list"' \
	'{"jsonrpc":"2.0","id":2,"method":"no_such"}' \
	'{"jsonrpc":"2.0","id":3,"method":"remove_ns","params":{"nqn":"'"$A"'"}}' \
	'{"jsonrpc":"2.0","id":4}' \
	'{"jsonrpc":"2.0","method":"list"}' \
	'[{"jsonrpc":"2.0","id":5,"method":"rpc_methods"},{"jsonrpc":"2.0","id":6,"method":"remove_subsystem","params":{"nqn":"nqn.2014-08.org.nvmexpress.test:none"}}]')
check "raw: parse error, method not found, invalid params, invalid request, notification, batch" \
	python3 -c "
import json, sys
lines = [json.loads(l) for l in sys.argv[1].splitlines()]
assert len(lines) == 5, lines
assert lines[0]['error']['code'] == -32700 and lines[0]['id'] is None
assert lines[1]['error']['code'] == -32601 and lines[1]['id'] == 2
assert lines[2]['error']['code'] == -32602 and lines[2]['id'] == 3
assert lines[3]['error']['code'] == -32600
b = lines[4]
assert isinstance(b, list) and len(b) == 2
assert 'add_ns' in b[0]['result']
assert b[1]['error']['code'] == -32000 and b[1]['error']['data']['errno'] == 2
" "$out"
# 2 MiB without a newline: refused once past the 1 MiB line limit.
out=$(python3 - "$SOCK" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(b"[" * (2 << 20))
except OSError:
    pass  # the daemon may close before taking it all
buf = b""
while True:
    try:
        chunk = s.recv(65536)
    except OSError:
        break
    if not chunk:
        break
    buf += chunk
print(buf.decode())
PY
)
check "an oversized request is answered with a parse error and the connection closed" \
	grep -q -- '-32700' <<<"$out"
check "the daemon still answers after it" quiet tcli list

# ------------------------------------------------------------------ #
echo "== metrics endpoint"
resp=$(http $'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
check "GET /metrics: 200 with the 0.0.4 text content type" \
	bash -c "grep -q '^HTTP/1.1 200' <<<\"\$1\" && grep -qi '^Content-Type: text/plain; version=0.0.4' <<<\"\$1\"" _ "$resp"
check "GET /other: 404" bash -c "grep -q '^HTTP/1.1 404' <<<\"\$1\"" _ "$(http $'GET /other HTTP/1.1\r\n\r\n')"
check "POST /metrics: 405" bash -c "grep -q '^HTTP/1.1 405' <<<\"\$1\"" _ "$(http $'POST /metrics HTTP/1.1\r\n\r\n')"
check "garbage: 400" bash -c "grep -q '^HTTP/1.1 400' <<<\"\$1\"" _ "$(http $'\xff\x01garbage\r\n\r\n')"
check "oversized headers: 431" bash -c "grep -q '^HTTP/1.1 431' <<<\"\$1\"" _ \
	"$(http "GET /metrics HTTP/1.1"$'\r\n'"X: $(head -c 10000 /dev/zero | tr '\0' a)"$'\r\n\r\n')"
check "a client that sends half a request and goes away does no harm" \
	bash -c "python3 -c \"import socket; s=socket.create_connection(('127.0.0.1', $MET_PORT)); s.sendall(b'GET /met'); s.close()\" && '$CLI' target --rpc-socket '$SOCK' list >/dev/null"
check "70 stalled metrics clients (more than all client slots) do not lock out the control socket" python3 - "$MET_PORT" "$CLI" "$SOCK" <<'PY'
import socket, subprocess, sys
conns = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(70)]
rc = subprocess.run([sys.argv[2], "target", "--rpc-socket", sys.argv[3], "list"],
                    stdout=subprocess.DEVNULL, timeout=20).returncode
for c in conns:
    c.close()
sys.exit(rc)
PY
check "metrics list the namespaces of A" bash -c "scrape_out=\$1; grep -q '^nvmeof_namespace_size_bytes{subsystem=\"$A\",nsid=\"5\"} 4194304$' <<<\"\$scrape_out\"" _ "$(scrape)"

# ------------------------------------------------------------------ #
echo "== workload counters"
N=6
wrote=0
head -c 4096 /dev/urandom >"$tmp/blk"
for i in $(seq 0 $((N - 1))); do
	"$CLI" write -a 127.0.0.1 -s "$NEW_PORT" -n "$A" -q "$H2" -N 5 -S "$i" --blocks 1 \
		-d "$tmp/blk" >"$tmp/w.log" 2>&1 && wrote=$((wrote + 1))
done
check "host tool wrote $N single-block commands to $A ns 5" test "$wrote" = "$N"
"$CLI" read -a 127.0.0.1 -s "$NEW_PORT" -n "$A" -q "$H2" -N 5 -S 3 --blocks 1 -d "$tmp/rd" >/dev/null 2>&1
check "read back what was written" cmp -s "$tmp/blk" "$tmp/rd"
L="subsystem=\"$A\",nsid=\"5\""
check "nvmeof_commands_total{op=write} = $N" test "$(metric "nvmeof_commands_total{$L,op=\"write\"}")" = "$N"
check "nvmeof_bytes_total{dir=write} = $((N * 4096))" test "$(metric "nvmeof_bytes_total{$L,dir=\"write\"}")" = "$((N * 4096))"
check "nvmeof_commands_total{op=read} = 1" test "$(metric "nvmeof_commands_total{$L,op=\"read\"}")" = 1
check "nvmeof_bytes_total{dir=read} = 4096" test "$(metric "nvmeof_bytes_total{$L,dir=\"read\"}")" = 4096
# Identify commands naming the namespace count as "other" and are timed too.
others=$(metric "nvmeof_commands_total{$L,op=\"other\"}")
check "latency histogram count = all $((N + 1)) I/O + $others other commands" \
	test "$(metric "nvmeof_latency_seconds_count{$L}")" = "$((N + 1 + others))"
check "latency +Inf bucket = count" \
	test "$(metric "nvmeof_latency_seconds_bucket{$L,le=\"+Inf\"}")" = "$((N + 1 + others))"
check "namespace 1 of A saw no I/O" test "$(metric "nvmeof_commands_total{subsystem=\"$A\",nsid=\"1\",op=\"write\"}")" = 0
check "host counters: $H2 wrote $N" test "$(metric "nvmeof_host_commands_total{host=\"$H2\",op=\"write\"}")" = "$N"
tcli stats --json >"$tmp/s.json"
check "stats --json agrees: writes, bytes, reactors" pyjson "
s = [x for x in d['subsystems'] if x['nqn'] == '$A'][0]
n5 = [n for n in s['namespaces'] if n['nsid'] == 5][0]['stats']
assert n5['writes'] == $N and n5['write_bytes'] == $N * 4096 and n5['reads'] == 1, n5
assert len(d['reactors']) == 2 and 'busy_ns' in d['reactors'][0], d['reactors']
assert 'connections' in d" <"$tmp/s.json"
out=$(tcli stats)
check "stats table lists ns 5 with its writes" bash -c "grep -E '^  ns 5 +1 +$N ' <<<\"\$1\"" _ "$out"

check "read without a size is a usage error and creates no file" bash -c "
	'$CLI' read -a 127.0.0.1 -s '$NEW_PORT' -n '$A' -q '$H2' -N 5 -d '$tmp/nosize' 2>/dev/null
	test \$? = 2 -a ! -e '$tmp/nosize'"
check "a failed read leaves no output file behind" bash -c "
	! '$CLI' read -a 127.0.0.1 -s '$NEW_PORT' -n '$A' -q '$H2' -N 5 --blocks 100000000 -d '$tmp/failed' 2>/dev/null &&
	! '$CLI' read -a 127.0.0.1 -s '$NEW_PORT' -n nqn.2014-08.org.nvmexpress.test:absent -q '$H2' --blocks 1 \
		-d '$tmp/failed' 2>/dev/null &&
	test -z \"\$(ls '$tmp' | grep failed)\""

# ------------------------------------------------------------------ #
echo "== access control audit"
"$CLI" read -a 127.0.0.1 -s "$NEW_PORT" -n "$B" -q "$H2" -N 1 --blocks 1 -d /dev/null >/dev/null 2>&1
rc=$?
tcli link-port 7 "$B" >/dev/null
"$CLI" read -a 127.0.0.1 -s "$NEW_PORT" -n "$B" -q "$H2" -N 1 --blocks 1 -d /dev/null >/dev/null 2>"$tmp/refused"
rc2=$?
check "the refusal names the status and says to add the host" bash -c "
	grep -q 'Connect Invalid Host (sct 1 sc 0x84' '$tmp/refused' &&
	grep -q 'nvmeof target add-host $B $H2' '$tmp/refused'"
check "an unlisted host is refused by B" test "$rc" != 0 -a "$rc2" != 0
check "the refusal is counted per host in metrics" test "$(metric "nvmeof_connect_refused_total{host=\"$H2\"}")" -ge 1
check "the refusal is in the target log with the peer address" \
	grep -E -q "($H2.*127\.0\.0\.1|127\.0\.0\.1.*$H2)" "$tmp/t1.log"
tcli set-monitor "$B" on >/dev/null
tcli add-ns "$B" --ram 1M >/dev/null
"$CLI" read -a 127.0.0.1 -s "$NEW_PORT" -n "$B" -q "$H2" -N 1 --blocks 1 -d /dev/null >/dev/null 2>&1
check "monitor mode admits the unlisted host live" test $? = 0
check "the admission is counted" test "$(metric "nvmeof_monitored_admissions_total{host=\"$H2\"}")" -ge 1
tcli set-monitor "$B" off >/dev/null

# ------------------------------------------------------------------ #
echo "== removal"
check "link-port 1 (the default port) to A" tcli link-port 1 "$A"
check "remove-port" tcli remove-port 7
# The listening socket closes on its reactor just after the call returns.
check "removed port no longer accepts" bash -c "
	for i in \$(seq 20); do (exec 3<>/dev/tcp/127.0.0.1/$NEW_PORT) 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
check "remove-port of an unknown port fails" bash -c "! '$CLI' target --rpc-socket '$SOCK' remove-port 7 2>/dev/null"
check "remove-subsystem" tcli remove-subsystem "$B"
check "list no longer shows it" bash -c "! '$CLI' target --rpc-socket '$SOCK' list | grep -q 'subsystem $B\$'"
check "set-log-level" tcli set-log-level debug
# ------------------------------------------------------------------ #
echo "== save-config and restart"
check "save-config" tcli save-config "$tmp/saved.json"
check "saved file is nvmetcli JSON with the subsystems" python3 -c "
import json; d = json.load(open('$tmp/saved.json'))
assert set(d) >= {'hosts', 'ports', 'subsystems'}, d.keys()
assert '$A' in [s['nqn'] for s in d['subsystems']]"
check "save-config leaves no temporary file" test "$(ls "$tmp" | grep -c saved)" = 1
normalize='
import json, sys
d = json.load(sys.stdin)
def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k not in ("stats", "controllers", "refused", "monitored")}
    if isinstance(o, list):
        return [strip(x) for x in o]
    return o
out = {"subsystems": sorted(strip(d["subsystems"]), key=lambda s: s["nqn"]),
       "ports": sorted(strip(d["ports"]), key=lambda p: p["portid"])}
for s in out["subsystems"]:
    s["hosts"] = sorted(s["hosts"])
    s["namespaces"] = sorted(s["namespaces"], key=lambda n: n["nsid"])
for p in out["ports"]:
    p["subsystems"] = sorted(p["subsystems"])
print(json.dumps(out, sort_keys=True, indent=1))'
tcli list --json | python3 -c "$normalize" >"$tmp/before.json"
check "SIGTERM stops the daemon cleanly" stop_target
check "the socket file is removed on exit" test ! -e "$SOCK"
if start_target "$tmp/t2.log" -c "$tmp/saved.json"; then
	pass "target restarts from the saved config"
	tcli list --json | python3 -c "$normalize" >"$tmp/after.json"
	check "restart reproduces the same list" diff -u "$tmp/before.json" "$tmp/after.json"
	check "restarted port $IO_PORT listens" bash -c "exec 3<>/dev/tcp/127.0.0.1/$IO_PORT"
	"$CLI" read -a 127.0.0.1 -s "$IO_PORT" -n "$A" -q "$H2" -N 5 -S 3 --blocks 1 -d "$tmp/rd2" >/dev/null 2>&1
	check "file-backed data survived the restart" cmp -s "$tmp/blk" "$tmp/rd2"
else
	fail "target restarts from the saved config"
fi

# ------------------------------------------------------------------ #
echo "== build, version and help"
root=$(cd "$(dirname "$0")/../.." && pwd)
check "make all builds no unit test and links no cmocka" bash -c "
	out=\$(make -C '$root' -n -B BUILD='$tmp/make-n' all 2>&1) && ! printf '%s' \"\$out\" | grep -q 'tests/unit\\|cmocka'"
check "make tests builds the unit tests" bash -c "make -C '$root' -n -B BUILD='$tmp/make-n' tests 2>&1 | grep -q 'tests/unit/test_host_cli.c'"
check "nvmeof-target --version prints the version" bash -c "'$TGT' --version | grep -Eq '^nvmeof-target [0-9]+\.[0-9]+\.[0-9]+'"
check "nvmeof-target --config-if-exists of a missing file serves the embedded default" bash -c "
	timeout 2 '$TGT' --config-if-exists '$tmp/absent.json' --rpc-socket none --addr 127.0.0.1 --port $(free_port) \
		--disc-port 0 --ram-size 1M 2>&1 | grep -q 'serving the embedded default'"
check "nvmeof-target --config of a missing file still fails" bash -c "! timeout 5 '$TGT' -c '$tmp/absent.json' --rpc-socket none >/dev/null 2>&1"
check "nvmeof-target accepts --icreq-timeout and --connect-timeout" bash -c "
	timeout 2 '$TGT' --icreq-timeout 5 --connect-timeout 5 --rpc-socket none --addr 127.0.0.1 --port $(free_port) \
		--disc-port 0 --ram-size 1M 2>&1 | grep -q '^nvmeof-target: serving'"
check "nvmeof --version prints the version" bash -c "'$CLI' --version | grep -Eq '^nvmeof [0-9]+\.[0-9]+\.[0-9]+'"
check "nvmeof target add-ns --help prints that subcommand's usage and exits 0" bash -c "
	out=\$('$CLI' target add-ns --help) && grep -q '^usage: nvmeof target add-ns NQN' <<<\"\$out\" &&
	grep -q -- '--block-size' <<<\"\$out\" && ! grep -q 'add-host' <<<\"\$out\""
# Every option the man page names is in some --help (--metrics is the daemon's;
# example lines that run another program, such as losetup, do not count).
man_opts=$(sed 's/\\f[BIRP]//g; s/\\-/-/g' "$root/docs/man/nvmeof.1" | grep -v -E '^# (losetup|mkfs|mount|umount) ' |
	grep -o -- '--[a-z][a-z_-]*[a-z]' | sort -u)
help_opts=$( ("$CLI" --help
	for c in $("$CLI" --help | awk '/^  [a-z]/ { print $1 }'); do "$CLI" "$c" --help; done) 2>&1 |
	grep -o -- '--[a-z][a-z_-]*[a-z]' | sort -u)
man_only=$(comm -23 <(echo "$man_opts") <(echo "$help_opts") | grep -v -x -- --metrics)
check "the man page names no option that --help leaves out${man_only:+ (${man_only//$'\n'/ })}" test -z "$man_only"
check "the systemd unit starts without a config file" bash -c "
	! grep -q '^ConditionPathExists' '$root/dist/nvmeof-target.service' &&
	grep -q '^ExecStart=.*--config-if-exists /etc/nvmet/config.json' '$root/dist/nvmeof-target.service'"

# ------------------------------------------------------------------ #
echo "== errors and shutdown"
check "unknown subcommand: exit 2" bash -c "'$CLI' target --rpc-socket '$SOCK' frobnicate 2>/dev/null; test \$? = 2"
check "unreachable socket: exit 1 with a hint" bash -c "'$CLI' target --rpc-socket '$tmp/nope.sock' list 2>&1 | grep -q 'running'"
check "a second daemon on the same socket refuses to start" bash -c "
	timeout 10 '$TGT' --rpc-socket '$SOCK' --addr 127.0.0.1 --port $(free_port) --disc-port 0 >/dev/null 2>&1
	rc=\$?; test \$rc != 0 -a \$rc != 124"
check "the first daemon still answers" quiet tcli list
check "final SIGTERM shutdown" stop_target
[ "$tsan" = 1 ] && tsan_check "$tmp/tsan"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
