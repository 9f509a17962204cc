#!/usr/bin/env python3
# Check dist/grafana/nvmeof-dashboard.json against a running target's
# Prometheus exposition: the JSON is an importable dashboard (schema, the
# DS_PROMETHEUS input, unique panel ids, defined template variables) and
# every metric name its expressions and variable queries use is exported.
#
#   usage: dashboard_check.py DASHBOARD.json METRICS.txt
# Prints one "ok: ..." or "FAIL: ..." line per check; exits 1 on any failure.
import json
import re
import sys

dash = json.load(open(sys.argv[1]))
exported = set()
for line in open(sys.argv[2]):
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", line)
    if m and not line.startswith("#"):
        exported.add(m.group(1))

failed = 0


def check(what, ok):
    global failed
    print(("ok: " if ok else "FAIL: ") + what)
    failed += 0 if ok else 1


check("schemaVersion is 38", dash.get("schemaVersion") == 38)
check("a DS_PROMETHEUS datasource input",
      any(i.get("name") == "DS_PROMETHEUS" and i.get("pluginId") == "prometheus"
          for i in dash.get("__inputs", [])))

panels = []
for p in dash.get("panels", []):
    panels.append(p)
    panels.extend(p.get("panels", []))
ids = [p["id"] for p in panels]
check("panel ids are unique", len(ids) == len(set(ids)))
data_panels = [p for p in panels if p.get("type") != "row"]
check("every data panel uses ${DS_PROMETHEUS}",
      all(p.get("datasource", {}).get("uid") == "${DS_PROMETHEUS}" for p in data_panels))

exprs = [t["expr"] for p in data_panels for t in p.get("targets", [])]
variables = dash.get("templating", {}).get("list", [])
exprs += [v["definition"] for v in variables]
check("panels have queries", len(exprs) > len(variables))
defined = {v["name"] for v in variables}
used = set(re.findall(r"\$(?!__)(\w+)", " ".join(exprs)))
check("template variables used are defined (%s)" % ", ".join(sorted(used)), used <= defined)

names = set()
for e in exprs:
    # Metric names: identifiers starting with nvmeof_ outside label matchers.
    names.update(re.findall(r"\bnvmeof_[a-z0-9_]+", re.sub(r'"[^"]*"', '""', e)))
check("the expressions name metrics (%d)" % len(names), len(names) > 10)
for n in sorted(names):
    check("metric %s is exported" % n, n in exported)
for want in ("histogram_quantile(0.5", "histogram_quantile(0.99"):
    check("latency uses %s...)" % want, any(want in e and "_latency_seconds_bucket" in e for e in exprs))
sys.exit(1 if failed else 0)
