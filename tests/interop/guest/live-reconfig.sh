#!/bin/sh
# Guest script (kernel-host) for tests/interop/target-live-reconfig.sh: the
# Linux host stays connected while the target is reconfigured from outside.
# The two sides pace each other with "MARK name" lines: this script prints a
# mark when it is ready for the next change and then waits (bounded) for the
# change to become visible here.
#
#   MARK connected    connected, fio verify loop running on namespace 1
#                     -> the target adds namespace 2
#   MARK ns2-seen     namespace 2 appeared and did I/O
#                     -> the target removes namespace 2
#   MARK remove-host  namespace 2 is gone, fio stopped and checked
#                     -> the target removes this host from the subsystem
#   MARK done         the controller went away and a new connect is refused
#
# Environment: TARGET_ADDR, TARGET_PORT, NQN, HOSTNQN (this host's NQN, which
# the target allows), CHANGE_TIMEOUT (seconds per wait, default 90).
set -u
. /interop/files/lib.sh

ADDR=${TARGET_ADDR:-10.0.2.2}
PORT=${TARGET_PORT:-4420}
NQN=${NQN:?NQN is required}
[ -z "${HOSTNQN:-}" ] || echo "$HOSTNQN" >/etc/nvme/hostnqn
HOSTNQN=$(cat /etc/nvme/hostnqn)
WAIT=${CHANGE_TIMEOUT:-90}

# The block device of namespace $2 of subsystem $1, if present.
ns_dev() {
	for b in /sys/block/nvme*; do
		[ -e "$b/device/subsysnqn" ] && [ -b "/dev/${b##*/}" ] || continue
		[ "$(cat "$b/device/subsysnqn")" = "$1" ] || continue
		if [ "$(cat "$b/nsid" 2>/dev/null)" = "$2" ]; then
			echo "/dev/${b##*/}"
			return 0
		fi
	done
	return 1
}

no_ns() { ! ns_dev "$1" "$2" >/dev/null; }
ctrl_gone() {
	for c in /sys/class/nvme/nvme*; do
		[ -e "$c/subsysnqn" ] && [ "$(cat "$c/subsysnqn")" = "$1" ] && return 1
	done
	return 0
}

step "kernel $(uname -r), host $HOSTNQN"
FIO_ENGINE=$(fio_engine)
export FIO_ENGINE

# Short loss timeout: once the target drops us for good, the controller is
# deleted within seconds instead of the default ten minutes.
step "nvme connect -a $ADDR -s $PORT -n $NQN"
if ! nvme connect -t tcp -a "$ADDR" -s "$PORT" -n "$NQN" --hostnqn="$HOSTNQN" --nr-io-queues=2 \
	--ctrl-loss-tmo=5 --reconnect-delay=1 >/tmp/conn.out 2>&1; then
	bad "connect: $(cat /tmp/conn.out)"
	dmesg_new
	exit 1
fi
if ! wait_until 10 ns_dev "$NQN" 1; then
	bad "connect: namespace 1 did not appear"
	dmesg_new
	exit 1
fi
DEV1=$(ns_dev "$NQN" 1)
ok "connected, namespace 1 is $DEV1"

# fio write+verify passes on namespace 1, back to back, for as long as the
# namespace changes go on; each pass verifies every block it wrote.
fio_loop_start "$DEV1"
wait_until 10 pidof fio || bad "fio did not start"

echo "MARK connected"
step "waiting for namespace 2 to appear"
if wait_until "$WAIT" ns_dev "$NQN" 2; then
	DEV2=$(ns_dev "$NQN" 2)
	ok "namespace 2 appeared live as $DEV2 (Namespace Attribute Changed AEN)"
	check "fio on namespace 1 was running when namespace 2 appeared" sh -c "pidof fio >/dev/null"
	dd if=/dev/urandom of=/tmp/pat bs=4096 count=16 2>/dev/null
	if dd if=/tmp/pat of="$DEV2" bs=4096 count=16 oflag=direct 2>/dev/null &&
		dd if="$DEV2" of=/tmp/back bs=4096 count=16 iflag=direct 2>/dev/null &&
		cmp -s /tmp/pat /tmp/back; then
		ok "namespace 2: 64 KiB written and read back"
	else
		bad "namespace 2: write/read back failed"
		dmesg_new
	fi
else
	bad "namespace 2 did not appear within ${WAIT}s"
	dmesg_new
fi

echo "MARK ns2-seen"
step "waiting for namespace 2 to disappear"
if wait_until "$WAIT" no_ns "$NQN" 2; then
	ok "namespace 2 disappeared live"
	check "fio on namespace 1 was running when namespace 2 disappeared" sh -c "pidof fio >/dev/null"
else
	bad "namespace 2 still present after ${WAIT}s"
	dmesg_new
fi
check "namespace 1 is still there" ns_dev "$NQN" 1

fio_loop_stop
passes=$(grep -c '^pass' /tmp/fio-results 2>/dev/null)
fails=$(grep -c '^fail' /tmp/fio-results 2>/dev/null)
echo "    fio loop on namespace 1: ${passes:-0} verified passes, ${fails:-0} failed"
if [ "${passes:-0}" -ge 1 ] && [ "${fails:-0}" = 0 ]; then
	ok "fio verify on namespace 1 lost nothing while namespace 2 came and went"
else
	bad "fio verify on namespace 1: ${passes:-0} passes, ${fails:-0} failures"
	dmesg_new
fi

echo "MARK remove-host"
step "waiting for the controller to go away (host removed from the subsystem)"
if wait_until "$WAIT" ctrl_gone "$NQN"; then
	ok "controller deleted after the host lost access"
else
	bad "controller still present ${WAIT}s after the host was removed"
fi
dmesg_new

step "a new connect must be refused"
if nvme connect -t tcp -a "$ADDR" -s "$PORT" -n "$NQN" --hostnqn="$HOSTNQN" \
	--ctrl-loss-tmo=1 >/tmp/conn2.out 2>&1; then
	bad "connect after host removal succeeded"
	nvme disconnect-all >/dev/null 2>&1
else
	ok "connect after host removal refused: $(head -n 1 /tmp/conn2.out)"
fi

echo "MARK done"
[ "$checks_failed" = 0 ]
