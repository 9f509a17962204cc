# Helpers shared by the guest scripts (sourced; busybox sh or bash).
# Every check prints one line "CHECK ok: WHAT" or "CHECK FAIL: WHAT"; the
# host side (tests/interop/run.sh) counts them.
# shellcheck shell=sh

checks_failed=0

step() { echo "--- $* (guest uptime $(cut -d' ' -f1 /proc/uptime)s)"; }
ok() { echo "CHECK ok: $*"; }
bad() {
	echo "CHECK FAIL: $*"
	checks_failed=$((checks_failed + 1))
}
# check WHAT COMMAND...: run COMMAND, report WHAT as ok or failed.
check() {
	what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what (exit $?: $*)"; fi
}

# Print the kernel's NVMe messages since the last call (errors are the
# evidence a target engineer needs).
dmesg_mark=0
dmesg_new() {
	dmesg | awk -v skip="$dmesg_mark" 'NR > skip && /nvme|NVMe|EXT4|blk_update|I\/O error/' | sed 's/^/    dmesg: /'
	dmesg_mark=$(dmesg | wc -l)
}

# check_kernel_clean WHAT: fail if the kernel logged I/O errors, timeouts,
# resets or protocol errors since the last call (errors the host may retry
# silently are still target bugs).
kmark=0
check_kernel_clean() {
	errs=$(dmesg | awk -v skip="$kmark" 'NR > skip' |
		grep -iE 'I/O error|I/O Cmd|timeout|resetting|reconnect|term ?req|digest|failed|Buffer I/O|EXT4-fs error' |
		grep -v 'Removing ctrl')
	kmark=$(dmesg | wc -l)
	if [ -z "$errs" ]; then
		ok "$1: no I/O errors, timeouts or resets in the kernel log"
	else
		bad "$1: the kernel logged errors:"
		echo "$errs" | head -n 20 | sed 's/^/    kernel: /'
	fi
}

# The controller (nvmeN) connected to subsystem $1, or nothing.
ctrl_of() {
	for c in /sys/class/nvme/nvme*; do
		[ -e "$c/subsysnqn" ] || continue
		[ "$(cat "$c/subsysnqn")" = "$1" ] && [ "$(cat "$c/state" 2>/dev/null)" = live ] && echo "${c##*/}"
	done | head -n 1
}

# Wait (up to ~10 s) for the namespace block device of subsystem $1; prints it.
# Multipath paths such as nvme0c0n1 are in /sys/block too but have no node.
wait_ns_dev() {
	i=0
	while [ $i -lt 100 ]; do
		for b in /sys/block/nvme*; do
			[ -e "$b/device/subsysnqn" ] && [ -b "/dev/${b##*/}" ] || continue
			if [ "$(cat "$b/device/subsysnqn")" = "$1" ]; then
				echo "/dev/${b##*/}"
				return 0
			fi
		done
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# Wait (up to ~10 s) until no controller of subsystem $1 is left.
wait_gone() {
	i=0
	while [ $i -lt 100 ]; do
		found=0
		for c in /sys/class/nvme/nvme*; do
			[ -e "$c/subsysnqn" ] && [ "$(cat "$c/subsysnqn")" = "$1" ] && found=1
		done
		[ $found = 0 ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# The best asynchronous fio engine this guest has (iodepth > 1 needs one).
fio_engine() {
	for e in io_uring libaio; do
		if fio --name=probe --filename=/dev/null --size=4k --bs=4k --rw=read --ioengine=$e \
			--iodepth=2 --output=/dev/null >/dev/null 2>&1; then
			echo $e
			return
		fi
	done
	echo psync
}

# fio_verify NAME DEV RW BS SIZE IODEPTH OFFSET [extra fio args]: write with
# crc32c verification headers, then read everything back and verify it.
fio_verify() {
	name=$1 dev=$2 rw=$3 bs=$4 size=$5 depth=$6 off=$7
	shift 7
	if timeout "${FIO_TIMEOUT:-300}" fio --name="$name" --filename="$dev" --rw="$rw" --bs="$bs" \
		--size="$size" --offset="$off" --iodepth="$depth" --ioengine="$FIO_ENGINE" --direct=1 \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --randrepeat=0 --norandommap=0 \
		--output-format=terse --terse-version=3 "$@" >/tmp/fio-"$name".out 2>/tmp/fio-"$name".err; then
		# Terse v3: field 6 = KiB read (verify pass), 47 = KiB written.
		awk -F';' -v n="$name" '{ printf "    fio %s: wrote %s KiB, verified %s KiB\n", n, $47, $6 }' \
			/tmp/fio-"$name".out
		[ "$(awk -F';' '{ print $47 }' /tmp/fio-"$name".out)" -gt 0 ] 2>/dev/null
	else
		rc=$?
		echo "    fio $name failed (exit $rc):"
		sed 's/^/    fio: /' /tmp/fio-"$name".err /tmp/fio-"$name".out | head -n 30
		return 1
	fi
}

# wait_until SECONDS COMMAND...: poll COMMAND every 0.1 s.
wait_until() {
	limit=$(($1 * 10))
	shift
	n=0
	while [ $n -lt $limit ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n + 1))
	done
	return 1
}

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# fio_loop_start DEV: fio write+verify passes (fio_verify, FIO_SIZE) on DEV,
# back to back, until fio_loop_stop. One line per pass in /tmp/fio-results:
# "pass|fail N END_UPTIME MAX_LATENCY_MS", the latency being the longest
# completion of the pass (writes or verify reads): across a failover, the I/O
# gap the application saw.
#
# fio runs with SIGPIPE ignored: the Linux host's NVMe/TCP driver sends a
# command from the submitting process when its queue is idle, without
# MSG_NOSIGNAL, so when the path's target has just died the TCP send's EPIPE
# also raises SIGPIPE in fio and kills it (seen on 6.1). The driver itself
# takes the EPIPE as a path error and retries the command on another path.
fio_loop_start() {
	rm -f /tmp/stop-fio /tmp/fio-results
	(
		trap '' PIPE
		i=0
		while [ ! -e /tmp/stop-fio ]; do
			i=$((i + 1))
			if fio_verify "loop$i" "$1" randwrite 4k "${FIO_SIZE:-8M}" 4 0 >/tmp/fio-loop.log 2>&1; then
				r=pass
			else
				r=fail
				sed 's/^/    /' /tmp/fio-loop.log
			fi
			# Terse v3: field 39 = read total latency max, 80 = write, in us.
			lat=$(awk -F';' '{ m = $39 > $80 ? $39 : $80; printf "%d", m / 1000 }' /tmp/fio-loop"$i".out 2>/dev/null)
			echo "$r $i $(uptime_s) ${lat:--1}" >>/tmp/fio-results
			rm -f /tmp/fio-loop"$i".out /tmp/fio-loop"$i".err
		done
	) &
	fio_loop_pid=$!
}
fio_loop_count() {
	n=$(grep -c . /tmp/fio-results 2>/dev/null)
	echo "${n:-0}"
}
# fio_loop_wait_passes SECONDS N: wait until N more passes have ended.
fio_loop_wait_passes() {
	want=$(($(fio_loop_count) + $2))
	wait_until "$1" sh -c "[ \$(grep -c . /tmp/fio-results 2>/dev/null) -ge $want ]"
}
# fio_loop_wait_io SECONDS: wait until 64 more I/Os completed on the NVMe
# block devices (the multipath device or its paths, whichever counts them), so
# that an event that follows finds fio in the middle of a pass rather than
# starting one.
fio_loop_wait_io() {
	want=$(($(cat /sys/block/nvme*/stat 2>/dev/null | awk '{ n += $1 + $5 } END { print n + 0 }') + 64))
	wait_until "$1" sh -c "[ \$(cat /sys/block/nvme*/stat 2>/dev/null | awk '{ n += \$1 + \$5 } END { print n + 0 }') -ge $want ]"
}
fio_loop_stop() {
	touch /tmp/stop-fio
	wait "$fio_loop_pid"
}
# fio_loop_max_lat AFTER UNTIL: the longest latency (ms) of the passes that
# ended in (AFTER, UNTIL] (guest uptimes); -1 when none did.
fio_loop_max_lat() {
	awk -v a="$1" -v u="$2" 'BEGIN { m = -1 } $3 > a && $3 <= u && $4 > m { m = $4 } END { print m }' \
		/tmp/fio-results 2>/dev/null
}
