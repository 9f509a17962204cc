# SPDX-License-Identifier: MIT
"""Shared pieces of the soak test: the target's layout, who uses what, the
logs the workers write and the time windows that excuse an error.

    python3 soak_common.py config DIR   write DIR/target.json (nvmetcli JSON)

Every script of the soak reads its directory from $SOAK_DIR and the build
from $SOAK_BUILD; run.sh sets both.

Logs (JSON lines in $SOAK_DIR):
  disrupt.jsonl   one line per churn operation that touches something a
                  verified-I/O host depends on: {op, start, end, keys, removes}
  perf-NAME.jsonl one line per `nvmeof perf --verify` run
  ledger-NAME.jsonl  one line per `nvmeof write` (acknowledged or not) and
                  per immediate read-back
The stop file $SOAK_DIR/stop ends every worker early, and $SOAK_DIR/died
holds the time the target was found dead.
"""
import json
import os
import subprocess
import sys
import time

ADDR = "127.0.0.1"
PORT_A = 4420  # portid 1: io-a and abuse, never removed
PORT_B = 4421  # portid 2: io-b, bounced by the churn
CHURN_PORTS = list(range(4430, 4446))

NQN = "nqn.2026-01.io.nvmeof.soak:"
IO_A = NQN + "io-a"
IO_B = NQN + "io-b"
ABUSE = NQN + "abuse"


def host_nqn(n):
    return f"nqn.2014-08.org.nvmexpress:uuid:50a4c0de-0000-4000-8000-{n:012x}"


# Hosts doing verified I/O. perf --verify owns a whole namespace (its region
# starts at LBA 0); ledger writers own disjoint block ranges.
PERF = {
    "p1": dict(nqn=IO_A, port=PORT_A, nsid=1, host=host_nqn(0x11), digests=True),
    "p2": dict(nqn=IO_A, port=PORT_A, nsid=2, host=host_nqn(0x12), digests=False),
    "p3": dict(nqn=IO_B, port=PORT_B, nsid=1, host=host_nqn(0x13), digests=False),
}
REGION = 2048  # blocks of 512 bytes per ledger writer and namespace
LEDGER = {
    "l1": dict(nqn=IO_A, port=PORT_A, regions=[(3, 0), (4, 0)], host=host_nqn(0x21), digests=False),
    "l2": dict(nqn=IO_A, port=PORT_A, regions=[(3, REGION), (4, REGION)], host=host_nqn(0x22), digests=True),
    "l3": dict(nqn=IO_B, port=PORT_B, regions=[(2, 0)], host=host_nqn(0x23), digests=False),
}
IO_B_HOSTS = [PERF["p3"]["host"], LEDGER["l3"]["host"]]

# Namespaces as created at start (and re-created by the churn after it
# removed them): nsid -> (kind, size).
NAMESPACES = {
    IO_A: {1: ("ram", "32M"), 2: ("file", "32M"), 3: ("file", "16M"), 4: ("ram", "16M")},
    IO_B: {1: ("ram", "16M"), 2: ("file", "16M")},
    ABUSE: {1: ("ram", "8M")},
}

# A disruption's effects may show a little before its recorded start or after
# its end (the clock is read around the control call).
SLACK = 0.5


def soak_dir():
    return os.environ["SOAK_DIR"]


def build():
    return os.environ["SOAK_BUILD"]


def ns_path(nqn, nsid):
    return os.path.join(soak_dir(), "files", f"{nqn.rsplit(':', 1)[1]}-ns{nsid}.img")


def keys_of(nqn, port, host, nsid=None):
    k = {"sub:" + nqn, f"port:{port}", "host:" + host}
    if nsid is not None:
        k.add(f"ns:{nqn}:{nsid}")
    return k


def stopped(deadline):
    return time.time() >= deadline or os.path.exists(os.path.join(soak_dir(), "stop"))


def append_jsonl(name, obj):
    with open(os.path.join(soak_dir(), name), "a") as f:
        f.write(json.dumps(obj, sort_keys=True) + "\n")


def read_jsonl(name):
    path = os.path.join(soak_dir(), name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def disruptions():
    """The churn's disruptions, and the target's death (run.sh writes the time
    it noticed it to $SOAK_DIR/died) as one that touches everything."""
    events = read_jsonl("disrupt.jsonl")
    died = os.path.join(soak_dir(), "died")
    if os.path.exists(died):
        with open(died) as f:
            t = float(f.read())
        # A sanitizer report takes a few seconds to write before the process ends.
        events.append({"op": "target died", "start": t - 5, "end": 1e18, "keys": ["*"], "removes": []})
    return events


def excused(keys, t0, t1, events):
    """The churn touched one of KEYS during [t0, t1]: an error is allowed."""
    for d in events:
        if (set(d["keys"]) & keys or "*" in d["keys"]) and d["start"] - SLACK <= t1 and d["end"] + SLACK >= t0:
            return d
    return None


def removed_after(nqn, nsid, t, events):
    """The namespace was removed (alone or with its subsystem) at or after T."""
    mine = {f"ns:{nqn}:{nsid}", "sub:" + nqn}
    return any(set(d.get("removes", [])) & mine and d["end"] + SLACK >= t for d in events)


def conn_args(nqn, port, host, digests):
    a = ["-t", "tcp", "-a", ADDR, "-s", str(port), "-n", nqn, "--hostnqn", host,
         "--keep-alive-tmo", "5", "--reconnect-delay", "1", "--ctrl-loss-tmo", "4",
         "--fast-io-fail-tmo", "2", "--io-timeout", "20"]
    if digests:
        a += ["--hdr-digest", "--data-digest"]
    return a


def run(argv, timeout):
    """Run a tool; (exit status, stdout, stderr). A timeout is status 124."""
    try:
        p = subprocess.run(argv, capture_output=True, timeout=timeout, text=True, errors="replace")
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        return 124, out, err + f"\n(killed after {timeout}s)"


def namespace_json(nqn, nsid):
    kind, size = NAMESPACES[nqn][nsid]
    dev = {"size": size}
    if kind == "file":
        dev["path"] = ns_path(nqn, nsid)
    return {"nsid": nsid, "enable": 1, "device": dev}


def serial(nqn):
    return "SOAK-" + nqn.rsplit(":", 1)[1].upper()


def subsystem_json(nqn, any_host, hosts=()):
    return {"nqn": nqn, "allowed_hosts": list(hosts),
            "attr": {"allow_any_host": "1" if any_host else "0",
                     "serial": serial(nqn), "model": "nvmeof soak"},
            "namespaces": [namespace_json(nqn, n) for n in sorted(NAMESPACES[nqn])]}


def port_json(portid, port, subs):
    return {"portid": portid, "subsystems": subs,
            "addr": {"trtype": "tcp", "adrfam": "ipv4", "traddr": ADDR, "trsvcid": str(port)}}


def write_config(d):
    os.makedirs(os.path.join(d, "files"), exist_ok=True)
    cfg = {
        "hosts": [{"nqn": h} for h in IO_B_HOSTS],
        "subsystems": [subsystem_json(IO_A, True), subsystem_json(IO_B, False, IO_B_HOSTS),
                       subsystem_json(ABUSE, True)],
        "ports": [port_json(1, PORT_A, [IO_A, ABUSE]), port_json(2, PORT_B, [IO_B])],
    }
    with open(os.path.join(d, "target.json"), "w") as f:
        json.dump(cfg, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "config":
        os.environ["SOAK_DIR"] = sys.argv[2]
        write_config(sys.argv[2])
    else:
        sys.exit("usage: soak_common.py config DIR")
