/* SPDX-License-Identifier: MIT */
/*
 * RBD backend without a cluster: "rbd:" path parsing (accepted forms, every
 * refused form with its message), the config file's RBD namespace with its
 * "ceph" settings, opening (or fencing) against a conf file that does
 * not exist, and matching an exclusive lock's holder with a list of client
 * addresses.
 * tests/integration/rbd.sh covers the I/O against a real cluster.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>

#include "target/config.c"
/* addr_listed, to match a lock holder with a gateway member's recorded clients. */
#include "backend/backend_rbd.c"

static void test_parse_pool_image(void **state)
{
	struct backend_rbd_spec spec;
	char err[256] = "";

	assert_int_equal(backend_rbd_parse_path("rbd:rbd/img1", &spec, err, sizeof(err)), 0);
	assert_string_equal(spec.pool, "rbd");
	assert_string_equal(spec.ns, "");
	assert_string_equal(spec.image, "img1");
	assert_true(backend_path_is_rbd("rbd:rbd/img1"));
	assert_false(backend_path_is_rbd("/dev/rbd0"));
	assert_false(backend_path_is_rbd(NULL));
}

static void test_parse_pool_ns_image(void **state)
{
	struct backend_rbd_spec spec;
	char err[256] = "";

	assert_int_equal(backend_rbd_parse_path("rbd:pool-1/tenant.a/vm_disk-2", &spec, err, sizeof(err)), 0);
	assert_string_equal(spec.pool, "pool-1");
	assert_string_equal(spec.ns, "tenant.a");
	assert_string_equal(spec.image, "vm_disk-2");
}

static const struct {
	const char *path;
	const char *message;
} bad_paths[] = {
	{ "rbd:", "rbd:: no image (expected rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)" },
	{ "rbd:pool", "rbd:pool: no image (expected rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)" },
	{ "rbd:/img", "rbd:/img: empty pool name (expected rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)" },
	{ "rbd:pool/", "rbd:pool/: empty image name (expected rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)" },
	{ "rbd:pool//img",
	  "rbd:pool//img: empty namespace name (expected rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)" },
	{ "rbd:a/b/c/d", "rbd:a/b/c/d: too many '/' (expected rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)" },
	{ "rbd:pool/img@snap", "rbd:pool/img@snap: snapshots (@SNAP) are not supported" },
	{ "rbd:pool/my img", "rbd:pool/my img: image name has a space or control character" },
	{ "rbd:po\tol/img", "rbd:po\tol/img: pool name has a space or control character" },
	{ "/dev/rbd0", "/dev/rbd0: not an rbd: path" },
};

static void test_parse_refused(void **state)
{
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		struct backend_rbd_spec spec;
		char err[256] = "";
		int ret = backend_rbd_parse_path(bad_paths[i].path, &spec, err, sizeof(err));

		if (ret != -EINVAL || strcmp(err, bad_paths[i].message))
			fail_msg("'%s': ret %d\n  got:  %s\n  want: %s", bad_paths[i].path, ret, err,
				 bad_paths[i].message);
	}
}

static void test_parse_name_too_long(void **state)
{
	char path[BACKEND_RBD_NAME_MAX + 16], err[1024] = "";
	struct backend_rbd_spec spec;

	snprintf(path, sizeof(path), "rbd:p/%0*d", BACKEND_RBD_NAME_MAX, 0);
	assert_int_equal(backend_rbd_parse_path(path, &spec, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "image name longer than 255 bytes"));
	/* The longest accepted name. */
	snprintf(path, sizeof(path), "rbd:p/%0*d", BACKEND_RBD_NAME_MAX - 1, 0);
	assert_int_equal(backend_rbd_parse_path(path, &spec, err, sizeof(err)), 0);
	assert_int_equal(strlen(spec.image), BACKEND_RBD_NAME_MAX - 1);
}

/* The config file keeps the path and the per-namespace Ceph settings. */
static void test_config_rbd_namespace(void **state)
{
	static const char text[] =
		"{\"subsystems\": [{\"nqn\": \"nqn.2014-08.org.example:s1\", \"namespaces\": ["
		"{\"nsid\": 1, \"device\": {\"path\": \"rbd:rbd/img1\"}},"
		"{\"nsid\": 2, \"device\": {\"path\": \"rbd:rbd/ns1/img2\"},"
		" \"ceph\": {\"conf\": \"/etc/ceph/other.conf\", \"id\": \"nvmeof\"}}]}]}";
	struct cfg_ctx c = { .file = "config.json", .err = (char[256]){ 0 }, .errlen = 256 };
	struct cfg cfg;

	assert_int_equal(cfg_parse(&c, text, strlen(text), &cfg), 0);
	assert_int_equal(cfg.n_subsys, 1);
	assert_int_equal(cfg.subsys[0].n_ns, 2);
	assert_string_equal(cfg.subsys[0].ns[0].bopts.path, "rbd:rbd/img1");
	assert_null(cfg.subsys[0].ns[0].bopts.ceph_conf);
	assert_null(cfg.subsys[0].ns[0].bopts.ceph_id);
	assert_string_equal(cfg.subsys[0].ns[1].bopts.path, "rbd:rbd/ns1/img2");
	assert_string_equal(cfg.subsys[0].ns[1].bopts.ceph_conf, "/etc/ceph/other.conf");
	assert_string_equal(cfg.subsys[0].ns[1].bopts.ceph_id, "nvmeof");
	/* A changed Ceph setting is a changed namespace (reload replaces it). */
	assert_false(ns_equal(&cfg.subsys[0].ns[0], &cfg.subsys[0].ns[1]));
	cfg_free(&cfg);
}

/* Opening never gets as far as the network without a readable conf file. */
static void test_open_missing_conf(void **state)
{
	struct backend_open_opts bo = { .path = "rbd:rbd/img", .ceph_conf = "/nonexistent/ceph.conf" };
	struct backend *be = NULL;
	char err[512] = "";

	assert_int_equal(backend_open(&bo, &be, err, sizeof(err)), -ENOENT);
	assert_null(be);
	assert_string_equal(err, "rbd:rbd/img: ceph conf /nonexistent/ceph.conf: No such file or directory");
	/* Defaults apply when the namespace names none. */
	assert_int_equal(backend_rbd_set_defaults("/nonexistent/default.conf", "nvmeof"), 0);
	bo.ceph_conf = NULL;
	assert_int_equal(backend_open(&bo, &be, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "rbd:rbd/img: ceph conf /nonexistent/default.conf: No such file or directory");
	assert_string_equal(backend_rbd_default_id(), "nvmeof");
	assert_int_equal(backend_rbd_set_defaults(NULL, NULL), 0);
	assert_string_equal(backend_rbd_default_conf(), "/etc/ceph/ceph.conf");
	assert_string_equal(backend_rbd_default_id(), "admin");
	/* Options that make no sense for an image. */
	bo.direct = true;
	assert_int_equal(backend_open(&bo, &be, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "rbd:rbd/img: direct I/O does not apply to RBD images");
}

/* Fencing reports why it could not look at the lock, and names no holder. */
static void test_break_lock_unreachable(void **state)
{
	char owner[128] = "x", err[512] = "";

	assert_int_equal(backend_rbd_break_foreign_lock("rbd:rbd/img", "/nonexistent/ceph.conf", NULL, NULL, owner,
							sizeof(owner), err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(owner, "");
	assert_string_equal(err, "ceph conf /nonexistent/ceph.conf: No such file or directory");
	assert_int_equal(backend_rbd_break_foreign_lock("rbd:rbd", NULL, NULL, "127.0.0.1:0/1", owner,
							sizeof(owner), err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "rbd:rbd: no image (expected rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)");
}

/*
 * A holder ("IP:PORT/NONCE", perhaps typed) is listed only as itself: the
 * type and an address vector's brackets do not matter, the nonce does.
 */
static void test_addr_listed(void **state)
{
	const char *one = "127.0.0.1:0/1507632529";

	assert_true(addr_listed(one, "127.0.0.1:0/1507632529"));
	assert_true(addr_listed(one, "v1:127.0.0.1:0/1507632529"));
	assert_true(addr_listed("v2:127.0.0.1:0/1507632529", "127.0.0.1:0/1507632529"));
	assert_true(addr_listed("10.0.0.1:0/7 127.0.0.1:0/1507632529", "any:127.0.0.1:0/1507632529"));
	assert_true(addr_listed("[v2:10.0.0.2:0/9,v1:10.0.0.2:0/9] 10.0.0.1:0/7", "v1:10.0.0.2:0/9"));
	assert_true(addr_listed("[v2:10.0.0.2:0/9,v1:10.0.0.2:0/9]", "10.0.0.2:0/9"));
	assert_true(addr_listed("[v2:[::1]:0/5,v1:[::1]:0/5]", "[::1]:0/5"));
	assert_true(addr_listed("  [::1]:0/5 ", "v1:[::1]:0/5"));
	/* Another client: another nonce, even one that starts the same, or another address. */
	assert_false(addr_listed(one, "127.0.0.1:0/150763252"));
	assert_false(addr_listed(one, "127.0.0.1:0/15076325290"));
	assert_false(addr_listed(one, "127.0.0.2:0/1507632529"));
	assert_false(addr_listed("[v2:10.0.0.2:0/9,v1:10.0.0.2:0/9]", "10.0.0.2:0/99"));
	assert_false(addr_listed("", one));
	assert_false(addr_listed(one, ""));
	assert_false(addr_listed(one, "v1:"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_pool_image),
		cmocka_unit_test(test_parse_pool_ns_image),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_parse_name_too_long),
		cmocka_unit_test(test_config_rbd_namespace),
		cmocka_unit_test(test_open_missing_conf),
		cmocka_unit_test(test_break_lock_unreachable),
		cmocka_unit_test(test_addr_listed),
	};

	log_set_level(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
