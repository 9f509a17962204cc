#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of the fuzz targets.

    usage: gen_corpus.py OUTDIR

creates OUTDIR/fuzz_tcp_pdu/, OUTDIR/fuzz_target_cmd/, OUTDIR/fuzz_tcp_conn/ and
OUTDIR/fuzz_auth_msg/
with one file per seed: well-formed PDU streams, command sequences and host
programs (the way a Linux host starts a connection), plus a few classic
malformations. The input formats are described at the top of fuzz_tcp_pdu.c,
fuzz_target_cmd.c and fuzz_tcp_conn.c.
"""
import os
import struct
import sys

# ---------------------------------------------------------------- crc32c

_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283

# ------------------------------------------------------------ NVMe/TCP PDUs

ICREQ, ICRESP, H2C_TERM, C2H_TERM, CMD, RSP, H2C_DATA, C2H_DATA, R2T = 0, 1, 2, 3, 4, 5, 6, 7, 9
F_HDGST, F_DDGST, F_LAST, F_SUCCESS = 1, 2, 4, 8


def pdu(ptype, hlen, specific: bytes, data: bytes = b"", hd=False, dd=False, flags=0):
    """A PDU as its sender builds it: header, header digest, data, data digest."""
    hdr_body = specific.ljust(hlen - 8, b"\0")
    hbytes = hlen + (4 if hd else 0)
    pdo = hbytes if data else 0
    plen = hbytes + len(data) + (4 if dd and data else 0)
    if hd:
        flags |= F_HDGST
    if dd and data:
        flags |= F_DDGST
    header = struct.pack("<BBBBI", ptype, flags, hlen, pdo, plen) + hdr_body
    out = header
    if hd:
        out += struct.pack("<I", crc32c(header))
    out += data
    if dd and data:
        out += struct.pack("<I", crc32c(data))
    return out


def icreq(hd=False, dd=False, hpda=0, pfv=0):
    return pdu(ICREQ, 128, struct.pack("<HBBI", pfv, hpda, (1 if hd else 0) | (2 if dd else 0), 0))


def icresp(hd=False, dd=False, cpda=0, maxdata=0x20000):
    return pdu(ICRESP, 128, struct.pack("<HBBI", 0, cpda, (1 if hd else 0) | (2 if dd else 0), maxdata))


def sqe(opc, cid=1, nsid=0, sgl_len=0, sgl_type=0x5A, cdw10=0, cdw11=0, cdw12=0, cdw13=0, cdw14=0,
        cdw15=0, flags=0x40, raw4=None):
    head = struct.pack("<BBHI", opc, flags, cid, nsid) if raw4 is None else struct.pack("<BBH", opc, flags, cid) + raw4
    body = struct.pack("<IIQ", 0, 0, 0)
    sgl = struct.pack("<QI3xB", 0, sgl_len, sgl_type)
    tail = struct.pack("<IIIIII", cdw10, cdw11, cdw12, cdw13, cdw14, cdw15)
    s = head + body + sgl + tail
    assert len(s) == 64
    return s


def capsule(s: bytes, data=b"", hd=False, dd=False):
    return pdu(CMD, 72, s, data, hd, dd)


def h2c_data(cccid, ttag, datao, data, last=True, hd=False, dd=False):
    return pdu(H2C_DATA, 24, struct.pack("<HHII", cccid, ttag, datao, len(data)), data, hd, dd,
               F_LAST if last else 0)


def c2h_data(cccid, datao, data, flags=F_LAST, hd=False, dd=False):
    return pdu(C2H_DATA, 24, struct.pack("<HHII", cccid, 0, datao, len(data)), data, hd, dd, flags)


def rsp(cid, status=0, hd=False):
    return pdu(RSP, 24, struct.pack("<IIHHHH", 0, 0, 1, 0, cid, status << 1), b"", hd)


def r2t(cccid, ttag, off, length, hd=False):
    return pdu(R2T, 24, struct.pack("<HHII", cccid, ttag, off, length), b"", hd)


def term(ptype, fes, fei, bad=b""):
    body = struct.pack("<HI", fes, fei)
    hdr = struct.pack("<BBBBI", ptype, 0, 24, 0, 24 + len(bad)) + body.ljust(16, b"\0")
    return hdr + bad


# setup byte of fuzz_tcp_pdu: bit0 host, bit1 IC done, bit2 hd, bit3 dd, bit4 fix digests, 5-7 max data
def tcp_cfg(host=False, ic_done=False, hd=False, dd=False, fix=False, maxsel=4, cpda=0):
    b0 = (1 if host else 0) | (2 if ic_done else 0) | (4 if hd else 0) | (8 if dd else 0) | \
        (16 if fix else 0) | (maxsel << 5)
    return bytes([b0, cpda])


CONNECT_DATA_LEN = 1024


def connect_sqe(qid=0, sqsize=31, kato=5000, cid=1):
    raw = bytes([0x01]) + bytes(19)
    s = struct.pack("<BBH", 0x7F, 0x40, cid) + raw
    s += struct.pack("<QI3xB", 0, CONNECT_DATA_LEN, 0x01)
    s += struct.pack("<HHHBBI", 0, qid, sqsize, 0, 0, kato) + bytes(12)
    assert len(s) == 64
    return s


def connect_data(subnqn, hostnqn, cntlid=0xFFFF):
    d = bytes(range(16)) + struct.pack("<H", cntlid) + bytes(238)
    d += subnqn.encode().ljust(256, b"\0") + hostnqn.encode().ljust(256, b"\0") + bytes(256)
    assert len(d) == 1024
    return d


def prop_sqe(fctype, offset, value=0, size8=False, cid=2):
    s = struct.pack("<BBH", 0x7F, 0x40, cid) + bytes([fctype]) + bytes(35)
    s += struct.pack("<B3xIQ8x", 1 if size8 else 0, offset, value)
    assert len(s) == 64
    return s


def tcp_seeds():
    seeds = {}
    hostnqn = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000001"
    cd = connect_data("nqn.2026-01.io.nvmeof:ramdisk", hostnqn)
    for hd in (False, True):
        for dd in (False, True):
            tag = f"{'h' if hd else 'n'}{'d' if dd else 'n'}"
            # Target side: ICReq, admin Connect with in-capsule data, Property Get,
            # a write via R2T and an H2CData, then a TermReq.
            stream = icreq(hd, dd)
            stream += capsule(connect_sqe(), cd, hd, dd)
            stream += capsule(prop_sqe(0x04, 0x00, size8=True), b"", hd, dd)
            stream += capsule(sqe(0x01, cid=5, nsid=1, sgl_len=8192, sgl_type=0x5A, cdw12=15), b"", hd, dd)
            stream += h2c_data(5, 1, 0, bytes(range(256)) * 16, last=False, hd=hd, dd=dd)
            stream += h2c_data(5, 1, 4096, b"\xa5" * 4096, last=True, hd=hd, dd=dd)
            stream += capsule(sqe(0x01, cid=6, nsid=1, sgl_len=4096, sgl_type=0x01, cdw12=7),
                              b"\x5a" * 4096, hd, dd)
            stream += term(H2C_TERM, 1, 2, b"\0" * 8)
            seeds[f"target-session-{tag}"] = tcp_cfg(hd=hd, dd=dd, maxsel=5) + stream
            # Same after IC, digests fixed up by the harness.
            seeds[f"target-ic-done-{tag}"] = tcp_cfg(ic_done=True, hd=hd, dd=dd, fix=True, maxsel=4) + \
                stream[128:]
            # Host side: ICResp, CapsuleResp, R2T, C2HData (with SUCCESS), TermReq.
            hstream = icresp(hd, dd)
            hstream += rsp(1, 0, hd)
            hstream += r2t(5, 1, 0, 8192, hd)
            hstream += c2h_data(7, 0, b"\x11" * 4096, F_LAST | F_SUCCESS, hd, dd)
            hstream += c2h_data(8, 0, b"\x22" * 512, 0, hd, dd) + c2h_data(8, 512, b"\x33" * 512, F_LAST, hd, dd)
            hstream += term(C2H_TERM, 2, 0)
            seeds[f"host-session-{tag}"] = tcp_cfg(host=True, hd=hd, dd=dd, maxsel=5) + hstream
    # Malformations a hostile peer sends.
    seeds["target-cmd-before-icreq"] = tcp_cfg() + capsule(sqe(0x18))
    seeds["target-bad-hlen"] = tcp_cfg() + bytes([0, 0, 64, 0]) + struct.pack("<I", 128) + bytes(120)
    seeds["target-huge-plen"] = tcp_cfg(ic_done=True) + struct.pack("<BBBBI", CMD, 0, 72, 72, 0xFFFFFFF0) + bytes(64)
    seeds["target-bad-hdgst"] = tcp_cfg(ic_done=True, hd=True) + \
        capsule(sqe(0x18), b"", True)[:72] + b"\xde\xad\xbe\xef"
    seeds["target-bad-ddgst"] = tcp_cfg(ic_done=True, dd=True) + \
        capsule(sqe(0x01, nsid=1, sgl_len=512, sgl_type=0x01), b"\x01" * 512, False, True)[:-4] + b"\0\0\0\0"
    seeds["target-hpda"] = tcp_cfg() + icreq(hpda=3)
    seeds["target-pfv"] = tcp_cfg() + icreq(pfv=1)
    seeds["target-double-icreq"] = tcp_cfg() + icreq() + icreq()
    seeds["target-term-max"] = tcp_cfg(ic_done=True) + term(H2C_TERM, 1, 0, bytes(128))
    seeds["host-cpda"] = tcp_cfg(host=True) + icresp(cpda=31, maxdata=4096) + rsp(1)
    seeds["host-small-maxdata"] = tcp_cfg(host=True) + icresp(maxdata=1024)
    return seeds


# ------------------------------------------------------ command layer seeds

HOSTNQN = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000001"
RAM_NQN = "nqn.2026-01.io.nvmeof:fuzz-ram"
RESTRICTED_NQN = "nqn.2026-01.io.nvmeof:fuzz-restricted"
DISC_NQN = "nqn.2014-08.org.nvmexpress.discovery"

# record control byte: bit0 I/O queue, bit1 fix Connect data, bits2-3 subsystem, bit4 close after
ADMIN, IO, FIX, CLOSE = 0, 1, 2, 16


def rec(ctl, s, data=b""):
    return bytes([ctl]) + s + data


def admin_bringup(subsys=0, with_data=True):
    nqn = [RAM_NQN, RESTRICTED_NQN, DISC_NQN][subsys]
    out = rec(ADMIN | FIX | (subsys << 2), connect_sqe(kato=0 if subsys == 2 else 5000),
              connect_data(nqn, HOSTNQN) if with_data else bytes(CONNECT_DATA_LEN))
    out += rec(ADMIN, prop_sqe(0x04, 0x00, size8=True))  # CAP
    out += rec(ADMIN, prop_sqe(0x00, 0x14, value=0x460001))  # CC: EN, IOSQES 6, IOCQES 4
    out += rec(ADMIN, prop_sqe(0x04, 0x1C))  # CSTS
    out += rec(ADMIN, prop_sqe(0x04, 0x08))  # VS
    out += rec(ADMIN, sqe(0x06, cid=3, sgl_len=4096, cdw10=0x01))  # Identify controller
    return out


def cmd_seeds():
    seeds = {}
    # In-capsule Connect data is always consumed from the input; with FIX the
    # harness rewrites it, so zeroes will do.
    io_connect = rec(IO | FIX, connect_sqe(qid=1, sqsize=127), bytes(CONNECT_DATA_LEN))
    base = admin_bringup()
    seeds["ram-bringup"] = base
    seeds["ram-admin"] = base + b"".join([
        rec(ADMIN, sqe(0x06, cid=10, sgl_len=4096, cdw10=0x02)),  # active NS list
        rec(ADMIN, sqe(0x06, cid=11, nsid=1, sgl_len=4096, cdw10=0x00)),  # Identify NS
        rec(ADMIN, sqe(0x06, cid=12, nsid=1, sgl_len=4096, cdw10=0x03)),  # NS descriptors
        rec(ADMIN, sqe(0x06, cid=13, sgl_len=4096, cdw10=0x06)),  # CNS 06h
        rec(ADMIN, sqe(0x02, cid=14, nsid=0xFFFFFFFF, sgl_len=512, cdw10=0x02 | (127 << 16))),  # SMART
        rec(ADMIN, sqe(0x02, cid=15, sgl_len=4096, cdw10=0x01 | (1023 << 16))),  # error log
        rec(ADMIN, sqe(0x02, cid=16, sgl_len=4096, cdw10=0x04 | (1023 << 16))),  # changed NS list
        rec(ADMIN, sqe(0x02, cid=17, sgl_len=4096, cdw10=0x05 | (1023 << 16))),  # effects log
        rec(ADMIN, sqe(0x09, cid=18, cdw10=0x07, cdw11=0x00010001)),  # number of queues
        rec(ADMIN, sqe(0x0A, cid=19, cdw10=0x07)),
        rec(ADMIN, sqe(0x09, cid=20, cdw10=0x0B, cdw11=0x100)),  # async event config
        rec(ADMIN, sqe(0x09, cid=21, cdw10=0x0F, cdw11=5000)),  # keep alive timer
        rec(ADMIN, sqe(0x0A, cid=22, cdw10=0x06)),  # volatile write cache
        rec(ADMIN, sqe(0x0C, cid=0x1000)),  # AER, held
        rec(ADMIN, sqe(0x0C, cid=0x1001)),
        rec(ADMIN, sqe(0x18, cid=23)),  # keep alive
        rec(ADMIN, sqe(0x08, cid=24, cdw10=0x1000)),  # abort
        rec(ADMIN, sqe(0x55, cid=25)),  # unknown opcode
    ])
    io = base + rec(ADMIN, sqe(0x09, cid=18, cdw10=0x07, cdw11=0x00010001)) + io_connect
    pattern = bytes(range(256)) * 16
    seeds["ram-io"] = io + b"".join([
        rec(IO, sqe(0x01, cid=30, nsid=1, sgl_len=4096, sgl_type=0x01, cdw10=8, cdw12=7), pattern),
        rec(IO, sqe(0x01, cid=31, nsid=1, sgl_len=8192, sgl_type=0x5A, cdw10=16, cdw12=15), pattern * 2),
        rec(IO, sqe(0x02, cid=32, nsid=1, sgl_len=4096, cdw10=8, cdw12=7)),
        rec(IO, sqe(0x02, cid=33, nsid=1, sgl_len=131072, cdw10=0, cdw12=255)),
        rec(IO, sqe(0x05, cid=34, nsid=1, sgl_len=4096, sgl_type=0x01, cdw10=8, cdw12=7), pattern),
        rec(IO, sqe(0x00, cid=35, nsid=1)),  # flush
        rec(IO, sqe(0x08, cid=36, nsid=1, cdw10=64, cdw12=31)),  # write zeroes
        rec(IO, sqe(0x09, cid=37, nsid=1, sgl_len=32, sgl_type=0x01, cdw10=1, cdw11=4),
            struct.pack("<IIQ", 0, 8, 0) + struct.pack("<IIQ", 0, 16, 100)),  # DSM deallocate
        rec(IO, sqe(0x02, cid=38, nsid=1, sgl_len=512, cdw10=2047, cdw12=0)),  # last block
        rec(IO, sqe(0x02, cid=39, nsid=1, sgl_len=1024, cdw10=2047, cdw12=1)),  # past the end
        rec(IO, sqe(0x02, cid=40, nsid=2, sgl_len=512)),  # no such namespace
        # LBA out of range: refused by parse, so no R2T and no data follows.
        rec(IO, sqe(0x01, cid=41, nsid=1, sgl_len=512, sgl_type=0x5A, cdw10=0xFFFFFFFF, cdw11=0xFFFFFFFF)),
        rec(IO | CLOSE, sqe(0x02, cid=42, nsid=1, sgl_len=4096, cdw10=0, cdw12=6)),  # length mismatch
    ])
    seeds["disc"] = admin_bringup(subsys=2) + b"".join([
        rec(ADMIN, sqe(0x02, cid=50, sgl_len=1024, cdw10=0x70 | (255 << 16))),  # header only
        rec(ADMIN, sqe(0x02, cid=51, sgl_len=4096, cdw10=0x70 | (1023 << 16), cdw12=0)),
        rec(ADMIN, sqe(0x02, cid=52, sgl_len=4096, cdw10=0x70 | (1023 << 16), cdw12=1024)),  # LPO
        rec(ADMIN, sqe(0x0C, cid=53)),
    ])
    seeds["restricted-allowed"] = admin_bringup(subsys=1)
    # A Connect from an unlisted host to the restricted subsystem.
    seeds["restricted-refused"] = rec(ADMIN, connect_sqe(),
                                      connect_data(RESTRICTED_NQN, HOSTNQN.replace("0001", "0002")))
    seeds["unknown-subsys"] = rec(ADMIN | FIX | (3 << 2), connect_sqe(), bytes(CONNECT_DATA_LEN))
    seeds["cmd-before-connect"] = rec(ADMIN, sqe(0x06, sgl_len=4096, cdw10=1)) + \
        rec(IO, sqe(0x02, nsid=1, sgl_len=512))
    seeds["io-before-enable"] = rec(ADMIN | FIX, connect_sqe(), bytes(CONNECT_DATA_LEN)) + io_connect
    seeds["bad-connect"] = b"".join([
        rec(ADMIN, connect_sqe(sqsize=0), connect_data(RAM_NQN, HOSTNQN)),
        rec(ADMIN, connect_sqe(qid=1), connect_data(RAM_NQN, HOSTNQN, cntlid=7)),
        rec(ADMIN, connect_sqe(), connect_data("not-an-nqn", HOSTNQN)),
    ])
    seeds["shutdown"] = base + rec(ADMIN, prop_sqe(0x00, 0x14, value=0x464001)) + \
        rec(ADMIN, prop_sqe(0x04, 0x1C)) + rec(ADMIN, prop_sqe(0x00, 0x14, value=0)) + \
        rec(ADMIN | CLOSE, prop_sqe(0x04, 0x1C))
    seeds["disconnect-cmd"] = base + io_connect + \
        rec(IO, struct.pack("<BBHB", 0x7F, 0x40, 60, 0x08) + bytes(59))
    return seeds


# ------------------------------------------------- connection program seeds

# fuzz_tcp_conn opcodes; slot in bits 4-5, bad header / data digest in bits 6-7
(C_RAW, C_ICREQ, C_CONNECT, C_CMD, C_IO, C_PROP, C_H2C, C_TERM, C_DRAIN, C_CLOSE, C_FRAG, C_ADMIN,
 C_REOPEN, C_CORK, C_DRAIN_ALL) = range(15)
BAD_HD, BAD_DD = 0x40, 0x80
# CONNECT a: subsystem in bits 0-1 (0 ramdisk, 2 discovery, 3 unknown)
CN_IO, CN_R2T, CN_CNTLID, CN_HOST2, CN_NOSQFLOW, CN_KATO0 = 4, 8, 16, 32, 64, 128
# IO ctl: opcode in bits 0-2 (write, read, flush, write zeroes, compare, DSM, write unc.)
IO_WRITE, IO_READ, IO_FLUSH, IO_WZ, IO_COMPARE, IO_DSM, IO_WUNC = range(7)
IO_INCAPSULE, IO_FILE, IO_LONG = 8, 16, 32
# ADMIN table indexes
AD_ID_CTRL, AD_ID_NS, AD_NS_LIST, AD_NS_DESC, AD_SMART, AD_DISC_LOG, AD_NQUEUES, AD_GET_FEAT, \
    AD_KEEP_ALIVE, AD_AER, AD_ABORT, AD_DISCONNECT, AD_AEC, AD_ERRLOG, AD_KATO, AD_CHANGED_NS = range(16)


def op(kind, slot=0, flags=0, *operands):
    return bytes([kind | slot << 4 | flags]) + bytes(operands)


def c_icreq(slot=0, hd=False, dd=False, extra=0):
    return op(C_ICREQ, slot, 0, (1 if hd else 0) | (2 if dd else 0) | extra)


def c_connect(slot=0, a=0, b=0, cid=1, flags=0):
    return op(C_CONNECT, slot, flags, a, b, cid)


def c_io(slot, ctl, cid, slba=0, nlb=7, flags=0):
    return op(C_IO, slot, flags, ctl, cid, slba, nlb)


def c_prop(slot, ctl, cid):
    return op(C_PROP, slot, 0, ctl, cid)


def c_admin(slot, which, cid, arg=0, flags=0):
    return op(C_ADMIN, slot, flags, which, cid, arg)


def c_h2c(slot=0, mode=0, chunk=0, nolast=False, p=b"\0\0\0\0", flags=0):
    return op(C_H2C, slot, flags, mode | (4 if nolast else 0) | chunk << 4) + p


def c_drain(slot=0, t=0):
    return op(C_DRAIN, slot, 0, t)


def c_cmd(slot, ctl, length, sqe_bytes, data=b"", flags=0):
    return op(C_CMD, slot, flags, ctl) + struct.pack("<H", length) + sqe_bytes + data


# Property ctl: bit0 set, bits1-2 CAP/VS/CC/CSTS, bit3 8 bytes, bits4-5 value (EN, SHN, 0, cid)
P_GET_CAP, P_GET_VS, P_GET_CSTS, P_SET_EN, P_SET_SHN, P_SET_0 = 0x08, 0x02, 0x06, 0x05, 0x15, 0x25


def admin_up(slot=0, hd=False, dd=False, a=0, sqsize_sel=0):
    """ICReq, admin Connect, enable, Identify: what a Linux host does first."""
    return (c_icreq(slot, hd, dd) + c_drain(slot) + c_connect(slot, a, sqsize_sel << 4, 1) + c_drain(slot) +
            c_prop(slot, P_GET_CAP, 2) + c_prop(slot, P_SET_EN, 3) + c_prop(slot, P_GET_CSTS, 4) +
            c_prop(slot, P_GET_VS, 5) + c_admin(slot, AD_ID_CTRL, 6) + c_admin(slot, AD_NQUEUES, 7, 3) +
            c_drain(slot))


def io_up(slot=1, hd=False, dd=False, qid=0, a=0, sqsize_sel=1):
    return c_icreq(slot, hd, dd) + c_drain(slot) + c_connect(slot, CN_IO | a, sqsize_sel << 4 | qid, 1) + \
        c_drain(slot)


def conn_seeds():
    seeds = {}
    for hd in (False, True):
        for dd in (False, True):
            tag = f"{'h' if hd else 'n'}{'d' if dd else 'n'}"
            prog = admin_up(0, hd, dd) + io_up(1, hd, dd)
            prog += c_io(1, IO_WRITE, 10, 0, 15) + c_h2c(1) + c_drain(1)
            prog += c_io(1, IO_READ, 11, 0, 15) + c_drain(1)
            prog += c_io(1, IO_WRITE | IO_INCAPSULE, 12, 4, 7) + c_io(1, IO_COMPARE | IO_INCAPSULE, 13, 4, 7)
            prog += c_io(1, IO_FLUSH, 14) + c_io(1, IO_WZ, 15, 8, 3) + c_io(1, IO_DSM | IO_INCAPSULE, 16)
            prog += c_io(1, IO_READ, 17, 0, 255) + c_drain(1)
            prog += c_admin(0, AD_ID_NS, 20) + c_admin(0, AD_NS_LIST, 21) + c_admin(0, AD_SMART, 22)
            prog += c_admin(0, AD_AER, 23) + c_admin(0, AD_KEEP_ALIVE, 24) + c_drain(0)
            seeds[f"session-{tag}"] = prog
            # Connect data and a big write delivered by R2T, in several H2CData PDUs.
            seeds[f"r2t-connect-{tag}"] = c_icreq(0, hd, dd) + c_connect(0, CN_R2T) + c_h2c(0) + c_drain(0) + \
                c_prop(0, P_SET_EN, 2) + c_icreq(1, hd, dd) + c_connect(1, CN_IO | CN_R2T, 0x10) + c_h2c(1) + \
                c_drain(1) + c_io(1, IO_WRITE, 3, 0, 255) + c_h2c(1, chunk=1) + c_drain(1)
            seeds[f"bad-hdgst-{tag}"] = c_icreq(0, True, dd) + c_connect(0, flags=BAD_HD) + c_drain(0)
            seeds[f"bad-ddgst-{tag}"] = admin_up(0, hd, True) + io_up(1, hd, True) + \
                c_io(1, IO_WRITE, 10, 0, 7) + c_h2c(1, flags=BAD_DD) + c_drain(1)
    seeds["discovery"] = c_icreq() + c_connect(0, 2 | CN_KATO0) + c_drain() + c_prop(0, P_GET_CAP, 2) + \
        c_prop(0, P_SET_EN, 3) + c_admin(0, AD_ID_CTRL, 4) + c_admin(0, AD_DISC_LOG, 5, 0) + \
        c_admin(0, AD_DISC_LOG, 6, 3) + c_admin(0, AD_AER, 7) + c_drain()
    seeds["unknown-subsys"] = c_icreq() + c_connect(0, 3) + c_drain()
    seeds["io-connect-bad-cntlid"] = admin_up() + c_icreq(1) + c_connect(1, CN_IO | CN_CNTLID, 0x17, 1) + c_drain(1)
    seeds["io-before-enable"] = c_icreq() + c_connect(0) + c_drain() + io_up(1) + c_io(1, IO_READ, 9)
    # H2CData nobody asked for, and H2CData that misses its R2T's window.
    seeds["h2c-unknown-ttag"] = admin_up() + io_up(1) + c_io(1, IO_WRITE, 10) + c_drain(1) + \
        c_h2c(1, 2, p=struct.pack("<HHII", 10, 77, 0, 4096)) + c_drain(1)
    seeds["h2c-no-r2t"] = admin_up() + io_up(1) + c_h2c(1, 2, p=struct.pack("<HHII", 10, 0, 0, 512)) + c_drain(1)
    for i, (dofs, dlen, bits) in enumerate([(8, 0, 0), (0, 4, 0), (0, -8, 0), (0, 0, 1), (0, 0, 2), (0, 0, 4),
                                            (0, 0, 8), (-4, 0, 0)]):
        seeds[f"h2c-window-{i}"] = admin_up() + io_up(1) + c_io(1, IO_WRITE, 10) + c_drain(1) + \
            c_h2c(1, 1, p=struct.pack("<bbBB", dofs, dlen, bits, 0)) + c_drain(1)
    seeds["h2c-split-nolast"] = admin_up() + io_up(1) + c_io(1, IO_WRITE, 10, 0, 31) + \
        c_h2c(1, chunk=2, nolast=True) + c_drain(1)
    # Two writes waiting for data, answered in the wrong order, then one again.
    seeds["r2t-race"] = admin_up() + io_up(1) + c_io(1, IO_WRITE, 10) + c_io(1, IO_WRITE, 11, 16) + c_drain(1) + \
        c_h2c(1, 3, p=b"\0\0\0\0") + c_h2c(1, 3, p=b"\1\0\0\0") + c_h2c(1, 3, p=b"\1\0\0\0") + c_drain(1)
    # The host goes away mid-PDU, mid-transfer, with reads in flight, with an AER held.
    seeds["close-mid-h2c"] = admin_up() + io_up(1) + c_io(1, IO_WRITE, 10, 0, 63) + c_drain(1) + \
        op(C_CLOSE, 1, 0, 3, 100) + c_h2c(1) + c_io(1, IO_READ, 11)
    seeds["close-mid-capsule"] = admin_up() + op(C_CLOSE, 0, 0, 3, 40) + c_admin(0, AD_ID_CTRL, 9)
    seeds["half-close-reads"] = admin_up() + io_up(1) + c_io(1, IO_READ, 10, 0, 255) + c_io(1, IO_READ, 11, 0, 255) + \
        op(C_CLOSE, 1, 0, 1, 0) + c_drain(1)
    seeds["shutdown-rdwr"] = admin_up() + c_admin(0, AD_AER, 9) + op(C_CLOSE, 0, 0, 2, 0) + c_drain(0)
    seeds["admin-close-first"] = admin_up() + io_up(1) + c_io(1, IO_WRITE, 10) + c_drain(1) + \
        op(C_CLOSE, 0, 0, 0, 0) + c_h2c(1) + c_drain(1)
    seeds["reopen"] = admin_up() + op(C_REOPEN) + admin_up() + io_up(1)
    seeds["fragments"] = op(C_FRAG, 0, 0, 1) + c_icreq() + op(C_FRAG, 0, 0, 7) + c_connect(0) + c_drain() + \
        op(C_FRAG, 0, 0, 13) + c_prop(0, P_SET_EN, 2) + c_io(0, IO_WRITE, 3) + c_drain() + c_h2c(0) + c_drain()
    seeds["term"] = c_icreq() + c_drain() + op(C_TERM, 0, 0, 1, 4, 24) + c_drain()
    seeds["term-long"] = c_icreq() + op(C_TERM, 0, 0, 2, 0, 200) + c_drain()
    seeds["cmd-before-icreq"] = c_connect(0) + c_drain()
    seeds["icreq-twice"] = c_icreq() + c_icreq() + c_drain()
    seeds["icreq-bad"] = c_icreq(0, extra=12) + c_drain() + c_icreq(1, extra=16) + c_drain(1) + \
        c_icreq(2, extra=0xe0) + c_drain(2)
    seeds["raw-garbage"] = op(C_RAW, 0, 0, 8) + bytes([4, 0, 72, 0, 255, 255, 255, 255]) + c_drain()
    seeds["raw-icreq"] = op(C_RAW, 0, 0, 128) + icreq() + c_drain()
    # More commands than the queue holds, none of their data sent.
    seeds["queue-depth"] = admin_up() + io_up(1, sqsize_sel=14) + \
        b"".join(c_io(1, IO_WRITE, 32 + i) for i in range(8)) + c_drain(1)
    seeds["pool-exhausted"] = admin_up() + io_up(1) + \
        b"".join(c_io(1, IO_WRITE, i) for i in range(132)) + c_drain(1)
    seeds["abort-aer-disconnect"] = admin_up() + c_admin(0, AD_AER, 9) + c_admin(0, AD_AER, 10) + \
        c_admin(0, AD_ABORT, 11, 9) + c_admin(0, AD_AEC, 12, 0x9) + c_admin(0, AD_KATO, 13, 50) + \
        io_up(1) + c_admin(1, AD_DISCONNECT, 14) + c_drain(1) + c_drain(0)
    seeds["interleaved-connects"] = c_icreq(0) + c_icreq(1) + c_icreq(2) + op(C_DRAIN_ALL) + \
        c_connect(0, 0, 0, 1) + c_connect(1, CN_HOST2, 0, 1) + c_connect(2, 2 | CN_KATO0, 0, 1) + \
        c_connect(0, 0, 0, 2) + op(C_DRAIN_ALL) + c_prop(0, P_SET_EN, 3) + c_prop(1, P_SET_EN, 3) + \
        op(C_DRAIN_ALL) + op(C_REOPEN, 2) + io_up(2) + c_io(2, IO_READ, 4)
    seeds["shutdown-with-io"] = admin_up() + io_up(1) + c_io(1, IO_WRITE, 10, 0, 63) + c_drain(1) + \
        c_prop(0, P_SET_SHN, 20) + c_h2c(1) + c_drain(1) + c_prop(0, P_GET_CSTS, 21) + c_drain(0)
    seeds["nosqflow-reads"] = admin_up(a=CN_NOSQFLOW) + io_up(1, a=CN_NOSQFLOW) + c_io(1, IO_READ, 10) + c_drain(1)
    seeds["incapsule-too-big"] = admin_up() + io_up(1) + c_io(1, IO_WRITE | IO_INCAPSULE, 10, 0, 31) + c_drain(1)
    # The file namespace: I/O completes later, on the ring; the host leaves meanwhile.
    seeds["file-io"] = admin_up() + io_up(1) + c_io(1, IO_WRITE | IO_FILE, 10, 0, 255) + c_h2c(1) + \
        c_io(1, IO_READ | IO_FILE, 11, 0, 255) + c_io(1, IO_FLUSH | IO_FILE, 12) + \
        c_io(1, IO_WZ | IO_FILE, 13, 8, 15) + c_io(1, IO_DSM | IO_FILE | IO_INCAPSULE, 14) + \
        c_io(1, IO_COMPARE | IO_FILE | IO_INCAPSULE, 15, 0, 7) + c_drain(1)
    seeds["file-io-close"] = admin_up() + io_up(1) + c_io(1, IO_READ | IO_FILE, 11, 0, 255) + \
        c_io(1, IO_WRITE | IO_FILE | IO_INCAPSULE, 12, 0, 7) + op(C_CLOSE, 1, 0, 0, 0)
    seeds["file-io-term"] = admin_up() + io_up(1) + op(C_CORK, 1, 0, 1) + \
        c_io(1, IO_READ | IO_FILE, 11, 0, 255) + op(C_RAW, 1, 0, 8) + bytes([9, 0, 24, 0, 24, 0, 0, 0]) + \
        op(C_CORK, 1, 0, 0) + c_drain(1)
    # Many PDUs in one segment: several per receive completion.
    seeds["corked"] = admin_up() + io_up(1) + op(C_CORK, 1, 0, 1) + \
        b"".join(c_io(1, IO_WRITE | IO_INCAPSULE, i, i, 7) for i in range(40)) + \
        b"".join(c_io(1, IO_READ, 64 + i, i, 15) for i in range(8)) + op(C_CORK, 1, 0, 0) + c_drain(1)
    seeds["corked-connect"] = op(C_CORK, 0, 0, 1) + c_icreq() + c_connect(0) + c_prop(0, P_SET_EN, 2) + \
        c_admin(0, AD_ID_CTRL, 3) + c_drain()
    # Generic capsules: in-capsule data, R2T data, an SGL that disagrees with the data sent.
    seeds["cmd-raw"] = admin_up() + c_cmd(0, 1, 64, sqe(0x09, cid=30, cdw10=0x80), bytes(64)) + \
        c_cmd(0, 2, 4096, sqe(0x06, cid=31, cdw10=1)) + \
        c_cmd(0, 0, 16, sqe(0x09, cid=33, cdw10=0x80, sgl_len=32, sgl_type=1), bytes(16)) + \
        c_cmd(0, 6, 0x8001, sqe(0x01, cid=32, nsid=1)) + c_drain()
    return seeds


def auth_seeds():
    """DH-HMAC-CHAP messages for fuzz_auth_msg (selector byte first)."""
    idlist = bytes([1, 2, 3]) + bytes(27) + bytes([0, 1, 2, 3, 4, 5]) + bytes(24)
    negotiate = struct.pack("<BBHHBB", 0, 0, 0, 7, 0, 1) + struct.pack("<BBBB", 1, 0, 3, 6) + idlist
    chal_null = struct.pack("<BBHHBBBBHI", 1, 1, 0, 7, 32, 0, 1, 0, 0, 0x1234) + bytes(range(32))
    chal_dh = struct.pack("<BBHHBBBBHI", 1, 1, 0, 7, 32, 0, 1, 1, 256, 0x1234) + bytes(range(32)) + \
        bytes([0xff] * 255) + b"\x02"
    reply = struct.pack("<BBHHBBBBHI", 1, 2, 0, 7, 32, 0, 1, 0, 0, 9) + bytes(64)
    success1 = struct.pack("<BBHHBBB7x", 1, 3, 0, 7, 32, 0, 1) + bytes(32)
    failure1 = struct.pack("<BBHHBB", 0, 0xF1, 0, 7, 1, 1)
    return {
        "negotiate": b"\x00" + negotiate,
        "challenge": b"\x01" + chal_null,
        "challenge-dh": b"\x01" + chal_dh,
        "reply": b"\x02" + reply,
        "success1": b"\x03" + success1,
        "failure1": b"\x04" + failure1,
        "host-challenge": b"\x05" + chal_null,
        "host-challenge-dh": b"\x05" + chal_dh,
        "host-failure1": b"\x05" + failure1,
    }


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    for name, seeds in (("fuzz_tcp_pdu", tcp_seeds()), ("fuzz_target_cmd", cmd_seeds()),
                        ("fuzz_tcp_conn", conn_seeds()), ("fuzz_auth_msg", auth_seeds())):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        for seed, data in seeds.items():
            with open(os.path.join(d, "seed-" + seed), "wb") as f:
                f.write(data)
        print(f"{name}: {len(seeds)} seeds in {d}")


if __name__ == "__main__":
    main()
