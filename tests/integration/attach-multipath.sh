#!/bin/bash
# `nvmeof attach` with two paths: two nvmeof-target instances (A and B) export
# one subsystem with one file-backed namespace (same file and identity), ANA
# group 1 optimized on A and inaccessible on B, as in multipath.sh. Attach
# through both; the registry and `nvmeof list` show both paths; a namespace
# added and removed on both appears and disappears (its connections closed);
# losetup, mkfs.ext4, mount; a file is written (synced chunk by chunk) across
# an ANA switch to B and back, then while A is SIGKILLed and B made optimized:
# the writer gets no error and goes on through B; after a remount everything
# reads back equal and e2fsck finds the file system clean; detach cleans up;
# --discover with two -a is refused.
#
#   usage: tests/integration/attach-multipath.sh [BUILD]      (BUILD defaults to build)
#
# Needs root, /dev/fuse, loop devices, losetup and mkfs.ext4 (as attach.sh).
# The last line is "N passed, N failed".
set -u
CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
integration_begin attach-multipath "$@"

missing=
[ "$(id -u)" = 0 ] || missing="$missing root"
[ -c /dev/fuse ] || missing="$missing /dev/fuse"
[ -e /dev/loop-control ] || missing="$missing /dev/loop-control"
for t in losetup mkfs.ext4 mount umount e2fsck; do command -v "$t" >/dev/null || missing="$missing $t"; done
if [ -n "$missing" ]; then
	echo "attach-multipath: cannot run without:$missing"
	fail "prerequisites present"
	finish
fi

PORT_A=$(free_port)
PORT_B=$(free_port "$PORT_A")
NQN=nqn.2026-01.io.nvmeof:attach-multipath
IMG=$tmp/disk.img
MNT=$tmp/mnt
FS=$tmp/fs
export NVMEOF_ATTACH_DIR=$tmp/registry
mkdir -p "$MNT" "$FS"
truncate -s 64M "$IMG"
loop= apid= bpid=
# The attach daemon's stderr is /dev/null: in a sanitizer build its reports go to files.
mkdir -p "$tmp/san"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$tmp/san/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$tmp/san/ubsan"
ana_path_config "$NQN" "$PORT_A" optimized 1 99 "$IMG" >"$tmp/a.json"
ana_path_config "$NQN" "$PORT_B" inaccessible 100 199 "$IMG" >"$tmp/b.json"

# start NAME: start instance NAME (a, b) from its file; sets its pid variable.
start() {
	"$TGT" --config "$tmp/$1.json" --disc-port 0 --rpc-socket "$tmp/$1.sock" --log-level info \
		>>"$tmp/$1.log" 2>&1 &
	local pid=$!
	eval "${1}pid=$pid"
	TPID=$pid LOG=$tmp/$1.log target_wait_ready "$tmp/$1.sock"
}
is_mounted() { grep -q " $1 " /proc/self/mounts; }
cleanup_all() {
	is_mounted "$FS" && umount "$FS"
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	is_mounted "$MNT" && { "$CLI" detach "$MNT" >/dev/null 2>&1 || umount -l "$MNT"; }
	for p in "$apid" "$bpid"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	integration_cleanup
}
on_exit cleanup_all
tcli() { "$CLI" target --rpc-socket "$tmp/$1.sock" "${@:2}"; }
# reg_ok EXPR: python expression on the registry entry `d` (one attachment).
reg_ok() {
	python3 -c "
import glob, json, sys
f = glob.glob(sys.argv[1] + '/*.json')
d = json.load(open(f[0])) if len(f) == 1 else {}
sys.exit(0 if d and ($1) else 1)" "$NVMEOF_ATTACH_DIR"
}

start a
start b

echo "== attach through two paths"
"$CLI" attach -t tcp -a 127.0.0.1 -s "$PORT_B" --discover -a 127.0.0.1 "$MNT" 2>"$tmp/disc.err"
check "--discover with two -a is refused (exit 2) and says why" \
	bash -c "[ $? = 2 ] && grep -q 'discover takes one -a' '$tmp/disc.err'"
"$CLI" attach -t tcp -a 127.0.0.1 -s "$PORT_A" -a 127.0.0.1 -s "$PORT_B" -n "$NQN" \
	--reconnect-delay 1 --ctrl-loss-tmo 60 --iopolicy round-robin "$MNT" 2>"$tmp/attach.err"
check "attach with two -a/-s exits 0" [ $? = 0 ]
check "ns1 exists with the namespace's size (64 MiB)" [ "$(stat -c %s "$MNT/ns1" 2>/dev/null)" = 67108864 ]
check "the registry records both paths, live" reg_ok \
	"d['subsystems'][0]['state'] == 'live' and [(p['trsvcid'], p['state']) for p in d['subsystems'][0]['paths']] == [('$PORT_A', 'live'), ('$PORT_B', 'live')]"
"$CLI" list -o json >"$tmp/list.json" 2>"$tmp/list.err"
check "nvmeof list shows a controller per path, each with ns1" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
c = d['Devices'][0]['Subsystems'][0]['Controllers']
ok = [x['Address'] for x in c] == ['traddr=127.0.0.1,trsvcid=$PORT_A', 'traddr=127.0.0.1,trsvcid=$PORT_B']
ok = ok and all(x['Namespaces'][0]['NameSpace'] == '$MNT/ns1' for x in c)
ok = ok and len(d['Devices'][0]['Subsystems'][0]['Namespaces']) == 1
sys.exit(0 if ok else 1)" "$tmp/list.json"

echo "== a namespace added and removed on both instances"
conns_b() { ss -Htn state established "( dport = :$PORT_B )" | wc -l; }
conns_before=$(conns_b)
conns_back() { [ "$(conns_b)" = "$conns_before" ]; }
for t in a b; do
	tcli "$t" add-ns "$NQN" --path "$tmp/disk2.img" --size 16M --uuid 3b0e5c7a-1d2f-4e6b-8a9c-0d1e2f3a4b5c \
		--nguid 5c4b3a2f-1e0d-9c8a-6b4e-2f1d7a5c0e3b >/dev/null
done
check "ns2 appears (polled, within 10 s)" wait_for 10 test -f "$MNT/ns2"
check "with its size" [ "$(stat -c %s "$MNT/ns2" 2>/dev/null)" = 16777216 ]
check "through its own connections to B ($conns_before before, $(conns_b) now)" [ "$(conns_b)" -gt "$conns_before" ]
head -c 65536 /dev/urandom >"$tmp/blk2"
dd if="$tmp/blk2" of="$MNT/ns2" bs=65536 conv=notrunc,fsync status=none
check "ns2 takes a write and reads it back" cmp -s "$tmp/blk2" <(dd if="$MNT/ns2" bs=65536 count=1 status=none)
for t in a b; do tcli "$t" remove-ns "$NQN" 2 >/dev/null; done
check "ns2 disappears once removed on both" wait_for 10 test ! -e "$MNT/ns2"
check "and its connections are closed" wait_for 10 conns_back

echo "== losetup, mkfs.ext4, mount"
loop=$(losetup -f --show "$MNT/ns1" 2>"$tmp/losetup.err")
check "losetup makes ns1 a block device" [ -b "$loop" ]
[ -b "$loop" ] || { cat "$tmp/losetup.err"; finish; }
check "mkfs.ext4 on it" mkfs.ext4 -q -F "$loop"
check "mount it" mount "$loop" "$FS"
head -c 8M /dev/urandom >"$tmp/before.bin"
cp "$tmp/before.bin" "$FS/before.bin" && sync -f "$FS/before.bin"

# write_synced NAME: $tmp/NAME.bin (16 MiB) into the file system 1 MiB at a
# time, each synced (a Flush through the paths), for about 3 s.
write_synced() {
	for i in $(seq 0 15); do
		dd if="$tmp/$1.bin" of="$FS/$1.bin" bs=1M skip="$i" seek="$i" count=1 \
			conv=notrunc,fsync status=none || return 1
		sleep 0.2
	done
}

echo "== ANA switch under a writer: A inaccessible, B optimized, and back"
head -c 16M /dev/urandom >"$tmp/switch.bin"
write_synced switch 2>"$tmp/switch.err" &
writer=$!
sleep 1
tcli a set-ana-state 1 1 inaccessible >/dev/null
tcli b set-ana-state 1 1 optimized >/dev/null
sleep 1
tcli a set-ana-state 1 1 optimized >/dev/null
tcli b set-ana-state 1 1 inaccessible >/dev/null
wait "$writer"
check "the writer across both switches exits 0 (no I/O error)" [ $? = 0 ]
check "and the file reads back equal" cmp "$tmp/switch.bin" "$FS/switch.bin"

echo "== A SIGKILLed under a writer, B made optimized"
head -c 16M /dev/urandom >"$tmp/during.bin"
write_synced during 2>"$tmp/writer.err" &
writer=$!
sleep 1
kill -KILL "$apid"
wait "$apid" 2>/dev/null
apid=
tcli b set-ana-state 1 1 optimized >/dev/null
start=$SECONDS
wait "$writer"
check "the writer across the failover exits 0 (no I/O error)" [ $? = 0 ]
check "within 20 s of the kill ($((SECONDS - start)) s)" [ $((SECONDS - start)) -lt 20 ]
check "the registry shows A connecting, B live, the subsystem live" wait_for 10 reg_ok \
	"d['subsystems'][0]['state'] == 'live' and [p['state'] for p in d['subsystems'][0]['paths']] == ['connecting', 'live']"
cp "$tmp/before.bin" "$FS/after.bin" && sync -f "$FS/after.bin"
check "writing goes on through B" [ $? = 0 ]
check "umount (writes everything back) and mount again" bash -c "umount '$FS' && mount '$loop' '$FS'"
check "after a remount, the file written across the failover is intact" cmp "$tmp/during.bin" "$FS/during.bin"
check "the files written before and after read back equal" \
	bash -c "cmp '$tmp/before.bin' '$FS/before.bin' && cmp '$tmp/before.bin' '$FS/after.bin' && cmp '$tmp/switch.bin' '$FS/switch.bin'"
check "the ext4 file system is clean" bash -c "umount '$FS' && e2fsck -fn '$loop' >/dev/null 2>&1"
losetup -d "$loop" && loop=

echo "== detach"
mpid=$(python3 -c "
import glob, json, sys
print(json.load(open(glob.glob(sys.argv[1] + '/*.json')[0]))['pid'])" "$NVMEOF_ATTACH_DIR")
check "detach exits 0 (A still away)" "$CLI" detach "$MNT"
check "the mount point is unmounted" bash -c "! grep -q ' $MNT ' /proc/self/mounts"
check "the attach process has exited" wait_for 5 bash -c "! kill -0 '$mpid' 2>/dev/null"
check "the registry is empty" [ -z "$(ls "$NVMEOF_ATTACH_DIR")" ]

[ "$tsan" = 1 ] && tsan_check "$tmp/tsan"
reports=$(ls "$tmp/san")
check "no ASan/UBSan report from any process" [ -z "$reports" ]
[ -n "$reports" ] && head -n 40 "$tmp/san"/*
if [ "$failed" != 0 ]; then
	for n in a b; do
		echo "--- target $n log (warnings and errors)"
		grep -iE 'warn|error' "$tmp/$n.log" | head -n 20
	done
	cat "$tmp"/*.err 2>/dev/null | head -n 30
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
