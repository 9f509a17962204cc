#!/bin/bash
# TLS 1.3 between our host (build/nvmeof) and our target on loopback: a
# TLS-required I/O port and a TLS discovery port; discovery, verified I/O and
# perf over TLS with identity versions 0 and 1 and a SHA-384 key; TLS
# together with DH-HMAC-CHAP; a wrong PSK, a plain connect to the TLS port
# and a TLS connect to a plain port refused promptly; the key never shows in
# `target list`, the JSON snapshot or the log.
#
#   usage: tests/integration/tls.sh [BUILD]      (BUILD defaults to build)
#
# In a ThreadSanitizer build, each distinct race reported is one more
# failure. The last line is "N passed, N failed".
set -u
CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
integration_begin tls "$@"
port=$(free_port)
plain=$(free_port "$port")
disc=$(free_port "$port" "$plain")
NQN=nqn.2026-01.io.nvmeof:tls
HN=nqn.2014-08.org.nvmexpress:uuid:7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d
SOCK=$tmp/target.sock
LOG=$tmp/target.log
tcli() { "$CLI" target --rpc-socket "$SOCK" "$@"; }

"$TGT" --addr 127.0.0.1 --port "$port" --tls --disc-port 0 --nqn "$NQN" --ram-size 32M \
	--rpc-socket "$SOCK" --log-level info >"$LOG" 2>&1 &
tpid=$!
TPID=$tpid
target_wait_ready "$SOCK"

KEY=$("$CLI" gen-tls-key --hmac=1)
KEY384=$("$CLI" gen-tls-key --hmac=2)
OTHER=$("$CLI" gen-tls-key --hmac=1)
check "gen-tls-key prints interchange-format keys" bash -c "[[ '$KEY' == NVMeTLSkey-1:01:*: && '$KEY384' == NVMeTLSkey-1:02:*: ]]"
check "add-host with a TLS key" tcli add-host "$NQN" "$HN" --tls-key "$KEY"
check "allow only listed hosts" tcli set-allow-any-host "$NQN" off
check "a plain port for the same subsystem" tcli add-port --traddr 127.0.0.1 --trsvcid "$plain" --subsystem "$NQN"
check "a second TLS port (discovery and I/O)" tcli add-port --traddr 127.0.0.1 --trsvcid "$disc" --tsas tls1.3 --subsystem "$NQN"

conn=(-t tcp -a 127.0.0.1 -s "$port" -n "$NQN" --hostnqn "$HN")
head -c 1048576 /dev/urandom >"$tmp/data"
io() { # ARGS...: write 1 MiB over TLS, read it back, compare
	"$CLI" write "${conn[@]}" "$@" --start-block 0 --data-size 1048576 --data "$tmp/data" >/dev/null 2>"$tmp/io.err" &&
		"$CLI" read "${conn[@]}" "$@" --start-block 0 --data-size 1048576 --data "$tmp/back" >/dev/null 2>>"$tmp/io.err" &&
		cmp -s "$tmp/data" "$tmp/back"
}
# refused DESCRIPTION PATTERN COMMAND...: fails within 5 s, saying PATTERN.
refused() {
	local what=$1 pattern=$2 t0 ms
	shift 2
	t0=$(date +%s%N)
	if run_bounded 30 "$@" >/dev/null 2>"$tmp/ref.err"; then
		fail "$what: connected"
		return
	fi
	ms=$((($(date +%s%N) - t0) / 1000000))
	if grep -qiE "$pattern" "$tmp/ref.err" && [ "$ms" -lt 5000 ]; then
		pass "$what: refused in $ms ms"
	else
		fail "$what: after $ms ms: $(head -n 2 "$tmp/ref.err")"
	fi
}

echo "== discovery and I/O over TLS"
check "discover --tls: the log says treq required, sectype tls13" bash -c \
	"'$CLI' discover -t tcp -a 127.0.0.1 -s '$disc' --hostnqn '$HN' --tls-key '$KEY' >'$tmp/disc.out' 2>&1 &&
	 grep -q 'treq: *required' '$tmp/disc.out' && grep -q 'sectype: *tls13' '$tmp/disc.out'"
check "identity version 1: write 1 MiB, read back, compare" io --tls-key "$KEY"
check "identity version 0: write 1 MiB, read back, compare" io --tls-key "$KEY" --tls-identity-version 0
check "perf --verify on 2 queues over TLS" bash -c \
	"'$CLI' perf ${conn[*]} --tls-key '$KEY' --queues 2 -q 16 -o 65536 -w randrw -T 2 --verify 2>&1 | grep -q ' 0 errors'"
check "the target logged the TLS sessions" grep -q 'TLS' "$LOG"

echo "== refusals"
refused "wrong PSK" 'TLS handshake failed|refused' "$CLI" id-ctrl "${conn[@]}" --tls-key "$OTHER"
refused "plain connect to the TLS port" 'refused|TLS' "$CLI" id-ctrl "${conn[@]}"
refused "TLS connect to a plain port" 'TLS handshake failed|refused' \
	"$CLI" id-ctrl -t tcp -a 127.0.0.1 -s "$plain" -n "$NQN" --hostnqn "$HN" --tls-key "$KEY"
check "the plain port still serves plain connects" bash -c \
	"'$CLI' id-ctrl -t tcp -a 127.0.0.1 -s '$plain' -n '$NQN' --hostnqn '$HN' >/dev/null"

echo "== SHA-384 key, and TLS with DH-HMAC-CHAP"
DH=$("$CLI" gen-dhchap-key --hmac=1 --nqn "$HN")
check "set-host-keys: TLS SHA-384 key and a DH-HMAC-CHAP key" tcli set-host-keys "$HN" --tls-key "$KEY384" --dhchap-secret "$DH"
refused "the old TLS key on a new connection" 'TLS handshake failed|refused' "$CLI" id-ctrl "${conn[@]}" --tls-key "$KEY" -S "$DH"
check "TLS_AES_256_GCM_SHA384 and DH-HMAC-CHAP: write, read back, compare" io --tls-key "$KEY384" --dhchap-secret "$DH"
refused "right PSK, no DH-HMAC-CHAP key" 'authentication|refused' "$CLI" id-ctrl "${conn[@]}" --tls-key "$KEY384"

echo "== secrets stay secret"
check "target list says which keys are set" bash -c "'$CLI' target --rpc-socket '$SOCK' list | grep -q '$HN (DH-HMAC-CHAP; TLS PSK)'"
check "list --json says a key is set, never the key" bash -c \
	"tcli() { '$CLI' target --rpc-socket '$SOCK' \"\$@\"; }; tcli list --json | grep -q '\"tls_key\": *true' && ! tcli list --json | grep -q NVMeTLSkey"
check "the target log holds no key" bash -c "! grep -q 'NVMeTLSkey' '$LOG'"
check "save-config writes the key back, mode 0600" bash -c \
	"'$CLI' target --rpc-socket '$SOCK' save-config '$tmp/saved.json' && grep -q '\"tls_key\": \"$KEY384\"' '$tmp/saved.json' && [ \"\$(stat -c %a '$tmp/saved.json')\" = 600 ]"

# A file with only a TLS key, readable by others: loading it warns.
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [h.pop("dhchap", None) for h in d.get("hosts", [])]; json.dump(d, open(sys.argv[2], "w"))' \
	"$tmp/saved.json" "$tmp/readable.json"
chmod 644 "$tmp/readable.json"
check "a readable config with a TLS key gets a warning" bash -c \
	"'$TGT' --config '$tmp/readable.json' --check-config 2>&1 | grep -q 'holds host keys but is readable by group or others'"
check "target still running" kill -0 "$tpid"
kill -TERM "$tpid"
rc=0
wait "$tpid" || rc=$?
tpid=
check "target exits 0 on SIGTERM" [ "$rc" = 0 ]
[ "$tsan" = 1 ] && tsan_check "$tmp/tsan"
if [ "$failed" != 0 ]; then
	echo "--- target log (warnings and errors)"
	grep -iE 'warn|error' "$LOG" | head -n 30
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
