# SPDX-License-Identifier: MIT
"""NVMe/TCP PDUs built byte by byte, and a blocking host connection, for the
test scripts that feed a target malformed input (tests/interop/bad_pdu.py,
tests/soak/).

The builders return what a host would send, with the fields as given: a
caller can build a wrong PDU by passing wrong values. Conn checks nothing it
is not asked to.
"""
import socket
import struct

ICREQ, ICRESP, H2C_TERM, C2H_TERM, CMD, RSP, H2C_DATA, C2H_DATA, R2T = 0, 1, 2, 3, 4, 5, 6, 7, 9
F_HDGST, F_DDGST, F_LAST, F_SUCCESS = 1, 2, 4, 8

_T = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _T.append(_c)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _T[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def hdr(ptype, flags, hlen, pdo, plen):
    return struct.pack("<BBBBI", ptype, flags, hlen, pdo, plen)


def icreq(hd=False, dd=False, hlen=128, plen=128, pfv=0, hpda=0):
    return hdr(ICREQ, 0, hlen, 0, plen) + struct.pack("<HBBI", pfv, hpda, (1 if hd else 0) | (2 if dd else 0), 0) + \
        bytes(112)


def sqe(opc, cid, nsid=0, sgl_len=0, sgl_type=0x5A, cdw10=0, cdw11=0, cdw12=0):
    return (struct.pack("<BBHI", opc, 0x40, cid, nsid) + bytes(16) + struct.pack("<QI3xB", 0, sgl_len, sgl_type)
            + struct.pack("<IIIIII", cdw10, cdw11, cdw12, 0, 0, 0))


def rw_cmd(write, cid, lba, nblocks, incapsule=False, nsid=1):
    """Read or Write of 512-byte blocks."""
    nbytes = nblocks * 512
    return sqe(0x01 if write else 0x02, cid, nsid=nsid, sgl_len=nbytes, sgl_type=0x01 if incapsule else 0x5A,
               cdw10=lba, cdw12=nblocks - 1)


def connect_cmd(cid, subnqn, qid=0, sqsize=31, kato=30000, cntlid=0xFFFF, incapsule=True, *, hostnqn):
    """Fabrics Connect: the SQE and its 1024 bytes of data."""
    sgl_type = 0x01 if incapsule else 0x5A
    s = struct.pack("<BBHB", 0x7F, 0x40, cid, 0x01) + bytes(19) + struct.pack("<QI3xB", 0, 1024, sgl_type)
    s += struct.pack("<HHHBBI", 0, qid, sqsize, 0, 0, kato) + bytes(12)
    data = bytes(range(16)) + struct.pack("<H", cntlid) + bytes(238)
    data += subnqn.encode().ljust(256, b"\0") + hostnqn.encode().ljust(256, b"\0") + bytes(256)
    return s, data


def prop_get(cid, offset, size8=False):
    return (struct.pack("<BBHB", 0x7F, 0x40, cid, 0x04) + bytes(35)
            + struct.pack("<B3xIQ8x", 1 if size8 else 0, offset, 0))


def prop_set(cid, offset, value):
    return struct.pack("<BBHB", 0x7F, 0x40, cid, 0x00) + bytes(35) + struct.pack("<B3xIQ8x", 0, offset, value)


def capsule(s, data=b"", hd=False, dd=False):
    """CapsuleCmd with the SQE s and in-capsule data."""
    flags = (F_HDGST if hd else 0) | (F_DDGST if dd and data else 0)
    hb = 72 + (4 if hd else 0)
    plen = hb + len(data) + (4 if dd and data else 0)
    h = hdr(CMD, flags, 72, hb if data else 0, plen) + s
    out = h + (struct.pack("<I", crc32c(h)) if hd else b"") + data
    if dd and data:
        out += struct.pack("<I", crc32c(data))
    return out


def h2c_data(cid, ttag, offset, data, last=True, hd=False, dd=False):
    flags = (F_LAST if last else 0) | (F_HDGST if hd else 0) | (F_DDGST if dd else 0)
    hb = 24 + (4 if hd else 0)
    h = hdr(H2C_DATA, flags, 24, hb, hb + len(data) + (4 if dd else 0)) + struct.pack("<HHII4x", cid, ttag,
                                                                                     offset, len(data))
    out = h + (struct.pack("<I", crc32c(h)) if hd else b"") + data
    return out + (struct.pack("<I", crc32c(data)) if dd else b"")


class Closed(Exception):
    """The target ended the connection."""


class Refused(Exception):
    """The target did not accept the TCP connection."""


class Conn:
    def __init__(self, addr, port, timeout=5.0, rcvbuf=0):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # before connect, so that the window stays small
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(timeout)
        try:
            self.s.connect((addr, port))
        except ConnectionRefusedError as e:
            self.s.close()
            raise Refused() from e
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.hd = self.dd = False
        self.cid = 0

    def next_cid(self):
        self.cid = (self.cid + 1) & 0xFFFF
        return self.cid

    def send(self, b):
        self.s.sendall(b)

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise Closed()
            buf += chunk
        return buf

    def recv_pdu(self):
        h = self.recv_exact(8)
        ptype, flags, hlen, pdo, plen = struct.unpack("<BBBBI", h)
        if plen < 8 or plen > 16 << 20:
            raise ValueError(f"PDU with PLEN {plen}")
        return ptype, flags, hlen, pdo, h + self.recv_exact(plen - 8)

    def close(self, reset=False):
        try:
            if reset:
                self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.s.close()
        except OSError:
            pass

    # A valid session, as the Linux host runs it.
    def handshake(self, hd=False, dd=False):
        self.send(icreq(hd, dd))
        ptype, _, _, _, pdu = self.recv_pdu()
        if ptype != ICRESP or len(pdu) != 128:
            raise ValueError(f"expected ICResp, got type {ptype} len {len(pdu)}")
        self.hd, self.dd = hd, dd

    def command(self, s, data=b""):
        """Send a capsule, collect C2H data, return (status, dw0, data)."""
        cid = struct.unpack_from("<H", s, 2)[0]
        self.send(capsule(s, data, self.hd, self.dd))
        got = b""
        while True:
            ptype, flags, _, pdo, pdu = self.recv_pdu()
            if ptype == C2H_DATA:
                datal = struct.unpack_from("<I", pdu, 16)[0]
                got += pdu[pdo:pdo + datal]
                if flags & F_SUCCESS:  # no CapsuleResp follows
                    return 0, 0, got
                continue
            if ptype == RSP:
                dw0, _, _, _, rcid, status = struct.unpack_from("<IIHHHH", pdu, 8)
                if rcid != cid:
                    raise ValueError(f"response for cid {rcid}, expected {cid}")
                return status >> 1, dw0, got
            if ptype == C2H_TERM:
                raise Closed(f"C2HTermReq while waiting for cid {cid}")
            raise ValueError(f"unexpected PDU type {ptype} while waiting for cid {cid}")
