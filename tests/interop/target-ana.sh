#!/bin/bash
# Asymmetric Namespace Access and multipath against the Linux kernel host (a
# qemu guest, see the interop harness's README): two nvmeof-target instances,
# A and B, on two ports export one subsystem NQN with one file namespace
# (same file, serial, UUID and NGUID; disjoint cntlid_min/cntlid_max), ANA
# group 1 optimized on A and inaccessible on B. The guest connects to both;
# native multipath must merge them into one namespace with two paths, and
# `nvme list-subsys` must show their states. While a fio write+verify loop
# runs, A is SIGKILLed and `nvmeof target set-ana-state` makes group 1
# optimized on B (failover); then A is restarted (inaccessible, as a
# restarted instance should come up) and the operator switches back: group 1
# optimized on A, inaccessible on B (failback). The loop must see no I/O error
# and verify its data, and I/O must flow through the restarted A.
# Prints a FIGURE line: the longest fio completion across the failover (the
# I/O gap), the time from A's restart to the guest seeing A's path optimized,
# and the longest completion across the failback.
# The guest script is tests/interop/guest/ana.sh.
#
#   usage: tests/interop/target-ana.sh [BUILD]   (BUILD: build)
#
# Needs root and the harness (INTEROP_DIR, else ../shared/interop beside the
# repo, else /work/shared/interop); exit status 77 means skipped. The last
# line is "N passed, N failed".
set -u
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=lib-guest.sh
. "$(dirname "$0")/lib-guest.sh"
use_build "${1:-}"

if [ "$(id -u)" != 0 ]; then
	echo "target-ana: skipped: needs root (the harness installs qemu with apt-get)"
	exit 77
fi
if ! interop=$(find_interop); then
	echo "target-ana: skipped: no interop harness"
	exit 77
fi
for b in "$TGT" "$CLI"; do
	[ -x "$b" ] || { fail "$b not built"; finish; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-ana.XXXXXX")
APID=
BPID=
GPID=
cleanup() {
	[ -n "$GPID" ] && kill "$GPID" 2>/dev/null && wait "$GPID" 2>/dev/null
	for p in $APID $BPID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	[ "${INTEROP_KEEP:-0}" = 1 ] && echo "target-ana: kept $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! bash "$interop/setup" >"$work/setup.log" 2>&1; then
	cat "$work/setup.log"
	fail "interop harness setup"
	finish
fi

read -r PORT_A PORT_B < <(python3 -c '
import random, socket
ports = []
while len(ports) < 2:
    p = random.randint(16000, 16999)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    if p not in ports:
        ports.append(p)
print(*ports)')
NQN=nqn.2014-08.org.nvmexpress.test:ana-multipath
IMG=$work/disk.img
truncate -s 64M "$IMG"

# config PORT STATE CNTLID_MIN CNTLID_MAX: one instance's file (nvmetcli's form).
config() {
	cat <<EOF
{
  "hosts": [],
  "ports": [ { "portid": 1,
      "addr": { "adrfam": "ipv4", "traddr": "127.0.0.1", "treq": "not specified", "trsvcid": "$1", "trtype": "tcp" },
      "ana_groups": [ { "ana": { "state": "$2" }, "grpid": 1 } ],
      "param": {}, "referrals": [], "subsystems": [ "$NQN" ] } ],
  "subsystems": [ { "nqn": "$NQN", "allowed_hosts": [],
      "attr": { "allow_any_host": "1", "cntlid_max": "$4", "cntlid_min": "$3", "serial": "anamp0001" },
      "namespaces": [ { "ana_grpid": 1, "enable": 1, "nsid": 1,
          "device": { "path": "$IMG", "uuid": "6a3f1c2e-8d4b-4f5a-9e7c-1b2d3e4f5a6b",
                      "nguid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" } } ] } ]
}
EOF
}
config "$PORT_A" optimized 1 99 >"$work/a.json"
config "$PORT_B" inaccessible 100 199 >"$work/b.json"

echo "=== instance A on 127.0.0.1:$PORT_A (optimized), B on 127.0.0.1:$PORT_B (inaccessible)"
"$TGT" --config "$work/a.json" --disc-port 0 --rpc-socket "$work/a.sock" --log-level info >"$work/a.log" 2>&1 &
APID=$!
TPID=$APID LOG=$work/a.log target_wait_ready "$work/a.sock"
"$TGT" --config "$work/b.json" --disc-port 0 --rpc-socket "$work/b.sock" --log-level info >"$work/b.log" 2>&1 &
BPID=$!
TPID=$BPID LOG=$work/b.log target_wait_ready "$work/b.sock"

echo "=== guest (its output follows)"
guest_start "$work/guest.out" tests/interop/guest/ana.sh \
	NQN="$NQN" PORT_A="$PORT_A" PORT_B="$PORT_B" FIO_SIZE="${FIO_SIZE:-4M}" B_FINAL=inaccessible
set_ana() { "$CLI" target --rpc-socket "$work/$1.sock" set-ana-state 1 1 "$2" >/dev/null; }

if wait_mark fio-running; then
	kill -KILL "$APID"
	wait "$APID" 2>/dev/null
	APID=
	pass "instance A SIGKILLed while fio runs"
	sleep 2
	set_ana b optimized && pass "set-ana-state 1 1 optimized on B" || fail "set-ana-state on B"
	grep -q "notice \[ana\] port 1: ANA group 1 inaccessible -> optimized" "$work/b.log" &&
		pass "B logged the change at notice" || fail "B did not log the ANA change"
else
	fail "guest never got fio running on both paths"
fi

t_back=
if wait_mark failed-over; then
	echo "=== A restarted (group 1 inaccessible), then switched back: A optimized, B inaccessible"
	t_restart=$(now_ms)
	config "$PORT_A" inaccessible 1 99 >"$work/a2.json"
	"$TGT" --config "$work/a2.json" --disc-port 0 --rpc-socket "$work/a2.sock" --log-level info \
		>"$work/a2.log" 2>&1 &
	APID=$!
	TPID=$APID LOG=$work/a2.log target_wait_ready "$work/a2.sock"
	set_ana a2 optimized && pass "set-ana-state 1 1 optimized on the restarted A" ||
		fail "set-ana-state on the restarted A"
	if wait_mark failed-back; then
		t_back=$(now_ms)
		io_back=$(subsys_io "$work/a2.sock" "$NQN")
		pass "the guest saw A's path optimized $((t_back - t_restart)) ms after A's restart"
		set_ana b inaccessible && pass "set-ana-state 1 1 inaccessible on B" || fail "set-ana-state on B"
	else
		fail "the guest never saw A's path optimized again"
	fi
else
	fail "guest never got through the failover"
fi

guest_finish
io_end=$(subsys_io "$work/a2.sock" "$NQN")
[ -n "$t_back" ] && [ "${io_end:-0}" -gt "${io_back:-0}" ] 2>/dev/null &&
	pass "the restarted A served I/O after the failback ($io_back -> $io_end reads+writes)" ||
	fail "the restarted A served no I/O after the failback (${io_back:-none} -> ${io_end:-none})"
writes=$("$CLI" target --rpc-socket "$work/b.sock" list --json 2>/dev/null | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(sum(s['stats']['writes'] for s in d['subsystems'] if s['nqn'] == '$NQN'))" 2>/dev/null)
[ "${writes:-0}" -gt 0 ] 2>/dev/null && pass "B served $writes writes after the failover" ||
	fail "B served no writes (${writes:-none})"
gaps=$(grep -m1 '^GAPS ' "$OUT")
fo=$(echo "$gaps" | sed -n 's/.* failover=\(-\?[0-9]*\).*/\1/p')
fb=$(echo "$gaps" | sed -n 's/.* failback=\(-\?[0-9]*\).*/\1/p')
base=$(echo "$gaps" | sed -n 's/.* baseline=\(-\?[0-9]*\).*/\1/p')
back_ms=?
[ -n "$t_back" ] && back_ms=$((t_back - t_restart))
echo "FIGURE kernel-host failover gap: ${fo:-?} ms; failback: $back_ms ms (restart to optimized), failback gap ${fb:-?} ms; steady state ${base:-?} ms [manual ANA, file namespace]"

if [ -n "$APID" ]; then
	TPID=$APID LOG=$work/a2.log target_stop_check
	APID=
	TPID='' LOG=$work/a2.log target_log_if_failed 'error|warn' 40
fi
TPID=$BPID LOG=$work/b.log target_stop_check
BPID=
TPID= LOG=$work/b.log target_log_if_failed 'error|warn' 40
finish
