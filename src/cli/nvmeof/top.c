/* SPDX-License-Identifier: MIT */
/*
 * `nvmeof target top`: a live view of a target's I/O, like top(1).
 *
 * Every refresh takes a `stats` snapshot over the control socket; a row's
 * rates are the difference with the previous snapshot over the time between
 * them, its p50/p99 come from the difference of the latency histograms
 * (common/lathist.h) and QD is the current number of commands in flight.
 * On a terminal the screen is redrawn with ANSI sequences (q quits, s cycles
 * the sort column, v the view); with -n, --json, or when stdout is not a
 * terminal, each refresh is printed as a plain block (a header line, then
 * the table) or one JSON line.
 */
#include "top.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/lathist.h"

enum top_view { VIEW_SUBSYSTEM, VIEW_NAMESPACE, VIEW_HOST, VIEW_COUNT };
static const char *const view_names[VIEW_COUNT] = { "subsystem", "namespace", "host" };

enum top_sort { SORT_NAME, SORT_IOPS, SORT_MIBS, SORT_P50, SORT_P99, SORT_QD, SORT_ERRORS, SORT_COUNT };
static const char *const sort_names[SORT_COUNT] = { "name", "iops", "mibs", "p50", "p99", "qd", "errors" };

/* Cumulative counters of one object in one snapshot. */
struct top_obj {
	char name[320];
	const char *subsystem, *host; /* into the snapshot */
	uint64_t nsid;
	uint64_t reads, writes, read_bytes, write_bytes, errors, inflight;
	uint64_t hist[LATHIST_BUCKETS];
};

/* One displayed row: rates over the interval. */
struct top_row {
	const struct top_obj *obj;
	double r_iops, w_iops, r_mibs, w_mibs, p50, p99; /* p50/p99 < 0: no I/O in the interval */
	uint64_t errors; /* in the interval */
};

struct top_opts {
	double interval; /* seconds */
	long count; /* refreshes to print; 0 = until interrupted */
	enum top_view view;
	enum top_sort sort;
	bool json;
};

static volatile sig_atomic_t top_stop;

static void on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
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

static uint64_t ju64(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0
		       ? json_object_get_uint64(v)
		       : 0;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static size_t jlen(struct json_object *a)
{
	return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static void obj_fill(struct top_obj *o, struct json_object *st)
{
	struct json_object *h = jget(st, "latency_us_hist");
	size_t n = jlen(h);

	o->reads = ju64(st, "reads");
	o->writes = ju64(st, "writes");
	o->read_bytes = ju64(st, "read_bytes");
	o->write_bytes = ju64(st, "write_bytes");
	o->errors = ju64(st, "errors");
	o->inflight = ju64(st, "inflight");
	memset(o->hist, 0, sizeof(o->hist));
	for (size_t i = 0; i < n && i < LATHIST_BUCKETS; i++) {
		struct json_object *v = json_object_array_get_idx(h, i);
		o->hist[i] = json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0
				     ? json_object_get_uint64(v)
				     : 0;
	}
}

/* The objects of one view in snap: *out (the caller frees it), their number or -1. */
static long collect(struct json_object *snap, enum top_view view, struct top_obj **out)
{
	struct json_object *subs = jget(snap, "subsystems"), *hosts = jget(snap, "hosts");
	size_t cap = 0, n = 0;
	struct top_obj *v = NULL;

	if (view == VIEW_HOST) {
		cap = jlen(hosts);
	} else {
		for (size_t i = 0; i < jlen(subs); i++)
			cap += view == VIEW_SUBSYSTEM ? 1 : jlen(jget(json_object_array_get_idx(subs, i), "namespaces"));
	}
	if (cap && !(v = calloc(cap, sizeof(*v))))
		return -1;
	if (view == VIEW_HOST) {
		for (size_t i = 0; i < cap; i++) {
			struct json_object *h = json_object_array_get_idx(hosts, i);
			struct top_obj *o = &v[n++];
			o->host = jstr(h, "nqn");
			snprintf(o->name, sizeof(o->name), "%s", o->host);
			obj_fill(o, jget(h, "stats"));
		}
	} else {
		for (size_t i = 0; i < jlen(subs); i++) {
			struct json_object *s = json_object_array_get_idx(subs, i);
			struct json_object *nss = jget(s, "namespaces");
			if (view == VIEW_SUBSYSTEM) {
				struct top_obj *o = &v[n++];
				o->subsystem = jstr(s, "nqn");
				snprintf(o->name, sizeof(o->name), "%s", o->subsystem);
				obj_fill(o, jget(s, "stats"));
				continue;
			}
			for (size_t j = 0; j < jlen(nss) && n < cap; j++) {
				struct json_object *ns = json_object_array_get_idx(nss, j);
				struct top_obj *o = &v[n++];
				o->subsystem = jstr(s, "nqn");
				o->nsid = ju64(ns, "nsid");
				snprintf(o->name, sizeof(o->name), "%s/%llu", o->subsystem,
					 (unsigned long long)o->nsid);
				obj_fill(o, jget(ns, "stats"));
			}
		}
	}
	*out = v;
	return (long)n;
}

/* ------------------------------------------------------------------ */
/* Rates                                                                */

/* now - before for a counter; an object recreated in between starts from 0. */
static uint64_t delta(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : now;
}

static void row_compute(struct top_row *r, const struct top_obj *cur, const struct top_obj *prev, double dt)
{
	static const struct top_obj zero;
	uint64_t h[LATHIST_BUCKETS];
	bool reset;

	if (!prev)
		prev = &zero;
	/* A recreated object (a counter went back) is taken from zero throughout. */
	reset = cur->reads < prev->reads || cur->writes < prev->writes || cur->errors < prev->errors;
	if (reset)
		prev = &zero;
	r->obj = cur;
	r->r_iops = (double)delta(cur->reads, prev->reads) / dt;
	r->w_iops = (double)delta(cur->writes, prev->writes) / dt;
	r->r_mibs = (double)delta(cur->read_bytes, prev->read_bytes) / dt / 1048576.0;
	r->w_mibs = (double)delta(cur->write_bytes, prev->write_bytes) / dt / 1048576.0;
	r->errors = delta(cur->errors, prev->errors);
	uint64_t total = 0;
	for (unsigned int i = 0; i < LATHIST_BUCKETS; i++) {
		h[i] = delta(cur->hist[i], prev->hist[i]);
		total += h[i];
	}
	r->p50 = total ? lathist_percentile(h, LATHIST_BUCKETS, 50) : -1;
	r->p99 = total ? lathist_percentile(h, LATHIST_BUCKETS, 99) : -1;
}

static double sort_value(const struct top_row *r, enum top_sort s)
{
	switch (s) {
	case SORT_IOPS:
		return r->r_iops + r->w_iops;
	case SORT_MIBS:
		return r->r_mibs + r->w_mibs;
	case SORT_P50:
		return r->p50;
	case SORT_P99:
		return r->p99;
	case SORT_QD:
		return (double)r->obj->inflight;
	case SORT_ERRORS:
		return (double)r->errors;
	default:
		return 0;
	}
}

/* Largest first (names in order), ties by name. */
static int row_cmp(const void *a, const void *b, void *arg)
{
	const struct top_row *x = a, *y = b;
	enum top_sort s = *(const enum top_sort *)arg;

	if (s != SORT_NAME) {
		double vx = sort_value(x, s), vy = sort_value(y, s);
		if (vx != vy)
			return vx > vy ? -1 : 1;
	}
	return strcmp(x->obj->name, y->obj->name);
}

/* Rows of cur against prev over dt seconds, sorted: their number, or -1. */
static long rows_build(struct json_object *prev_snap, struct json_object *cur_snap, double dt,
		       const struct top_opts *o, struct top_obj **cur_out, struct top_row **rows_out)
{
	struct top_obj *cur = NULL, *prev = NULL;
	long nc = collect(cur_snap, o->view, &cur), np = collect(prev_snap, o->view, &prev);
	struct top_row *rows = NULL;

	if (nc < 0 || np < 0 || (nc && !(rows = calloc((size_t)nc, sizeof(*rows))))) {
		free(cur);
		free(prev);
		return -1;
	}
	for (long i = 0; i < nc; i++) {
		const struct top_obj *p = NULL;
		for (long j = 0; j < np && !p; j++)
			if (!strcmp(prev[j].name, cur[i].name))
				p = &prev[j];
		row_compute(&rows[i], &cur[i], p, dt);
	}
	free(prev);
	if (nc)
		qsort_r(rows, (size_t)nc, sizeof(*rows), row_cmp, (void *)&o->sort);
	*cur_out = cur;
	*rows_out = rows;
	return nc;
}

/* ------------------------------------------------------------------ */
/* Output                                                               */

static void fmt_lat(char *buf, size_t len, double us)
{
	if (us < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f", us);
}

/* The header line and the table; width 0 = no limit (names never cut). */
static void print_table(FILE *f, const struct top_row *rows, long n, double dt, const struct top_opts *o,
			unsigned int width)
{
	char when[32], p50[24], p99[24];
	time_t now = time(NULL);
	struct tm tm;
	int name_w = 4;

	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	for (long i = 0; i < n; i++) {
		int l = (int)strlen(rows[i].obj->name);
		if (l > name_w)
			name_w = l;
	}
	/* The numeric columns take 75 characters. */
	if (width && name_w > (int)width - 76)
		name_w = (int)width - 76 > 12 ? (int)width - 76 : 12;
	fprintf(f, "nvmeof top - %s, interval %.2f s, by %s, sorted by %s\n", when, dt, view_names[o->view],
		sort_names[o->sort]);
	fprintf(f, "%-*s %10s %10s %9s %9s %9s %9s %6s %7s\n", name_w, "NAME", "R_IOPS", "W_IOPS", "R_MiB/s",
		"W_MiB/s", "P50_us", "P99_us", "QD", "ERRORS");
	for (long i = 0; i < n; i++) {
		const struct top_row *r = &rows[i];
		const char *name = r->obj->name;
		int l = (int)strlen(name), w = name_w;

		fmt_lat(p50, sizeof(p50), r->p50);
		fmt_lat(p99, sizeof(p99), r->p99);
		/* Cut long names at the front: the end (NSID, host UUID) tells them apart. */
		if (l > name_w) {
			fputs("...", f);
			w = name_w - 3;
			name += l - w;
		}
		fprintf(f, "%-*s %10.0f %10.0f %9.1f %9.1f %9s %9s %6llu %7llu\n", w, name, r->r_iops, r->w_iops,
			r->r_mibs, r->w_mibs, p50, p99, (unsigned long long)r->obj->inflight,
			(unsigned long long)r->errors);
	}
	if (n == 0)
		fprintf(f, "(no %ss)\n", view_names[o->view]);
}

static void print_json_line(const struct top_row *rows, long n, double dt, const struct top_opts *o)
{
	struct json_object *j = json_object_new_object(), *arr = json_object_new_array();

	json_object_object_add(j, "time", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(j, "interval_s", json_object_new_double(dt));
	json_object_object_add(j, "by", json_object_new_string(view_names[o->view]));
	json_object_object_add(j, "sort", json_object_new_string(sort_names[o->sort]));
	for (long i = 0; i < n; i++) {
		const struct top_row *r = &rows[i];
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(r->obj->name));
		if (r->obj->subsystem)
			json_object_object_add(e, "subsystem", json_object_new_string(r->obj->subsystem));
		if (o->view == VIEW_NAMESPACE)
			json_object_object_add(e, "nsid", json_object_new_int64((int64_t)r->obj->nsid));
		if (r->obj->host)
			json_object_object_add(e, "host", json_object_new_string(r->obj->host));
		json_object_object_add(e, "read_iops", json_object_new_double(r->r_iops));
		json_object_object_add(e, "write_iops", json_object_new_double(r->w_iops));
		json_object_object_add(e, "read_mibs", json_object_new_double(r->r_mibs));
		json_object_object_add(e, "write_mibs", json_object_new_double(r->w_mibs));
		json_object_object_add(e, "p50_us", r->p50 < 0 ? NULL : json_object_new_double(r->p50));
		json_object_object_add(e, "p99_us", r->p99 < 0 ? NULL : json_object_new_double(r->p99));
		json_object_object_add(e, "qd", json_object_new_int64((int64_t)r->obj->inflight));
		json_object_object_add(e, "errors", json_object_new_int64((int64_t)r->errors));
		json_object_object_add(e, "reads_total", json_object_new_int64((int64_t)r->obj->reads));
		json_object_object_add(e, "writes_total", json_object_new_int64((int64_t)r->obj->writes));
		json_object_array_add(arr, e);
	}
	json_object_object_add(j, "rows", arr);
	puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
}

/* Print one refresh; -1 on allocation failure. */
static int show(struct json_object *prev, struct json_object *cur, double dt, const struct top_opts *o,
		bool tty)
{
	struct top_obj *objs = NULL;
	struct top_row *rows = NULL;
	long n = rows_build(prev, cur, dt, o, &objs, &rows);

	if (n < 0)
		return -1;
	if (o->json) {
		print_json_line(rows, n, dt, o);
	} else if (tty) {
		struct winsize ws = { 0 };
		unsigned int width = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col ? ws.ws_col : 80;
		long max_rows = ws.ws_row > 4 ? ws.ws_row - 4 : 20;

		fputs("\033[H\033[2J", stdout);
		print_table(stdout, rows, n < max_rows ? n : max_rows, dt, o, width);
		fputs("\nq quit, s sort column, v view (subsystem/namespace/host)", stdout);
	} else {
		print_table(stdout, rows, n, dt, o, 0);
		putchar('\n');
	}
	fflush(stdout);
	free(rows);
	free(objs);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Main loop                                                            */

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
	fputs("usage: nvmeof target top [--rpc-socket PATH] [-d SECONDS] [-n N] [-s COLUMN]\n"
	      "                         [--by subsystem|namespace|host] [--json]\n"
	      "  -d, --delay SECONDS   time between refreshes (default 1, at least 0.1)\n"
	      "  -n, --iterations N    print N refreshes as plain text and exit\n"
	      "  -s, --sort COLUMN     name, iops, mibs, p50, p99, qd or errors (default iops)\n"
	      "  -b, --by VIEW         one row per subsystem, namespace (default) or host\n"
	      "  -j, --json            one JSON object per refresh, one per line\n"
	      "On a terminal without -n: q quits, s cycles the sort column, v the view.\n",
	      f);
}

static int parse_name(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* Wait until deadline (monotonic seconds), handling keys on a terminal.
 * Returns 1 to redraw now (a key changed the view), 0 at the deadline,
 * -1 to quit. */
static int wait_keys(double deadline, bool keys, struct top_opts *o)
{
	for (;;) {
		double left = deadline - mono_s();
		if (top_stop)
			return -1;
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		int rc = poll(keys ? &p : NULL, keys ? 1 : 0, (int)(left * 1000) + 1);
		if (rc < 0 && errno != EINTR)
			return -1;
		if (rc <= 0 || !(p.revents & POLLIN))
			continue;
		char c;
		if (read(STDIN_FILENO, &c, 1) != 1)
			return -1;
		switch (c) {
		case 'q':
		case 'Q':
			return -1;
		case 's':
			o->sort = (enum top_sort)((o->sort + 1) % SORT_COUNT);
			return 1;
		case 'v':
		case 'b':
			o->view = (enum top_view)((o->view + 1) % VIEW_COUNT);
			return 1;
		default:
			break;
		}
	}
}

int top_main(int argc, char **argv, top_fetch_fn fetch, void *ctx)
{
	static const struct option lopts[] = { { "delay", required_argument, NULL, 'd' },
					       { "iterations", required_argument, NULL, 'n' },
					       { "sort", required_argument, NULL, 's' },
					       { "by", required_argument, NULL, 'b' },
					       { "json", no_argument, NULL, 'j' },
					       { "help", no_argument, NULL, 'h' },
					       { 0 } };
	struct top_opts o = { .interval = 1.0, .view = VIEW_NAMESPACE, .sort = SORT_IOPS };
	int c, rc = 0;
	char *end;

	while ((c = getopt_long(argc, argv, "d:n:s:b:jh", lopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			errno = 0;
			o.interval = strtod(optarg, &end);
			if (errno || *end || !(o.interval >= 0.1 && o.interval <= 3600)) {
				fprintf(stderr, "nvmeof target top: bad -d '%s' (seconds, 0.1 to 3600)\n", optarg);
				return 2;
			}
			break;
		case 'n':
			errno = 0;
			o.count = strtol(optarg, &end, 10);
			if (errno || *end || o.count < 1) {
				fprintf(stderr, "nvmeof target top: bad -n '%s' (a count of at least 1)\n", optarg);
				return 2;
			}
			break;
		case 's': {
			int s = parse_name(optarg, sort_names, SORT_COUNT);
			if (s < 0) {
				fprintf(stderr, "nvmeof target top: unknown sort column '%s'\n", optarg);
				usage(stderr);
				return 2;
			}
			o.sort = (enum top_sort)s;
			break;
		}
		case 'b': {
			int v = parse_name(optarg, view_names, VIEW_COUNT);
			if (v < 0) {
				fprintf(stderr, "nvmeof target top: --by takes subsystem, namespace or host\n");
				return 2;
			}
			o.view = (enum top_view)v;
			break;
		}
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "nvmeof target top: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}

	bool tty = !o.count && !o.json && isatty(STDOUT_FILENO);
	bool keys = tty && isatty(STDIN_FILENO);
	struct termios saved;
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: poll returns */

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (keys && tcgetattr(STDIN_FILENO, &saved) == 0) {
		struct termios raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		keys = false;
	}
	if (tty) {
		fputs("\033[?1049h\033[?25l\033[H\033[2Jnvmeof top: collecting...", stdout);
		fflush(stdout);
	}

	struct json_object *prev = fetch(ctx), *cur = NULL;
	double t_prev = mono_s(), dt = 0;
	long shown = 0;

	if (!prev)
		rc = 1;
	while (prev && !top_stop && (!o.count || shown < o.count)) {
		int w = wait_keys(t_prev + o.interval, keys, &o);
		if (w < 0)
			break;
		if (w > 0) {
			/* Redraw the last interval in the new view or order. */
			if (cur && show(prev, cur, dt, &o, tty) < 0) {
				rc = 1;
				break;
			}
			continue;
		}
		struct json_object *next = fetch(ctx);
		double t = mono_s();
		if (!next) {
			rc = 1;
			break;
		}
		if (cur) {
			json_object_put(prev);
			prev = cur;
		}
		cur = next;
		dt = t - t_prev;
		t_prev = t;
		if (show(prev, cur, dt, &o, tty) < 0) {
			fputs("nvmeof target top: out of memory\n", stderr);
			rc = 1;
			break;
		}
		shown++;
	}
	json_object_put(prev);
	json_object_put(cur);
	if (keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	if (tty) {
		fputs("\033[?25h\033[?1049l", stdout);
		fflush(stdout);
	}
	return rc;
}
