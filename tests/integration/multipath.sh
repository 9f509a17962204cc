#!/bin/bash
# Host multipath with ANA: two nvmeof-target instances (A and B) on two
# loopback ports export one subsystem with one file-backed namespace (same
# file, serial, UUID and NGUID; disjoint cntlid ranges), group 1 optimized on
# A and inaccessible on B. `nvmeof perf` connects to both and must never see
# an error while a path remains:
#   - I/O goes to the optimized path only;
#   - a path whose namespace identity differs is refused;
#   - ANA switch without a failure (A inaccessible, B optimized): I/O moves;
#   - both optimized: round-robin and queue-depth use both paths;
#   - both paths inaccessible for 2 s: I/O waits, then resumes;
#   - A SIGKILLed under perf --verify, B made optimized: no error, all data
#     verified (the longest completion gap is the failover time); A
#     restarted and the states set back: I/O returns to A (failback time from
#     A's restart to the host's reconnect);
#   - perf --discover: the paths are the entries of a discovery log (one
#     instance with two ports, the group optimized on one of them);
#   - every path gone beyond ctrl_loss_tmo: perf gets the error and ends.
#
#   usage: tests/integration/multipath.sh [BUILD]      (BUILD defaults to build)
#
# Needs its own network namespace for nothing but free ports; run it as any
# other integration script. In a ThreadSanitizer build each distinct race is
# one more failure. The last line is "N passed, N failed".
set -u
CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
integration_begin multipath "$@"
PORT_A=$(free_port)
PORT_B=$(free_port "$PORT_A")
PORT_C=$(free_port "$PORT_A" "$PORT_B")
NQN=nqn.2026-01.io.nvmeof:multipath
IMG=$tmp/disk.img
truncate -s 64M "$IMG"
truncate -s 64M "$tmp/other.img"
apid= bpid= cpid=

# config PORT STATE CNTLID_MIN CNTLID_MAX [IMG UUID NGUID]: one instance's file.
config() { ana_path_config "$NQN" "$1" "$2" "$3" "$4" "${5:-$IMG}" "${6:-}" "${7:-}"; }

config "$PORT_A" optimized 1 99 >"$tmp/a.json"
config "$PORT_B" inaccessible 100 199 >"$tmp/b.json"
config "$PORT_C" optimized 200 299 "$tmp/other.img" 11111111-2222-3333-4444-555555555555 \
	99999999-8888-7777-6666-555555555555 >"$tmp/c.json"

# start NAME: start instance NAME (a, b, c) from its file; sets its pid variable.
start() {
	"$TGT" --config "$tmp/$1.json" --disc-port 0 --rpc-socket "$tmp/$1.sock" --log-level info \
		>>"$tmp/$1.log" 2>&1 &
	local pid=$!
	eval "${1}pid=$pid"
	TPID=$pid LOG=$tmp/$1.log target_wait_ready "$tmp/$1.sock"
}
cleanup_all() {
	for p in "$apid" "$bpid" "$cpid"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	integration_cleanup
}
trap cleanup_all EXIT
ana() { "$CLI" target --rpc-socket "$tmp/$1.sock" set-ana-state 1 1 "$2" >/dev/null; }
paths=(-t tcp -a 127.0.0.1 -s "$PORT_A" -a 127.0.0.1 -s "$PORT_B" -n "$NQN")
# perf_mp OUT ARGS...: perf over both paths, JSON to OUT.json, stderr to OUT.err.
perf_mp() {
	local out=$1
	shift
	"$CLI" perf "${paths[@]}" --json --no-progress "$@" >"$out.json" 2>"$out.err"
}
# jq_ok FILE EXPR: python expression on the parsed report `d`.
jq_ok() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"; }
show() { # OUT: the report and the first lines of stderr
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('    ios', d['ios'], 'errors', d['errors'], 'verify_errors', d['verify_errors'], 'not_completed', d['not_completed'], 'max_gap_ms', round(d['max_gap_ms'], 1)); [print('    path', p['trsvcid'], p['state'], p['ana_state'], 'ios', p['ios'], 'errors', p['errors'], 'retries', p['retries']) for p in d['paths']]" "$1.json" 2>/dev/null ||
		cat "$1.json"
	grep -v '^$' "$1.err" | grep -v ' info ' | head -n 8 | sed 's/^/    stderr: /'
}
# iso_s "2026-...T..:..:..mmmZ": seconds since the epoch.
iso_s() { python3 -c "import datetime,sys; print(datetime.datetime.strptime(sys.argv[1], '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc).timestamp())" "$1"; }

start a
start b

echo "== two paths, group optimized on A only"
perf_mp "$tmp/p1" -w randrw -q 16 -T 2
check "perf over both paths exits 0" [ $? = 0 ]
show "$tmp/p1"
check "all I/O on A, none on the inaccessible B, no error" jq_ok "$tmp/p1.json" \
	"d['errors'] == 0 and len(d['paths']) == 2 and d['paths'][0]['ios'] > 0 and d['paths'][1]['ios'] == 0 and d['paths'][1]['ana_state'] == 'inaccessible' and d['paths'][0]['ana_state'] == 'optimized'"
"$CLI" perf "${paths[@]}" -w randread -q 8 -T 1 --no-progress --iopolicy queue-depth >"$tmp/p1.txt" 2>&1
check "text report: a line per path with I/Os, errors and retries" \
	bash -c "grep -q '^  path 0    : 127.0.0.1:$PORT_A .* I/Os (.* IOPS), 0 errors, 0 retries' '$tmp/p1.txt' && grep -q '^  path 1    : 127.0.0.1:$PORT_B .*ANA inaccessible: 0 I/Os' '$tmp/p1.txt'"
check "a second -s for one -a is refused" bash -c "! '$CLI' perf -a 127.0.0.1 -s $PORT_A -s $PORT_B -n $NQN -T 1 2>/dev/null"
check "other commands take one path" bash -c "! '$CLI' id-ctrl ${paths[*]} 2>/dev/null"

echo "== a path to another namespace is refused"
start c
"$CLI" perf -t tcp -a 127.0.0.1 -s "$PORT_A" -a 127.0.0.1 -s "$PORT_C" -n "$NQN" --json --no-progress \
	-w randread -q 4 -T 1 >"$tmp/pc.json" 2>"$tmp/pc.err"
check "perf runs on the remaining path" [ $? = 0 ]
grep refused "$tmp/pc.err" | sed 's/^/    /'
check "the mismatched path is refused with its reason" \
	grep -q "path 127.0.0.1:$PORT_C refused: not the same namespace as path 127.0.0.1:$PORT_A (namespace NGUID differs)" "$tmp/pc.err"
check "one path left" jq_ok "$tmp/pc.json" "len(d['paths']) == 1 and d['paths'][0]['trsvcid'] == '$PORT_A'"
kill "$cpid" && wait "$cpid" 2>/dev/null
cpid=

echo "== ANA switch without a failure: A inaccessible, B optimized"
perf_mp "$tmp/p2" -w randrw -q 16 -T 5 --verify --size 4M --queues 2 --threads 2 &
perf=$!
sleep 2
ana a inaccessible
ana b optimized
wait "$perf"
check "perf --verify exits 0" [ $? = 0 ]
show "$tmp/p2"
check "no error, data verified, I/O on both paths, A saw ANA statuses" jq_ok "$tmp/p2.json" \
	"d['errors'] == 0 and d['not_completed'] == 0 and d['paths'][0]['ios'] > 0 and d['paths'][1]['ios'] > 0 and d['paths'][0]['errors'] == 0"
perf_mp "$tmp/p2b" -w randread -q 8 -T 1
check "afterwards all I/O on B" jq_ok "$tmp/p2b.json" "d['errors'] == 0 and d['paths'][0]['ios'] == 0 and d['paths'][1]['ios'] > 0"
ana a optimized
echo "== both optimized: the iopolicy spreads I/O over both"
sleep 0.2
perf_mp "$tmp/rr" -w randread -q 16 -T 1 --iopolicy round-robin
check "round-robin: about half the I/O on each path" jq_ok "$tmp/rr.json" \
	"d['errors'] == 0 and 0.4 < d['paths'][0]['ios'] / d['ios'] < 0.6"
perf_mp "$tmp/qd" -w randread -q 16 -T 1 --iopolicy queue-depth
check "queue-depth: both paths used" jq_ok "$tmp/qd.json" \
	"d['errors'] == 0 and d['iopolicy'] == 'queue-depth' and d['paths'][0]['ios'] > 0 and d['paths'][1]['ios'] > 0"
ana b inaccessible

echo "== both paths inaccessible for 2 s"
perf_mp "$tmp/p3" -w randrw -q 16 -T 6 --verify --size 4M &
perf=$!
sleep 2
ana a inaccessible
sleep 2
ana a optimized
wait "$perf"
check "perf --verify exits 0" [ $? = 0 ]
show "$tmp/p3"
check "I/O waited (gap >= 1.5 s) and resumed without an error" jq_ok "$tmp/p3.json" \
	"d['errors'] == 0 and d['not_completed'] == 0 and d['max_gap_ms'] >= 1500"

echo "== failover: A SIGKILLed under perf --verify, B made optimized; failback"
perf_mp "$tmp/p4" -w randrw -q 16 -T 12 --verify --size 8M --reconnect-delay 1 --ctrl-loss-tmo 60 &
perf=$!
sleep 3
t_kill=$(date +%s.%N)
kill -KILL "$apid"
wait "$apid" 2>/dev/null
apid=
ana b optimized
t_set=$(date +%s.%N)
sleep 3
t_restart=$(date +%s.%N)
start a
# Failback once the host is back on A (as an operator would): no gap then.
for _ in $(seq 50); do
	grep -q "127.0.0.1:$PORT_A: reconnected" "$tmp/p4.err" && break
	sleep 0.1
done
ana b inaccessible
wait "$perf"
check "perf --verify exits 0 across failover and failback" [ $? = 0 ]
show "$tmp/p4"
check "no I/O error, every block verified, nothing left" jq_ok "$tmp/p4.json" \
	"d['errors'] == 0 and d['verify_errors'] == 0 and d['not_completed'] == 0 and d['paths'][0]['retries'] > 0 and d['paths'][1]['ios'] > 0"
# A failover that waited for A to come back would stall for >= 3 s.
check "the longest I/O gap (failover, failback) stays under 2 s" jq_ok "$tmp/p4.json" "d['max_gap_ms'] < 2000"
# The longest gap ending within 3 s of the kill is the failover's; after A's restart, the failback's.
read -r gap_fo gap_fb max_lat < <(python3 - "$tmp/p4.json" "$t_kill" "$t_restart" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
kill, restart = float(sys.argv[2]), float(sys.argv[3])
fo = [g['ms'] for g in d['gaps'] if kill <= g['end_unix'] < kill + 3]
fb = [g['ms'] for g in d['gaps'] if g['end_unix'] >= restart]
# perf keeps the longest gaps only: none in a window means shorter than all of them.
least = "<%.0f" % min([g['ms'] for g in d['gaps']] or [0])
print("%s %s %.0f" % ("%.0f" % max(fo) if fo else least, "%.0f" % max(fb) if fb else least, d['max_us'] / 1000))
PY
)
echo "    failover gap: $gap_fo ms; longest gap after A's restart (failback): $gap_fb ms; longest I/O latency: $max_lat ms"
t_seen=$(grep -m1 "path 127.0.0.1:$PORT_B .*inaccessible -> optimized" "$tmp/p4.err" | cut -d' ' -f1)
[ -n "$t_seen" ] && python3 -c "import sys; k, s, h = map(float, sys.argv[1:]); print(f'    of which: set-ana-state on B done {(s - k) * 1000:.0f} ms after the kill, the host saw B optimized {(h - s) * 1000:.0f} ms after that')" \
	"$t_kill" "$t_set" "$(iso_s "$t_seen")"
fb=
t_rec=$(grep -m1 "127.0.0.1:$PORT_A: reconnected" "$tmp/p4.err" | cut -d' ' -f1)
if [ -n "$t_rec" ]; then
	fb=$(python3 -c "import sys; print(int((float(sys.argv[1]) - float(sys.argv[2])) * 1000))" "$(iso_s "$t_rec")" "$t_restart")
	echo "    failback: A's path live again $fb ms after A was restarted"
	pass "the host reconnected to the restarted A"
else
	fail "the host reconnected to the restarted A"
fi
echo "FIGURE nvmeof-host failover gap: $gap_fo ms (longest I/O latency $max_lat ms); failback: ${fb:-?} ms (restart to reconnected, optimized), failback gap $gap_fb ms [manual ANA, file namespace]"
perf_mp "$tmp/p5" -w randread -q 8 -T 1
show "$tmp/p5"
check "after failback all I/O on A again" jq_ok "$tmp/p5.json" \
	"d['errors'] == 0 and d['paths'][0]['ios'] > 0 and d['paths'][1]['ios'] == 0"

echo "== --discover: one instance, two ports, paths from its discovery log (asked on one of them)"
PORT_D=$(free_port "$PORT_A" "$PORT_B" "$PORT_C")
PORT_E=$(free_port "$PORT_A" "$PORT_B" "$PORT_C" "$PORT_D")

# dport PORTID PORT STATE: one port of instance D.
dport() {
	cat <<EOF
    { "portid": $1,
      "addr": { "adrfam": "ipv4", "traddr": "127.0.0.1", "treq": "not specified", "trsvcid": "$2", "trtype": "tcp" },
      "ana_groups": [ { "ana": { "state": "$3" }, "grpid": 1 } ],
      "param": {}, "referrals": [], "subsystems": [ "$NQN" ] }
EOF
}
{
	echo '{ "hosts": [], "ports": ['
	dport 1 "$PORT_D" inaccessible
	echo ','
	dport 2 "$PORT_E" optimized
	echo '], "subsystems": [ { "nqn": "'"$NQN"'", "allowed_hosts": [],'
	echo '  "attr": { "allow_any_host": "1", "serial": "mpath0002" },'
	echo '  "namespaces": [ { "ana_grpid": 1, "enable": 1, "nsid": 1,'
	echo '    "device": { "path": "'"$tmp/other.img"'", "uuid": "22222222-2222-3333-4444-555555555555",'
	echo '                "nguid": "22222222-8888-7777-6666-555555555555" } } ] } ] }'
} >"$tmp/d.json"
"$TGT" --config "$tmp/d.json" --rpc-socket "$tmp/d.sock" --log-level info >"$tmp/d.log" 2>&1 &
cpid=$!
TPID=$cpid LOG=$tmp/d.log target_wait_ready "$tmp/d.sock"
"$CLI" perf -t tcp -a 127.0.0.1 -s "$PORT_E" -n "$NQN" --discover --json --no-progress -w randread -q 8 -T 1 \
	>"$tmp/pd.json" 2>"$tmp/pd.err"
check "perf --discover exits 0" [ $? = 0 ]
grep -E 'discover|refused' "$tmp/pd.err" | sed 's/^/    /'
check "both ports found, I/O on the optimized one only" jq_ok "$tmp/pd.json" \
	"d['errors'] == 0 and sorted(p['trsvcid'] for p in d['paths']) == sorted(['$PORT_D', '$PORT_E']) and all((p['ios'] > 0) == (p['trsvcid'] == '$PORT_E') for p in d['paths'])"
kill "$cpid" && wait "$cpid" 2>/dev/null
cpid=

echo "== every path gone beyond ctrl_loss_tmo"
t0=$SECONDS
perf_mp "$tmp/p6" -w randwrite -q 8 -T 30 --reconnect-delay 1 --ctrl-loss-tmo 2 &
perf=$!
sleep 1.5
kill -KILL "$apid" "$bpid"
wait "$apid" "$bpid" 2>/dev/null
apid= bpid=
wait "$perf"
rc=$?
show "$tmp/p6"
el=$((SECONDS - t0))
check "perf fails (exit $rc) within 12 s ($el s)" bash -c "[ $rc != 0 ] && [ $el -lt 12 ]"
check "errors reported once both controllers are dead" jq_ok "$tmp/p6.json" \
	"d['errors'] > 0 and d['ctrl_state'] == 'dead'"
check "ctrl_loss_tmo logged" grep -q 'ctrl_loss_tmo (2 s) expired' "$tmp/p6.err"

for f in "$tmp"/p*.err; do
	if grep -qE 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$f"; then
		fail "sanitizer report in $(basename "$f")"
		grep -m 10 -A 10 -E 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$f" | sed 's/^/    /'
	fi
done
[ "$tsan" = 1 ] && tsan_check "$tmp/tsan"
if [ "$failed" != 0 ]; then
	for n in a b; do
		echo "--- target $n log (warnings and errors)"
		grep -iE 'warn|error' "$tmp/$n.log" | head -n 20
	done
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
