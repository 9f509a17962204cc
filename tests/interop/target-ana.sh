#!/bin/bash
# Asymmetric Namespace Access and multipath against the Linux kernel host (a
# qemu guest, see the interop harness's README): two nvmeof-target instances,
# A and B, on two ports export one subsystem NQN with one file namespace
# (same file, serial, UUID and NGUID; disjoint cntlid_min/cntlid_max), ANA
# group 1 optimized on A and inaccessible on B. The guest connects to both;
# native multipath must merge them into one namespace with two paths, and
# `nvme list-subsys` must show their states. While a fio write+verify loop
# runs, A is SIGKILLed and `nvmeof target set-ana-state` makes group 1
# optimized on B: the loop must see no I/O error and verify its data.
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

OUT=$work/guest.out
echo "=== guest (its output follows)"
INTEROP_TIMEOUT=${INTEROP_TIMEOUT:-900} bash "$interop/kernel-host" -f tests/interop/guest/lib.sh \
	NQN="$NQN" PORT_A="$PORT_A" PORT_B="$PORT_B" FIO_SIZE="${FIO_SIZE:-4M}" \
	tests/interop/guest/ana.sh >"$OUT" 2>&1 &
GPID=$!
tail -n +1 -f "$OUT" --pid="$GPID" 2>/dev/null | sed 's/^/  guest| /' &
tail_pid=$!

wait_mark() {
	local i
	for i in $(seq 1 $((${MARK_TIMEOUT:-600} * 5))); do
		grep -q "MARK $1" "$OUT" && return 0
		kill -0 "$GPID" 2>/dev/null || { grep -q "MARK $1" "$OUT"; return; }
		sleep 0.2
	done
	return 1
}

if wait_mark fio-running; then
	kill -KILL "$APID"
	wait "$APID" 2>/dev/null
	APID=
	pass "instance A SIGKILLed while fio runs"
	sleep 2
	if "$CLI" target --rpc-socket "$work/b.sock" set-ana-state 1 1 optimized >/dev/null; then
		pass "set-ana-state 1 1 optimized on B"
	else
		fail "set-ana-state on B"
	fi
	grep -q "notice \[ana\] port 1: ANA group 1 inaccessible -> optimized" "$work/b.log" &&
		pass "B logged the change at notice" || fail "B did not log the ANA change"
else
	fail "guest never got fio running on both paths"
fi

rc=0
wait "$GPID" || rc=$?
GPID=
wait "$tail_pid" 2>/dev/null
case $rc in
0) pass "guest script finished cleanly" ;;
124) fail "guest timed out (INTEROP_TIMEOUT)" ;;
125) fail "guest or harness failure" ;;
*) fail "guest script exited with status $rc" ;;
esac
n=$(grep -c 'CHECK ok:' "$OUT")
passed=$((passed + n))
n=$(grep -c 'CHECK FAIL:' "$OUT")
failed=$((failed + n))

writes=$("$CLI" target --rpc-socket "$work/b.sock" list --json 2>/dev/null | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(sum(s['stats']['writes'] for s in d['subsystems'] if s['nqn'] == '$NQN'))" 2>/dev/null)
[ "${writes:-0}" -gt 0 ] 2>/dev/null && pass "B served $writes writes after the failover" ||
	fail "B served no writes (${writes:-none})"

TPID=$BPID LOG=$work/b.log target_stop_check
BPID=
TPID= LOG=$work/b.log target_log_if_failed 'error|warn' 40
finish
