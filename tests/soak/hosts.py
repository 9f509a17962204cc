# SPDX-License-Identifier: MIT
"""Verified I/O for the soak test, with the project's host tool.

    hosts.py perf NAME SECONDS     repeated `nvmeof perf --verify` runs
    hosts.py ledger NAME SECONDS   random writes of known data to the host's
                                   own block ranges, each recorded in a ledger
                                   (acknowledged or not), some read back at once
    hosts.py check [--logs-only]   judge the logs and read every ledger range back

An error or a mismatch is allowed only while the churn touched something the
host depends on (its subsystem, namespace, port or host entry; see
soak_common.excused). At the end, a block is checked when its last
acknowledged write came after the last removal of its namespace; it must hold
that write's data, or the data of a later write that failed (which may or may
not have landed).

check prints "PASS<TAB>text", "FAIL<TAB>text", "INFO<TAB>text" and
"STAT<TAB>name<TAB>value" lines for run.sh.
"""
import json
import os
import random
import sys
import time

from soak_common import (LEDGER, PERF, REGION, conn_args, disruptions, excused, keys_of, read_jsonl,
                         removed_after, run, soak_dir, stopped, append_jsonl, build)

BLOCK = 512


def nvmeof():
    return os.path.join(build(), "nvmeof")


def tail(text, n=3):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:])


def pattern(seed, nblocks):
    """Blocks that name their write, so a mismatch says what is there instead."""
    rnd = random.Random(seed)
    out = bytearray()
    for i in range(nblocks):
        out += f"soak {seed} blk {i} ".encode().ljust(48, b".") + rnd.randbytes(BLOCK - 48)
    return bytes(out)


def describe(block):
    head = block[:48]
    if head.startswith(b"soak "):
        return head.rstrip(b".").decode(errors="replace")
    return "zeroes" if block == bytes(len(block)) else "unknown data " + head[:16].hex()


# ---------------------------------------------------------------- workers

def perf_worker(name, seconds):
    w = PERF[name]
    deadline = time.time() + seconds
    rng = random.Random(name)
    log = f"perf-{name}.jsonl"
    while not stopped(deadline):
        secs = int(min(5, deadline - time.time()))
        if secs < 1:
            break
        io_size = rng.choice(["4k", "8k", "16k", "64k", "128k"])
        argv = [nvmeof(), "perf", *conn_args(w["nqn"], w["port"], w["host"], w["digests"]),
                "-N", str(w["nsid"]), "--verify", "--size", "8M", "-q", str(rng.choice([4, 8, 16])),
                "-o", io_size, "-w", rng.choice(["randrw", "randrw", "randwrite"]), "-T", str(secs),
                "--json", "--no-progress", "--seed", str(rng.randrange(1 << 30))]
        t0 = time.time()
        rc, out, err = run(argv, secs + 60)
        t1 = time.time()
        res = {}
        for line in out.splitlines():
            if line.startswith("{"):
                try:
                    res = json.loads(line)
                except ValueError:
                    pass
        append_jsonl(log, {"start": t0, "end": t1, "rc": rc, "io_size": io_size,
                           "ios": res.get("ios", 0), "errors": res.get("errors"),
                           "verify_errors": res.get("verify_errors"), "stderr": tail(err, 4)})
        # perf polls without sleeping: give the CPUs back between runs.
        time.sleep(rng.uniform(0.5, 1.5))


def ledger_worker(name, seconds):
    w = LEDGER[name]
    deadline = time.time() + seconds
    rng = random.Random(name + str(time.time()))
    log = f"ledger-{name}.jsonl"
    seq = len(read_jsonl(log))  # the warm-up run wrote some already
    wfile = os.path.join(soak_dir(), f"ledger-{name}.out")
    rfile = os.path.join(soak_dir(), f"ledger-{name}.in")
    conn = conn_args(w["nqn"], w["port"], w["host"], w["digests"])
    while not stopped(deadline):
        nsid, base = rng.choice(w["regions"])
        n = rng.choice([1, 1, 2, 7, 8, 8, 16, 32, 64, 255, 256])
        lba = base + rng.randrange(REGION - n + 1)
        seq += 1
        seed = f"{name}.{seq}"
        data = pattern(seed, n)
        with open(wfile, "wb") as f:
            f.write(data)
        rw = ["-N", str(nsid), "-S", str(lba), "--blocks", str(n)]
        t0 = time.time()
        rc, _, err = run([nvmeof(), "write", *conn, *rw, "-d", wfile], 60)
        t1 = time.time()
        append_jsonl(log, {"kind": "write", "seq": seq, "seed": seed, "nsid": nsid, "lba": lba, "n": n,
                           "acked": rc == 0, "rc": rc, "start": t0, "end": t1,
                           "stderr": "" if rc == 0 else tail(err)})
        if rc != 0 or rng.random() > 0.3:
            continue
        rc, _, err = run([nvmeof(), "read", *conn, *rw, "-d", rfile], 60)
        t2 = time.time()
        got = b""
        if rc == 0:
            with open(rfile, "rb") as f:
                got = f.read()
        bad = next((i for i in range(n) if got[i * BLOCK:(i + 1) * BLOCK] != data[i * BLOCK:(i + 1) * BLOCK]),
                   None) if rc == 0 else None
        append_jsonl(log, {"kind": "read", "seq": seq, "nsid": nsid, "lba": lba, "n": n, "rc": rc,
                           "start": t0, "end": t2, "match": rc == 0 and bad is None,
                           "found": describe(got[bad * BLOCK:(bad + 1) * BLOCK]) if bad is not None else "",
                           "stderr": "" if rc == 0 else tail(err)})


# ------------------------------------------------------------------ check

def out(kind, *fields):
    print("\t".join([kind, *map(str, fields)]), flush=True)


def check_perf(events):
    runs = ios = excused_n = 0
    bad_verify, bad_err = [], []
    for name, w in PERF.items():
        keys = keys_of(w["nqn"], w["port"], w["host"], w["nsid"])
        for r in read_jsonl(f"perf-{name}.jsonl"):
            runs += 1
            ios += r["ios"]
            if r["rc"] == 0 and r["errors"] == 0:
                continue
            d = excused(keys, r["start"], r["end"], events)
            if d:
                excused_n += 1
                continue
            what = (f"{name}: perf run at {r['start'] - t_zero:+.0f}s, exit {r['rc']}, errors {r['errors']}, "
                    f"verify_errors {r['verify_errors']}: {r['stderr']}")
            (bad_verify if r["verify_errors"] else bad_err).append(what)
    out("STAT", "perf_runs", runs)
    out("STAT", "perf_ios", ios)
    for kind, bad, text in (("data", bad_verify, "no verify mismatch"), ("errors", bad_err, "no I/O error")):
        if bad:
            out("FAIL", f"perf --verify: {len(bad)} run(s) with {kind} failures outside churn windows")
            for b in bad[:5]:
                out("INFO", "    " + b)
        else:
            out("PASS", f"perf --verify: {text} outside churn windows ({runs} runs, {ios} I/Os, "
                        f"{excused_n} failed runs excused by a disruption)")


def check_ledger(events):
    writes = acked = reads = 0
    bad_err, bad_data = [], []
    for name, w in LEDGER.items():
        for e in read_jsonl(f"ledger-{name}.jsonl"):
            keys = keys_of(w["nqn"], w["port"], w["host"], e["nsid"])
            at = f"{name}: {e['kind']} #{e['seq']} ns {e['nsid']} LBA {e['lba']}+{e['n']} at {e['start'] - t_zero:+.0f}s"
            if e["kind"] == "write":
                writes += 1
                acked += e["acked"]
                if not e["acked"] and not excused(keys, e["start"], e["end"], events):
                    bad_err.append(f"{at}: exit {e['rc']}: {e['stderr']}")
                continue
            reads += 1
            if excused(keys, e["start"], e["end"], events):
                continue
            if e["rc"] != 0:
                bad_err.append(f"{at}: exit {e['rc']}: {e['stderr']}")
            elif not e["match"]:
                bad_data.append(f"{at}: read back {e['found']}")
    out("STAT", "ledger_writes", writes)
    out("STAT", "ledger_acked", acked)
    out("STAT", "ledger_readbacks", reads)
    if bad_err:
        out("FAIL", f"ledger hosts: {len(bad_err)} write/read error(s) outside churn windows")
        for b in bad_err[:5]:
            out("INFO", "    " + b)
    else:
        out("PASS", f"ledger hosts: no write/read error outside churn windows ({writes} writes, {reads} read-backs)")
    if bad_data:
        out("FAIL", f"ledger hosts: {len(bad_data)} immediate read-back(s) differ from the acknowledged write")
        for b in bad_data[:5]:
            out("INFO", "    " + b)
    else:
        out("PASS", f"ledger hosts: every immediate read-back matched ({reads})")


def final_readback(events):
    """Every block whose last acknowledged write is still valid holds it."""
    checked_writes = checked_blocks = voided = 0
    bad, read_fail = [], []
    for name, w in LEDGER.items():
        entries = [e for e in read_jsonl(f"ledger-{name}.jsonl") if e["kind"] == "write"]
        for nsid, base in w["regions"]:
            # Block -> (the last acknowledged write, later failed writes).
            expect = {}
            used = set()
            for e in sorted((e for e in entries if e["nsid"] == nsid), key=lambda e: e["seq"]):
                if removed_after(w["nqn"], nsid, e["start"], events):
                    voided += e["acked"]
                    continue
                for b in range(e["lba"], e["lba"] + e["n"]):
                    if e["acked"]:
                        expect[b] = [e]
                    elif b in expect:
                        expect[b].append(e)
            for cands in expect.values():
                used.add(cands[0]["seq"])
            if not expect:
                continue
            path = os.path.join(soak_dir(), f"final-{name}-ns{nsid}.bin")
            argv = [nvmeof(), "read", *conn_args(w["nqn"], w["port"], w["host"], w["digests"]),
                    "-N", str(nsid), "-S", str(base), "--blocks", str(REGION), "-d", path]
            for _ in range(3):
                rc, _, err = run(argv, 60)
                if rc == 0:
                    break
                time.sleep(2)
            if rc != 0:
                read_fail.append(f"{name} ns {nsid}: exit {rc}: {tail(err)}")
                continue
            with open(path, "rb") as f:
                got = f.read()
            checked_writes += len(used)
            for b, cands in sorted(expect.items()):
                have = got[(b - base) * BLOCK:(b - base + 1) * BLOCK]
                checked_blocks += 1
                if not any(have == pattern(c["seed"], c["n"])[(b - c["lba"]) * BLOCK:(b - c["lba"] + 1) * BLOCK]
                           for c in cands):
                    c = cands[0]
                    bad.append(f"{name} ns {nsid} LBA {b}: expected write #{c['seq']} (acknowledged at "
                               f"{c['end'] - t_zero:+.0f}s), found {describe(have)}")
    out("STAT", "ledger_checked_writes", checked_writes)
    out("STAT", "ledger_checked_blocks", checked_blocks)
    out("STAT", "ledger_voided_writes", voided)
    if read_fail:
        out("FAIL", f"final read-back: {len(read_fail)} range(s) could not be read")
        for b in read_fail:
            out("INFO", "    " + b)
    if bad:
        out("FAIL", f"final read-back: {len(bad)} of {checked_blocks} blocks lost their acknowledged write")
        for b in bad[:8]:
            out("INFO", "    " + b)
    elif checked_blocks == 0:
        out("FAIL", "final read-back: no acknowledged write left to check")
    elif not read_fail:
        out("PASS", f"final read-back: all {checked_blocks} blocks of {checked_writes} acknowledged writes intact "
                    f"({voided} writes voided by namespace removal)")


def check(readback):
    global t_zero
    events = disruptions()
    t_zero = float(os.environ.get("SOAK_T0", "0")) or time.time()
    check_perf(events)
    check_ledger(events)
    if readback:
        final_readback(events)


t_zero = 0.0

if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "perf":
        perf_worker(sys.argv[2], float(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "ledger":
        ledger_worker(sys.argv[2], float(sys.argv[3]))
    elif len(sys.argv) in (2, 3) and sys.argv[1] == "check" and sys.argv[2:] in ([], ["--logs-only"]):
        check(len(sys.argv) == 2)
    else:
        sys.exit(__doc__)
