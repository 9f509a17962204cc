/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text exposition (format 0.0.4) of the target's telemetry.
 *
 * The input is the JSON the stats RPC returns: nvmf_tgt_snapshot() plus a
 * "reactors" array added by the control server, so the HTTP endpoint, the
 * `stats` command and the tests all read the same numbers.
 */
#ifndef NVMEOF_CONTROL_METRICS_H
#define NVMEOF_CONTROL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "control/strbuf.h"

struct json_object;

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Append the exposition for `snap` to out. Returns 0 or -ENOMEM. */
int metrics_render(struct json_object *snap, struct strbuf *out);

/*
 * The command layer's latency histogram is log-linear (common/lathist.h):
 * bucket i counts commands that took less than lathist_low(i + 1) us.
 * Prometheus wants cumulative counts per upper bound: cum[i] = sum of hist[0..i].
 */
void metrics_hist_cumulative(const uint64_t *hist, size_t n, uint64_t *cum);

/* Upper bound of bucket i in seconds, as the shortest decimal string:
 * "0.000001" for 0, "0.00001" for 9 (10 us). */
void metrics_bucket_le(unsigned int i, char *buf, size_t len);

/* Append `value` escaped for a label value (backslash, quote, newline). */
void metrics_escape_label(struct strbuf *out, const char *value);

#endif
