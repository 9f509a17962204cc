#!/bin/bash
# Memory of an idle connection, measured: the target's resident set (VmRSS)
# before and after N peers connect and then sit idle, in three states:
#
#   tcp      accepted, nothing sent yet
#   icreq    ICReq sent, ICResp received, no Connect
#   admin    admin Connect completed (one idle controller per connection)
#
#   bench/idle-connection-rss.sh [BUILD_DIR] [N]     (defaults: build, 400)
#
# Runs in a private network namespace; prints KiB per connection for each
# state. Deadlines are off during the measurement so nothing is reaped.
set -eu

BUILD=$(cd "${1:-build}" && pwd)
N=${2:-400}

if [ -z "${IN_NETNS:-}" ]; then
	exec unshare -n env IN_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
ulimit -n $((N * 2 + 256))

TMP=$(mktemp -d)
TGT=
cleanup() {
	[ -n "$TGT" ] && kill "$TGT" 2>/dev/null && wait "$TGT" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

"$BUILD/nvmeof-target" --ram-size 64M --reactors 2 --rpc-socket none --disc-port 0 \
	--icreq-timeout 0 --connect-timeout 0 --max-connections 0 --max-connections-per-addr 0 \
	--log-level error 2>"$TMP/target.log" &
TGT=$!
for _ in $(seq 100); do
	(exec 3<>/dev/tcp/127.0.0.1/4420) 2>/dev/null && break
	sleep 0.05
done

python3 - "$TGT" "$N" <<'EOF'
import socket, struct, sys, time

pid, n = int(sys.argv[1]), int(sys.argv[2])
NQN = b"nqn.2026-01.io.nvmeof:ramdisk"
HOST = b"nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-00000000beef"

def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def recv_exact(s, k):
    b = b""
    while len(b) < k:
        c = s.recv(k - len(b))
        if not c:
            raise EOFError
        b += c
    return b

def icreq(s):
    # ICReq: type 0, hlen 128, plen 128, pfv 0, hpda 0, no digests, maxr2t 0
    s.sendall(struct.pack("<BBBBI", 0, 0, 128, 0, 128) + struct.pack("<HBBI", 0, 0, 0, 0) + bytes(112))
    recv_exact(s, 128)

def connect_admin(s):
    data = bytearray(1024)
    data[0:16] = bytes(16)                      # hostid
    struct.pack_into("<H", data, 16, 0xffff)     # cntlid: dynamic
    data[256:256 + len(NQN)] = NQN
    data[512:512 + len(HOST)] = HOST
    sqe = bytearray(64)
    sqe[0] = 0x7f                                # fabrics
    sqe[1] = 0x40                                # SGL
    struct.pack_into("<H", sqe, 2, 1)            # cid
    sqe[4] = 0x01                                # Connect
    # SGL: data block, offset 0, length 1024, type 0x01 subtype 0x01 (offset)
    struct.pack_into("<QIxxxB", sqe, 24, 0, 1024, 0x01)
    struct.pack_into("<HHHBB", sqe, 40, 0, 0, 31, 0, 0)   # recfmt qid sqsize(31) cattr
    struct.pack_into("<I", sqe, 48, 120000)      # kato
    pdu = struct.pack("<BBBBI", 4, 0, 72, 72, 72 + 1024) + bytes(sqe) + bytes(data)
    s.sendall(pdu)
    rsp = recv_exact(s, 24)
    status = struct.unpack_from("<H", rsp, 8 + 14)[0] >> 1
    if status:
        raise SystemExit(f"connect failed: status {status:#x}")

def measure(name, step):
    time.sleep(0.3)
    base = rss_kib()
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", 4420))
        step(s)
        socks.append(s)
    time.sleep(0.5)
    after = rss_kib()
    print(f"{name:6s} {n} connections: RSS {base} -> {after} KiB, {(after - base) / n:.1f} KiB per connection")
    for s in socks:
        s.close()
    time.sleep(1.0)

measure("tcp", lambda s: None)
measure("icreq", icreq)
measure("admin", lambda s: (icreq(s), connect_admin(s)))
EOF
