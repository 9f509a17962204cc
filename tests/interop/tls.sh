#!/bin/bash
# NVMe/TCP TLS 1.3 (PSK) between the Linux 6.12 kernel host (a qemu guest
# with tlshd, see the interop harness's README, "TLS and DH-HMAC-CHAP") and
# our target. One guest run of the harness's nvme-host-check.sh with TLS=1
# CHECKS=full against a port with tsas tls1.3 / treq required proves:
#   - nvme discover --tls works and shows sectype tls13, treq required,
#   - a connect without --tls is refused,
#   - a connect with a wrong PSK under a version 0 identity is refused,
#   - nvme connect --tls (the kernel picks the version 1 identity) connects,
#     and fio writes and verifies data over TLS.
# A second guest run has only the version 0 identity in its keyring
# (guest/tls-v0.sh): connect and fio verify with that one.
# The target's log must show each refusal with its reason and the TLS
# sessions with their identities.
#
#   usage: tests/interop/tls.sh [BUILD]   (BUILD: build)
#
# Needs root and the harness (INTEROP_DIR, else ../shared/interop beside the
# repo, else /work/shared/interop) with the trixie guest (6.12, tlshd); exit
# status 77 means skipped. The last line is "N passed, N failed".
set -u
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
use_build "${1:-}"

if [ "$(id -u)" != 0 ]; then
	echo "tls: skipped: needs root (the harness installs qemu with apt-get)"
	exit 77
fi
if ! interop=$(find_interop); then
	echo "tls: skipped: no interop harness"
	exit 77
fi
for b in "$TGT" "$CLI"; do
	[ -x "$b" ] || { fail "$b not built"; finish; }
done
export INTEROP_KERNEL_SUITE=${INTEROP_KERNEL_SUITE:-trixie} INTEROP_GUEST_TOOLS=${INTEROP_GUEST_TOOLS:-trixie}

work=$(mktemp -d "${TMPDIR:-/tmp}/nvmeof-tls.XXXXXX")
TPID=
cleanup() {
	target_kill
	[ "${INTEROP_KEEP:-0}" = 1 ] && echo "tls: kept $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! bash "$interop/setup" >"$work/setup.log" 2>&1; then
	cat "$work/setup.log"
	fail "interop harness setup (INTEROP_KERNEL_SUITE=$INTEROP_KERNEL_SUITE)"
	finish
fi

free_ports() { # two free ports on 127.0.0.1
	python3 -c '
import random, socket
got = []
while len(got) < 2:
    p = random.randint(17000, 17999)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        got.append(p)
    except OSError:
        pass
    finally:
        s.close()
print(*got)'
}
read -r PLAIN_PORT TLS_PORT < <(free_ports)
NQN=nqn.2014-08.org.nvmexpress.test:tls
HOSTNQN=nqn.2014-08.org.nvmexpress:uuid:$(cat /proc/sys/kernel/random/uuid)
# A configured PSK in the interchange format (HH 01: 32 bytes, CRC-32 LE).
KEY=$(python3 -c '
import base64, os, struct, zlib
k = os.urandom(32)
print("NVMeTLSkey-1:01:" + base64.b64encode(k + struct.pack("<I", zlib.crc32(k))).decode() + ":")')
SOCK=$work/target.sock
LOG=$work/target.log
OUT=$work/guest.out
tcli() { "$CLI" target --rpc-socket "$SOCK" "$@"; }

echo "=== target: plain port $PLAIN_PORT, TLS port $TLS_PORT, subsystem $NQN, host $HOSTNQN"
"$TGT" --addr 127.0.0.1 --port "$PLAIN_PORT" --disc-port 0 --nqn "$NQN" --ram-size 64M \
	--rpc-socket "$SOCK" --log-level info >"$LOG" 2>&1 &
TPID=$!
target_wait_ready "$SOCK"

if tcli set-allow-any-host "$NQN" off && tcli add-host "$NQN" "$HOSTNQN" --tls-key "$KEY" &&
	tcli add-port --traddr 127.0.0.1 --trsvcid "$TLS_PORT" --tsas tls1.3 --treq required \
		--subsystem "$NQN" >/dev/null; then
	pass "TLS port and the host's PSK set up with nvmeof target"
else
	fail "set up the TLS port and the host's PSK"
	finish
fi
tcli list | grep -q "127.0.0.1:$TLS_PORT  tls1.3 treq required" &&
	pass "target list shows the port's tls1.3 / treq required" || fail "target list lacks the TLS settings"
if tcli list --json | grep -q "NVMeTLSkey"; then
	fail "the PSK appears in the target's snapshot"
else
	pass "the PSK is not in the target's snapshot"
fi

echo "=== guest (its output follows)"
rc=0
INTEROP_TIMEOUT=${INTEROP_TIMEOUT:-900} kernel_host_with_retry bash "$interop/kernel-host" \
	NQN="$NQN" HOSTNQN="$HOSTNQN" TARGET_PORT="$TLS_PORT" TLS=1 TLS_KEY="$KEY" CHECKS=full \
	"$interop/tests/nvme-host-check.sh" >"$OUT" 2>&1 || rc=$?
sed 's/^/  guest| /' "$OUT"
case $rc in
0) pass "kernel host: discover --tls, plain and wrong-PSK connects refused, TLS connect + fio verify" ;;
124) fail "guest timed out (INTEROP_TIMEOUT)" ;;
125) fail "guest or harness failure" ;;
*) fail "guest check script exited with status $rc" ;;
esac

grep -q "sectype: *tls13" "$OUT" && pass "discovery log: sectype tls13" || fail "discovery log lacks sectype tls13"
grep -q "treq: *required" "$OUT" && pass "discovery log: treq required" || fail "discovery log lacks treq required"
grep -q "refused as expected" "$OUT" && [ "$(grep -c 'refused as expected' "$OUT")" -ge 2 ] &&
	pass "both refusals seen by the host" || fail "the host did not see both refusals"
grep -q "plain NVMe/TCP (first byte 0) on a port that requires TLS" "$LOG" &&
	pass "target logged the plain connect's refusal" || fail "no refusal of the plain connect in the target's log"
grep -q "TLS handshake failed: .*identity NVMe0R01 $HOSTNQN $NQN" "$LOG" &&
	pass "target logged the wrong PSK's handshake failure with the identity" ||
	fail "no handshake failure for the wrong PSK in the target's log"
grep -q "TLS 1.3 established (TLS_AES_128_GCM_SHA256), identity NVMe1R01 $HOSTNQN $NQN " "$LOG" &&
	pass "kernel host used the version 1 identity" || fail "no TLS session with a version 1 identity"
grep -q "TLS 1.3 established .*identity NVMe1R01 $HOSTNQN nqn.2014-08.org.nvmexpress.discovery" "$LOG" &&
	pass "discovery ran over TLS" || fail "no TLS session for the discovery NQN"
echo "=== guest with only the version 0 identity (its output follows)"
rc=0
INTEROP_TIMEOUT=${INTEROP_TIMEOUT:-900} kernel_host_with_retry bash "$interop/kernel-host" -f tests/interop/guest/lib.sh \
	NQN="$NQN" HOSTNQN="$HOSTNQN" TARGET_PORT="$TLS_PORT" TLS_KEY="$KEY" \
	tests/interop/guest/tls-v0.sh >"$OUT" 2>&1 || rc=$?
sed 's/^/  guest| /' "$OUT"
n=$(grep -c 'CHECK ok:' "$OUT")
passed=$((passed + n))
n=$(grep -c 'CHECK FAIL:' "$OUT")
failed=$((failed + n))
[ "$rc" = 0 ] || fail "version 0 guest script exited with status $rc"
grep -q "TLS 1.3 established (TLS_AES_128_GCM_SHA256), identity NVMe0R01 $HOSTNQN $NQN\$" "$LOG" &&
	pass "kernel host used the version 0 identity" || fail "no TLS session with a version 0 identity"

if grep -F "${KEY#NVMeTLSkey-1:01:}" "$LOG" >/dev/null; then
	fail "the PSK appears in the target's log"
else
	pass "the PSK is not in the target's log"
fi

target_stop_check
target_log_if_failed 'error|warn|tls' 40
finish
