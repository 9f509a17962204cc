#!/bin/sh
# Guest script (kernel-host): access control and persistence of a file
# namespace across a target restart.
#   1. an unlisted host NQN is refused (nvme connect fails, no controller)
#   2. the listed host connects, writes a known pattern (O_DIRECT + fsync)
#      at two offsets and reads it back, disconnects
#   3. asks the host side to restart the target ("@@RESTART-TARGET@@"),
#      waits to see it gone ("@@TARGET-DOWN-SEEN@@") and back
#   4. reconnects and reads the pattern back at both offsets
# Environment: TARGET_ADDR, TARGET_PORT, DISC_PORT, NQN, HOSTNQN_OK,
# HOSTNQN_BAD; /interop/files/pattern.bin is the pattern.
set -u
. /interop/files/lib.sh

ADDR=${TARGET_ADDR:-10.0.2.2}
PORT=${TARGET_PORT:-4420}
DISC_PORT=${DISC_PORT:-8009}
PATTERN=/interop/files/pattern.bin
PAT_MIB=$(($(wc -c <"$PATTERN") / 1048576))
FAR_MIB=${FAR_MIB:-512} # second copy, far into the (sparse) file

step "kernel $(uname -r); pattern $PAT_MIB MiB"
want=$(sha256sum <"$PATTERN" | cut -d' ' -f1)
# The kernel keeps one host NQN per hostid: use the listed NQN as this
# machine's identity, and pass the other one explicitly.
echo "$HOSTNQN_OK" >/etc/nvme/hostnqn

# ------------------------------------------------------ 1. access control
step "nvme connect as unlisted host $HOSTNQN_BAD must fail"
if nvme connect -t tcp -a "$ADDR" -s "$PORT" -n "$NQN" --hostnqn="$HOSTNQN_BAD" >/tmp/bad.out 2>&1; then
	bad "unlisted host was admitted: $(cat /tmp/bad.out)"
	nvme disconnect -n "$NQN" >/dev/null 2>&1
else
	echo "    nvme connect said: $(head -n 2 /tmp/bad.out)"
	dmesg_new
	if [ -z "$(ctrl_of "$NQN")" ]; then
		ok "unlisted host refused, no controller created"
	else
		bad "connect failed but a controller exists"
	fi
fi

step "discovery as the listed host"
if nvme discover -t tcp -a "$ADDR" -s "$DISC_PORT" --hostnqn="$HOSTNQN_OK" >/tmp/disc.out 2>&1; then
	check "discovery log lists $NQN for the listed host" grep -q "subnqn: *$NQN\$" /tmp/disc.out
else
	bad "nvme discover: $(cat /tmp/disc.out)"
fi

connect_ok() {
	if nvme connect -t tcp -a "$ADDR" -s "$PORT" -n "$NQN" --hostnqn="$HOSTNQN_OK" \
		--nr-io-queues=2 "$@" >/tmp/conn.out 2>&1 && DEV=$(wait_ns_dev "$NQN"); then
		return 0
	fi
	echo "    connect: $(cat /tmp/conn.out)"
	dmesg_new
	return 1
}

read_back() { # $1 = MiB offset; prints the sha256 of PAT_MIB MiB there
	dd if="$DEV" bs=1M skip="$1" count="$PAT_MIB" iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1
}

# ---------------------------------------------------- 2. write the pattern
step "connect as the listed host and write the pattern"
if connect_ok; then
	ok "listed host connected ($DEV)"
	if dd if="$PATTERN" of="$DEV" bs=1M oflag=direct conv=fsync 2>/tmp/dd.err &&
		dd if="$PATTERN" of="$DEV" bs=1M seek="$FAR_MIB" oflag=direct conv=fsync 2>>/tmp/dd.err; then
		sync
		ok "pattern written at 0 and ${FAR_MIB} MiB (O_DIRECT, fsync)"
	else
		bad "dd write: $(cat /tmp/dd.err)"
	fi
	check "pattern reads back before the restart" test "$(read_back 0)" = "$want"
	nvme disconnect -n "$NQN" >/dev/null 2>&1
	wait_gone "$NQN" || bad "controller still there after disconnect"
else
	bad "listed host could not connect"
fi

# ----------------------------------------------------- 3. target restart
step "waiting for the target to restart"
echo "@@RESTART-TARGET@@"
i=0
down=0
while [ $i -lt 120 ]; do
	if ! nvme discover -t tcp -a "$ADDR" -s "$DISC_PORT" --hostnqn="$HOSTNQN_OK" >/dev/null 2>&1; then
		down=1
		break
	fi
	sleep 0.5
	i=$((i + 1))
done
if [ $down = 1 ]; then
	echo "@@TARGET-DOWN-SEEN@@"
	ok "target went away"
else
	bad "target never went away"
fi
i=0
up=0
while [ $i -lt 120 ]; do
	if nvme discover -t tcp -a "$ADDR" -s "$DISC_PORT" --hostnqn="$HOSTNQN_OK" >/tmp/disc.out 2>&1 &&
		grep -q "subnqn: *$NQN\$" /tmp/disc.out; then
		up=1
		break
	fi
	sleep 0.5
	i=$((i + 1))
done
[ $up = 1 ] && ok "target is back" || bad "target did not come back"

# ------------------------------------------------------- 4. read it back
step "reconnect and read the pattern back"
if connect_ok --hdr-digest; then
	got0=$(read_back 0)
	got1=$(read_back "$FAR_MIB")
	echo "    sha256 want $want"
	echo "    sha256 at 0: $got0, at ${FAR_MIB} MiB: $got1"
	check "data at offset 0 survived the restart" test "$got0" = "$want"
	check "data at ${FAR_MIB} MiB survived the restart" test "$got1" = "$want"
	nvme disconnect -n "$NQN" >/dev/null 2>&1
	wait_gone "$NQN" || bad "controller still there after the last disconnect"
else
	bad "listed host could not reconnect after the restart"
fi

step "done: $checks_failed failed checks"
dmesg_new
[ "$checks_failed" = 0 ]
