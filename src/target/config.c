/* SPDX-License-Identifier: MIT */
/*
 * nvmetcli JSON configuration: load and save.
 *
 * Loading runs in three phases so that a bad file never leaves a half-built
 * target behind:
 *
 *   1. parse   JSON text -> struct cfg, a plain description of subsystems,
 *              namespaces, hosts and ports, validated completely (types,
 *              ranges, NQNs, addresses, duplicates, cross references). Pure:
 *              touches neither the file system nor the target.
 *   2. open    every namespace backend, so a missing device fails before
 *              any target object exists.
 *   3. apply   create the objects through target.h.
 *
 * Every error names the file, the JSON path of the field and what is wrong:
 *   "config.json: subsystems[0].namespaces[1].nsid: duplicate nsid 2"
 *
 * Values in nvmetcli's attribute groups ("attr", "addr", "param", "device")
 * are strings ("1", "4420"); numbers and booleans are accepted as well.
 * Attributes nvmetcli may write that mean nothing here are ignored (logged);
 * unknown keys in structural objects are errors, so typos surface.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/size.h"
#include "crypto/tls_psk.h"
#include "crypto/dhchap.h"
#include "common/hex.h"

#define CFG_MAX_FILE (16u << 20)
#define CFG_SERIAL_MAX 20 /* Identify Controller SN */
#define CFG_MODEL_MAX 40 /* Identify Controller MN */
#define CFG_WHERE 160

typedef char cfg_nqn[NVME_NQN_MAX + 1];

struct cfg_ns {
	uint32_t nsid;
	bool enabled;
	struct backend_open_opts bopts; /* bopts.path, .ceph_conf, .ceph_id owned (NULL for RAM) */
	uint8_t uuid[16]; /* zero = let the target derive one */
	uint8_t nguid[16];
	uint32_t anagrpid; /* "ana_grpid"; 0 = absent (group 1) */
	char where[CFG_WHERE]; /* "subsystems[i].namespaces[j]" */
	struct backend *be; /* phase 2; ownership passes to the target in phase 3 */
};

struct cfg_subsys {
	cfg_nqn nqn;
	bool allow_any_host;
	bool monitor;
	char serial[CFG_SERIAL_MAX + 1]; /* "" = target default */
	char model[CFG_MODEL_MAX + 1];
	uint16_t cntlid_min, cntlid_max; /* 0 = nvmet's defaults (1, 0xffef) */
	cfg_nqn *hosts;
	unsigned int n_hosts;
	struct cfg_ns *ns;
	unsigned int n_ns;
};

struct cfg_port {
	struct nvmf_port_opts opts;
	unsigned int *subsys; /* indexes into cfg.subsys */
	unsigned int n_subsys;
	struct nvmf_port_opts *referrals;
	unsigned int n_referrals;
	/* "ana_groups": the states of the groups the port lists (group 1 is
	 * always listed, optimized unless the file says otherwise). */
	bool ana_listed[NVMF_ANA_GRP_MAX + 1];
	uint8_t ana_state[NVMF_ANA_GRP_MAX + 1];
};

/* A host entry's TLS PSK (our extension: "tls_key", "tls_kdf"). */
struct cfg_host_tls {
	bool set;
	uint8_t kdf; /* enum nvme_tls_kdf */
	struct nvme_tls_key key;
};

struct cfg {
	cfg_nqn *hosts;
	struct cfg_host_tls *host_tls; /* parallel to hosts */
	struct nvmf_dhchap_cfg *host_dhchap; /* per entry of hosts; key "" = none */
	unsigned int n_hosts;
	struct cfg_subsys *subsys;
	unsigned int n_subsys;
	struct cfg_port *ports;
	unsigned int n_ports;
};

struct cfg_ctx {
	const char *file;
	char *err;
	size_t errlen;
	bool quiet; /* reading back the running target: its advice was given at load */
};

/* ------------------------------------------------------------------ */
/* Errors and JSON paths                                               */

__attribute__((format(printf, 3, 4))) static int cfg_fail(struct cfg_ctx *c, const char *where,
							  const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (where && *where)
		snprintf(c->err, c->errlen, "%s: %s: %s", c->file, where, msg);
	else
		snprintf(c->err, c->errlen, "%s: %s", c->file, msg);
	return -EINVAL;
}

/*
 * JSON paths are short (the deepest is about 50 bytes); a longer one would
 * only be cut in a message, which the length check makes explicit.
 */
static const char *join(char *buf, const char *where, const char *key)
{
	int n;

	if (where && *where)
		n = snprintf(buf, CFG_WHERE, "%s.%s", where, key);
	else
		n = snprintf(buf, CFG_WHERE, "%s", key);
	if (n >= CFG_WHERE)
		buf[CFG_WHERE - 1] = '\0';
	return buf;
}

static const char *join_index(char *buf, const char *where, const char *key, size_t i)
{
	int n;

	if (where && *where)
		n = snprintf(buf, CFG_WHERE, "%s.%s[%zu]", where, key, i);
	else
		n = snprintf(buf, CFG_WHERE, "%s[%zu]", key, i);
	if (n >= CFG_WHERE)
		buf[CFG_WHERE - 1] = '\0';
	return buf;
}

static bool in_list(const char *key, const char *const *list)
{
	for (; list && *list; list++)
		if (strcmp(key, *list) == 0)
			return true;
	return false;
}

/*
 * Structural objects: every key must be known (or known to be harmless,
 * in `ignored`). Attribute groups pass strict = false: nvmetcli dumps every
 * writable attribute the kernel has, so new ones are only logged.
 */
static int check_keys(struct cfg_ctx *c, struct json_object *obj, const char *where,
		      const char *const *known, const char *const *ignored, bool strict)
{
	struct json_object_iterator it = json_object_iter_begin(obj);
	struct json_object_iterator end = json_object_iter_end(obj);
	char buf[CFG_WHERE];

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *key = json_object_iter_peek_name(&it);

		if (in_list(key, known))
			continue;
		if (in_list(key, ignored) || !strict) {
			if (!c->quiet)
				log_info("config", "%s: %s: ignored", c->file, join(buf, where, key));
			continue;
		}
		return cfg_fail(c, join(buf, where, key), "unknown key");
	}
	return 0;
}

/* A member that is absent or null reads as NULL. */
static struct json_object *member(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

static int want_type(struct cfg_ctx *c, struct json_object *v, const char *where, json_type type)
{
	static const char *const names[] = {
		[json_type_null] = "null",	   [json_type_boolean] = "a boolean",
		[json_type_double] = "a number", [json_type_int] = "an integer",
		[json_type_object] = "an object", [json_type_array] = "an array",
		[json_type_string] = "a string",
	};

	if (json_object_is_type(v, type))
		return 0;
	return cfg_fail(c, where, "must be %s, not %s", names[type], names[json_object_get_type(v)]);
}

/* ------------------------------------------------------------------ */
/* Values                                                              */

static int val_string(struct cfg_ctx *c, struct json_object *v, const char *where, const char **out)
{
	int ret = want_type(c, v, where, json_type_string);

	if (ret == 0)
		*out = json_object_get_string(v);
	return ret;
}

/* true/false, 1/0, "1"/"0", "true"/"false", "yes"/"no". */
static int val_bool(struct cfg_ctx *c, struct json_object *v, const char *where, bool *out)
{
	switch (json_object_get_type(v)) {
	case json_type_boolean:
		*out = json_object_get_boolean(v);
		return 0;
	case json_type_int: {
		int64_t i = json_object_get_int64(v);

		if (i == 0 || i == 1) {
			*out = i == 1;
			return 0;
		}
		return cfg_fail(c, where, "%lld is not a boolean (0 or 1)", (long long)i);
	}
	case json_type_string: {
		const char *s = json_object_get_string(v);

		if (!strcmp(s, "1") || !strcasecmp(s, "true") || !strcasecmp(s, "yes")) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, "0") || !strcasecmp(s, "false") || !strcasecmp(s, "no")) {
			*out = false;
			return 0;
		}
		return cfg_fail(c, where, "\"%s\" is not a boolean (\"1\" or \"0\")", s);
	}
	default:
		return cfg_fail(c, where, "must be a boolean (\"1\" or \"0\")");
	}
}

static int parse_decimal(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* A non-negative integer, as a JSON number or a decimal string, within [min, max]. */
static int val_uint(struct cfg_ctx *c, struct json_object *v, const char *where, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	uint64_t u;

	if (json_object_is_type(v, json_type_int)) {
		int64_t i = json_object_get_int64(v);

		if (i < 0)
			return cfg_fail(c, where, "%lld is negative", (long long)i);
		u = (uint64_t)i;
	} else if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		if (parse_decimal(s, &u) < 0)
			return cfg_fail(c, where, "\"%s\" is not a non-negative integer", s);
	} else {
		return cfg_fail(c, where, "must be an integer");
	}
	if (u < min || u > max)
		return cfg_fail(c, where, "%llu is out of range %llu..%llu", (unsigned long long)u,
				(unsigned long long)min, (unsigned long long)max);
	*out = u;
	return 0;
}

/* Bytes: a number, or a string like "4096", "512M", "1G", "1GiB", "2T" (powers of 1024). */
static int val_size(struct cfg_ctx *c, struct json_object *v, const char *where, uint64_t *out)
{
	const char *s;
	uint64_t n;
	int ret;

	if (!json_object_is_type(v, json_type_string))
		return val_uint(c, v, where, 1, UINT64_MAX >> 2, out);
	s = json_object_get_string(v);
	ret = parse_size(s, &n);
	if (ret == -EINVAL)
		return cfg_fail(c, where, "\"%s\" is not a size (bytes, or with K, M, G, T)", s);
	if (ret < 0 || n == 0 || n > (UINT64_MAX >> 2))
		return cfg_fail(c, where, "\"%s\" is out of range", s);
	*out = n;
	return 0;
}

/* 16 bytes as "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" or 32 hex digits. */
static int parse_id(const char *s, uint8_t out[16])
{
	size_t len = strlen(s);
	unsigned int n = 0;

	if (len != 32 && len != 36)
		return -EINVAL;
	for (size_t i = 0; i < len;) {
		int hi, lo;

		if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
			if (s[i] != '-')
				return -EINVAL;
			i++;
			continue;
		}
		hi = hex_digit((unsigned char)s[i]);
		lo = hex_digit((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0 || n >= 16)
			return -EINVAL;
		out[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return n == 16 ? 0 : -EINVAL;
}

static int val_id(struct cfg_ctx *c, struct json_object *v, const char *where, uint8_t out[16])
{
	const char *s;
	int ret = val_string(c, v, where, &s);

	if (ret)
		return ret;
	if (parse_id(s, out) < 0)
		return cfg_fail(c, where, "\"%s\" is not a UUID (8-4-4-4-12 hex digits)", s);
	return 0;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static int val_nqn(struct cfg_ctx *c, struct json_object *v, const char *where, cfg_nqn out)
{
	const char *s;
	int ret = val_string(c, v, where, &s);

	if (ret)
		return ret;
	if (!nvmf_nqn_valid(s))
		return cfg_fail(c, where, "invalid NQN \"%s\" (expected 1 to %d printable "
					  "characters without blanks, e.g. nqn.yyyy-mm.domain:name)",
				s, NVME_NQN_MAX);
	snprintf(out, sizeof(cfg_nqn), "%s", s);
	return 0;
}

/* An optional array member: NULL when absent. */
static int get_array(struct cfg_ctx *c, struct json_object *obj, const char *where, const char *key,
		     struct json_object **out)
{
	char buf[CFG_WHERE];

	*out = member(obj, key);
	if (!*out)
		return 0;
	return want_type(c, *out, join(buf, where, key), json_type_array);
}

static int get_object(struct cfg_ctx *c, struct json_object *obj, const char *where,
		      const char *key, struct json_object **out)
{
	char buf[CFG_WHERE];

	*out = member(obj, key);
	if (!*out)
		return 0;
	return want_type(c, *out, join(buf, where, key), json_type_object);
}

/* ------------------------------------------------------------------ */
/* Phase 1: parse and validate                                         */

static void cfg_free(struct cfg *cfg)
{
	for (unsigned int i = 0; i < cfg->n_subsys; i++) {
		struct cfg_subsys *s = &cfg->subsys[i];

		for (unsigned int j = 0; j < s->n_ns; j++) {
			backend_close(s->ns[j].be);
			free((char *)s->ns[j].bopts.path);
			free((char *)s->ns[j].bopts.ceph_conf);
			free((char *)s->ns[j].bopts.ceph_id);
		}
		free(s->ns);
		free(s->hosts);
	}
	free(cfg->subsys);
	for (unsigned int i = 0; i < cfg->n_ports; i++) {
		free(cfg->ports[i].subsys);
		free(cfg->ports[i].referrals);
	}
	free(cfg->ports);
	free(cfg->hosts);
	for (unsigned int i = 0; cfg->host_tls && i < cfg->n_hosts; i++)
		nvme_tls_key_clear(&cfg->host_tls[i].key);
	free(cfg->host_tls);
	if (cfg->host_dhchap)
		for (unsigned int i = 0; i < cfg->n_hosts; i++)
			nvmf_dhchap_cfg_wipe(&cfg->host_dhchap[i]);
	free(cfg->host_dhchap);
	memset(cfg, 0, sizeof(*cfg));
}

static bool nqn_listed(const cfg_nqn *list, unsigned int n, const char *nqn)
{
	for (unsigned int i = 0; i < n; i++)
		if (strcmp(list[i], nqn) == 0)
			return true;
	return false;
}

/* "tls_key": "NVMeTLSkey-1:..." and "tls_kdf": "libnvme" | "rfc8446". */
static int parse_host_tls(struct cfg_ctx *c, struct json_object *h, const char *where, struct cfg_host_tls *t)
{
	char buf[CFG_WHERE];
	struct json_object *v;
	const char *s;
	int ret;

	if ((v = member(h, "tls_key"))) {
		if ((ret = val_string(c, v, join(buf, where, "tls_key"), &s)))
			return ret;
		/* The message names the field, never the value. */
		if (nvme_tls_key_parse(s, &t->key))
			return cfg_fail(c, buf, "not a valid TLS PSK (NVMeTLSkey-1:HH:base64:, HH 01 or 02)");
		t->set = true;
	}
	if ((v = member(h, "tls_kdf"))) {
		if ((ret = val_string(c, v, join(buf, where, "tls_kdf"), &s)))
			return ret;
		if (!strcmp(s, "rfc8446"))
			t->kdf = NVME_TLS_KDF_RFC8446;
		else if (strcmp(s, "libnvme"))
			return cfg_fail(c, buf, "\"%s\" is not \"libnvme\" or \"rfc8446\"", s);
	}
	return 0;
}

/*
 * A host's DH-HMAC-CHAP entry as nvmetcli writes it: key, ctrl_key
 * ("DHHC-1:..." or empty), hash ("hmac(sha256)" ...), dhgroup ("null",
 * "ffdhe2048" ...). Messages name the field, never the secret.
 */
static int parse_host_dhchap(struct cfg_ctx *c, struct json_object *dh, const char *where,
			     struct nvmf_dhchap_cfg *out)
{
	static const char *const known[] = { "key", "ctrl_key", "hash", "dhgroup", NULL };
	static const struct {
		const char *name;
		size_t off;
		size_t size;
	} fields[] = {
		{ "key", offsetof(struct nvmf_dhchap_cfg, key), sizeof(out->key) },
		{ "ctrl_key", offsetof(struct nvmf_dhchap_cfg, ctrl_key), sizeof(out->ctrl_key) },
		{ "hash", offsetof(struct nvmf_dhchap_cfg, hash), sizeof(out->hash) },
		{ "dhgroup", offsetof(struct nvmf_dhchap_cfg, dhgroup), sizeof(out->dhgroup) },
	};
	char buf[CFG_WHERE];
	int ret;

	if ((ret = check_keys(c, dh, where, known, NULL, true)))
		return ret;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		struct json_object *v = member(dh, fields[i].name);
		const char *str;

		if (!v)
			continue;
		join(buf, where, fields[i].name);
		if ((ret = val_string(c, v, buf, &str)))
			return ret;
		if (strlen(str) >= fields[i].size)
			return cfg_fail(c, buf, "too long");
		memcpy((char *)out + fields[i].off, str, strlen(str) + 1);
	}
	if (out->key[0] && !dhchap_key_valid(out->key))
		return cfg_fail(c, join(buf, where, "key"),
				"not a DH-HMAC-CHAP secret (\"DHHC-1:HH:base64:\" with a 32, 48 or 64-byte secret and its CRC)");
	if (out->ctrl_key[0] && !dhchap_key_valid(out->ctrl_key))
		return cfg_fail(c, join(buf, where, "ctrl_key"),
				"not a DH-HMAC-CHAP secret (\"DHHC-1:HH:base64:\" with a 32, 48 or 64-byte secret and its CRC)");
	if (out->ctrl_key[0] && !out->key[0])
		return cfg_fail(c, join(buf, where, "ctrl_key"), "a controller key needs a host key (\"key\")");
	if (out->hash[0] && dhchap_hash_from_name(out->hash) < 0)
		return cfg_fail(c, join(buf, where, "hash"),
				"unknown hash \"%s\" (hmac(sha256), hmac(sha384) or hmac(sha512))", out->hash);
	if (out->dhgroup[0] && dhchap_dhgroup_from_name(out->dhgroup) < 0)
		return cfg_fail(c, join(buf, where, "dhgroup"),
				"unknown DH group \"%s\" (null, ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144 or ffdhe8192)",
				out->dhgroup);
	return 0;
}

static int parse_hosts(struct cfg_ctx *c, struct json_object *root, struct cfg *cfg)
{
	static const char *const known[] = { "nqn", "dhchap", "tls_key", "tls_kdf", NULL };
	struct json_object *arr;
	size_t n;
	int ret = get_array(c, root, "", "hosts", &arr);

	if (ret || !arr)
		return ret;
	n = json_object_array_length(arr);
	cfg->hosts = calloc(n ? n : 1, sizeof(*cfg->hosts));
	cfg->host_tls = calloc(n ? n : 1, sizeof(*cfg->host_tls));
	cfg->host_dhchap = calloc(n ? n : 1, sizeof(*cfg->host_dhchap));
	if (!cfg->hosts || !cfg->host_tls || !cfg->host_dhchap)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *h = json_object_array_get_idx(arr, i), *v, *dh;
		char where[CFG_WHERE], buf[CFG_WHERE];

		join_index(where, "", "hosts", i);
		if ((ret = want_type(c, h, where, json_type_object)) ||
		    (ret = check_keys(c, h, where, known, NULL, true)))
			return ret;
		join(buf, where, "nqn");
		if (!(v = member(h, "nqn")))
			return cfg_fail(c, buf, "missing");
		if ((ret = val_nqn(c, v, buf, cfg->hosts[cfg->n_hosts])))
			return ret;
		if (nqn_listed(cfg->hosts, cfg->n_hosts, cfg->hosts[cfg->n_hosts]))
			return cfg_fail(c, buf, "duplicate host \"%s\"", cfg->hosts[cfg->n_hosts]);
		if ((ret = get_object(c, h, where, "dhchap", &dh)))
			return ret;
		if (dh && (ret = parse_host_dhchap(c, dh, join(buf, where, "dhchap"),
						   &cfg->host_dhchap[cfg->n_hosts])))
			return ret;
		if ((ret = parse_host_tls(c, h, where, &cfg->host_tls[cfg->n_hosts])))
			return ret;
		cfg->n_hosts++;
	}
	return 0;
}

static int parse_device(struct cfg_ctx *c, struct json_object *dev, const char *where,
			struct cfg_ns *ns)
{
	static const char *const known[] = { "path", "uuid", "nguid", "size", "block_size",
					     "direct", "read_only", "buffered_io", "preallocate", NULL };
	char buf[CFG_WHERE];
	struct json_object *v;
	const char *path = NULL;
	uint64_t u;
	bool b;
	int ret;

	if ((ret = check_keys(c, dev, where, known, NULL, false)))
		return ret;
	if ((v = member(dev, "path")) && (ret = val_string(c, v, join(buf, where, "path"), &path)))
		return ret;
	if ((v = member(dev, "uuid")) && (ret = val_id(c, v, join(buf, where, "uuid"), ns->uuid)))
		return ret;
	if ((v = member(dev, "nguid")) && (ret = val_id(c, v, join(buf, where, "nguid"), ns->nguid)))
		return ret;
	if ((v = member(dev, "size")) && (ret = val_size(c, v, join(buf, where, "size"), &ns->bopts.size)))
		return ret;
	if ((v = member(dev, "block_size"))) {
		if ((ret = val_uint(c, v, join(buf, where, "block_size"), 0, 4096, &u)))
			return ret;
		if (u != 512 && u != 4096)
			return cfg_fail(c, buf, "%llu is not 512 or 4096", (unsigned long long)u);
		ns->bopts.block_size = (uint32_t)u;
	}
	/* nvmetcli's buffered_io is the inverse of our direct. */
	if ((v = member(dev, "buffered_io"))) {
		if ((ret = val_bool(c, v, join(buf, where, "buffered_io"), &b)))
			return ret;
		ns->bopts.direct = !b;
	}
	if ((v = member(dev, "direct")) &&
	    (ret = val_bool(c, v, join(buf, where, "direct"), &ns->bopts.direct)))
		return ret;
	if ((v = member(dev, "read_only")) &&
	    (ret = val_bool(c, v, join(buf, where, "read_only"), &ns->bopts.read_only)))
		return ret;
	if ((v = member(dev, "preallocate")) &&
	    (ret = val_bool(c, v, join(buf, where, "preallocate"), &ns->bopts.preallocate)))
		return ret;
	if (ns->bopts.preallocate && path && *path)
		return cfg_fail(c, join(buf, where, "preallocate"), "only a RAM namespace (no path) is preallocated");

	if (path && *path) {
		if (backend_path_is_rbd(path)) {
			struct backend_rbd_spec spec;
			char msg[400];

			if (backend_rbd_parse_path(path, &spec, msg, sizeof(msg)))
				return cfg_fail(c, join(buf, where, "path"), "%s", msg);
		} else if (path[0] != '/') {
			return cfg_fail(c, join(buf, where, "path"),
					"\"%s\" is not an absolute path (nor rbd:POOL/IMAGE)", path);
		}
		ns->bopts.path = strdup(path);
		if (!ns->bopts.path)
			return -ENOMEM;
	} else if (ns->bopts.size == 0) {
		return cfg_fail(c, join(buf, where, "path"),
				"missing (or give device.size for a RAM namespace)");
	}
	return 0;
}

/* Our extension: "ceph": { "conf": FILE, "id": ID } for an RBD namespace. */
static int parse_ns_ceph(struct cfg_ctx *c, struct json_object *o, const char *where,
			 struct cfg_ns *ns)
{
	static const char *const known[] = { "conf", "id", NULL };
	const char *keys[] = { "conf", "id" };
	const char **outs[] = { &ns->bopts.ceph_conf, &ns->bopts.ceph_id };
	char buf[CFG_WHERE];
	int ret;

	if ((ret = want_type(c, o, where, json_type_object)) ||
	    (ret = check_keys(c, o, where, known, NULL, true)))
		return ret;
	if (!backend_path_is_rbd(ns->bopts.path))
		return cfg_fail(c, where, "only for an RBD namespace (device.path rbd:POOL/IMAGE)");
	for (int i = 0; i < 2; i++) {
		struct json_object *v = member(o, keys[i]);
		const char *str;

		if (!v)
			continue;
		if ((ret = val_string(c, v, join(buf, where, keys[i]), &str)))
			return ret;
		if (!*str)
			return cfg_fail(c, buf, "empty");
		if (i == 1 && !strncmp(str, "client.", 7))
			return cfg_fail(c, buf, "\"%s\": give the id without \"client.\"", str);
		if (!(*outs[i] = strdup(str)))
			return -ENOMEM;
	}
	return 0;
}

static int parse_ns(struct cfg_ctx *c, struct json_object *o, const char *where, struct cfg_ns *ns)
{
	static const char *const known[] = { "nsid", "enable", "device", "ana_grpid", "ceph", NULL };
	static const char *const ignored[] = { "ana", "resv", NULL };
	char buf[CFG_WHERE];
	struct json_object *v;
	uint64_t u;
	int ret;

	snprintf(ns->where, sizeof(ns->where), "%s", where);
	if ((ret = want_type(c, o, where, json_type_object)) ||
	    (ret = check_keys(c, o, where, known, ignored, true)))
		return ret;
	join(buf, where, "nsid");
	if (!(v = member(o, "nsid")))
		return cfg_fail(c, buf, "missing");
	if ((ret = val_uint(c, v, buf, 1, NVMF_MAX_NSID, &u)))
		return ret;
	ns->nsid = (uint32_t)u;
	ns->enabled = true;
	if ((v = member(o, "enable")) &&
	    (ret = val_bool(c, v, join(buf, where, "enable"), &ns->enabled)))
		return ret;
	if ((v = member(o, "ana_grpid"))) {
		if ((ret = val_uint(c, v, join(buf, where, "ana_grpid"), 1, NVMF_ANA_GRP_MAX, &u)))
			return ret;
		ns->anagrpid = (uint32_t)u;
	}
	join(buf, where, "device");
	if (!(v = member(o, "device")))
		return cfg_fail(c, buf, "missing");
	if ((ret = want_type(c, v, buf, json_type_object)) || (ret = parse_device(c, v, buf, ns)))
		return ret;
	if ((v = member(o, "ceph")))
		return parse_ns_ceph(c, v, join(buf, where, "ceph"), ns);
	return 0;
}

static bool id_zero(const uint8_t id[16])
{
	for (int i = 0; i < 16; i++)
		if (id[i])
			return false;
	return true;
}

/* Hosts refuse a subsystem whose namespaces share a UUID or NGUID. */
static int check_ids_unique(struct cfg_ctx *c, const struct cfg *cfg, const struct cfg_ns *ns)
{
	char buf[CFG_WHERE];

	for (unsigned int i = 0; i < cfg->n_subsys; i++) {
		const struct cfg_subsys *s = &cfg->subsys[i];

		for (unsigned int j = 0; j < s->n_ns; j++) {
			const struct cfg_ns *o = &s->ns[j];

			if (o == ns)
				return 0;
			if (!id_zero(ns->uuid) && memcmp(o->uuid, ns->uuid, 16) == 0)
				return cfg_fail(c, join(buf, ns->where, "device.uuid"),
						"same UUID as %s", o->where);
			if (!id_zero(ns->nguid) && memcmp(o->nguid, ns->nguid, 16) == 0)
				return cfg_fail(c, join(buf, ns->where, "device.nguid"),
						"same NGUID as %s", o->where);
		}
	}
	return 0;
}

static uint16_t cfg_cntlid_min(const struct cfg_subsys *s)
{
	return s->cntlid_min ? s->cntlid_min : 1;
}

static uint16_t cfg_cntlid_max(const struct cfg_subsys *s)
{
	return s->cntlid_max ? s->cntlid_max : 0xffef;
}

static int parse_subsys_attr(struct cfg_ctx *c, struct json_object *attr, const char *where,
			     struct cfg_subsys *s)
{
	static const char *const known[] = { "allow_any_host", "serial", "model", "monitor",
					     "pi_enable", "cntlid_min", "cntlid_max", NULL };
	char buf[CFG_WHERE];
	struct json_object *v;
	const char *str;
	uint64_t u;
	bool pi;
	int ret;

	if ((ret = check_keys(c, attr, where, known, NULL, false)))
		return ret;
	if ((v = member(attr, "allow_any_host")) &&
	    (ret = val_bool(c, v, join(buf, where, "allow_any_host"), &s->allow_any_host)))
		return ret;
	if ((v = member(attr, "monitor")) &&
	    (ret = val_bool(c, v, join(buf, where, "monitor"), &s->monitor)))
		return ret;
	if ((v = member(attr, "serial"))) {
		if ((ret = val_string(c, v, join(buf, where, "serial"), &str)))
			return ret;
		if (!*str || strlen(str) > CFG_SERIAL_MAX || !printable(str))
			return cfg_fail(c, buf, "\"%s\" is not 1 to %d printable ASCII characters",
					str, CFG_SERIAL_MAX);
		snprintf(s->serial, sizeof(s->serial), "%s", str);
	}
	if ((v = member(attr, "model"))) {
		if ((ret = val_string(c, v, join(buf, where, "model"), &str)))
			return ret;
		if (!*str || strlen(str) > CFG_MODEL_MAX || !printable(str))
			return cfg_fail(c, buf, "\"%s\" is not 1 to %d printable ASCII characters",
					str, CFG_MODEL_MAX);
		snprintf(s->model, sizeof(s->model), "%s", str);
	}
	if ((v = member(attr, "cntlid_min"))) {
		if ((ret = val_uint(c, v, join(buf, where, "cntlid_min"), 1, 0xffef, &u)))
			return ret;
		s->cntlid_min = (uint16_t)u;
	}
	if ((v = member(attr, "cntlid_max"))) {
		if ((ret = val_uint(c, v, join(buf, where, "cntlid_max"), 1, 0xffef, &u)))
			return ret;
		s->cntlid_max = (uint16_t)u;
	}
	if (cfg_cntlid_min(s) > cfg_cntlid_max(s))
		return cfg_fail(c, join(buf, where, "cntlid_min"), "%u is above cntlid_max %u", cfg_cntlid_min(s),
				cfg_cntlid_max(s));
	if ((v = member(attr, "pi_enable"))) {
		if ((ret = val_bool(c, v, join(buf, where, "pi_enable"), &pi)))
			return ret;
		if (pi)
			return cfg_fail(c, buf, "protection information is not supported");
	}
	return 0;
}

static int parse_subsys(struct cfg_ctx *c, struct json_object *o, size_t index, struct cfg *cfg)
{
	static const char *const known[] = { "nqn", "attr", "allowed_hosts", "namespaces",
					     "passthru", NULL };
	struct cfg_subsys *s = &cfg->subsys[cfg->n_subsys];
	char where[CFG_WHERE], buf[CFG_WHERE], item[CFG_WHERE];
	struct json_object *v, *arr;
	size_t n;
	int ret;

	join_index(where, "", "subsystems", index);
	if ((ret = want_type(c, o, where, json_type_object)) ||
	    (ret = check_keys(c, o, where, known, NULL, true)))
		return ret;
	cfg->n_subsys++; /* from here on cfg_free() owns s's arrays */
	if (!(v = member(o, "nqn")))
		return cfg_fail(c, join(buf, where, "nqn"), "missing");
	if ((ret = val_nqn(c, v, join(buf, where, "nqn"), s->nqn)))
		return ret;
	if (strcmp(s->nqn, NVME_DISC_NQN) == 0)
		return cfg_fail(c, buf, "\"%s\" is the discovery subsystem, which always exists",
				s->nqn);
	for (unsigned int i = 0; i + 1 < cfg->n_subsys; i++)
		if (strcmp(cfg->subsys[i].nqn, s->nqn) == 0)
			return cfg_fail(c, buf, "duplicate subsystem \"%s\" (also subsystems[%u])",
					s->nqn, i);

	if ((ret = get_array(c, o, where, "passthru", &arr)))
		return ret;
	if (arr && json_object_array_length(arr))
		return cfg_fail(c, join(buf, where, "passthru"), "passthru is not supported");

	if ((ret = get_object(c, o, where, "attr", &v)))
		return ret;
	if (v && (ret = parse_subsys_attr(c, v, join(buf, where, "attr"), s)))
		return ret;

	if ((ret = get_array(c, o, where, "allowed_hosts", &arr)))
		return ret;
	n = arr ? json_object_array_length(arr) : 0;
	s->hosts = calloc(n ? n : 1, sizeof(*s->hosts));
	if (!s->hosts)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		cfg_nqn *h = &s->hosts[s->n_hosts];

		join_index(item, where, "allowed_hosts", i);
		if ((ret = val_nqn(c, json_object_array_get_idx(arr, i), item, *h)))
			return ret;
		if (!nqn_listed(cfg->hosts, cfg->n_hosts, *h))
			return cfg_fail(c, item, "unknown host \"%s\" (not in \"hosts\")", *h);
		if (nqn_listed(s->hosts, s->n_hosts, *h))
			return cfg_fail(c, item, "duplicate host \"%s\"", *h);
		s->n_hosts++;
	}

	if ((ret = get_array(c, o, where, "namespaces", &arr)))
		return ret;
	n = arr ? json_object_array_length(arr) : 0;
	s->ns = calloc(n ? n : 1, sizeof(*s->ns));
	if (!s->ns)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct cfg_ns *ns = &s->ns[s->n_ns++];

		join_index(item, where, "namespaces", i);
		if ((ret = parse_ns(c, json_object_array_get_idx(arr, i), item, ns)))
			return ret;
		for (unsigned int j = 0; j + 1 < s->n_ns; j++)
			if (s->ns[j].nsid == ns->nsid)
				return cfg_fail(c, join(buf, item, "nsid"),
						"duplicate nsid %u (also %s)", ns->nsid, s->ns[j].where);
		if ((ret = check_ids_unique(c, cfg, ns)))
			return ret;
	}

	if (!s->allow_any_host && !s->monitor && s->n_hosts == 0 && !c->quiet)
		log_warn("config", "%s: %s: no host may connect (allow_any_host is 0 and "
				   "allowed_hosts is empty)",
			 c->file, where);
	return 0;
}

/* nvmetcli "addr" group, shared by ports and referrals. */
static int parse_addr(struct cfg_ctx *c, struct json_object *addr, const char *where,
		      struct nvmf_port_opts *o)
{
	/* portid: a referral's (nvmet has addr_portid only there); read by parse_referrals. */
	static const char *const known[] = { "trtype", "adrfam", "traddr", "trsvcid", "treq",
					     "tsas", "portid", NULL };
	char buf[CFG_WHERE];
	struct json_object *v;
	const char *s;
	uint8_t sa[sizeof(struct in6_addr)];
	uint64_t port;
	int ret;

	if ((ret = check_keys(c, addr, where, known, NULL, false)))
		return ret;

	if (!(v = member(addr, "trtype")))
		return cfg_fail(c, join(buf, where, "trtype"), "missing");
	if ((ret = val_string(c, v, join(buf, where, "trtype"), &s)))
		return ret;
	if (strcmp(s, "tcp") != 0)
		return cfg_fail(c, buf, "\"%s\" is not supported, only \"tcp\"", s);

	if (!(v = member(addr, "adrfam")))
		return cfg_fail(c, join(buf, where, "adrfam"), "missing");
	if ((ret = val_string(c, v, join(buf, where, "adrfam"), &s)))
		return ret;
	if (strcmp(s, "ipv4") == 0)
		o->adrfam = NVMF_ADRFAM_IPV4;
	else if (strcmp(s, "ipv6") == 0)
		o->adrfam = NVMF_ADRFAM_IPV6;
	else
		return cfg_fail(c, buf, "\"%s\" is not \"ipv4\" or \"ipv6\"", s);

	if (!(v = member(addr, "traddr")))
		return cfg_fail(c, join(buf, where, "traddr"), "missing");
	if ((ret = val_string(c, v, join(buf, where, "traddr"), &s)))
		return ret;
	if (inet_pton(o->adrfam == NVMF_ADRFAM_IPV4 ? AF_INET : AF_INET6, s, sa) != 1)
		return cfg_fail(c, buf, "\"%s\" is not an %s address", s,
				o->adrfam == NVMF_ADRFAM_IPV4 ? "IPv4" : "IPv6");
	snprintf(o->traddr, sizeof(o->traddr), "%s", s);

	if (!(v = member(addr, "trsvcid")))
		return cfg_fail(c, join(buf, where, "trsvcid"), "missing");
	if ((ret = val_uint(c, v, join(buf, where, "trsvcid"), 1, 65535, &port)))
		return ret;
	snprintf(o->trsvcid, sizeof(o->trsvcid), "%llu", (unsigned long long)port);

	if ((v = member(addr, "treq"))) {
		if ((ret = val_string(c, v, join(buf, where, "treq"), &s)))
			return ret;
		if (nvmf_port_treq_parse(s, &o->treq))
			return cfg_fail(c, buf, "\"%s\" is not \"not specified\", \"required\" or \"not required\"", s);
	}
	if ((v = member(addr, "tsas"))) {
		if ((ret = val_string(c, v, join(buf, where, "tsas"), &s)))
			return ret;
		if (!strcmp(s, "tls1.3"))
			o->tls = true;
		else if (strcmp(s, "none") && strcmp(s, "not specified"))
			return cfg_fail(c, buf, "\"%s\" is not \"none\" or \"tls1.3\"", s);
	}
	if (nvmf_port_security_check(o))
		return cfg_fail(c, join(buf, where, "treq"), "\"required\" needs tsas \"tls1.3\"");
	return 0;
}

static int parse_port_param(struct cfg_ctx *c, struct json_object *param, const char *where)
{
	static const char *const known[] = { "pi_enable", "inline_data_size", "max_queue_size",
					     NULL };
	char buf[CFG_WHERE];
	struct json_object *v;
	uint64_t u;
	bool pi;
	int ret;

	if ((ret = check_keys(c, param, where, known, NULL, false)))
		return ret;
	if ((v = member(param, "pi_enable"))) {
		if ((ret = val_bool(c, v, join(buf, where, "pi_enable"), &pi)))
			return ret;
		if (pi)
			return cfg_fail(c, buf, "protection information is not supported");
	}
	/* Fixed by the transport; checked for sanity, then ignored. nvmet writes -1 for unset. */
	if ((v = member(param, "inline_data_size"))) {
		const char *s = json_object_get_string(v);

		if (strcmp(s, "-1") && (ret = val_uint(c, v, join(buf, where, "inline_data_size"),
						       0, UINT32_MAX, &u)))
			return ret;
	}
	if ((v = member(param, "max_queue_size"))) {
		const char *s = json_object_get_string(v);

		if (strcmp(s, "-1") && (ret = val_uint(c, v, join(buf, where, "max_queue_size"), 0,
						       65536, &u)))
			return ret;
	}
	return 0;
}

static int parse_referrals(struct cfg_ctx *c, struct json_object *port, const char *where,
			   struct cfg_port *p)
{
	static const char *const known[] = { "name", "addr", "enable", "portid", NULL };
	struct json_object *arr;
	char item[CFG_WHERE], buf[CFG_WHERE];
	size_t n;
	int ret;

	if ((ret = get_array(c, port, where, "referrals", &arr)) || !arr)
		return ret;
	n = json_object_array_length(arr);
	p->referrals = calloc(n ? n : 1, sizeof(*p->referrals));
	if (!p->referrals)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_array_get_idx(arr, i), *v, *addr;
		struct nvmf_port_opts *ro = &p->referrals[p->n_referrals];
		bool enabled = true;
		uint64_t u;

		join_index(item, where, "referrals", i);
		if ((ret = want_type(c, r, item, json_type_object)) ||
		    (ret = check_keys(c, r, item, known, NULL, true)))
			return ret;
		if ((v = member(r, "enable")) &&
		    (ret = val_bool(c, v, join(buf, item, "enable"), &enabled)))
			return ret;
		if ((ret = get_object(c, r, item, "addr", &addr)))
			return ret;
		if (!addr)
			return cfg_fail(c, join(buf, item, "addr"), "missing");
		if ((ret = parse_addr(c, addr, join(buf, item, "addr"), ro)))
			return ret;
		/* The referred port's ID: addr.portid as nvmetcli writes it, or portid. */
		if ((v = member(addr, "portid"))) {
			if ((ret = val_uint(c, v, join(buf, item, "addr.portid"), 0, UINT16_MAX, &u)))
				return ret;
			ro->portid = (uint16_t)u;
		}
		if ((v = member(r, "portid"))) {
			if ((ret = val_uint(c, v, join(buf, item, "portid"), 0, UINT16_MAX, &u)))
				return ret;
			ro->portid = (uint16_t)u;
		}
		/* A disabled referral is kept in the file by nvmetcli but not served. */
		if (enabled)
			p->n_referrals++;
		else
			memset(ro, 0, sizeof(*ro));
	}
	return 0;
}

/* nvmetcli's "ana_groups": [ { "grpid": N, "ana": { "state": "optimized" } } ]. */
static int parse_ana_groups(struct cfg_ctx *c, struct json_object *port, const char *where, struct cfg_port *p)
{
	static const char *const known[] = { "grpid", "ana", NULL };
	static const char *const ana_known[] = { "state", NULL };
	char item[CFG_WHERE], buf[CFG_WHERE], sbuf[CFG_WHERE];
	struct json_object *arr, *v, *ana;
	const char *name;
	uint64_t g;
	int ret;

	for (unsigned int i = 0; i <= NVMF_ANA_GRP_MAX; i++) {
		p->ana_listed[i] = false;
		p->ana_state[i] = NVME_ANA_INACCESSIBLE;
	}
	p->ana_listed[NVMF_ANA_DEFAULT_GRPID] = true;
	p->ana_state[NVMF_ANA_DEFAULT_GRPID] = NVME_ANA_OPTIMIZED;
	if ((ret = get_array(c, port, where, "ana_groups", &arr)) || !arr)
		return ret;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);

		join_index(item, where, "ana_groups", i);
		if ((ret = want_type(c, o, item, json_type_object)) ||
		    (ret = check_keys(c, o, item, known, NULL, true)))
			return ret;
		if (!(v = member(o, "grpid")))
			return cfg_fail(c, join(buf, item, "grpid"), "missing");
		if ((ret = val_uint(c, v, join(buf, item, "grpid"), 1, NVMF_ANA_GRP_MAX, &g)))
			return ret;
		for (size_t j = 0; j < i; j++) {
			struct json_object *w = member(json_object_array_get_idx(arr, j), "grpid");
			uint64_t h;

			if (w && !val_uint(c, w, buf, 1, NVMF_ANA_GRP_MAX, &h) && h == g)
				return cfg_fail(c, buf, "duplicate ANA group %llu (also %s.ana_groups[%zu])",
						(unsigned long long)g, where, j);
		}
		if ((ret = get_object(c, o, item, "ana", &ana)))
			return ret;
		if (!ana)
			return cfg_fail(c, join(buf, item, "ana"), "missing");
		join(buf, item, "ana");
		if ((ret = check_keys(c, ana, buf, ana_known, NULL, false)))
			return ret;
		if (!(v = member(ana, "state")))
			return cfg_fail(c, join(sbuf, buf, "state"), "missing");
		if ((ret = val_string(c, v, join(sbuf, buf, "state"), &name)))
			return ret;
		if (nvmf_ana_state_parse(name, &p->ana_state[g]))
			return cfg_fail(c, sbuf,
					"unknown ANA state \"%s\" (expected \"optimized\", \"non-optimized\", "
					"\"inaccessible\", \"persistent-loss\" or \"change\")",
					name);
		p->ana_listed[g] = true;
	}
	return 0;
}

/* A namespace's ANA group must exist: group 1, or one that a port lists (as nvmet). */
static int check_ana_groups(struct cfg_ctx *c, const struct cfg *cfg)
{
	char buf[CFG_WHERE];

	for (unsigned int i = 0; i < cfg->n_subsys; i++) {
		for (unsigned int j = 0; j < cfg->subsys[i].n_ns; j++) {
			const struct cfg_ns *ns = &cfg->subsys[i].ns[j];
			bool found = ns->anagrpid <= NVMF_ANA_DEFAULT_GRPID;

			for (unsigned int k = 0; !found && k < cfg->n_ports; k++)
				found = cfg->ports[k].ana_listed[ns->anagrpid];
			if (!found)
				return cfg_fail(c, join(buf, ns->where, "ana_grpid"),
						"ANA group %u is not in any port's ana_groups", ns->anagrpid);
		}
	}
	return 0;
}

static int parse_port(struct cfg_ctx *c, struct json_object *o, size_t index, struct cfg *cfg)
{
	static const char *const known[] = { "portid", "addr", "param", "referrals", "subsystems",
					     "ana_groups", NULL };
	struct cfg_port *p = &cfg->ports[cfg->n_ports];
	char where[CFG_WHERE], buf[CFG_WHERE], item[CFG_WHERE];
	struct json_object *v, *arr;
	uint64_t u;
	size_t n;
	int ret;

	join_index(where, "", "ports", index);
	if ((ret = want_type(c, o, where, json_type_object)) ||
	    (ret = check_keys(c, o, where, known, NULL, true)))
		return ret;
	cfg->n_ports++; /* from here on cfg_free() owns p's arrays */
	if (!(v = member(o, "portid")))
		return cfg_fail(c, join(buf, where, "portid"), "missing");
	if ((ret = val_uint(c, v, join(buf, where, "portid"), 0, UINT16_MAX, &u)))
		return ret;
	p->opts.portid = (uint16_t)u;
	for (unsigned int i = 0; i + 1 < cfg->n_ports; i++)
		if (cfg->ports[i].opts.portid == p->opts.portid)
			return cfg_fail(c, buf, "duplicate portid %u (also ports[%u])",
					p->opts.portid, i);

	if ((ret = get_object(c, o, where, "addr", &v)))
		return ret;
	if (!v)
		return cfg_fail(c, join(buf, where, "addr"), "missing");
	if ((ret = parse_addr(c, v, join(buf, where, "addr"), &p->opts)))
		return ret;
	for (unsigned int i = 0; i + 1 < cfg->n_ports; i++) {
		const struct nvmf_port_opts *q = &cfg->ports[i].opts;

		if (q->adrfam == p->opts.adrfam && !strcmp(q->traddr, p->opts.traddr) &&
		    !strcmp(q->trsvcid, p->opts.trsvcid))
			return cfg_fail(c, buf, "%s:%s is already used by ports[%u]", p->opts.traddr,
					p->opts.trsvcid, i);
	}

	if ((ret = get_object(c, o, where, "param", &v)))
		return ret;
	if (v && (ret = parse_port_param(c, v, join(buf, where, "param"))))
		return ret;

	if ((ret = parse_referrals(c, o, where, p)))
		return ret;
	if ((ret = parse_ana_groups(c, o, where, p)))
		return ret;

	if ((ret = get_array(c, o, where, "subsystems", &arr)))
		return ret;
	n = arr ? json_object_array_length(arr) : 0;
	p->subsys = calloc(n ? n : 1, sizeof(*p->subsys));
	if (!p->subsys)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *nqn;
		unsigned int k;

		join_index(item, where, "subsystems", i);
		if ((ret = val_string(c, json_object_array_get_idx(arr, i), item, &nqn)))
			return ret;
		for (k = 0; k < cfg->n_subsys; k++)
			if (strcmp(cfg->subsys[k].nqn, nqn) == 0)
				break;
		if (k == cfg->n_subsys)
			return cfg_fail(c, item, "unknown subsystem \"%s\"", nqn);
		for (unsigned int j = 0; j < p->n_subsys; j++)
			if (p->subsys[j] == k)
				return cfg_fail(c, item, "duplicate subsystem \"%s\"", nqn);
		p->subsys[p->n_subsys++] = k;
	}
	return 0;
}

/* Line and column (1-based) of byte `offset`, for syntax errors. */
static void text_position(const char *text, size_t offset, unsigned int *line, unsigned int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < offset && text[i]; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static int cfg_parse_json(struct cfg_ctx *c, const char *text, size_t len,
			  struct json_object **out)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root;
	enum json_tokener_error jerr;
	unsigned int line, col;
	size_t end;

	if (!tok)
		return -ENOMEM;
	/* Strict: standard JSON only, and nothing but white space after the document. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_continue) {
		json_object_put(root);
		text_position(text, len, &line, &col);
		snprintf(c->err, c->errlen, "%s:%u:%u: JSON syntax error: unexpected end of file",
			 c->file, line, col);
		return -EINVAL;
	}
	if (jerr != json_tokener_success) {
		text_position(text, end, &line, &col);
		snprintf(c->err, c->errlen, "%s:%u:%u: JSON syntax error: %s", c->file, line, col,
			 json_tokener_error_desc(jerr));
		return -EINVAL;
	}
	if (!json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return cfg_fail(c, NULL, "the top level must be an object with \"hosts\", \"ports\" "
					 "and \"subsystems\"");
	}
	*out = root;
	return 0;
}

/* Phase 1 on a JSON document: validated cfg. On error cfg holds nothing. */
static int cfg_parse_root(struct cfg_ctx *c, struct json_object *root, struct cfg *cfg)
{
	static const char *const known[] = { "hosts", "ports", "subsystems", NULL };
	struct json_object *arr;
	size_t n;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	{
		struct json_object_iterator it = json_object_iter_begin(root);
		struct json_object_iterator end = json_object_iter_end(root);

		for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
			const char *key = json_object_iter_peek_name(&it);

			if (!in_list(key, known)) {
				ret = cfg_fail(c, key, "unknown key (expected \"hosts\", \"ports\", "
						       "\"subsystems\")");
				goto out;
			}
		}
	}
	if ((ret = parse_hosts(c, root, cfg)))
		goto out;

	if ((ret = get_array(c, root, "", "subsystems", &arr)))
		goto out;
	n = arr ? json_object_array_length(arr) : 0;
	cfg->subsys = calloc(n ? n : 1, sizeof(*cfg->subsys));
	if (!cfg->subsys) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if ((ret = parse_subsys(c, json_object_array_get_idx(arr, i), i, cfg)))
			goto out;

	if ((ret = get_array(c, root, "", "ports", &arr)))
		goto out;
	n = arr ? json_object_array_length(arr) : 0;
	cfg->ports = calloc(n ? n : 1, sizeof(*cfg->ports));
	if (!cfg->ports) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if ((ret = parse_port(c, json_object_array_get_idx(arr, i), i, cfg)))
			goto out;
	ret = check_ana_groups(c, cfg);
out:
	if (ret == -ENOMEM)
		cfg_fail(c, NULL, "out of memory");
	if (ret)
		cfg_free(cfg);
	return ret;
}

/* Phase 1: text -> validated cfg. On error cfg holds nothing. */
static int cfg_parse(struct cfg_ctx *c, const char *text, size_t len, struct cfg *cfg)
{
	struct json_object *root = NULL;
	int ret;

	memset(cfg, 0, sizeof(*cfg));
	if ((ret = cfg_parse_json(c, text, len, &root)))
		return ret;
	ret = cfg_parse_root(c, root, cfg);
	json_object_put(root);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Phase 2: open every backend                                         */

static int cfg_open_backends(struct cfg_ctx *c, struct cfg *cfg)
{
	for (unsigned int i = 0; i < cfg->n_subsys; i++) {
		struct cfg_subsys *s = &cfg->subsys[i];

		for (unsigned int j = 0; j < s->n_ns; j++) {
			struct cfg_ns *ns = &s->ns[j];
			char berr[256], buf[CFG_WHERE];
			int ret = backend_open(&ns->bopts, &ns->be, berr, sizeof(berr));

			if (ret < 0) {
				ns->be = NULL;
				cfg_fail(c, join(buf, ns->where, ns->bopts.path ? "device.path" : "device.size"),
					 "%s", berr);
				return ret;
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Phase 3: build the target                                           */

static int apply_fail(struct cfg_ctx *c, const char *where, int ret, const char *what)
{
	cfg_fail(c, where, "%s: %s", what, strerror(-ret));
	return ret;
}

/* Bring port's ANA groups from old's (NULL: a fresh port) to new's. */
static int port_apply_ana(struct nvmf_port *port, const struct cfg_port *old, const struct cfg_port *new)
{
	int ret;

	for (uint32_t g = 1; g <= NVMF_ANA_GRP_MAX; g++) {
		/* A gateway group's lease decides these (gateway_group.c). */
		if (nvmf_port_ana_managed(port, g))
			continue;
		if (new->ana_listed[g]) {
			if (old && old->ana_listed[g] && old->ana_state[g] == new->ana_state[g])
				continue;
			if (!old && g == NVMF_ANA_DEFAULT_GRPID && new->ana_state[g] == NVME_ANA_OPTIMIZED)
				continue;
			if ((ret = nvmf_port_set_ana_state(port, g, new->ana_state[g])))
				return ret;
		} else if (old && old->ana_listed[g] && (ret = nvmf_port_clear_ana_group(port, g))) {
			return ret;
		}
	}
	return 0;
}

static int cfg_apply(struct cfg_ctx *c, struct cfg *cfg, struct nvmf_tgt *tgt)
{
	struct nvmf_subsys **subsys = calloc(cfg->n_subsys ? cfg->n_subsys : 1, sizeof(*subsys));
	char where[CFG_WHERE], buf[CFG_WHERE];
	int ret = 0;

	if (!subsys)
		return apply_fail(c, NULL, -ENOMEM, "cannot build the target");
	for (unsigned int i = 0; i < cfg->n_hosts; i++) {
		if (cfg->host_tls[i].set &&
		    (ret = nvmf_tgt_set_host_tls_key(tgt, cfg->hosts[i], &cfg->host_tls[i].key,
						     cfg->host_tls[i].kdf)) < 0) {
			join_index(where, "", "hosts", i);
			apply_fail(c, join(buf, where, "tls_key"), ret, "cannot set the host's TLS key");
			goto out;
		}
		if (!cfg->host_dhchap[i].key[0])
			continue;
		if ((ret = nvmf_tgt_set_host_dhchap(tgt, cfg->hosts[i], &cfg->host_dhchap[i], NULL)) < 0) {
			join_index(where, "", "hosts", i);
			apply_fail(c, join(buf, where, "dhchap"), ret, "cannot set the host's keys");
			goto out;
		}
	}
	for (unsigned int i = 0; i < cfg->n_subsys; i++) {
		struct cfg_subsys *s = &cfg->subsys[i];

		join_index(where, "", "subsystems", i);
		if ((ret = nvmf_subsys_create(tgt, s->nqn, &subsys[i])) < 0) {
			apply_fail(c, join(buf, where, "nqn"), ret, "cannot create the subsystem");
			goto out;
		}
		if ((*s->serial || *s->model) &&
		    (ret = nvmf_subsys_set_ident(subsys[i], *s->serial ? s->serial : NULL,
						 *s->model ? s->model : NULL)) < 0) {
			apply_fail(c, join(buf, where, "attr"), ret, "cannot set serial/model");
			goto out;
		}
		if ((ret = nvmf_subsys_set_cntlid_range(subsys[i], cfg_cntlid_min(s), cfg_cntlid_max(s))) < 0) {
			apply_fail(c, join(buf, where, "attr"), ret, "cannot set the controller ID range");
			goto out;
		}
		nvmf_subsys_set_allow_any_host(subsys[i], s->allow_any_host);
		nvmf_subsys_set_monitor(subsys[i], s->monitor);
		for (unsigned int j = 0; j < s->n_hosts; j++) {
			if ((ret = nvmf_subsys_add_host(subsys[i], s->hosts[j])) < 0) {
				apply_fail(c, join_index(buf, where, "allowed_hosts", j), ret,
					   "cannot allow the host");
				goto out;
			}
		}
		for (unsigned int j = 0; j < s->n_ns; j++) {
			struct cfg_ns *ns = &s->ns[j];
			struct nvmf_ns_opts opts = {
				.nsid = ns->nsid,
				.backend = ns->be,
				.enabled = ns->enabled,
				.anagrpid = ns->anagrpid,
			};

			memcpy(opts.uuid, ns->uuid, 16);
			memcpy(opts.nguid, ns->nguid, 16);
			if ((ret = nvmf_subsys_add_ns(subsys[i], &opts, NULL)) < 0) {
				apply_fail(c, ns->where, ret, "cannot add the namespace");
				goto out;
			}
			ns->be = NULL; /* the namespace owns it now */
		}
	}
	for (unsigned int i = 0; i < cfg->n_ports; i++) {
		struct cfg_port *p = &cfg->ports[i];
		struct nvmf_port *port;

		join_index(where, "", "ports", i);
		if ((ret = nvmf_port_create(tgt, &p->opts, &port)) < 0) {
			apply_fail(c, where, ret, "cannot create the port");
			goto out;
		}
		for (unsigned int j = 0; j < p->n_subsys; j++) {
			if ((ret = nvmf_port_add_subsys(port, subsys[p->subsys[j]])) < 0) {
				apply_fail(c, join_index(buf, where, "subsystems", j), ret,
					   "cannot export the subsystem");
				goto out;
			}
		}
		for (unsigned int j = 0; j < p->n_referrals; j++) {
			if ((ret = nvmf_port_add_referral(port, &p->referrals[j])) < 0) {
				apply_fail(c, join_index(buf, where, "referrals", j), ret,
					   "cannot add the referral");
				goto out;
			}
		}
		if ((ret = port_apply_ana(port, NULL, p)) < 0) {
			apply_fail(c, join(buf, where, "ana_groups"), ret, "cannot set the ANA states");
			goto out;
		}
	}
out:
	free(subsys);
	return ret < 0 ? ret : 0;
}

static int read_text(struct cfg_ctx *c, const char *path, char **out, size_t *len)
{
	struct stat st;
	char *text;
	size_t done = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		cfg_fail(c, NULL, "%s", strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		cfg_fail(c, NULL, "%s", strerror(-ret));
		return ret;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > CFG_MAX_FILE) {
		ret = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		close(fd);
		cfg_fail(c, NULL, "not a regular file of at most %u bytes", CFG_MAX_FILE);
		return ret;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		cfg_fail(c, NULL, "out of memory");
		return -ENOMEM;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, text + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			close(fd);
			free(text);
			cfg_fail(c, NULL, "read failed: %s", strerror(-ret));
			return ret;
		}
		done += (size_t)n;
	}
	close(fd);
	text[done] = '\0';
	*out = text;
	*len = done;
	return 0;
}

/* Secrets belong in a file only its owner can read. */
static void cfg_check_secret_mode(const char *path, const struct cfg *cfg)
{
	struct stat st;
	bool secrets = false;

	for (unsigned int i = 0; i < cfg->n_hosts && !secrets; i++)
		secrets = cfg->host_dhchap[i].key[0] != '\0' || cfg->host_tls[i].set;
	if (secrets && stat(path, &st) == 0 && (st.st_mode & 077))
		log_warn("config", "%s holds host keys but is readable by group or others (mode %04o); "
				   "chmod 600 it",
			 path, (unsigned int)(st.st_mode & 07777));
}

int nvmf_config_load(struct nvmf_tgt *tgt, const char *path, char *err, size_t errlen)
{
	struct cfg_ctx c = { .file = path, .err = err, .errlen = errlen };
	struct cfg cfg;
	char *text = NULL;
	size_t len = 0;
	int ret;

	if (errlen)
		err[0] = '\0';
	if ((ret = read_text(&c, path, &text, &len)))
		return ret;
	ret = cfg_parse(&c, text, len, &cfg);
	dhchap_wipe(text, len); /* it may hold secrets */
	free(text);
	if (ret)
		return ret;
	cfg_check_secret_mode(path, &cfg);
	ret = cfg_open_backends(&c, &cfg);
	if (ret == 0)
		ret = cfg_apply(&c, &cfg, tgt);
	if (ret == 0)
		log_notice("config", "%s: %u subsystem(s), %u port(s) configured", path,
			   cfg.n_subsys, cfg.n_ports);
	cfg_free(&cfg);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Save                                                                */

static struct json_object *jstr(const char *s)
{
	return json_object_new_string(s ? s : "");
}

static const char *snap_str(struct json_object *o, const char *key)
{
	struct json_object *v = member(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int64_t snap_int(struct json_object *o, const char *key)
{
	struct json_object *v = member(o, key);

	return v ? json_object_get_int64(v) : 0;
}

static bool snap_bool(struct json_object *o, const char *key)
{
	struct json_object *v = member(o, key);

	return v && json_object_get_boolean(v);
}

static struct json_object *snap_array(struct json_object *o, const char *key)
{
	struct json_object *v = member(o, key);

	return v && json_object_is_type(v, json_type_array) ? v : NULL;
}

static struct json_object *save_addr(struct json_object *snap_port, bool referral)
{
	struct json_object *addr = json_object_new_object();
	char portid[8];

	/* Keys in the order nvmetcli writes them (sorted). */
	json_object_object_add(addr, "adrfam", jstr(snap_str(snap_port, "adrfam")));
	if (referral) {
		snprintf(portid, sizeof(portid), "%u", (unsigned int)(uint16_t)snap_int(snap_port, "portid"));
		json_object_object_add(addr, "portid", jstr(portid));
	}
	json_object_object_add(addr, "traddr", jstr(snap_str(snap_port, "traddr")));
	json_object_object_add(addr, "treq", jstr(snap_str(snap_port, "treq") ? snap_str(snap_port, "treq")
									       : "not specified"));
	json_object_object_add(addr, "trsvcid", jstr(snap_str(snap_port, "trsvcid")));
	json_object_object_add(addr, "trtype", jstr("tcp"));
	if (snap_str(snap_port, "tsas") && strcmp(snap_str(snap_port, "tsas"), "none"))
		json_object_object_add(addr, "tsas", jstr(snap_str(snap_port, "tsas")));
	return addr;
}

/* NGUIDs too in the 8-4-4-4-12 form nvmetcli writes. */
static struct json_object *save_id(const char *s)
{
	uint8_t id[16];
	char out[37];

	if (!s || parse_id(s, id) < 0)
		return jstr(s);
	snprintf(out, sizeof(out),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", id[0], id[1],
		 id[2], id[3], id[4], id[5], id[6], id[7], id[8], id[9], id[10], id[11], id[12], id[13],
		 id[14], id[15]);
	return jstr(out);
}

static struct json_object *save_ns(struct json_object *sn)
{
	struct json_object *ns = json_object_new_object();
	struct json_object *dev = json_object_new_object();
	const char *path = snap_str(sn, "path");
	int64_t bs = snap_int(sn, "block_size");
	char size[24], bsz[24];

	if (bs && bs != 512) {
		snprintf(bsz, sizeof(bsz), "%lld", (long long)bs);
		json_object_object_add(dev, "block_size", jstr(bsz));
	}
	json_object_object_add(dev, "nguid", save_id(snap_str(sn, "nguid")));
	json_object_object_add(dev, "path", jstr(path));
	if (snap_bool(sn, "read_only"))
		json_object_object_add(dev, "read_only", jstr("1"));
	if (snap_bool(sn, "preallocated"))
		json_object_object_add(dev, "preallocate", jstr("1"));
	/* RAM (no path): the size is all there is to recreate it. A file's size
	 * is not written: a vanished file must fail to load, not come back empty. */
	if (!path || !*path) {
		snprintf(size, sizeof(size), "%lld", (long long)snap_int(sn, "size"));
		json_object_object_add(dev, "size", jstr(size));
	}
	json_object_object_add(dev, "uuid", save_id(snap_str(sn, "uuid")));

	json_object_object_add(ns, "ana_grpid", json_object_new_int64(snap_int(sn, "ana_grpid")));
	if (snap_str(sn, "ceph_conf") || snap_str(sn, "ceph_id")) {
		struct json_object *ceph = json_object_new_object();

		if (snap_str(sn, "ceph_conf"))
			json_object_object_add(ceph, "conf", jstr(snap_str(sn, "ceph_conf")));
		if (snap_str(sn, "ceph_id"))
			json_object_object_add(ceph, "id", jstr(snap_str(sn, "ceph_id")));
		json_object_object_add(ns, "ceph", ceph);
	}
	json_object_object_add(ns, "device", dev);
	json_object_object_add(ns, "enable", json_object_new_int(snap_bool(sn, "enabled") ? 1 : 0));
	json_object_object_add(ns, "nsid", json_object_new_int64(snap_int(sn, "nsid")));
	return ns;
}

/*
 * nvmetcli's form: [ { "ana": { "state": "optimized" }, "grpid": 1 } ]. A
 * gateway group's groups (gw_groups, from the snapshot) are saved as this
 * member prefers them, not as the leases happen to be held right now.
 */
static struct json_object *save_ana_groups(struct json_object *snap_groups, struct json_object *gw_groups)
{
	struct json_object *out = json_object_new_array();

	for (size_t i = 0; snap_groups && i < json_object_array_length(snap_groups); i++) {
		struct json_object *sg = json_object_array_get_idx(snap_groups, i);
		struct json_object *g = json_object_new_object();
		struct json_object *ana = json_object_new_object();
		const char *state = snap_str(sg, "state");

		for (size_t k = 0; gw_groups && k < json_object_array_length(gw_groups); k++) {
			struct json_object *gg = json_object_array_get_idx(gw_groups, k), *pref;

			if (snap_int(gg, "grpid") == snap_int(sg, "grpid") &&
			    json_object_object_get_ex(gg, "preferred", &pref))
				state = json_object_get_boolean(pref) ? "optimized" : "inaccessible";
		}
		json_object_object_add(ana, "state", jstr(state));
		json_object_object_add(g, "ana", ana);
		json_object_object_add(g, "grpid", json_object_new_int64(snap_int(sg, "grpid")));
		json_object_array_add(out, g);
	}
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_json_str(const void *a, const void *b)
{
	return strcmp(json_object_get_string(*(struct json_object *const *)a),
		      json_object_get_string(*(struct json_object *const *)b));
}

/* A host entry as nvmetcli writes it, with its DH-HMAC-CHAP keys if any. */
static struct json_object *save_host(struct nvmf_tgt *tgt, const char *nqn)
{
	struct json_object *h = json_object_new_object();
	char text[NVME_TLS_KEY_STR_MAX];
	struct nvmf_dhchap_cfg d;
	struct nvme_tls_key key;
	unsigned int kdf;

	if (tgt && nvmf_tgt_get_host_dhchap(tgt, nqn, &d) == 0) {
		struct json_object *dh = json_object_new_object();

		json_object_object_add(dh, "ctrl_key", jstr(d.ctrl_key));
		json_object_object_add(dh, "dhgroup", jstr(d.dhgroup[0] ? d.dhgroup : "null"));
		json_object_object_add(dh, "hash", jstr(d.hash[0] ? d.hash : "hmac(sha256)"));
		json_object_object_add(dh, "key", jstr(d.key));
		json_object_object_add(h, "dhchap", dh);
		nvmf_dhchap_cfg_wipe(&d);
	}
	json_object_object_add(h, "nqn", jstr(nqn));
	if (tgt && nvmf_tgt_get_host_tls_key(tgt, nqn, &key, &kdf) == 0) {
		if (nvme_tls_key_format(&key, text, sizeof(text)) == 0) {
			json_object_object_add(h, "tls_key", jstr(text));
			if (kdf == NVME_TLS_KDF_RFC8446)
				json_object_object_add(h, "tls_kdf", jstr("rfc8446"));
		}
		nvme_tls_key_clear(&key);
		explicit_bzero(text, sizeof(text));
	}
	return h;
}

/* snapshot (target.h) -> nvmetcli document */
static struct json_object *cfg_from_snapshot(struct json_object *snap, struct nvmf_tgt *tgt)
{
	struct json_object *root = json_object_new_object();
	struct json_object *hosts = json_object_new_array();
	struct json_object *ports = json_object_new_array();
	struct json_object *subs = json_object_new_array();
	struct json_object *a = snap_array(snap, "subsystems");
	struct json_object *gw = NULL, *gw_groups = NULL;
	const char **names = NULL;
	size_t n_names = 0, cap = 0;
	bool oom = false;

	if (json_object_object_get_ex(snap, "gateway_group", &gw))
		gw_groups = snap_array(gw, "groups");
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *ss = json_object_array_get_idx(a, i);
		const char *nqn = snap_str(ss, "nqn");
		struct json_object *s, *attr, *allowed, *nss, *h, *na;

		if (!nqn || strcmp(nqn, NVME_DISC_NQN) == 0)
			continue;
		s = json_object_new_object();
		attr = json_object_new_object();
		allowed = json_object_new_array();
		nss = json_object_new_array();

		h = snap_array(ss, "hosts");
		for (size_t j = 0; h && j < json_object_array_length(h); j++) {
			const char *hn = json_object_get_string(json_object_array_get_idx(h, j));
			bool seen = false;

			json_object_array_add(allowed, jstr(hn));
			for (size_t k = 0; k < n_names && !seen; k++)
				seen = strcmp(names[k], hn) == 0;
			if (seen)
				continue;
			if (n_names == cap) {
				const char **nn = realloc(names, (cap ? cap * 2 : 16) * sizeof(*nn));

				if (!nn) {
					oom = true;
					break;
				}
				names = nn;
				cap = cap ? cap * 2 : 16;
			}
			names[n_names++] = hn;
		}
		/* Sorted, so the same target always saves to the same text. */
		json_object_array_sort(allowed, cmp_json_str);
		json_object_object_add(attr, "allow_any_host",
				       jstr(snap_bool(ss, "allow_any_host") ? "1" : "0"));
		/* Only a range narrower than nvmet's default is worth writing. */
		if (snap_int(ss, "cntlid_min") > 1 || (snap_int(ss, "cntlid_max") && snap_int(ss, "cntlid_max") < 0xffef)) {
			char v[8];

			snprintf(v, sizeof(v), "%u", (unsigned int)snap_int(ss, "cntlid_max"));
			json_object_object_add(attr, "cntlid_max", jstr(v));
			snprintf(v, sizeof(v), "%u", (unsigned int)snap_int(ss, "cntlid_min"));
			json_object_object_add(attr, "cntlid_min", jstr(v));
		}
		json_object_object_add(attr, "model", jstr(snap_str(ss, "model")));
		if (snap_bool(ss, "monitor"))
			json_object_object_add(attr, "monitor", jstr("1"));
		json_object_object_add(attr, "serial", jstr(snap_str(ss, "serial")));

		na = snap_array(ss, "namespaces");
		for (size_t j = 0; na && j < json_object_array_length(na); j++)
			json_object_array_add(nss, save_ns(json_object_array_get_idx(na, j)));

		json_object_object_add(s, "allowed_hosts", allowed);
		json_object_object_add(s, "attr", attr);
		json_object_object_add(s, "namespaces", nss);
		json_object_object_add(s, "nqn", jstr(nqn));
		json_object_array_add(subs, s);
	}

	/* Hosts with keys are kept even when no subsystem lists them. */
	a = snap_array(snap, "hosts");
	for (size_t i = 0; !oom && a && i < json_object_array_length(a); i++) {
		struct json_object *sh = json_object_array_get_idx(a, i);
		const char *hn = snap_str(sh, "nqn");
		bool seen = false;

		if (!hn || (!snap_bool(sh, "dhchap_key") && !snap_bool(sh, "tls_key")))
			continue;
		for (size_t k = 0; k < n_names && !seen; k++)
			seen = strcmp(names[k], hn) == 0;
		if (seen)
			continue;
		if (n_names == cap) {
			const char **nn = realloc(names, (cap ? cap * 2 : 16) * sizeof(*nn));

			if (!nn) {
				oom = true;
				break;
			}
			names = nn;
			cap = cap ? cap * 2 : 16;
		}
		names[n_names++] = hn;
	}
	if (n_names)
		qsort(names, n_names, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n_names; i++)
		json_object_array_add(hosts, save_host(tgt, names[i]));
	free(names);

	a = snap_array(snap, "ports");
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *sp = json_object_array_get_idx(a, i);
		struct json_object *p = json_object_new_object();
		struct json_object *refs = json_object_new_array();
		struct json_object *names_arr = json_object_new_array();
		struct json_object *r = snap_array(sp, "referrals");
		struct json_object *ps = snap_array(sp, "subsystems");

		for (size_t j = 0; r && j < json_object_array_length(r); j++) {
			struct json_object *sr = json_object_array_get_idx(r, j);
			struct json_object *ref = json_object_new_object();
			char name[24];

			snprintf(name, sizeof(name), "%zu", j + 1);
			json_object_object_add(ref, "addr", save_addr(sr, true));
			json_object_object_add(ref, "enable", json_object_new_int(1));
			json_object_object_add(ref, "name", jstr(name));
			json_object_array_add(refs, ref);
		}
		for (size_t j = 0; ps && j < json_object_array_length(ps); j++)
			json_object_array_add(names_arr,
					      jstr(json_object_get_string(json_object_array_get_idx(ps, j))));

		json_object_object_add(p, "addr", save_addr(sp, false));
		json_object_object_add(p, "ana_groups", save_ana_groups(snap_array(sp, "ana_groups"), gw_groups));
		json_object_object_add(p, "param", json_object_new_object());
		json_object_object_add(p, "portid", json_object_new_int64(snap_int(sp, "portid")));
		json_object_object_add(p, "referrals", refs);
		json_object_object_add(p, "subsystems", names_arr);
		json_object_array_add(ports, p);
	}

	json_object_object_add(root, "hosts", hosts);
	json_object_object_add(root, "ports", ports);
	json_object_object_add(root, "subsystems", subs);
	if (oom) {
		json_object_put(root);
		return NULL;
	}
	return root;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Replace `path` with `text` so that a crash leaves either the old or the new file. */
static int write_atomic(struct cfg_ctx *c, const char *path, const char *text)
{
	char *tmp = NULL, *dir_copy = NULL;
	int fd = -1, dfd, ret;

	if (asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		ret = -ENOMEM;
		cfg_fail(c, NULL, "out of memory");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		cfg_fail(c, NULL, "cannot create %s: %s", tmp, strerror(-ret));
		goto out;
	}
	if ((ret = write_all(fd, text, strlen(text))) || (ret = write_all(fd, "\n", 1))) {
		cfg_fail(c, NULL, "cannot write %s: %s", tmp, strerror(-ret));
		goto out_unlink;
	}
	if (fsync(fd) < 0) {
		ret = -errno;
		cfg_fail(c, NULL, "cannot sync %s: %s", tmp, strerror(-ret));
		goto out_unlink;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		cfg_fail(c, NULL, "cannot rename %s: %s", tmp, strerror(-ret));
		goto out_unlink;
	}
	/* Make the rename itself durable. */
	dir_copy = strdup(path);
	if (dir_copy && (dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(dfd) < 0)
			log_warn("config", "%s: syncing the directory failed: %s", path,
				 strerror(errno));
		close(dfd);
	}
	ret = 0;
	goto out;

out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(dir_copy);
	free(tmp);
	return ret;
}

int nvmf_config_save(struct nvmf_tgt *tgt, const char *path, char *err, size_t errlen)
{
	struct cfg_ctx c = { .file = path, .err = err, .errlen = errlen };
	struct json_object *snap, *doc;
	const char *text;
	int ret;

	if (errlen)
		err[0] = '\0';
	snap = nvmf_tgt_snapshot(tgt);
	if (!snap) {
		cfg_fail(&c, NULL, "cannot take a snapshot of the target");
		return -ENOMEM;
	}
	doc = cfg_from_snapshot(snap, tgt);
	text = doc ? json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
								 JSON_C_TO_STRING_SPACED |
								 JSON_C_TO_STRING_NOSLASHESCAPE)
		   : NULL;
	ret = text ? write_atomic(&c, path, text) : -ENOMEM;
	if (!text)
		cfg_fail(&c, NULL, "out of memory");
	json_object_put(doc);
	json_object_put(snap);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Reload and check: a plan from one configuration to another          */

/*
 * The running target is read back as a cfg (snapshot -> nvmetcli document
 * -> the same parser), so "what runs" and "what the file says" compare in
 * one form. The plan is a list of steps in an order that keeps every
 * intermediate state valid: keys before the hosts they guard are allowed,
 * removals before additions that could collide, subsystems before the
 * ports that export them.
 */
enum plan_op {
	PLAN_SET_HOST_KEYS, /* new_cfg->hosts[host] */
	PLAN_REMOVE_PORT, /* old_port */
	PLAN_REMOVE_SUBSYS, /* old_s */
	PLAN_ADD_SUBSYS, /* new_s, with its attributes */
	PLAN_SET_SUBSYS_ATTR, /* new_s: allow_any_host, monitor, serial, model */
	PLAN_ALLOW_HOST, /* new_s, host_nqn */
	PLAN_REMOVE_NS, /* new_s (kept), nsid */
	PLAN_ADD_NS, /* new_s, ns */
	PLAN_DISALLOW_HOST, /* new_s, host_nqn */
	PLAN_ADD_PORT, /* new_port, with its referrals */
	PLAN_LINK, /* new_port, nqn */
	PLAN_UNLINK, /* new_port, nqn */
	PLAN_CLEAR_HOST_KEYS, /* host_nqn */
	PLAN_SET_NS_ANA, /* new_s, ns: its ANA group */
	PLAN_SET_PORT_ANA, /* old_port -> new_port: ANA groups and states */
};

struct plan_step {
	enum plan_op op;
	const struct cfg_subsys *new_s;
	const struct cfg_subsys *old_s;
	struct cfg_ns *ns;
	uint32_t nsid;
	const char *host_nqn;
	int host; /* index into the new cfg's hosts */
	const struct cfg_port *new_port;
	const struct cfg_port *old_port;
	const char *nqn;
	bool changed; /* removal of something that comes back changed */
	bool skip; /* what it builds on failed to be applied */
};

struct plan {
	struct plan_step *steps;
	unsigned int n, cap;
};

static void plan_free(struct plan *p)
{
	free(p->steps);
	memset(p, 0, sizeof(*p));
}

static int plan_add(struct plan *p, struct plan_step step)
{
	if (p->n == p->cap) {
		unsigned int cap = p->cap ? p->cap * 2 : 16;
		struct plan_step *s = realloc(p->steps, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		p->steps = s;
		p->cap = cap;
	}
	p->steps[p->n++] = step;
	return 0;
}

static int host_index(const struct cfg *cfg, const char *nqn)
{
	for (unsigned int i = 0; i < cfg->n_hosts; i++)
		if (strcmp(cfg->hosts[i], nqn) == 0)
			return (int)i;
	return -1;
}

static const struct cfg_subsys *subsys_by_nqn(const struct cfg *cfg, const char *nqn)
{
	for (unsigned int i = 0; i < cfg->n_subsys; i++)
		if (strcmp(cfg->subsys[i].nqn, nqn) == 0)
			return &cfg->subsys[i];
	return NULL;
}

static const struct cfg_port *port_by_id(const struct cfg *cfg, uint16_t portid)
{
	for (unsigned int i = 0; i < cfg->n_ports; i++)
		if (cfg->ports[i].opts.portid == portid)
			return &cfg->ports[i];
	return NULL;
}

static bool port_links(const struct cfg *cfg, const struct cfg_port *p, const char *nqn)
{
	for (unsigned int i = 0; i < p->n_subsys; i++)
		if (strcmp(cfg->subsys[p->subsys[i]].nqn, nqn) == 0)
			return true;
	return false;
}

/* What is saved for "any" (see save_host) compares equal to it. */
static bool host_dhchap_equal(const struct nvmf_dhchap_cfg *a, const struct nvmf_dhchap_cfg *b)
{
	const char *ga = a->dhgroup[0] ? a->dhgroup : "null", *gb = b->dhgroup[0] ? b->dhgroup : "null";
	const char *ha = a->hash[0] ? a->hash : "hmac(sha256)", *hb = b->hash[0] ? b->hash : "hmac(sha256)";

	if (!a->key[0] && !b->key[0])
		return true;
	return !strcmp(a->key, b->key) && !strcmp(a->ctrl_key, b->ctrl_key) && !strcmp(ga, gb) &&
	       !strcmp(ha, hb);
}

static bool host_tls_equal(const struct cfg_host_tls *a, const struct cfg_host_tls *b)
{
	if (!a->set || !b->set)
		return a->set == b->set;
	return a->kdf == b->kdf && a->key.hmac == b->key.hmac && a->key.len == b->key.len &&
	       memcmp(a->key.key, b->key.key, a->key.len) == 0;
}

static bool port_opts_equal(const struct nvmf_port_opts *a, const struct nvmf_port_opts *b)
{
	return a->portid == b->portid && a->adrfam == b->adrfam && !strcmp(a->traddr, b->traddr) &&
	       !strcmp(a->trsvcid, b->trsvcid) && a->tls == b->tls && a->treq == b->treq;
}

static bool port_equal(const struct cfg_port *a, const struct cfg_port *b)
{
	if (!port_opts_equal(&a->opts, &b->opts) || a->n_referrals != b->n_referrals)
		return false;
	for (unsigned int i = 0; i < a->n_referrals; i++)
		if (!port_opts_equal(&a->referrals[i], &b->referrals[i]))
			return false;
	return true;
}

/*
 * The running namespace (old, read back) matches the file's (new)? What
 * the file leaves open (no UUID, no block size) matches whatever the
 * target chose.
 */
static bool str_eq_null(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool ns_equal(const struct cfg_ns *old, const struct cfg_ns *new)
{
	const char *po = old->bopts.path ? old->bopts.path : "", *pn = new->bopts.path ? new->bopts.path : "";
	uint32_t bo = old->bopts.block_size ? old->bopts.block_size : 512;

	if (strcmp(po, pn) || old->enabled != new->enabled || old->bopts.read_only != new->bopts.read_only)
		return false;
	if (!str_eq_null(old->bopts.ceph_conf, new->bopts.ceph_conf) ||
	    !str_eq_null(old->bopts.ceph_id, new->bopts.ceph_id))
		return false;
	if (!*pn && (old->bopts.size != new->bopts.size || old->bopts.preallocate != new->bopts.preallocate))
		return false;
	if (new->bopts.block_size && new->bopts.block_size != bo)
		return false;
	if (!id_zero(new->uuid) && memcmp(old->uuid, new->uuid, 16))
		return false;
	if (!id_zero(new->nguid) && memcmp(old->nguid, new->nguid, 16))
		return false;
	return true;
}

static uint32_t ns_grpid(const struct cfg_ns *ns)
{
	return ns->anagrpid ? ns->anagrpid : NVMF_ANA_DEFAULT_GRPID;
}

static bool port_ana_equal(const struct cfg_port *a, const struct cfg_port *b)
{
	for (unsigned int g = 1; g <= NVMF_ANA_GRP_MAX; g++)
		if (a->ana_listed[g] != b->ana_listed[g] || (a->ana_listed[g] && a->ana_state[g] != b->ana_state[g]))
			return false;
	return true;
}

static const struct cfg_ns *ns_by_id(const struct cfg_subsys *s, uint32_t nsid)
{
	for (unsigned int i = 0; i < s->n_ns; i++)
		if (s->ns[i].nsid == nsid)
			return &s->ns[i];
	return NULL;
}

static bool attr_changed(const struct cfg_subsys *old, const struct cfg_subsys *new)
{
	return old->allow_any_host != new->allow_any_host || old->monitor != new->monitor ||
	       cfg_cntlid_min(old) != cfg_cntlid_min(new) || cfg_cntlid_max(old) != cfg_cntlid_max(new) ||
	       (new->serial[0] && strcmp(old->serial, new->serial)) ||
	       (new->model[0] && strcmp(old->model, new->model));
}

#define PLAN(...) \
	do { \
		if ((ret = plan_add(p, (struct plan_step){ __VA_ARGS__ }))) \
			return ret; \
	} while (0)

/* Steps that turn old (the running target, or empty) into new. 0 or -ENOMEM. */
static int plan_build(const struct cfg *old, struct cfg *new, struct plan *p)
{
	static const struct cfg_host_tls no_tls;
	static const struct nvmf_dhchap_cfg no_dhchap;
	int ret;

	memset(p, 0, sizeof(*p));
	for (unsigned int i = 0; i < new->n_hosts; i++) {
		int o = host_index(old, new->hosts[i]);
		const struct cfg_host_tls *ot = o >= 0 ? &old->host_tls[o] : &no_tls;
		const struct nvmf_dhchap_cfg *od = o >= 0 ? &old->host_dhchap[o] : &no_dhchap;

		if (!host_tls_equal(ot, &new->host_tls[i]) || !host_dhchap_equal(od, &new->host_dhchap[i]))
			PLAN(.op = PLAN_SET_HOST_KEYS, .host = (int)i, .host_nqn = new->hosts[i]);
	}
	for (unsigned int i = 0; i < old->n_ports; i++) {
		const struct cfg_port *np = port_by_id(new, old->ports[i].opts.portid);

		if (!np || !port_equal(&old->ports[i], np))
			PLAN(.op = PLAN_REMOVE_PORT, .old_port = &old->ports[i], .changed = np != NULL);
	}
	for (unsigned int i = 0; i < old->n_subsys; i++)
		if (!subsys_by_nqn(new, old->subsys[i].nqn))
			PLAN(.op = PLAN_REMOVE_SUBSYS, .old_s = &old->subsys[i]);
	for (unsigned int i = 0; i < new->n_subsys; i++) {
		struct cfg_subsys *ns = &new->subsys[i];
		const struct cfg_subsys *os = subsys_by_nqn(old, ns->nqn);

		if (!os)
			PLAN(.op = PLAN_ADD_SUBSYS, .new_s = ns);
		else if (attr_changed(os, ns))
			PLAN(.op = PLAN_SET_SUBSYS_ATTR, .new_s = ns, .old_s = os);
		for (unsigned int j = 0; j < ns->n_hosts; j++)
			if (!os || !nqn_listed(os->hosts, os->n_hosts, ns->hosts[j]))
				PLAN(.op = PLAN_ALLOW_HOST, .new_s = ns, .host_nqn = ns->hosts[j]);
		for (unsigned int j = 0; os && j < os->n_ns; j++) {
			const struct cfg_ns *nn = ns_by_id(ns, os->ns[j].nsid);

			if (!nn || !ns_equal(&os->ns[j], nn))
				PLAN(.op = PLAN_REMOVE_NS, .new_s = ns, .nsid = os->ns[j].nsid, .changed = nn != NULL);
		}
		for (unsigned int j = 0; j < ns->n_ns; j++) {
			const struct cfg_ns *on = os ? ns_by_id(os, ns->ns[j].nsid) : NULL;

			if (!on || !ns_equal(on, &ns->ns[j]))
				PLAN(.op = PLAN_ADD_NS, .new_s = ns, .ns = &ns->ns[j], .nsid = ns->ns[j].nsid);
			else if (ns_grpid(on) != ns_grpid(&ns->ns[j]))
				PLAN(.op = PLAN_SET_NS_ANA, .new_s = ns, .ns = &ns->ns[j], .nsid = ns->ns[j].nsid);
		}
		for (unsigned int j = 0; os && j < os->n_hosts; j++)
			if (!nqn_listed(ns->hosts, ns->n_hosts, os->hosts[j]))
				PLAN(.op = PLAN_DISALLOW_HOST, .new_s = ns, .host_nqn = os->hosts[j]);
	}
	for (unsigned int i = 0; i < new->n_ports; i++) {
		const struct cfg_port *np = &new->ports[i];
		const struct cfg_port *op = port_by_id(old, np->opts.portid);
		bool fresh = !op || !port_equal(op, np);

		if (fresh)
			PLAN(.op = PLAN_ADD_PORT, .new_port = np);
		else if (!port_ana_equal(op, np))
			PLAN(.op = PLAN_SET_PORT_ANA, .new_port = np, .old_port = op);
		for (unsigned int j = 0; j < np->n_subsys; j++) {
			const char *nqn = new->subsys[np->subsys[j]].nqn;

			if (fresh || !port_links(old, op, nqn))
				PLAN(.op = PLAN_LINK, .new_port = np, .nqn = nqn);
		}
		/* A subsystem that is gone was unlinked by its removal. */
		for (unsigned int j = 0; !fresh && j < op->n_subsys; j++) {
			const char *nqn = old->subsys[op->subsys[j]].nqn;

			if (!port_links(new, np, nqn) && subsys_by_nqn(new, nqn))
				PLAN(.op = PLAN_UNLINK, .new_port = np, .nqn = nqn);
		}
	}
	for (unsigned int i = 0; i < old->n_hosts; i++) {
		bool keyed = old->host_tls[i].set || old->host_dhchap[i].key[0];

		if (keyed && host_index(new, old->hosts[i]) < 0)
			PLAN(.op = PLAN_CLEAR_HOST_KEYS, .host_nqn = old->hosts[i]);
	}
	return 0;
}

#undef PLAN

static const char *adrfam_name(uint8_t adrfam)
{
	return adrfam == NVMF_ADRFAM_IPV6 ? "ipv6" : "ipv4";
}

/* One line per step; past tense for what a reload did, present for a plan. Never a key. */
static void plan_describe(const struct cfg *new, const struct plan_step *st, bool done, char *buf,
			  size_t len)
{
	const struct cfg_port *port = st->new_port ? st->new_port : st->old_port;
	const struct nvmf_port_opts *po = port ? &port->opts : NULL;

	switch (st->op) {
	case PLAN_SET_HOST_KEYS: {
		const struct cfg_host_tls *t = &new->host_tls[st->host];
		const struct nvmf_dhchap_cfg *d = &new->host_dhchap[st->host];

		snprintf(buf, len, "set keys of host %s: DH-HMAC-CHAP %s%s, TLS PSK %s", st->host_nqn, d->key[0] ? "key set" : "none", d->ctrl_key[0] ? " (with controller key)" : "",
			 t->set ? "key set" : "none");
		break;
	}
	case PLAN_CLEAR_HOST_KEYS:
		snprintf(buf, len, "%s keys of host %s (no longer in the file)", done ? "cleared" : "clear",
			 st->host_nqn);
		break;
	case PLAN_REMOVE_PORT:
		snprintf(buf, len, "%s port %u (%s:%s)%s", done ? "removed" : "remove", po->portid, po->traddr,
			 po->trsvcid, st->changed ? " to recreate it changed" : "");
		break;
	case PLAN_ADD_PORT: {
		bool ana_default = port->ana_state[NVMF_ANA_DEFAULT_GRPID] == NVME_ANA_OPTIMIZED;
		size_t off;

		for (unsigned int g = 1; g <= NVMF_ANA_GRP_MAX; g++)
			ana_default &= g == NVMF_ANA_DEFAULT_GRPID || !port->ana_listed[g];
		off = (size_t)snprintf(buf, len, "%s port %u: %s %s:%s, tsas %s, treq %s, %u referral(s)%s",
				       done ? "added" : "add", po->portid, adrfam_name(po->adrfam), po->traddr,
				       po->trsvcid, po->tls ? "tls1.3" : "none", nvmf_port_treq_name(po->treq),
				       port->n_referrals, ana_default ? "" : ", ANA groups:");
		for (unsigned int g = 1; !ana_default && g <= NVMF_ANA_GRP_MAX && off < len; g++)
			if (port->ana_listed[g])
				off += (size_t)snprintf(buf + off, len - off, " %u %s", g,
							nvmf_ana_state_name(port->ana_state[g]));
		break;
	}
	case PLAN_LINK:
		snprintf(buf, len, "%s %s on port %u", done ? "exported" : "export", st->nqn, po->portid);
		break;
	case PLAN_UNLINK:
		snprintf(buf, len, "%s %s from port %u", done ? "unexported" : "unexport", st->nqn, po->portid);
		break;
	case PLAN_REMOVE_SUBSYS:
		snprintf(buf, len, "%s subsystem %s", done ? "removed" : "remove", st->old_s->nqn);
		break;
	case PLAN_ADD_SUBSYS:
	case PLAN_SET_SUBSYS_ATTR:
		snprintf(buf, len, "%s subsystem %s: allow_any_host %d, monitor %d%s%s%s%s",
			 st->op == PLAN_ADD_SUBSYS ? (done ? "added" : "add") : (done ? "changed" : "change"),
			 st->new_s->nqn, st->new_s->allow_any_host, st->new_s->monitor,
			 st->new_s->serial[0] ? ", serial " : "", st->new_s->serial,
			 st->new_s->model[0] ? ", model " : "", st->new_s->model);
		if (st->new_s->cntlid_min || st->new_s->cntlid_max) {
			size_t off = strlen(buf);

			snprintf(buf + off, len - off, ", cntlid %u-%u", cfg_cntlid_min(st->new_s),
				 cfg_cntlid_max(st->new_s));
		}
		break;
	case PLAN_ALLOW_HOST:
		snprintf(buf, len, "%s host %s on %s", done ? "allowed" : "allow", st->host_nqn, st->new_s->nqn);
		break;
	case PLAN_DISALLOW_HOST:
		snprintf(buf, len, "%s host %s on %s", done ? "disallowed" : "disallow", st->host_nqn,
			 st->new_s->nqn);
		break;
	case PLAN_REMOVE_NS:
		snprintf(buf, len, "%s namespace %u from %s%s", done ? "removed" : "remove", st->nsid, st->new_s->nqn,
			 st->changed ? " to recreate it changed" : "");
		break;
	case PLAN_SET_NS_ANA:
		snprintf(buf, len, "%s namespace %u of %s to ANA group %u", done ? "moved" : "move", st->nsid,
			 st->new_s->nqn, ns_grpid(st->ns));
		break;
	case PLAN_SET_PORT_ANA: {
		size_t off = (size_t)snprintf(buf, len, "%s ANA groups of port %u:", done ? "changed" : "change",
					      po->portid);

		for (unsigned int g = 1; g <= NVMF_ANA_GRP_MAX && off < len; g++)
			if (port->ana_listed[g])
				off += (size_t)snprintf(buf + off, len - off, " %u %s", g,
							nvmf_ana_state_name(port->ana_state[g]));
		break;
	}
	case PLAN_ADD_NS: {
		char size[32] = "";

		if (!st->ns->bopts.path)
			snprintf(size, sizeof(size), "RAM %llu bytes", (unsigned long long)st->ns->bopts.size);
		snprintf(buf, len, "%s namespace %u to %s: %s%s%s", done ? "added" : "add", st->nsid,
			 st->new_s->nqn, st->ns->bopts.path ? st->ns->bopts.path : size,
			 st->ns->bopts.read_only ? ", read-only" : "", st->ns->enabled ? "" : ", disabled");
		if (ns_grpid(st->ns) != NVMF_ANA_DEFAULT_GRPID) {
			size_t off = strlen(buf);

			snprintf(buf + off, len - off, ", ANA group %u", ns_grpid(st->ns));
		}
		break;
	}
	}
}

/* A port or subsystem that could not be created: what would go into it is skipped, not tried. */
static void plan_skip_dependents(struct plan *p, unsigned int failed)
{
	const struct plan_step *f = &p->steps[failed];

	for (unsigned int i = failed + 1; i < p->n; i++) {
		struct plan_step *st = &p->steps[i];

		if (f->op == PLAN_ADD_PORT && st->new_port == f->new_port)
			st->skip = true;
		if (f->op == PLAN_ADD_SUBSYS &&
		    (st->new_s == f->new_s || (st->op == PLAN_LINK && !strcmp(st->nqn, f->new_s->nqn))))
			st->skip = true;
	}
}

/* Open the backends of the namespaces the plan adds, all or none. */
static int plan_open_backends(struct cfg_ctx *c, struct plan *p)
{
	for (unsigned int i = 0; i < p->n; i++) {
		struct cfg_ns *ns = p->steps[i].ns;
		char berr[256], buf[CFG_WHERE];
		int ret;

		if (p->steps[i].op != PLAN_ADD_NS)
			continue;
		ret = backend_open(&ns->bopts, &ns->be, berr, sizeof(berr));
		if (ret < 0) {
			ns->be = NULL;
			cfg_fail(c, join(buf, ns->where, ns->bopts.path ? "device.path" : "device.size"), "%s",
				 berr);
			return ret; /* cfg_free() closes those already open */
		}
	}
	return 0;
}

static int plan_apply_step(struct nvmf_tgt *tgt, const struct cfg *new, struct plan_step *st,
			   const struct nvmf_config_listeners *lis)
{
	const struct cfg_port *port = st->new_port ? st->new_port : st->old_port;
	struct nvmf_subsys *subsys = NULL;
	struct nvmf_port *p = NULL;
	int ret;

	if (st->new_s && st->op != PLAN_ADD_SUBSYS && !(subsys = nvmf_subsys_find(tgt, st->new_s->nqn)))
		return -ENOENT;
	if (port && st->op != PLAN_ADD_PORT && !(p = nvmf_port_find(tgt, port->opts.portid)))
		return -ENOENT;
	switch (st->op) {
	case PLAN_SET_HOST_KEYS: {
		const struct cfg_host_tls *t = &new->host_tls[st->host];

		if ((ret = nvmf_tgt_set_host_dhchap(tgt, st->host_nqn, &new->host_dhchap[st->host], NULL)))
			return ret;
		return nvmf_tgt_set_host_tls_key(tgt, st->host_nqn, t->set ? &t->key : NULL, t->kdf);
	}
	case PLAN_CLEAR_HOST_KEYS: {
		static const struct nvmf_dhchap_cfg none;

		if ((ret = nvmf_tgt_set_host_dhchap(tgt, st->host_nqn, &none, NULL)))
			return ret;
		return nvmf_tgt_set_host_tls_key(tgt, st->host_nqn, NULL, 0);
	}
	case PLAN_REMOVE_PORT:
		/* Stop accepting first: a listener must not serve a removed port. */
		if (!lis || (ret = lis->stop(lis->ctx, port->opts.portid)))
			return lis ? ret : -EOPNOTSUPP;
		return nvmf_port_remove(tgt, p);
	case PLAN_ADD_PORT:
		if (!lis)
			return -EOPNOTSUPP;
		if ((ret = nvmf_port_create(tgt, &port->opts, &p)))
			return ret;
		for (unsigned int j = 0; j < port->n_referrals; j++)
			if ((ret = nvmf_port_add_referral(p, &port->referrals[j])))
				goto fail_port;
		if ((ret = port_apply_ana(p, NULL, port)))
			goto fail_port;
		if ((ret = lis->start(lis->ctx, p)))
			goto fail_port;
		return 0;
fail_port:
		nvmf_port_remove(tgt, p);
		return ret;
	case PLAN_LINK:
	case PLAN_UNLINK:
		if (!(subsys = nvmf_subsys_find(tgt, st->nqn)))
			return -ENOENT;
		return st->op == PLAN_LINK ? nvmf_port_add_subsys(p, subsys) : nvmf_port_remove_subsys(p, subsys);
	case PLAN_REMOVE_SUBSYS:
		if (!(subsys = nvmf_subsys_find(tgt, st->old_s->nqn)))
			return -ENOENT;
		return nvmf_subsys_remove(tgt, subsys);
	case PLAN_ADD_SUBSYS:
		if ((ret = nvmf_subsys_create(tgt, st->new_s->nqn, &subsys)))
			return ret;
		/* fall through */
	case PLAN_SET_SUBSYS_ATTR:
		if ((st->new_s->serial[0] || st->new_s->model[0]) &&
		    (ret = nvmf_subsys_set_ident(subsys, st->new_s->serial[0] ? st->new_s->serial : NULL,
						 st->new_s->model[0] ? st->new_s->model : NULL))) {
			if (st->op == PLAN_ADD_SUBSYS)
				nvmf_subsys_remove(tgt, subsys);
			return ret;
		}
		if ((ret = nvmf_subsys_set_cntlid_range(subsys, cfg_cntlid_min(st->new_s), cfg_cntlid_max(st->new_s)))) {
			if (st->op == PLAN_ADD_SUBSYS)
				nvmf_subsys_remove(tgt, subsys);
			return ret;
		}
		nvmf_subsys_set_allow_any_host(subsys, st->new_s->allow_any_host);
		nvmf_subsys_set_monitor(subsys, st->new_s->monitor);
		return 0;
	case PLAN_ALLOW_HOST:
		return nvmf_subsys_add_host(subsys, st->host_nqn);
	case PLAN_DISALLOW_HOST:
		return nvmf_subsys_remove_host(subsys, st->host_nqn);
	case PLAN_REMOVE_NS:
		return nvmf_subsys_remove_ns(subsys, st->nsid);
	case PLAN_SET_NS_ANA:
		return nvmf_subsys_set_ns_anagrpid(subsys, st->nsid, ns_grpid(st->ns));
	case PLAN_SET_PORT_ANA:
		return port_apply_ana(p, st->old_port, st->new_port);
	case PLAN_ADD_NS: {
		struct nvmf_ns_opts opts = { .nsid = st->nsid,
					     .backend = st->ns->be,
					     .enabled = st->ns->enabled,
					     .anagrpid = st->ns->anagrpid };

		memcpy(opts.uuid, st->ns->uuid, 16);
		memcpy(opts.nguid, st->ns->nguid, 16);
		if ((ret = nvmf_subsys_add_ns(subsys, &opts, NULL)))
			return ret;
		st->ns->be = NULL; /* the namespace owns it now */
		return 0;
	}
	}
	return -EINVAL;
}

/* The running target as a cfg, parsed like a file (no backend is opened). */
static int cfg_from_target(struct nvmf_tgt *tgt, struct cfg *out, char *err, size_t errlen)
{
	struct cfg_ctx c = { .file = "(running target)", .err = err, .errlen = errlen, .quiet = true };
	struct json_object *snap = nvmf_tgt_snapshot(tgt), *doc;
	int ret;

	if (!snap) {
		cfg_fail(&c, NULL, "cannot take a snapshot of the target");
		return -ENOMEM;
	}
	doc = cfg_from_snapshot(snap, tgt);
	json_object_put(snap);
	if (!doc) {
		cfg_fail(&c, NULL, "out of memory");
		return -ENOMEM;
	}
	ret = cfg_parse_root(&c, doc, out);
	json_object_put(doc);
	return ret;
}

/* Read and validate a file: 0, or -errno with err naming the field. */
static int cfg_load_file(struct cfg_ctx *c, const char *path, struct cfg *cfg)
{
	char *text = NULL;
	size_t len = 0;
	int ret;

	if ((ret = read_text(c, path, &text, &len)))
		return ret;
	ret = cfg_parse(c, text, len, cfg);
	dhchap_wipe(text, len); /* it may hold secrets */
	free(text);
	return ret;
}

int nvmf_config_reload(struct nvmf_tgt *tgt, const char *path, const struct nvmf_config_listeners *lis,
		       char *err, size_t errlen)
{
	struct cfg_ctx c = { .file = path, .err = err, .errlen = errlen };
	struct cfg old, new;
	struct plan plan;
	unsigned int failed = 0;
	char line[512];
	int ret;

	if (errlen)
		err[0] = '\0';
	memset(&old, 0, sizeof(old));
	memset(&plan, 0, sizeof(plan));
	if ((ret = cfg_load_file(&c, path, &new)))
		return ret;
	cfg_check_secret_mode(path, &new);
	if ((ret = cfg_from_target(tgt, &old, err, errlen)) || (ret = plan_build(&old, &new, &plan))) {
		if (ret == -ENOMEM)
			cfg_fail(&c, NULL, "out of memory");
		goto out;
	}
	/* A missing device fails the reload before anything changes. */
	if ((ret = plan_open_backends(&c, &plan)))
		goto out;
	for (unsigned int i = 0; i < plan.n; i++) {
		struct plan_step *st = &plan.steps[i];
		int rc = st->skip ? -ENOENT : plan_apply_step(tgt, &new, st, lis);

		plan_describe(&new, st, rc == 0, line, sizeof(line));
		if (rc == 0) {
			log_notice("config", "reload: %s", line);
			continue;
		}
		failed++;
		if (st->skip) {
			log_error("config", "reload: did not %s: it depends on a change that failed", line);
			continue;
		}
		log_error("config", "reload: cannot %s: %s", line, strerror(-rc));
		plan_skip_dependents(&plan, i);
	}
	if (plan.n == 0)
		log_notice("config", "reload: %s: no change", path);
	else
		log_notice("config", "reload: %s: %u change(s) applied, %u failed", path, plan.n - failed, failed);
	if (failed) {
		snprintf(err, errlen, "%s: %u of %u change(s) failed (logged above)", path, failed, plan.n);
		ret = -EIO;
	}
out:
	plan_free(&plan);
	cfg_free(&new);
	cfg_free(&old);
	return ret;
}

/* Without opening (or creating) anything but read-only: does the device exist? */
static int check_device(struct cfg_ctx *c, const struct cfg_ns *ns)
{
	char buf[CFG_WHERE];
	int fd;

	/* An RBD image is checked when the target opens it (it needs the cluster). */
	if (!ns->bopts.path || backend_path_is_rbd(ns->bopts.path))
		return 0;
	fd = open(ns->bopts.path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int ret = -errno;

		/* A file with a size is created on load: its absence is fine. */
		if (ret == -ENOENT && ns->bopts.size && !ns->bopts.read_only)
			return 0;
		return cfg_fail(c, join(buf, ns->where, "device.path"), "%s: %s", ns->bopts.path, strerror(-ret));
	}
	close(fd);
	return 0;
}

int nvmf_config_check(const char *path, FILE *out, char *err, size_t errlen)
{
	struct cfg_ctx c = { .file = path, .err = err, .errlen = errlen };
	struct cfg empty, cfg;
	struct plan plan;
	char line[512];
	int ret;

	if (errlen)
		err[0] = '\0';
	memset(&empty, 0, sizeof(empty));
	if ((ret = cfg_load_file(&c, path, &cfg)))
		return ret;
	cfg_check_secret_mode(path, &cfg);
	for (unsigned int i = 0; i < cfg.n_subsys; i++)
		for (unsigned int j = 0; j < cfg.subsys[i].n_ns; j++)
			if ((ret = check_device(&c, &cfg.subsys[i].ns[j])))
				goto out_cfg;
	if ((ret = plan_build(&empty, &cfg, &plan))) {
		cfg_fail(&c, NULL, "out of memory");
		goto out_cfg;
	}
	fprintf(out, "%s: valid; the target would:\n", path);
	for (unsigned int i = 0; i < plan.n; i++) {
		plan_describe(&cfg, &plan.steps[i], false, line, sizeof(line));
		fprintf(out, "  %s\n", line);
	}
	fprintf(out, "%u subsystem(s), %u host(s), %u port(s)\n", cfg.n_subsys, cfg.n_hosts, cfg.n_ports);
	plan_free(&plan);
out_cfg:
	cfg_free(&cfg);
	return ret;
}
