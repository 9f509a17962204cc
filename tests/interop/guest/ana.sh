#!/bin/sh
# Guest script (kernel-host) for tests/interop/target-ana.sh and
# target-gateway-group.sh (B made optimized by its gateway group): the Linux host
# connects to two target instances exporting one subsystem (ANA group 1
# optimized on A, inaccessible on B), native multipath merges them into one
# namespace, and a fio write+verify loop runs while A dies and B is made
# optimized. Pacing with the host side through "MARK name" lines:
#
#   MARK fio-running  both paths up, fio loop running
#                     -> the host SIGKILLs A, then sets group 1 optimized on B
#   MARK done         B's path optimized, the loop stopped and checked
#
# Environment: TARGET_ADDR, PORT_A, PORT_B, NQN, CHANGE_TIMEOUT (default 120).
set -u
. /interop/files/lib.sh

ADDR=${TARGET_ADDR:-10.0.2.2}
NQN=${NQN:?NQN is required}
WAIT=${CHANGE_TIMEOUT:-120}

# wait_until SECONDS COMMAND...: poll COMMAND every 0.2 s.
wait_until() {
	limit=$(($1 * 5))
	shift
	n=0
	while [ $n -lt $limit ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		n=$((n + 1))
	done
	return 1
}

# ana_of PORT: the ANA state of the path through the controller connected to PORT.
ana_of() {
	for p in /sys/block/nvme*c*n1; do
		[ -e "$p/ana_state" ] || continue
		c=nvme$(echo "${p##*/}" | sed 's/^nvme[0-9]*c\([0-9]*\)n.*/\1/')
		grep -q "trsvcid=$1\(,\|$\)" "/sys/class/nvme/$c/address" 2>/dev/null && cat "$p/ana_state" && return 0
	done
	return 1
}
ana_is() { [ "$(ana_of "$1")" = "$2" ]; }
paths() { ls -d /sys/block/nvme*c*n1 2>/dev/null | wc -l; }

step "kernel $(uname -r)"
mp=$(cat /sys/module/nvme_core/parameters/multipath 2>/dev/null)
if [ "$mp" = Y ]; then
	ok "native NVMe multipath is on (nvme_core.multipath=Y)"
else
	bad "native NVMe multipath is off (nvme_core.multipath=${mp:-absent})"
	exit 1
fi
FIO_ENGINE=$(fio_engine)
export FIO_ENGINE

for port in "$PORT_A" "$PORT_B"; do
	step "nvme connect -a $ADDR -s $port -n $NQN"
	if ! nvme connect -t tcp -a "$ADDR" -s "$port" -n "$NQN" --nr-io-queues=2 \
		--ctrl-loss-tmo=15 --reconnect-delay=2 >/tmp/conn.out 2>&1; then
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

rm -f /tmp/stop-fio /tmp/fio-results
(
	i=0
	while [ ! -e /tmp/stop-fio ]; do
		i=$((i + 1))
		if fio_verify "loop$i" "$DEV" randwrite 4k "${FIO_SIZE:-8M}" 4 0 >/tmp/fio-loop.log 2>&1; then
			echo "pass $i" >>/tmp/fio-results
		else
			echo "fail $i" >>/tmp/fio-results
			sed 's/^/    /' /tmp/fio-loop.log
		fi
	done
) &
fio_pid=$!
wait_until 10 pidof fio || bad "fio did not start"
sleep 2
echo "MARK fio-running"

step "waiting for B to become optimized (A is killed, then B is made optimized)"
if wait_until "$WAIT" ana_is "$PORT_B" optimized; then
	ok "path through B is optimized after the ANA change event"
else
	bad "path through B is $(ana_of "$PORT_B") after ${WAIT}s"
	dmesg_new
fi
# One more full pass on B alone, then stop.
done_before=$(grep -c . /tmp/fio-results 2>/dev/null)
wait_until "$WAIT" sh -c "[ \$(grep -c . /tmp/fio-results 2>/dev/null) -ge $((done_before + 2)) ]" ||
	bad "fio made no progress after the failover"
touch /tmp/stop-fio
wait "$fio_pid"
passes=$(grep -c '^pass' /tmp/fio-results 2>/dev/null)
fails=$(grep -c '^fail' /tmp/fio-results 2>/dev/null)
echo "    fio loop: ${passes:-0} verified passes, ${fails:-0} failed"
if [ "${passes:-0}" -ge 2 ] && [ "${fails:-0}" = 0 ]; then
	ok "fio write+verify through the failover: no I/O error, data verified"
else
	bad "fio through the failover: ${passes:-0} passes, ${fails:-0} failures"
fi
nvme list-subsys "$DEV" >/tmp/ls2.out 2>&1
sed 's/^/    /' /tmp/ls2.out
check "nvme list-subsys shows B optimized" sh -c "grep 'trsvcid=$PORT_B' /tmp/ls2.out | grep -q optimized"
dmesg_new
nvme disconnect -n "$NQN" >/dev/null 2>&1
echo "MARK done"
[ "$checks_failed" = 0 ]
