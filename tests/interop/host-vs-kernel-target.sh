#!/bin/bash
# Our host (build/nvmeof) against the Linux kernel NVMe/TCP target (nvmet-tcp
# in a qemu guest, through ../shared/interop/kernel-target): discover, id-ctrl,
# id-ns, write then read back and compare, digests, and a short perf --verify.
#
#   tests/interop/host-vs-kernel-target.sh BUILD_DIR
#
# The guest is software-emulated: timings here say nothing about performance.
set -u
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

BUILD=${1:-build}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
INTEROP=${INTEROP_DIR:-$(cd "$HERE/../.." && pwd)/../shared/interop}
[ -x "$INTEROP/kernel-target" ] || INTEROP=/work/shared/interop
PORT=${HOST_INTEROP_PORT:-16420}
DISC_PORT=${HOST_INTEROP_DISC_PORT:-16009}

if [ "${2:-}" != "--inner" ]; then
	if [ ! -x "$BUILD/nvmeof" ]; then
		echo "host-vs-kernel-target: $BUILD/nvmeof not built" >&2
		exit 1
	fi
	kernel_target_with_retry "$INTEROP/kernel-target" --port "$PORT" --disc-port "$DISC_PORT" --size 64 -- \
		bash "$HERE/host-vs-kernel-target.sh" "$BUILD" --inner
	exit $?
fi

# ---- inside: the kernel target is up on $NVMET_ADDR:$NVMET_PORT ----
NVMEOF="$BUILD/nvmeof"
CONN=(-t tcp -a "$NVMET_ADDR" -s "$NVMET_PORT" -n "$NVMET_NQN")
TMP=$(mktemp -d)
on_exit 'rm -rf "$TMP"'
passed=0
failed=0

check() { # name, command...
	local name=$1
	shift
	local t0=$SECONDS rc
	run_bounded 180 "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
		printf 'PASS %-40s %ss\n' "$name" "$((SECONDS - t0))"
	else
		failed=$((failed + 1))
		printf 'FAIL %s (exit %s)\n' "$name" "$rc"
		sed 's/^/    /' "$TMP/out" "$TMP/err" | tail -20
	fi
}

disc_text() {
	"$NVMEOF" discover -t tcp -a "$NVMET_ADDR" -s "$NVMET_DISC_PORT" >"$TMP/disc" || return 1
	cat "$TMP/disc"
	grep -q "^Discovery Log Number of Records" "$TMP/disc" &&
		grep -q "^subnqn:  $NVMET_NQN\$" "$TMP/disc" &&
		grep -q '^trtype:  tcp' "$TMP/disc"
}

disc_json() {
	"$NVMEOF" discover -t tcp -a "$NVMET_ADDR" -s "$NVMET_DISC_PORT" --output-format=json >"$TMP/disc.json" || return 1
	python3 - "$TMP/disc.json" "$NVMET_NQN" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert any(r["subnqn"] == sys.argv[2] and r["trtype"] == "tcp" for r in d["records"]), d
PY
}

id_ctrl() {
	"$NVMEOF" id-ctrl "${CONN[@]}" >"$TMP/idc" || return 1
	grep -q "^subnqn    : $NVMET_NQN\$" "$TMP/idc" && grep -q '^cntlid' "$TMP/idc"
}

id_ns() {
	"$NVMEOF" id-ns "${CONN[@]}" -N 1 --output-format=json >"$TMP/idn" || return 1
	python3 - "$TMP/idn" "$NVMET_SIZE_MIB" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
lbads = d["lbafs"][d["flbas"] & 0xf]["ds"]
assert d["nsze"] << lbads == int(sys.argv[2]) << 20, d
PY
}

write_read() { # bytes, lba, extra options...
	local bytes=$1 lba=$2
	shift 2
	head -c "$bytes" /dev/urandom >"$TMP/in"
	"$NVMEOF" write "${CONN[@]}" "$@" -S "$lba" -z "$bytes" -d "$TMP/in" || return 1
	"$NVMEOF" read "${CONN[@]}" "$@" -S "$lba" -z "$bytes" -d "$TMP/back" || return 1
	cmp "$TMP/in" "$TMP/back"
}

stdin_stdout() {
	head -c 8192 /dev/urandom >"$TMP/in2"
	"$NVMEOF" write "${CONN[@]}" -S 4096 -z 8192 <"$TMP/in2" || return 1
	"$NVMEOF" read "${CONN[@]}" -S 4096 -z 8192 >"$TMP/back2" || return 1
	cmp "$TMP/in2" "$TMP/back2"
}

perf_verify() {
	"$NVMEOF" perf "${CONN[@]}" "$@" --json >"$TMP/perf.json" || { cat "$TMP/perf.json"; return 1; }
	cat "$TMP/perf.json"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["errors"] == 0 and d["ios"] > 0, d' "$TMP/perf.json"
}

check "discover (text)" disc_text
check "discover (json)" disc_json
check "id-ctrl" id_ctrl
check "id-ns" id_ns
check "list-subsys" "$NVMEOF" list-subsys "${CONN[@]}"
check "write/read 512 B" write_read 512 7
check "write/read 4 KiB" write_read 4096 100
check "write/read 1 MiB" write_read 1048576 2048
check "write/read 3 MiB (multi-chunk)" write_read 3145728 8192
check "write/read 64 KiB, digests" write_read 65536 300 --hdr-digest --data-digest
check "write/read via stdin/stdout" stdin_stdout
check "flush" "$NVMEOF" flush "${CONN[@]}"
check "perf randrw --verify" perf_verify -w randrw -q 8 -o 4096 -T 3 --size 4M --verify
check "perf 2 queues 64k randwrite --verify" perf_verify -w randwrite -q 4 -o 65536 -T 3 --size 8M --queues 2 --verify --hdr-digest --data-digest

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
