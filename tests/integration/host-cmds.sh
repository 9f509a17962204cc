#!/bin/bash
# The nvme-cli style commands of build/nvmeof against our target on loopback:
# get-log (hex dump, raw length, invalid log id), smart-log and error-log in
# text and JSON, get-feature / set-feature (values, refused values and a
# refused save), write-zeroes then read back zeros, dsm deallocate then read
# back zeros, compare equal and different data (exit status and message),
# gen-hostnqn.
#
#   usage: tests/integration/host-cmds.sh [BUILD]      (BUILD defaults to build)
#
# In a ThreadSanitizer build, each distinct race reported is one more
# failure. The last line is "N passed, N failed".
set -u
CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
integration_begin host-cmds "$@"
port=$(free_port)
NQN=nqn.2026-01.io.nvmeof:host-cmds
SOCK=$tmp/target.sock
LOG=$tmp/target.log
conn=(-t tcp -a 127.0.0.1 -s "$port" -n "$NQN")
nv() { "$CLI" "$1" "${conn[@]}" "${@:2}"; }
json_ok() { python3 -c 'import json,sys; json.load(sys.stdin)' <"$1"; }
# json_eq FILE EXPR VALUE: python expression on the parsed document `d`.
json_eq() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if str($2) == sys.argv[2] else 1)" "$1" "$3"; }

"$TGT" --addr 127.0.0.1 --port "$port" --disc-port 0 --nqn "$NQN" --ram-size 32M --rpc-socket "$SOCK" \
	--log-level info >"$LOG" 2>&1 &
tpid=$!
TPID=$tpid
for _ in $(seq 100); do
	grep -q 'nvmeof-target: ready' "$LOG" && [ -S "$SOCK" ] && break
	sleep 0.1
done
target_wait_ready "$SOCK"

echo "== get-log"
nv get-log --log-id=2 --log-len=512 >"$tmp/gl.txt" 2>"$tmp/gl.err"
check "get-log 0x02 exits 0" [ $? = 0 ]
check "get-log prints nvme-cli's header" grep -q "^Device:$NQN log-id:2 namespace-id:0xffffffff$" "$tmp/gl.txt"
check "get-log dumps 512 bytes in 32 rows of 16" bash -c "[ \$(grep -c '^0[0-9a-f]\{3\}: ' '$tmp/gl.txt') = 32 ] && grep -q '^01f0: ' '$tmp/gl.txt'"
nv get-log -i 2 -l 512 --raw-binary >"$tmp/gl.bin"
check "get-log --raw-binary writes exactly --log-len bytes" [ "$(stat -c %s "$tmp/gl.bin")" = 512 ]
nv get-log -i 2 -l 6 -b >"$tmp/gl6.bin"
check "get-log with a length that is no dword multiple" [ "$(stat -c %s "$tmp/gl6.bin")" = 6 ]
nv get-log -i 1 -l 8192 -b >"$tmp/gl-err.bin"
check "get-log split into pieces (error log, 8 KiB)" [ "$(stat -c %s "$tmp/gl-err.bin")" = 8192 ]
nv get-log -i 0x33 -l 16 >/dev/null 2>"$tmp/gl-bad.err"
check "an unsupported log id exits nonzero" [ $? != 0 ]
check "and prints the status name" grep -q "NVMe status: Invalid Log Page" "$tmp/gl-bad.err"
check "get-log without --log-len is refused" bash -c "! '$CLI' get-log ${conn[*]} -i 2 2>/dev/null"

echo "== smart-log"
nv smart-log >"$tmp/smart.txt"
check "smart-log exits 0" [ $? = 0 ]
for f in critical_warning temperature available_spare available_spare_threshold percentage_used \
	data_units_read data_units_written host_read_commands host_write_commands controller_busy_time \
	power_cycles power_on_hours unsafe_shutdowns media_errors num_err_log_entries; do
	grep -q "^${f}[[:space:]]*: " "$tmp/smart.txt" || missing="${missing:-} $f"
done
check "smart-log prints nvme-cli's fields${missing:+ (missing:$missing)}" [ -z "${missing:-}" ]
check "smart-log header" grep -q "^Smart Log for NVME device:$NQN namespace-id:ffffffff$" "$tmp/smart.txt"
# Per namespace, the counters cover every controller since the target started.
head -c 65536 /dev/urandom >"$tmp/data"
nv write --start-block 0 --data-size 65536 --data "$tmp/data" 2>/dev/null
nv smart-log --namespace-id=1 --output-format=json >"$tmp/smart.json"
check "smart-log JSON parses" json_ok "$tmp/smart.json"
check "smart-log JSON has nvme-cli's keys" json_eq "$tmp/smart.json" \
	"all(k in d for k in ['critical_warning','temperature','avail_spare','spare_thresh','percent_used','data_units_read','data_units_written','host_read_commands','host_write_commands','controller_busy_time','power_cycles','power_on_hours','unsafe_shutdowns','media_errors','num_err_log_entries','warning_temp_time','critical_comp_time'])" True
check "smart-log -N 1: host_write_commands and data_units_written count our write" json_eq "$tmp/smart.json" "d['host_write_commands'] >= 1 and d['data_units_written'] >= 1" True
check "smart-log --raw-binary is the 512-byte log" bash -c "[ \$('$CLI' smart-log ${conn[*]} -b | wc -c) = 512 ]"

echo "== error-log"
nv error-log --log-entries=4 >"$tmp/err.txt"
check "error-log exits 0" [ $? = 0 ]
check "error-log prints the requested entries" bash -c "grep -q 'entries:4$' '$tmp/err.txt' && [ \$(grep -c '^ Entry\[' '$tmp/err.txt') = 4 ]"
check "error-log fields" bash -c "grep -q '^error_count	: ' '$tmp/err.txt' && grep -q '^status_field	: ' '$tmp/err.txt' && grep -q '^trtype_spec_info: ' '$tmp/err.txt'"
nv error-log -e 2 --output-format=json >"$tmp/err.json"
check "error-log JSON parses with 2 entries" json_eq "$tmp/err.json" "len(d['errors'])" 2
check "error-log JSON keys" json_eq "$tmp/err.json" "all(k in d['errors'][0] for k in ['error_count','sqid','cmdid','status_field','phase_tag','parm_error_location','lba','nsid','vs','trtype','cs','trtype_spec_info'])" True

echo "== get-feature / set-feature"
out=$(nv get-feature --feature-id=0x0f --keep-alive-tmo=7)
check "get-feature prints nvme-cli's line with the keep-alive timeout set at connect" \
	[ "$out" = "get-feature:0x0f (Keep Alive Timer), Current value:0x00001b58" ]
out=$(nv get-feature -f 7 --sel=3)
check "get-feature --sel=3: supported capabilities" [ "$out" = "get-feature:0x07 (Number of Queues), Supported capabilities value:0x00000004" ]
nv get-feature -f 0x81 --cdw11=1 >"$tmp/hostid.txt"
check "get-feature host identifier dumps 16 bytes" grep -q '^0000: \([0-9a-f]\{2\} \)\{16\}"' "$tmp/hostid.txt"
out=$(nv set-feature --feature-id=0x0b --value=0x100)
check "set-feature prints nvme-cli's line" \
	[ "$out" = "set-feature:0x0b (Async Event Configuration), value:0x00000100, cdw12:00000000, save:0" ]
out=$(nv set-feature -f 0x0f -v 9000)
check "set-feature keep alive timer" [ "$out" = "set-feature:0x0f (Keep Alive Timer), value:0x00002328, cdw12:00000000, save:0" ]
nv set-feature -f 0x0b -v 0x1 >/dev/null 2>"$tmp/sf.err"
check "set-feature with a refused value exits nonzero" [ $? != 0 ]
check "and names the status" grep -q "^NVMe status: Invalid Field in Command: .*(0x4002)$" "$tmp/sf.err"
nv set-feature -f 0x0f -v 9000 --save >/dev/null 2>"$tmp/sf-save.err"
check "set-feature --save refused: not saveable" bash -c "[ $? != 0 ] && grep -q 'Feature Identifier Not Saveable' '$tmp/sf-save.err'"
check "set-feature without --value is refused" bash -c "! '$CLI' set-feature ${conn[*]} -f 0x0f 2>/dev/null"

echo "== write-zeroes, dsm"
nv write --start-block 0 --data-size 65536 --data "$tmp/data" 2>/dev/null
out=$(nv write-zeroes --start-block=8 --block-count=7)
check "write-zeroes prints nvme-cli's success line" [ "$out" = "NVME Write Zeroes Success" ]
nv read --start-block 0 --data-size 65536 --data "$tmp/back" 2>/dev/null
head -c 4096 "$tmp/data" >"$tmp/expect"
head -c 4096 /dev/zero >>"$tmp/expect"
tail -c +8193 "$tmp/data" >>"$tmp/expect"
check "write-zeroes: blocks 8..15 read back as zeros, the rest unchanged" cmp -s "$tmp/back" "$tmp/expect"
out=$(nv dsm --ad --slbs=32,64 --blocks=4,8)
check "dsm prints nvme-cli's success line" [ "$out" = "NVMe DSM: success" ]
nv read --start-block 0 --data-size 65536 --data "$tmp/back" 2>/dev/null
python3 - "$tmp/expect" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
for slba, n in ((32, 4), (64, 8)):
    b[slba * 512:(slba + n) * 512] = bytes(n * 512)
open(p, 'wb').write(b)
EOF
check "dsm: both deallocated ranges read back as zeros, the rest unchanged" cmp -s "$tmp/back" "$tmp/expect"
check "dsm without ranges is refused" bash -c "! '$CLI' dsm ${conn[*]} --ad 2>/dev/null"

echo "== compare"
head -c 16384 "$tmp/expect" >"$tmp/cmp-same"
nv compare --start-block=0 --data-size=16384 --data="$tmp/cmp-same" >/dev/null 2>"$tmp/cmp.err"
check "compare with equal data exits 0" [ $? = 0 ]
check "and says success" grep -q "^compare: Success$" "$tmp/cmp.err"
# One byte flipped (a fixed value could equal the random byte already there).
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[10000] ^= 0xff; open(sys.argv[2], "wb").write(b)' \
	"$tmp/cmp-same" "$tmp/cmp-diff"
nv compare -S 0 -z 16384 -d "$tmp/cmp-diff" >/dev/null 2>"$tmp/cmp-diff.err"
check "compare with different data exits nonzero" [ $? != 0 ]
check "and prints the Compare Failure status" grep -q "^NVMe status: Compare Failure: .*(0x4285)$" "$tmp/cmp-diff.err"
check "compare without --data-size is refused" bash -c "! '$CLI' compare ${conn[*]} -d '$tmp/cmp-same' 2>/dev/null"

echo "== gen-hostnqn"
a=$("$CLI" gen-hostnqn)
b=$("$CLI" gen-hostnqn)
check "gen-hostnqn prints a UUID host NQN" bash -c "[[ '$a' =~ ^nqn\.2014-08\.org\.nvmexpress:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]"
check "gen-hostnqn is random" [ "$a" != "$b" ]

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
