#!/bin/bash
# `nvmeof attach` / `detach`: namespaces as files through FUSE, as block
# devices through losetup. Attach to a file-backed namespace, its size and
# registry entry; losetup, mkfs.ext4, mount, copy a file in and compare after
# a remount; kill -9 and restart the target under the mounted file system and
# keep writing; a namespace added live appears (plain and --discover), one
# removed disappears, a subsystem added live appears as a directory with
# --discover; unaligned reads served, unaligned writes refused; refusals
# (attach to a dead port, detach of a non-attachment, detach while a loop
# device uses the mount); detach ends the attach process and its registry
# entry; once --ctrl-loss-tmo expired, I/O fails with EIO.
#
#   usage: tests/integration/attach.sh [BUILD]      (BUILD defaults to build)
#
# Needs root, /dev/fuse, loop devices, losetup and mkfs.ext4: without them it
# fails and says which is missing. Loop devices and mounts are removed at exit.
# In a ThreadSanitizer build, each distinct race reported is one more failure.
# The last line is "N passed, N failed".
set -u
CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
integration_begin attach "$@"

missing=
[ "$(id -u)" = 0 ] || missing="$missing root"
[ -c /dev/fuse ] || missing="$missing /dev/fuse"
[ -e /dev/loop-control ] || missing="$missing /dev/loop-control"
for t in losetup mkfs.ext4 mount umount; do command -v "$t" >/dev/null || missing="$missing $t"; done
if [ -n "$missing" ]; then
	echo "attach: cannot run without:$missing"
	fail "prerequisites present"
	finish
fi

port=$(free_port)
NQN=nqn.2026-01.io.nvmeof:attach
NQN2=nqn.2026-01.io.nvmeof:attach-two
SOCK=$tmp/target.sock
LOG=$tmp/target.log
CFG=$tmp/config.json
MNT=$tmp/mnt
DMNT=$tmp/dmnt
FS=$tmp/fs
export NVMEOF_ATTACH_DIR=$tmp/registry
mkdir -p "$MNT" "$DMNT" "$FS" "$tmp/empty"
loop=
# The attach daemon's stderr is /dev/null: in a sanitizer build its reports go to files.
mkdir -p "$tmp/san"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$tmp/san/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$tmp/san/ubsan"
tcli() { "$CLI" target --rpc-socket "$SOCK" "$@"; }
conn=(-t tcp -a 127.0.0.1 -s "$port" --reconnect-delay 1 --ctrl-loss-tmo 60)
is_mounted() { grep -q " $1 " /proc/self/mounts; }
reg_json() { cat "$NVMEOF_ATTACH_DIR"/*.json 2>/dev/null; }
# reg_eq EXPR VALUE: python expression on the registry entry of $MNT (`d`).
reg_eq() {
	python3 -c "
import glob, json, sys
for f in glob.glob(sys.argv[1] + '/*.json'):
    d = json.load(open(f))
    if d['mountpoint'] == sys.argv[2]:
        sys.exit(0 if str($1) == sys.argv[3] else 1)
sys.exit(1)" "$NVMEOF_ATTACH_DIR" "$MNT" "$2"
}

attach_cleanup() {
	is_mounted "$FS" && umount "$FS"
	[ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
	for m in "$MNT" "$DMNT"; do
		is_mounted "$m" && { "$CLI" detach "$m" >/dev/null 2>&1 || umount -l "$m"; }
	done
	integration_cleanup
}
trap attach_cleanup EXIT

cat >"$CFG" <<JSON
{ "hosts": [],
  "subsystems": [ { "nqn": "$NQN", "attr": { "allow_any_host": "1" }, "allowed_hosts": [],
      "namespaces": [ { "nsid": 1, "enable": 1, "device": { "path": "$tmp/disk1.img", "size": "64M" } } ] } ],
  "ports": [ { "portid": 1, "addr": { "trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1",
      "trsvcid": "$port" }, "subsystems": [ "$NQN" ], "referrals": [] } ] }
JSON
start_target() {
	"$TGT" --config "$CFG" --rpc-socket "$SOCK" --reactors 2 --log-level info >>"$LOG" 2>&1 &
	tpid=$!
	TPID=$tpid
}
start_target
target_wait_ready "$SOCK"

echo "== refusals"
dead=$(free_port "$port")
start=$SECONDS
"$CLI" attach -t tcp -a 127.0.0.1 -s "$dead" -n "$NQN" "$MNT" >/dev/null 2>"$tmp/dead.err"
rc=$?
check "attach to a dead port exits nonzero" [ "$rc" != 0 ]
check "within 15 s" [ $((SECONDS - start)) -lt 15 ]
check "and says why" grep -q "failed to connect to 127.0.0.1:$dead" "$tmp/dead.err"
check "nothing is mounted" bash -c "! grep -q ' $MNT ' /proc/self/mounts"
"$CLI" detach "$tmp/empty" 2>"$tmp/notatt.err"
check "detach of a directory that is no attachment exits nonzero" [ $? != 0 ]
check "and says so" grep -q "is not an nvmeof attachment" "$tmp/notatt.err"
"$CLI" attach "${conn[@]}" -n "$NQN" "$tmp/nonexistent" 2>"$tmp/nodir.err"
check "attach to a missing mount point: exit 2 and the reason" \
	bash -c "[ $? = 2 ] && grep -q 'create the directory first' '$tmp/nodir.err'"

echo "== attach"
"$CLI" attach "${conn[@]}" -n "$NQN" "$MNT" 2>"$tmp/attach.err"
check "attach exits 0" [ $? = 0 ]
check "ns1 exists as soon as attach returned" [ -f "$MNT/ns1" ]
check "ns1 has the namespace's size (64 MiB)" [ "$(stat -c %s "$MNT/ns1" 2>/dev/null)" = 67108864 ]
check "ns1 is mode 0600, owned by the attaching user" [ "$(stat -c %a:%u "$MNT/ns1" 2>/dev/null)" = "600:$(id -u)" ]
check "the registry names the mount point, live, ns1 with size and block size" \
	reg_eq "(d['subsystems'][0]['subnqn'], d['subsystems'][0]['state'], d['subsystems'][0]['namespaces'])" \
	"('$NQN', 'live', [{'nsid': 1, 'file': 'ns1', 'size': 67108864, 'lba_size': 512}])"
check "the registry's pid is the running attach process" reg_eq "__import__('os').kill(d['pid'], 0) or 1" 1
"$CLI" attach "${conn[@]}" -n "$NQN" "$MNT" 2>"$tmp/again.err"
check "a second attach on the same mount point is refused" [ $? != 0 ]

echo "== alignment"
head -c 4096 /dev/urandom >"$tmp/blk"
dd if="$tmp/blk" of="$MNT/ns1" bs=4096 seek=100 conv=notrunc status=none
check "an aligned write lands in the backing file" \
	cmp -s "$tmp/blk" <(dd if="$tmp/disk1.img" bs=4096 skip=100 count=1 status=none)
check "an unaligned read is served (100 bytes at offset 409700)" \
	cmp -s <(dd if="$MNT/ns1" bs=1 skip=409700 count=100 status=none) <(dd if="$tmp/blk" bs=1 skip=100 count=100 status=none)
check "an unaligned write is refused" \
	bash -c "! dd if=/dev/zero of='$MNT/ns1' bs=100 count=1 seek=3 conv=notrunc status=none 2>/dev/null"
check "truncating a namespace file is refused" bash -c "! truncate -s 1M '$MNT/ns1' 2>/dev/null"

echo "== losetup, mkfs.ext4, mount, copy"
loop=$(losetup -f --show "$MNT/ns1" 2>"$tmp/losetup.err")
check "losetup makes ns1 a block device" [ -b "$loop" ]
[ -b "$loop" ] || { cat "$tmp/losetup.err"; finish; }
check "mkfs.ext4 on it" mkfs.ext4 -q -F "$loop"
check "mount it" mount "$loop" "$FS"
head -c 8M /dev/urandom >"$tmp/data.bin"
cp "$tmp/data.bin" "$FS/data.bin"
check "umount (writes everything back)" umount "$FS"
check "mount again" mount "$loop" "$FS"
check "the copy reads back equal" cmp "$tmp/data.bin" "$FS/data.bin"
"$CLI" detach "$MNT" 2>"$tmp/busy.err"
check "detach while a loop device uses the mount exits nonzero" [ $? != 0 ]
check "and names the loop device" grep -q "$loop uses $MNT/ns1" "$tmp/busy.err"
check "the mount is still there" is_mounted "$MNT"

echo "== target restart under the mounted file system"
head -c 4M /dev/urandom >"$tmp/during.bin"
kill -9 "$tpid"
wait "$tpid" 2>/dev/null
tpid=
check "the registry shows the subsystem connecting" wait_for 10 reg_eq "d['subsystems'][0]['state']" connecting
# Written (and synced) while the target is away: the writes wait for the reconnect.
(cp "$tmp/during.bin" "$FS/during.bin" && sync -f "$FS/during.bin") &
writer=$!
sleep 2
check "the writer waits while the target is away" kill -0 "$writer"
start_target
target_wait_ready "$SOCK"
wait "$writer"
check "the write and sync made while the target was away complete" [ $? = 0 ]
check "the registry shows the subsystem live again" wait_for 10 reg_eq "d['subsystems'][0]['state']" live
check "the earlier file still reads back equal" cmp "$tmp/data.bin" "$FS/data.bin"
cp "$tmp/data.bin" "$FS/after.bin" && sync -f "$FS/after.bin"
check "writing goes on after the restart" cmp "$tmp/data.bin" "$FS/after.bin"
umount "$FS" && mount "$loop" "$FS"
check "after a remount, the file written across the restart is intact" cmp "$tmp/during.bin" "$FS/during.bin"
check "the ext4 file system is clean" bash -c "umount '$FS' && e2fsck -fn '$loop' >/dev/null 2>&1"
losetup -d "$loop" && loop=

echo "== a namespace added live"
ns=$(tcli add-ns "$NQN" --path "$tmp/disk2.img" --size 16M)
check "add-ns on the control socket gives NSID 2" [ "$ns" = 2 ]
check "ns2 appears under the mount (polled, within 10 s)" wait_for 10 test -f "$MNT/ns2"
check "with its size" [ "$(stat -c %s "$MNT/ns2" 2>/dev/null)" = 16777216 ]
check "and in the registry" wait_for 5 reg_eq "[n['file'] for n in d['subsystems'][0]['namespaces']]" "['ns1', 'ns2']"

echo "== --discover"
"$CLI" attach --discover -t tcp -a 127.0.0.1 -s "$port" --reconnect-delay 1 "$DMNT" 2>"$tmp/disc.err"
check "attach --discover exits 0" [ $? = 0 ]
check "one directory per subsystem, holding ns1 and ns2" \
	bash -c "[ \"\$(ls '$DMNT')\" = '$NQN' ] && [ \"\$(ls '$DMNT/$NQN' | tr '\n' ' ')\" = 'ns1 ns2 ' ]"
check "the same data through both mounts" \
	cmp <(dd if="$MNT/ns1" bs=1M count=16 status=none) <(dd if="$DMNT/$NQN/ns1" bs=1M count=16 status=none)
tcli add-subsystem "$NQN2" --allow-any-host >/dev/null &&
	tcli add-ns "$NQN2" --path "$tmp/disk3.img" --size 8M >/dev/null &&
	tcli link-port 1 "$NQN2" >/dev/null
check "a subsystem added to the port appears as a directory (discovery log change)" \
	wait_for 15 test -f "$DMNT/$NQN2/ns1"
check "its ns1 has its size" [ "$(stat -c %s "$DMNT/$NQN2/ns1" 2>/dev/null)" = 8388608 ]
tcli remove-ns "$NQN" 2 >/dev/null
check "a namespace removed live disappears (plain mount)" wait_for 10 test ! -e "$MNT/ns2"
check "and under --discover" wait_for 10 test ! -e "$DMNT/$NQN/ns2"
tcli unlink-port 1 "$NQN2" >/dev/null
check "a subsystem unlinked from the port disappears" wait_for 15 test ! -e "$DMNT/$NQN2"

echo "== detach"
apid=$(python3 -c "
import glob, json, sys
for f in glob.glob(sys.argv[1] + '/*.json'):
    d = json.load(open(f))
    if d['mountpoint'] == sys.argv[2]: print(d['pid'])" "$NVMEOF_ATTACH_DIR" "$MNT")
check "detach exits 0" "$CLI" detach "$MNT"
check "the mount point is unmounted" bash -c "! grep -q ' $MNT ' /proc/self/mounts"
check "the attach process has exited" bash -c "! kill -0 '$apid' 2>/dev/null"
check "its registry entry is gone" bash -c "! grep -qs '\"$MNT\"' '$NVMEOF_ATTACH_DIR'/*.json"
check "detach of the --discover mount exits 0" "$CLI" detach "$DMNT/"
left=$(ls "$NVMEOF_ATTACH_DIR")
check "the registry is empty" [ -z "$left" ]
[ -n "$left" ] && echo "left in the registry: $left"

echo "== --foreground"
"$CLI" attach -f "${conn[@]}" -n "$NQN" "$MNT" >"$tmp/fg.out" 2>&1 &
fgpid=$!
check "attach -f serves ns1 while it stays in the foreground" wait_for 10 test -f "$MNT/ns1"
check "and says where" grep -q "attached on $MNT" "$tmp/fg.out"
check "detach ends it" "$CLI" detach "$MNT"
wait "$fgpid"
check "with exit status 0" [ $? = 0 ]

echo "== ctrl_loss_tmo: I/O fails with EIO once it expired"
"$CLI" attach -t tcp -a 127.0.0.1 -s "$port" -n "$NQN" --reconnect-delay 1 --ctrl-loss-tmo 3 "$MNT"
check "attach with --ctrl-loss-tmo 3" [ -f "$MNT/ns1" ]
kill -TERM "$tpid"
rc=0
wait "$tpid" || rc=$?
tpid=
check "target exits 0 on SIGTERM" [ "$rc" = 0 ]
start=$SECONDS
dd if="$MNT/ns1" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>"$tmp/eio.err"
rc=$?
check "a read while the target is away fails" [ "$rc" != 0 ]
check "with EIO" grep -q "Input/output error" "$tmp/eio.err"
check "after waiting for the reconnect (ctrl_loss_tmo 3 s)" [ $((SECONDS - start)) -ge 2 ]
check "detach of a dead controller's mount exits 0" "$CLI" detach "$MNT"
check "and leaves nothing mounted or registered" \
	bash -c "! grep -q ' $MNT ' /proc/self/mounts && [ -z \"\$(ls '$NVMEOF_ATTACH_DIR')\" ]"
[ "$tsan" = 1 ] && tsan_check "$tmp/tsan"
reports=$(ls "$tmp/san")
check "no ASan/UBSan report from any process" [ -z "$reports" ]
[ -n "$reports" ] && head -n 40 "$tmp/san"/*
if [ "$failed" != 0 ]; then
	echo "--- target log (warnings and errors)"
	grep -iE 'warn|error' "$LOG" | head -n 30
	cat "$tmp"/*.err 2>/dev/null | head -n 30
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
