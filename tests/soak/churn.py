# SPDX-License-Identifier: MIT
"""Live control-plane churn for the soak test, through `nvmeof target`.

    churn.py SECONDS [--disrupt PERIOD]

Mostly on objects no verified-I/O host depends on: subsystems, namespaces,
hosts and ports of its own (ports 4430+), extra namespaces and hosts on the
I/O subsystems, links of the I/O subsystems to its ports; with a probe that
writes and reads back through its own ports, discovery, list/stats/save-config,
removals (of a namespace, its subsystem, port, link or host) while
`nvmeof perf` reads from it, and a RAM namespace removed while its reads wait
for a host that does not read its socket.
The target's `list --json` is compared with the model kept here every few
operations.

With --disrupt, every PERIOD seconds one change hits what the hosts use
(a host kicked, a port, namespace or whole subsystem removed and put back),
logged to disrupt.jsonl so that errors inside its window are excused.

At the end every object of its own is removed and the configuration is the
one the target started with. Writes churn.json: {ops, errors, probe_ios, removed_under_load, stalled_readers,
stale_reads, ...}.
"""
import json
import os
import random
import subprocess
import sys
import struct
import time

from bad_pdu import C2H_DATA, RSP, Closed, Conn, Refused, capsule, connect_cmd, rw_cmd
from soak_common import (ABUSE, ADDR, CHURN_PORTS, IO_A, IO_B, IO_B_HOSTS, NAMESPACES, NQN, PORT_A,
                         PORT_B, append_jsonl, build, host_nqn, ns_path, run, serial, soak_dir, stopped)

EXTRA_NSID = range(10, 21)  # extra namespaces on the I/O subsystems: nobody's I/O goes there


class Churn:
    def __init__(self, seconds, period):
        self.deadline = time.time() + seconds
        self.period = period
        self.rng = random.Random(int(time.time()))
        self.sock = os.path.join(soak_dir(), "run", "target.sock")
        self.ops = 0
        self.by_op = {}
        self.errors = []
        self.stale_reads = []
        self.probe_ios = 0
        self.disruptions = 0
        self.under_load_n = 0
        self.stalled = 0
        self.uid = 0
        self.port_free_at = {p: 0.0 for p in CHURN_PORTS}
        # The model: nqn -> {"ns": {nsid: path or None}, "hosts": set(), "mine": bool, "ro": set()}
        self.subs = {}
        for nqn in (IO_A, IO_B, ABUSE):
            self.subs[nqn] = {"ns": {n: (ns_path(nqn, n) if k == "file" else None)
                                     for n, (k, _) in NAMESPACES[nqn].items()},
                              "hosts": set(IO_B_HOSTS if nqn == IO_B else ()), "mine": False,
                              "ro": set(), "any": nqn != IO_B}
        self.ports = {1: {"port": PORT_A, "subs": {IO_A, ABUSE}}, 2: {"port": PORT_B, "subs": {IO_B}}}

    # -------------------------------------------------------- plumbing
    def tcli(self, *args, ok=True):
        argv = [os.path.join(build(), "nvmeof"), "target", "--rpc-socket", self.sock, *args]
        rc, out, err = run(argv, 30)
        self.ops += 1
        self.by_op[args[0]] = self.by_op.get(args[0], 0) + 1
        if ok and rc != 0:
            self.error(f"`nvmeof target {' '.join(args)}` failed (exit {rc}): {err.strip()[-300:]}")
        return rc, out

    def error(self, text, stale_read=False):
        (self.stale_reads if stale_read else self.errors).append(f"+{time.time() - self.t0:.0f}s: {text}")

    def name(self):
        self.uid += 1
        return self.uid

    def mine(self):
        return [n for n, s in self.subs.items() if s["mine"]]

    def pick(self, seq):
        seq = list(seq)
        return self.rng.choice(seq) if seq else None

    # -------------------------------------------------- benign changes
    def add_sub(self):
        if len(self.mine()) >= 3:
            return
        nqn = NQN + f"churn-{self.name()}"
        args = ["add-subsystem", nqn, "--serial", f"CHURN{self.uid}", "--model", "soak churn"]
        anyh = self.rng.random() < 0.6
        if anyh:
            args.append("--allow-any-host")
        if self.rng.random() < 0.3:
            args.append("--monitor")
        if self.tcli(*args)[0] == 0:
            self.subs[nqn] = {"ns": {}, "hosts": set(), "mine": True, "ro": set(), "any": anyh}

    def remove_sub(self, nqn=None):
        nqn = nqn or self.pick(self.mine())
        if nqn and self.tcli("remove-subsystem", nqn)[0] == 0:
            for path in self.subs.pop(nqn)["ns"].values():
                self.unlink(path)
            for p in self.ports.values():
                p["subs"].discard(nqn)

    def add_ns(self):
        nqn = self.pick(self.mine() + [IO_A, IO_B, ABUSE])
        s = self.subs[nqn]
        args = ["add-ns", nqn]
        if not s["mine"] or self.rng.random() < 0.5:
            free = [n for n in EXTRA_NSID if n not in s["ns"]]
            if not free:
                return
            args += ["--nsid", str(self.rng.choice(free))]
        path = None
        ro = self.rng.random() < 0.15
        if self.rng.random() < 0.5:
            path = os.path.join(soak_dir(), "files", f"churn-{self.name()}.img")
            size = self.rng.choice([1, 4]) << 20
            if ro:  # a read-only namespace does not create its file
                with open(path, "wb") as f:
                    f.truncate(size)
            args += ["--path", path, "--size", str(size)]
            if self.rng.random() < 0.3:
                args.append("--direct")
        else:
            args += ["--ram", self.rng.choice(["1M", "2M", "8M"])]
        if self.rng.random() < 0.3:
            args += ["--block-size", "4096"]
        if ro:
            args.append("--read-only")
        rc, out = self.tcli(*args)
        if rc == 0:
            try:
                nsid = int(out.strip())
            except ValueError:
                self.error(f"add-ns printed {out!r}, not an NSID")
                return
            s["ns"][nsid] = path
            if ro:
                s["ro"].add(nsid)

    def remove_ns(self, nqn=None, nsid=None):
        if nqn is None:
            cands = [(n, i) for n, s in self.subs.items() for i in s["ns"] if s["mine"] or i in EXTRA_NSID]
            if not cands:
                return
            nqn, nsid = self.rng.choice(cands)
        if self.tcli("remove-ns", nqn, str(nsid))[0] == 0:
            self.unlink(self.subs[nqn]["ns"].pop(nsid))
            self.subs[nqn]["ro"].discard(nsid)

    def add_host(self):
        nqn = self.pick(self.mine() + [IO_A, IO_B])
        h = host_nqn(0x1000 + self.name())
        if self.tcli("add-host", nqn, h)[0] == 0:
            self.subs[nqn]["hosts"].add(h)

    def remove_host(self):
        cands = [(n, h) for n, s in self.subs.items() for h in s["hosts"] if h not in IO_B_HOSTS]
        if cands:
            nqn, h = self.rng.choice(cands)
            if self.tcli("remove-host", nqn, h)[0] == 0:
                self.subs[nqn]["hosts"].discard(h)

    def add_port(self):
        if len(self.ports) >= 4:
            return
        now = time.time()
        free = [p for p in CHURN_PORTS if p not in {x["port"] for x in self.ports.values()}
                and self.port_free_at[p] < now - 2]
        if not free:
            return
        port = self.rng.choice(free)
        subs = [n for n in self.mine() + [IO_A, ABUSE] if self.rng.random() < 0.5]
        args = ["add-port", "--traddr", ADDR, "--trsvcid", str(port)]
        for n in subs:
            args += ["--subsystem", n]
        rc, out = self.tcli(*args)
        if rc == 0:
            self.ports[int(out.strip())] = {"port": port, "subs": set(subs)}

    def remove_port(self, pid=None):
        pid = pid or self.pick(p for p in self.ports if p not in (1, 2))
        if pid is not None and self.tcli("remove-port", str(pid))[0] == 0:
            self.port_free_at[self.ports.pop(pid)["port"]] = time.time()

    def link(self):
        pid = self.pick(p for p in self.ports if p not in (1, 2))
        if pid is None:
            return
        p = self.ports[pid]
        linked = [n for n in p["subs"]]
        unlinked = [n for n in self.mine() + [IO_A, ABUSE] if n not in p["subs"]]
        if unlinked and (not linked or self.rng.random() < 0.5):
            nqn = self.rng.choice(unlinked)
            if self.tcli("link-port", str(pid), nqn)[0] == 0:
                p["subs"].add(nqn)
        elif linked:
            nqn = self.rng.choice(linked)
            if self.tcli("unlink-port", str(pid), nqn)[0] == 0:
                p["subs"].discard(nqn)

    def flags(self):
        nqn = self.pick(self.mine())
        if not nqn:
            return
        s = self.subs[nqn]
        if self.rng.random() < 0.5:
            self.tcli("set-monitor", nqn, self.rng.choice(["on", "off"]))
        else:
            on = self.rng.random() < 0.5
            if self.tcli("set-allow-any-host", nqn, "on" if on else "off")[0] == 0:
                s["any"] = on

    def reachable(self, writable, add_host=True):
        """(portid, nqn, nsid, host) of a namespace of the churn's own behind a port of its own."""
        cands = [(pid, n, i) for pid, p in self.ports.items() if pid not in (1, 2)
                 for n in p["subs"] if self.subs[n]["mine"]
                 for i in self.subs[n]["ns"] if not writable or i not in self.subs[n]["ro"]]
        if not cands:
            return None
        pid, nqn, nsid = self.rng.choice(cands)
        host = host_nqn(0x2000 + self.name())
        if add_host and not self.subs[nqn]["any"]:
            if self.tcli("add-host", nqn, host)[0] != 0:
                return None
            self.subs[nqn]["hosts"].add(host)
        return pid, nqn, nsid, host

    def ensure_reachable(self):
        """Make sure some subsystem of the churn's own, with a namespace, is behind a port of its own."""
        if self.reachable(False, add_host=False):
            return
        if not self.mine():
            self.add_sub()
        nqn = self.pick(self.mine())
        if not nqn:
            return
        if not self.subs[nqn]["ns"]:
            rc, out = self.tcli("add-ns", nqn, "--ram", "4M")
            if rc == 0:
                self.subs[nqn]["ns"][int(out.strip())] = None
        pid = self.pick(p for p in self.ports if p not in (1, 2))
        if pid is None:
            self.add_port()
            pid = self.pick(p for p in self.ports if p not in (1, 2))
        if pid is not None and nqn not in self.ports[pid]["subs"]:
            if self.tcli("link-port", str(pid), nqn)[0] == 0:
                self.ports[pid]["subs"].add(nqn)

    def under_load(self):
        """Take a namespace away, or its subsystem, port or host, while reads are in flight."""
        self.ensure_reachable()
        r = self.reachable(False)
        if not r:
            return
        pid, nqn, nsid, host = r
        argv = [os.path.join(build(), "nvmeof"), "perf", "-a", ADDR, "-s", str(self.ports[pid]["port"]),
                "-n", nqn, "--hostnqn", host, "-N", str(nsid), "-w", "randread",
                "-o", self.rng.choice(["4k", "32k", "128k"]), "-q", "16", "-T", "4", "--no-progress",
                "--reconnect-delay", "1", "--ctrl-loss-tmo", "1", "--fast-io-fail-tmo", "1"]
        with open(os.devnull, "wb") as null:
            p = subprocess.Popen(argv, stdout=null, stderr=null)
            time.sleep(self.rng.uniform(0.5, 2.0))
            what = self.rng.choice(["ns", "ns", "sub", "port", "unlink", "host"])
            if what == "ns":
                self.remove_ns(nqn, nsid)
            elif what == "sub":
                self.remove_sub(nqn)
            elif what == "port":
                self.remove_port(pid)
            elif what == "unlink":
                if self.tcli("unlink-port", str(pid), nqn)[0] == 0:
                    self.ports[pid]["subs"].discard(nqn)
            elif host in self.subs[nqn]["hosts"]:
                if self.tcli("remove-host", nqn, host)[0] == 0:
                    self.subs[nqn]["hosts"].discard(host)
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.error(f"perf reading {nqn} ns {nsid} did not end 40 s after the {what} went away")
        self.under_load_n += 1

    def stalled_reader(self):
        """Remove a RAM namespace while reads of it wait for a host that does
        not read its socket, put a new one in its place, then let the host
        read: it may get the old data or lose the connection, never anything
        else (the target must not send from memory it gave back)."""
        self.ensure_reachable()
        r = self.reachable(False)
        if not r:
            return
        pid, nqn, _, host = r
        rc, out = self.tcli("add-ns", nqn, "--ram", "16M")
        if rc != 0:
            return
        nsid = int(out.strip())
        self.subs[nqn]["ns"][nsid] = None
        port = self.ports[pid]["port"]
        size = 12 << 20
        old, new = self.rng.randbytes(256) * (size // 256), self.rng.randbytes(256) * (size // 256)
        if not self.write_all(port, nqn, host, nsid, old):
            return
        n = 96  # reads of 128 KiB, more than the socket buffers hold
        try:
            adm = Conn(ADDR, port)
            adm.handshake()
            cntlid = adm.admin(nqn, hostnqn=host)
            c = Conn(ADDR, port, rcvbuf=4096)
            c.handshake(dd=self.rng.random() < 0.5)
            sqe, data = connect_cmd(c.next_cid(), nqn, qid=1, sqsize=127, cntlid=cntlid, hostnqn=host)
            if c.command(sqe, data)[0] != 0:
                raise ValueError("I/O queue Connect failed")
            for i in range(n):
                c.send(capsule(rw_cmd(False, 100 + i, i * 256, 256, nsid=nsid), dd=c.dd))
        except (Closed, Refused, OSError, ValueError) as e:
            self.error(f"stalled reader on {nqn} ns {nsid}: setting up: {e!r}")
            return
        time.sleep(0.5)
        self.remove_ns(nqn, nsid)
        time.sleep(1.0)
        if self.tcli("add-ns", nqn, "--ram", "16M", "--nsid", str(nsid))[0] == 0:
            self.subs[nqn]["ns"][nsid] = None
            self.write_all(port, nqn, host, nsid, new)
        got, done = {}, set()
        c.s.settimeout(10)
        try:
            while len(done) < n:
                ptype, flags, _, pdo, pdu = c.recv_pdu()
                if ptype == C2H_DATA:
                    cid, datao, datal = struct.unpack_from("<H2xII", pdu, 8)
                    got.setdefault(cid, bytearray()).extend(pdu[pdo:pdo + datal])
                    if flags & 8:
                        done.add(cid)
                elif ptype == RSP:
                    cid, status = struct.unpack_from("<HH", pdu, 20)
                    done.add(cid)
                    if status >> 1:
                        got.pop(cid, None)
                else:
                    break
        except (Closed, OSError, ValueError):
            pass  # the target may drop the connection
        c.close()
        adm.close()
        bad = {}
        for cid, d in got.items():
            want = slice((cid - 100) * 131072, (cid - 99) * 131072)
            if cid not in done or d == old[want]:
                continue
            what = ("the data of the namespace that replaced it" if d == new[want] else
                    "zeroes" if not any(d) else "data never written there")
            bad[what] = bad.get(what, 0) + 1
        if bad:
            self.error(f"of {len(done)} reads of {nqn} ns {nsid} completed after its removal, "
                       + ", ".join(f"{n} returned {what}" for what, n in bad.items()), stale_read=True)
        self.stalled += 1

    def write_all(self, port, nqn, host, nsid, data):
        path = os.path.join(soak_dir(), "churn-stall.out")
        with open(path, "wb") as f:
            f.write(data)
        rc, _, err = run([os.path.join(build(), "nvmeof"), "write", "-a", ADDR, "-s", str(port), "-n", nqn,
                          "-q", host, "-N", str(nsid), "-z", str(len(data)), "-d", path], 60)
        self.probe_ios += 1
        if rc != 0:
            self.error(f"writing {len(data) >> 20} MiB to {nqn} ns {nsid} failed: {err.strip()[-300:]}")
        return rc == 0

    def probe(self):
        """Write and read back through a port of the churn's own."""
        r = self.reachable(True)
        if not r:
            return
        pid, nqn, nsid, host = r
        nv = os.path.join(build(), "nvmeof")
        conn = ["-a", ADDR, "-s", str(self.ports[pid]["port"]), "-n", nqn, "-q", host,
                "--ctrl-loss-tmo", "2", "--io-timeout", "20", "-N", str(nsid), "-z", "32768"]
        data = self.rng.randbytes(32768)
        wf = os.path.join(soak_dir(), "churn-probe.out")
        rf = os.path.join(soak_dir(), "churn-probe.in")
        with open(wf, "wb") as f:
            f.write(data)
        rc, _, err = run([nv, "write", *conn, "-d", wf], 60)
        if rc != 0:
            self.error(f"probe write to {nqn} ns {nsid} via port {self.ports[pid]['port']} failed: "
                       f"{err.strip()[-300:]}")
            return
        rc, _, err = run([nv, "read", *conn, "-d", rf], 60)
        with open(rf, "rb") as f:
            got = f.read() if rc == 0 else b""
        self.probe_ios += 2
        if rc != 0 or got != data:
            self.error(f"probe read-back from {nqn} ns {nsid}: "
                       + (f"failed: {err.strip()[-300:]}" if rc else "data differs"))

    def queries(self):
        what = self.rng.choice(["list", "stats", "save", "discover"])
        if what == "discover":
            rc, _, err = run([os.path.join(build(), "nvmeof"), "discover", "-a", ADDR, "-s", str(PORT_A),
                              "--output-format=json"], 30)
            self.ops += 1
            if rc != 0:
                self.error(f"discover failed: {err.strip()[-300:]}")
        elif what == "save":
            path = os.path.join(soak_dir(), "files", "saved.json")
            if self.tcli("save-config", path)[0] == 0:
                try:
                    with open(path) as f:
                        json.load(f)
                except ValueError as e:
                    self.error(f"save-config wrote invalid JSON: {e}")
        else:
            rc, out = self.tcli(what, "--json")
            if rc == 0:
                try:
                    json.loads(out)
                except ValueError as e:
                    self.error(f"{what} --json printed invalid JSON: {e}")

    def compare_model(self):
        rc, out = self.tcli("list", "--json")
        if rc != 0:
            return
        d = json.loads(out)
        have = {s["nqn"]: (sorted(n["nsid"] for n in s["namespaces"]), sorted(s["hosts"]))
                for s in d["subsystems"]}
        want = {n: (sorted(s["ns"]), sorted(s["hosts"])) for n, s in self.subs.items()}
        have_p = {p["portid"]: (int(p["trsvcid"]), sorted(p["subsystems"])) for p in d["ports"]}
        want_p = {i: (p["port"], sorted(p["subs"])) for i, p in self.ports.items()}
        if have != want or have_p != want_p:
            self.error(f"list --json differs from the expected configuration: subsystems {have} "
                       f"(expected {want}), ports {have_p} (expected {want_p})")
            # Carry on from what the target says, so one surprise is reported once.
            for n in list(self.subs):
                if n not in have:
                    del self.subs[n]
            for i in list(self.ports):
                if i not in have_p:
                    del self.ports[i]

    # ----------------------------------------- changes the hosts feel
    def disrupt(self, kind):
        t0 = time.time()
        keys, removes = [], []
        pause = lambda: time.sleep(self.rng.uniform(1.0, 2.0))  # noqa: E731
        if kind == "kick-host":
            h = IO_B_HOSTS[self.disruptions % 2]
            keys = ["host:" + h]
            self.tcli("remove-host", IO_B, h)
            pause()
            self.tcli("add-host", IO_B, h)
        elif kind == "bounce-port":
            keys = [f"port:{PORT_B}"]
            self.tcli("remove-port", "2")
            pause()
            for _ in range(20):  # the listener closes just after remove-port returns
                rc, _ = self.tcli("add-port", "--portid", "2", "--traddr", ADDR, "--trsvcid", str(PORT_B),
                                  "--subsystem", IO_B, ok=False)
                if rc == 0:
                    break
                time.sleep(0.3)
            else:
                self.error(f"port {PORT_B} could not be added back")
        elif kind.startswith("bounce-ns"):
            nsid = int(kind[-1])
            keys = removes = [f"ns:{IO_A}:{nsid}"]
            self.tcli("remove-ns", IO_A, str(nsid))
            pause()
            self.tcli("add-ns", IO_A, "--nsid", str(nsid), *self.ns_args(IO_A, nsid))
        elif kind == "unlink-io-a":
            keys = ["sub:" + IO_A]
            self.tcli("unlink-port", "1", IO_A)
            pause()
            self.tcli("link-port", "1", IO_A)
        elif kind == "bounce-subsystem":
            keys = removes = ["sub:" + IO_B]
            self.tcli("remove-subsystem", IO_B)
            pause()
            self.tcli("add-subsystem", IO_B, "--serial", serial(IO_B), "--model", "nvmeof soak")
            for nsid in sorted(NAMESPACES[IO_B]):
                self.tcli("add-ns", IO_B, "--nsid", str(nsid), *self.ns_args(IO_B, nsid))
            for h in IO_B_HOSTS:
                self.tcli("add-host", IO_B, h)
            self.tcli("link-port", "2", IO_B)
            s = self.subs[IO_B]
            for n in [n for n in s["ns"] if n in EXTRA_NSID]:
                self.unlink(s["ns"].pop(n))
            s["hosts"] = set(IO_B_HOSTS)
            for pid, p in self.ports.items():
                if pid != 2:
                    p["subs"].discard(IO_B)
        self.disruptions += 1
        append_jsonl("disrupt.jsonl", {"op": kind, "start": t0, "end": time.time(), "keys": keys,
                                       "removes": removes})

    def ns_args(self, nqn, nsid):
        kind, size = NAMESPACES[nqn][nsid]
        return ["--path", ns_path(nqn, nsid)] if kind == "file" else ["--ram", size]

    def unlink(self, path):
        if path and os.path.basename(path).startswith("churn-"):
            try:
                os.unlink(path)
            except OSError:
                pass

    # ------------------------------------------------------------- run
    def run(self):
        self.t0 = time.time()
        plan = ["kick-host", "bounce-ns1", "bounce-port", "bounce-ns4", "unlink-io-a", "bounce-ns2",
                "bounce-subsystem", "kick-host", "bounce-ns3"]
        next_disrupt = self.t0 + (self.period / 2 if self.period else 1e12)
        benign = [(self.add_sub, 3), (self.remove_sub, 1), (self.add_ns, 5), (self.remove_ns, 4),
                  (self.add_host, 2), (self.remove_host, 2), (self.add_port, 2), (self.remove_port, 1),
                  (self.link, 3), (self.flags, 1), (self.probe, 3), (self.queries, 3),
                  (self.under_load, 3), (self.stalled_reader, 2)]
        fns = [f for f, w in benign for _ in range(w)]
        n = 0
        while not stopped(self.deadline):
            if time.time() >= next_disrupt:
                self.disrupt(plan[self.disruptions % len(plan)])
                next_disrupt += self.period
            else:
                self.rng.choice(fns)()
            n += 1
            if n % 15 == 0:
                self.compare_model()
            time.sleep(self.rng.uniform(0.05, 0.3))
        self.teardown()

    def teardown(self):
        for pid in [p for p in self.ports if p not in (1, 2)]:
            if self.tcli("remove-port", str(pid))[0] == 0:
                del self.ports[pid]
        for nqn in self.mine():
            if self.tcli("remove-subsystem", nqn)[0] == 0:
                for path in self.subs.pop(nqn)["ns"].values():
                    self.unlink(path)
        for nqn, s in self.subs.items():
            for nsid in [i for i in s["ns"] if i in EXTRA_NSID]:
                if self.tcli("remove-ns", nqn, str(nsid))[0] == 0:
                    self.unlink(s["ns"].pop(nsid))
            for h in [h for h in s["hosts"] if h not in IO_B_HOSTS]:
                if self.tcli("remove-host", nqn, h)[0] == 0:
                    s["hosts"].discard(h)
        self.compare_model()
        with open(os.path.join(soak_dir(), "churn.json"), "w") as f:
            json.dump({"ops": self.ops, "by_op": self.by_op, "errors": self.errors,
                       "probe_ios": self.probe_ios, "disruptions": self.disruptions,
                       "removed_under_load": self.under_load_n, "stalled_readers": self.stalled,
                       "stale_reads": self.stale_reads}, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 4) or (len(sys.argv) == 4 and sys.argv[2] != "--disrupt"):
        sys.exit(__doc__)
    Churn(float(sys.argv[1]), float(sys.argv[3]) if len(sys.argv) == 4 else 0).run()
