#!/bin/bash
# Gateway group failover against the Linux kernel host (a qemu guest, see the
# interop harness's README): two nvmeof-target instances, A and B, in gateway
# group gw1 over a one-node Ceph cluster (../shared/ceph/ceph-single-node,
# memstore) export one subsystem with one RBD namespace in ANA group 1, which
# A prefers. The guest connects to both; native multipath merges them. While a
# fio write+verify loop runs, A is SIGKILLed and nothing else is done: B must
# take group 1 over through the group's lease, the guest must see B's path
# turn optimized through the ANA change event. Then A is restarted, and again
# nobody intervenes: A, group 1's preferred member, must take it back
# (failback), the guest must see A's path optimized and B's inaccessible
# again, and I/O must flow through A. fio must see no I/O error and verify its
# data all along. Prints a FIGURE line: the longest fio completion across the
# failover (the I/O gap), the time from A's restart to the guest seeing A's
# path optimized, and the longest completion across the failback.
# The guest script is tests/interop/guest/ana.sh.
#
#   usage: tests/interop/target-gateway-group.sh [BUILD]   (BUILD: build)
#
# Needs root, the harness (INTEROP_DIR, else ../shared/interop beside the
# repo, else /work/shared/interop) and the Ceph packages (installed when
# missing); it runs in a private network namespace (the cluster's fixed
# ports are its own; qemu's user-mode network needs only loopback). Exit
# status 77 means skipped. The last line is "N passed, N failed".
set -u
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=lib-guest.sh
. "$(dirname "$0")/lib-guest.sh"
use_build "${1:-}"

if [ "$(id -u)" != 0 ]; then
	echo "target-gateway-group: skipped: needs root (the harness installs qemu, Ceph packages with apt-get)"
	exit 77
fi
if ! interop=$(find_interop); then
	echo "target-gateway-group: skipped: no interop harness"
	exit 77
fi
ceph_sn=
for d in "${CEPH_SINGLE_NODE:-}" "$repo/../shared/ceph/ceph-single-node" /work/shared/ceph/ceph-single-node; do
	[ -n "$d" ] && [ -x "$d" ] && { ceph_sn=$d; break; }
done
if [ -z "$ceph_sn" ]; then
	echo "target-gateway-group: skipped: ceph-single-node not found (set CEPH_SINGLE_NODE)"
	exit 77
fi
for b in "$TGT" "$CLI"; do
	[ -x "$b" ] || { fail "$b not built"; finish; }
done

# Setup (which may download) in the caller's network namespace, the rest in a private one.
if [ -z "${NVMEOF_TEST_NETNS:-}" ]; then
	setup_log=$(mktemp)
	if ! bash "$interop/setup" >"$setup_log" 2>&1; then
		cat "$setup_log"
		rm -f "$setup_log"
		fail "interop harness setup"
		finish
	fi
	rm -f "$setup_log"
	missing=()
	for p in ceph-mon ceph-osd ceph-common; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ] && ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
		install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
		fail "cannot install ${missing[*]}"
		finish
	fi
	exec unshare -n env NVMEOF_TEST_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-gwgroup.XXXXXX")
APID=''
BPID=''
GPID=''
cleanup() {
	[ -n "$GPID" ] && kill "$GPID" 2>/dev/null && wait "$GPID" 2>/dev/null
	for p in $APID $BPID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	"$ceph_sn" stop "$work/ceph" >/dev/null 2>&1
	[ "${INTEROP_KEEP:-0}" = 1 ] && echo "target-gateway-group: kept $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Ceph's default osd_client_watch_timeout (30 s): B breaks the dead A's image
# lock itself when it takes A's group, instead of waiting for A's watch to go.
if ! CEPH_WITH_MGR=0 CEPH_OBJECTSTORE=memstore CEPH_IMAGE_SIZE=64M \
	"$ceph_sn" start "$work/ceph" >"$work/ceph.env" 2>"$work/ceph.log"; then
	tail -n 20 "$work/ceph.log"
	fail "the single-node cluster starts"
	finish
fi
# shellcheck disable=SC1091
. "$work/ceph.env" # CEPH_CONF, CEPH_POOL, CEPH_IMAGE
pass "ceph cluster started"

PORT_A=$(free_port)
PORT_B=$(free_port "$PORT_A")
NQN=nqn.2014-08.org.nvmexpress.test:gateway-group

# config PORT STATE CNTLID_MIN CNTLID_MAX: one member's file (nvmetcli's form).
config() {
	cat <<EOF
{
  "hosts": [],
  "ports": [ { "portid": 1,
      "addr": { "adrfam": "ipv4", "traddr": "127.0.0.1", "treq": "not specified", "trsvcid": "$1", "trtype": "tcp" },
      "ana_groups": [ { "ana": { "state": "$2" }, "grpid": 1 } ],
      "param": {}, "referrals": [], "subsystems": [ "$NQN" ] } ],
  "subsystems": [ { "nqn": "$NQN", "allowed_hosts": [],
      "attr": { "allow_any_host": "1", "cntlid_max": "$4", "cntlid_min": "$3", "serial": "gwgroup0002" },
      "namespaces": [ { "ana_grpid": 1, "enable": 1, "nsid": 1,
          "device": { "path": "rbd:$CEPH_POOL/$CEPH_IMAGE", "uuid": "7b4e2d3f-9e5c-4a6b-8f8d-2c3e4f5a6b7c",
                      "nguid": "1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809" } } ] } ]
}
EOF
}
config "$PORT_A" optimized 1 99 >"$work/a.json"
config "$PORT_B" inaccessible 100 199 >"$work/b.json"

echo "=== member A on 127.0.0.1:$PORT_A (prefers group 1), B on 127.0.0.1:$PORT_B"
gw=(--ceph-conf "$CEPH_CONF" --gateway-group gw1 --gateway-pool "$CEPH_POOL" --disc-port 0 --log-level info)
"$TGT" --config "$work/a.json" --rpc-socket "$work/a.sock" "${gw[@]}" >"$work/a.log" 2>&1 &
APID=$!
TPID=$APID LOG=$work/a.log target_wait_ready "$work/a.sock"
"$TGT" --config "$work/b.json" --rpc-socket "$work/b.sock" "${gw[@]}" >"$work/b.log" 2>&1 &
BPID=$!
TPID=$BPID LOG=$work/b.log target_wait_ready "$work/b.sock"

echo "=== guest (its output follows)"
guest_start "$work/guest.out" tests/interop/guest/ana.sh \
	NQN="$NQN" PORT_A="$PORT_A" PORT_B="$PORT_B" FIO_SIZE="${FIO_SIZE:-4M}" B_FINAL=inaccessible

# wait_log FILE TEXT: wait up to 20 s for TEXT in FILE.
wait_log() {
	for _ in $(seq 100); do
		grep -qF "$2" "$1" && return 0
		sleep 0.2
	done
	return 1
}

if wait_mark fio-running; then
	kill -KILL "$APID"
	wait "$APID" 2>/dev/null
	APID=
	t0=$(date +%s)
	pass "member A SIGKILLed while fio runs (nothing else is done)"
	wait_log "$work/b.log" "ANA group 1 optimized here: lease taken (taking over)" &&
		pass "B took group 1 over within $(($(date +%s) - t0)) s" || fail "B did not take group 1 over"
else
	fail "guest never got fio running on both paths"
fi

t_back=
if wait_mark failed-over; then
	echo "=== A restarted, nothing else is done"
	t_restart=$(now_ms)
	"$TGT" --config "$work/a.json" --rpc-socket "$work/a2.sock" "${gw[@]}" >"$work/a2.log" 2>&1 &
	APID=$!
	TPID=$APID LOG=$work/a2.log target_wait_ready "$work/a2.sock"
	wait_log "$work/a2.log" "ANA group 1 optimized here: lease taken (preferred)" &&
		pass "the restarted A took group 1 back" || fail "the restarted A did not take group 1 back"
	grep -q "ANA group 1 inaccessible here" "$work/b.log" &&
		pass "B gave group 1 back" || fail "B did not log giving group 1 back"
	if wait_mark failed-back; then
		t_back=$(now_ms)
		io_back=$(subsys_io "$work/a2.sock" "$NQN")
		pass "the guest saw A's path optimized $((t_back - t_restart)) ms after A's restart"
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
echo "FIGURE kernel-host failover gap: ${fo:-?} ms; failback: $back_ms ms (restart to optimized), failback gap ${fb:-?} ms; steady state ${base:-?} ms [gateway group, RBD namespace]"

if [ -n "$APID" ]; then
	TPID=$APID LOG=$work/a2.log target_stop_check
	APID=''
	TPID='' LOG=$work/a2.log target_log_if_failed 'error|warn' 40
fi
TPID=$BPID LOG=$work/b.log target_stop_check
BPID=
TPID='' LOG=$work/b.log target_log_if_failed 'error|warn' 40
finish
