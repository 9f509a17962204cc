/* SPDX-License-Identifier: MIT */
#include "control/metrics.h"

#include "common/lathist.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIST_MAX LATHIST_BUCKETS

void metrics_hist_cumulative(const uint64_t *hist, size_t n, uint64_t *cum)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		sum += hist[i];
		cum[i] = sum;
	}
}

void metrics_bucket_le(unsigned int i, char *buf, size_t len)
{
	/* Bucket i holds latencies below lathist_low(i + 1) us; in seconds,
	 * without trailing zeros so that the label is the shortest spelling. */
	unsigned long long us = lathist_low(i + 1);
	int n = snprintf(buf, len, "%llu.%06llu", us / 1000000ull, us % 1000000ull);

	while (n > 0 && (size_t)n < len && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && (size_t)n < len && buf[n - 1] == '.')
		buf[--n] = '\0';
}

void metrics_escape_label(struct strbuf *out, const char *value)
{
	for (const char *p = value; *p; p++) {
		switch (*p) {
		case '\\':
			strbuf_puts(out, "\\\\");
			break;
		case '"':
			strbuf_puts(out, "\\\"");
			break;
		case '\n':
			strbuf_puts(out, "\\n");
			break;
		default:
			strbuf_append(out, p, 1);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Snapshot access                                                      */

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static uint64_t jget_u64(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	if (!v || !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return 0;
	if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) < 0)
		return 0;
	return json_object_get_uint64(v);
}

static const char *jget_str(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static size_t jarray_len(struct json_object *a)
{
	return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

/* ------------------------------------------------------------------ */
/* I/O counter families, shared by namespaces, subsystems, controllers, hosts */

struct io_source {
	char *labels; /* rendered label pairs without braces, e.g. subsystem="x",nsid="1" */
	struct json_object *stats;
};

struct io_level {
	const char *prefix; /* "nvmeof", "nvmeof_subsystem", ... */
	const char *what; /* for HELP text */
	struct io_source *src;
	size_t n, cap;
};

static int level_add(struct io_level *lv, struct strbuf *labels, struct json_object *stats)
{
	if (strbuf_failed(labels))
		return -ENOMEM;
	if (lv->n == lv->cap) {
		size_t cap = lv->cap ? lv->cap * 2 : 16;
		struct io_source *s = realloc(lv->src, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		lv->src = s;
		lv->cap = cap;
	}
	char *l = strdup(labels->data ? labels->data : "");
	if (!l)
		return -ENOMEM;
	lv->src[lv->n].labels = l;
	lv->src[lv->n].stats = stats;
	lv->n++;
	return 0;
}

static void level_free(struct io_level *lv)
{
	for (size_t i = 0; i < lv->n; i++)
		free(lv->src[i].labels);
	free(lv->src);
}

static void family_header(struct strbuf *out, const char *name, const char *type, const char *help)
{
	strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(struct strbuf *out, const char *name, const char *labels, const char *extra,
		   uint64_t value)
{
	bool any = (labels && *labels) || (extra && *extra);

	strbuf_puts(out, name);
	if (any) {
		strbuf_append(out, "{", 1);
		if (labels && *labels)
			strbuf_puts(out, labels);
		if (extra && *extra) {
			if (labels && *labels)
				strbuf_append(out, ",", 1);
			strbuf_puts(out, extra);
		}
		strbuf_append(out, "}", 1);
	}
	strbuf_printf(out, " %llu\n", (unsigned long long)value);
}

static void render_histogram(struct strbuf *out, const char *name, const char *labels,
			     struct json_object *stats)
{
	struct json_object *h = jget(stats, "latency_us_hist");
	uint64_t hist[HIST_MAX] = { 0 }, cum[HIST_MAX];
	size_t n = jarray_len(h);
	char metric[128], le[64];

	if (n > HIST_MAX)
		n = HIST_MAX;
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(h, i);
		hist[i] = json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0
				  ? json_object_get_uint64(v)
				  : 0;
	}
	metrics_hist_cumulative(hist, n, cum);
	uint64_t total = n ? cum[n - 1] : 0;

	snprintf(metric, sizeof(metric), "%s_bucket", name);
	/* The last bucket also holds everything slower, so it is only +Inf. */
	for (size_t i = 0; i + 1 < n; i++) {
		char bound[32];
		metrics_bucket_le((unsigned int)i, bound, sizeof(bound));
		snprintf(le, sizeof(le), "le=\"%s\"", bound);
		sample(out, metric, labels, le, cum[i]);
	}
	sample(out, metric, labels, "le=\"+Inf\"", total);

	uint64_t sum_us = jget_u64(stats, "latency_us_sum");
	strbuf_printf(out, "%s_sum", name);
	if (labels && *labels)
		strbuf_printf(out, "{%s}", labels);
	strbuf_printf(out, " %llu.%06llu\n", (unsigned long long)(sum_us / 1000000),
		      (unsigned long long)(sum_us % 1000000));
	snprintf(metric, sizeof(metric), "%s_count", name);
	sample(out, metric, labels, NULL, total);
}

static void render_level(struct strbuf *out, const struct io_level *lv)
{
	char name[96], help[160];

	if (lv->n == 0)
		return;
	snprintf(name, sizeof(name), "%s_commands_total", lv->prefix);
	snprintf(help, sizeof(help), "NVMe I/O commands completed, per %s and operation.", lv->what);
	family_header(out, name, "counter", help);
	for (size_t i = 0; i < lv->n; i++) {
		sample(out, name, lv->src[i].labels, "op=\"read\"", jget_u64(lv->src[i].stats, "reads"));
		sample(out, name, lv->src[i].labels, "op=\"write\"", jget_u64(lv->src[i].stats, "writes"));
		sample(out, name, lv->src[i].labels, "op=\"other\"", jget_u64(lv->src[i].stats, "others"));
	}

	snprintf(name, sizeof(name), "%s_bytes_total", lv->prefix);
	snprintf(help, sizeof(help), "Data bytes transferred by I/O commands, per %s and direction.",
		 lv->what);
	family_header(out, name, "counter", help);
	for (size_t i = 0; i < lv->n; i++) {
		sample(out, name, lv->src[i].labels, "dir=\"read\"",
		       jget_u64(lv->src[i].stats, "read_bytes"));
		sample(out, name, lv->src[i].labels, "dir=\"write\"",
		       jget_u64(lv->src[i].stats, "write_bytes"));
	}

	snprintf(name, sizeof(name), "%s_errors_total", lv->prefix);
	snprintf(help, sizeof(help), "I/O commands completed with an error status, per %s.", lv->what);
	family_header(out, name, "counter", help);
	for (size_t i = 0; i < lv->n; i++)
		sample(out, name, lv->src[i].labels, NULL, jget_u64(lv->src[i].stats, "errors"));

	snprintf(name, sizeof(name), "%s_inflight_commands", lv->prefix);
	snprintf(help, sizeof(help), "I/O commands received and not yet completed (queue depth), per %s.",
		 lv->what);
	family_header(out, name, "gauge", help);
	for (size_t i = 0; i < lv->n; i++)
		sample(out, name, lv->src[i].labels, NULL, jget_u64(lv->src[i].stats, "inflight"));

	snprintf(name, sizeof(name), "%s_latency_seconds", lv->prefix);
	snprintf(help, sizeof(help), "I/O command latency from receipt to completion, per %s.",
		 lv->what);
	family_header(out, name, "histogram", help);
	for (size_t i = 0; i < lv->n; i++)
		render_histogram(out, name, lv->src[i].labels, lv->src[i].stats);
}

/* ------------------------------------------------------------------ */

static void label(struct strbuf *sb, const char *key, const char *value)
{
	if (sb->len)
		strbuf_append(sb, ",", 1);
	strbuf_printf(sb, "%s=\"", key);
	metrics_escape_label(sb, value);
	strbuf_append(sb, "\"", 1);
}

static void label_u64(struct strbuf *sb, const char *key, uint64_t value)
{
	char v[24];

	snprintf(v, sizeof(v), "%llu", (unsigned long long)value);
	label(sb, key, v);
}

static int collect_io(struct json_object *snap, struct io_level *ns, struct io_level *subsys,
		      struct io_level *ctrl, struct io_level *host)
{
	struct json_object *subs = jget(snap, "subsystems");
	struct strbuf l;
	int rc = 0;

	strbuf_init(&l);
	for (size_t i = 0; rc == 0 && i < jarray_len(subs); i++) {
		struct json_object *s = json_object_array_get_idx(subs, i);
		const char *nqn = jget_str(s, "nqn");

		strbuf_reset(&l);
		label(&l, "subsystem", nqn);
		if (jget(s, "stats"))
			rc = level_add(subsys, &l, jget(s, "stats"));

		struct json_object *nss = jget(s, "namespaces");
		for (size_t j = 0; rc == 0 && j < jarray_len(nss); j++) {
			struct json_object *n = json_object_array_get_idx(nss, j);
			strbuf_reset(&l);
			label(&l, "subsystem", nqn);
			label_u64(&l, "nsid", jget_u64(n, "nsid"));
			rc = level_add(ns, &l, jget(n, "stats"));
		}
		struct json_object *ctrls = jget(s, "controllers");
		for (size_t j = 0; rc == 0 && j < jarray_len(ctrls); j++) {
			struct json_object *c = json_object_array_get_idx(ctrls, j);
			strbuf_reset(&l);
			label(&l, "subsystem", nqn);
			label_u64(&l, "cntlid", jget_u64(c, "cntlid"));
			label(&l, "host", jget_str(c, "hostnqn"));
			rc = level_add(ctrl, &l, jget(c, "stats"));
		}
	}
	struct json_object *hosts = jget(snap, "hosts");
	for (size_t i = 0; rc == 0 && i < jarray_len(hosts); i++) {
		struct json_object *h = json_object_array_get_idx(hosts, i);
		strbuf_reset(&l);
		label(&l, "host", jget_str(h, "nqn"));
		rc = level_add(host, &l, jget(h, "stats"));
	}
	strbuf_free(&l);
	return rc;
}

static void render_objects(struct strbuf *out, struct json_object *snap)
{
	struct json_object *subs = jget(snap, "subsystems");
	struct strbuf l;

	strbuf_init(&l);
	family_header(out, "nvmeof_subsystems", "gauge", "Subsystems configured (discovery excluded).");
	sample(out, "nvmeof_subsystems", NULL, NULL, jarray_len(subs));

	if (jget(snap, "connections")) {
		family_header(out, "nvmeof_connections", "gauge",
			      "NVMe/TCP connections (one per queue) open on the target.");
		sample(out, "nvmeof_connections", NULL, NULL, jget_u64(snap, "connections"));
	}

	family_header(out, "nvmeof_namespace_size_bytes", "gauge", "Namespace capacity in bytes.");
	for (size_t i = 0; i < jarray_len(subs); i++) {
		struct json_object *s = json_object_array_get_idx(subs, i);
		struct json_object *nss = jget(s, "namespaces");
		for (size_t j = 0; j < jarray_len(nss); j++) {
			struct json_object *n = json_object_array_get_idx(nss, j);
			strbuf_reset(&l);
			label(&l, "subsystem", jget_str(s, "nqn"));
			label_u64(&l, "nsid", jget_u64(n, "nsid"));
			sample(out, "nvmeof_namespace_size_bytes", l.data, NULL, jget_u64(n, "size"));
		}
	}

	family_header(out, "nvmeof_controllers", "gauge", "Controllers connected, per subsystem.");
	for (size_t i = 0; i < jarray_len(subs); i++) {
		struct json_object *s = json_object_array_get_idx(subs, i);
		strbuf_reset(&l);
		label(&l, "subsystem", jget_str(s, "nqn"));
		sample(out, "nvmeof_controllers", l.data, NULL, jarray_len(jget(s, "controllers")));
	}

	family_header(out, "nvmeof_controller_queues", "gauge",
		      "Queues (admin included) connected to a controller.");
	for (size_t i = 0; i < jarray_len(subs); i++) {
		struct json_object *s = json_object_array_get_idx(subs, i);
		struct json_object *ctrls = jget(s, "controllers");
		for (size_t j = 0; j < jarray_len(ctrls); j++) {
			struct json_object *c = json_object_array_get_idx(ctrls, j);
			strbuf_reset(&l);
			label(&l, "subsystem", jget_str(s, "nqn"));
			label_u64(&l, "cntlid", jget_u64(c, "cntlid"));
			label(&l, "host", jget_str(c, "hostnqn"));
			sample(out, "nvmeof_controller_queues", l.data, NULL, jget_u64(c, "queues"));
		}
	}

	struct json_object *ports = jget(snap, "ports");
	family_header(out, "nvmeof_port_info", "gauge", "A port the target listens on (always 1).");
	for (size_t i = 0; i < jarray_len(ports); i++) {
		struct json_object *p = json_object_array_get_idx(ports, i);
		strbuf_reset(&l);
		label_u64(&l, "portid", jget_u64(p, "portid"));
		label(&l, "adrfam", jget_str(p, "adrfam"));
		label(&l, "traddr", jget_str(p, "traddr"));
		label(&l, "trsvcid", jget_str(p, "trsvcid"));
		sample(out, "nvmeof_port_info", l.data, NULL, 1);
	}
	strbuf_free(&l);
}

static void render_audit(struct strbuf *out, struct json_object *snap)
{
	struct json_object *audit = jget(snap, "audit");
	struct json_object *hosts = jget(snap, "hosts");
	struct strbuf l;

	strbuf_init(&l);
	family_header(out, "nvmeof_connect_refused_total", "counter",
		      "Fabrics Connect commands refused because the host was not allowed, per host.");
	for (size_t i = 0; i < jarray_len(hosts); i++) {
		struct json_object *h = json_object_array_get_idx(hosts, i);
		strbuf_reset(&l);
		label(&l, "host", jget_str(h, "nqn"));
		sample(out, "nvmeof_connect_refused_total", l.data, NULL, jget_u64(h, "refused"));
	}
	family_header(out, "nvmeof_monitored_admissions_total", "counter",
		      "Connects of unlisted hosts admitted only because of monitor mode, per host.");
	for (size_t i = 0; i < jarray_len(hosts); i++) {
		struct json_object *h = json_object_array_get_idx(hosts, i);
		strbuf_reset(&l);
		label(&l, "host", jget_str(h, "nqn"));
		sample(out, "nvmeof_monitored_admissions_total", l.data, NULL, jget_u64(h, "monitored"));
	}
	/* Target-wide totals also count hosts whose records are gone. */
	family_header(out, "nvmeof_audit_refused_total", "counter",
		      "All Fabrics Connect commands refused for access control.");
	sample(out, "nvmeof_audit_refused_total", NULL, NULL, jget_u64(audit, "refused"));
	family_header(out, "nvmeof_audit_monitored_admissions_total", "counter",
		      "All admissions of unlisted hosts because of monitor mode.");
	sample(out, "nvmeof_audit_monitored_admissions_total", NULL, NULL,
	       jget_u64(audit, "monitored_admissions"));
	strbuf_free(&l);
}

static void render_seconds(struct strbuf *out, const char *name, const char *labels, uint64_t ns)
{
	strbuf_puts(out, name);
	if (labels && *labels)
		strbuf_printf(out, "{%s}", labels);
	strbuf_printf(out, " %llu.%09llu\n", (unsigned long long)(ns / 1000000000ull),
		      (unsigned long long)(ns % 1000000000ull));
}

/* One counter family with a sample per reactor; FIELD in ns when SECONDS. */
static void render_reactor_family(struct strbuf *out, struct json_object *rs, const char *name,
				  const char *help, const char *field, bool seconds)
{
	char lab[32];

	family_header(out, name, "counter", help);
	for (size_t i = 0; i < jarray_len(rs); i++) {
		struct json_object *r = json_object_array_get_idx(rs, i);

		snprintf(lab, sizeof(lab), "reactor=\"%llu\"", (unsigned long long)jget_u64(r, "id"));
		if (seconds)
			render_seconds(out, name, lab, jget_u64(r, field));
		else
			sample(out, name, lab, NULL, jget_u64(r, field));
	}
}

static void render_reactors(struct strbuf *out, struct json_object *snap)
{
	struct json_object *rs = jget(snap, "reactors");

	if (jarray_len(rs) == 0)
		return;
	render_reactor_family(out, rs, "nvmeof_reactor_busy_seconds_total",
			      "Time a reactor spent handling completions or busy-polling.", "busy_ns", true);
	render_reactor_family(out, rs, "nvmeof_reactor_idle_seconds_total",
			      "Time a reactor spent blocked waiting for completions.", "idle_ns", true);
	render_reactor_family(out, rs, "nvmeof_reactor_completions_total",
			      "io_uring completions handled by a reactor.", "completions", false);
	render_reactor_family(out, rs, "nvmeof_reactor_sleeps_total",
			      "Times a reactor blocked in the kernel instead of polling.", "sleeps", false);
	render_reactor_family(out, rs, "nvmeof_reactor_busy_polls_total",
			      "Times a reactor polled for completions instead of blocking.", "busy_polls", false);
	render_reactor_family(out, rs, "nvmeof_reactor_spin_misses_total",
			      "Polling windows that ran out without a completion.", "spin_misses", false);
}

int metrics_render(struct json_object *snap, struct strbuf *out)
{
	struct io_level ns = { .prefix = "nvmeof", .what = "namespace" };
	struct io_level subsys = { .prefix = "nvmeof_subsystem", .what = "subsystem" };
	struct io_level ctrl = { .prefix = "nvmeof_controller", .what = "controller" };
	struct io_level host = { .prefix = "nvmeof_host", .what = "host" };
	int rc = collect_io(snap, &ns, &subsys, &ctrl, &host);

	if (rc == 0) {
		render_objects(out, snap);
		render_level(out, &ns);
		render_level(out, &subsys);
		render_level(out, &ctrl);
		render_level(out, &host);
		render_audit(out, snap);
		render_reactors(out, snap);
	}
	level_free(&ns);
	level_free(&subsys);
	level_free(&ctrl);
	level_free(&host);
	if (rc == 0 && strbuf_failed(out))
		rc = -ENOMEM;
	return rc;
}
