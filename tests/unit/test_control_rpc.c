/* SPDX-License-Identifier: MIT */
/*
 * The control socket's methods (src/control/rpc_target.c) against the real
 * command layer, without reactors: parameter validation, the error each
 * refusal maps to, and that a refused call leaves the target unchanged.
 */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "control/control_internal.h"
#include "crypto/tls_psk.h"

#define A "nqn.2014-08.org.nvmexpress.test:rpc-a"
#define H1 "nqn.2014-08.org.nvmexpress.test:host-1"
#define TLS_KEY "NVMeTLSkey-1:01:/yQl+6QGx9SgV3VhysK75nGYHM/1Mx/CCcOHpRbwIpy3zAXW:"

struct env {
	struct control c;
	struct rpc_dispatcher d;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	assert_int_equal(nvmf_tgt_create(&e->c.tgt), 0);
	pthread_mutex_init(&e->c.listeners_lock, NULL);
	e->d = (struct rpc_dispatcher){ control_methods, control_n_methods, &e->c };
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	nvmf_tgt_destroy(e->c.tgt);
	pthread_mutex_destroy(&e->c.listeners_lock);
	free(e->c.listeners);
	free(e);
	return 0;
}

/* Call method with params (JSON text or NULL); returns the response object. */
static struct json_object *call(struct env *e, const char *method, const char *params)
{
	char msg[2048];
	struct strbuf out;

	snprintf(msg, sizeof(msg), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\"%s%s}", method,
		 params ? ",\"params\":" : "", params ? params : "");
	strbuf_init(&out);
	jsonrpc_handle(&e->d, "test", msg, strlen(msg), &out);
	assert_true(out.len > 0);
	struct json_object *r = json_tokener_parse(out.data);
	assert_non_null(r);
	strbuf_free(&out);
	return r;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no '%s' in %s", key, json_object_to_json_string(o));
	return v;
}

/* Expect success; returns the result (owned by r). */
static void ok(struct env *e, const char *method, const char *params)
{
	struct json_object *r = call(e, method, params);

	if (json_object_object_get_ex(r, "error", NULL))
		fail_msg("%s %s: %s", method, params ? params : "",
			 json_object_to_json_string(get(r, "error")));
	json_object_put(r);
}

/* Expect an error with this code (and errno, for target errors). */
static void refused(struct env *e, const char *method, const char *params, int code, int err)
{
	struct json_object *r = call(e, method, params);
	struct json_object *eo = NULL;

	if (!json_object_object_get_ex(r, "error", &eo))
		fail_msg("%s %s succeeded", method, params ? params : "");
	assert_int_equal(json_object_get_int(get(eo, "code")), code);
	if (err)
		assert_int_equal(json_object_get_int(get(get(eo, "data"), "errno")), err);
	json_object_put(r);
}

/* The subsystem's JSON from list, or NULL (caller puts the returned list). */
static struct json_object *subsys(struct env *e, const char *nqn, struct json_object **list)
{
	struct json_object *r = call(e, "list", NULL);
	struct json_object *subs = get(get(r, "result"), "subsystems");

	*list = r;
	for (size_t i = 0; i < json_object_array_length(subs); i++) {
		struct json_object *s = json_object_array_get_idx(subs, i);
		if (!strcmp(json_object_get_string(get(s, "nqn")), nqn))
			return s;
	}
	return NULL;
}

static void test_subsystem_lifecycle(void **state)
{
	struct env *e = *state;
	struct json_object *l, *s;

	ok(e, "add_subsystem",
	   "{\"nqn\":\"" A "\",\"serial\":\"SER1\",\"model\":\"M1\",\"allow_any_host\":true}");
	s = subsys(e, A, &l);
	assert_non_null(s);
	assert_string_equal(json_object_get_string(get(s, "serial")), "SER1");
	assert_string_equal(json_object_get_string(get(s, "model")), "M1");
	assert_true(json_object_get_boolean(get(s, "allow_any_host")));
	assert_false(json_object_get_boolean(get(s, "monitor")));
	json_object_put(l);

	refused(e, "add_subsystem", "{\"nqn\":\"" A "\"}", JSONRPC_TARGET_ERROR, EEXIST);
	refused(e, "add_subsystem", "{\"nqn\":\"bad nqn\"}", JSONRPC_INVALID_PARAMS, 0);
	refused(e, "add_subsystem", "{\"nqn\":\"" A "x\",\"serial\":\"123456789012345678901\"}",
		JSONRPC_INVALID_PARAMS, 0);
	refused(e, "add_subsystem", "{\"nqn\":\"" A "x\",\"bogus\":1}", JSONRPC_INVALID_PARAMS, 0);
	s = subsys(e, A "x", &l);
	assert_null(s); /* nothing half-created */
	json_object_put(l);

	ok(e, "set_monitor", "{\"nqn\":\"" A "\",\"monitor\":true}");
	ok(e, "set_allow_any_host", "{\"nqn\":\"" A "\",\"allow_any_host\":false}");
	s = subsys(e, A, &l);
	assert_true(json_object_get_boolean(get(s, "monitor")));
	assert_false(json_object_get_boolean(get(s, "allow_any_host")));
	json_object_put(l);
	refused(e, "set_monitor", "{\"nqn\":\"" A "\",\"monitor\":\"on\"}", JSONRPC_INVALID_PARAMS, 0);
	refused(e, "set_monitor", "{\"nqn\":\"" A "\"}", JSONRPC_INVALID_PARAMS, 0);

	ok(e, "remove_subsystem", "{\"nqn\":\"" A "\"}");
	refused(e, "remove_subsystem", "{\"nqn\":\"" A "\"}", JSONRPC_TARGET_ERROR, ENOENT);
	s = subsys(e, A, &l);
	assert_null(s);
	json_object_put(l);
}

static void test_namespaces(void **state)
{
	struct env *e = *state;
	struct json_object *l, *s, *r;
	char path[] = "/tmp/nvmeof-rpc-test.XXXXXX";
	char params[512];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);

	ok(e, "add_subsystem", "{\"nqn\":\"" A "\"}");
	r = call(e, "add_ns", "{\"nqn\":\"" A "\",\"size\":1048576}");
	assert_int_equal(json_object_get_int(get(get(r, "result"), "nsid")), 1);
	json_object_put(r);
	snprintf(params, sizeof(params),
		 "{\"nqn\":\"" A "\",\"path\":\"%s\",\"nsid\":7,"
		 "\"uuid\":\"3f1c8f5e-8b9a-4c3d-9e2f-0a1b2c3d4e5f\",\"block_size\":4096}",
		 path);
	r = call(e, "add_ns", params);
	assert_int_equal(json_object_get_int(get(get(r, "result"), "nsid")), 7);
	json_object_put(r);

	s = subsys(e, A, &l);
	struct json_object *nss = get(s, "namespaces");
	assert_int_equal(json_object_array_length(nss), 2);
	struct json_object *n7 = json_object_array_get_idx(nss, 1);
	assert_int_equal(json_object_get_int(get(n7, "nsid")), 7);
	assert_string_equal(json_object_get_string(get(n7, "path")), path);
	assert_string_equal(json_object_get_string(get(n7, "uuid")),
			    "3f1c8f5e-8b9a-4c3d-9e2f-0a1b2c3d4e5f");
	assert_int_equal(json_object_get_int(get(n7, "block_size")), 4096);
	json_object_put(l);

	/* Refusals: the backend opened for them is closed again (ASan/valgrind
	 * see a leak otherwise) and no namespace appears. */
	refused(e, "add_ns", "{\"nqn\":\"" A "\",\"size\":1048576,\"nsid\":7}", JSONRPC_TARGET_ERROR,
		EEXIST);
	refused(e, "add_ns", "{\"nqn\":\"" A "\"}", JSONRPC_INVALID_PARAMS, 0);
	/* A missing file: the errno text once, and how to create it. */
	r = call(e, "add_ns", "{\"nqn\":\"" A "\",\"path\":\"/nonexistent-dir-nvmeof/ns.img\"}");
	const char *m = json_object_get_string(get(get(r, "error"), "message"));
	assert_non_null(strstr(m, "No such file or directory"));
	assert_null(strstr(strstr(m, "No such file or directory") + 1, "No such file or directory"));
	assert_non_null(strstr(m, "--size"));
	json_object_put(r);
	refused(e, "add_ns", "{\"nqn\":\"" A "\",\"path\":\"relative.img\"}", JSONRPC_INVALID_PARAMS, 0);
	refused(e, "add_ns", "{\"nqn\":\"" A "\",\"size\":4096,\"uuid\":\"xyz\"}",
		JSONRPC_INVALID_PARAMS, 0);
	refused(e, "add_ns", "{\"nqn\":\"" A "\",\"size\":4096,\"nsid\":100000}",
		JSONRPC_INVALID_PARAMS, 0);
	refused(e, "add_ns", "{\"nqn\":\"" A "\",\"path\":\"/nonexistent/dir/x.img\"}",
		JSONRPC_TARGET_ERROR, ENOENT);
	refused(e, "add_ns", "{\"nqn\":\"nqn.2014-08.org.nvmexpress.test:none\",\"size\":4096}",
		JSONRPC_TARGET_ERROR, ENOENT);
	s = subsys(e, A, &l);
	assert_int_equal(json_object_array_length(get(s, "namespaces")), 2);
	json_object_put(l);

	ok(e, "remove_ns", "{\"nqn\":\"" A "\",\"nsid\":1}");
	refused(e, "remove_ns", "{\"nqn\":\"" A "\",\"nsid\":1}", JSONRPC_TARGET_ERROR, ENOENT);
	refused(e, "remove_ns", "{\"nqn\":\"" A "\",\"nsid\":0}", JSONRPC_INVALID_PARAMS, 0);
	s = subsys(e, A, &l);
	assert_int_equal(json_object_array_length(get(s, "namespaces")), 1);
	json_object_put(l);
	unlink(path);
}

static void test_hosts(void **state)
{
	struct env *e = *state;
	struct json_object *l, *s;

	ok(e, "add_subsystem", "{\"nqn\":\"" A "\"}");
	struct json_object *r = call(e, "add_host", "{\"nqn\":\"" A "\",\"host\":\"" H1 "\"}");
	/* The caller learns that the list is not enforced while any host is allowed. */
	assert_false(json_object_get_boolean(get(get(r, "result"), "allow_any_host")));
	json_object_put(r);
	refused(e, "add_host", "{\"nqn\":\"" A "\",\"host\":\"" H1 "\"}", JSONRPC_TARGET_ERROR, EEXIST);
	refused(e, "add_host", "{\"nqn\":\"" A "\",\"host\":\"x y\"}", JSONRPC_INVALID_PARAMS, 0);
	s = subsys(e, A, &l);
	assert_int_equal(json_object_array_length(get(s, "hosts")), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(get(s, "hosts"), 0)), H1);
	json_object_put(l);
	ok(e, "remove_host", "{\"nqn\":\"" A "\",\"host\":\"" H1 "\"}");
	refused(e, "remove_host", "{\"nqn\":\"" A "\",\"host\":\"" H1 "\"}", JSONRPC_TARGET_ERROR,
		ENOENT);
}

/* Control log lines go to stderr: read them back from a file. */
static char *stderr_during_call(struct env *e, const char *method, const char *params)
{
	char path[] = "/tmp/nvmeof-rpc-log.XXXXXX", *buf = calloc(1, 65536);
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct json_object *r;

	assert_true(fd >= 0 && saved >= 0 && buf);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	log_set_level(LOG_LVL_DEBUG);
	r = call(e, method, params);
	fflush(stderr);
	log_set_level(LOG_LVL_ERROR);
	dup2(saved, STDERR_FILENO);
	close(saved);
	json_object_put(r);
	assert_true(pread(fd, buf, 65535, 0) >= 0);
	close(fd);
	unlink(path);
	return buf;
}

static void test_host_tls_key(void **state)
{
	struct env *e = *state;
	struct json_object *r, *eo;
	struct nvme_tls_key key, want;
	unsigned int kdf;
	char *log;

	ok(e, "add_subsystem", "{\"nqn\":\"" A "\"}");
	/* A bad key is refused, naming the parameter, and nothing is added. */
	r = call(e, "add_host", "{\"nqn\":\"" A "\",\"host\":\"" H1 "\",\"tls_key\":\"NVMeTLSkey-1:01:AAAA:\"}");
	assert_true(json_object_object_get_ex(r, "error", &eo));
	assert_int_equal(json_object_get_int(get(eo, "code")), JSONRPC_INVALID_PARAMS);
	assert_non_null(strstr(json_object_get_string(get(eo, "message")), "tls_key"));
	json_object_put(r);
	assert_int_equal(nvmf_tgt_get_host_tls_key(e->c.tgt, H1, &key, &kdf), -ENOKEY);
	refused(e, "add_host", "{\"nqn\":\"" A "\",\"host\":\"" H1 "\",\"tls_kdf\":\"md5\"}",
		JSONRPC_INVALID_PARAMS, 0);

	/* The key is stored, never shown, never logged. */
	log = stderr_during_call(e, "add_host",
				 "{\"nqn\":\"" A "\",\"host\":\"" H1 "\",\"tls_key\":\"" TLS_KEY "\"}");
	assert_null(strstr(log, "NVMeTLSkey"));
	assert_non_null(strstr(log, "(secret)"));
	free(log);
	assert_int_equal(nvmf_tgt_get_host_tls_key(e->c.tgt, H1, &key, &kdf), 0);
	assert_int_equal(nvme_tls_key_parse(TLS_KEY, &want), 0);
	assert_memory_equal(&key, &want, sizeof(key));
	assert_int_equal(kdf, NVME_TLS_KDF_LIBNVME);
	r = call(e, "list", NULL);
	assert_null(strstr(json_object_to_json_string(r), "NVMeTLSkey"));
	assert_non_null(strstr(json_object_to_json_string(r), "\"tls_key\": true"));
	json_object_put(r);

	/* Adding the listed host again changes its key (for new connections). */
	ok(e, "add_host", "{\"nqn\":\"" A "\",\"host\":\"" H1 "\",\"tls_key\":\"" TLS_KEY "\","
	   "\"tls_kdf\":\"rfc8446\"}");
	assert_int_equal(nvmf_tgt_get_host_tls_key(e->c.tgt, H1, &key, &kdf), 0);
	assert_int_equal(kdf, NVME_TLS_KDF_RFC8446);
	nvme_tls_key_clear(&key);
	nvme_tls_key_clear(&want);
}

static void test_port_security_params(void **state)
{
	struct env *e = *state;

	refused(e, "add_port", "{\"traddr\":\"127.0.0.1\",\"trsvcid\":\"4420\",\"tsas\":\"tls1.2\"}",
		JSONRPC_INVALID_PARAMS, 0);
	refused(e, "add_port", "{\"traddr\":\"127.0.0.1\",\"trsvcid\":\"4420\",\"treq\":\"required\"}",
		JSONRPC_INVALID_PARAMS, 0);
	refused(e, "add_port",
		"{\"traddr\":\"127.0.0.1\",\"trsvcid\":\"4420\",\"tsas\":\"tls1.3\",\"treq\":\"maybe\"}",
		JSONRPC_INVALID_PARAMS, 0);
	/* Valid settings get as far as the listener (none here without reactors). */
	refused(e, "add_port",
		"{\"traddr\":\"127.0.0.1\",\"trsvcid\":\"4420\",\"tsas\":\"tls1.3\",\"treq\":\"not-required\"}",
		JSONRPC_TARGET_ERROR, EINVAL);
}

static void test_ports_without_reactors(void **state)
{
	struct env *e = *state;
	struct json_object *r;

	ok(e, "add_subsystem", "{\"nqn\":\"" A "\"}");
	refused(e, "add_port", "{\"traddr\":\"127.0.0.1\",\"trsvcid\":\"0\"}", JSONRPC_INVALID_PARAMS, 0);
	refused(e, "add_port", "{\"traddr\":\"127.0.0.1\",\"trsvcid\":\"4420\",\"adrfam\":\"ipx\"}",
		JSONRPC_INVALID_PARAMS, 0);
	refused(e, "add_port",
		"{\"traddr\":\"127.0.0.1\",\"trsvcid\":\"4420\","
		"\"subsystems\":[\"nqn.2014-08.org.nvmexpress.test:none\"]}",
		JSONRPC_TARGET_ERROR, ENOENT);
	/* No reactors to listen on: the listener fails and the port is rolled back. */
	refused(e, "add_port",
		"{\"traddr\":\"127.0.0.1\",\"trsvcid\":\"4420\",\"portid\":3,\"subsystems\":[\"" A "\"]}",
		JSONRPC_TARGET_ERROR, EINVAL);
	assert_null(nvmf_port_find(e->c.tgt, 3));
	r = call(e, "list", NULL);
	assert_int_equal(json_object_array_length(get(get(r, "result"), "ports")), 0);
	json_object_put(r);

	/* A port the control server holds no listener for cannot be removed. */
	struct nvmf_port_opts po = { .portid = 4, .adrfam = NVMF_ADRFAM_IPV4 };
	struct nvmf_port *port;
	snprintf(po.traddr, sizeof(po.traddr), "127.0.0.1");
	snprintf(po.trsvcid, sizeof(po.trsvcid), "4420");
	assert_int_equal(nvmf_port_create(e->c.tgt, &po, &port), 0);
	refused(e, "remove_port", "{\"portid\":4}", JSONRPC_TARGET_ERROR, EBUSY);
	refused(e, "remove_port", "{\"portid\":5}", JSONRPC_TARGET_ERROR, ENOENT);
	ok(e, "link_port", "{\"portid\":4,\"nqn\":\"" A "\"}");
	refused(e, "link_port", "{\"portid\":4,\"nqn\":\"" A "\"}", JSONRPC_TARGET_ERROR, EEXIST);
	ok(e, "unlink_port", "{\"portid\":4,\"nqn\":\"" A "\"}");
	refused(e, "unlink_port", "{\"portid\":4,\"nqn\":\"" A "\"}", JSONRPC_TARGET_ERROR, ENOENT);
}

static void test_misc(void **state)
{
	struct env *e = *state;
	struct json_object *r;

	r = call(e, "rpc_methods", NULL);
	assert_int_equal(json_object_array_length(get(r, "result")), (int)control_n_methods);
	json_object_put(r);
	refused(e, "save_config", "{\"path\":\"relative.json\"}", JSONRPC_INVALID_PARAMS, 0);
	refused(e, "set_log_level", "{\"level\":\"loud\"}", JSONRPC_INVALID_PARAMS, 0);
	ok(e, "set_log_level", "{\"level\":\"error\"}");
	assert_int_equal(log_get_level(), LOG_LVL_ERROR);
	r = call(e, "metrics", NULL);
	assert_non_null(strstr(json_object_get_string(get(get(r, "result"), "text")),
			       "# TYPE nvmeof_subsystems gauge"));
	json_object_put(r);
	r = call(e, "stats", NULL);
	assert_non_null(get(get(r, "result"), "reactors"));
	json_object_put(r);
}

int main(void)
{
	log_set_level(LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_subsystem_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_namespaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hosts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_tls_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_security_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ports_without_reactors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misc, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
