#!/bin/bash
# Asymmetric Namespace Access on loopback: a target from a file in nvmetcli's
# form with two ports and two ANA groups (group 1 optimized on port 1 and
# inaccessible on port 2, group 2 the other way round). Through each port:
# `nvmeof ana-log` in text and JSON (and --groups), Identify's ANA fields,
# I/O refused with the ANA status where the group is inaccessible; then
# `nvmeof target set-ana-state` live (I/O admitted, change count up), bad
# arguments refused, save-config round trip of ana_grpid / ana_groups, and a
# SIGHUP reload that moves a namespace and changes a port's states.
#
#   usage: tests/integration/ana.sh [BUILD]      (BUILD defaults to build)
#
# In a ThreadSanitizer build, each distinct race reported is one more
# failure. The last line is "N passed, N failed".
set -u
CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
integration_begin ana "$@"
port1=$(free_port)
port2=$(free_port "$port1")
NQN=nqn.2026-01.io.nvmeof:ana
SOCK=$tmp/target.sock
LOG=$tmp/target.log
CFG=$tmp/config.json
c1=(-t tcp -a 127.0.0.1 -s "$port1" -n "$NQN")
c2=(-t tcp -a 127.0.0.1 -s "$port2" -n "$NQN")
tc() { "$CLI" target --rpc-socket "$SOCK" "$@"; }
# json_eq FILE EXPR VALUE: python expression on the parsed document `d`.
json_eq() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if str($2) == sys.argv[2] else 1)" "$1" "$3"; }

# config G1P1 G2P1 G1P2 G2P2 NS2GRP: the states of groups 1 and 2 on ports 1 and 2.
config() {
	cat <<EOF
{
  "hosts": [],
  "ports": [
    { "portid": 1,
      "addr": { "adrfam": "ipv4", "traddr": "127.0.0.1", "treq": "not specified", "trsvcid": "$port1", "trtype": "tcp" },
      "ana_groups": [ { "ana": { "state": "$1" }, "grpid": 1 }, { "ana": { "state": "$2" }, "grpid": 2 } ],
      "param": {}, "referrals": [], "subsystems": [ "$NQN" ] },
    { "portid": 2,
      "addr": { "adrfam": "ipv4", "traddr": "127.0.0.1", "treq": "not specified", "trsvcid": "$port2", "trtype": "tcp" },
      "ana_groups": [ { "ana": { "state": "$3" }, "grpid": 1 }, { "ana": { "state": "$4" }, "grpid": 2 } ],
      "param": {}, "referrals": [], "subsystems": [ "$NQN" ] }
  ],
  "subsystems": [
    { "nqn": "$NQN", "allowed_hosts": [],
      "attr": { "allow_any_host": "1", "cntlid_max": "299", "cntlid_min": "200", "serial": "ana0123456789" },
      "namespaces": [
        { "ana_grpid": 1, "device": { "path": "", "size": "16M" }, "enable": 1, "nsid": 1 },
        { "ana_grpid": $5, "device": { "path": "", "size": "16M" }, "enable": 1, "nsid": 2 },
        { "device": { "path": "", "size": "16M" }, "enable": 1, "nsid": 3 } ] }
  ]
}
EOF
}

config optimized inaccessible inaccessible optimized 2 >"$CFG"
"$TGT" --config "$CFG" --rpc-socket "$SOCK" --disc-port 0 --log-level info >"$LOG" 2>&1 &
tpid=$!
TPID=$tpid
target_wait_ready "$SOCK"

echo "== ana-log through each port"
"$CLI" ana-log "${c1[@]}" >"$tmp/a1.txt"
check "ana-log exits 0" [ $? = 0 ]
check "text: nvme-cli's header" bash -c \
	"head -n 5 '$tmp/a1.txt' | tr '\t' ' ' | tr '\n' '|' |
	 grep -qx 'Asymmetric Namespace Access Log for NVMe device: $NQN|ANA LOG HEADER :-|chgcnt : [0-9]*|ngrps : 2|ANA Log Desc :-|'"
check "text: group 1 optimized with nsids 1 and 3 on port 1" bash -c \
	"tr '\t' ' ' <'$tmp/a1.txt' | grep -A6 '^grpid : 1$' | tr '\n' '|' | grep -q 'nnsids : 2|chgcnt : [0-9]*|state : optimized| nsid : 1| nsid : 3|'"
check "text: group 2 inaccessible with nsid 2 on port 1" bash -c \
	"tr '\t' ' ' <'$tmp/a1.txt' | grep -A4 '^grpid : 2$' | tr '\n' '|' | grep -q 'nnsids : 1|chgcnt : [0-9]*|state : inaccessible| nsid : 2|'"
"$CLI" ana-log "${c2[@]}" --output-format=json >"$tmp/a2.json"
check "JSON through port 2 parses" python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$tmp/a2.json"
check "JSON: nvme-cli's keys" json_eq "$tmp/a2.json" "sorted(d.keys())" \
	"['ANA DESC LIST ', 'Asymmetric Namespace Access Log for NVMe device', 'chgcnt', 'ngrps']"
check "JSON: port 2 has group 1 inaccessible, group 2 optimized" json_eq "$tmp/a2.json" \
	"[(g['grpid'], g['state'], [n['nsid'] for n in g['NSIDS']]) for g in d['ANA DESC LIST ']]" \
	"[(1, 'inaccessible', [1, 3]), (2, 'optimized', [2])]"
"$CLI" ana-log "${c1[@]}" --groups --output-format=json >"$tmp/ag.json"
check "--groups: descriptors without NSID lists" json_eq "$tmp/ag.json" \
	"[(g['grpid'], g['nnsids'], len(g['NSIDS'])) for g in d['ANA DESC LIST ']]" "[(1, 0, 0), (2, 0, 0)]"
chg0=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['chgcnt'])" "$tmp/a2.json")

echo "== Identify"
"$CLI" id-ctrl "${c1[@]}" >"$tmp/idc.txt"
check "CMIC multi-port, multi-controller, ANA (0xb)" grep -q '^cmic *: 0xb$' "$tmp/idc.txt"
check "ANATT 10, ANACAP all states, 128 groups" bash -c \
	"grep -q '^anatt *: 10$' '$tmp/idc.txt' && grep -q '^anacap *: 31$' '$tmp/idc.txt' &&
	 grep -q '^anagrpmax *: 128$' '$tmp/idc.txt' && grep -q '^nanagrpid *: 128$' '$tmp/idc.txt'"
check "OAES announces ANA change notices (bit 11)" grep -q '^oaes *: 0x900$' "$tmp/idc.txt"
check "CNTLID from attr.cntlid_min/max (200-299)" bash -c \
	"c=\$(sed -n 's/^cntlid *: //p' '$tmp/idc.txt'); [ \$((c)) -ge 200 ] && [ \$((c)) -le 299 ]"
check "serial from attr.serial" grep -q '^sn *: ana0123456789 *$' "$tmp/idc.txt"
"$CLI" id-ns "${c1[@]}" -N 2 >"$tmp/idn2.txt"
check "id-ns: nsid 2 in group 2, shared (NMIC 1)" bash -c \
	"grep -q '^anagrpid *: 2$' '$tmp/idn2.txt' && grep -q '^nmic *: 0x1$' '$tmp/idn2.txt'"
check "id-ns: NUSE 0 where the group is inaccessible" grep -q '^nuse *: 0$' "$tmp/idn2.txt"
"$CLI" id-ns "${c1[@]}" -N 3 >"$tmp/idn3.txt"
check "id-ns: a namespace without ana_grpid is in group 1" grep -q '^anagrpid *: 1$' "$tmp/idn3.txt"

echo "== I/O and the ANA state"
head -c 4096 /dev/urandom >"$tmp/data"
"$CLI" write "${c1[@]}" -N 2 --start-block 0 --data-size 4096 --data "$tmp/data" >/dev/null 2>"$tmp/w.err"
check "a write to group 2 through port 1 fails" [ $? != 0 ]
check "with the ANA Inaccessible status name" grep -q "Asymmetric Access Inaccessible (sct 3 sc 0x02)" "$tmp/w.err"
"$CLI" read "${c1[@]}" -N 1 --start-block 0 --data-size 4096 >/dev/null 2>&1
check "a read of group 1 through port 1 succeeds" [ $? = 0 ]
"$CLI" write "${c2[@]}" -N 2 --start-block 0 --data-size 4096 --data "$tmp/data" >/dev/null 2>&1
check "a write to group 2 through port 2 succeeds" [ $? = 0 ]

tc list >"$tmp/list.txt"
check "target list shows each port's ANA groups" bash -c \
	"grep -A4 '^port 1 ' '$tmp/list.txt' | grep -q '^  ana group 2 inaccessible$' &&
	 grep -A4 '^port 2 ' '$tmp/list.txt' | grep -q '^  ana group 1 inaccessible$'"
tc set-ana-state 1 2 persistent-loss >/dev/null
"$CLI" read "${c1[@]}" -N 2 --start-block 0 --data-size 4096 >/dev/null 2>"$tmp/r.err"
check "persistent-loss: the ANA Persistent Loss status" grep -q "Asymmetric Access Persistent Loss (sct 3 sc 0x01)" "$tmp/r.err"
tc set-ana-state 1 2 change >/dev/null
"$CLI" read "${c1[@]}" -N 2 --start-block 0 --data-size 4096 >/dev/null 2>"$tmp/r.err"
check "change: the ANA Transition status" grep -q "Asymmetric Access Transition (sct 3 sc 0x03)" "$tmp/r.err"
tc set-ana-state 1 2 optimized >"$tmp/set.out" 2>&1
check "set-ana-state 1 2 optimized exits 0" [ $? = 0 ]
check "and is logged at notice" grep -q "notice \[ana\] port 1: ANA group 2 change -> optimized" "$LOG"
"$CLI" read "${c1[@]}" -N 2 --start-block 0 --data-size 4096 --data "$tmp/back" >/dev/null 2>&1
check "then I/O to group 2 through port 1 succeeds, data intact" cmp -s "$tmp/data" "$tmp/back"
"$CLI" ana-log "${c1[@]}" --output-format=json >"$tmp/a1b.json"
check "the change count went up by 3" json_eq "$tmp/a1b.json" "d['chgcnt']" "$((chg0 + 3))"
check "port 1 now has group 2 optimized" json_eq "$tmp/a1b.json" "d['ANA DESC LIST '][1]['state']" optimized
"$CLI" ana-log "${c2[@]}" --output-format=json >"$tmp/a2b.json"
check "port 2 is left as it was" json_eq "$tmp/a2b.json" "[g['state'] for g in d['ANA DESC LIST ']]" \
	"['inaccessible', 'optimized']"

echo "== set-ana-state arguments"
tc set-ana-state 1 0 optimized >/dev/null 2>"$tmp/e1"
check "group 0 refused" bash -c "[ $? = 2 ] && grep -q \"bad ANA group id '0' (expected 1 to 128)\" '$tmp/e1'"
tc set-ana-state 1 129 optimized >/dev/null 2>"$tmp/e2"
check "group 129 refused" grep -q "bad ANA group id '129'" "$tmp/e2"
tc set-ana-state 1 1 fast >/dev/null 2>"$tmp/e3"
check "an unknown state refused, naming the states" grep -q "unknown ANA state 'fast' (expected optimized, non-optimized, inaccessible, persistent-loss or change)" "$tmp/e3"
tc set-ana-state 9 1 optimized >/dev/null 2>"$tmp/e4"
check "an unknown port refused" bash -c "[ $? != 0 ] && grep -q 'port 9' '$tmp/e4'"
tc set-ana-state 1 1 >/dev/null 2>"$tmp/e5"
check "a missing argument refused" [ $? = 2 ]
tc rpc set_ana_state '{"portid": 1, "grpid": 1, "state": "sideways"}' >/dev/null 2>"$tmp/e6"
check "the control socket refuses a bad state too" grep -q 'unknown ANA state \\\?"sideways' "$tmp/e6"

echo "== save-config round trip"
tc set-ana-state 2 3 non-optimized >/dev/null
tc save-config "$tmp/saved.json" >/dev/null
check "saved: the controller ID range" json_eq "$tmp/saved.json" \
	"(d['subsystems'][0]['attr']['cntlid_min'], d['subsystems'][0]['attr']['cntlid_max'])" "('200', '299')"
check "saved: namespaces' ana_grpid" json_eq "$tmp/saved.json" \
	"[n['ana_grpid'] for n in d['subsystems'][0]['namespaces']]" "[1, 2, 1]"
check "saved: ports' ana_groups in nvmetcli's form" json_eq "$tmp/saved.json" \
	"[p['ana_groups'] for p in d['ports']]" \
	"[[{'ana': {'state': 'optimized'}, 'grpid': 1}, {'ana': {'state': 'optimized'}, 'grpid': 2}], [{'ana': {'state': 'inaccessible'}, 'grpid': 1}, {'ana': {'state': 'optimized'}, 'grpid': 2}, {'ana': {'state': 'non-optimized'}, 'grpid': 3}]]"
sed "s/\"$port1\"/\"$(free_port "$port1" "$port2")\"/; s/\"$port2\"/\"$(free_port "$port1" "$port2")\"/" \
	"$tmp/saved.json" >"$tmp/saved2.json"
"$TGT" --config "$tmp/saved2.json" --check-config >"$tmp/check.out" 2>&1
check "the saved file loads (--check-config)" [ $? = 0 ]
check "its plan shows the ports' ANA groups" grep -q "add port 2: .*, ANA groups: 1 inaccessible 2 optimized 3 non-optimized$" "$tmp/check.out"
check "and the namespaces' groups" grep -q "add namespace 2 to $NQN: RAM 16777216 bytes, ANA group 2$" "$tmp/check.out"
python3 - "$tmp/saved.json" "$tmp/badgrp.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d['subsystems'][0]['namespaces'][0]['ana_grpid'] = 7
json.dump(d, open(sys.argv[2], 'w'))
EOF
"$TGT" --config "$tmp/badgrp.json" --check-config >"$tmp/badgrp.out" 2>&1
check "a namespace in a group no port lists is refused" bash -c \
	"[ $? != 0 ] && grep -q 'subsystems\[0\].namespaces\[0\].ana_grpid: ANA group 7 is not in any port' '$tmp/badgrp.out'"
python3 - "$tmp/saved.json" "$tmp/badstate.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d['ports'][0]['ana_groups'][0]['ana']['state'] = 'fast'
json.dump(d, open(sys.argv[2], 'w'))
EOF
"$TGT" --config "$tmp/badstate.json" --check-config >"$tmp/badstate.out" 2>&1
check "an unknown state in a file is refused, naming the field" bash -c \
	"[ $? != 0 ] && grep -q 'ports\[0\].ana_groups\[0\].ana.state: unknown ANA state \"fast\"' '$tmp/badstate.out'"

echo "== SIGHUP reload"
# Port 1: group 1 non-optimized, group 2 inaccessible; namespace 2 moves to group 1.
config non-optimized inaccessible inaccessible optimized 1 >"$CFG"
kill -HUP "$tpid"
for _ in $(seq 50); do grep -q "reload: .*change(s) applied" "$LOG" && break; sleep 0.1; done
check "the reload applied without failures" grep -qE "reload: .*: [0-9]+ change\(s\) applied, 0 failed" "$LOG"
check "namespace 2 moved to group 1, logged" grep -q "reload: moved namespace 2 of $NQN to ANA group 1" "$LOG"
check "port 1's groups changed, logged" grep -q "reload: changed ANA groups of port 1: 1 non-optimized 2 inaccessible" "$LOG"
check "port 2 lost group 3 (not in the file)" grep -q "reload: changed ANA groups of port 2: 1 inaccessible 2 optimized" "$LOG"
check "no port or namespace was recreated" bash -c "! grep -qE 'reload: (removed|added) (port|namespace)' '$LOG'"
"$CLI" ana-log "${c1[@]}" --output-format=json >"$tmp/a1c.json"
check "port 1 after the reload" json_eq "$tmp/a1c.json" \
	"[(g['grpid'], g['state'], [n['nsid'] for n in g['NSIDS']]) for g in d['ANA DESC LIST ']]" \
	"[(1, 'non-optimized', [1, 2, 3]), (2, 'inaccessible', [])]"
"$CLI" read "${c1[@]}" -N 2 --start-block 0 --data-size 4096 >/dev/null 2>&1
check "namespace 2 is reachable through port 1 in its new group" [ $? = 0 ]

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
