#!/bin/bash
# Bounded soak of nvmeof-target, in a private network namespace: for a few
# minutes, at the same time,
#   - six hosts do verified I/O with the project's host tool: three repeat
#     `nvmeof perf --verify` on namespaces of their own, three write known
#     data to block ranges of their own with `nvmeof write` and record every
#     write in a ledger (some are read back at once);
#   - bad_pdu.py sends malformed PDUs, walks away in the middle of commands
#     and holds idle connections, which the target must drop;
#   - churn.py adds and removes subsystems, namespaces, hosts and ports through
#     `nvmeof target` (some while reads are in flight, or stalled behind a
#     host that does not read), and every 12 s removes something the hosts
#     use and puts it back (errors inside that window are allowed, see
#     hosts.py).
# A 10 s run of the same clients comes first, so that the RSS baseline is
# the steady state. Then: the target still runs and answers its control
# socket with the configuration it started with; every acknowledged ledger
# write reads back; no sanitizer report and no EFAULT in the target's log;
# once the clients are gone, no connection is left and the open fds and RSS
# are back to the baseline; SIGTERM exits 0 without a leak report.
#
#   tests/soak/run.sh BUILD_DIR [--minutes N]   (or SOAK_MINUTES=N; default 3)
#
# BUILD_DIR is normally build-san (make SAN=1). Needs root (unshare -n);
# exits 77 (skipped) without it. SOAK_PDU_SKIP=case,... leaves out cases of
# bad_pdu.py; SOAK_KEEP=1 keeps the work directory (it is kept on failure).
# The last line is "N passed, N failed"; the exit status is nonzero on failure.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" >/dev/null && pwd)
repo=$(cd "$here/../.." >/dev/null && pwd)
CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$repo/tests/lib.sh"

usage() {
	echo "usage: tests/soak/run.sh BUILD_DIR [--minutes N]" >&2
	exit 2
}
build=
minutes=${SOAK_MINUTES:-3}
while [ $# -gt 0 ]; do
	case $1 in
	--minutes) [ $# -ge 2 ] || usage; minutes=$2; shift 2 ;;
	--minutes=*) minutes=${1#*=}; shift ;;
	-h | --help) usage ;;
	*) [ -z "$build" ] || usage; build=$1; shift ;;
	esac
done
[ -n "$build" ] || usage
[[ $minutes =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage
secs=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60); print (s < 20 ? 20 : s) }')
BUILD=$({ cd "$build" || cd "$repo/$build"; } >/dev/null 2>&1 && pwd)
TGT=$BUILD/nvmeof-target
CLI=$BUILD/nvmeof
for b in "$TGT" "$CLI"; do
	if [ ! -x "$b" ]; then
		echo "soak: $b is not built"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

# Private network namespace: fixed ports, nothing else listening.
if [ -z "${SOAK_NETNS:-}" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "soak: skipped: needs root for a private network namespace (unshare -n)"
		exit 77
	fi
	if ! unshare -n true; then
		echo "soak: unshare -n failed"
		echo "0 passed, 1 failed"
		exit 1
	fi
	SOAK_NETNS=1 exec unshare -n bash "$0" "$BUILD" --minutes "$minutes"
fi
if ! ip link set lo up; then
	echo "soak: cannot bring up lo in the network namespace"
	echo "0 passed, 1 failed"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-soak.XXXXXX")
SOCK=$tmp/run/target.sock
tpid=
workers=()
cleanup() {
	local p
	for p in "${workers[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "$tpid" ] && kill -KILL "$tpid" 2>/dev/null
	if [ "$failed" = 0 ] && [ -z "${SOAK_KEEP:-}" ]; then
		rm -rf "$tmp"
	else
		echo "soak: logs kept in $tmp"
	fi
}
on_exit cleanup

export SOAK_DIR=$tmp SOAK_BUILD=$BUILD PYTHONDONTWRITEBYTECODE=1
# Any sanitizer report ends the process and lands in $tmp/san. The quarantine
# is kept small so that freed memory held by it does not read as growth of RSS.
mkdir -p "$tmp/san"
san="abort_on_error=1:halt_on_error=1:detect_leaks=1:quarantine_size_mb=16:malloc_context_size=30"
export ASAN_OPTIONS="log_path=$tmp/san/host:$san"
export UBSAN_OPTIONS="log_path=$tmp/san/host-ubsan:print_stacktrace=1:halt_on_error=1"

NQN=nqn.2026-01.io.nvmeof.soak
ABUSE=$NQN:abuse
tcli() { "$CLI" target --rpc-socket "$SOCK" --timeout 20 "$@"; }
alive() { [ -n "$tpid" ] && kill -0 "$tpid" 2>/dev/null; }
nfds() { ls "/proc/$tpid/fd" 2>/dev/null | wc -l; }
# Resident KiB of the target, less what its RAM namespaces hold: their data
# grows as hosts write new blocks, which is not growth of the target. They
# are the anonymous mappings whose size is a RAM namespace's (4 to 32 MiB).
rss_kb() {
	python3 - "/proc/$tpid/smaps" <<'PY' 2>/dev/null
import sys
ram_sizes = {4 << 20, 8 << 20, 16 << 20, 32 << 20}
kb, ram = 0, False
for line in open(sys.argv[1]):
    f = line.split()
    if "-" in f[0] and len(f) >= 5 and ":" in f[3]:
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        ram = len(f) == 5 and hi - lo in ram_sizes
    elif f[0] == "Rss:" and not ram:
        kb += int(f[1])
print(kb)
PY
}
mib() { if [ -n "${1:-}" ]; then awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; else echo "?"; fi; }
nconns() { tcli stats --json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["connections"])' 2>/dev/null; }
# The configuration without state (stats, controllers) and generated identifiers.
config() {
	tcli list --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
subs = {s["nqn"]: {"hosts": sorted(s["hosts"]), "allow_any_host": s["allow_any_host"],
                   "serial": s["serial"], "model": s["model"], "monitor": s["monitor"],
                   "ns": {n["nsid"]: [n["backend"], n["path"], n["size"], n["block_size"], n["read_only"]]
                          for n in s["namespaces"]}} for s in d["subsystems"]}
ports = {p["portid"]: [p["traddr"], p["trsvcid"], sorted(p["subsystems"])] for p in d["ports"]}
print(json.dumps({"subsystems": subs, "ports": ports}, sort_keys=True, indent=1))'
}
san_reports() { find "$tmp/san" -type f -size +0 | sort; }
show_reports() {
	local f
	for f in "$@"; do
		echo "--- $f"
		head -n 40 "$f" | sed 's/^/    /'
	done
}
# settle: wait until no connection is open and the fd count is FDS (at most 30 s).
settle() {
	local i
	for i in $(seq 60); do
		alive || return 1
		[ "$(nconns)" = 0 ] && [ "$(nfds)" = "$1" ] && return 0
		sleep 0.5
	done
	return 1
}

# ------------------------------------------------------------------ setup
echo "== setup: $TGT, ${secs}s of soak, work directory $tmp"
python3 "$here/soak_common.py" config "$tmp" || { fail "writing the configuration"; finish; }
ASAN_OPTIONS="log_path=$tmp/san/target:$san" UBSAN_OPTIONS="log_path=$tmp/san/target-ubsan:print_stacktrace=1:halt_on_error=1" \
	"$TGT" -c "$tmp/target.json" --rpc-socket "$SOCK" --reactors 2 >"$tmp/target.log" 2>&1 &
tpid=$!
for _ in $(seq 300); do
	grep -q '^nvmeof-target: ready' "$tmp/target.log" && [ -S "$SOCK" ] && break
	alive || break
	sleep 0.1
done
if ! grep -q '^nvmeof-target: ready' "$tmp/target.log"; then
	fail "the target starts with 3 subsystems (RAM and file namespaces) and 2 ports"
	sed 's/^/    /' "$tmp/target.log"
	finish
fi
pass "the target starts with 3 subsystems (RAM and file namespaces) and 2 ports"
config >"$tmp/config-start.json"
fd_setup=$(nfds)
rss_setup=$(rss_kb)

# A short run of every client first: RAM namespace pages get written and
# allocator caches filled, so the RSS baseline taken after it is the steady
# state and any later growth is a leak.
echo "== warm-up (10 s)"
SOAK_T0=$(date +%s.%N)
export SOAK_T0
t_start=$(date +%s)
died_at=
workers=()
names=()
start_worker() { # NAME SECONDS COMMAND...
	local name=$1 limit=$2
	shift 2
	run_bounded "$limit" "$@" 2>>"$tmp/worker-$name.err" &
	workers+=($!)
	names+=("$name")
}
note_death() {
	died_at=$(($(date +%s) - t_start))
	date +%s.%N >"$tmp/died"
	touch "$tmp/stop"
}
# run_clients SECONDS [--idle] [DISRUPT-PERIOD]: every client for SECONDS, then wait for them all.
run_clients() {
	local secs=$1 p i=0 rc running t0 next_note
	t0=$(date +%s)
	next_note=$((t0 + 30))
	for w in p1 p2 p3; do start_worker "$w" $((secs + 180)) python3 "$here/hosts.py" perf "$w" "$secs"; done
	for w in l1 l2 l3; do start_worker "$w" $((secs + 180)) python3 "$here/hosts.py" ledger "$w" "$secs"; done
	start_worker bad_pdu $((secs + 180)) python3 "$here/bad_pdu.py" 127.0.0.1 4420 "$ABUSE" "$secs" ${2:+"$2"}
	start_worker churn $((secs + 180)) python3 "$here/churn.py" "$secs" ${3:+--disrupt "$3"}
	while :; do
		running=0
		for p in "${workers[@]}"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
		[ "$running" = 0 ] && break
		if [ -z "$died_at" ] && ! alive; then
			note_death
			echo "   the target died at +${died_at}s: stopping the clients"
		fi
		if [ "$(date +%s)" -ge "$next_note" ]; then
			echo "   +$(($(date +%s) - t0))s: $(cat "$tmp"/ledger-*.jsonl 2>/dev/null | wc -l) ledger records," \
				"$(cat "$tmp"/perf-*.jsonl 2>/dev/null | wc -l) perf runs, $(wc -l <"$tmp/disrupt.jsonl" 2>/dev/null || echo 0) disruptions"
			next_note=$((next_note + 30))
		fi
		sleep 1
	done
	for p in "${workers[@]}"; do
		wait "$p"
		rc=$?
		if [ "$rc" != 0 ] && [ -z "$died_at" ]; then
			fail "client ${names[$i]} ran to its end (exit $rc)"
			tail -n 5 "$tmp/worker-${names[$i]}.err" | sed 's/^/    /'
		fi
		i=$((i + 1))
	done
	workers=()
	names=()
}
run_clients 8 "" ""
if alive; then
	settle "$fd_setup"
	fd_warm=$(nfds)
	rss_base=$(rss_kb)
	echo "   fds: $fd_setup after setup, $fd_warm after warm-up; RSS: $(mib "$rss_setup") after setup," \
		"$(mib "$rss_base") after warm-up (the baseline)"

	# --------------------------------------------------------------- soak
	echo "== soak (${secs}s): perf --verify x3, ledger writers x3, malformed PDUs, control-plane churn"
	t_soak=$(date +%s)
	run_clients "$secs" --idle 12
	echo "   soak done after $(($(date +%s) - t_soak))s"
else
	[ -n "$died_at" ] || note_death
	echo "   the target died during the warm-up: no soak"
fi

# ----------------------------------------------------------------- checks
echo "== checks"
if alive; then
	pass "the target is still running"
else
	wait "$tpid"
	fail "the target is still running (it exited with status $? at +${died_at:-?}s)"
	tpid=
fi

# Verified I/O: the logs, then (with the target alive) the ledger read back.
# After a crash, what the hosts saw from a little before it on is not judged:
# the crash is the failure.
while IFS=$'\t' read -r kind a b; do
	case $kind in
	PASS) pass "$a" ;;
	FAIL) fail "$a" ;;
	INFO) echo "$a" ;;
	STAT) printf -v "stat_$a" %s "$b" ;;
	esac
done < <(if alive; then python3 "$here/hosts.py" check; else python3 "$here/hosts.py" check --logs-only; fi 2>"$tmp/check.err")
[ -s "$tmp/check.err" ] && { fail "hosts.py check ran cleanly"; tail -n 5 "$tmp/check.err" | sed 's/^/    /'; }

if ! alive; then
	echo "   not checked, the target is not running: control socket, configuration, final read-back," \
		"malformed-input reactions, idle connections, churn, fds and RSS, SIGTERM"
fi
if alive; then
	if tcli list >/dev/null; then
		pass "the control socket answers"
	else
		fail "the control socket answers"
	fi
	if config >"$tmp/config-end.json" && diff -u "$tmp/config-start.json" "$tmp/config-end.json" >"$tmp/config.diff"; then
		pass "the configuration is back to the one the target started with"
	else
		fail "the configuration is back to the one the target started with"
		head -n 30 "$tmp/config.diff" | sed 's/^/    /'
	fi
fi

# Malformed input and idle connections.
if ! alive; then
	:
elif [ -f "$tmp/bad_pdu.json" ]; then
	eval "$(python3 - "$tmp/bad_pdu.json" <<'PY'
import json, shlex, sys
d = json.load(open(sys.argv[1]))
print(f"pdu_conns={d['connections']} pdu_refused={d['refused']} pdu_bad={len(d['unexpected'])}")
print("pdu_cases=" + shlex.quote(", ".join(f"{k} {v}" for k, v in sorted(d["cases"].items()))))
print("pdu_list=" + shlex.quote("\n".join("    " + u for u in d["unexpected"][:10])))
idle = [(i["name"], i["closed_after"], i["held"]) for i in d["idle"]]
print("idle_open=" + shlex.quote("\n".join(f"    {n}: still open after {h:.0f} s" for n, c, h in idle if c is None)))
print("idle_ok=" + shlex.quote(", ".join(f"{n} after {c:.0f} s" for n, c, h in idle if c is not None)))
print(f"idle_n={len(idle)}")
print("idle_err=" + shlex.quote("\n".join("    " + e for e in d["idle_errors"])))
PY
)"
	echo "   malformed-input connections: $pdu_conns ($pdu_cases)"
	if [ "$pdu_refused" = 0 ]; then pass "the target accepted every connection"; else fail "the target refused $pdu_refused connection(s)"; fi
	if [ "$pdu_bad" = 0 ]; then
		pass "every malformed PDU was answered with a C2HTermReq, a close or an NVMe error"
	else
		fail "$pdu_bad malformed PDU(s) without the required reaction"
		echo "$pdu_list"
	fi
	if [ -z "$idle_open" ] && [ "$idle_n" = 5 ]; then
		pass "idle connections are dropped by the target ($idle_ok)"
	else
		fail "idle connections are dropped by the target"
		[ -n "$idle_open" ] && echo "$idle_open"
		[ -n "$idle_ok" ] && echo "    dropped: $idle_ok"
		[ -n "$idle_err" ] && echo "$idle_err"
	fi
else
	fail "bad_pdu.py wrote its results"
fi

# Control-plane churn.
if ! alive; then
	:
elif [ -f "$tmp/churn.json" ]; then
	eval "$(python3 - "$tmp/churn.json" <<'PY'
import json, shlex, sys
d = json.load(open(sys.argv[1]))
print(f"churn_ops={d['ops']} churn_disrupt={d['disruptions']} churn_probe={d['probe_ios']} churn_bad={len(d['errors'])}"
      f" churn_load={d['removed_under_load']} churn_stalled={d['stalled_readers']}")
print("churn_list=" + shlex.quote("\n".join("    " + e for e in d["errors"][:10])))
print("stale_list=" + shlex.quote("\n".join("    " + e for e in d["stale_reads"][:10])))
print(f"stale_bad={len(d['stale_reads'])}")
print("churn_by=" + shlex.quote(", ".join(f"{k} {v}" for k, v in sorted(d["by_op"].items()))))
PY
)"
	if [ "$churn_bad" = 0 ]; then
		pass "churn: all $churn_ops control operations did what was asked ($churn_disrupt disruptions)"
	else
		fail "churn: $churn_bad of $churn_ops control operations went wrong"
		echo "$churn_list"
	fi
	if [ "$stale_bad" = 0 ]; then
		pass "reads in flight when their RAM namespace went away returned its data or failed ($churn_stalled times)"
	else
		fail "reads in flight when their RAM namespace went away returned its data or failed ($stale_bad of $churn_stalled times not)"
		echo "$stale_list"
	fi
else
	fail "churn.py wrote its results"
fi

# Resources, once every client is gone.
if alive; then
	settle "$fd_setup"
	# Idle data buffers give their memory back after a second or two.
	sleep 3
	c=$(nconns)
	fd_end=$(nfds)
	rss_end=$(rss_kb)
	if [ "$c" = 0 ]; then pass "no connection left open"; else fail "no connection left open ($c still open)"; fi
	if [ "$fd_end" = "$fd_setup" ]; then
		pass "open fds back to the baseline ($fd_end)"
	else
		fail "open fds back to the baseline ($fd_setup after setup, $fd_end now)"
		ls -l "/proc/$tpid/fd" | awk 'NR > 1 { print "    " $(NF - 2), $(NF - 1), $NF }' | sort -k3 | uniq -c -f2 | head -n 20
	fi
	# RAM namespace data is left out (see rss_kb), so 20 MiB leaves room for
	# allocator noise, not for a per-connection leak.
	if [ "$rss_end" -le $((rss_base + 20480)) ]; then
		pass "RSS without RAM namespace data back near the baseline ($(mib "$rss_end"), baseline $(mib "$rss_base") + 20 MiB)"
	else
		fail "RSS without RAM namespace data back near the baseline ($(mib "$rss_end"), baseline $(mib "$rss_base") + 20 MiB)"
	fi
fi

mapfile -t reports < <(san_reports)
if [ "${#reports[@]}" = 0 ] && ! grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$tmp/target.log"; then
	pass "no sanitizer report during the soak"
else
	fail "no sanitizer report during the soak (${#reports[@]} report file(s))"
	show_reports "${reports[@]}"
fi

# EFAULT from a socket call: the target handed the kernel memory it had
# already given back (a namespace's mapping, a freed buffer).
if grep -q 'Bad address' "$tmp/target.log"; then
	fail "the target never sends from or receives into memory it no longer owns ($(grep -c 'Bad address' "$tmp/target.log") EFAULT(s) in its log)"
	grep -m 3 'Bad address' "$tmp/target.log" | sed 's/^/    /'
else
	pass "the target never sends from or receives into memory it no longer owns (no EFAULT in its log)"
fi

if alive; then
	kill -TERM "$tpid"
	for _ in $(seq 300); do alive || break; sleep 0.1; done
	if alive; then
		fail "SIGTERM stops the target within 30 s"
		kill -KILL "$tpid"
		wait "$tpid"
	else
		wait "$tpid"
		rc=$?
		if [ "$rc" = 0 ]; then pass "SIGTERM: clean exit (status 0)"; else fail "SIGTERM: clean exit (status $rc)"; fi
	fi
	tpid=
	mapfile -t after < <(san_reports)
	if [ "${#after[@]}" = "${#reports[@]}" ]; then
		pass "no leak or sanitizer report at exit"
	else
		fail "no leak or sanitizer report at exit"
		mapfile -t new < <(comm -13 <(printf '%s\n' "${reports[@]}") <(printf '%s\n' "${after[@]}"))
		show_reports "${new[@]}"
	fi
fi

echo "== summary"
echo "   soak ${secs}s; I/Os: perf --verify ${stat_perf_ios:-0} in ${stat_perf_runs:-0} runs," \
	"ledger ${stat_ledger_writes:-0} writes (${stat_ledger_acked:-0} acknowledged) + ${stat_ledger_readbacks:-0} read-backs," \
	"churn probes ${churn_probe:-0}"
echo "   ledger at the end: ${stat_ledger_checked_blocks:-0} blocks of ${stat_ledger_checked_writes:-0} writes checked," \
	"${stat_ledger_voided_writes:-0} writes voided by namespace removal"
echo "   malformed-input connections: ${pdu_conns:-0}; churn: ${churn_ops:-0} control operations," \
	"${churn_disrupt:-0} disruptions, ${churn_load:-0} removals under load," \
	"${churn_stalled:-0} under a stalled reader (${churn_by:-})"
echo "   fds: baseline ${fd_setup:-?}, end ${fd_end:-?}; RSS: after setup $(mib "${rss_setup:-}")," \
	"baseline $(mib "${rss_base:-}"), end $(mib "${rss_end:-}")"
finish
