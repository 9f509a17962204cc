/* SPDX-License-Identifier: MIT */
/*
 * The control socket's methods: one handler per `nvmeof target` subcommand.
 * Each validates its params first (JSONRPC_INVALID_PARAMS), then makes the
 * change through the target's control-path API (JSONRPC_TARGET_ERROR with
 * the errno when the target refuses), and undoes partial work on failure so
 * a refused call leaves the target as it was.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "common/log.h"
#include "crypto/tls_psk.h"
#include "control/control_internal.h"
#include "control/metrics.h"
#include "target/config.h"
#include "transport/tcp_target.h"

#define PARAMS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NO_PARAMS ((const char *const[]){ NULL })

static int find_subsys(struct control *c, struct json_object *params, struct nvmf_subsys **out,
		       const char **nqn, struct rpc_error *err)
{
	if (rpc_param_str(params, "nqn", true, nqn, err))
		return -1;
	*out = nvmf_subsys_find(c->tgt, *nqn);
	if (!*out)
		return rpc_fail_errno(err, -ENOENT, "subsystem %s", *nqn);
	return 0;
}

static int parse_hex_id(const char *s, uint8_t out[16])
{
	size_t len = strlen(s), n = 0;

	if (len != 32 && len != 36)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
			if (ch != '-')
				return -EINVAL;
			continue;
		}
		int v = ch >= '0' && ch <= '9' ? ch - '0'
			: ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
			: ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
						 : -1;
		if (v < 0)
			return -EINVAL;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t)(v << 4);
		else
			out[n / 2] |= (uint8_t)v;
		n++;
	}
	return n == 32 ? 0 : -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Queries                                                              */

static int rpc_list(void *ctx, struct json_object *params, struct json_object **result,
		    struct rpc_error *err)
{
	struct control *c = ctx;

	if (rpc_params_only(params, NO_PARAMS, err))
		return -1;
	*result = nvmf_tgt_snapshot(c->tgt);
	if (!*result)
		return rpc_fail_errno(err, -ENOMEM, "snapshot");
	return 0;
}

static int rpc_stats(void *ctx, struct json_object *params, struct json_object **result,
		     struct rpc_error *err)
{
	struct control *c = ctx;

	if (rpc_params_only(params, NO_PARAMS, err))
		return -1;
	*result = control_stats_snapshot(c);
	if (!*result)
		return rpc_fail_errno(err, -ENOMEM, "snapshot");
	return 0;
}

static int rpc_metrics(void *ctx, struct json_object *params, struct json_object **result,
		       struct rpc_error *err)
{
	struct control *c = ctx;
	struct strbuf sb;

	if (rpc_params_only(params, NO_PARAMS, err))
		return -1;
	struct json_object *snap = control_stats_snapshot(c);
	if (!snap)
		return rpc_fail_errno(err, -ENOMEM, "snapshot");
	strbuf_init(&sb);
	int rc = metrics_render(snap, &sb);
	json_object_put(snap);
	if (rc) {
		strbuf_free(&sb);
		return rpc_fail_errno(err, rc, "metrics");
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "text", json_object_new_string_len(sb.data ? sb.data : "",
									     (int)sb.len));
	strbuf_free(&sb);
	return 0;
}

static int rpc_methods_list(void *ctx, struct json_object *params, struct json_object **result,
			    struct rpc_error *err)
{
	if (rpc_params_only(params, NO_PARAMS, err))
		return -1;
	*result = json_object_new_array();
	for (size_t i = 0; i < control_n_methods; i++)
		json_object_array_add(*result, json_object_new_string(control_methods[i].name));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Subsystems                                                           */

static int rpc_add_subsystem(void *ctx, struct json_object *params, struct json_object **result,
			     struct rpc_error *err)
{
	struct control *c = ctx;
	const char *nqn = NULL, *serial = NULL, *model = NULL;
	bool allow_any = false, monitor = false;
	struct nvmf_subsys *s;

	if (rpc_params_only(params, PARAMS("nqn", "allow_any_host", "serial", "model", "monitor"),
			    err) ||
	    rpc_param_str(params, "nqn", true, &nqn, err) ||
	    rpc_param_str(params, "serial", false, &serial, err) ||
	    rpc_param_str(params, "model", false, &model, err) ||
	    rpc_param_bool(params, "allow_any_host", false, &allow_any, err) ||
	    rpc_param_bool(params, "monitor", false, &monitor, err))
		return -1;
	if (!nvmf_nqn_valid(nqn))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "'%.223s' is not a valid NQN", nqn);
	if (serial && strlen(serial) > 20)
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "serial is longer than 20 characters");
	if (model && strlen(model) > 40)
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "model is longer than 40 characters");

	int rc = nvmf_subsys_create(c->tgt, nqn, &s);
	if (rc)
		return rpc_fail_errno(err, rc, "subsystem %s", nqn);
	if (serial || model) {
		rc = nvmf_subsys_set_ident(s, serial, model);
		if (rc) {
			nvmf_subsys_remove(c->tgt, s);
			return rpc_fail_errno(err, rc, "subsystem %s: serial/model", nqn);
		}
	}
	nvmf_subsys_set_allow_any_host(s, allow_any);
	nvmf_subsys_set_monitor(s, monitor);
	*result = json_object_new_object();
	json_object_object_add(*result, "nqn", json_object_new_string(nqn));
	return 0;
}

static int rpc_remove_subsystem(void *ctx, struct json_object *params, struct json_object **result,
				struct rpc_error *err)
{
	struct control *c = ctx;
	struct nvmf_subsys *s;
	const char *nqn;

	if (rpc_params_only(params, PARAMS("nqn"), err) || find_subsys(c, params, &s, &nqn, err))
		return -1;
	int rc = nvmf_subsys_remove(c->tgt, s);
	if (rc)
		return rpc_fail_errno(err, rc, "subsystem %s", nqn);
	return 0;
}

static int rpc_set_flag(void *ctx, struct json_object *params, struct rpc_error *err,
			const char *key, void (*set)(struct nvmf_subsys *, bool))
{
	struct control *c = ctx;
	struct nvmf_subsys *s;
	const char *nqn;
	bool on = false;

	if (rpc_params_only(params, PARAMS("nqn", key), err) ||
	    rpc_param_bool(params, key, true, &on, err) || find_subsys(c, params, &s, &nqn, err))
		return -1;
	set(s, on);
	return 0;
}

static int rpc_set_monitor(void *ctx, struct json_object *params, struct json_object **result,
			   struct rpc_error *err)
{
	return rpc_set_flag(ctx, params, err, "monitor", nvmf_subsys_set_monitor);
}

static int rpc_set_allow_any_host(void *ctx, struct json_object *params,
				  struct json_object **result, struct rpc_error *err)
{
	return rpc_set_flag(ctx, params, err, "allow_any_host", nvmf_subsys_set_allow_any_host);
}

/* ------------------------------------------------------------------ */
/* Namespaces                                                           */

static int rpc_add_ns(void *ctx, struct json_object *params, struct json_object **result,
		      struct rpc_error *err)
{
	struct control *c = ctx;
	struct nvmf_subsys *s;
	const char *nqn, *path = NULL, *uuid = NULL, *nguid = NULL, *ceph_conf = NULL, *ceph_id = NULL;
	uint64_t nsid = 0, size = 0, block_size = 0;
	bool read_only = false, direct = false, preallocate = false;
	struct nvmf_ns_opts nso = { .enabled = true };
	struct backend_open_opts bo = { 0 };
	struct backend *be;
	char msg[600];

	if (rpc_params_only(params,
			    PARAMS("nqn", "path", "nsid", "uuid", "nguid", "size", "block_size",
				   "read_only", "direct", "ceph_conf", "ceph_id", "preallocate"),
			    err) ||
	    rpc_param_str(params, "ceph_conf", false, &ceph_conf, err) ||
	    rpc_param_str(params, "ceph_id", false, &ceph_id, err) ||
	    rpc_param_str(params, "path", false, &path, err) ||
	    rpc_param_u64(params, "nsid", false, NVMF_MAX_NSID, &nsid, err) ||
	    rpc_param_str(params, "uuid", false, &uuid, err) ||
	    rpc_param_str(params, "nguid", false, &nguid, err) ||
	    rpc_param_u64(params, "size", false, INT64_MAX, &size, err) ||
	    rpc_param_u64(params, "block_size", false, 4096, &block_size, err) ||
	    rpc_param_bool(params, "read_only", false, &read_only, err) ||
	    rpc_param_bool(params, "direct", false, &direct, err) ||
	    rpc_param_bool(params, "preallocate", false, &preallocate, err))
		return -1;
	if (uuid && parse_hex_id(uuid, nso.uuid))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "uuid '%.64s' is not a UUID", uuid);
	if (nguid && parse_hex_id(nguid, nso.nguid))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "nguid '%.64s' is not 32 hex digits", nguid);
	if ((!path || !*path) && size == 0)
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "a RAM namespace (no path) needs a size");
	if (preallocate && path && *path)
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "only a RAM namespace (no path) is preallocated");
	if (backend_path_is_rbd(path)) {
		struct backend_rbd_spec spec;

		if (backend_rbd_parse_path(path, &spec, msg, sizeof(msg)))
			return rpc_fail(err, JSONRPC_INVALID_PARAMS, "%s", msg);
	} else if (path && *path && path[0] != '/') {
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "path must be absolute (or rbd:POOL/IMAGE)");
	}
	if ((ceph_conf || ceph_id) && !backend_path_is_rbd(path))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "ceph_conf and ceph_id are only for rbd: paths");
	if ((ceph_conf && !*ceph_conf) || (ceph_id && !*ceph_id))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "ceph_conf and ceph_id may not be empty");
	if (find_subsys(c, params, &s, &nqn, err))
		return -1;

	bo.path = path;
	bo.size = size;
	bo.block_size = (uint32_t)block_size;
	bo.read_only = read_only;
	bo.direct = direct;
	bo.preallocate = preallocate;
	bo.ceph_conf = ceph_conf;
	bo.ceph_id = ceph_id;
	int rc = backend_open(&bo, &be, msg, sizeof(msg));
	if (rc == -ENOENT && size == 0 && path && *path && !backend_path_is_rbd(path))
		return rpc_fail_errno(err, rc, "%s (give a size, add-ns --size SIZE, to create it)",
				      msg[0] ? msg : path);
	if (rc)
		return rpc_fail_errno(err, rc, "%s", msg[0] ? msg : (path && *path ? path : "ram"));
	nso.nsid = (uint32_t)nsid;
	nso.backend = be;
	uint32_t got = 0;
	rc = nvmf_subsys_add_ns(s, &nso, &got);
	if (rc) {
		/* Ownership passes only on success. */
		backend_close(be);
		return rpc_fail_errno(err, rc, "subsystem %s: namespace %u", nqn, (unsigned int)nsid);
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "nsid", json_object_new_int64(got));
	return 0;
}

static int rpc_remove_ns(void *ctx, struct json_object *params, struct json_object **result,
			 struct rpc_error *err)
{
	struct control *c = ctx;
	struct nvmf_subsys *s;
	const char *nqn;
	uint64_t nsid = 0;

	if (rpc_params_only(params, PARAMS("nqn", "nsid"), err) ||
	    rpc_param_u64(params, "nsid", true, NVMF_MAX_NSID, &nsid, err))
		return -1;
	if (nsid == 0)
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "nsid must be 1..%d", NVMF_MAX_NSID);
	if (find_subsys(c, params, &s, &nqn, err))
		return -1;
	int rc = nvmf_subsys_remove_ns(s, (uint32_t)nsid);
	if (rc)
		return rpc_fail_errno(err, rc, "subsystem %s: namespace %u", nqn, (unsigned int)nsid);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Hosts                                                                */

/*
 * Optional DH-HMAC-CHAP parameters: dhchap_key, dhchap_ctrl_key,
 * dhchap_hash, dhchap_dhgroup. *given tells whether any was there.
 */
static int rpc_dhchap_params(struct json_object *params, struct nvmf_dhchap_cfg *cfg, bool *given,
			     struct rpc_error *err)
{
	static const struct {
		const char *name;
		size_t off;
		size_t size;
	} fields[] = {
		{ "dhchap_key", offsetof(struct nvmf_dhchap_cfg, key), sizeof(cfg->key) },
		{ "dhchap_ctrl_key", offsetof(struct nvmf_dhchap_cfg, ctrl_key), sizeof(cfg->ctrl_key) },
		{ "dhchap_hash", offsetof(struct nvmf_dhchap_cfg, hash), sizeof(cfg->hash) },
		{ "dhchap_dhgroup", offsetof(struct nvmf_dhchap_cfg, dhgroup), sizeof(cfg->dhgroup) },
	};

	memset(cfg, 0, sizeof(*cfg));
	*given = false;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *v = NULL;

		if (rpc_param_str(params, fields[i].name, false, &v, err))
			return -1;
		if (!v)
			continue;
		*given = true;
		if (strlen(v) >= fields[i].size)
			return rpc_fail(err, JSONRPC_INVALID_PARAMS, "%s is too long", fields[i].name);
		memcpy((char *)cfg + fields[i].off, v, strlen(v) + 1);
	}
	return 0;
}

static int rpc_set_dhchap(struct control *c, const char *host, const struct nvmf_dhchap_cfg *cfg,
			  struct rpc_error *err)
{
	const char *what = NULL;
	int rc = nvmf_tgt_set_host_dhchap(c->tgt, host, cfg, &what);

	if (rc == -EINVAL && what)
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "host %s: invalid DH-HMAC-CHAP %s%s", host, what,
				strcmp(what, "ctrl_key") == 0 && !cfg->key[0] ? " (needs dhchap_key)" : "");
	if (rc)
		return rpc_fail_errno(err, rc, "host %s", host);
	return 0;
}

/* tls_key / tls_kdf parameters: *given tells whether a key was passed. */
static int rpc_tls_params(struct json_object *params, struct nvme_tls_key *key, unsigned int *kdf,
			  bool *given, struct rpc_error *err)
{
	const char *tls_key = NULL, *tls_kdf = NULL;

	memset(key, 0, sizeof(*key));
	*kdf = NVME_TLS_KDF_LIBNVME;
	*given = false;
	if (rpc_param_str(params, "tls_key", false, &tls_key, err) ||
	    rpc_param_str(params, "tls_kdf", false, &tls_kdf, err))
		return -1;
	if (tls_kdf && strcmp(tls_kdf, "libnvme") && strcmp(tls_kdf, "rfc8446"))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "tls_kdf must be libnvme or rfc8446");
	if (tls_kdf && !strcmp(tls_kdf, "rfc8446"))
		*kdf = NVME_TLS_KDF_RFC8446;
	if (tls_key && nvme_tls_key_parse(tls_key, key))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS,
				"tls_key is not a valid TLS PSK (NVMeTLSkey-1:HH:base64:, HH 01 or 02)");
	*given = tls_key != NULL;
	return 0;
}

#define HOST_KEY_PARAMS "dhchap_key", "dhchap_ctrl_key", "dhchap_hash", "dhchap_dhgroup", "tls_key", "tls_kdf"

static int rpc_host(void *ctx, struct json_object *params, struct json_object **result, struct rpc_error *err,
		    bool add)
{
	struct control *c = ctx;
	struct nvmf_subsys *s;
	const char *nqn, *host = NULL;
	struct nvmf_dhchap_cfg cfg;
	struct nvme_tls_key key;
	unsigned int kdf = NVME_TLS_KDF_LIBNVME;
	bool dhchap = false, tls = false;
	int ret = -1;

	memset(&cfg, 0, sizeof(cfg));
	memset(&key, 0, sizeof(key));
	if (rpc_params_only(params, add ? PARAMS("nqn", "host", HOST_KEY_PARAMS) : PARAMS("nqn", "host"), err) ||
	    rpc_param_str(params, "host", true, &host, err))
		return -1;
	if (!nvmf_nqn_valid(host))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "'%.223s' is not a valid host NQN", host);
	if (add && (rpc_dhchap_params(params, &cfg, &dhchap, err) ||
		    rpc_tls_params(params, &key, &kdf, &tls, err)))
		goto out;
	if (find_subsys(c, params, &s, &nqn, err))
		goto out;
	/* Keys first: the host must not be admitted without them. */
	if (dhchap && rpc_set_dhchap(c, host, &cfg, err))
		goto out;
	if (tls) {
		int rc = nvmf_tgt_set_host_tls_key(c->tgt, host, &key, kdf);

		if (rc) {
			rpc_fail_errno(err, rc, "host %s", host);
			goto out;
		}
	}
	int rc = add ? nvmf_subsys_add_host(s, host) : nvmf_subsys_remove_host(s, host);
	/* Adding a listed host again with keys just sets them (for new connections). */
	if (rc && !(add && (dhchap || tls) && rc == -EEXIST)) {
		rpc_fail_errno(err, rc, "subsystem %s: host %s", nqn, host);
		goto out;
	}
	/* The host list of a subsystem that allows any host admits everyone: tell the caller. */
	if (add) {
		*result = json_object_new_object();
		json_object_object_add(*result, "allow_any_host",
				       json_object_new_boolean(nvmf_subsys_allows_any_host(s)));
	}
	ret = 0;
out:
	nvmf_dhchap_cfg_wipe(&cfg);
	nvme_tls_key_clear(&key);
	return ret;
}

/* Replace a host's keys with those given (a key not given is removed);
 * live controllers keep theirs, new connections use these. */
static int rpc_set_host_keys(void *ctx, struct json_object *params, struct json_object **result,
			     struct rpc_error *err)
{
	struct control *c = ctx;
	const char *host = NULL;
	struct nvmf_dhchap_cfg cfg;
	struct nvme_tls_key key;
	unsigned int kdf;
	bool dhchap, tls;
	int ret = -1, rc;

	memset(&cfg, 0, sizeof(cfg));
	memset(&key, 0, sizeof(key));
	if (rpc_params_only(params, PARAMS("host", HOST_KEY_PARAMS), err) ||
	    rpc_param_str(params, "host", true, &host, err))
		return -1;
	if (!nvmf_nqn_valid(host))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "'%.223s' is not a valid host NQN", host);
	if (rpc_dhchap_params(params, &cfg, &dhchap, err) || rpc_tls_params(params, &key, &kdf, &tls, err) ||
	    rpc_set_dhchap(c, host, &cfg, err))
		goto out;
	rc = nvmf_tgt_set_host_tls_key(c->tgt, host, tls ? &key : NULL, kdf);
	if (rc) {
		rpc_fail_errno(err, rc, "host %s", host);
		goto out;
	}
	ret = 0;
out:
	nvmf_dhchap_cfg_wipe(&cfg);
	nvme_tls_key_clear(&key);
	return ret;
}

static int rpc_add_host(void *ctx, struct json_object *params, struct json_object **result,
			struct rpc_error *err)
{
	return rpc_host(ctx, params, result, err, true);
}

static int rpc_remove_host(void *ctx, struct json_object *params, struct json_object **result,
			   struct rpc_error *err)
{
	return rpc_host(ctx, params, result, err, false);
}

/* ------------------------------------------------------------------ */
/* Ports                                                                */

static uint16_t lowest_free_portid(struct nvmf_tgt *tgt)
{
	for (unsigned int id = 1; id <= UINT16_MAX; id++)
		if (!nvmf_port_find(tgt, (uint16_t)id))
			return (uint16_t)id;
	return 0;
}

static int rpc_add_port(void *ctx, struct json_object *params, struct json_object **result,
			struct rpc_error *err)
{
	struct control *c = ctx;
	const char *traddr = NULL, *trsvcid = NULL, *adrfam = "ipv4";
	uint64_t portid = 0;
	struct json_object *subs = NULL;
	struct nvmf_port_opts po = { 0 };
	struct nvmf_port *port;
	struct tcp_listener *l;
	const char *tsas = "none", *treq = "not specified";

	if (rpc_params_only(params, PARAMS("portid", "traddr", "trsvcid", "adrfam", "subsystems", "tsas", "treq"),
			    err) ||
	    rpc_param_str(params, "tsas", false, &tsas, err) ||
	    rpc_param_str(params, "treq", false, &treq, err) ||
	    rpc_param_u64(params, "portid", false, UINT16_MAX, &portid, err) ||
	    rpc_param_str(params, "traddr", true, &traddr, err) ||
	    rpc_param_str(params, "trsvcid", true, &trsvcid, err) ||
	    rpc_param_str(params, "adrfam", false, &adrfam, err) ||
	    rpc_param_str_array(params, "subsystems", &subs, err))
		return -1;
	if (strcmp(adrfam, "ipv4") == 0)
		po.adrfam = NVMF_ADRFAM_IPV4;
	else if (strcmp(adrfam, "ipv6") == 0)
		po.adrfam = NVMF_ADRFAM_IPV6;
	else
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "adrfam must be ipv4 or ipv6");
	if (!*traddr || strlen(traddr) >= sizeof(po.traddr))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "traddr must be 1..%zu characters",
				sizeof(po.traddr) - 1);
	char *end;
	unsigned long svc = strtoul(trsvcid, &end, 10);
	if (!*trsvcid || *end || svc == 0 || svc > 65535)
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "trsvcid must be a TCP port 1..65535");
	snprintf(po.traddr, sizeof(po.traddr), "%s", traddr);
	snprintf(po.trsvcid, sizeof(po.trsvcid), "%lu", svc);
	if (strcmp(tsas, "none") && strcmp(tsas, "tls1.3"))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "tsas must be none or tls1.3");
	po.tls = !strcmp(tsas, "tls1.3");
	if (nvmf_port_treq_parse(treq, &po.treq))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "treq must be required or not-required");
	if (nvmf_port_security_check(&po))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "treq required needs tsas tls1.3");

	/* Check every subsystem before creating anything. */
	size_t nsubs = subs ? json_object_array_length(subs) : 0;
	for (size_t i = 0; i < nsubs; i++) {
		const char *nqn = json_object_get_string(json_object_array_get_idx(subs, i));
		if (!nvmf_subsys_find(c->tgt, nqn))
			return rpc_fail_errno(err, -ENOENT, "subsystem %s", nqn);
	}
	if (portid == 0)
		portid = lowest_free_portid(c->tgt);
	if (portid == 0)
		return rpc_fail_errno(err, -ENOSPC, "port id");
	po.portid = (uint16_t)portid;

	int rc = nvmf_port_create(c->tgt, &po, &port);
	if (rc)
		return rpc_fail_errno(err, rc, "port %u", (unsigned int)portid);
	for (size_t i = 0; i < nsubs; i++) {
		const char *nqn = json_object_get_string(json_object_array_get_idx(subs, i));
		rc = nvmf_port_add_subsys(port, nvmf_subsys_find(c->tgt, nqn));
		if (rc) {
			rpc_fail_errno(err, rc, "port %u: subsystem %s", (unsigned int)portid, nqn);
			goto fail_port;
		}
	}
	rc = tcp_listener_start(c->tgt, port, c->reactors, c->n_reactors, &l);
	if (rc) {
		rpc_fail_errno(err, rc, "port %u: listen on %s:%s", (unsigned int)portid, po.traddr,
			       po.trsvcid);
		goto fail_port;
	}
	rc = control_listener_put(c, po.portid, l);
	if (rc) {
		tcp_listener_stop(l, true);
		rpc_fail_errno(err, rc, "port %u", (unsigned int)portid);
		goto fail_port;
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "portid", json_object_new_int(po.portid));
	return 0;

fail_port:
	nvmf_port_remove(c->tgt, port);
	return -1;
}

static int find_port(struct control *c, struct json_object *params, struct nvmf_port **out,
		     uint16_t *id, struct rpc_error *err)
{
	uint64_t portid = 0;

	if (rpc_param_u64(params, "portid", true, UINT16_MAX, &portid, err))
		return -1;
	*id = (uint16_t)portid;
	*out = nvmf_port_find(c->tgt, *id);
	if (!*out)
		return rpc_fail_errno(err, -ENOENT, "port %u", (unsigned int)portid);
	return 0;
}

static int rpc_link_port(void *ctx, struct json_object *params, struct json_object **result,
			 struct rpc_error *err, bool link)
{
	struct control *c = ctx;
	struct nvmf_port *port;
	struct nvmf_subsys *s;
	const char *nqn;
	uint16_t id;

	if (rpc_params_only(params, PARAMS("portid", "nqn"), err) ||
	    find_port(c, params, &port, &id, err) || find_subsys(c, params, &s, &nqn, err))
		return -1;
	int rc = link ? nvmf_port_add_subsys(port, s) : nvmf_port_remove_subsys(port, s);
	if (rc)
		return rpc_fail_errno(err, rc, "port %u: subsystem %s", id, nqn);
	return 0;
}

static int rpc_link(void *ctx, struct json_object *params, struct json_object **result,
		    struct rpc_error *err)
{
	return rpc_link_port(ctx, params, result, err, true);
}

static int rpc_unlink(void *ctx, struct json_object *params, struct json_object **result,
		      struct rpc_error *err)
{
	return rpc_link_port(ctx, params, result, err, false);
}

static int rpc_remove_port(void *ctx, struct json_object *params, struct json_object **result,
			   struct rpc_error *err)
{
	struct control *c = ctx;
	struct nvmf_port *port;
	struct tcp_listener *l;
	uint16_t id;

	if (rpc_params_only(params, PARAMS("portid"), err) || find_port(c, params, &port, &id, err))
		return -1;
	/* A port whose listener we do not hold would keep accepting for a freed port. */
	if (control_listener_take(c, id, &l))
		return rpc_fail_errno(err, -EBUSY, "port %u: its listener is not managed here", id);
	/* The listener and every connection hold the port: it is freed when
	 * the last of them lets go, whenever that is. */
	tcp_listener_stop(l, true);
	int rc = nvmf_port_remove(c->tgt, port);
	if (rc)
		return rpc_fail_errno(err, rc, "port %u", id);
	return 0;
}

/* ANA state of a group on a port, live: hosts connected there get an ANA change event. */
static int rpc_set_ana_state(void *ctx, struct json_object *params, struct json_object **result,
			     struct rpc_error *err)
{
	struct control *c = ctx;
	struct nvmf_port *port;
	const char *name;
	uint64_t grpid = 0;
	uint8_t state;
	uint16_t id;

	if (rpc_params_only(params, PARAMS("portid", "grpid", "state"), err) ||
	    find_port(c, params, &port, &id, err) ||
	    rpc_param_u64(params, "grpid", true, NVMF_ANA_GRP_MAX, &grpid, err) ||
	    rpc_param_str(params, "state", true, &name, err))
		return -1;
	if (grpid == 0)
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "grpid must be 1 to %u", NVMF_ANA_GRP_MAX);
	if (nvmf_ana_state_parse(name, &state))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS,
				"unknown ANA state \"%s\" (expected optimized, non-optimized, inaccessible, "
				"persistent-loss or change)",
				name);
	int rc = nvmf_port_set_ana_state(port, (uint32_t)grpid, state);
	if (rc == -EPERM)
		return rpc_fail(err, JSONRPC_INVALID_PARAMS,
				"ANA group %u is managed by gateway group %s: its state follows the group's lease "
				"in Ceph and cannot be set by hand",
				(unsigned int)grpid, nvmf_tgt_gateway_group(c->tgt) ? nvmf_tgt_gateway_group(c->tgt) : "?");
	if (rc)
		return rpc_fail_errno(err, rc, "port %u: ANA group %u", id, (unsigned int)grpid);
	*result = json_object_new_object();
	json_object_object_add(*result, "portid", json_object_new_int(id));
	json_object_object_add(*result, "grpid", json_object_new_int((int)grpid));
	json_object_object_add(*result, "state", json_object_new_string(nvmf_ana_state_name(state)));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Configuration and logging                                            */

static int rpc_save_config(void *ctx, struct json_object *params, struct json_object **result,
			   struct rpc_error *err)
{
	struct control *c = ctx;
	const char *path = NULL;
	char msg[256];

	if (rpc_params_only(params, PARAMS("path"), err) ||
	    rpc_param_str(params, "path", true, &path, err))
		return -1;
	if (path[0] != '/')
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "path must be absolute");
	msg[0] = '\0';
	int rc = nvmf_config_save(c->tgt, path, msg, sizeof(msg));
	if (rc)
		return rpc_fail_errno(err, rc, "%s", msg[0] ? msg : path);
	*result = json_object_new_object();
	json_object_object_add(*result, "path", json_object_new_string(path));
	return 0;
}

static int rpc_set_log_level(void *ctx, struct json_object *params, struct json_object **result,
			     struct rpc_error *err)
{
	const char *name = NULL;
	enum log_level lvl;

	if (rpc_params_only(params, PARAMS("level"), err) ||
	    rpc_param_str(params, "level", true, &name, err))
		return -1;
	if (log_parse_level(name, &lvl))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS,
				"level must be error, warn, notice, info or debug");
	log_set_level(lvl);
	return 0;
}

const struct rpc_method control_methods[] = {
	{ "list", rpc_list, false },
	{ "stats", rpc_stats, false },
	{ "metrics", rpc_metrics, false },
	{ "rpc_methods", rpc_methods_list, false },
	{ "add_subsystem", rpc_add_subsystem, true },
	{ "remove_subsystem", rpc_remove_subsystem, true },
	{ "set_monitor", rpc_set_monitor, true },
	{ "set_allow_any_host", rpc_set_allow_any_host, true },
	{ "add_ns", rpc_add_ns, true },
	{ "remove_ns", rpc_remove_ns, true },
	{ "add_host", rpc_add_host, true },
	{ "remove_host", rpc_remove_host, true },
	{ "set_host_keys", rpc_set_host_keys, true },
	{ "add_port", rpc_add_port, true },
	{ "remove_port", rpc_remove_port, true },
	{ "link_port", rpc_link, true },
	{ "unlink_port", rpc_unlink, true },
	{ "set_ana_state", rpc_set_ana_state, true },
	{ "save_config", rpc_save_config, true },
	{ "set_log_level", rpc_set_log_level, true },
};
const size_t control_n_methods = sizeof(control_methods) / sizeof(control_methods[0]);
