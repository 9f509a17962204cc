#!/bin/bash
# `nvmeof target top` and the Prometheus latency histogram against live I/O:
# two namespaces driven by two hosts (reads on ns 1 from h1, writes on ns 2
# from h2) with build/nvmeof perf; top -n 2 in the namespace, host and
# subsystem views (text and JSON) shows each load on the right row with
# sane latencies, sorting by name and by IOPS, usage errors; then the
# histogram counts exactly the I/Os perf completed, its buckets are
# cumulative, and every metric the Grafana dashboard uses is exported.
#
#   usage: tests/integration/top.sh [BUILD]      (BUILD defaults to build)
#
# In a ThreadSanitizer build, each distinct race reported is one more
# failure. The last line is "N passed, N failed".
# shellcheck disable=SC2016 # awk programs in single quotes
set -u
CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
integration_begin top "$@"
port=$(free_port)
mport=$(free_port "$port")
NQN=nqn.2026-01.io.nvmeof:top
H1=nqn.2014-08.org.example:top-h1
H2=nqn.2014-08.org.example:top-h2
SOCK=$tmp/target.sock
LOG=$tmp/target.log
# py FILE EXPR: python expression on the parsed JSON document `d` (or on the
# list `ds` of JSON lines) must be true.
py() { python3 -c "import json,sys; t=open(sys.argv[1]).read(); ds=[json.loads(l) for l in t.splitlines() if l.strip()]; d=ds[-1] if ds else None; sys.exit(0 if ($2) else 1)" "$1"; }
top() { "$CLI" target --rpc-socket "$SOCK" top "$@"; }
# The Prometheus endpoint's body (python3, which the checks need anyway, as the HTTP client).
scrape() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "http://127.0.0.1:$mport/metrics"; }
perf() { # HOSTNQN NSID PATTERN SECONDS OUT
	"$CLI" perf -t tcp -a 127.0.0.1 -s "$port" -n "$NQN" --hostnqn "$1" -N "$2" -w "$3" -q 16 -o 4096 \
		-T "$4" --size 8M --json --no-progress >"$5" 2>"$5.err"
}

"$TGT" --addr 127.0.0.1 --port "$port" --disc-port 0 --nqn "$NQN" --ram-size 32M --rpc-socket "$SOCK" \
	--metrics "127.0.0.1:$mport" --log-level info >"$LOG" 2>&1 &
tpid=$!
TPID=$tpid
target_wait_ready "$SOCK"
"$CLI" target --rpc-socket "$SOCK" add-ns "$NQN" --ram 32M --nsid 2 >/dev/null
check "a second namespace" [ $? = 0 ]

echo "== usage"
top --help >"$tmp/help.txt"
check "top --help exits 0 and lists its options" grep -q -- "--by subsystem|namespace|host" "$tmp/help.txt"
top -n 1 -s bogus 2>/dev/null
check "an unknown sort column is a usage error (2)" [ $? = 2 ]
top -n 1 --by volume 2>/dev/null
check "an unknown view is a usage error (2)" [ $? = 2 ]
top -n 0 2>/dev/null
check "-n 0 is a usage error (2)" [ $? = 2 ]
"$CLI" target --rpc-socket "$tmp/nosuch.sock" top -n 1 -d 0.1 2>/dev/null
check "an unreachable target exits 1" [ $? = 1 ]

echo "== idle"
top -n 1 -d 0.2 >"$tmp/idle.txt"
check "idle: exits 0" [ $? = 0 ]
check "idle: a header line with the time, interval, view and order" \
	grep -qE '^nvmeof top - [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}, interval 0\.[0-9]+ s, by namespace, sorted by iops$' "$tmp/idle.txt"
check "idle: the column header" grep -qE '^NAME +R_IOPS +W_IOPS +R_MiB/s +W_MiB/s +P50_us +P99_us +QD +ERRORS$' "$tmp/idle.txt"
check "idle: both namespaces at 0 IOPS, no latency" bash -c \
	"grep -qE '^$NQN/1 +0 +0 +0\.0 +0\.0 +- +- +0 +0$' '$tmp/idle.txt' && grep -qE '^$NQN/2 +0 +0 ' '$tmp/idle.txt'"

echo "== under load"
# TSan makes everything ~10x slower: run longer there.
secs=10
[ "$tsan" = 1 ] && secs=20
perf "$H1" 1 randread "$secs" "$tmp/p1.json" &
p1=$!
perf "$H2" 2 randwrite "$secs" "$tmp/p2.json" &
p2=$!
sleep 1.5
# Controller series exist only while hosts are connected.
scrape >"$tmp/metrics-live.txt"
top -n 2 >"$tmp/ns.txt"
check "top -n 2 exits 0" [ $? = 0 ]
check "top -n 2 prints two blocks" [ "$(grep -c '^nvmeof top - ' "$tmp/ns.txt")" = 2 ]
top -n 2 -d 0.5 --json >"$tmp/ns.json"
top -n 1 -d 0.5 --json --by host >"$tmp/host.json"
top -n 1 -d 0.5 --json --by subsystem >"$tmp/subsys.json"
top -n 1 -d 0.5 --json -s name >"$tmp/byname.json"
top -n 1 -d 0.5 --json -s p99 >"$tmp/byp99.json"
top -n 1 -d 0.5 --by host >"$tmp/host.txt"
# On a terminal (script(1) provides one): full-screen redraws, s cycles the
# sort column, v the view, q quits and restores the screen.
# The keys come through a FIFO whose writer stays 30 s after q: top must
# quit on the key, not on the end of its input.
if command -v script >/dev/null; then
	mkfifo "$tmp/keys"
	{ sleep 2.5; printf s; sleep 0.5; printf v; sleep 1.5; printf q; sleep 30; } >"$tmp/keys" &
	keys=$!
	script -qfec "stty cols 160 rows 30; '$CLI' target --rpc-socket '$SOCK' top -d 0.5" /dev/null \
		<"$tmp/keys" >"$tmp/tty.out" 2>&1
	tty_rc=$?
	kill -0 "$keys" 2>/dev/null
	tty_input_open=$?
	kill "$keys" 2>/dev/null
fi
wait $p1
rc1=$?
wait $p2
rc2=$?
check "perf on ns 1 as h1 (randread) completes" [ "$rc1" = 0 ]
check "perf on ns 2 as h2 (randwrite) completes" [ "$rc2" = 0 ]

# The last block of the text output: ns 1 reads, ns 2 writes.
awk '/^nvmeof top - /{b=""} {b=b $0 "\n"} END{printf "%s", b}' "$tmp/ns.txt" >"$tmp/ns-last.txt"
check "text: ns 1 has read IOPS and no writes" \
	awk -v n="$NQN/1" '$1 == n && $2 > 0 && $3 == 0 { ok = 1 } END { exit !ok }' "$tmp/ns-last.txt"
check "text: ns 2 has write IOPS and no reads" \
	awk -v n="$NQN/2" '$1 == n && $2 == 0 && $3 > 0 { ok = 1 } END { exit !ok }' "$tmp/ns-last.txt"
check "text: p50 <= p99 < 1 s on both rows" \
	awk -v n="$NQN/" 'index($1, n) == 1 && $6 != "-" && $6 + 0 <= $7 + 0 && $7 + 0 < 1000000 { ok++ } END { exit ok != 2 }' "$tmp/ns-last.txt"
check "text: rows sorted by IOPS" \
	awk -v n="$NQN/" 'index($1, n) == 1 { v = $2 + $3; if (seen && v > last) bad = 1; last = v; seen = 1 } END { exit bad }' "$tmp/ns-last.txt"

check "json: two lines, each by namespace" py "$tmp/ns.json" "len(ds) == 2 and all(x['by'] == 'namespace' for x in ds)"
check "json: ns 1 reads with MiB/s = IOPS * 4 KiB" py "$tmp/ns.json" \
	"[r for r in d['rows'] if r['nsid'] == 1 and r['subsystem'] == '$NQN' and r['read_iops'] > 0 and r['write_iops'] == 0 and abs(r['read_mibs'] - r['read_iops'] * 4096 / 1048576) < 0.01]"
check "json: ns 2 writes" py "$tmp/ns.json" \
	"[r for r in d['rows'] if r['nsid'] == 2 and r['write_iops'] > 0 and r['read_iops'] == 0 and r['write_mibs'] > 0]"
check "json: latencies present, 0 < p50 <= p99 < 1 s" py "$tmp/ns.json" \
	"all(r['p50_us'] is not None and 0 < r['p50_us'] <= r['p99_us'] < 1e6 for r in d['rows'])"
check "json: queue depth within the hosts' 16 per queue, no errors" py "$tmp/ns.json" \
	"all(0 <= r['qd'] <= 16 and r['errors'] == 0 for r in d['rows'])"
check "json: sorted by IOPS, largest first" py "$tmp/ns.json" \
	"all(a['read_iops'] + a['write_iops'] >= b['read_iops'] + b['write_iops'] for a, b in zip(d['rows'], d['rows'][1:]))"
check "json -s name: sorted by name" py "$tmp/byname.json" \
	"[r['name'] for r in d['rows']] == sorted(r['name'] for r in d['rows']) and d['sort'] == 'name'"
check "json -s p99: sorted by p99" py "$tmp/byp99.json" \
	"all((a['p99_us'] or 0) >= (b['p99_us'] or 0) for a, b in zip(d['rows'], d['rows'][1:]))"
check "by host: h1 only reads" py "$tmp/host.json" \
	"[r for r in d['rows'] if r['host'] == '$H1' and r['read_iops'] > 0 and r['write_iops'] == 0]"
check "by host: h2 only writes" py "$tmp/host.json" \
	"[r for r in d['rows'] if r['host'] == '$H2' and r['write_iops'] > 0 and r['read_iops'] == 0]"
check "by host (text): a row per host" bash -c "grep -q '^$H1 ' '$tmp/host.txt' && grep -q '^$H2 ' '$tmp/host.txt'"
check "by subsystem: one row with both reads and writes" py "$tmp/subsys.json" \
	"len(d['rows']) == 1 and d['rows'][0]['subsystem'] == '$NQN' and d['rows'][0]['read_iops'] > 0 and d['rows'][0]['write_iops'] > 0"
if [ -n "${tty_rc+x}" ]; then
	check "terminal: q quits with status 0, its input still open" [ "$tty_rc,$tty_input_open" = 0,0 ]
	check "terminal: the alternate screen is entered, cleared per refresh and left" bash -c \
		"grep -qF \$'\\e[?1049h' '$tmp/tty.out' && grep -qF \$'\\e[H\\e[2J' '$tmp/tty.out' && grep -qF \$'\\e[?25h\\e[?1049l' '$tmp/tty.out'"
	check "terminal: s sorts by the next column (mibs), v shows the next view (host)" bash -c \
		"grep -q 'by namespace, sorted by iops' '$tmp/tty.out' && grep -q 'by namespace, sorted by mibs' '$tmp/tty.out' && grep -q 'by host, sorted by mibs' '$tmp/tty.out' && grep -q '$H1' '$tmp/tty.out'"
else
	echo "(script(1) is not installed: terminal mode not checked)"
fi

echo "== Prometheus histogram"
scrape >"$tmp/metrics.txt"
check "/metrics answers" [ -s "$tmp/metrics.txt" ]
# hist_check NSID PERF_JSON: the namespace's reads and writes equal perf's
# completed I/Os and _count them plus its other commands, buckets are
# cumulative and end at _count, the inflight gauge is back to 0.
hist_check() {
	python3 - "$tmp/metrics.txt" "$NQN" "$1" "$2" <<'PY'
import json, re, sys
text, nqn, nsid, perf = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3], json.load(open(sys.argv[4]))
lab = 'subsystem="%s",nsid="%s"' % (nqn, nsid)
def val(name, extra=""):
    m = re.search(r'^%s\{%s%s\} (\S+)$' % (re.escape(name), re.escape(lab), re.escape(extra)), text, re.M)
    return float(m.group(1)) if m else None
count = val("nvmeof_latency_seconds_count")
buckets = [(b, float(v)) for b, v in re.findall(r'^nvmeof_latency_seconds_bucket\{%s,le="([^"]+)"\} (\S+)$' % re.escape(lab), text, re.M)]
ios = perf["ios"] + perf.get("not_completed", 0)
rw = sum(val("nvmeof_commands_total", ',op="%s"' % op) or 0 for op in ("read", "write"))
other = val("nvmeof_commands_total", ',op="other"') or 0
ok = True
def check(what, cond):
    global ok
    print(("ok: " if cond else "FAIL: ") + what)
    ok = ok and bool(cond)
# perf stops at a deadline: a queue depth's worth of reads or writes may end uncounted.
check("ns %s: %d reads and writes vs perf's %d I/Os" % (nsid, rw, ios), ios > 0 and abs(rw - ios) <= max(16, ios * 0.001))
check("ns %s: _count %s = reads, writes and %d other commands (Identify)" % (nsid, count, other), count == rw + other)
check("ns %s: %d buckets, cumulative, +Inf last and equal to _count" % (nsid, len(buckets)),
      len(buckets) > 50 and buckets[-1][0] == "+Inf" and buckets[-1][1] == count
      and all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
      and all(float(a[0]) < float(b[0]) for a, b in zip(buckets[:-2], buckets[1:-1])))
s = val("nvmeof_latency_seconds_sum")
check("ns %s: _sum is a plausible total (mean below 1 s)" % nsid, s is not None and 0 < s < count)
check("ns %s: nothing in flight after the run" % nsid, val("nvmeof_inflight_commands") == 0)
sys.exit(0 if ok else 1)
PY
}
check "histogram of ns 1 matches perf (h1)" hist_check 1 "$tmp/p1.json"
check "histogram of ns 2 matches perf (h2)" hist_check 2 "$tmp/p2.json"
check "host gauges: nvmeof_host_inflight_commands for both hosts" bash -c \
	"grep -q '^nvmeof_host_inflight_commands{host=\"$H1\"} 0$' '$tmp/metrics.txt' && grep -q '^nvmeof_host_inflight_commands{host=\"$H2\"} 0$' '$tmp/metrics.txt'"

echo "== Grafana dashboard"
check "every metric of dist/grafana/nvmeof-dashboard.json is exported (scraped under load)" \
	python3 tests/integration/dashboard_check.py dist/grafana/nvmeof-dashboard.json "$tmp/metrics-live.txt"

target_stop_check
tpid=
[ "$tsan" = 1 ] && tsan_check "$tmp/tsan"
if [ "$failed" != 0 ]; then
	echo "--- target log (warnings and errors)"
	grep -iE 'warn|error' "$LOG" | head -n 30
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
