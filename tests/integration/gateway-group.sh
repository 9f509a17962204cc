#!/bin/bash
# Gateway groups against a real one-node Ceph cluster (../shared/ceph/ceph-single-node,
# memstore, no manager) started by this script on 127.0.0.1. Two targets A and B
# in gateway group gw1 export one subsystem (same NQN, serial, namespace UUIDs and
# NGUIDs, disjoint controller IDs) with two RBD namespaces in ANA groups 1 and 2;
# A prefers group 1, B group 2:
#   - the steady state through each port's ANA log (A: 1 optimized, 2
#     inaccessible; B the reverse), `target list` showing members and owners,
#     set-ana-state on a managed group refused;
#   - SIGKILL A: B optimized for both within 15 s, having broken the dead A's
#     exclusive lock of image 1 (held by the Ceph client A recorded with its
#     lease; so a write through B completes within 15 s of the kill, although
#     the cluster keeps Ceph's 30 s osd_client_watch_timeout),
#     data written through A before the kill read back through B, perf --verify
#     through B;
#   - A restarted: failback (A optimized for 1, B inaccessible for 1), handed
#     over without breaking a lock: B keeps serving group 2;
#   - SIGSTOP A: B takes group 1 after the lease, breaking A's image lock
#     (which blocklists A's Ceph client) although A's record of its Ceph
#     clients was removed (as an older member writes none: any other client's
#     lock is broken, and B says so); SIGCONT: A reports its lease lost
#     (fenced), finds its Ceph client blocklisted, says so and exits by itself
#     with status 75 (for its service manager to restart it) without taking
#     group 1 back; B keeps group 1 optimized meanwhile; A restarted takes
#     group 1 back by failback;
#   - a third Ceph client (tests/integration/rbd-lock-holder.c) holds image 1's
#     exclusive lock when A is SIGKILLed: B takes group 1 but leaves that lock
#     alone (it is not the client A recorded), says why, naming both; the third
#     client is not blocklisted and still writes; once it lets go B writes;
#   - perf --verify over both paths while A is SIGKILLed and restarted: no error, all data
#     verified; a FIGURE line with the I/O gap at failover and the time from
#     A's restart to the host seeing A optimized;
#   - all along, both targets' ANA logs are sampled every 200 ms: no sample
#     has both optimized for one group.
#
#   usage: tests/integration/gateway-group.sh [BUILD]      (BUILD defaults to build)
#
# Needs root (installs ceph-mon, ceph-osd and ceph-common when missing, runs in a
# private network namespace). Not root: skipped (exit 77). The last line is
# "N passed, N failed".
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)

if [ "$(id -u)" != 0 ]; then
	echo "gateway-group: skipped: needs root (installs the Ceph packages, runs the cluster in a network namespace)"
	exit 77
fi
if [ -z "${NVMEOF_TEST_NETNS:-}" ]; then
	exec unshare -n env NVMEOF_TEST_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' \
		"$0" "$@"
fi

CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$repo/tests/lib.sh"
integration_begin gateway-group "$@"
# Ceph's libraries are not instrumented (see rbd.sh).
[ "$tsan" = 1 ] && export TSAN_OPTIONS="$TSAN_OPTIONS ignore_noninstrumented_modules=1"

ceph_sn=
for d in "${CEPH_SINGLE_NODE:-}" "$repo/../shared/ceph/ceph-single-node" /work/shared/ceph/ceph-single-node; do
	[ -n "$d" ] && [ -x "$d" ] && { ceph_sn=$d; break; }
done
if [ -z "$ceph_sn" ]; then
	echo "gateway-group: FAIL: ceph-single-node not found (set CEPH_SINGLE_NODE; looked in ../shared/ceph)"
	echo "0 passed, 1 failed"
	exit 1
fi
missing=()
for p in ceph-mon ceph-osd ceph-common; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "gateway-group: installing ${missing[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
		--no-install-recommends "${missing[@]}" >"$tmp/apt.log" 2>&1; then
		tail -n 5 "$tmp/apt.log"
		echo "gateway-group: FAIL: cannot install ${missing[*]} (apt-get failed, see above)"
		echo "0 passed, 1 failed"
		exit 1
	fi
fi

CD=$tmp/ceph
apid=''
bpid=''
pollpid=''
hpid=''
cleanup() {
	[ -n "$pollpid" ] && kill "$pollpid" 2>/dev/null
	[ -n "$hpid" ] && kill -KILL "$hpid" 2>/dev/null
	for p in $apid $bpid; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
	[ -d "$CD" ] && "$ceph_sn" stop "$CD" >/dev/null 2>&1
	integration_cleanup
}
trap cleanup EXIT
# Ceph's default osd_client_watch_timeout (30 s): librbd alone would hand a dead
# member's image lock over only after its watch times out; the survivor breaks it.
if ! CEPH_WITH_MGR=0 CEPH_OBJECTSTORE=memstore CEPH_IMAGE_SIZE=64M \
	"$ceph_sn" start "$CD" >"$tmp/ceph.env" 2>"$tmp/ceph.log"; then
	tail -n 20 "$tmp/ceph.log"
	echo "gateway-group: FAIL: the single-node cluster did not start (see above)"
	echo "0 passed, 1 failed"
	exit 1
fi
# shellcheck disable=SC1091
. "$tmp/ceph.env" # CEPH_CONF, CEPH_POOL, CEPH_IMAGE
pass "ceph cluster started"
timeout 30 rbd -c "$CEPH_CONF" create --size 64M "$CEPH_POOL/img2"
check "second image created" [ $? = 0 ]

NQN=nqn.2026-01.io.nvmeof:gw
pa=$(free_port)
pb=$(free_port "$pa")
# cfg PORT STATE1 STATE2 CNTLID_MIN CNTLID_MAX
cfg() {
	cat <<EOF
{
  "hosts": [],
  "ports": [ { "portid": 1, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1", "trsvcid": "$1" },
      "ana_groups": [ { "grpid": 1, "ana": { "state": "$2" } }, { "grpid": 2, "ana": { "state": "$3" } } ],
      "subsystems": [ "$NQN" ] } ],
  "subsystems": [ { "nqn": "$NQN",
      "attr": { "allow_any_host": "1", "cntlid_min": "$4", "cntlid_max": "$5", "serial": "gwgroup0001" },
      "namespaces": [
        { "nsid": 1, "ana_grpid": 1, "device": { "path": "rbd:$CEPH_POOL/$CEPH_IMAGE",
            "uuid": "3b1f6a2e-1c4d-4e5f-8a9b-0c1d2e3f4a5b", "nguid": "11223344-5566-7788-99aa-bbccddeeff00" } },
        { "nsid": 2, "ana_grpid": 2, "device": { "path": "rbd:$CEPH_POOL/img2",
            "uuid": "4c2a7b3f-2d5e-4f60-9bac-1d2e3f4a5b6c", "nguid": "22334455-6677-8899-aabb-ccddeeff0011" } } ] } ]
}
EOF
}
cfg "$pa" optimized inaccessible 1 99 >"$tmp/a.json"
cfg "$pb" inaccessible optimized 100 199 >"$tmp/b.json"
SA=$tmp/a.sock SB=$tmp/b.sock
start_a() {
	local seen
	seen=$(grep -c 'nvmeof-target: ready' "$tmp/a.log" 2>/dev/null)
	"$TGT" -c "$tmp/a.json" --rpc-socket "$SA" --disc-port 0 --reactors 1 --ceph-conf "$CEPH_CONF" \
		--gateway-group gw1 --gateway-pool "$CEPH_POOL" --log-level info >>"$tmp/a.log" 2>&1 &
	apid=$!
	READY_SEEN=${seen:-0} LOG=$tmp/a.log TPID=$apid target_wait_ready "$SA"
}
start_b() {
	local seen
	seen=$(grep -c 'nvmeof-target: ready' "$tmp/b.log" 2>/dev/null)
	"$TGT" -c "$tmp/b.json" --rpc-socket "$SB" --disc-port 0 --reactors 1 --ceph-conf "$CEPH_CONF" \
		--gateway-group gw1 --gateway-pool "$CEPH_POOL" --log-level info >>"$tmp/b.log" 2>&1 &
	bpid=$!
	READY_SEEN=${seen:-0} LOG=$tmp/b.log TPID=$bpid target_wait_ready "$SB"
}

echo "== the gateway group needs its options right"
"$TGT" -c "$tmp/a.json" --gateway-group 'bad/name' >"$tmp/bad1.out" 2>&1
check "an invalid group name refused" grep -q "invalid --gateway-group 'bad/name'" "$tmp/bad1.out"
"$TGT" --gateway-group gw1 >"$tmp/bad2.out" 2>&1
check "--gateway-group without --config refused" grep -q "gateway-group needs --config" "$tmp/bad2.out"
timeout 30 "$TGT" -c "$tmp/a.json" --rpc-socket none --disc-port 0 --ceph-conf "$CEPH_CONF" --gateway-group gw1 \
	--gateway-pool nopool >"$tmp/bad3.out" 2>&1
check "a missing pool refused" grep -q "gateway group gw1: pool 'nopool': no such pool" "$tmp/bad3.out"

echo "== steady state"
: >"$tmp/a.log"
: >"$tmp/b.log"
start_a
start_b
# The sampler: both ANA logs every 200 ms, "SECONDS A1 A2 B1 B2" with O(ptimized),
# I(naccessible) or - (no answer within 1 s).
cat >"$tmp/poll.py" <<'EOF'
import json, subprocess, sys, threading, time
cli, nqn, out = sys.argv[1], sys.argv[2], sys.argv[3]
ports = sys.argv[4:6]
def state(port, res, i):
    try:
        p = subprocess.run([cli, "ana-log", "-t", "tcp", "-a", "127.0.0.1", "-s", port, "-n", nqn,
                            "--output-format=json"], capture_output=True, timeout=1)
        d = json.loads(p.stdout)
        s = {g["grpid"]: g["state"] for g in d["ANA DESC LIST "]}
        res[i] = "".join("O" if s.get(g) == "optimized" else "I" for g in (1, 2))
    except Exception:
        res[i] = "--"
with open(out, "a", buffering=1) as f:
    while True:
        res = [None, None]
        ts = [threading.Thread(target=state, args=(ports[i], res, i)) for i in range(2)]
        for t in ts: t.start()
        for t in ts: t.join()
        f.write("%.1f %s %s %s %s\n" % (time.time(), res[0][0], res[0][1], res[1][0], res[1][1]))
        time.sleep(0.2)
EOF
python3 "$tmp/poll.py" "$CLI" "$NQN" "$tmp/samples" "$pa" "$pb" &
pollpid=$!
# wait_state "A1 A2 B1 B2" SECONDS: until the last sample matches; prints the seconds it took.
wait_state() {
	local t0 now
	t0=$(date +%s.%N)
	while :; do
		now=$(date +%s.%N)
		if tail -n 1 "$tmp/samples" 2>/dev/null | grep -q " $1\$"; then
			awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.1f\n", a - b }'
			return 0
		fi
		awk -v a="$now" -v b="$t0" -v m="$2" 'BEGIN { exit !(a - b > m) }' && return 1
		sleep 0.1
	done
}
wait_state "O I I O" 15 >/dev/null
check "A: group 1 optimized, 2 inaccessible; B: the reverse" [ $? = 0 ]
# A reads the other group's owner on its next lease tick (every 500 ms).
for _ in $(seq 30); do
	timeout 10 "$CLI" target --rpc-socket "$SA" list >"$tmp/list.txt"
	grep -q '^  ana group 2  inaccessible here  owner [^-]' "$tmp/list.txt" && break
	sleep 0.2
done
check "target list: the gateway group and this member" grep -q "^gateway group gw1  pool $CEPH_POOL  member " "$tmp/list.txt"
check "target list: group 1 optimized here, preferred" grep -q "^  ana group 1  optimized here (preferred)  owner " "$tmp/list.txt"
check "target list: group 2 inaccessible here, owned by the other member" bash -c \
	"[ \$(grep '^  member ' '$tmp/list.txt' | wc -l) = 2 ] && grep -q '^  ana group 2  inaccessible here  owner [^-]' '$tmp/list.txt'"
timeout 10 "$CLI" target --rpc-socket "$SA" set-ana-state 1 1 inaccessible >/dev/null 2>"$tmp/set.err"
check "set-ana-state on a managed group refused, clearly" \
	grep -q "ANA group 1 is managed by gateway group gw1" "$tmp/set.err"

ca=(-t tcp -a 127.0.0.1 -s "$pa" -n "$NQN")
cb=(-t tcp -a 127.0.0.1 -s "$pb" -n "$NQN")
head -c 1048576 /dev/urandom >"$tmp/data1"
head -c 1048576 /dev/urandom >"$tmp/data2"
timeout 30 "$CLI" write "${ca[@]}" -N 1 --start-block 4096 --data-size 1048576 --data "$tmp/data1" >/dev/null 2>&1
check "write through A to namespace 1" [ $? = 0 ]
timeout 30 "$CLI" flush "${ca[@]}" -N 1 >/dev/null 2>&1
timeout 30 "$CLI" write "${cb[@]}" -N 2 --start-block 4096 --data-size 1048576 --data "$tmp/data2" >/dev/null 2>&1
check "write through B to namespace 2" [ $? = 0 ]
timeout 30 "$CLI" flush "${cb[@]}" -N 2 >/dev/null 2>&1
timeout 30 "$CLI" read "${cb[@]}" -N 1 --start-block 4096 --data-size 4096 --data "$tmp/x" >"$tmp/inacc.out" 2>&1
check "a read through B to namespace 1 (inaccessible there) fails with ANA Inaccessible" \
	grep -qi "inaccessible" "$tmp/inacc.out"

echo "== SIGKILL A: failover"
head -c 4096 /dev/urandom >"$tmp/probe"
kill -KILL "$apid"
kill_ms=$(date +%s%3N)
wait "$apid" 2>/dev/null
apid=
# The first write through B after the kill: refused (inaccessible) until B holds
# the lease, then it needs image 1's exclusive lock, which the dead A held.
gap=
while [ $(($(date +%s%3N) - kill_ms)) -lt 60000 ]; do
	if timeout 60 "$CLI" write "${cb[@]}" -N 1 --start-block 0 --data-size 4096 --data "$tmp/probe" \
		>/dev/null 2>&1; then
		gap=$(($(date +%s%3N) - kill_ms))
		break
	fi
	sleep 0.2
done
echo "first write through B completed ${gap:-never (60 s)} ms after the kill"
check "a write through B completes within 15 s of the kill (took ${gap:-more than 60000} ms)" \
	[ "${gap:-999999}" -le 15000 ]
check "B's log: the dead A's exclusive lock of image 1 broken, and why" grep -qE \
	"ANA group 1: broke exclusive lock of rbd:$CEPH_POOL/$CEPH_IMAGE held by .*previous owner's lease expired" \
	"$tmp/b.log"
fo=$(wait_state "- - O O" 20)
check "B optimized for both groups within 15 s (took ${fo:-more than 20} s)" \
	awk -v t="${fo:-99}" 'BEGIN { exit !(t <= 15) }'
timeout 60 "$CLI" read "${cb[@]}" -N 1 --start-block 4096 --data-size 1048576 --data "$tmp/back1" >/dev/null 2>&1
check "data written through A before the kill reads back through B" cmp -s "$tmp/data1" "$tmp/back1"
timeout 90 "$CLI" perf "${cb[@]}" -N 1 -q 8 -o 4096 -w randrw -T 2 --verify >"$tmp/perf1.txt" 2>&1
check "perf --verify through B to namespace 1: no errors" grep -q ' 0 errors, 0 not completed' "$tmp/perf1.txt"
grep -q "ANA group 1 optimized here: lease taken (taking over)" "$tmp/b.log"
check "B's log: the takeover at notice" [ $? = 0 ]
timeout 10 "$CLI" target --rpc-socket "$SB" save-config "$tmp/b-saved.json" >/dev/null 2>&1
check "save-config on B (holding both) keeps B's preferences, not the leases" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
g = {x['grpid']: x['ana']['state'] for x in d['ports'][0]['ana_groups']}
sys.exit(0 if g == {1: 'inaccessible', 2: 'optimized'} else 1)" "$tmp/b-saved.json"
head -c 1048576 /dev/urandom >"$tmp/data3"
timeout 30 "$CLI" write "${cb[@]}" -N 1 --start-block 4096 --data-size 1048576 --data "$tmp/data3" >/dev/null 2>&1
check "write through B to namespace 1" [ $? = 0 ]
timeout 30 "$CLI" flush "${cb[@]}" -N 1 >/dev/null 2>&1

echo "== A back: failback"
start_a
fb=$(wait_state "O I I O" 20)
check "failback: A optimized for 1 again, B inaccessible for 1 (took ${fb:-more than 20} s after A was ready)" \
	[ -n "$fb" ]
check "B's log: group 1 given back" grep -q "ANA group 1 inaccessible here: given back" "$tmp/b.log"
check "A's log: a cooperative handover breaks no lock" bash -c "! grep -q 'broke exclusive lock' '$tmp/a.log'"
timeout 60 "$CLI" read "${ca[@]}" -N 1 --start-block 4096 --data-size 1048576 --data "$tmp/back2" >/dev/null 2>&1
check "data written through B during the failover reads back through A" cmp -s "$tmp/data3" "$tmp/back2"
timeout 90 "$CLI" perf "${ca[@]}" -N 1 -q 8 -o 4096 -w randrw -T 2 --verify >"$tmp/perf2.txt" 2>&1
check "perf --verify through A to namespace 1: no errors" grep -q ' 0 errors, 0 not completed' "$tmp/perf2.txt"
timeout 30 "$CLI" write "${cb[@]}" -N 2 --start-block 0 --data-size 4096 --data "$tmp/probe" >/dev/null 2>&1
check "B, not fenced by the failback, still writes to namespace 2" [ $? = 0 ]
check "B's log: its Ceph client was not blocklisted" bash -c "! grep -q 'blocklisted' '$tmp/b.log'"

echo "== SIGSTOP A: a hung member is fenced"
kill -STOP "$apid"
# As if A were of a version that records no Ceph client: B must break any other client's lock, as before.
timeout 20 rados -c "$CEPH_CONF" -p "$CEPH_POOL" rmxattr nvmeof.gw.gw1.grp.1 owner_clients >/dev/null 2>&1
nb=$(wc -l <"$tmp/b.log")
st=$(wait_state "- - O O" 20)
check "B takes group 1 from the hung A within 15 s (took ${st:-more than 20} s)" \
	awk -v t="${st:-99}" 'BEGIN { exit !(t <= 15) }'
nl=$(wc -l <"$tmp/a.log")
kill -CONT "$apid"
t0=$(date +%s%3N)
# A's Ceph client is blocklisted now: A must leave (status 75, EX_TEMPFAIL) rather than serve.
arc=
while [ $(($(date +%s%3N) - t0)) -lt 30000 ]; do
	if ! kill -0 "$apid" 2>/dev/null; then
		wait "$apid"
		arc=$?
		break
	fi
	sleep 0.1
done
t1=$(date +%s%3N)
if [ -z "$arc" ]; then
	kill -KILL "$apid" 2>/dev/null
	wait "$apid" 2>/dev/null
fi
apid=
check "after SIGCONT the fenced A exits by itself with status 75 within 20 s (status ${arc:-none}, $((t1 - t0)) ms)" \
	bash -c "[ '${arc:-x}' = 75 ] && [ $((t1 - t0)) -le 20000 ]"
tail -n +"$((nl + 1))" "$tmp/a.log" >"$tmp/a-after.log"
check "A's log: its lease of group 1 was lost while stopped (fenced)" \
	grep -qE "ANA group 1 inaccessible here: lease (not renewed in time \(fenced\)|lost)" "$tmp/a-after.log"
check "A's log: its Ceph client blocklisted, and that it leaves, at error level" grep -qE \
	"error .*gw1: this member's Ceph client was blocklisted \(fenced by another member.*\); leaving so that it restarts with a new client" \
	"$tmp/a-after.log"
check "A's log: it did not take group 1 back before leaving" \
	bash -c "! grep -q 'ANA group 1 optimized here' '$tmp/a-after.log'"
check "B's log: the hung A's image lock broken" \
	bash -c "[ \$(grep -c 'ANA group 1: broke exclusive lock' '$tmp/b.log') -ge 2 ]"
check "B's log: A's record names no Ceph client, so any other client's lock is broken, and B says so" \
	bash -c "tail -n +$((nb + 1)) '$tmp/b.log' | grep -q 'ANA group 1: the previous owner (member .*) recorded no Ceph client'"
sleep 0.5 # a sample after A left
check "B still optimized for both groups after A left" bash -c "tail -n 1 '$tmp/samples' | grep -q ' - - O O\$'"
timeout 30 "$CLI" write "${ca[@]}" -N 1 --start-block 0 --data-size 4096 --data "$tmp/probe" >"$tmp/fenced.out" 2>&1
rc=$?
check "a write through A after it left fails (status $rc)" [ $rc != 0 ]

# Its service manager would restart it: a fresh A, with a new Ceph client, takes group 1 back.
start_a
sleep 0.5 # a sample of the new A
fresh=$(wait_state "O I I O" 40)
check "the restarted A takes group 1 back by failback (in ${fresh:-more than 40} s)" [ -n "$fresh" ]
check "B's log: group 1 given back to the restarted A" \
	bash -c "[ \$(grep -c 'ANA group 1 inaccessible here: given back' '$tmp/b.log') -ge 2 ]"
timeout 30 "$CLI" write "${ca[@]}" -N 1 --start-block 0 --data-size 4096 --data "$tmp/probe" >/dev/null 2>&1
check "a write through the restarted A completes" [ $? = 0 ]

echo "== a third client holds image 1's lock when A dies: B leaves it alone"
# B breaks only the locks of the Ceph clients A recorded with its lease: a
# live client that is not A's (another member, an application) keeps its lock
# and is not blocklisted; librbd hands the lock over when it lets go.
holder=$tmp/rbd-lock-holder
cc -O1 -Wall -o "$holder" "$repo/tests/integration/rbd-lock-holder.c" -lrbd -lrados 2>"$tmp/holder-cc.err"
check "the third client builds" [ $? = 0 ]
"$holder" "$CEPH_CONF" "$CEPH_POOL" "$CEPH_IMAGE" "$tmp/holder.stop" >"$tmp/holder.out" 2>&1 &
hpid=$!
wait_for 30 grep -q '^locked ' "$tmp/holder.out"
check "the third client takes image 1's exclusive lock over from A" grep -q '^locked ' "$tmp/holder.out"
haddr=$(sed -n 's/^locked \(v[12]:\)\{0,1\}//p' "$tmp/holder.out")
nb=$(wc -l <"$tmp/b.log")
kill -KILL "$apid"
wait "$apid" 2>/dev/null
apid=
# B may still hold group 1 off after the failback (two leases).
tk=$(wait_state "- - O O" 30)
check "B takes group 1 from the dead A (took ${tk:-more than 30} s)" [ -n "$tk" ]
# B fences before it turns optimized: its log has the outcome by now.
tail -n +"$((nb + 1))" "$tmp/b.log" >"$tmp/b-third.log"
hre=$(printf '%s' "$haddr" | sed 's/[].[*^$\\]/\\&/g')
check "B's log: the third client's lock of image 1 not broken, both clients named, and why" grep -qE \
	"warn .*ANA group 1: not breaking the exclusive lock of rbd:$CEPH_POOL/$CEPH_IMAGE: held by (client\.[0-9]+ \()?$hre\)?, not by the expected client \([^)]*[0-9]\) of member [^ ]+, whose lease expired" \
	"$tmp/b-third.log"
check "B's log: no lock broken" bash -c "! grep -q 'broke exclusive lock' '$tmp/b-third.log'"
timeout 30 ceph -c "$CEPH_CONF" osd blocklist ls >"$tmp/blocklist.txt" 2>&1
blrc=$?
check "the third client ($haddr) is not blocklisted" \
	bash -c "[ $blrc = 0 ] && [ -n '$haddr' ] && ! grep -qF '$haddr' '$tmp/blocklist.txt'"
touch "$tmp/holder.stop"
for _ in $(seq 300); do kill -0 "$hpid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$hpid" 2>/dev/null
wait "$hpid" 2>/dev/null
hpid=
check "the third client still held the lock and wrote ($(tail -n 1 "$tmp/holder.out"))" \
	grep -q '^owner 1 write 4096$' "$tmp/holder.out"
timeout 60 "$CLI" write "${cb[@]}" -N 1 --start-block 0 --data-size 4096 --data "$tmp/probe" >/dev/null 2>&1
check "a write through B to namespace 1 completes once the third client let go" [ $? = 0 ]
start_a
sleep 0.5 # a sample of the new A
tb=$(wait_state "O I I O" 40)
check "A restarted takes group 1 back (in ${tb:-more than 40} s)" [ -n "$tb" ]

echo "== perf --verify over both paths: SIGKILL A (failover), A restarted (failback), nobody intervenes"
mp=(-t tcp -a 127.0.0.1 -s "$pa" -a 127.0.0.1 -s "$pb" -n "$NQN")
timeout 120 "$CLI" perf "${mp[@]}" -N 1 -q 8 -o 4096 -w randrw -T 25 --verify --size 8M \
	--reconnect-delay 1 --ctrl-loss-tmo 60 --json --progress >"$tmp/mp.json" 2>"$tmp/mp.err" &
perf=$!
# The kill must come in the timed run (its first progress line), not in the prefill that --verify does first.
for _ in $(seq 300); do
	grep -q 'IOPS' "$tmp/mp.err" && break
	sleep 0.1
done
sleep 1
t_kill=$(date +%s.%N)
kill -KILL "$apid"
wait "$apid" 2>/dev/null
apid=
mfo=$(wait_state "- - O O" 20)
check "B optimized for both within 15 s (took ${mfo:-more than 20} s)" awk -v t="${mfo:-99}" 'BEGIN { exit !(t <= 15) }'
sleep 1
t_restart=$(date +%s.%N)
start_a
mfb=$(wait_state "O I I O" 20)
check "failback under perf (took ${mfb:-more than 20} s after A was ready)" [ -n "$mfb" ]
wait "$perf"
prc=$?
check "perf --verify over both paths exits 0 across failover and failback (status $prc)" [ $prc = 0 ]
[ $prc = 0 ] || tr '\r' '\n' <"$tmp/mp.err" | grep -v '^ *$' | tail -n 15 | sed 's/^/    | /'

check "no I/O error, every block verified, I/O on both paths" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d['errors'] == 0 and d['verify_errors'] == 0 and d['not_completed'] == 0
         and all(p['ios'] > 0 for p in d['paths']) else 1)" "$tmp/mp.json"
# The longest gap ending after the kill and before A's restart is the failover's; after it, the failback's.
read -r gap_fo gap_fb max_lat < <(python3 - "$tmp/mp.json" "$t_kill" "$t_restart" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
kill, restart = float(sys.argv[2]), float(sys.argv[3])
fo = [g['ms'] for g in d['gaps'] if kill <= g['end_unix'] < restart]
fb = [g['ms'] for g in d['gaps'] if g['end_unix'] >= restart]
# perf keeps the longest gaps only: none in a window means shorter than all of them.
least = "<%.0f" % min([g['ms'] for g in d['gaps']] or [0])
print("%s %s %.0f" % ("%.0f" % max(fo) if fo else least, "%.0f" % max(fb) if fb else least, d['max_us'] / 1000))
PY
)
check "the failover's I/O gap ($gap_fo ms) is under 30 s" [ "${gap_fo#<}" -lt 30000 ]
# Failback: from A's restart to the host seeing A's path optimized again (its
# ANA change, or its reconnect when A had taken the group back before it).
mback=$(python3 - "$tmp/mp.err" "$t_restart" "127.0.0.1:$pa" <<'PY'
import datetime, re, sys
restart, path = float(sys.argv[2]), sys.argv[3]
# Log records start with their time; progress updates (ended by \r, not \n) may precede one.
lines = []
for raw in open(sys.argv[1], errors='replace'):
    for m in re.finditer(r'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) ([^\r\n]*)', raw):
        t = datetime.datetime.strptime(m.group(1), '%Y-%m-%dT%H:%M:%S.%fZ')
        t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
        if t >= restart:
            lines.append((t, m.group(2)))
opt = [t for t, l in lines if re.search(r'path %s( cntlid \d+)?: ANA group 1 \S+ -> optimized' % re.escape(path), l)]
rec = [t for t, l in lines if '%s: reconnected' % path in l]
t = opt[0] if opt else rec[0] if rec else None
print(int((t - restart) * 1000) if t else '')
PY
)
check "the host saw A's path optimized again (${mback:-never} ms after A's restart)" [ -n "$mback" ]
echo "FIGURE nvmeof-host failover gap: $gap_fo ms (longest I/O latency $max_lat ms); failback: ${mback:-?} ms (restart to optimized), failback gap $gap_fb ms [gateway group, RBD namespace]"

echo "== never both optimized"
n=$(wc -l <"$tmp/samples")
bad=$(awk '($2 == "O" && $4 == "O") || ($3 == "O" && $5 == "O")' "$tmp/samples" | wc -l)
check "$n samples, none with A and B optimized for one group" [ "$bad" = 0 ]
kill "$pollpid" 2>/dev/null
wait "$pollpid" 2>/dev/null
pollpid=

echo "== clean exits"
kill -TERM "$apid"
rc=0
wait "$apid" || rc=$?
apid=
check "A exits 0 on SIGTERM" [ "$rc" = 0 ]
check "A hands its group over as it leaves" grep -q "ANA group 1 inaccessible here: leaving the gateway group" "$tmp/a.log"
kill -TERM "$bpid"
rc=0
wait "$bpid" || rc=$?
bpid=
check "B exits 0 on SIGTERM" [ "$rc" = 0 ]
echo "failover ${fo:-?} s (first write ${gap:-?} ms after the kill), failback ${fb:-?} s, hung-member takeover ${st:-?} s, fenced A gone ${t1:+$((t1 - t0)) ms} after SIGCONT, back after its restart ${fresh:-?} s"
grep -h -e 'broke exclusive lock' -e 'blocklisted' "$tmp/b.log" "$tmp/a.log" | sed 's/^/  /'
[ "$tsan" = 1 ] && tsan_check "$tmp/tsan"
if [ "$failed" != 0 ]; then
	echo "--- A's log"; grep -iE 'gateway|warn|error' "$tmp/a.log" | tail -n 30
	echo "--- B's log"; grep -iE 'gateway|warn|error' "$tmp/b.log" | tail -n 30
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
