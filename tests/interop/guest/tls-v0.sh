#!/bin/sh
# Guest script for tests/interop/tls.sh: the kernel host over TLS with only
# a version 0 identity ("NVMe0R01 HOSTNQN NQN") in its keyring, so the
# target derives that PSK with the libnvme 1.13 label encoding; then a small
# fio write + verify. NQN, HOSTNQN, TLS_KEY, TARGET_ADDR, TARGET_PORT.
set -u
. /interop/files/lib.sh
echo "$HOSTNQN" >/etc/nvme/hostnqn

step "version 0 PSK only into .nvme"
check "insert the version 0 PSK" nvme check-tls-key --insert --keyring=.nvme --keytype=psk \
	--hostnqn="$HOSTNQN" --subsysnqn="$NQN" --identity=0 --keydata="$TLS_KEY"
step "nvme connect --tls"
if nvme connect -t tcp -a "$TARGET_ADDR" -s "$TARGET_PORT" -n "$NQN" --hostnqn="$HOSTNQN" --tls; then
	ok "connect over TLS with the version 0 identity"
	dev=
	for i in $(seq 1 50); do
		for b in /sys/block/nvme*; do
			[ -e "$b/device/subsysnqn" ] && [ -b "/dev/${b##*/}" ] || continue
			[ "$(cat "$b/device/subsysnqn")" = "$NQN" ] && dev=/dev/${b##*/}
		done
		[ -n "$dev" ] && break
		sleep 0.1
	done
	for c in /sys/class/nvme/nvme*; do
		[ "$(cat "$c/subsysnqn")" = "$NQN" ] || continue
		echo "TLS: ${c##*/} uses key '$(keyctl rdescribe "$((0x$(cat "$c/tls_key")))" | sed 's/^\([^;]*;\)\{4\}//')'"
	done
	check "fio write + verify over TLS (version 0)" fio --name=v0 --filename="$dev" --rw=write --bs=128k \
		--size=2M --ioengine=psync --direct=1 --verify=crc32c --do_verify=1 --verify_fatal=1 \
		--output=/dev/null
	nvme disconnect-all
else
	bad "connect over TLS with the version 0 identity"
	dmesg_new
fi
[ "$checks_failed" = 0 ]
