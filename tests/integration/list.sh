#!/bin/bash
# `nvmeof list` in nvme-cli 2.x's `nvme list -v` shapes: with connection
# options (text tables and -o json, checked field by field against what the
# target serves: two namespaces of different sizes), and without, from the
# registry of `nvmeof attach` ($NVMEOF_ATTACH_DIR): a live entry is listed,
# the entry of a dead process is not, a malformed file is skipped with a
# warning, a missing registry lists nothing.
#
#   usage: tests/integration/list.sh [BUILD]      (BUILD defaults to build)
#
# In a ThreadSanitizer build, each distinct race reported is one more
# failure. The last line is "N passed, N failed".
set -u
CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
integration_begin list "$@"
port=$(free_port)
NQN=nqn.2026-01.io.nvmeof:list
HOSTNQN=nqn.2014-08.org.example:list-host
SOCK=$tmp/target.sock
LOG=$tmp/target.log
conn=(-t tcp -a 127.0.0.1 -s "$port" -n "$NQN" --hostnqn "$HOSTNQN")
# py FILE EXPR: python expression on the parsed JSON document `d` must be true.
py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"; }

"$TGT" --addr 127.0.0.1 --port "$port" --disc-port 0 --nqn "$NQN" --ram-size 32M --rpc-socket "$SOCK" \
	--log-level info >"$LOG" 2>&1 &
tpid=$!
TPID=$tpid
target_wait_ready "$SOCK"
"$CLI" target --rpc-socket "$SOCK" add-ns "$NQN" --ram 16M --nsid 3 --block-size 4096 >/dev/null
check "a second namespace (nsid 3, 16 MiB of 4 KiB blocks)" [ $? = 0 ]
SERIAL=$("$CLI" target --rpc-socket "$SOCK" list --json |
	python3 -c "import json,sys; print([s['serial'] for s in json.load(sys.stdin)['subsystems'] if s['nqn'] == '$NQN'][0])")
check "the target's serial number ($SERIAL)" [ -n "$SERIAL" ]

echo "== with connection options"
"$CLI" list "${conn[@]}" >"$tmp/list.txt" 2>"$tmp/list.err"
check "list exits 0" [ $? = 0 ]
check "text: the three tables of nvme list -v" bash -c \
	"grep -qE '^Subsystem +Subsystem-NQN +Controllers$' '$tmp/list.txt' &&
	 grep -qE '^Device +Cntlid +SN +MN +FR +TxPort +Address +Slot +Subsystem +Namespaces *$' '$tmp/list.txt' &&
	 grep -qE '^Device +Generic +NSID +Usage +Format +Controllers *$' '$tmp/list.txt'"
check "text: the subsystem row" grep -qE "^nvmeof-subsys0 +$NQN +nvmeof0$" "$tmp/list.txt"
check "text: the controller row (serial, model, tcp, address, namespaces)" grep -qE \
	"^nvmeof0 +[0-9]+ +$SERIAL +nvmeof +[^ ]+ +tcp +traddr=127\.0\.0\.1,trsvcid=$port +nvmeof-subsys0 +nvmeof0n1, nvmeof0n3 *$" "$tmp/list.txt"
check "text: namespace 1, 33.55 MB of 512 B blocks" grep -qE \
	'^nvmeof0n1 +0x1 +33\.55 +MB / +33\.55 +MB +512 +B \+  0 B +nvmeof0$' "$tmp/list.txt"
check "text: namespace 3, 16.78 MB of 4 KiB blocks" grep -qE \
	'^nvmeof0n3 +0x3 +16\.78 +MB / +16\.78 +MB +4 KiB \+  0 B +nvmeof0$' "$tmp/list.txt"

"$CLI" list "${conn[@]}" -o json >"$tmp/list.json"
check "-o json exits 0" [ $? = 0 ]
check "json: Devices -> HostNQN, HostID, one subsystem" py "$tmp/list.json" \
	"len(d['Devices']) == 1 and d['Devices'][0]['HostNQN'] == '$HOSTNQN' and len(d['Devices'][0]['HostID']) == 36 and len(d['Devices'][0]['Subsystems']) == 1"
S="d['Devices'][0]['Subsystems'][0]"
check "json: Subsystem, SubsystemNQN" py "$tmp/list.json" "${S}['Subsystem'] == 'nvmeof-subsys0' and ${S}['SubsystemNQN'] == '$NQN'"
check "json: the controller's identity and address" py "$tmp/list.json" \
	"[c for c in ${S}['Controllers'] if c['Controller'] == 'nvmeof0' and int(c['Cntlid']) > 0 and c['SerialNumber'] == '$SERIAL' and c['ModelNumber'] == 'nvmeof' and c['Transport'] == 'tcp' and c['Address'] == 'traddr=127.0.0.1,trsvcid=$port' and c['State'] == 'live']"
check "json: namespaces 1 and 3 with their sizes" py "$tmp/list.json" \
	"[(n['NSID'], n['PhysicalSize'], n['SectorSize'], n['MaximumLBA']) for n in ${S}['Namespaces']] == [(1, 33554432, 512, 65536), (3, 16777216, 4096, 4096)]"
check "json: the controller lists the same namespaces" py "$tmp/list.json" \
	"[n['NameSpace'] for n in ${S}['Controllers'][0]['Namespaces']] == ['nvmeof0n1', 'nvmeof0n3']"
"$CLI" list -t tcp -a 127.0.0.1 -s "$port" -n nqn.2026-01.io.nvmeof:nosuch >/dev/null 2>&1
check "an unknown subsystem exits 1" [ $? = 1 ]
"$CLI" list -o yaml >/dev/null 2>&1
check "a bad output format is a usage error (2)" [ $? = 2 ]

echo "== without: the attach registry"
reg=$tmp/attach
mkdir -p "$reg"
sleep 300 &
live=$!
sleep 0 &
dead=$!
wait "$dead"
cat >"$reg/$live.json" <<JSON
{"mountpoint": "/mnt/vol", "pid": $live, "hostnqn": "$HOSTNQN",
 "subsystems": [{"subnqn": "$NQN", "transport": "tcp", "traddr": "127.0.0.1", "trsvcid": "$port",
   "state": "live", "namespaces": [{"nsid": 1, "file": "ns1", "size": 1073741824, "lba_size": 512},
                                   {"nsid": 2, "file": "ns2", "size": 8388608, "lba_size": 4096}]}]}
JSON
cat >"$reg/$dead.json" <<JSON
{"mountpoint": "/mnt/gone", "pid": $dead, "hostnqn": "$HOSTNQN",
 "subsystems": [{"subnqn": "nqn.2026-01.io.nvmeof:gone", "transport": "tcp", "traddr": "127.0.0.1",
   "trsvcid": "4420", "state": "connecting", "namespaces": []}]}
JSON
printf '{"mountpoint": "/mnt/half", "pid": ' >"$reg/1.json"
echo '{"mountpoint": "/mnt/nopid", "subsystems": []}' >"$reg/2.json"
NVMEOF_ATTACH_DIR=$reg "$CLI" list >"$tmp/reg.txt" 2>"$tmp/reg.err"
check "registry: list exits 0" [ $? = 0 ]
check "registry: the live entry's subsystem" grep -qE "^nvmeof-subsys0 +$NQN +nvmeof0$" "$tmp/reg.txt"
check "registry: devices are mountpoint/file" bash -c \
	"grep -qE '^/mnt/vol/ns1 +0x1 +1\.07 +GB / +1\.07 +GB +512 +B' '$tmp/reg.txt' && grep -qE '^/mnt/vol/ns2 +0x2 +8\.39 +MB' '$tmp/reg.txt'"
check "registry: the dead process's entry is not listed" bash -c "! grep -q -e gone -e /mnt/gone '$tmp/reg.txt'"
check "registry: malformed files are skipped with a warning each" bash -c \
	"grep -q 'skipping $reg/1.json: not valid JSON' '$tmp/reg.err' && grep -q 'skipping $reg/2.json: no valid \"pid\"' '$tmp/reg.err' && [ \$(wc -l <'$tmp/reg.err') = 2 ]"
NVMEOF_ATTACH_DIR=$reg "$CLI" list -o json >"$tmp/reg.json" 2>/dev/null
check "registry json: one device for the host, one subsystem" py "$tmp/reg.json" \
	"len(d['Devices']) == 1 and d['Devices'][0]['HostNQN'] == '$HOSTNQN' and [s['SubsystemNQN'] for s in d['Devices'][0]['Subsystems']] == ['$NQN']"
check "registry json: controller state, transport and address" py "$tmp/reg.json" \
	"[c for c in d['Devices'][0]['Subsystems'][0]['Controllers'] if c['State'] == 'live' and c['Transport'] == 'tcp' and c['Address'] == 'traddr=127.0.0.1,trsvcid=$port']"
check "registry json: namespaces with sizes" py "$tmp/reg.json" \
	"[(n['NameSpace'], n['NSID'], n['PhysicalSize'], n['SectorSize'], n['MaximumLBA']) for n in d['Devices'][0]['Subsystems'][0]['Namespaces']] == [('/mnt/vol/ns1', 1, 1073741824, 512, 2097152), ('/mnt/vol/ns2', 2, 8388608, 4096, 2048)]"
kill "$live"
wait "$live" 2>/dev/null
NVMEOF_ATTACH_DIR=$reg "$CLI" list -o json >"$tmp/reg2.json" 2>/dev/null
check "registry: once its process is gone, the entry is no longer listed" py "$tmp/reg2.json" "d['Devices'] == []"
NVMEOF_ATTACH_DIR=$tmp/none "$CLI" list -o json >"$tmp/none.json"
check "a missing registry: exit 0, no devices" py "$tmp/none.json" "d['Devices'] == []"

target_stop_check
tpid=
[ "$tsan" = 1 ] && tsan_check "$tmp/tsan"
if [ "$failed" != 0 ]; then
	echo "--- target log (warnings and errors)"
	grep -iE 'warn|error' "$LOG" | head -n 30
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
