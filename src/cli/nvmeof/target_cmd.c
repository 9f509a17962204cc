/* SPDX-License-Identifier: MIT */
/*
 * `nvmeof target ...`: drive a running nvmeof-target through its control
 * socket. Each subcommand is one JSON-RPC 2.0 call; the reply is printed as
 * a table (or raw JSON with --json). Paths are made absolute here because
 * the daemon resolves them from its own working directory.
 *
 * Exit status: 0 done, 1 the target refused or could not be reached,
 * 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/size.h"
#include "top.h"

#define DEFAULT_RPC_SOCKET "/run/nvmeof/target.sock"
#define RESPONSE_MAX (64u << 20)

int cmd_target(int argc, char **argv);

struct tctx {
	const char *socket_path;
	int timeout_ms;
	const char *cmd; /* subcommand name, for messages */
};

/* One entry per subcommand: its line, then continuation lines indented deeper. */
static const char usage_commands[] =
	"  list [--json]\n"
	"  stats [--json | --prometheus]\n"
	"  top [-d SECONDS] [-n N] [-s name|iops|mibs|p50|p99|qd|errors]\n"
	"      [--by subsystem|namespace|host] [--json]   (live I/O view; q, s, v keys)\n"
	"  add-subsystem NQN [--allow-any-host] [--serial S] [--model M] [--monitor]\n"
	"  remove-subsystem NQN\n"
	"  set-monitor NQN on|off\n"
	"  set-allow-any-host NQN on|off\n"
	"  add-ns NQN (--path FILE | --path rbd:POOL/[NS/]IMAGE | --ram SIZE) [--nsid N]\n"
	"         [--uuid U] [--nguid G] [--size SIZE] [--block-size N] [--read-only]\n"
	"         [--direct] [--preallocate] [--ceph-conf FILE] [--ceph-id ID]\n"
	"  remove-ns NQN NSID\n"
	"  add-host NQN HOSTNQN [--dhchap-secret K [--dhchap-ctrl-secret K]\n"
	"           [--dhchap-hash H] [--dhchap-dhgroup G]]\n"
	"           [--tls-key NVMeTLSkey-1:... [--tls-kdf libnvme|rfc8446]]\n"
	"  set-host-keys HOSTNQN [KEY OPTIONS as for add-host]   (replaces the host's\n"
	"           keys; a key not given is removed)\n"
	"  remove-host NQN HOSTNQN\n"
	"  add-port --traddr A --trsvcid P [--adrfam ipv4|ipv6] [--portid N]\n"
	"           [--tsas none|tls1.3] [--treq required|not-required] [--subsystem NQN]...\n"
	"  link-port PORTID NQN\n"
	"  unlink-port PORTID NQN\n"
	"  remove-port PORTID\n"
	"  set-ana-state PORTID GRPID optimized|non-optimized|inaccessible|persistent-loss|change\n"
	"  save-config FILE\n"
	"  set-log-level error|warn|notice|info|debug\n"
	"  rpc METHOD [PARAMS-JSON]\n";

static void usage(FILE *f)
{
	fputs("usage: nvmeof target [--rpc-socket PATH] [--timeout SEC] COMMAND [ARGS]\n\ncommands:\n", f);
	fputs(usage_commands, f);
}

/* `nvmeof target CMD --help`: CMD's entry of usage_commands. */
static void usage_subcommand(FILE *f, const char *name)
{
	size_t name_len = strlen(name);
	bool in_entry = false;

	for (const char *line = usage_commands; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
		bool first = len > 3 && line[2] != ' ';

		if (first)
			in_entry = strncmp(line + 2, name, name_len) == 0 &&
				   (line[2 + name_len] == ' ' || line[2 + name_len] == '\n');
		if (in_entry && first) {
			fputs("usage: nvmeof target ", f);
			fwrite(line + 2, 1, len - 2, f);
		} else if (in_entry) {
			fwrite(line, 1, len, f);
		}
		line += len;
	}
	fputs("global options: [--rpc-socket PATH] [--timeout SEC]; see nvmeof(1), TARGET COMMANDS\n", f);
}

static int usage_error(const struct tctx *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int usage_error(const struct tctx *t, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nvmeof target%s%s: ", t->cmd ? " " : "", t->cmd ? t->cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see nvmeof target --help)\n", stderr);
	return 2;
}

/* ------------------------------------------------------------------ */
/* Client                                                               */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_socket(const struct tctx *t)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(t->socket_path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "nvmeof target: %s: socket path too long\n", t->socket_path);
		return -1;
	}
	memcpy(sa.sun_path, t->socket_path, strlen(t->socket_path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "nvmeof target: cannot reach the target at %s: %s%s\n", t->socket_path,
			strerror(errno),
			errno == ENOENT || errno == ECONNREFUSED ? " (is nvmeof-target running?)" : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one newline-terminated line within the deadline. */
static char *recv_line(int fd, int64_t deadline, int *err)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);

	if (!buf) {
		*err = ENOMEM;
		return NULL;
	}
	for (;;) {
		int64_t left = deadline - mono_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0) {
			*err = ETIMEDOUT;
			break;
		}
		int rc = poll(&p, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0) {
			*err = rc < 0 ? errno : ETIMEDOUT;
			break;
		}
		if (len + 1 >= cap) {
			if (cap >= RESPONSE_MAX) {
				*err = EMSGSIZE;
				break;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				*err = ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = n < 0 ? errno : ECONNRESET;
			break;
		}
		char *nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			*nl = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

/*
 * Call method with params (ownership taken). Returns 0 with *result (the
 * "result" member, caller puts it) or 1 after printing the error.
 */
static int rpc_call(const struct tctx *t, const char *method, struct json_object *params,
		    struct json_object **result)
{
	struct json_object *req = json_object_new_object();
	int rc = 1, err = 0;

	*result = NULL;
	json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(req, "id", json_object_new_int(1));
	json_object_object_add(req, "method", json_object_new_string(method));
	if (params)
		json_object_object_add(req, "params", params);

	int fd = connect_socket(t);
	if (fd < 0) {
		json_object_put(req);
		return 1;
	}
	char *line = NULL;
	const char *text = json_object_to_json_string_ext(
		req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	err = -send_all(fd, text, strlen(text));
	if (!err)
		err = -send_all(fd, "\n", 1);
	if (!err)
		line = recv_line(fd, mono_ms() + t->timeout_ms, &err);
	close(fd);
	json_object_put(req);
	if (!line) {
		fprintf(stderr, "nvmeof target %s: no answer from %s: %s\n", t->cmd, t->socket_path,
			strerror(err));
		return 1;
	}

	struct json_object *resp = json_tokener_parse(line);
	struct json_object *e = NULL, *r = NULL;
	if (!resp || !json_object_is_type(resp, json_type_object)) {
		fprintf(stderr, "nvmeof target %s: malformed answer from the target\n", t->cmd);
	} else if (json_object_object_get_ex(resp, "error", &e)) {
		struct json_object *msg = NULL, *code = NULL;
		json_object_object_get_ex(e, "message", &msg);
		json_object_object_get_ex(e, "code", &code);
		fprintf(stderr, "nvmeof target %s: %s (code %d)\n", t->cmd,
			msg ? json_object_get_string(msg) : "error", code ? json_object_get_int(code) : 0);
	} else if (json_object_object_get_ex(resp, "result", &r)) {
		*result = r ? json_object_get(r) : NULL;
		rc = 0;
	} else {
		fprintf(stderr, "nvmeof target %s: answer has neither result nor error\n", t->cmd);
	}
	json_object_put(resp);
	free(line);
	return rc;
}

/* A call whose result is not printed. */
static int rpc_simple(const struct tctx *t, const char *method, struct json_object *params)
{
	struct json_object *res;
	int rc = rpc_call(t, method, params, &res);

	json_object_put(res);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Argument helpers                                                     */

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_on_off(const char *s, bool *out)
{
	if (!strcmp(s, "on") || !strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1"))
		*out = true;
	else if (!strcmp(s, "off") || !strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* The daemon has its own working directory: send absolute paths. */
static char *absolute_path(const char *path)
{
	char cwd[PATH_MAX];
	char *out;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

static bool want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	return false;
}

/* Positional arguments after getopt: exactly n of them. */
static int positionals(const struct tctx *t, int argc, char **argv, int n, const char *names)
{
	if (argc - optind != n)
		return usage_error(t, "expected %s", names);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Output                                                               */

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);
	return v ? json_object_get_string(v) : "";
}

static uint64_t ju64(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);
	return v && json_object_get_int64(v) > 0 ? json_object_get_uint64(v) : 0;
}

static size_t jlen(struct json_object *a)
{
	return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static void print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
}

static void human_size(uint64_t b, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	unsigned int u = 0;
	double v = (double)b;

	while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)b);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
}

static const char *adrfam_name(struct json_object *port)
{
	struct json_object *v = jget(port, "adrfam");

	if (v && json_object_is_type(v, json_type_int))
		return json_object_get_int(v) == 2 ? "ipv6" : "ipv4";
	return v ? json_object_get_string(v) : "ipv4";
}

/* " (DH-HMAC-CHAP ..., TLS PSK)" for a host with keys: whether they are set, never what they are. */
static const char *host_auth_note(struct json_object *snap, const char *nqn)
{
	struct json_object *hosts = jget(snap, "hosts");

	for (size_t i = 0; i < jlen(hosts); i++) {
		struct json_object *h = json_object_array_get_idx(hosts, i);
		bool dh = json_object_get_boolean(jget(h, "dhchap_key"));
		bool ctrl = json_object_get_boolean(jget(h, "dhchap_ctrl_key"));
		bool tls = json_object_get_boolean(jget(h, "tls_key"));

		if (strcmp(jstr(h, "nqn"), nqn) != 0)
			continue;
		if (dh && tls)
			return ctrl ? " (DH-HMAC-CHAP, bidirectional; TLS PSK)" : " (DH-HMAC-CHAP; TLS PSK)";
		if (dh)
			return ctrl ? " (DH-HMAC-CHAP, bidirectional)" : " (DH-HMAC-CHAP)";
		return tls ? " (TLS PSK)" : "";
	}
	return "";
}

static void print_list(struct json_object *snap)
{
	struct json_object *subs = jget(snap, "subsystems"), *ports = jget(snap, "ports");

	for (size_t i = 0; i < jlen(subs); i++) {
		struct json_object *s = json_object_array_get_idx(subs, i);
		printf("subsystem %s\n", jstr(s, "nqn"));
		printf("  serial %s, model %s, allow_any_host %s, monitor %s\n", jstr(s, "serial"),
		       jstr(s, "model"), json_object_get_boolean(jget(s, "allow_any_host")) ? "yes" : "no",
		       json_object_get_boolean(jget(s, "monitor")) ? "on" : "off");
		struct json_object *hosts = jget(s, "hosts");
		for (size_t j = 0; j < jlen(hosts); j++) {
			const char *hn = json_object_get_string(json_object_array_get_idx(hosts, j));
			printf("  host %s%s\n", hn, host_auth_note(snap, hn));
		}
		struct json_object *nss = jget(s, "namespaces");
		for (size_t j = 0; j < jlen(nss); j++) {
			struct json_object *n = json_object_array_get_idx(nss, j);
			char sz[32];
			const char *path = jstr(n, "path");
			char ceph[300] = "";
			human_size(ju64(n, "size"), sz, sizeof(sz));
			if (*jstr(n, "ceph_conf") || *jstr(n, "ceph_id"))
				snprintf(ceph, sizeof(ceph), " (ceph%s%s%s%s)", *jstr(n, "ceph_conf") ? " conf " : "",
					 jstr(n, "ceph_conf"), *jstr(n, "ceph_id") ? " id " : "", jstr(n, "ceph_id"));
			bool prealloc = jget(n, "preallocated") && json_object_get_boolean(jget(n, "preallocated"));

			printf("  ns %llu  %s  %s%s, %s%s, %llu-byte blocks, uuid %s%s\n",
			       (unsigned long long)ju64(n, "nsid"), *path ? path : "(ram)", jstr(n, "backend"),
			       ceph, sz, prealloc ? " preallocated" : "", (unsigned long long)ju64(n, "block_size"),
			       jstr(n, "uuid"),
			       jget(n, "enabled") && !json_object_get_boolean(jget(n, "enabled"))
				       ? " (disabled)"
				       : "");
		}
		struct json_object *ctrls = jget(s, "controllers");
		for (size_t j = 0; j < jlen(ctrls); j++) {
			struct json_object *c = json_object_array_get_idx(ctrls, j);
			printf("  controller %llu  host %s  peer %s  queues %llu  kato %llu ms\n",
			       (unsigned long long)ju64(c, "cntlid"), jstr(c, "hostnqn"), jstr(c, "peer"),
			       (unsigned long long)ju64(c, "queues"),
			       (unsigned long long)ju64(c, "kato_ms"));
		}
	}
	for (size_t i = 0; i < jlen(ports); i++) {
		struct json_object *p = json_object_array_get_idx(ports, i);
		printf("port %llu  tcp %s %s:%s%s%s\n", (unsigned long long)ju64(p, "portid"),
		       adrfam_name(p), jstr(p, "traddr"), jstr(p, "trsvcid"),
		       strcmp(jstr(p, "tsas"), "tls1.3") ? "" : "  tls1.3 treq ",
		       strcmp(jstr(p, "tsas"), "tls1.3") ? "" : jstr(p, "treq"));
		struct json_object *ps = jget(p, "subsystems");
		for (size_t j = 0; j < jlen(ps); j++)
			printf("  subsystem %s\n", json_object_get_string(json_object_array_get_idx(ps, j)));
		struct json_object *refs = jget(p, "referrals");
		for (size_t j = 0; j < jlen(refs); j++) {
			struct json_object *r = json_object_array_get_idx(refs, j);
			printf("  referral %s:%s\n", jstr(r, "traddr"), jstr(r, "trsvcid"));
		}
		struct json_object *groups = jget(p, "ana_groups");
		for (size_t j = 0; j < jlen(groups); j++) {
			struct json_object *g = json_object_array_get_idx(groups, j);
			printf("  ana group %llu %s\n", (unsigned long long)ju64(g, "grpid"), jstr(g, "state"));
		}
	}
	struct json_object *gw = jget(snap, "gateway_group");
	if (gw) {
		struct json_object *members = jget(gw, "members"), *groups = jget(gw, "groups");
		printf("gateway group %s  pool %s  member %s\n", jstr(gw, "name"), jstr(gw, "pool"),
		       jstr(gw, "member"));
		for (size_t j = 0; j < jlen(members); j++)
			printf("  member %s\n", json_object_get_string(json_object_array_get_idx(members, j)));
		for (size_t j = 0; j < jlen(groups); j++) {
			struct json_object *g = json_object_array_get_idx(groups, j);
			printf("  ana group %llu  %s here%s  owner %s\n", (unsigned long long)ju64(g, "grpid"),
			       jstr(g, "state"), json_object_get_boolean(jget(g, "preferred")) ? " (preferred)" : "",
			       *jstr(g, "owner") ? jstr(g, "owner") : "-");
		}
	}
	if (jlen(subs) == 0 && jlen(ports) == 0)
		puts("(no subsystems, no ports)");
}

static void stats_row(const char *indent, const char *name, struct json_object *st)
{
	uint64_t cmds = ju64(st, "reads") + ju64(st, "writes") + ju64(st, "others");
	uint64_t lat = ju64(st, "latency_us_sum");
	char label[160];

	snprintf(label, sizeof(label), "%s%s", indent, name);
	if (strlen(label) > 40)
		printf("%s\n%-40s", label, "");
	else
		printf("%-40s", label);
	printf(" %12llu %12llu %10llu %14llu %14llu %8llu %10.1f\n", (unsigned long long)ju64(st, "reads"),
	       (unsigned long long)ju64(st, "writes"), (unsigned long long)ju64(st, "others"),
	       (unsigned long long)ju64(st, "read_bytes"), (unsigned long long)ju64(st, "write_bytes"),
	       (unsigned long long)ju64(st, "errors"), cmds ? (double)lat / (double)cmds : 0.0);
}

static void print_stats(struct json_object *snap)
{
	struct json_object *subs = jget(snap, "subsystems"), *hosts = jget(snap, "hosts");
	char name[320];

	printf("%-40s %12s %12s %10s %14s %14s %8s %10s\n", "OBJECT", "READS", "WRITES", "OTHERS",
	       "READ_BYTES", "WRITE_BYTES", "ERRORS", "AVG_LAT_US");
	for (size_t i = 0; i < jlen(subs); i++) {
		struct json_object *s = json_object_array_get_idx(subs, i);
		snprintf(name, sizeof(name), "subsystem %s", jstr(s, "nqn"));
		stats_row("", name, jget(s, "stats"));
		struct json_object *nss = jget(s, "namespaces");
		for (size_t j = 0; j < jlen(nss); j++) {
			struct json_object *n = json_object_array_get_idx(nss, j);
			snprintf(name, sizeof(name), "ns %llu", (unsigned long long)ju64(n, "nsid"));
			stats_row("  ", name, jget(n, "stats"));
		}
		struct json_object *ctrls = jget(s, "controllers");
		for (size_t j = 0; j < jlen(ctrls); j++) {
			struct json_object *c = json_object_array_get_idx(ctrls, j);
			snprintf(name, sizeof(name), "controller %llu (%llu queues) %s",
				 (unsigned long long)ju64(c, "cntlid"),
				 (unsigned long long)ju64(c, "queues"), jstr(c, "hostnqn"));
			stats_row("  ", name, jget(c, "stats"));
		}
	}
	for (size_t i = 0; i < jlen(hosts); i++) {
		struct json_object *h = json_object_array_get_idx(hosts, i);
		snprintf(name, sizeof(name), "host %s", jstr(h, "nqn"));
		stats_row("", name, jget(h, "stats"));
		if (ju64(h, "refused"))
			printf("  refused connects: %llu\n", (unsigned long long)ju64(h, "refused"));
	}
	struct json_object *audit = jget(snap, "audit");
	printf("\nconnections %llu, refused connects %llu, monitored admissions %llu\n",
	       (unsigned long long)ju64(snap, "connections"), (unsigned long long)ju64(audit, "refused"),
	       (unsigned long long)ju64(audit, "monitored_admissions"));
	struct json_object *rs = jget(snap, "reactors");
	for (size_t i = 0; i < jlen(rs); i++) {
		struct json_object *r = json_object_array_get_idx(rs, i);
		double busy = (double)ju64(r, "busy_ns") / 1e9, idle = (double)ju64(r, "idle_ns") / 1e9;
		printf("reactor %llu: busy %.3f s, idle %.3f s (%.1f%% busy), %llu completions\n",
		       (unsigned long long)ju64(r, "id"), busy, idle,
		       busy + idle > 0 ? 100.0 * busy / (busy + idle) : 0.0,
		       (unsigned long long)ju64(r, "completions"));
	}
}

/* ------------------------------------------------------------------ */
/* Subcommands                                                          */

static int cmd_list(struct tctx *t, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, { 0 } };
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (c != 'j')
			return usage_error(t, "unknown option");
		json = true;
	}
	if (positionals(t, argc, argv, 0, "no arguments"))
		return 2;
	struct json_object *r;
	if (rpc_call(t, "list", NULL, &r))
		return 1;
	if (json)
		print_json(r);
	else
		print_list(r);
	json_object_put(r);
	return 0;
}

static int cmd_stats(struct tctx *t, int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "prometheus", no_argument, NULL, 'p' },
					      { 0 } };
	int mode = 0, c;

	while ((c = getopt_long(argc, argv, "jp", opts, NULL)) != -1) {
		if (c != 'j' && c != 'p')
			return usage_error(t, "unknown option");
		mode = c;
	}
	if (positionals(t, argc, argv, 0, "no arguments"))
		return 2;
	struct json_object *r;
	if (rpc_call(t, mode == 'p' ? "metrics" : "stats", NULL, &r))
		return 1;
	if (mode == 'p')
		fputs(jstr(r, "text"), stdout);
	else if (mode == 'j')
		print_json(r);
	else
		print_stats(r);
	json_object_put(r);
	return 0;
}

static struct json_object *top_fetch(void *ctx)
{
	struct json_object *r;

	return rpc_call(ctx, "stats", NULL, &r) ? NULL : r;
}

static int cmd_top(struct tctx *t, int argc, char **argv)
{
	return top_main(argc, argv, top_fetch, t);
}

static int cmd_add_subsystem(struct tctx *t, int argc, char **argv)
{
	static const struct option opts[] = { { "allow-any-host", no_argument, NULL, 'a' },
					      { "serial", required_argument, NULL, 's' },
					      { "model", required_argument, NULL, 'm' },
					      { "monitor", no_argument, NULL, 'M' },
					      { 0 } };
	struct json_object *p = json_object_new_object();
	int c;

	while ((c = getopt_long(argc, argv, "as:m:M", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			json_object_object_add(p, "allow_any_host", json_object_new_boolean(1));
			break;
		case 's':
			json_object_object_add(p, "serial", json_object_new_string(optarg));
			break;
		case 'm':
			json_object_object_add(p, "model", json_object_new_string(optarg));
			break;
		case 'M':
			json_object_object_add(p, "monitor", json_object_new_boolean(1));
			break;
		default:
			json_object_put(p);
			return usage_error(t, "unknown option");
		}
	}
	if (positionals(t, argc, argv, 1, "NQN")) {
		json_object_put(p);
		return 2;
	}
	json_object_object_add(p, "nqn", json_object_new_string(argv[optind]));
	return rpc_simple(t, "add_subsystem", p);
}

/* Subcommands that take only positional string arguments. */
static int cmd_positional(struct tctx *t, int argc, char **argv, const char *method,
			  const char *const *keys, int n, const char *names)
{
	if (getopt_long(argc, argv, "", (const struct option[]){ { 0 } }, NULL) != -1)
		return usage_error(t, "unknown option");
	if (positionals(t, argc, argv, n, names))
		return 2;
	struct json_object *p = json_object_new_object();
	for (int i = 0; i < n; i++)
		json_object_object_add(p, keys[i], json_object_new_string(argv[optind + i]));
	return rpc_simple(t, method, p);
}

static int cmd_remove_subsystem(struct tctx *t, int argc, char **argv)
{
	return cmd_positional(t, argc, argv, "remove_subsystem", (const char *const[]){ "nqn" }, 1,
			      "NQN");
}

static int cmd_host(struct tctx *t, int argc, char **argv, const char *method)
{
	return cmd_positional(t, argc, argv, method, (const char *const[]){ "nqn", "host" }, 2,
			      "NQN HOSTNQN");
}

/* Key options (--dhchap-*, --tls-*) of add-host and set-host-keys into RPC parameters. */
static int host_key_options(struct tctx *t, int argc, char **argv, struct json_object *p)
{
	static const struct option opts[] = { { "dhchap-secret", required_argument, NULL, 'S' },
					      { "dhchap-ctrl-secret", required_argument, NULL, 'C' },
					      { "dhchap-hash", required_argument, NULL, 'H' },
					      { "dhchap-dhgroup", required_argument, NULL, 'G' },
					      { "tls-key", required_argument, NULL, 'k' },
					      { "tls-kdf", required_argument, NULL, 'd' },
					      { 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "S:C:H:G:k:d:", opts, NULL)) != -1) {
		const char *key = c == 'S' ? "dhchap_key" : c == 'C' ? "dhchap_ctrl_key" :
				  c == 'H' ? "dhchap_hash" : c == 'G' ? "dhchap_dhgroup" :
				  c == 'k' ? "tls_key" : c == 'd' ? "tls_kdf" : NULL;

		if (!key)
			return usage_error(t, "unknown option");
		json_object_object_add(p, key, json_object_new_string(optarg));
	}
	return 0;
}

static int cmd_add_host(struct tctx *t, int argc, char **argv)
{
	struct json_object *p = json_object_new_object();

	if (host_key_options(t, argc, argv, p) || positionals(t, argc, argv, 2, "NQN HOSTNQN")) {
		json_object_put(p);
		return 2;
	}
	json_object_object_add(p, "nqn", json_object_new_string(argv[optind]));
	json_object_object_add(p, "host", json_object_new_string(argv[optind + 1]));

	struct json_object *res, *any;
	if (rpc_call(t, "add_host", p, &res))
		return 1;
	if (res && json_object_object_get_ex(res, "allow_any_host", &any) && json_object_get_boolean(any))
		fprintf(stderr,
			"note: %s allows any host, so its host list is not enforced until\n"
			"  `nvmeof target set-allow-any-host %s off`\n",
			argv[optind], argv[optind]);
	json_object_put(res);
	return 0;
}

static int cmd_set_host_keys(struct tctx *t, int argc, char **argv)
{
	struct json_object *p = json_object_new_object();

	if (host_key_options(t, argc, argv, p) || positionals(t, argc, argv, 1, "HOSTNQN")) {
		json_object_put(p);
		return 2;
	}
	json_object_object_add(p, "host", json_object_new_string(argv[optind]));
	return rpc_simple(t, "set_host_keys", p);
}

static int cmd_remove_host(struct tctx *t, int argc, char **argv)
{
	return cmd_host(t, argc, argv, "remove_host");
}

static int cmd_set_log_level(struct tctx *t, int argc, char **argv)
{
	return cmd_positional(t, argc, argv, "set_log_level", (const char *const[]){ "level" }, 1,
			      "LEVEL");
}

static int cmd_flag(struct tctx *t, int argc, char **argv, const char *method, const char *key)
{
	bool on;

	if (getopt_long(argc, argv, "", (const struct option[]){ { 0 } }, NULL) != -1)
		return usage_error(t, "unknown option");
	if (positionals(t, argc, argv, 2, "NQN on|off"))
		return 2;
	if (parse_on_off(argv[optind + 1], &on))
		return usage_error(t, "'%s' is not on or off", argv[optind + 1]);
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "nqn", json_object_new_string(argv[optind]));
	json_object_object_add(p, key, json_object_new_boolean(on));
	return rpc_simple(t, method, p);
}

static int cmd_set_monitor(struct tctx *t, int argc, char **argv)
{
	return cmd_flag(t, argc, argv, "set_monitor", "monitor");
}

static int cmd_set_allow_any_host(struct tctx *t, int argc, char **argv)
{
	return cmd_flag(t, argc, argv, "set_allow_any_host", "allow_any_host");
}

static int cmd_add_ns(struct tctx *t, int argc, char **argv)
{
	static const struct option opts[] = { { "path", required_argument, NULL, 'p' },
					      { "ram", required_argument, NULL, 'r' },
					      { "nsid", required_argument, NULL, 'n' },
					      { "uuid", required_argument, NULL, 'u' },
					      { "nguid", required_argument, NULL, 'g' },
					      { "size", required_argument, NULL, 's' },
					      { "block-size", required_argument, NULL, 'b' },
					      { "read-only", no_argument, NULL, 'R' },
					      { "direct", no_argument, NULL, 'd' },
					      { "preallocate", no_argument, NULL, 'P' },
					      { "ceph-conf", required_argument, NULL, 'C' },
					      { "ceph-id", required_argument, NULL, 'I' },
					      { 0 } };
	struct json_object *p = json_object_new_object();
	const char *path = NULL, *ceph_conf = NULL, *ceph_id = NULL;
	bool ram = false;
	uint64_t v;
	int c, rc = 2;

	while ((c = getopt_long(argc, argv, "p:r:n:u:g:s:b:RdPC:I:", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			path = optarg;
			break;
		case 'r':
		case 's':
			if (parse_size(optarg, &v) || v == 0) {
				usage_error(t, "bad size '%s' (e.g. 64M, 1G)", optarg);
				goto out;
			}
			ram |= c == 'r';
			json_object_object_add(p, "size", json_object_new_int64((int64_t)v));
			break;
		case 'n':
			if (parse_u64(optarg, UINT32_MAX, &v) || v == 0) {
				usage_error(t, "bad NSID '%s'", optarg);
				goto out;
			}
			json_object_object_add(p, "nsid", json_object_new_int64((int64_t)v));
			break;
		case 'u':
			json_object_object_add(p, "uuid", json_object_new_string(optarg));
			break;
		case 'g':
			json_object_object_add(p, "nguid", json_object_new_string(optarg));
			break;
		case 'b':
			if (parse_u64(optarg, 65536, &v)) {
				usage_error(t, "bad block size '%s'", optarg);
				goto out;
			}
			json_object_object_add(p, "block_size", json_object_new_int64((int64_t)v));
			break;
		case 'R':
			json_object_object_add(p, "read_only", json_object_new_boolean(1));
			break;
		case 'd':
			json_object_object_add(p, "direct", json_object_new_boolean(1));
			break;
		case 'P':
			json_object_object_add(p, "preallocate", json_object_new_boolean(1));
			break;
		case 'C':
			ceph_conf = optarg;
			break;
		case 'I':
			ceph_id = optarg;
			break;
		default:
			usage_error(t, "unknown option");
			goto out;
		}
	}
	if (positionals(t, argc, argv, 1, "NQN"))
		goto out;
	bool rbd = path && !strncmp(path, "rbd:", 4);
	if ((ceph_conf || ceph_id) && !rbd) {
		usage_error(t, "--ceph-conf and --ceph-id are for --path rbd:POOL/IMAGE");
		goto out;
	}
	if (ceph_conf) {
		char *abs = absolute_path(ceph_conf);
		if (!abs) {
			fprintf(stderr, "nvmeof target add-ns: %s: %s\n", ceph_conf, strerror(errno));
			rc = 1;
			goto out;
		}
		json_object_object_add(p, "ceph_conf", json_object_new_string(abs));
		free(abs);
	}
	if (ceph_id)
		json_object_object_add(p, "ceph_id", json_object_new_string(ceph_id));
	if (ram && path && *path) {
		usage_error(t, "--ram and --path exclude each other");
		goto out;
	}
	if (!ram && !path) {
		usage_error(t, "give --path FILE or --ram SIZE");
		goto out;
	}
	if (rbd) {
		json_object_object_add(p, "path", json_object_new_string(path));
	} else if (path && *path) {
		char *abs = absolute_path(path);
		if (!abs) {
			fprintf(stderr, "nvmeof target add-ns: %s: %s\n", path, strerror(errno));
			rc = 1;
			goto out;
		}
		json_object_object_add(p, "path", json_object_new_string(abs));
		free(abs);
	}
	json_object_object_add(p, "nqn", json_object_new_string(argv[optind]));

	struct json_object *r;
	rc = rpc_call(t, "add_ns", p, &r);
	p = NULL;
	if (rc == 0)
		printf("%llu\n", (unsigned long long)ju64(r, "nsid"));
	json_object_put(r);
out:
	json_object_put(p);
	return rc;
}

static int cmd_remove_ns(struct tctx *t, int argc, char **argv)
{
	uint64_t nsid;

	if (getopt_long(argc, argv, "", (const struct option[]){ { 0 } }, NULL) != -1)
		return usage_error(t, "unknown option");
	if (positionals(t, argc, argv, 2, "NQN NSID"))
		return 2;
	if (parse_u64(argv[optind + 1], UINT32_MAX, &nsid) || nsid == 0)
		return usage_error(t, "bad NSID '%s'", argv[optind + 1]);
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "nqn", json_object_new_string(argv[optind]));
	json_object_object_add(p, "nsid", json_object_new_int64((int64_t)nsid));
	return rpc_simple(t, "remove_ns", p);
}

static int cmd_add_port(struct tctx *t, int argc, char **argv)
{
	static const struct option opts[] = { { "traddr", required_argument, NULL, 'a' },
					      { "trsvcid", required_argument, NULL, 's' },
					      { "adrfam", required_argument, NULL, 'f' },
					      { "portid", required_argument, NULL, 'i' },
					      { "subsystem", required_argument, NULL, 'n' },
					      { "tsas", required_argument, NULL, 'T' },
					      { "treq", required_argument, NULL, 'R' },
					      { 0 } };
	struct json_object *p = json_object_new_object(), *subs = json_object_new_array();
	bool have_addr = false, have_svc = false;
	uint64_t v;
	int c, rc = 2;

	while ((c = getopt_long(argc, argv, "a:s:f:i:n:T:R:", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			have_addr = true;
			json_object_object_add(p, "traddr", json_object_new_string(optarg));
			break;
		case 's':
			have_svc = true;
			json_object_object_add(p, "trsvcid", json_object_new_string(optarg));
			break;
		case 'f':
			if (strcmp(optarg, "ipv4") && strcmp(optarg, "ipv6")) {
				usage_error(t, "--adrfam must be ipv4 or ipv6");
				goto out;
			}
			json_object_object_add(p, "adrfam", json_object_new_string(optarg));
			break;
		case 'i':
			if (parse_u64(optarg, UINT16_MAX, &v) || v == 0) {
				usage_error(t, "bad port id '%s' (1..65535)", optarg);
				goto out;
			}
			json_object_object_add(p, "portid", json_object_new_int64((int64_t)v));
			break;
		case 'n':
			json_object_array_add(subs, json_object_new_string(optarg));
			break;
		case 'T':
		case 'R':
			json_object_object_add(p, c == 'T' ? "tsas" : "treq", json_object_new_string(optarg));
			break;
		default:
			usage_error(t, "unknown option");
			goto out;
		}
	}
	/* Subsystems may also follow as positional arguments. */
	for (int i = optind; i < argc; i++)
		json_object_array_add(subs, json_object_new_string(argv[i]));
	if (!have_addr || !have_svc) {
		usage_error(t, "--traddr and --trsvcid are required");
		goto out;
	}
	json_object_object_add(p, "subsystems", subs);
	subs = NULL;

	struct json_object *r;
	rc = rpc_call(t, "add_port", p, &r);
	p = NULL;
	if (rc == 0)
		printf("%llu\n", (unsigned long long)ju64(r, "portid"));
	json_object_put(r);
out:
	json_object_put(subs);
	json_object_put(p);
	return rc;
}

static int cmd_port_link(struct tctx *t, int argc, char **argv, const char *method)
{
	uint64_t id;

	if (getopt_long(argc, argv, "", (const struct option[]){ { 0 } }, NULL) != -1)
		return usage_error(t, "unknown option");
	if (positionals(t, argc, argv, 2, "PORTID NQN"))
		return 2;
	if (parse_u64(argv[optind], UINT16_MAX, &id) || id == 0)
		return usage_error(t, "bad port id '%s'", argv[optind]);
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "portid", json_object_new_int64((int64_t)id));
	json_object_object_add(p, "nqn", json_object_new_string(argv[optind + 1]));
	return rpc_simple(t, method, p);
}

static int cmd_link_port(struct tctx *t, int argc, char **argv)
{
	return cmd_port_link(t, argc, argv, "link_port");
}

static int cmd_unlink_port(struct tctx *t, int argc, char **argv)
{
	return cmd_port_link(t, argc, argv, "unlink_port");
}

static int cmd_remove_port(struct tctx *t, int argc, char **argv)
{
	uint64_t id;

	if (getopt_long(argc, argv, "", (const struct option[]){ { 0 } }, NULL) != -1)
		return usage_error(t, "unknown option");
	if (positionals(t, argc, argv, 1, "PORTID"))
		return 2;
	if (parse_u64(argv[optind], UINT16_MAX, &id) || id == 0)
		return usage_error(t, "bad port id '%s'", argv[optind]);
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "portid", json_object_new_int64((int64_t)id));
	return rpc_simple(t, "remove_port", p);
}

static int cmd_set_ana_state(struct tctx *t, int argc, char **argv)
{
	static const char *const states[] = { "optimized", "non-optimized", "inaccessible", "persistent-loss",
					      "change" };
	uint64_t id, grpid;
	bool known = false;

	if (getopt_long(argc, argv, "", (const struct option[]){ { 0 } }, NULL) != -1)
		return usage_error(t, "unknown option");
	if (positionals(t, argc, argv, 3, "PORTID GRPID STATE"))
		return 2;
	if (parse_u64(argv[optind], UINT16_MAX, &id))
		return usage_error(t, "bad port id '%s'", argv[optind]);
	if (parse_u64(argv[optind + 1], 128, &grpid) || grpid == 0)
		return usage_error(t, "bad ANA group id '%s' (expected 1 to 128)", argv[optind + 1]);
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		known |= !strcmp(argv[optind + 2], states[i]);
	if (!known)
		return usage_error(t,
				   "unknown ANA state '%s' (expected optimized, non-optimized, inaccessible, "
				   "persistent-loss or change)",
				   argv[optind + 2]);
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "portid", json_object_new_int64((int64_t)id));
	json_object_object_add(p, "grpid", json_object_new_int64((int64_t)grpid));
	json_object_object_add(p, "state", json_object_new_string(argv[optind + 2]));
	return rpc_simple(t, "set_ana_state", p);
}

static int cmd_save_config(struct tctx *t, int argc, char **argv)
{
	if (getopt_long(argc, argv, "", (const struct option[]){ { 0 } }, NULL) != -1)
		return usage_error(t, "unknown option");
	if (positionals(t, argc, argv, 1, "FILE"))
		return 2;
	char *abs = absolute_path(argv[optind]);
	if (!abs) {
		fprintf(stderr, "nvmeof target save-config: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "path", json_object_new_string(abs));
	free(abs);
	return rpc_simple(t, "save_config", p);
}

static int cmd_rpc(struct tctx *t, int argc, char **argv)
{
	struct json_object *params = NULL, *r;

	if (getopt_long(argc, argv, "", (const struct option[]){ { 0 } }, NULL) != -1)
		return usage_error(t, "unknown option");
	if (argc - optind < 1 || argc - optind > 2)
		return usage_error(t, "expected METHOD [PARAMS-JSON]");
	if (argc - optind == 2) {
		params = json_tokener_parse(argv[optind + 1]);
		if (!params)
			return usage_error(t, "PARAMS-JSON is not valid JSON");
	}
	if (rpc_call(t, argv[optind], params, &r))
		return 1;
	if (r)
		print_json(r);
	else
		puts("null");
	json_object_put(r);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct tctx *t, int argc, char **argv);
} subcommands[] = {
	{ "list", cmd_list },
	{ "stats", cmd_stats },
	{ "top", cmd_top },
	{ "add-subsystem", cmd_add_subsystem },
	{ "remove-subsystem", cmd_remove_subsystem },
	{ "set-monitor", cmd_set_monitor },
	{ "set-allow-any-host", cmd_set_allow_any_host },
	{ "add-ns", cmd_add_ns },
	{ "remove-ns", cmd_remove_ns },
	{ "add-host", cmd_add_host },
	{ "set-host-keys", cmd_set_host_keys },
	{ "remove-host", cmd_remove_host },
	{ "add-port", cmd_add_port },
	{ "link-port", cmd_link_port },
	{ "unlink-port", cmd_unlink_port },
	{ "remove-port", cmd_remove_port },
	{ "set-ana-state", cmd_set_ana_state },
	{ "save-config", cmd_save_config },
	{ "set-log-level", cmd_set_log_level },
	{ "rpc", cmd_rpc },
};

/*
 * argv[0] is "target" (or whatever the dispatcher calls us); global options
 * come before the subcommand, and --rpc-socket is accepted after it too.
 */
int cmd_target(int argc, char **argv)
{
	struct tctx t = { .timeout_ms = 60000 };
	const char *env = getenv("NVMEOF_RPC_SOCKET");
	int i = 1;

	t.socket_path = env && *env ? env : DEFAULT_RPC_SOCKET;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strncmp(a, "--rpc-socket=", 13) || !strncmp(a, "--timeout=", 10)) {
			val = strchr(a, '=') + 1;
		} else if (!strcmp(a, "--rpc-socket") || !strcmp(a, "-S") || !strcmp(a, "--timeout")) {
			if (i + 1 >= argc)
				return usage_error(&t, "%s needs a value", a);
			val = argv[++i];
		} else {
			return usage_error(&t, "unknown option '%s'", a);
		}
		if (a[2] == 't') {
			uint64_t sec;
			if (parse_u64(val, 86400, &sec) || sec == 0)
				return usage_error(&t, "bad --timeout '%s' (seconds)", val);
			t.timeout_ms = (int)sec * 1000;
		} else {
			t.socket_path = val;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	t.cmd = argv[i];
	for (size_t k = 0; k < sizeof(subcommands) / sizeof(subcommands[0]); k++) {
		if (strcmp(subcommands[k].name, argv[i]) != 0)
			continue;
		int sub_argc = argc - i;
		char **sub_argv = argv + i;
		/* top explains its options itself. */
		if (subcommands[k].fn != cmd_top && want_help(sub_argc, sub_argv)) {
			usage_subcommand(stdout, subcommands[k].name);
			return 0;
		}
		/* Pull "--rpc-socket PATH" out wherever it is, keeping the rest in order. */
		int w = 1;
		for (int r = 1; r < sub_argc; r++) {
			if (!strcmp(sub_argv[r], "--rpc-socket") && r + 1 < sub_argc) {
				t.socket_path = sub_argv[++r];
				continue;
			}
			if (!strncmp(sub_argv[r], "--rpc-socket=", 13)) {
				t.socket_path = sub_argv[r] + 13;
				continue;
			}
			if (!strcmp(sub_argv[r], "--")) {
				while (r < sub_argc)
					sub_argv[w++] = sub_argv[r++];
				break;
			}
			sub_argv[w++] = sub_argv[r];
		}
		sub_argc = w;
		optind = 0; /* full getopt reset: the caller may have parsed already */
		opterr = 1;
		return subcommands[k].fn(&t, sub_argc, sub_argv);
	}
	return usage_error(&t, "unknown command '%s'", argv[i]);
}
