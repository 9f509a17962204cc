#!/bin/sh
# Guest script (kernel-host): the Linux NVMe/TCP host against our target.
#   pass 1, no digests: discover, connect with 2 I/O queues, id-ctrl, id-ns,
#     list-subsys, fio 4 KiB random + 128 KiB sequential write/verify,
#     mkfs.ext4 + mount + file write/read-back, disconnect
#   pass 2, header + data digests: connect, the file from pass 1 reads back
#     intact, fio again, disconnect
# Environment: TARGET_ADDR, TARGET_PORT, DISC_PORT, NQN; FIO_RAND_SIZE,
# FIO_SEQ_SIZE, FILE_MIB to scale the data volumes.
set -u
. /interop/files/lib.sh

ADDR=${TARGET_ADDR:-10.0.2.2}
PORT=${TARGET_PORT:-4420}
DISC_PORT=${DISC_PORT:-8009}
NQN=${NQN:-nqn.2026-01.io.nvmeof:ramdisk}
RAND_SIZE=${FIO_RAND_SIZE:-16M}
SEQ_SIZE=${FIO_SEQ_SIZE:-64M}
FILE_MIB=${FILE_MIB:-16}
HOSTNQN=$(cat /etc/nvme/hostnqn)

step "kernel $(uname -r), $(nvme version | head -n 1), $(fio --version)"
kmark=$(dmesg | wc -l) # boot messages are not the target's business
dmesg_mark=$kmark
FIO_ENGINE=$(fio_engine)
echo "    fio engine: $FIO_ENGINE"
[ "$FIO_ENGINE" != psync ] || bad "no asynchronous fio engine in the guest (iodepth > 1 impossible)"

# ---------------------------------------------------------------- discovery
step "nvme discover -a $ADDR -s $DISC_PORT"
if nvme discover -t tcp -a "$ADDR" -s "$DISC_PORT" >/tmp/disc.out 2>/tmp/disc.err; then
	sed 's/^/    /' /tmp/disc.out
	check "discovery log lists $NQN" grep -q "subnqn: *$NQN\$" /tmp/disc.out
	check "discovery log entry is NVMe/TCP on port $PORT" \
		grep -q "trsvcid: *$PORT\$" /tmp/disc.out
else
	bad "nvme discover failed: $(cat /tmp/disc.err)"
	dmesg_new
fi

connect_and_check() { # $1 = label, rest = extra connect options
	label=$1
	shift
	step "nvme connect ($label) -a $ADDR -s $PORT -n $NQN --nr-io-queues=2 $*"
	if ! nvme connect -t tcp -a "$ADDR" -s "$PORT" -n "$NQN" --hostnqn="$HOSTNQN" \
		--nr-io-queues=2 "$@" >/tmp/conn.out 2>&1; then
		bad "connect ($label): $(cat /tmp/conn.out)"
		dmesg_new
		return 1
	fi
	DEV=$(wait_ns_dev "$NQN") || { bad "connect ($label): no namespace block device appeared"; dmesg_new; return 1; }
	CTRL=$(ctrl_of "$NQN")
	ok "connect ($label): $CTRL live, namespace $DEV"
	qc=$(cat "/sys/class/nvme/$CTRL/queue_count" 2>/dev/null || echo 0)
	mapped=$(dmesg | grep "$CTRL: mapped" | tail -n 1)
	echo "    queue_count=$qc; ${mapped:-no 'mapped' message}"
	# queue_count counts the admin queue too.
	if [ "$qc" -ge 3 ]; then
		ok "connect ($label): $((qc - 1)) I/O queues"
	else
		bad "connect ($label): queue_count $qc, want at least 2 I/O queues"
	fi
	return 0
}

disconnect_and_check() {
	step "nvme disconnect -n $NQN"
	if nvme disconnect -n "$NQN" >/tmp/disc.out 2>&1 && wait_gone "$NQN"; then
		ok "disconnect ($1): $(cat /tmp/disc.out)"
	else
		bad "disconnect ($1): $(cat /tmp/disc.out)"
		dmesg_new
	fi
}

# ------------------------------------------------------ pass 1: no digests
if connect_and_check "no digests"; then
	step "nvme id-ctrl / id-ns / list-subsys"
	if nvme id-ctrl "/dev/$CTRL" >/tmp/idctrl.out 2>&1; then
		grep -E '^(vid|sn|mn|fr|mdts|cntlid|ver|kas|sqes|cqes|maxcmd|nn|sgls|subnqn|ioccsz|iorcsz|icdoff|msdbd) ' /tmp/idctrl.out | sed 's/^/    /'
		check "id-ctrl reports subnqn $NQN" grep -q "^subnqn *: *$NQN\$" /tmp/idctrl.out
		check "id-ctrl reports a nonzero kas" \
			sh -c "grep -q '^kas *: *0x[1-9a-f]' /tmp/idctrl.out || grep -q '^kas *: *[1-9]' /tmp/idctrl.out"
	else
		bad "nvme id-ctrl: $(cat /tmp/idctrl.out)"
	fi
	if nvme id-ns "$DEV" >/tmp/idns.out 2>&1; then
		grep -E '^(nsze|ncap|nuse|nlbaf|flbas|nguid|eui64|lbaf +0)' /tmp/idns.out | sed 's/^/    /'
		nsze=$(sed -n 's/^nsze *: *//p' /tmp/idns.out)
		check "id-ns reports a nonzero size ($nsze)" test -n "$nsze" -a "$nsze" != 0 -a "$nsze" != 0x0
	else
		bad "nvme id-ns: $(cat /tmp/idns.out)"
	fi
	if nvme list-subsys >/tmp/ls.out 2>&1; then
		sed 's/^/    /' /tmp/ls.out
		check "list-subsys shows $NQN live over tcp" \
			sh -c "grep -q '$NQN' /tmp/ls.out && grep -q 'tcp traddr=$ADDR,trsvcid=$PORT.* live' /tmp/ls.out"
	else
		bad "nvme list-subsys: $(cat /tmp/ls.out)"
	fi
	nvme list 2>&1 | sed 's/^/    /'

	step "fio: 4 KiB random write + crc32c verify, iodepth 16 ($RAND_SIZE)"
	check "fio 4k random write/verify, iodepth 16" fio_verify rand4k "$DEV" randwrite 4k "$RAND_SIZE" 16 0
	step "fio: 128 KiB sequential write + crc32c verify, iodepth 8 ($SEQ_SIZE)"
	check "fio 128k sequential write/verify, iodepth 8" fio_verify seq128k "$DEV" write 128k "$SEQ_SIZE" 8 64M
	step "deallocate (blkdiscard), write zeroes and flush"
	# Linux sends DSM with a 4 KiB range buffer whatever the range count.
	check "blkdiscard of 1 MiB at 1 GiB - 1 MiB" blkdiscard -o $((1023 << 20)) -l $((1 << 20)) "$DEV"
	check "blkdiscard of 8 MiB" blkdiscard -o $((8 << 20)) -l $((8 << 20)) "$DEV"
	check "nvme write-zeroes of 64 blocks" nvme write-zeroes "$DEV" --start-block=4096 --block-count=63
	zsum=$(dd if="$DEV" bs=512 skip=4096 count=64 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
	zref=$(dd if=/dev/zero bs=512 count=64 2>/dev/null | sha256sum | cut -d' ' -f1)
	check "blocks read back as zeroes after write-zeroes" test "$zsum" = "$zref"
	check "nvme flush" nvme flush "$DEV"
	dmesg_new
	check_kernel_clean "I/O without digests"

	step "mkfs.ext4, mount, write a file, read it back"
	mkdir -p /mnt/t
	if mkfs.ext4 -q -F "$DEV" >/tmp/mkfs.out 2>&1 && mount -t ext4 "$DEV" /mnt/t; then
		ok "mkfs.ext4 + mount"
		dd if=/dev/urandom of=/tmp/file.src bs=1M count="$FILE_MIB" 2>/dev/null
		sum_src=$(sha256sum </tmp/file.src | cut -d' ' -f1)
		cp /tmp/file.src /mnt/t/data.bin && sync
		umount /mnt/t
		echo 3 >/proc/sys/vm/drop_caches
		if mount -t ext4 "$DEV" /mnt/t; then
			sum_fs=$(sha256sum </mnt/t/data.bin | cut -d' ' -f1)
			echo "    sha256 written $sum_src, read back $sum_fs"
			check "file written on ext4 reads back identical after remount" test "$sum_src" = "$sum_fs"
			umount /mnt/t
		else
			bad "remount of ext4 failed"
		fi
		# A full check of the filesystem the target stored.
		if command -v e2fsck >/dev/null 2>&1; then
			check "e2fsck finds the filesystem clean" e2fsck -f -n "$DEV"
		fi
	else
		bad "mkfs.ext4/mount: $(cat /tmp/mkfs.out)"
		dmesg_new
	fi
	check_kernel_clean "mkfs.ext4 and file I/O"
	disconnect_and_check "no digests"
fi

# -------------------------------------------- pass 2: header + data digests
if connect_and_check "header+data digests" --hdr-digest --data-digest; then
	step "the file from pass 1 reads back through a digest connection"
	if [ -n "${sum_src:-}" ] && mount -t ext4 "$DEV" /mnt/t; then
		sum_fs=$(sha256sum </mnt/t/data.bin | cut -d' ' -f1)
		check "file from the first connection intact over digests" test "$sum_src" = "$sum_fs"
		umount /mnt/t
	else
		bad "no filesystem from pass 1 to read back"
	fi
	step "fio with digests"
	check "fio 4k random write/verify with digests, iodepth 16" \
		fio_verify rand4k-dg "$DEV" randwrite 4k "$RAND_SIZE" 16 512M
	check "fio 128k sequential write/verify with digests, iodepth 8" \
		fio_verify seq128k-dg "$DEV" write 128k "$SEQ_SIZE" 8 576M
	dmesg_new
	check_kernel_clean "I/O with digests"
	disconnect_and_check "header+data digests"
fi

step "done: $checks_failed failed checks"
dmesg_new
[ "$checks_failed" = 0 ]
