#!/bin/bash
# Live reconfiguration of our target while the Linux kernel host (a qemu
# guest, see the interop harness's README) is connected to it, driven from
# this machine with `nvmeof target`:
#   - a namespace added with add-ns appears on the host (lsblk/sysfs),
#   - removed with remove-ns, it disappears,
#   - a fio write+verify loop on another namespace runs through both changes
#     and loses nothing,
#   - remove-host disconnects the host, which can no longer connect; the
#     refusals are counted in the target's stats.
# The guest script (tests/interop/guest/live-reconfig.sh) prints "MARK name"
# lines when it is ready for the next change; this script watches its output
# and makes the change.
#
#   usage: tests/interop/target-live-reconfig.sh [BUILD]   (BUILD: build)
#
# Needs root and the harness (INTEROP_DIR, else ../shared/interop beside the
# repo, else /work/shared/interop); exit status 77 means skipped. The last
# line is "N passed, N failed".
set -u
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=lib-guest.sh
. "$(dirname "$0")/lib-guest.sh"
use_build "${1:-}"

if [ "$(id -u)" != 0 ]; then
	echo "live-reconfig: skipped: needs root (the harness installs qemu with apt-get)"
	exit 77
fi
if ! interop=$(find_interop); then
	echo "live-reconfig: skipped: no interop harness"
	exit 77
fi
for b in "$TGT" "$CLI"; do
	[ -x "$b" ] || { fail "$b not built"; finish; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-live.XXXXXX")
TPID=
GPID=
cleanup() {
	[ -n "$GPID" ] && kill "$GPID" 2>/dev/null && wait "$GPID" 2>/dev/null
	target_kill
	[ "${INTEROP_KEEP:-0}" = 1 ] && echo "live-reconfig: kept $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! bash "$interop/setup" >"$work/setup.log" 2>&1; then
	cat "$work/setup.log"
	fail "interop harness setup"
	finish
fi

PORT=$(python3 -c '
import random, socket
for _ in range(500):
    p = random.randint(16000, 16999)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break')
NQN=nqn.2014-08.org.nvmexpress.test:live-reconfig
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:$(cat /proc/sys/kernel/random/uuid)
SOCK=$work/target.sock
LOG=$work/target.log
OUT=$work/guest.out
tcli() { "$CLI" target --rpc-socket "$SOCK" "$@"; }

echo "=== target on 127.0.0.1:$PORT, subsystem $NQN, host $HOSTNQN"
"$TGT" --addr 127.0.0.1 --port "$PORT" --disc-port 0 --nqn "$NQN" --ram-size 64M \
	--rpc-socket "$SOCK" --log-level info >"$LOG" 2>&1 &
TPID=$!
target_wait_ready "$SOCK"

# Only this guest's host NQN may connect.
if tcli set-allow-any-host "$NQN" off && tcli add-host "$NQN" "$HOSTNQN"; then
	pass "subsystem restricted to the guest's host NQN"
else
	fail "restrict the subsystem to the guest's host NQN"
fi

echo "=== guest (its output follows)"
guest_start "$OUT" tests/interop/guest/live-reconfig.sh \
	NQN="$NQN" TARGET_PORT="$PORT" HOSTNQN="$HOSTNQN" ${FIO_SIZE:+FIO_SIZE="$FIO_SIZE"}

# ctrls: controllers of the subsystem (from list --json), or -1.
ctrls() {
	tcli list --json 2>/dev/null | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(sum(len(s['controllers']) for s in d['subsystems'] if s['nqn'] == '$NQN'))" 2>/dev/null || echo -1
}

if wait_mark connected; then
	n=$(ctrls)
	[ "$n" = 1 ] && pass "target lists the guest's controller" || fail "target lists $n controllers, want 1"
	if nsid=$(tcli add-ns "$NQN" --ram 32M --nsid 2) && [ "$nsid" = 2 ]; then
		pass "add-ns namespace 2 while the guest is connected"
	else
		fail "add-ns namespace 2"
	fi
else
	fail "guest never reported it was connected"
fi

if wait_mark ns2-seen; then
	tcli remove-ns "$NQN" 2 && pass "remove-ns namespace 2 while the guest uses namespace 1" ||
		fail "remove-ns namespace 2"
else
	fail "guest never got to namespace 2"
fi

if wait_mark remove-host; then
	tcli remove-host "$NQN" "$HOSTNQN" && pass "remove-host of the connected guest" ||
		fail "remove-host"
	for _ in $(seq 1 50); do
		[ "$(ctrls)" = 0 ] && break
		sleep 0.2
	done
	[ "$(ctrls)" = 0 ] && pass "the guest's controller is gone from the target" ||
		fail "the target still lists $(ctrls) controllers after remove-host"
else
	fail "guest never got to the host removal"
fi

guest_finish

refused=$(tcli stats --json 2>/dev/null | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(sum(h.get('refused', 0) for h in d['hosts'] if h['nqn'] == '$HOSTNQN'))" 2>/dev/null)
[ "${refused:-0}" -ge 1 ] 2>/dev/null && pass "target counted $refused refused connects of the removed host" ||
	fail "no refused connect counted for the removed host (${refused:-none})"
grep -F "$HOSTNQN" "$LOG" | grep -qiE 'refus|not allowed|denied' &&
	pass "the refusal is in the target's log" || fail "no refusal in the target's log"

target_stop_check
target_log_if_failed 'error|warn' 40
finish
