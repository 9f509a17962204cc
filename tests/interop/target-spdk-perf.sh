#!/bin/bash
# SPDK's NVMe/TCP client against our target: spdk_nvme_perf (SPDK v24.01, the
# peer in ../shared/peers/spdk, see its README) runs short workloads against
# nvmeof-target on its embedded default (RAM namespace, subsystem
# nqn.2026-01.io.nvmeof:ramdisk, 127.0.0.1:4420):
#   - 4 KiB randread QD32, 4 KiB randwrite QD16 and 128 KiB read QD8 each
#     complete with IOPS > 0 and no error,
#   - without a host NQN: SPDK's client sends an empty one unless told
#     otherwise, and a subsystem that allows any host admits it; the target's
#     log says so.
# Everything runs in a private network namespace (no port collides with
# anything else on the machine).
#
#   usage: tests/interop/target-spdk-perf.sh [BUILD]   (BUILD: build)
#
#   SPDK_PEER           the peer's directory (default: ../shared/peers/spdk
#                       beside the repository, else /work/shared/peers/spdk)
#   SPDK_PERF_SECONDS   length of each run (default 2)
#
# Needs root (network namespace, hugepages). The peer's scripts reserve 2 MiB
# hugepages (HUGEPAGES, here 256 by default); what this test added is given
# back at the end if nothing else uses it. Exit status 77 means skipped. The
# last line is "N passed, N failed".
set -u
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
use_build "${1:-}"
NQN=nqn.2026-01.io.nvmeof:ramdisk
SECS=${SPDK_PERF_SECONDS:-2}

if [ "$(id -u)" != 0 ]; then
	echo "spdk-perf: skipped: needs root (network namespace, hugepages)"
	exit 77
fi
peer=
for d in "${SPDK_PEER:-}" "$repo/../shared/peers/spdk" /work/shared/peers/spdk; do
	[ -n "$d" ] && [ -x "$d/perf" ] && [ -x "$d/bin/spdk_nvme_perf" ] && { peer=$(cd "$d" && pwd); break; }
done
if [ -z "$peer" ]; then
	echo "spdk-perf: skipped: no SPDK peer (SPDK_PEER, ../shared/peers/spdk)"
	exit 77
fi
[ -x "$TGT" ] || { fail "$TGT not built"; finish; }

# Run the rest in a private network namespace with only a loopback.
if [ -z "${SPDK_PERF_NETNS:-}" ]; then
	if ! unshare -n true 2>/dev/null; then
		echo "spdk-perf: skipped: cannot create a network namespace (unshare -n)"
		exit 77
	fi
	export SPDK_PERF_NETNS=1
	exec unshare -n bash "$repo/tests/interop/${0##*/}" "$@"
fi
ip link set lo up || { fail "loopback up in the network namespace"; finish; }

work=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-spdk-perf.XXXXXX")
export RUN_DIR=$work/spdk # the peer's logs, not its shared /tmp/spdk-peer
export HUGEPAGES=${HUGEPAGES:-256}
hp_before=$(cat /proc/sys/vm/nr_hugepages)
hp_mounted=0
mountpoint -q /dev/hugepages && hp_mounted=1
dpdk_before=" $(ls /var/run/dpdk 2>/dev/null | tr '\n' ' ') "
LOG=$work/target.log
TPID=

# Give back the pages the peer's scripts reserved for us, unless someone
# changed the reservation meanwhile or holds some of it.
hugepages_restore() {
	local now total free
	now=$(cat /proc/sys/vm/nr_hugepages)
	[ "$now" -gt "$hp_before" ] && [ "$now" = "$HUGEPAGES" ] || return 0
	total=$(awk '/^HugePages_Total/ { print $2 }' /proc/meminfo)
	free=$(awk '/^HugePages_Free/ { print $2 }' /proc/meminfo)
	if [ "$total" = "$free" ]; then
		echo "$hp_before" >/proc/sys/vm/nr_hugepages
	else
		echo "spdk-perf: $((total - free)) hugepages in use, leaving nr_hugepages at $now"
	fi
}

# The client's own leftovers: the hugetlbfs mount if it made one and nothing
# is in it, and the runtime directories of its (finished) processes.
spdk_leftovers() {
	local d pid
	if [ "$hp_mounted" = 0 ] && mountpoint -q /dev/hugepages && [ -z "$(ls -A /dev/hugepages)" ]; then
		umount /dev/hugepages
	fi
	for d in /var/run/dpdk/spdk_pid*; do
		[ -d "$d" ] || continue
		[[ $dpdk_before == *" ${d##*/} "* ]] && continue
		pid=${d##*spdk_pid}
		kill -0 "$pid" 2>/dev/null || rm -rf "$d"
	done
}

cleanup() {
	target_kill
	hugepages_restore
	spdk_leftovers
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "=== target: embedded default on 127.0.0.1:4420 ($NQN), private network namespace"
"$TGT" --rpc-socket "$work/target.sock" --ram-size 256M --log-level info >"$LOG" 2>&1 &
TPID=$!
target_wait_ready

# spdk_perf NAME QD IOSIZE WORKLOAD: one run of the peer's client, no host NQN.
spdk_perf() {
	local name=$1 out rc iops
	shift
	rc=0
	out=$(env -u HOSTNQN timeout -k 10 $((SECS + 60)) "$peer/perf" "$@" "$SECS" 4420 "$NQN" 2>/dev/null) || rc=$?
	echo "  $name: ${out:-no output}"
	iops=$(sed -n 's/.*iops=\([0-9.]*\).*/\1/p' <<<"$out" | head -n 1)
	if [ "$rc" != 0 ] || [ -z "$iops" ]; then
		fail "$name (exit $rc)"
		grep -F '*ERROR*' "$RUN_DIR/perf.log" 2>/dev/null | head -n 3 | sed 's/^/    /'
		return
	fi
	if ! awk -v v="$iops" 'BEGIN { exit !(v > 0) }'; then
		fail "$name: no I/O completed (iops=$iops)"
		return
	fi
	# I/O errors are printed by the client; the wrapper only parses the totals.
	if grep -iE 'error|fail' "$RUN_DIR/perf.log" | grep -v -i 'no error' | grep -q .; then
		fail "$name: the client reported errors"
		grep -iE 'error|fail' "$RUN_DIR/perf.log" | head -n 10 | sed 's/^/    /'
		return
	fi
	pass "$name: $iops IOPS, no errors"
}

echo "=== spdk_nvme_perf without a host NQN, ${SECS} s per run"
spdk_perf "4 KiB randread QD32" 32 4096 randread
spdk_perf "4 KiB randwrite QD16" 16 4096 randwrite
spdk_perf "128 KiB read QD8" 8 131072 read

if grep -iE 'admit' "$LOG" | grep -qiE 'without a host NQN|empty host NQN'; then
	pass "the target's log shows the admission of an empty host NQN"
	grep -iE 'admit' "$LOG" | grep -iE 'without a host NQN|empty host NQN' | head -n 1 | sed 's/^/    /'
else
	fail "no admission of an empty host NQN in the target's log"
fi

target_stop_check
target_log_if_failed 'error|warn|refus' 20
finish
