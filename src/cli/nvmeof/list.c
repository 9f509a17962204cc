/* SPDX-License-Identifier: MIT */
/*
 * `nvmeof list`, in the shapes of nvme-cli 2.x `nvme list -v` (text: the
 * Subsystem, Device and Namespace tables; -o json: "Devices" -> "Subsystems"
 * -> "Controllers" / "Namespaces").
 *
 * With connection options it connects and shows that subsystem: Identify
 * Controller, the active namespace list and Identify Namespace of each.
 * Without, it shows what `nvmeof attach` has attached, from its registry:
 * one <pid>.json per attachment in $NVMEOF_ATTACH_DIR (/run/nvmeof/attach),
 *
 *   {"mountpoint": "/mnt/x", "pid": 1234, "hostnqn": "...",
 *    "subsystems": [{"subnqn": "...", "transport": "tcp", "traddr": "...",
 *      "trsvcid": "4420", "state": "live" | "connecting",
 *      "paths": [{"traddr": "...", "trsvcid": "...", "state": "..."}],  (several -a)
 *      "namespaces": [{"nsid": 1, "file": "ns1", "size": N, "lba_size": 512}]}]}
 *
 * where each path is a controller of the subsystem, as nvme-cli lists a
 * multipath subsystem (traddr/trsvcid are the first path's).
 *
 * where a namespace's device is mountpoint/file. Entries whose process is
 * gone are stale and skipped; malformed files are skipped with a warning.
 *
 * Names: there are no /dev nodes, so subsystems are "nvmeof-subsysN" and
 * controllers "nvmeofN" in the order listed; a connected namespace's device
 * is "nvmeofNnM" (an attached one's is its file).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "proto/endian.h"
#include "proto/nvme_spec.h"

#define ATTACH_DIR_DEFAULT "/run/nvmeof/attach"

static void list_usage(FILE *f)
{
	fprintf(f, "usage: nvmeof list [-o normal|json] [-v]\n"
		   "       nvmeof list -t tcp -a ADDR -s PORT -n NQN [-o normal|json] [-v]\n"
		   "Without connection options: the attachments of 'nvmeof attach' (registry in\n"
		   "$NVMEOF_ATTACH_DIR, default " ATTACH_DIR_DEFAULT "). With them: that subsystem, its\n"
		   "controller and namespaces. The output is always nvme-cli's verbose view (-v).\n"
		   "  -o, --output-format=FMT normal (default) or json\n");
	cli_conn_usage(f, true);
}

static int list_opt(void *ctx, int opt, const char *arg)
{
	struct cli_conn *c = ctx;

	if (opt == 'o')
		return cli_conn_opt(c, OPT_OUTPUT_FORMAT, arg) == 1 ? 0 : -EINVAL;
	if (opt == 'v')
		return 0; /* nvme list -v: the only view there is */
	return -EINVAL;
}

static const struct option list_options[] = {
	{ 0 },
};

/* ------------------------------------------------------------------ */
/* The nvme-cli JSON model, also the input of the text tables            */

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

/* The "Devices" entry of hostnqn (created on first use) in devices. */
static struct json_object *device_for_host(struct json_object *devices, const char *hostnqn,
					   const char *hostid)
{
	for (size_t i = 0; i < json_object_array_length(devices); i++) {
		struct json_object *d = json_object_array_get_idx(devices, i), *v;
		if (json_object_object_get_ex(d, "HostNQN", &v) && !strcmp(json_object_get_string(v), hostnqn))
			return d;
	}
	struct json_object *d = json_object_new_object();
	add_str(d, "HostNQN", hostnqn);
	add_str(d, "HostID", hostid);
	json_object_object_add(d, "Subsystems", json_object_new_array());
	json_object_array_add(devices, d);
	return d;
}

static struct json_object *jget(struct json_object *o, const char *k)
{
	struct json_object *v = NULL;

	return o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v = jget(o, k);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static struct json_object *subsys_new(struct json_object *device, unsigned int *nr_subsys, const char *nqn)
{
	struct json_object *s = json_object_new_object();
	char name[32];

	snprintf(name, sizeof(name), "nvmeof-subsys%u", (*nr_subsys)++);
	add_str(s, "Subsystem", name);
	add_str(s, "SubsystemNQN", nqn);
	json_object_object_add(s, "Controllers", json_object_new_array());
	json_object_object_add(s, "Namespaces", json_object_new_array());
	json_object_array_add(jget(device, "Subsystems"), s);
	return s;
}

/* Identify Controller strings of a controller, "" where unknown. */
struct ctrl_ident {
	const char *cntlid, *sn, *mn, *fr;
};

static struct json_object *ctrl_new(struct json_object *subsys, const char *name, const struct ctrl_ident *id,
				    const char *transport, const char *traddr, const char *trsvcid,
				    const char *state)
{
	struct json_object *c = json_object_new_object();
	char addr[320];

	snprintf(addr, sizeof(addr), "traddr=%s,trsvcid=%s", traddr, trsvcid);
	add_str(c, "Controller", name);
	add_str(c, "Cntlid", id->cntlid);
	add_str(c, "SerialNumber", id->sn);
	add_str(c, "ModelNumber", id->mn);
	add_str(c, "Firmware", id->fr);
	add_str(c, "Transport", transport);
	add_str(c, "Address", addr);
	add_str(c, "Slot", "");
	add_str(c, "State", state);
	json_object_object_add(c, "Namespaces", json_object_new_array());
	json_object_object_add(c, "Paths", json_object_new_array());
	json_object_array_add(jget(subsys, "Controllers"), c);
	return c;
}

/* A namespace of subsys, listed under ctrl too (the same object, as nvme-cli). */
static void ns_add(struct json_object *subsys, struct json_object *ctrl, const char *name, uint32_t nsid,
		   uint64_t used, uint64_t nlb, uint32_t lba_size)
{
	struct json_object *n = json_object_new_object();

	add_str(n, "NameSpace", name);
	add_str(n, "Generic", "");
	add_u64(n, "NSID", nsid);
	add_u64(n, "UsedBytes", used);
	add_u64(n, "MaximumLBA", nlb);
	add_u64(n, "PhysicalSize", nlb * lba_size);
	add_u64(n, "SectorSize", lba_size);
	json_object_array_add(jget(subsys, "Namespaces"), n);
	json_object_array_add(jget(ctrl, "Namespaces"), json_object_get(n));
}

/* ------------------------------------------------------------------ */
/* Text: nvme-cli's three tables                                         */

/* nvme-cli's SI suffix for sizes: value scaled to < 1000, suffix "", k, M, G ... */
static double suffix_si(double v, const char **sfx)
{
	static const char *const s[] = { "", "k", "M", "G", "T", "P" };
	unsigned int i = 0;

	while (v >= 1000.0 && i + 1 < sizeof(s) / sizeof(s[0])) {
		v /= 1000.0;
		i++;
	}
	*sfx = s[i];
	return v;
}

static double suffix_binary(double v, const char **sfx)
{
	static const char *const s[] = { "", "Ki", "Mi", "Gi", "Ti" };
	unsigned int i = 0;

	while (v >= 1024.0 && i + 1 < sizeof(s) / sizeof(s[0])) {
		v /= 1024.0;
		i++;
	}
	*sfx = s[i];
	return v;
}

/* The dashed line under a table header: one run per column width. */
static void rule(const int *widths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (int j = 0; j < widths[i]; j++)
			putchar('-');
		putchar(i + 1 < n ? ' ' : '\n');
	}
}

static void print_text(struct json_object *devices)
{
	/* Subsystems */
	printf("%-16s %-96s %-.16s\n", "Subsystem", "Subsystem-NQN", "Controllers");
	rule((const int[]){ 16, 96, 16 }, 3);
	for (size_t d = 0; d < json_object_array_length(devices); d++) {
		struct json_object *subs = jget(json_object_array_get_idx(devices, d), "Subsystems");
		for (size_t i = 0; i < json_object_array_length(subs); i++) {
			struct json_object *s = json_object_array_get_idx(subs, i), *cs = jget(s, "Controllers");
			printf("%-16s %-96s ", jstr(s, "Subsystem"), jstr(s, "SubsystemNQN"));
			for (size_t j = 0; j < json_object_array_length(cs); j++)
				printf("%s%s", j ? ", " : "", jstr(json_object_array_get_idx(cs, j), "Controller"));
			putchar('\n');
		}
	}
	putchar('\n');

	/* Controllers */
	printf("%-16s %-6s %-20s %-40s %-8s %-6s %-30s %-6s %-16s %-16s\n", "Device", "Cntlid", "SN", "MN",
	       "FR", "TxPort", "Address", "Slot", "Subsystem", "Namespaces");
	rule((const int[]){ 16, 6, 20, 40, 8, 6, 30, 6, 16, 16 }, 10);
	for (size_t d = 0; d < json_object_array_length(devices); d++) {
		struct json_object *subs = jget(json_object_array_get_idx(devices, d), "Subsystems");
		for (size_t i = 0; i < json_object_array_length(subs); i++) {
			struct json_object *s = json_object_array_get_idx(subs, i), *cs = jget(s, "Controllers");
			struct json_object *nss = jget(s, "Namespaces");
			for (size_t j = 0; j < json_object_array_length(cs); j++) {
				struct json_object *c = json_object_array_get_idx(cs, j);
				printf("%-16s %-6s %-20s %-40s %-8s %-6s %-30s %-6s %-16s ", jstr(c, "Controller"),
				       jstr(c, "Cntlid"), jstr(c, "SerialNumber"), jstr(c, "ModelNumber"),
				       jstr(c, "Firmware"), jstr(c, "Transport"), jstr(c, "Address"), jstr(c, "Slot"),
				       jstr(s, "Subsystem"));
				for (size_t k = 0; k < json_object_array_length(nss); k++)
					printf("%s%s", k ? ", " : "", jstr(json_object_array_get_idx(nss, k), "NameSpace"));
				putchar('\n');
			}
		}
	}
	putchar('\n');

	/* Namespaces */
	printf("%-17s %-17s %-10s %-26s %-16s %-16s\n", "Device", "Generic", "NSID", "Usage", "Format",
	       "Controllers");
	rule((const int[]){ 17, 17, 10, 26, 16, 16 }, 6);
	for (size_t d = 0; d < json_object_array_length(devices); d++) {
		struct json_object *subs = jget(json_object_array_get_idx(devices, d), "Subsystems");
		for (size_t i = 0; i < json_object_array_length(subs); i++) {
			struct json_object *s = json_object_array_get_idx(subs, i), *cs = jget(s, "Controllers");
			struct json_object *nss = jget(s, "Namespaces");
			for (size_t k = 0; k < json_object_array_length(nss); k++) {
				struct json_object *n = json_object_array_get_idx(nss, k);
				const char *us, *ts, *fs;
				double used = suffix_si((double)json_object_get_uint64(jget(n, "UsedBytes")), &us);
				double total = suffix_si((double)json_object_get_uint64(jget(n, "PhysicalSize")), &ts);
				double lba = suffix_binary((double)json_object_get_uint64(jget(n, "SectorSize")), &fs);
				char nsid[16], usage[64], format[32];

				snprintf(nsid, sizeof(nsid), "0x%" PRIx64, json_object_get_uint64(jget(n, "NSID")));
				snprintf(usage, sizeof(usage), "%6.2f %2sB / %6.2f %2sB", used, us, total, ts);
				snprintf(format, sizeof(format), "%3.0f %2sB + %2d B", lba, fs, 0);
				printf("%-17s %-17s %-10s %-26s %-16s ", jstr(n, "NameSpace"), jstr(n, "Generic"), nsid,
				       usage, format);
				for (size_t j = 0; j < json_object_array_length(cs); j++)
					printf("%s%s", j ? ", " : "", jstr(json_object_array_get_idx(cs, j), "Controller"));
				putchar('\n');
			}
		}
	}
}

static void print_devices(struct json_object *devices, bool json)
{
	if (json) {
		struct json_object *root = json_object_new_object();

		json_object_object_add(root, "Devices", json_object_get(devices));
		printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
									 JSON_C_TO_STRING_SPACED |
									 JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(root);
	} else {
		print_text(devices);
	}
}

/* ------------------------------------------------------------------ */
/* With connection options: one subsystem through one controller         */

static void str_field(char *out, const char *in, size_t n)
{
	memcpy(out, in, n);
	out[n] = '\0';
	while (n && (out[n - 1] == ' ' || out[n - 1] == '\0'))
		out[--n] = '\0';
}

static int list_connected(struct cli_conn *c, struct json_object *devices)
{
	struct nvmeof_ctrl *ctrl;
	struct nvmeof_cpl cpl;
	struct nvme_id_ctrl *id = aligned_alloc(4096, sizeof(*id));
	struct nvme_id_ns *idns = aligned_alloc(4096, sizeof(*idns));
	uint32_t *list = aligned_alloc(4096, 4096);
	char hostid[37], sn[21], mn[41], fr[9], cntlid[8];
	unsigned int nr_subsys = 0;
	int rc = 1;

	if (!id || !idns || !list) {
		fprintf(stderr, "nvmeof list: out of memory\n");
		goto out_free;
	}
	c->opts.nr_io_queues = 0;
	if (cli_connect(c, &ctrl))
		goto out_free;
	rc = nvmeof_identify(ctrl, NVME_ID_CNS_CTRL, 0, id, &cpl);
	if (rc) {
		fprintf(stderr, "nvmeof list: identify controller failed: %s (status 0x%x)\n", strerror(-rc),
			cpl.status);
		rc = 1;
		goto out;
	}
	rc = nvmeof_identify(ctrl, NVME_ID_CNS_NS_ACTIVE_LIST, 0, list, &cpl);
	if (rc) {
		fprintf(stderr, "nvmeof list: active namespace list failed: %s (status 0x%x)\n", strerror(-rc),
			cpl.status);
		rc = 1;
		goto out;
	}
	nvmeof_uuid_format(c->opts.hostid, hostid);
	struct json_object *dev = device_for_host(devices, c->opts.hostnqn, hostid);
	struct json_object *s = subsys_new(dev, &nr_subsys, c->opts.subnqn);
	str_field(sn, id->sn, sizeof(id->sn));
	str_field(mn, id->mn, sizeof(id->mn));
	str_field(fr, id->fr, sizeof(id->fr));
	snprintf(cntlid, sizeof(cntlid), "%u", le16(id->cntlid));
	struct json_object *co = ctrl_new(s, "nvmeof0", &(struct ctrl_ident){ cntlid, sn, mn, fr }, "tcp",
					  c->opts.traddr, c->opts.trsvcid,
					  nvmeof_ctrl_state_name(nvmeof_ctrl_get_state(ctrl)));
	for (unsigned int i = 0; i < 1024 && list[i]; i++) {
		uint32_t nsid = le32(list[i]);
		char name[32];

		rc = nvmeof_identify(ctrl, NVME_ID_CNS_NS, nsid, idns, &cpl);
		if (rc) {
			fprintf(stderr, "nvmeof list: identify namespace %u failed: %s (status 0x%x)\n", nsid,
				strerror(-rc), cpl.status);
			rc = 1;
			goto out;
		}
		unsigned int lbads = idns->lbaf[idns->flbas & 0xf].lbads;
		uint32_t lba_size = lbads >= 9 && lbads < 32 ? 1u << lbads : 0;

		snprintf(name, sizeof(name), "nvmeof0n%u", nsid);
		ns_add(s, co, name, nsid, le64(idns->nuse) * lba_size, le64(idns->nsze), lba_size);
	}
	rc = 0;
out:
	nvmeof_ctrl_disconnect(ctrl);
out_free:
	free(id);
	free(idns);
	free(list);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Without: the registry of `nvmeof attach`                              */

static bool pid_alive(int64_t pid)
{
	return pid > 0 && pid <= INT_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static bool is_str(struct json_object *o, const char *k)
{
	struct json_object *v = jget(o, k);

	return v && json_object_is_type(v, json_type_string) && *json_object_get_string(v);
}

static bool is_uint(struct json_object *o, const char *k)
{
	struct json_object *v = jget(o, k);

	return v && json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0;
}

/* What is wrong with an attachment record, or NULL. */
static const char *entry_invalid(struct json_object *e)
{
	struct json_object *subs = jget(e, "subsystems");

	if (!e || !json_object_is_type(e, json_type_object))
		return "not a JSON object";
	if (!is_uint(e, "pid") || json_object_get_int64(jget(e, "pid")) == 0)
		return "no valid \"pid\"";
	if (!is_str(e, "mountpoint"))
		return "no \"mountpoint\"";
	if (!subs || !json_object_is_type(subs, json_type_array))
		return "no \"subsystems\" array";
	for (size_t i = 0; i < json_object_array_length(subs); i++) {
		struct json_object *s = json_object_array_get_idx(subs, i), *nss = jget(s, "namespaces");
		if (!is_str(s, "subnqn") || !is_str(s, "traddr") || !is_str(s, "trsvcid"))
			return "a subsystem without \"subnqn\", \"traddr\" or \"trsvcid\"";
		if (!nss || !json_object_is_type(nss, json_type_array))
			return "a subsystem without a \"namespaces\" array";
		for (size_t j = 0; j < json_object_array_length(nss); j++) {
			struct json_object *n = json_object_array_get_idx(nss, j);
			if (!is_uint(n, "nsid") || !is_str(n, "file") || !is_uint(n, "size") || !is_uint(n, "lba_size"))
				return "a namespace without \"nsid\", \"file\", \"size\" or \"lba_size\"";
		}
	}
	return NULL;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_entry(struct json_object *e, struct json_object *devices, unsigned int *nr_subsys,
		       unsigned int *nr_ctrl)
{
	const char *mnt = jstr(e, "mountpoint");
	const char *hostnqn = is_str(e, "hostnqn") ? jstr(e, "hostnqn") : "";
	struct json_object *dev = device_for_host(devices, hostnqn, "");
	struct json_object *subs = jget(e, "subsystems");

	for (size_t i = 0; i < json_object_array_length(subs); i++) {
		struct json_object *se = json_object_array_get_idx(subs, i), *nss = jget(se, "namespaces");
		struct json_object *s = subsys_new(dev, nr_subsys, jstr(se, "subnqn"));
		struct json_object *paths = jget(se, "paths");
		const char *transport = is_str(se, "transport") ? jstr(se, "transport") : "tcp";
		struct json_object *co = NULL, *extra[16];
		size_t nextra = 0;
		char cname[32];

		/* Identify data is the attacher's to ask for; the registry does not carry it. */
		for (size_t k = 0; paths && json_object_is_type(paths, json_type_array) &&
				   k < json_object_array_length(paths) && nextra < 16; k++) {
			struct json_object *p = json_object_array_get_idx(paths, k), *c;

			if (!is_str(p, "traddr") || !is_str(p, "trsvcid"))
				continue;
			snprintf(cname, sizeof(cname), "nvmeof%u", (*nr_ctrl)++);
			c = ctrl_new(s, cname, &(struct ctrl_ident){ "", "", "", "" }, transport, jstr(p, "traddr"),
				     jstr(p, "trsvcid"), is_str(p, "state") ? jstr(p, "state") : "");
			if (!co)
				co = c;
			else
				extra[nextra++] = c;
		}
		if (!co) {
			snprintf(cname, sizeof(cname), "nvmeof%u", (*nr_ctrl)++);
			co = ctrl_new(s, cname, &(struct ctrl_ident){ "", "", "", "" }, transport,
				      jstr(se, "traddr"), jstr(se, "trsvcid"),
				      is_str(se, "state") ? jstr(se, "state") : "");
		}
		for (size_t j = 0; j < json_object_array_length(nss); j++) {
			struct json_object *n = json_object_array_get_idx(nss, j);
			uint64_t size = json_object_get_uint64(jget(n, "size"));
			uint64_t lba = json_object_get_uint64(jget(n, "lba_size"));
			char path[PATH_MAX];

			snprintf(path, sizeof(path), "%s%s%s", mnt, mnt[strlen(mnt) - 1] == '/' ? "" : "/",
				 jstr(n, "file"));
			ns_add(s, co, path, (uint32_t)json_object_get_uint64(jget(n, "nsid")), size,
			       lba ? size / lba : 0, (uint32_t)lba);
			/* The other paths' controllers reach the same namespace object. */
			struct json_object *nso = jget(s, "Namespaces");
			struct json_object *last = json_object_array_get_idx(nso, json_object_array_length(nso) - 1);

			for (size_t k = 0; k < nextra; k++)
				json_object_array_add(jget(extra[k], "Namespaces"), json_object_get(last));
		}
	}
}

static int list_attached(struct json_object *devices)
{
	const char *env = getenv("NVMEOF_ATTACH_DIR");
	const char *dir = env && *env ? env : ATTACH_DIR_DEFAULT;
	unsigned int nr_subsys = 0, nr_ctrl = 0;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d) {
		if (errno == ENOENT)
			return 0; /* nothing was ever attached */
		fprintf(stderr, "nvmeof list: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".json"))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));
			if (!nn)
				break;
			names = nn;
		}
		if (!(names[n] = strdup(de->d_name)))
			break;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		struct json_object *e = json_object_from_file(path);
		const char *why = e ? entry_invalid(e) : "not valid JSON";

		if (why)
			fprintf(stderr, "nvmeof list: skipping %s: %s\n", path, why);
		else if (pid_alive(json_object_get_int64(jget(e, "pid"))))
			list_entry(e, devices, &nr_subsys, &nr_ctrl);
		json_object_put(e);
		free(names[i]);
	}
	free(names);
	return 0;
}

int cmd_list(int argc, char **argv)
{
	struct cli_conn c;
	int rc;

	cli_conn_init(&c, NVMEOF_IO_PORT);
	rc = cli_parse(argc, argv, &c, list_options, "o:v", true, list_opt, &c, list_usage);
	if (rc)
		return rc > 0 ? 0 : 2;
	struct json_object *devices = json_object_new_array();
	if (c.have_traddr || c.have_nqn) {
		if (cli_conn_finish(&c, argv[0], true)) {
			json_object_put(devices);
			return 2;
		}
		rc = list_connected(&c, devices);
	} else {
		rc = list_attached(devices);
	}
	if (rc == 0)
		print_devices(devices, c.json);
	json_object_put(devices);
	return rc;
}
