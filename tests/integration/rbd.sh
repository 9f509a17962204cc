#!/bin/bash
# RBD namespaces against a real one-node Ceph cluster (../shared/ceph/ceph-single-node,
# memstore, no manager) started by this script on 127.0.0.1:
#   - an rbd:POOL/IMAGE namespace from the config file (with per-namespace "ceph"
#     settings) and one from `nvmeof target add-ns --path rbd:... --ceph-conf`,
#     `target list` naming the backend, save-config keeping the Ceph settings;
#   - perf --verify, write/read/compare, write-zeroes and dsm reading back zeros, flush;
#   - `rbd resize`: the new size in Identify Namespace, the target's resize event;
#   - bad rbd paths, a missing pool or image refused with clear messages;
#   - a namespace removed while perf runs: the image is closed (its watcher
#     gone) once the last I/O completed, and the target carries on;
#   - SIGHUP with a namespace added to the file: added, the others kept;
#   - the cluster stopped: a read fails within the client timeout with
#     Namespace Not Ready (retryable, DNR clear), never hangs; add-ns fails
#     with a clear message.
#
#   usage: tests/integration/rbd.sh [BUILD]      (BUILD defaults to build)
#
# Needs root: it installs ceph-mon, ceph-osd and ceph-common when missing
# (failing, not skipping, when that does not work) and runs in a private
# network namespace (re-executes itself under unshare -n) so the cluster's
# fixed ports are its own. Not root: skipped (exit 77). The last line is
# "N passed, N failed".
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)

if [ "$(id -u)" != 0 ]; then
	echo "rbd: skipped: needs root (installs the Ceph packages, runs the cluster in a network namespace)"
	exit 77
fi
if [ -z "${NVMEOF_TEST_NETNS:-}" ]; then
	exec unshare -n env NVMEOF_TEST_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' \
		"$0" "$@"
fi

CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$repo/tests/lib.sh"
integration_begin rbd "$@"
# Ceph's libraries are not instrumented: their allocations and string copies
# (through TSan's interceptors) synchronise by atomics TSan cannot see. Our
# code, including what librbd's threads call back, is still checked.
[ "$tsan" = 1 ] && export TSAN_OPTIONS="$TSAN_OPTIONS ignore_noninstrumented_modules=1"

# The cluster: packages, then the script.
ceph_sn=
for d in "${CEPH_SINGLE_NODE:-}" "$repo/../shared/ceph/ceph-single-node" /work/shared/ceph/ceph-single-node; do
	[ -n "$d" ] && [ -x "$d" ] && { ceph_sn=$d; break; }
done
if [ -z "$ceph_sn" ]; then
	echo "rbd: FAIL: ceph-single-node not found (set CEPH_SINGLE_NODE; looked in ../shared/ceph)"
	echo "0 passed, 1 failed"
	exit 1
fi
missing=()
for p in ceph-mon ceph-osd ceph-common; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "rbd: installing ${missing[*]}"
	if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
		--no-install-recommends "${missing[@]}" >"$tmp/apt.log" 2>&1; then
		tail -n 5 "$tmp/apt.log"
		echo "rbd: FAIL: cannot install ${missing[*]} (apt-get failed, see above)"
		echo "0 passed, 1 failed"
		exit 1
	fi
fi

CD=$tmp/ceph
stop_cluster() { [ -d "$CD" ] && "$ceph_sn" stop "$CD" >/dev/null 2>&1; }
cleanup() {
	stop_cluster
	[ -n "${ppid:-}" ] && kill "$ppid" 2>/dev/null
	integration_cleanup
}
trap cleanup EXIT
TMO=4 # rados_osd_op_timeout / rados_mon_op_timeout / client_mount_timeout of our client
if ! CEPH_WITH_MGR=0 CEPH_OBJECTSTORE=memstore CEPH_IMAGE_SIZE=256M CEPH_EXTRA_CONF="rados_osd_op_timeout = $TMO
rados_mon_op_timeout = $TMO
client_mount_timeout = $TMO" "$ceph_sn" start "$CD" >"$tmp/ceph.env" 2>"$tmp/ceph.log"; then
	tail -n 20 "$tmp/ceph.log"
	echo "rbd: FAIL: the single-node cluster did not start (see above)"
	echo "0 passed, 1 failed"
	exit 1
fi
# shellcheck disable=SC1091
. "$tmp/ceph.env" # CEPH_CONF, CEPH_POOL, CEPH_IMAGE
pass "ceph cluster started"
rbdc() { timeout 30 rbd -c "$CEPH_CONF" "$@"; }
rbdc create --size 64M "$CEPH_POOL/img2"
check "second image created" [ $? = 0 ]

port=$(free_port)
NQN=nqn.2026-01.io.nvmeof:rbd
SOCK=$tmp/target.sock
LOG=$tmp/target.log
conn=(-t tcp -a 127.0.0.1 -s "$port" -n "$NQN")
nv() { timeout 60 "$CLI" "$1" "${conn[@]}" "${@:2}"; }
tc() { timeout 60 "$CLI" target --rpc-socket "$SOCK" "$@"; }
cat >"$tmp/config.json" <<EOF
{
  "hosts": [],
  "ports": [ { "portid": 1, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1",
               "trsvcid": "$port" }, "subsystems": [ "$NQN" ] } ],
  "subsystems": [ { "nqn": "$NQN", "attr": { "allow_any_host": "1" },
    "namespaces": [ { "nsid": 1, "device": { "path": "rbd:$CEPH_POOL/$CEPH_IMAGE" },
                      "ceph": { "conf": "$CEPH_CONF", "id": "admin" } } ] } ]
}
EOF
: >"$LOG"
# The daemon's defaults point nowhere: namespace 1 must use its own settings.
"$TGT" -c "$tmp/config.json" --rpc-socket "$SOCK" --ceph-conf /nonexistent/ceph.conf \
	--log-level info >"$LOG" 2>&1 &
tpid=$!
TPID=$tpid
target_wait_ready "$SOCK"

echo "== namespaces"
tc add-ns "$NQN" --path "rbd:$CEPH_POOL/img2" --ceph-conf "$CEPH_CONF" >"$tmp/add.out" 2>"$tmp/add.err"
check "add-ns --path rbd:POOL/IMAGE --ceph-conf" bash -c "[ \$(cat '$tmp/add.out') = 2 ]"
tc list >"$tmp/list.txt"
check "target list shows the rbd backend and the Ceph settings" \
	grep -q "ns 1  rbd:$CEPH_POOL/$CEPH_IMAGE  rbd (ceph conf $CEPH_CONF id admin), 256.0 MiB" "$tmp/list.txt"
check "target list: the add-ns namespace" grep -q "ns 2  rbd:$CEPH_POOL/img2  rbd (ceph conf $CEPH_CONF), 64.0 MiB" "$tmp/list.txt"
tc save-config "$tmp/saved.json" >/dev/null
check "save-config keeps path and Ceph settings" python3 - "$tmp/saved.json" "$CEPH_POOL/$CEPH_IMAGE" "$CEPH_CONF" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
ns = {n["nsid"]: n for n in d["subsystems"][0]["namespaces"]}
assert ns[1]["device"]["path"] == "rbd:" + sys.argv[2], ns[1]
assert ns[1]["ceph"] == {"conf": sys.argv[3], "id": "admin"}, ns[1]
assert ns[2]["ceph"] == {"conf": sys.argv[3]}, ns[2]
assert "size" not in ns[1]["device"]
EOF
"$TGT" -c "$tmp/saved.json" --check-config >"$tmp/check.out" 2>&1
check "the saved file validates" [ $? = 0 ]
rbdc status "$CEPH_POOL/$CEPH_IMAGE" >"$tmp/status1" 2>&1
check "the target watches the image" grep -q "watcher=" "$tmp/status1"

echo "== bad paths"
tc add-ns "$NQN" --path rbd:"$CEPH_POOL" 2>"$tmp/bad1.err"
check "rbd:POOL without image refused" grep -q "no image (expected rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)" "$tmp/bad1.err"
tc add-ns "$NQN" --path "rbd:$CEPH_POOL/img@snap" 2>"$tmp/bad2.err"
check "a snapshot refused" grep -q "snapshots (@SNAP) are not supported" "$tmp/bad2.err"
tc add-ns "$NQN" --path "rbd:nopool/img" --ceph-conf "$CEPH_CONF" 2>"$tmp/bad3.err"
check "a missing pool refused" grep -q "rbd:nopool/img: pool 'nopool': no such pool" "$tmp/bad3.err"
tc add-ns "$NQN" --path "rbd:$CEPH_POOL/nope" --ceph-conf "$CEPH_CONF" 2>"$tmp/bad4.err"
check "a missing image refused" grep -q "image 'nope': no such image" "$tmp/bad4.err"
tc add-ns "$NQN" --path "rbd:$CEPH_POOL/img2" 2>"$tmp/bad5.err"
check "the daemon's default conf is used when none is given" grep -q "ceph conf /nonexistent/ceph.conf: No such file" "$tmp/bad5.err"
tc add-ns "$NQN" --path /nonexistent.img --ceph-id admin 2>"$tmp/bad6.err"
check "--ceph-id without an rbd path refused" grep -q "are for --path rbd:POOL/IMAGE" "$tmp/bad6.err"

echo "== I/O"
nv perf -N 1 -q 32 -o 4096 -w randrw -T 3 --verify >"$tmp/perf1.txt" 2>&1
check "perf --verify 4 KiB QD32 randrw: no errors" bash -c "[ $? = 0 ] && grep -q ' 0 errors, 0 not completed' '$tmp/perf1.txt'"
nv perf -N 2 -q 8 -o 1048576 -w randrw -T 2 --verify >"$tmp/perf2.txt" 2>&1
check "perf --verify 1 MiB QD8 randrw: no errors" bash -c "[ $? = 0 ] && grep -q ' 0 errors, 0 not completed' '$tmp/perf2.txt'"
head -c 1048576 /dev/urandom >"$tmp/data"
nv write -N 1 --start-block 4096 --data-size 1048576 --data "$tmp/data" >/dev/null 2>&1
check "write 1 MiB" [ $? = 0 ]
nv read -N 1 --start-block 4096 --data-size 1048576 --data "$tmp/back" >/dev/null 2>&1
check "read it back, same bytes" cmp -s "$tmp/data" "$tmp/back"
nv compare -N 1 --start-block 4096 --data-size 1048576 --data "$tmp/data" >/dev/null 2>&1
check "compare equal" [ $? = 0 ]
out=$(nv write-zeroes -N 1 --start-block=4104 --block-count=7)
check "write-zeroes" [ "$out" = "NVME Write Zeroes Success" ]
out=$(nv dsm -N 1 --ad --slbs=4128,4200 --blocks=4,64)
check "dsm deallocate" [ "$out" = "NVMe DSM: success" ]
nv read -N 1 --start-block 4096 --data-size 1048576 --data "$tmp/back" >/dev/null 2>&1
python3 - "$tmp/data" "$tmp/expect" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
for slba, n in ((4104, 8), (4128, 4), (4200, 64)):
    b[(slba - 4096) * 512:(slba - 4096 + n) * 512] = bytes(n * 512)
open(sys.argv[2], 'wb').write(b)
EOF
check "write-zeroes and dsm ranges read back as zeros, the rest unchanged" cmp -s "$tmp/back" "$tmp/expect"
nv write -N 1 --start-block 0 --data-size 4096 --data "$tmp/data" --force-unit-access >/dev/null 2>&1
check "FUA write" [ $? = 0 ]
nv flush -N 1 >/dev/null 2>&1
check "flush" [ $? = 0 ]
nv id-ns -N 1 --output-format=json >"$tmp/idns.json" 2>&1
nv id-ctrl --output-format=json >"$tmp/idctrl.json" 2>&1
check "id-ctrl reports a volatile write cache (librbd's cache)" python3 -c "
import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['vwc'] & 1 else 1)" "$tmp/idctrl.json"
check "id-ns: nsze is the image's 256 MiB" python3 -c "
import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['nsze'] == 256*2048 else 1)" "$tmp/idns.json"

echo "== resize"
rbdc resize --size 320M "$CEPH_POOL/$CEPH_IMAGE" >/dev/null 2>&1
check "rbd resize" [ $? = 0 ]
for _ in $(seq 50); do grep -q "namespace 1 resized to 655360 blocks" "$LOG" && break; sleep 0.1; done
check "the target sees the resize (namespace attribute changed)" grep -q "namespace 1 resized to 655360 blocks" "$LOG"
nv id-ns -N 1 --output-format=json >"$tmp/idns2.json" 2>&1
check "id-ns shows the new size" python3 -c "
import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['nsze'] == 320*2048 and d['ncap'] == 320*2048 else 1)" "$tmp/idns2.json"
nv write -N 1 --start-block $((300 * 2048)) --data-size 4096 --data "$tmp/data" >/dev/null 2>&1
check "I/O beyond the old end works" [ $? = 0 ]

echo "== remove a namespace with I/O in flight"
nv perf -N 2 -q 32 -o 4096 -w randwrite -T 4 >"$tmp/perf3.txt" 2>&1 &
ppid=$!
sleep 1.5
tc remove-ns "$NQN" 2 >/dev/null 2>&1
check "remove-ns while perf runs" [ $? = 0 ]
wait "$ppid"
ppid=
check "perf ended (its I/Os after removal failed, none hung)" bash -c "grep -q ' not completed' '$tmp/perf3.txt'"
gone=0
for _ in $(seq 50); do
	rbdc status "$CEPH_POOL/img2" 2>/dev/null | grep -q "watcher=" || { gone=1; break; }
	sleep 0.2
done
check "the removed namespace's image is closed (no watcher left)" [ "$gone" = 1 ]
check "target alive after the removal" kill -0 "$tpid"
nv read -N 1 --start-block 4096 --data-size 4096 --data "$tmp/back1" >/dev/null 2>&1
check "namespace 1 still serves I/O" [ $? = 0 ]

echo "== reload"
python3 - "$tmp/config.json" "$CEPH_POOL" "$CEPH_CONF" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["subsystems"][0]["namespaces"].append(
    {"nsid": 3, "device": {"path": "rbd:%s/img2" % sys.argv[2]}, "ceph": {"conf": sys.argv[3]}})
json.dump(d, open(sys.argv[1], "w"))
EOF
kill -HUP "$tpid"
for _ in $(seq 100); do grep -qE "reload: .*change\(s\) applied|reload refused" "$LOG" && break; sleep 0.1; done
check "SIGHUP adds the file's new rbd namespace 3" grep -q "reload: added namespace 3 to $NQN" "$LOG"
check "and keeps namespace 1 (same path and Ceph settings)" bash -c "! grep -q 'reload: removed namespace 1 ' '$LOG'"
nv read -N 3 --start-block 0 --data-size 4096 --data "$tmp/back3" >/dev/null 2>&1
check "namespace 3 serves I/O" [ $? = 0 ]

echo "== the cluster stops"
stop_cluster
t0=$(date +%s)
nv read -N 1 --start-block 8192 --data-size 4096 --data "$tmp/back2" >/dev/null 2>"$tmp/dead.err"
rc=$?
t1=$(date +%s)
check "a read fails (exit $rc) within the client timeout (${TMO} s + slack)" bash -c "[ $rc != 0 ] && [ $rc != 124 ] && [ $((t1 - t0)) -le $((TMO + 10)) ]"
check "with Namespace Not Ready, retryable (no DNR)" bash -c "grep -q 'Namespace Not Ready' '$tmp/dead.err' && ! grep -qi 'do not retry' '$tmp/dead.err'"
cp "$CEPH_CONF" "$tmp/other.conf"
t0=$(date +%s)
tc add-ns "$NQN" --path "rbd:$CEPH_POOL/img2" --ceph-conf "$tmp/other.conf" 2>"$tmp/dead-add.err"
rc=$?
t1=$(date +%s)
check "add-ns to the stopped cluster fails within its timeout" bash -c "[ $rc != 0 ] && [ $rc != 124 ] && [ $((t1 - t0)) -le $((TMO + 10)) ]"
check "with a clear message" grep -q "cannot connect to the Ceph cluster of $tmp/other.conf as client.admin" "$tmp/dead-add.err"
check "the control socket still answers" bash -c "timeout 10 '$CLI' target --rpc-socket '$SOCK' list >/dev/null"

check "target still running" kill -0 "$tpid"
kill -TERM "$tpid"
rc=0
timeout 60 tail --pid="$tpid" -f /dev/null
wait "$tpid" || rc=$?
tpid=
check "target exits 0 on SIGTERM with the cluster gone" [ "$rc" = 0 ]
[ "$tsan" = 1 ] && tsan_check "$tmp/tsan"
if [ "$failed" != 0 ]; then
	echo "--- target log (warnings and errors)"
	grep -iE 'warn|error' "$LOG" | head -n 30
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
