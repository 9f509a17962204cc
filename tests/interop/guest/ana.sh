#!/bin/sh
# Guest script (kernel-host) for tests/interop/target-ana.sh and
# target-gateway-group.sh: the Linux host connects to two target instances
# exporting one subsystem (ANA group 1 optimized on A, inaccessible on B),
# native multipath merges them into one namespace, and a fio write+verify
# loop runs while A dies, B becomes optimized, A comes back and becomes
# optimized again. Pacing with the host side through "MARK name" lines:
#
#   MARK fio-running  both paths up, fio loop running (one pass done)
#                     -> the host SIGKILLs A; B is made (or becomes) optimized
#   MARK failed-over  B's path optimized, two more passes done on B
#                     -> the host restarts A; A is made (or becomes) optimized
#   MARK failed-back  A's path live and optimized again
#                     -> B is made (or becomes) $B_FINAL
#   MARK done         B's path $B_FINAL, the loop stopped and checked
#
# Before "MARK done" a line "GAPS baseline=MS failover=MS failback=MS" gives
# the longest fio completion latency before the kill, across the failover and
# across the failback. Each event comes while a pass is doing I/O, not while
# the next fio starts, so that the I/O gap shows in that pass's latency.
#
# Environment: TARGET_ADDR, PORT_A, PORT_B, NQN, CHANGE_TIMEOUT (default 120),
# B_FINAL (B's state after the failback, default inaccessible), CTRL_LOSS_TMO
# (default 300: A's path must outlive A's absence).
set -u
. /interop/files/lib.sh

ADDR=${TARGET_ADDR:-10.0.2.2}
NQN=${NQN:?NQN is required}
WAIT=${CHANGE_TIMEOUT:-120}
B_FINAL=${B_FINAL:-inaccessible}

# path_of PORT: "CTRL-STATE ANA-STATE" of the path through the controller
# connected to PORT (the ANA state of a dead path is its last known one).
path_of() {
	for p in /sys/block/nvme*c*n1; do
		[ -e "$p/ana_state" ] || continue
		c=nvme$(echo "${p##*/}" | sed 's/^nvme[0-9]*c\([0-9]*\)n.*/\1/')
		grep -q "trsvcid=$1\(,\|$\)" "/sys/class/nvme/$c/address" 2>/dev/null || continue
		echo "$(cat "/sys/class/nvme/$c/state") $(cat "$p/ana_state")"
		return 0
	done
	return 1
}
ana_is() { [ "$(path_of "$1")" = "live $2" ]; }
paths() { ls -d /sys/block/nvme*c*n1 2>/dev/null | wc -l; }

step "kernel $(uname -r)"
mp=$(cat /sys/module/nvme_core/parameters/multipath 2>/dev/null)
if [ "$mp" = Y ]; then
	ok "native NVMe multipath is on (nvme_core.multipath=Y)"
else
	bad "native NVMe multipath is off (nvme_core.multipath=${mp:-absent})"
	exit 1
fi
# libaio rather than io_uring: 6.1's io_uring can complete a write with the
# block layer's -EAGAIN instead of reissuing it when the multipath device
# resubmits a nowait bio from its requeue work (seen at the gateway group's
# failback, while no path is optimized for a moment); libaio never asks for
# nowait.
FIO_ENGINE=libaio
fio --name=probe --filename=/dev/null --size=4k --bs=4k --rw=read --ioengine=libaio --iodepth=2 \
	--output=/dev/null >/dev/null 2>&1 || FIO_ENGINE=$(fio_engine)
export FIO_ENGINE
echo "    fio engine: $FIO_ENGINE"

for port in "$PORT_A" "$PORT_B"; do
	step "nvme connect -a $ADDR -s $port -n $NQN"
	if ! nvme connect -t tcp -a "$ADDR" -s "$port" -n "$NQN" --nr-io-queues=2 \
		--ctrl-loss-tmo="${CTRL_LOSS_TMO:-300}" --reconnect-delay=2 >/tmp/conn.out 2>&1; then
		bad "connect to port $port: $(cat /tmp/conn.out)"
		dmesg_new
		exit 1
	fi
done
if ! DEV=$(wait_ns_dev "$NQN"); then
	bad "no namespace device appeared"
	dmesg_new
	exit 1
fi
wait_until 10 sh -c "[ \$(ls -d /sys/block/nvme*c*n1 2>/dev/null | wc -l) = 2 ]"
check "one multipath device $DEV over two paths" [ "$(paths)" = 2 ]
check "only one namespace block device (the paths are merged)" \
	[ "$(ls /dev/nvme*n1 2>/dev/null | grep -c 'nvme[0-9]*n1$')" = 1 ]
check "path through A ($PORT_A) is optimized" ana_is "$PORT_A" optimized
check "path through B ($PORT_B) is inaccessible" ana_is "$PORT_B" inaccessible
nvme list-subsys "$DEV" >/tmp/ls.out 2>&1
sed 's/^/    /' /tmp/ls.out
check "nvme list-subsys shows both paths" [ "$(grep -c "trsvcid=" /tmp/ls.out)" = 2 ]
check "nvme list-subsys shows the optimized and the inaccessible path" \
	sh -c "grep 'trsvcid=$PORT_A' /tmp/ls.out | grep -q optimized && grep 'trsvcid=$PORT_B' /tmp/ls.out | grep -q inaccessible"
dmesg_new

fio_loop_start "$DEV"
wait_until 10 pidof fio || bad "fio did not start"
# One pass before the kill gives the latency of the steady state.
wait_until "$WAIT" sh -c "[ \$(grep -c . /tmp/fio-results 2>/dev/null) -ge 1 ]" || bad "no fio pass ended"
t_run=$(uptime_s)
fio_loop_wait_io "$WAIT" || bad "no I/O after the first pass"
echo "MARK fio-running"

step "waiting for B to become optimized (A is killed)"
if wait_until "$WAIT" ana_is "$PORT_B" optimized; then
	ok "path through B is optimized after the ANA change event (guest uptime $(uptime_s)s)"
else
	bad "path through B is $(path_of "$PORT_B") after ${WAIT}s"
	dmesg_new
fi
fio_loop_wait_passes "$WAIT" 2 || bad "fio made no progress after the failover"
t_fo=$(uptime_s)
fio_loop_wait_io "$WAIT" || bad "no I/O after the failover"
echo "MARK failed-over"

step "waiting for A to come back optimized (A is restarted)"
if wait_until "$WAIT" ana_is "$PORT_A" optimized; then
	echo "MARK failed-back"
	ok "path through A is live and optimized again (guest uptime $(uptime_s)s)"
else
	bad "path through A is $(path_of "$PORT_A") after ${WAIT}s"
	dmesg_new
fi
if wait_until "$WAIT" ana_is "$PORT_B" "$B_FINAL"; then
	ok "path through B is $B_FINAL again"
else
	bad "path through B is $(path_of "$PORT_B") after ${WAIT}s, want $B_FINAL"
fi
# The pass running now spans the failback; one more runs on A alone.
fio_loop_wait_passes "$WAIT" 1 || bad "fio made no progress after the failback"
t_fb=$(uptime_s)
fio_loop_wait_passes "$WAIT" 1 || bad "fio made no progress after the failback"
fio_loop_stop
passes=$(grep -c '^pass' /tmp/fio-results 2>/dev/null)
fails=$(grep -c '^fail' /tmp/fio-results 2>/dev/null)
echo "    fio loop: ${passes:-0} verified passes, ${fails:-0} failed"
sed 's/^/    fio pass: /' /tmp/fio-results
if [ "${passes:-0}" -ge 5 ] && [ "${fails:-0}" = 0 ]; then
	ok "fio write+verify through failover and failback: no I/O error, data verified"
else
	bad "fio through failover and failback: ${passes:-0} passes, ${fails:-0} failures"
fi
nvme list-subsys "$DEV" >/tmp/ls2.out 2>&1
sed 's/^/    /' /tmp/ls2.out
check "nvme list-subsys shows A optimized and B $B_FINAL again" \
	sh -c "grep 'trsvcid=$PORT_A' /tmp/ls2.out | grep -q ' optimized' && grep 'trsvcid=$PORT_B' /tmp/ls2.out | grep -q ' $B_FINAL'"
dmesg_new
gap_fo=$(fio_loop_max_lat "$t_run" "$t_fo")
echo "GAPS baseline=$(fio_loop_max_lat 0 "$t_run") failover=$gap_fo failback=$(fio_loop_max_lat "$t_fo" "$t_fb")"
check "the failover's I/O gap ($gap_fo ms) is under 30 s" sh -c "[ '$gap_fo' -ge 0 ] && [ '$gap_fo' -lt 30000 ]"
nvme disconnect -n "$NQN" >/dev/null 2>&1
echo "MARK done"
[ "$checks_failed" = 0 ]
