#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Malformed NVMe/TCP input against a running target.

    usage: bad_pdu.py ADDR PORT SUBNQN [--pid PID]

Opens one valid connection first (ICReq, admin Connect, enable, Identify)
and keeps it. Then, each on a new connection, sends a malformed PDU stream:
the target must answer with a C2HTermReq and/or close the connection, and
never with anything else. After every case the kept connection must still
answer a command, and the target process (--pid) must still be alive.
Prints one "CHECK ok: ..." / "CHECK FAIL: ..." line per check, then
"N passed, N failed"; exits nonzero on failure.
"""
import argparse
import functools
import os
import random
import socket
import struct
import sys
import time

# The PDU builders and the host connection, shared with tests/soak/bad_pdu.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from nvme_tcp_pdu import (C2H_TERM, CMD, F_LAST, H2C_DATA, RSP, Closed, Conn, capsule,  # noqa: E402
                          hdr, icreq, prop_get, prop_set, sqe)
import nvme_tcp_pdu  # noqa: E402

FES = {1: "invalid PDU header field", 2: "PDU sequence error", 3: "header digest error",
       4: "data transfer out of range", 5: "data transfer limit exceeded", 6: "unsupported parameter"}
HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:5e1ec7ed-0000-4000-8000-00000000bad0"
connect_cmd = functools.partial(nvme_tcp_pdu.connect_cmd, hostnqn=HOSTNQN)


results = {"passed": 0, "failed": 0}


def check(ok, what):
    print(("CHECK ok: " if ok else "CHECK FAIL: ") + what, flush=True)
    results["passed" if ok else "failed"] += 1
    return ok


def expect_term_or_close(c, what, timeout=5.0):
    """The target must send a C2HTermReq (then close) or just close."""
    c.s.settimeout(timeout)
    try:
        ptype, _, hlen, _, pdu = c.recv_pdu()
    except (Closed, ConnectionResetError, BrokenPipeError):
        return check(True, f"{what}: connection closed")
    except socket.timeout:
        return check(False, f"{what}: no TermReq and no close within {timeout:.0f}s")
    except ValueError as e:
        return check(False, f"{what}: {e}")
    if ptype != C2H_TERM:
        return check(False, f"{what}: target answered with PDU type {ptype:#x} instead of C2HTermReq")
    fes, fei = struct.unpack_from("<HI", pdu, 8)
    good = hlen == 24 and 24 <= len(pdu) <= 152
    # After a TermReq the target closes.
    try:
        c.s.settimeout(timeout)
        extra = c.s.recv(1)
        closed = extra == b""
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    except socket.timeout:
        closed = False
    return check(good and closed, f"{what}: C2HTermReq FES {fes:#x} ({FES.get(fes, '?')}), FEI {fei}"
                 + ("" if closed else ", but the connection stayed open"))


def keeper_alive(keeper, pid, what):
    alive = pid is None or os.path.exists(f"/proc/{pid}")
    try:
        status, _, _ = keeper.command(sqe(0x18, cid=keeper.next_cid()))  # Keep Alive
        ok = status == 0
        detail = f"keep-alive status {status:#x}"
    except Exception as e:  # noqa: BLE001 - any failure of the good connection counts
        ok = False
        detail = f"valid connection broken: {e!r}"
    return check(ok and alive, f"after {what}: target alive, valid connection works ({detail})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    ap.add_argument("subnqn")
    ap.add_argument("--pid", type=int)
    a = ap.parse_args()

    # The connection that must survive everything below (CIDs 1 to 3, then from 101).
    keeper = Conn(a.addr, a.port)
    keeper.cid = 100
    keeper.handshake()
    s, data = connect_cmd(1, a.subnqn)
    status, dw0, _ = keeper.command(s, data)
    check(status == 0, f"valid admin Connect (status {status:#x}, cntlid {dw0 & 0xffff})")
    status, _, _ = keeper.command(prop_set(2, 0x14, 0x460001))
    check(status == 0, "Property Set CC.EN=1")
    for _ in range(50):
        status, csts, _ = keeper.command(prop_get(keeper.next_cid(), 0x1C))
        if status == 0 and csts & 1:
            break
        time.sleep(0.1)
    check(status == 0 and csts & 1, "CSTS.RDY=1")
    status, _, ident = keeper.command(sqe(0x06, cid=3, sgl_len=4096, cdw10=1))
    check(status == 0 and len(ident) == 4096, f"Identify Controller over C2HData ({len(ident)} bytes)")

    def new():
        return Conn(a.addr, a.port)

    def case_bad_hlen():
        c = new()
        c.send(icreq(hlen=64))
        return c

    def case_cmd_before_icreq():
        c = new()
        c.send(capsule(sqe(0x18, cid=1)))
        return c

    def case_data_before_icreq():
        c = new()
        c.send(hdr(H2C_DATA, F_LAST, 24, 24, 24 + 512) + struct.pack("<HHII4x", 1, 1, 0, 512) + bytes(512))
        return c

    def case_oversized_plen():
        c = new()
        c.handshake()
        c.send(hdr(CMD, 0, 72, 72, 0x7FFFFFFF) + sqe(0x01, cid=1, nsid=1, sgl_len=0x7FFFFFFF - 72, sgl_type=1))
        c.send(bytes(4096))
        return c

    def case_oversized_incapsule():
        c = new()
        c.handshake()
        s2, d2 = connect_cmd(1, a.subnqn)
        c.send(capsule(s2, d2 + bytes(64 * 1024 - len(d2))))
        return c

    def case_bad_hdgst():
        c = new()
        c.handshake(hd=True)
        pdu = bytearray(capsule(sqe(0x18, cid=1), hd=True))
        pdu[72] ^= 0xFF
        c.send(bytes(pdu))
        return c

    def case_missing_hdgst_flag():
        c = new()
        c.handshake(hd=True)
        c.send(capsule(sqe(0x18, cid=1)))  # no header digest although negotiated
        return c

    def case_bad_pfv():
        c = new()
        c.send(icreq(pfv=1))
        return c

    def case_double_icreq():
        c = new()
        c.handshake()
        c.send(icreq())
        return c

    def case_unknown_type():
        c = new()
        c.handshake()
        c.send(hdr(0x08, 0, 24, 0, 24) + bytes(16))
        return c

    def case_controller_pdu_from_host():
        c = new()
        c.handshake()
        c.send(hdr(RSP, 0, 24, 0, 24) + bytes(16))
        return c

    def case_unsolicited_h2cdata():
        c = new()
        c.handshake()
        c.send(hdr(H2C_DATA, F_LAST, 24, 24, 24 + 512) + struct.pack("<HHII4x", 7, 0x1234, 0, 512) + bytes(512))
        return c

    def case_garbage():
        c = new()
        rnd = random.Random(1234)
        c.send(bytes(rnd.getrandbits(8) for _ in range(4096)))
        return c

    cases = [
        ("ICReq with HLEN 64", case_bad_hlen),
        ("CapsuleCmd before ICReq", case_cmd_before_icreq),
        ("H2CData before ICReq", case_data_before_icreq),
        ("CapsuleCmd with PLEN 0x7fffffff", case_oversized_plen),
        ("64 KiB in-capsule data on the admin queue", case_oversized_incapsule),
        ("CapsuleCmd with a bad header digest", case_bad_hdgst),
        ("CapsuleCmd without the negotiated header digest", case_missing_hdgst_flag),
        ("ICReq with PFV 1", case_bad_pfv),
        ("second ICReq", case_double_icreq),
        ("PDU type 0x08", case_unknown_type),
        ("CapsuleResp sent by the host", case_controller_pdu_from_host),
        ("H2CData without R2T", case_unsolicited_h2cdata),
        ("4 KiB of random bytes", case_garbage),
    ]
    for what, fn in cases:
        try:
            c = fn()
        except (Closed, ConnectionResetError, BrokenPipeError):
            check(True, f"{what}: connection closed while sending")
            keeper_alive(keeper, a.pid, what)
            continue
        except Exception as e:  # noqa: BLE001
            check(False, f"{what}: {e!r}")
            keeper_alive(keeper, a.pid, what)
            continue
        expect_term_or_close(c, what)
        c.close()
        keeper_alive(keeper, a.pid, what)

    # A connection that just goes away mid-header, and a storm of them.
    for _ in range(50):
        c = new()
        c.send(b"\x00\x00\x80")
        c.close()
    keeper_alive(keeper, a.pid, "50 connections closed mid-header")

    # A valid Connect to a subsystem that does not exist is an NVMe error, not a TermReq.
    c = new()
    c.handshake()
    s2, d2 = connect_cmd(9, "nqn.2026-01.io.nvmeof:does-not-exist")
    try:
        status, _, _ = c.command(s2, d2)
        check(status != 0, f"Connect to an unknown subsystem fails with NVMe status {status:#x}")
    except Exception as e:  # noqa: BLE001
        check(False, f"Connect to an unknown subsystem: {e!r}")
    c.close()

    # And a fresh valid connection still works.
    c = new()
    try:
        c.handshake(hd=True, dd=True)
        s2, d2 = connect_cmd(1, a.subnqn)
        status, _, _ = c.command(s2, d2)
        check(status == 0, f"new valid connection with digests after all of it (status {status:#x})")
    except Exception as e:  # noqa: BLE001
        check(False, f"new valid connection after all of it: {e!r}")
    c.close()
    keeper.close()

    print(f"{results['passed']} passed, {results['failed']} failed")
    return 0 if results["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
