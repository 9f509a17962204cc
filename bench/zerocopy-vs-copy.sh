#!/bin/bash
# Zero-copy send (MSG_ZEROCOPY) against a copying send on this machine's
# loopback: bench/zerocopy_probe for 4 KiB to 1 MiB, alternating the two
# modes ROUNDS times; prints the medians of the sender's CPU time per send,
# the ratio zero-copy / copy, and how many zero-copy sends the kernel copied
# after all. In a private network namespace when root.
#
#   usage: bench/zerocopy-vs-copy.sh [ROUNDS]   (default 3)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${1:-3}
if [ "$(id -u)" = 0 ] && [ -z "${NVMEOF_BENCH_NETNS:-}" ]; then
	exec unshare -n env NVMEOF_BENCH_NETNS=1 bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$ROUNDS"
fi
TMP=$(mktemp -d /tmp/zerocopy-vs-copy.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cc -std=c17 -O2 -Wall -Wextra -Werror -pthread -o "$TMP/zerocopy_probe" "$HERE/zerocopy_probe.c"
for _ in $(seq "$ROUNDS"); do
	for size in 4096 16384 65536 131072 1048576; do
		count=$((400000 * 4096 / size))
		[ "$count" -ge 3000 ] || count=3000
		for mode in copy zerocopy; do
			"$TMP/zerocopy_probe" "$size" "$count" "$mode" >>"$TMP/runs.json"
		done
	done
done
python3 - "$TMP/runs.json" "$ROUNDS" <<'PY'
import collections, json, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    j = json.loads(line)
    runs[(j["size"], j["mode"])].append(j)
print("medians of %s runs; sender CPU per send (us), zero-copy / copy" % sys.argv[2])
print("%8s %10s %10s %8s %20s" % ("size", "copy", "zerocopy", "ratio", "copied by kernel"))
for size in sorted({k[0] for k in runs}):
    c = statistics.median(r["sender_cpu_us"] for r in runs[(size, "copy")])
    z = statistics.median(r["sender_cpu_us"] for r in runs[(size, "zerocopy")])
    copied = sum(r["copied_by_kernel"] for r in runs[(size, "zerocopy")])
    sends = sum(r["sends"] for r in runs[(size, "zerocopy")])
    print("%8d %10.2f %10.2f %8.2f %11d of %d" % (size, c, z, z / c, copied, sends))
PY
