#!/bin/bash
# Configuration reload and check: --check-config prints the plan of a
# good file and names the field of a bad one; SIGHUP applies an edited
# file live (a namespace added and one removed, a host with a
# DH-HMAC-CHAP key, allow_any_host, a port added and later removed) while
# a host runs verified I/O that must not notice; a broken file changes
# nothing; without --config there is nothing to reload; connects and
# disconnects are logged at the default level.
#
#   usage: tests/integration/reload.sh [BUILD]      (BUILD defaults to build)
#
# In a ThreadSanitizer build, each distinct race reported is one more
# failure. The last line is "N passed, N failed".
set -u
umask 077 # the files hold DH-HMAC-CHAP secrets
CHECK_PREFIX=
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
integration_begin reload "$@"
dpid=
cleanup() {
	[ -n "$tpid" ] && kill "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	[ "${RELOAD_KEEP:-0}" = 1 ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT

port=$(free_port)
port2=$(free_port "$port")
NQN=nqn.2026-01.io.nvmeof:reload
HN=nqn.2014-08.org.nvmexpress:uuid:6c8e2a1d-4d52-4d2f-8e4f-3a7b8c9d0e01
HN2=nqn.2014-08.org.nvmexpress:uuid:6c8e2a1d-4d52-4d2f-8e4f-3a7b8c9d0e02
SOCK=$tmp/target.sock
LOG=$tmp/target.log
CFG=$tmp/config.json
tcli() { "$CLI" target --rpc-socket "$SOCK" "$@"; }
KEY=$("$CLI" gen-dhchap-key --hmac=1 --nqn "$HN2")

# config ALLOW_ANY NAMESPACES ALLOWED_HOSTS HOSTS PORT2: an nvmetcli file.
# NAMESPACES, ALLOWED_HOSTS and HOSTS are JSON array bodies; PORT2 1 adds port 2.
config() {
	local ports
	ports="{ \"portid\": 1, \"addr\": { \"trtype\": \"tcp\", \"adrfam\": \"ipv4\", \"traddr\": \"127.0.0.1\",
	    \"trsvcid\": \"$port\", \"treq\": \"not specified\" }, \"subsystems\": [ \"$NQN\" ], \"referrals\": [] }"
	[ "$5" = 1 ] && ports="$ports, { \"portid\": 2, \"addr\": { \"trtype\": \"tcp\", \"adrfam\": \"ipv4\",
	    \"traddr\": \"127.0.0.1\", \"trsvcid\": \"$port2\" }, \"subsystems\": [ \"$NQN\" ] }"
	cat <<JSON
{ "hosts": [ $4 ],
  "subsystems": [ { "nqn": "$NQN", "attr": { "allow_any_host": "$1", "serial": "reload01" },
      "allowed_hosts": [ $3 ], "namespaces": [ $2 ] } ],
  "ports": [ $ports ] }
JSON
}
ram() { echo "{ \"nsid\": $1, \"enable\": 1, \"device\": { \"size\": \"$2\" } }"; }

config 1 "$(ram 1 64M), $(ram 3 16M)" "\"$HN\"" "{ \"nqn\": \"$HN\" }" 0 >"$CFG"
chmod 600 "$CFG"

echo "== --check-config"
check "a valid file: exit 0" bash -c "'$TGT' --config '$CFG' --check-config >'$tmp/check.out' 2>&1"
check "the plan lists subsystem, namespaces, host and port" bash -c \
	"grep -q 'add subsystem $NQN' '$tmp/check.out' && grep -q 'add namespace 1 to $NQN' '$tmp/check.out' &&
	 grep -q 'add namespace 3 to $NQN' '$tmp/check.out' && grep -q 'allow host $HN on $NQN' '$tmp/check.out' &&
	 grep -q 'add port 1: ipv4 127.0.0.1:$port, tsas none' '$tmp/check.out' && grep -q 'export $NQN on port 1' '$tmp/check.out'"
config 0 "$(ram 1 64M)" "\"$HN2\"" "{ \"nqn\": \"$HN2\", \"dhchap\": { \"key\": \"$KEY\" } }" 0 >"$tmp/keyed.json"
chmod 600 "$tmp/keyed.json"
check "keys show as \"key set\", never the key" bash -c \
	"'$TGT' --config '$tmp/keyed.json' --check-config >'$tmp/check2.out' 2>&1 &&
	 grep -q 'set keys of host $HN2: DH-HMAC-CHAP key set' '$tmp/check2.out' && ! grep -q DHHC-1 '$tmp/check2.out'"
sed 's/"trsvcid": "'"$port"'"/"trsvcid": "http"/' "$CFG" >"$tmp/bad.json"
rc=0
"$TGT" --config "$tmp/bad.json" --check-config >"$tmp/bad.out" 2>&1 || rc=$?
check "a bad file: exit nonzero naming the field" bash -c "[ $rc != 0 ] && grep -q 'ports\[0\].addr.trsvcid' '$tmp/bad.out'"
check "--check-config opens no port" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null"

echo "== SIGHUP applies the edited file"
"$TGT" --config "$CFG" --rpc-socket "$SOCK" --reactors 2 >"$LOG" 2>&1 &
tpid=$!
TPID=$tpid
target_wait_ready "$SOCK"
conn=(-t tcp -a 127.0.0.1 -s "$port" -n "$NQN" --hostnqn "$HN")
"$CLI" perf "${conn[@]}" --queues 2 -q 8 -o 4096 -w randrw -T 4 --verify >"$tmp/perf.out" 2>&1 &
ppid=$!
connect_re="host $HN connected to $NQN \(peer 127.0.0.1:[0-9]+, controller [0-9]+"
for _ in $(seq 100); do # perf may start slowly under load
	grep -qE "$connect_re" "$LOG" && break
	sleep 0.1
done
check "a connect is logged at notice (host, peer, subsystem, controller)" grep -qE "$connect_re" "$LOG"

config 0 "$(ram 1 64M), $(ram 2 16M)" "\"$HN\", \"$HN2\"" \
	"{ \"nqn\": \"$HN\" }, { \"nqn\": \"$HN2\", \"dhchap\": { \"key\": \"$KEY\" } }" 1 >"$CFG.new"
mv "$CFG.new" "$CFG"
kill -HUP "$tpid"
# wait_log PATTERN: up to 5 s for a line of LOG.
wait_log() {
	for _ in $(seq 50); do
		[ "$(grep -cE "$1" "$LOG")" -ge "${2:-1}" ] && return 0
		sleep 0.1
	done
	return 1
}
check "the reload ends with a summary" wait_log "reload: .*: [0-9]+ change\(s\) applied, 0 failed"
check "added namespace 2 logged" grep -q "reload: added namespace 2 to $NQN" "$LOG"
check "removed namespace 3 logged" grep -q "reload: removed namespace 3 from $NQN" "$LOG"
check "host keys logged without the key" bash -c "grep -q 'reload: set keys of host $HN2: DH-HMAC-CHAP key set' '$LOG' && ! grep -q DHHC-1 '$LOG'"
check "allow_any_host change logged" grep -q "reload: changed subsystem $NQN: allow_any_host 0" "$LOG"
check "added port 2 logged" grep -q "reload: added port 2: ipv4 127.0.0.1:$port2" "$LOG"
check "the unchanged namespace 1 and port 1 are left alone" bash -c "! grep -qE 'reload: .*(namespace 1 |port 1[ :])' '$LOG'"
tcli list --json >"$tmp/list.json"
check "target list --json shows the new state" python3 - "$tmp/list.json" "$NQN" "$HN2" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
s = [s for s in t["subsystems"] if s["nqn"] == sys.argv[2]][0]
assert sorted(n["nsid"] for n in s["namespaces"]) == [1, 2], s["namespaces"]
assert s["allow_any_host"] is False
assert sys.argv[3] in s["hosts"]
assert sorted(p["portid"] for p in t["ports"]) == [1, 2]
assert [h for h in t["hosts"] if h["nqn"] == sys.argv[3] and h.get("dhchap_key")]
PY
check "the added host connects with its key on the added port" \
	bash -c "'$CLI' id-ctrl -t tcp -a 127.0.0.1 -s $port2 -n $NQN --hostnqn $HN2 -S '$KEY' >/dev/null"
check "the added namespace is served" bash -c \
	"'$CLI' id-ns -t tcp -a 127.0.0.1 -s '$port2' -n '$NQN' --hostnqn '$HN2' -S '$KEY' -N 2 >/dev/null"

echo "== a broken file changes nothing"
cp "$CFG" "$tmp/good.json"
printf '{ "hosts": [ }' >"$CFG"
kill -HUP "$tpid"
check "the refusal is logged with the reason" wait_log "reload refused, the configuration is unchanged: .*config.json:1:[0-9]+: JSON syntax error"
config 0 "$(ram 1 64M)" "\"$HN\"" "{ \"nqn\": \"$HN\" }" 0 | sed 's/"allow_any_host": "0"/"allow_any_host": "maybe"/' >"$CFG"
kill -HUP "$tpid"
check "an invalid value is refused naming the field" wait_log "reload refused.*subsystems\[0\]\.attr\.allow_any_host"
tcli list --json >"$tmp/list2.json"
check "the target is as before" python3 - "$tmp/list.json" "$tmp/list2.json" <<'PY'
import json, sys
def shape(t):
    return ([(s["nqn"], s["allow_any_host"], sorted(s["hosts"]), sorted(n["nsid"] for n in s["namespaces"]))
             for s in t["subsystems"]], sorted(p["portid"] for p in t["ports"]))
assert shape(json.load(open(sys.argv[1]))) == shape(json.load(open(sys.argv[2])))
PY
check "the daemon still runs" kill -0 "$tpid"

echo "== a change the target refuses"
port3=$(free_port "$port" "$port2")
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(30)' "$port3" &
busy=$!
sleep 0.3
cp "$tmp/good.json" "$CFG"
python3 - "$CFG" "$port3" "$NQN" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["ports"].append({"portid": 3, "addr": {"trtype": "tcp", "adrfam": "ipv4", "traddr": "127.0.0.1",
                   "trsvcid": sys.argv[2]}, "subsystems": [sys.argv[3]]})
c["subsystems"][0]["attr"]["model"] = "reloaded"
json.dump(c, open(sys.argv[1], "w"))
PY
kill -HUP "$tpid"
check "a port whose address is in use: refused with the reason" wait_log "reload: cannot add port 3: .*Address already in use"
check "what builds on it is not tried" grep -q "reload: did not export $NQN on port 3: it depends on a change that failed" "$LOG"
check "the other changes are applied" grep -q "reload: changed subsystem $NQN: .*model reloaded" "$LOG"
check "the summary counts the failures" grep -qE "reload: .*: 1 change\(s\) applied, 2 failed" "$LOG"
kill "$busy" 2>/dev/null
wait "$busy" 2>/dev/null

echo "== removing a port; a reload with nothing to do"
config 0 "$(ram 1 64M), $(ram 2 16M)" "\"$HN\", \"$HN2\"" \
	"{ \"nqn\": \"$HN\" }, { \"nqn\": \"$HN2\", \"dhchap\": { \"key\": \"$KEY\" } }" 0 >"$CFG"
kill -HUP "$tpid"
check "removed port 2 logged" wait_log "reload: removed port 2"
check "port 2 no longer listens" bash -c "sleep 0.3; ! (exec 3<>/dev/tcp/127.0.0.1/$port2) 2>/dev/null"
kill -HUP "$tpid"
check "an unchanged file: no change" wait_log "reload: .*: no change"

wait "$ppid"
check "the running perf finished with 0 errors (not disturbed)" grep -q ' 0 errors' "$tmp/perf.out"
check "a disconnect is logged at notice" wait_log "host $HN disconnected from $NQN \(controller [0-9]+"

echo "== without --config"
dport=$(free_port "$port" "$port2" "$port3")
"$TGT" --port "$dport" --disc-port 0 --ram-size 16M --rpc-socket none >"$tmp/default.log" 2>&1 &
dpid=$!
for _ in $(seq 100); do grep -q 'nvmeof-target: ready' "$tmp/default.log" && break; sleep 0.1; done
kill -HUP "$dpid"
for _ in $(seq 50); do grep -q 'nothing to reload' "$tmp/default.log" && break; sleep 0.1; done
check "SIGHUP says there is nothing to reload" grep -q 'SIGHUP: started without --config (embedded default): nothing to reload' "$tmp/default.log"
check "and the daemon keeps running" kill -0 "$dpid"
kill -TERM "$dpid"
rc=0
wait "$dpid" || rc=$?
dpid=
check "it exits 0 on SIGTERM" [ "$rc" = 0 ]

echo "== SIGTERM right behind SIGHUP"
# The reload may still run when SIGTERM is read: the shutdown then waits for it.
check "the daemon still runs" kill -0 "$tpid"
kill -HUP "$tpid"
kill -TERM "$tpid"
rc=0
wait "$tpid" || rc=$?
tpid=
TPID=
check "it reloads or not, then exits 0" [ "$rc" = 0 ]
check "and says it stopped" grep -q "stopped" "$LOG"
grep -q "shutting down once the reload in progress ends" "$LOG" && echo "(the shutdown waited for the reload)"
[ "$tsan" = 1 ] && tsan_check "$tmp/tsan"
target_log_if_failed 'warn|error|reload' 40
finish
