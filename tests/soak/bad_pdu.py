# SPDX-License-Identifier: MIT
"""Malformed NVMe/TCP input and abrupt disconnects, for SECONDS.

    bad_pdu.py ADDR PORT SUBNQN SECONDS [--idle] [--seed N] [--skip CASE,...] [--only CASE,...]

Each case opens a new connection, sends something wrong (garbage, bad
lengths, types or digests, PDUs out of sequence, a second ICReq or Connect,
H2CData nobody asked for) or walks away in the middle of a command, and
closes it, with a FIN or a reset. Where the input is malformed the target
must answer with a C2HTermReq or close the connection within REACT seconds;
where it is a valid PDU with a wrong NVMe meaning, an error status is fine too.
SUBNQN must admit any host and have a RAM namespace 1 of 512-byte blocks that
nothing else uses: some cases write to it.

--idle also keeps connections that go quiet at different stages (TCP only,
after ICReq, after an admin Connect with a 5 s Keep Alive timeout, with an I/O
queue) and reports when the target dropped each one.

Writes $SOAK_DIR/bad_pdu.json: connections, per-case counts, refused connects,
cases without the required reaction, and the idle connections' fate. The
stop file ends it early. $SOAK_PDU_SKIP (comma-separated case names) is
merged into --skip.
"""
import argparse
import functools
import json
import os
import random
import socket
import struct
import sys
import time

# The PDU builders and the host connection, shared with tests/interop/bad_pdu.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from nvme_tcp_pdu import (C2H_DATA, C2H_TERM, CMD, F_LAST, H2C_DATA, ICRESP, R2T, RSP, Closed,  # noqa: E402
                          Refused, capsule, h2c_data, hdr, icreq, prop_get, prop_set, rw_cmd, sqe)
import nvme_tcp_pdu  # noqa: E402

HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:50a4c0de-0000-4000-8000-0000000bad00"
REACT = 10.0  # seconds the target has to react to malformed input
connect_cmd = functools.partial(nvme_tcp_pdu.connect_cmd, hostnqn=HOSTNQN)


class Conn(nvme_tcp_pdu.Conn):
    def __init__(self, addr, port, timeout=REACT, rcvbuf=0):
        super().__init__(addr, port, timeout, rcvbuf)

    def admin(self, subnqn, kato=30000, enable=True, hostnqn=HOSTNQN):
        s, d = connect_cmd(self.next_cid(), subnqn, kato=kato, hostnqn=hostnqn)
        status, dw0, _ = self.command(s, d)
        if status:
            raise ValueError(f"admin Connect failed with status {status:#x}")
        if enable:
            self.command(prop_set(self.next_cid(), 0x14, 0x460001))
            for _ in range(50):
                status, csts, _ = self.command(prop_get(self.next_cid(), 0x1C))
                if status == 0 and csts & 1:
                    break
                time.sleep(0.05)
        return dw0 & 0xFFFF


def drain(c, n):
    """Wait for N responses (or the end of the connection), so that the target
    has acted on the commands before the connection goes away."""
    c.s.settimeout(REACT)
    try:
        for _ in range(n):
            while c.recv_pdu()[0] != RSP:
                pass
    except (Closed, ValueError, OSError):
        pass


def reaction(c, nvme_ok):
    """What the target did with the connection within REACT seconds."""
    c.s.settimeout(REACT)
    try:
        ptype, _, _, _, pdu = c.recv_pdu()
    except (Closed, ConnectionResetError, BrokenPipeError):
        return "closed"
    except socket.timeout:
        return "nothing"
    except ValueError as e:
        return f"bad PDU: {e}"
    if ptype == C2H_TERM:
        return "termreq"
    if nvme_ok and ptype == RSP:
        status = struct.unpack_from("<H", pdu, 22)[0] >> 1
        return "nvme-error" if status else "nvme-success"
    return f"PDU type {ptype:#x}"


class Abuse:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.counts = {}
        self.connections = 0
        self.refused = 0
        self.unexpected = []
        self.skip = set(filter(None, (a.skip + "," + os.environ.get("SOAK_PDU_SKIP", "")).split(",")))
        self.idle = []
        self.idle_errors = []

    def new(self):
        self.connections += 1
        return Conn(self.a.addr, self.a.port)

    def connected(self, io=False, hd=False, dd=False, kato=30000):
        """A connection past ICReq and Connect: admin, or an I/O queue of a fresh controller."""
        c = self.new()
        c.handshake(hd, dd)
        if not io:
            c.cntlid = c.admin(self.a.subnqn, kato=kato)
            return c, None
        adm = c
        cntlid = adm.admin(self.a.subnqn, kato=kato)
        c = self.new()
        c.cntlid = cntlid
        c.handshake(hd, dd)
        s, d = connect_cmd(c.next_cid(), self.a.subnqn, qid=1, cntlid=cntlid)
        status, _, _ = c.command(s, d)
        if status:
            adm.close()
            raise ValueError(f"I/O queue Connect failed with status {status:#x}")
        return c, adm

    # Each case returns (connection, expectation): "term" = C2HTermReq or close,
    # "nvme" = that or an NVMe error status, None = nothing required.
    def case_random_bytes(self):
        c = self.new()
        c.send(self.rng.randbytes(self.rng.choice([1, 7, 8, 64, 128, 4096, 20000])))
        return c, None

    def case_random_after_icreq(self):
        c = self.new()
        c.handshake()
        c.send(bytes([self.rng.choice([0, 2, 4, 6, 8, 0x42, 0xFF])]) + self.rng.randbytes(self.rng.randrange(7, 600)))
        return c, None

    def case_cmd_before_icreq(self):
        c = self.new()
        c.send(capsule(sqe(0x18, cid=1)))
        return c, "term"

    def case_h2cdata_before_icreq(self):
        c = self.new()
        c.send(h2c_data(1, 1, 0, bytes(512)))
        return c, "term"

    def case_icreq_bad_fields(self):
        c = self.new()
        c.send(self.rng.choice([icreq(hlen=64), icreq(plen=127), icreq(plen=1 << 20), icreq(pfv=1),
                                icreq(hpda=32)]))
        return c, "term"

    def case_double_icreq(self):
        c = self.new()
        c.handshake()
        c.send(icreq())
        return c, "term"

    def case_bad_type(self):
        c = self.new()
        c.handshake()
        t = self.rng.choice([ICRESP, C2H_TERM, RSP, C2H_DATA, R2T, 0x08, 0x0A, 0x7F, 0xFF])
        c.send(hdr(t, 0, 24, 0, 24) + bytes(16))
        return c, "term"

    def case_bad_lengths(self):
        c = self.new()
        c.handshake()
        c.send(self.rng.choice([
            hdr(CMD, 0, 72, 0, 40) + bytes(32),  # PLEN < HLEN
            hdr(CMD, 0, 24, 0, 72) + sqe(0x18, 1),  # wrong HLEN for a capsule
            hdr(CMD, 0, 72, 72, 0x7FFFFFFF) + rw_cmd(True, 1, 0, 8, incapsule=True),  # huge in-capsule data
            hdr(CMD, 0, 72, 200, 72 + 512) + rw_cmd(True, 1, 0, 1, incapsule=True) + bytes(512),  # PDO past data
            hdr(H2C_DATA, F_LAST, 24, 24, 20) + bytes(12),
        ]))
        return c, "nvme"  # a data length the SGL disagrees with may be an NVMe error

    def case_bad_hdgst(self):
        c = self.new()
        c.handshake(hd=True)
        pdu = bytearray(capsule(sqe(0x18, cid=1), hd=True))
        pdu[72] ^= 0xFF
        c.send(bytes(pdu))
        return c, "term"

    def case_missing_hdgst(self):
        c = self.new()
        c.handshake(hd=True)
        c.send(capsule(sqe(0x18, cid=1)))
        return c, "term"

    def case_bad_ddgst(self):
        c, adm = self.connected(io=True, hd=True, dd=True)
        pdu = bytearray(capsule(rw_cmd(True, 7, 0, 2, incapsule=True), bytes(1024), hd=True, dd=True))
        pdu[-1] ^= 0xFF
        c.send(bytes(pdu))
        return c, "term", adm

    def case_h2cdata_unknown_ttag(self):
        c, adm = self.connected(io=self.rng.random() < 0.5)
        c.send(h2c_data(self.rng.randrange(1 << 16), self.rng.randrange(1 << 16), 0, bytes(512)))
        return c, "term", adm

    def case_h2cdata_out_of_range(self):
        c, adm = self.connected(io=True)
        c.send(capsule(rw_cmd(True, 9, 0, 64)))
        ptype, _, _, _, pdu = c.recv_pdu()
        if ptype != R2T:
            raise ValueError(f"expected R2T, got PDU type {ptype:#x}")
        _, ttag, r2to, r2tl = struct.unpack_from("<HHII", pdu, 8)
        off, n = self.rng.choice([(r2to + r2tl, 512), (r2to, r2tl + 512), (r2to + 1, 511)])
        c.send(h2c_data(9, ttag, off, bytes(n)))
        return c, "term", adm

    def case_double_connect(self):
        """A second Connect on a queue: after the first completed, right behind it, or while the
        target waits for the first one's data (R2T)."""
        how = self.rng.choice(["after", "behind", "r2t"])
        if how == "after":
            c, adm = self.connected(io=self.rng.random() < 0.5)
            s, d = connect_cmd(c.next_cid(), self.a.subnqn, qid=1 if adm else 0, cntlid=c.cntlid)
            c.send(capsule(s, d))
            return c, "nvme", adm
        adm = None
        qid, cntlid = 0, 0xFFFF
        if self.rng.random() < 0.5:
            adm, _ = self.connected()
            qid, cntlid = 1, adm.cntlid
        c = self.new()
        c.handshake()
        s2, d2 = connect_cmd(2, self.a.subnqn, qid=qid, cntlid=cntlid)
        if how == "behind":
            s1, d1 = connect_cmd(1, self.a.subnqn, qid=qid, cntlid=cntlid)
            c.send(capsule(s1, d1) + capsule(s2, d2))
            drain(c, 2)
            return c, None, adm
        s1, d1 = connect_cmd(1, self.a.subnqn, qid=qid, cntlid=cntlid, incapsule=False)
        c.send(capsule(s1))
        ptype, _, _, _, pdu = c.recv_pdu()
        if ptype != R2T:
            return c, None, adm  # Connect data only in the capsule: fine
        _, ttag, r2to, _ = struct.unpack_from("<HHII", pdu, 8)
        c.send(capsule(s2, d2))
        time.sleep(0.05)
        c.send(h2c_data(1, ttag, r2to, d1))
        drain(c, 2)
        return c, None, adm

    def case_io_connect_bad_cntlid(self):
        c = self.new()
        c.handshake()
        s, d = connect_cmd(1, self.a.subnqn, qid=1, cntlid=self.rng.choice([0, 0xFFEF, 0x1234]))
        c.send(capsule(s, d))
        return c, "nvme"

    def case_cmd_before_connect(self):
        c = self.new()
        c.handshake()
        c.send(capsule(self.rng.choice([sqe(0x06, 1, sgl_len=4096, cdw10=1), rw_cmd(False, 1, 0, 8),
                                        prop_get(1, 0x1C)])))
        return c, "nvme"

    def case_connect_unknown_subsystem(self):
        c = self.new()
        c.handshake()
        s, d = connect_cmd(1, "nqn.2026-01.io.nvmeof.soak:nobody")
        c.send(capsule(s, d))
        return c, "nvme"

    def case_truncated(self):
        c = self.new()
        if self.rng.random() < 0.5:
            c.send(icreq()[:self.rng.randrange(1, 128)])
        else:
            c.handshake()
            pdu = capsule(rw_cmd(True, 3, 0, 2, incapsule=True), bytes(1024))
            c.send(pdu[:self.rng.randrange(1, len(pdu))])
        return c, None

    def case_disconnect_mid_write(self):
        c, adm = self.connected(io=True)
        c.send(capsule(rw_cmd(True, 5, self.rng.randrange(0, 8192), 256)))
        if self.rng.random() < 0.7:
            ptype, _, _, _, pdu = c.recv_pdu()
            if ptype == R2T:
                _, ttag, r2to, r2tl = struct.unpack_from("<HHII", pdu, 8)
                c.send(h2c_data(5, ttag, r2to, bytes(min(r2tl, 8192)), last=False))
        return c, None, adm

    def case_disconnect_mid_read(self):
        c, adm = self.connected(io=True)
        for i in range(self.rng.choice([1, 8, 32])):
            c.send(capsule(rw_cmd(False, 20 + i, self.rng.randrange(0, 8192), 256)))
        if self.rng.random() < 0.5:
            c.s.recv(1000)
        return c, None, adm

    def run_case(self, name, fn):
        self.counts[name] = self.counts.get(name, 0) + 1
        adm = None
        try:
            r = fn()
            c, expect = r[0], r[1]
            adm = r[2] if len(r) > 2 else None
        except Refused:
            self.refused += 1
            return
        except (Closed, ConnectionResetError, BrokenPipeError):
            return  # the target closed before we were done: fine for a bad PDU
        except (socket.timeout, ValueError, OSError) as e:
            self.unexpected.append(f"{name}: while setting up: {e!r}")
            return
        if expect:
            got = reaction(c, expect == "nvme")
            ok = got in ("closed", "termreq") or (expect == "nvme" and got == "nvme-error")
            if not ok:
                self.unexpected.append(f"{name}: target answered with {got}")
        c.close(reset=self.rng.random() < 0.5)
        if adm:
            adm.close(reset=self.rng.random() < 0.5)

    # Idle connections: opened once, watched until the end.
    def open_idle(self):
        def tcp_only():
            return self.new()

        def after_icreq():
            c = self.new()
            c.handshake()
            return c

        def admin_kato():
            c = self.new()
            c.handshake()
            c.admin(self.a.subnqn, kato=5000, enable=False)
            return c

        def io_queue():
            c, adm = self.connected(io=True, kato=5000)
            self.idle.append({"name": "admin queue of the idle I/O queue", "conn": adm,
                              "opened": time.time(), "closed": None})
            return c

        for name, fn in (("TCP connection without ICReq", tcp_only), ("connection after ICReq", after_icreq),
                         ("admin queue, KATO 5 s, no Keep Alive", admin_kato),
                         ("I/O queue, KATO 5 s on its admin queue", io_queue)):
            try:
                c = fn()
            except (Refused, Closed, OSError, ValueError) as e:
                self.idle_errors.append(f"{name}: could not open: {e!r}")
                continue
            c.s.setblocking(False)
            self.idle.append({"name": name, "conn": c, "opened": time.time(), "closed": None})
        for i in self.idle:
            i["conn"].s.setblocking(False)

    def poll_idle(self):
        for i in self.idle:
            if i["closed"] is not None:
                continue
            try:
                while True:
                    b = i["conn"].s.recv(65536)
                    if not b:
                        i["closed"] = time.time()
                        break
            except BlockingIOError:
                pass
            except OSError:
                i["closed"] = time.time()

    def run(self, seconds):
        deadline = time.time() + seconds
        stop = os.path.join(os.environ.get("SOAK_DIR", "/nonexistent"), "stop")
        if self.a.idle:
            self.open_idle()
        cases = [(n[5:], getattr(self, n)) for n in sorted(dir(self)) if n.startswith("case_")]
        cases = [(n.replace("_", "-"), f) for n, f in cases if n.replace("_", "-") not in self.skip
                 and (not self.a.only or n.replace("_", "-") in self.a.only.split(","))]
        while time.time() < deadline and not os.path.exists(stop):
            name, fn = self.rng.choice(cases)
            self.run_case(name, fn)
            self.poll_idle()
            if self.refused >= 3:
                break  # the target is gone
            time.sleep(self.rng.uniform(0.02, 0.1))
        if self.idle:
            # The target has had at least 40 s to drop them.
            while time.time() < self.idle[0]["opened"] + 40 and not os.path.exists(stop):
                self.poll_idle()
                time.sleep(0.5)
            self.poll_idle()
        res = {"connections": self.connections, "cases": self.counts, "refused": self.refused,
               "unexpected": self.unexpected, "skipped": sorted(self.skip), "idle_errors": self.idle_errors,
               "idle": [{"name": i["name"],
                         "closed_after": None if i["closed"] is None else round(i["closed"] - i["opened"], 1),
                         "held": round(time.time() - i["opened"], 1)} for i in self.idle]}
        for i in self.idle:
            i["conn"].close()
        path = os.path.join(os.environ.get("SOAK_DIR", "."), "bad_pdu.json")
        with open(path, "w") as f:
            json.dump(res, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    ap.add_argument("subnqn")
    ap.add_argument("seconds", type=float)
    ap.add_argument("--idle", action="store_true")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--skip", default="")
    ap.add_argument("--only", default="", help="run only these cases (comma-separated)")
    Abuse(ap.parse_args()).run(ap.parse_args().seconds)


if __name__ == "__main__":
    main()
