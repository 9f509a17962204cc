#!/bin/bash
# Our host (build/nvmeof) over TLS 1.3 (PSK) against the Linux 6.12 kernel
# NVMe/TCP target (nvmet-tcp + tlshd in a qemu guest, through
# ../shared/interop/kernel-target --tls; both ports require TLS):
#   - discover --tls on the discovery port (identity names the discovery
#     NQN); the log shows treq required and sectype tls13, text and JSON
#   - --tls-key: identity (version 1, and 0) and TLS PSK derived here;
#     id-ctrl, write then read back and compare, perf --verify on 2 queues
#   - --tls-key-identity: the kernel's identity with the TLS PSK it holds
#   - connections cut (ss -K) under perf --verify: reconnect with new handshakes
#   - a wrong PSK and a plain connect to the TLS port are refused promptly
# One guest boot runs all of them.
#
#   tests/interop/host-tls-vs-kernel-target.sh BUILD_DIR
#
# Needs root and the trixie (6.12) image of the harness; exit 77 = skipped.
set -u
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
INTEROP=${INTEROP_DIR:-$(cd "$HERE/../.." && pwd)/../shared/interop}
[ -x "$INTEROP/kernel-target" ] || INTEROP=/work/shared/interop
PORT=${HOST_TLS_INTEROP_PORT:-16430}
DISC_PORT=${HOST_TLS_INTEROP_DISC_PORT:-16019}
PROMPT_SECS=8 # a refusal must come well before the 10 s connect timeout

if [ "${2:-}" != "--inner" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "host-tls-vs-kernel-target: skipped: needs root (the harness runs qemu)"
		exit 77
	fi
	if [ ! -x "$INTEROP/kernel-target" ]; then
		echo "host-tls-vs-kernel-target: skipped: no interop harness"
		exit 77
	fi
	if [ ! -x "$BUILD/nvmeof" ]; then
		echo "host-tls-vs-kernel-target: $BUILD/nvmeof not built" >&2
		exit 1
	fi
	# TLS needs the 6.12 guest kernel and trixie's nvme-cli / tlshd.
	export INTEROP_KERNEL_SUITE=${INTEROP_KERNEL_SUITE:-trixie}
	export INTEROP_GUEST_TOOLS=${INTEROP_GUEST_TOOLS:-trixie}
	kernel_target_with_retry "$INTEROP/kernel-target" --tls --port "$PORT" --disc-port "$DISC_PORT" --size 64 -- \
		bash "$HERE/host-tls-vs-kernel-target.sh" "$BUILD" --inner
	exit $?
fi

# ---- inside: the kernel target requires TLS on $NVMET_PORT and $NVMET_DISC_PORT ----
NVMEOF="$BUILD/nvmeof"
HOSTID=()
case "$NVMET_HOSTNQN" in
*:uuid:*) HOSTID=(-I "${NVMET_HOSTNQN##*:uuid:}") ;; # the kernel pairs host ID and NQN
esac
CONN=(-t tcp -a "$NVMET_ADDR" -s "$NVMET_PORT" -n "$NVMET_NQN" --hostnqn "$NVMET_HOSTNQN" "${HOSTID[@]}")
TLS=(--tls-key "$NVMET_TLS_KEY")
TMP=$(mktemp -d)
on_exit 'rm -rf "$TMP"'
passed=0
failed=0
echo "host-tls: identity (v0) $NVMET_TLS_IDENTITY"

check() { # name, command...
	local name=$1
	shift
	local t0=$SECONDS rc
	run_bounded 180 "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
		printf 'PASS %-50s %ss\n' "$name" "$((SECONDS - t0))"
	else
		failed=$((failed + 1))
		printf 'FAIL %s (exit %s)\n' "$name" "$rc"
		sed 's/^/    /' "$TMP/out" "$TMP/err" | tail -20
	fi
}

disc_text() {
	"$NVMEOF" discover -t tcp -a "$NVMET_ADDR" -s "$NVMET_DISC_PORT" --hostnqn "$NVMET_HOSTNQN" \
		"${HOSTID[@]}" --tls "${TLS[@]}" >"$TMP/disc" || return 1
	cat "$TMP/disc"
	grep -q "^subnqn:  $NVMET_NQN\$" "$TMP/disc" &&
		grep -q '^treq:    required' "$TMP/disc" &&
		grep -q '^sectype: tls13$' "$TMP/disc"
}

disc_json() {
	"$NVMEOF" discover -t tcp -a "$NVMET_ADDR" -s "$NVMET_DISC_PORT" --hostnqn "$NVMET_HOSTNQN" \
		"${HOSTID[@]}" "${TLS[@]}" --output-format=json >"$TMP/disc.json" || return 1
	python3 - "$TMP/disc.json" "$NVMET_NQN" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert any(r["subnqn"] == sys.argv[2] and r["treq"].startswith("required") and
           r["sectype"] == "tls13" for r in d["records"]), d
PY
}

id_ctrl() {
	"$NVMEOF" id-ctrl "${CONN[@]}" "$@" >"$TMP/idc" || return 1
	grep -q "^subnqn    : $NVMET_NQN\$" "$TMP/idc"
}

write_read() { # bytes, lba, extra options...
	local bytes=$1 lba=$2
	shift 2
	head -c "$bytes" /dev/urandom >"$TMP/in"
	"$NVMEOF" write "${CONN[@]}" "$@" -S "$lba" -z "$bytes" -d "$TMP/in" || return 1
	"$NVMEOF" read "${CONN[@]}" "$@" -S "$lba" -z "$bytes" -d "$TMP/back" || return 1
	cmp "$TMP/in" "$TMP/back"
}

perf_verify() {
	"$NVMEOF" perf "${CONN[@]}" "$@" --json >"$TMP/perf.json" || { cat "$TMP/perf.json"; return 1; }
	cat "$TMP/perf.json"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["errors"] == 0 and d["ios"] > 0, d' "$TMP/perf.json"
}

# Connections cut under perf (ss -K): the reconnect does the handshake again, I/O verifies.
perf_reconnect() {
	command -v ss >/dev/null || { echo "no ss"; return 1; }
	"$NVMEOF" --log-level=info perf "${CONN[@]}" "${TLS[@]}" --reconnect-delay=1 -w randrw -q 8 \
		-o 16384 -T 8 --size 8M --queues 2 --verify --json >"$TMP/perf.json" 2>"$TMP/perf.err" &
	local pid=$!
	sleep 3
	ss -K dst "$NVMET_ADDR" dport = "$NVMET_PORT" >/dev/null
	wait "$pid" || { cat "$TMP/perf.json" "$TMP/perf.err"; return 1; }
	grep -E "lost|reconnect" "$TMP/perf.err" | head -5
	grep -q "reconnected" "$TMP/perf.err" &&
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["errors"] == 0 and d["ios"] > 0 and d["ctrl_state"] == "live", d' "$TMP/perf.json"
}

# A refusal: nonzero exit within PROMPT_SECS, and the reason (regex) on stderr.
refused() { # reason-regex, command...
	local want=$1 t0=$SECONDS
	shift
	if "$@" >"$TMP/r.out" 2>"$TMP/r.err"; then
		echo "connected although it should have been refused"
		return 1
	fi
	cat "$TMP/r.err"
	[ $((SECONDS - t0)) -le "$PROMPT_SECS" ] || { echo "refusal took $((SECONDS - t0)) s"; return 1; }
	grep -Eq "$want" "$TMP/r.err"
}

# The kernel's TLS PSK for its version 0 identity, as a key whose bytes are used as they are.
RAW_KEY=$("$NVMEOF" gen-tls-key --hmac=1 --secret="$NVMET_TLS_PSK")
WRONG_KEY=$("$NVMEOF" gen-tls-key --hmac=1)

check "discover --tls (text: treq, sectype)" disc_text
check "discover --tls-key (json)" disc_json
check "id-ctrl --tls-key (identity v1)" id_ctrl "${TLS[@]}"
check "write/read 4 KiB --tls-key" write_read 4096 100 "${TLS[@]}"
check "write/read 3 MiB --tls-key (records, splits)" write_read 3145728 8192 "${TLS[@]}"
check "write/read 1 MiB identity v0, digests" write_read 1048576 2048 "${TLS[@]}" \
	--tls-identity-version=0 --hdr-digest --data-digest
check "write/read 64 KiB --tls-key-identity" write_read 65536 300 --tls-key "$RAW_KEY" \
	--tls-key-identity "$NVMET_TLS_IDENTITY"
check "perf 2 queues randrw --verify over TLS" perf_verify "${TLS[@]}" -w randrw -q 16 -o 16384 \
	-T 3 --size 8M --queues 2 --verify
check "connections cut under perf: TLS reconnect, verify" perf_reconnect
check "wrong PSK refused promptly" refused "TLS handshake failed.*check the PSK" \
	"$NVMEOF" id-ctrl "${CONN[@]}" --tls-key "$WRONG_KEY"
check "wrong PSK for the identity refused promptly" refused "TLS handshake failed" \
	"$NVMEOF" id-ctrl "${CONN[@]}" --tls-key "$WRONG_KEY" --tls-key-identity "$NVMET_TLS_IDENTITY"
check "plain connect to the TLS port refused promptly" refused "refused" \
	"$NVMEOF" id-ctrl "${CONN[@]}"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
