/* SPDX-License-Identifier: MIT */
/*
 * The startup summary: what the daemon serves and how to reach it, built
 * from the target's own snapshot so the embedded default and a config file
 * are described the same way.
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>

#include "daemon.h"

void daemon_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	unsigned int u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *jarr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

/* "a.b.c.d:p" or "[v6]:p", as listened on. */
static void port_label(struct json_object *port, char *buf, size_t len)
{
	const char *addr = jstr(port, "traddr");
	const char *svc = jstr(port, "trsvcid");

	if (addr && strchr(addr, ':') && addr[0] != '[')
		snprintf(buf, len, "[%s]:%s", addr, svc ? svc : "?");
	else
		snprintf(buf, len, "%s:%s", addr ? addr : "?", svc ? svc : "?");
}

/* Address a local nvme-cli can use: wildcards become loopback. */
static const char *port_connect_addr(struct json_object *port)
{
	const char *addr = jstr(port, "traddr");

	if (!addr || !*addr || strcmp(addr, "0.0.0.0") == 0)
		return "127.0.0.1";
	if (strcmp(addr, "::") == 0 || strcmp(addr, "[::]") == 0)
		return "::1";
	return addr;
}

static const char *port_svc(struct json_object *port)
{
	const char *svc = jstr(port, "trsvcid");

	return svc ? svc : "?";
}

static bool port_has_subsys(struct json_object *port, const char *nqn)
{
	struct json_object *subs = jarr(port, "subsystems");

	for (size_t i = 0; subs && i < json_object_array_length(subs); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(subs, i));

		if (s && strcmp(s, nqn) == 0)
			return true;
	}
	return false;
}

static bool port_is_discovery_only(struct json_object *port)
{
	struct json_object *subs = jarr(port, "subsystems");

	return !subs || json_object_array_length(subs) == 0;
}

static void append(char *buf, size_t len, const char *s)
{
	size_t used = strlen(buf);

	if (used < len)
		snprintf(buf + used, len - used, "%s", s);
}

static void discovery_list(struct json_object *ports, char *buf, size_t len)
{
	char label[128];
	bool first = true;

	buf[0] = '\0';
	for (size_t i = 0; ports && i < json_object_array_length(ports); i++) {
		struct json_object *p = json_object_array_get_idx(ports, i);

		if (!port_is_discovery_only(p))
			continue;
		port_label(p, label, sizeof(label));
		append(buf, len, first ? "" : ", ");
		append(buf, len, label);
		first = false;
	}
}

static void print_fallback(struct nvmf_tgt *tgt, FILE *out)
{
	struct nvmf_port *port;

	for (unsigned int i = 0; (port = nvmf_tgt_port_at(tgt, i)); i++) {
		const struct nvmf_port_opts *o = nvmf_port_opts(port);

		fprintf(out, "%s: listening on tcp %s:%s (port id %u)\n", DAEMON_NAME, o->traddr, o->trsvcid,
			o->portid);
	}
}

void daemon_print_summary(struct nvmf_tgt *tgt, FILE *out)
{
	struct json_object *snap = nvmf_tgt_snapshot(tgt);
	struct json_object *subsystems, *ports;
	char disc[512], line[2048], label[128], size[32];
	struct json_object *disc_port = NULL;
	size_t nsub;

	if (!snap) {
		print_fallback(tgt, out);
		return;
	}
	subsystems = jarr(snap, "subsystems");
	ports = jarr(snap, "ports");
	nsub = subsystems ? json_object_array_length(subsystems) : 0;
	discovery_list(ports, disc, sizeof(disc));

	for (size_t i = 0; i < nsub; i++) {
		struct json_object *s = json_object_array_get_idx(subsystems, i);
		struct json_object *nss = jarr(s, "namespaces");
		const char *nqn = jstr(s, "nqn");
		size_t nns = nss ? json_object_array_length(nss) : 0;
		uint64_t total = 0;
		bool all_ram = nns > 0, first = true;

		if (!nqn)
			continue;
		for (size_t k = 0; k < nns; k++) {
			struct json_object *ns = json_object_array_get_idx(nss, k), *v;
			const char *path = jstr(ns, "path");

			if (json_object_object_get_ex(ns, "size", &v))
				total += (uint64_t)json_object_get_int64(v);
			if (path && *path)
				all_ram = false;
		}
		daemon_format_size(total, size, sizeof(size));
		snprintf(line, sizeof(line), "%s: serving %s (%zu namespace%s, %s%s)", DAEMON_NAME, nqn, nns,
			 nns == 1 ? "" : "s", size, all_ram ? " RAM" : "");
		for (size_t k = 0; ports && k < json_object_array_length(ports); k++) {
			struct json_object *p = json_object_array_get_idx(ports, k);

			if (!port_has_subsys(p, nqn))
				continue;
			port_label(p, label, sizeof(label));
			append(line, sizeof(line), first ? " on tcp " : ", ");
			append(line, sizeof(line), label);
			first = false;
		}
		if (first)
			append(line, sizeof(line), " on no port");
		if (nsub == 1 && disc[0]) {
			append(line, sizeof(line), ", discovery on ");
			append(line, sizeof(line), disc);
		}
		fprintf(out, "%s\n", line);
	}
	if (nsub != 1 && disc[0])
		fprintf(out, "%s: discovery on %s\n", DAEMON_NAME, disc);
	if (nsub == 0)
		fprintf(out, "%s: no subsystem configured\n", DAEMON_NAME);

	/* Discovery answers on every port; prefer a dedicated one. */
	for (size_t k = 0; ports && k < json_object_array_length(ports); k++) {
		struct json_object *p = json_object_array_get_idx(ports, k);

		if (port_is_discovery_only(p)) {
			fprintf(out, "  nvme discover -t tcp -a %s -s %s\n", port_connect_addr(p), port_svc(p));
			disc_port = p;
		}
	}
	if (!disc_port && ports && json_object_array_length(ports)) {
		struct json_object *p = json_object_array_get_idx(ports, 0);

		fprintf(out, "  nvme discover -t tcp -a %s -s %s\n", port_connect_addr(p), port_svc(p));
	}
	for (size_t i = 0; i < nsub; i++) {
		const char *nqn = jstr(json_object_array_get_idx(subsystems, i), "nqn");

		for (size_t k = 0; nqn && ports && k < json_object_array_length(ports); k++) {
			struct json_object *p = json_object_array_get_idx(ports, k);

			if (port_has_subsys(p, nqn)) {
				fprintf(out, "  nvme connect -t tcp -a %s -s %s -n %s\n", port_connect_addr(p),
					port_svc(p), nqn);
				break;
			}
		}
	}
	json_object_put(snap);
}
