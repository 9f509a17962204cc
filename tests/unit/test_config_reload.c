/* SPDX-License-Identifier: MIT */
/*
 * Configuration reload: the plan between two configurations (pure: what
 * changed, in which order, what is left alone), its description (never a
 * key), and nvmf_config_reload / nvmf_config_check on a real target.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>

#include "target/config.c"

#define NQN_A "nqn.2026-01.io.nvmeof:a"
#define NQN_B "nqn.2026-01.io.nvmeof:b"
#define HOST1 "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000001"
#define HOST2 "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-000000000002"
/* A valid DH-HMAC-CHAP secret (32 bytes and CRC), for tests only. */
#define KEY1 "DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"

static char tmpdir[64];

/* JSON in C strings with ' for " keeps the tables readable. */
static void parse_or_fail(const char *text_q, struct cfg *cfg)
{
	char err[512] = "", *text = strdup(text_q);
	struct cfg_ctx c = { .file = "t.json", .err = err, .errlen = sizeof(err) };

	assert_non_null(text);
	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	if (cfg_parse(&c, text, strlen(text), cfg))
		fail_msg("%s", err);
	free(text);
}

/*
 * A configuration in a few words: subsystem A with namespaces given as
 * "nsid:size ..." (RAM), allow_any_host, allowed hosts, and port 1 (and
 * port 2 when port2) exporting A.
 */
static char *doc(const char *hosts, int allow_any, const char *allowed, const char *nss, bool port2,
		 const char *p1svc)
{
	char ns_json[1024] = "", *out = NULL;
	char *list = strdup(nss), *save = NULL;

	for (char *tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		unsigned int nsid;
		char size[32];

		assert_int_equal(sscanf(tok, "%u:%31s", &nsid, size), 2);
		snprintf(ns_json + strlen(ns_json), sizeof(ns_json) - strlen(ns_json),
			 "%s{'nsid':%u,'device':{'size':'%s'}}", ns_json[0] ? "," : "", nsid, size);
	}
	free(list);
	assert_true(asprintf(&out,
			     "{'hosts':[%s],'subsystems':[{'nqn':'" NQN_A "','attr':{'allow_any_host':'%d'},"
			     "'allowed_hosts':[%s],'namespaces':[%s]}],"
			     "'ports':[{'portid':1,'addr':{'trtype':'tcp','adrfam':'ipv4','traddr':'127.0.0.1',"
			     "'trsvcid':'%s'},'subsystems':['" NQN_A "']}%s]}",
			     hosts, allow_any, allowed, ns_json, p1svc,
			     port2 ? ",{'portid':2,'addr':{'trtype':'tcp','adrfam':'ipv4','traddr':'127.0.0.1',"
				     "'trsvcid':'4421'},'subsystems':['" NQN_A "']}"
				   : "") > 0);
	return out;
}

static void plan_of(const char *old_q, const char *new_q, struct cfg *old, struct cfg *new, struct plan *p)
{
	parse_or_fail(old_q, old);
	parse_or_fail(new_q, new);
	assert_int_equal(plan_build(old, new, p), 0);
}

/* The plan as "op:detail" words, for comparing with what is expected. */
static void plan_words(const struct cfg *new, const struct plan *p, char *buf, size_t len)
{
	buf[0] = '\0';
	for (unsigned int i = 0; i < p->n; i++) {
		char line[512];

		plan_describe(new, &p->steps[i], true, line, sizeof(line));
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? "\n" : "", line);
	}
}

static void free_all(struct cfg *a, struct cfg *b, struct plan *p, char *x, char *y)
{
	cfg_free(a);
	cfg_free(b);
	plan_free(p);
	free(x);
	free(y);
}

static void test_same_file_no_change(void **state)
{
	char *a = doc("{'nqn':'" HOST1 "'}", 0, "'" HOST1 "'", "1:1M 2:2M", true, "4420");
	char *b = doc("{'nqn':'" HOST1 "'}", 0, "'" HOST1 "'", "1:1M 2:2M", true, "4420");
	struct cfg old, new;
	struct plan p;

	plan_of(a, b, &old, &new, &p);
	assert_int_equal(p.n, 0);
	free_all(&old, &new, &p, a, b);
}

static void test_everything_changes_in_order(void **state)
{
	char *a = doc("{'nqn':'" HOST1 "'}", 1, "'" HOST1 "'", "1:1M 3:1M", false, "4420");
	char *b = doc("{'nqn':'" HOST1 "'},{'nqn':'" HOST2 "','dhchap':{'key':'" KEY1 "'}}", 0,
		      "'" HOST1 "','" HOST2 "'", "1:1M 2:1M", true, "4420");
	struct cfg old, new;
	struct plan p;
	char words[4096];

	plan_of(a, b, &old, &new, &p);
	plan_words(&new, &p, words, sizeof(words));
	assert_string_equal(words,
			    "set keys of host " HOST2 ": DH-HMAC-CHAP key set, TLS PSK none\n"
			    "changed subsystem " NQN_A ": allow_any_host 0, monitor 0\n"
			    "allowed host " HOST2 " on " NQN_A "\n"
			    "removed namespace 3 from " NQN_A "\n"
			    "added namespace 2 to " NQN_A ": RAM 1048576 bytes\n"
			    "added port 2: ipv4 127.0.0.1:4421, tsas none, treq not specified, 0 referral(s)\n"
			    "exported " NQN_A " on port 2");
	assert_null(strstr(words, "DHHC-1"));
	free_all(&old, &new, &p, a, b);
}

static void test_changed_things_are_recreated(void **state)
{
	/* Namespace 1 grows, port 1 moves: each goes and comes back; 2 stays. */
	char *a = doc("", 1, "", "1:1M 2:1M", false, "4420");
	char *b = doc("", 1, "", "1:2M 2:1M", false, "4430");
	struct cfg old, new;
	struct plan p;
	char words[4096];

	plan_of(a, b, &old, &new, &p);
	plan_words(&new, &p, words, sizeof(words));
	assert_string_equal(words,
			    "removed port 1 (127.0.0.1:4420) to recreate it changed\n"
			    "removed namespace 1 from " NQN_A " to recreate it changed\n"
			    "added namespace 1 to " NQN_A ": RAM 2097152 bytes\n"
			    "added port 1: ipv4 127.0.0.1:4430, tsas none, treq not specified, 0 referral(s)\n"
			    "exported " NQN_A " on port 1");
	free_all(&old, &new, &p, a, b);
}

static void test_removed_host_loses_keys(void **state)
{
	char *a = doc("{'nqn':'" HOST2 "','dhchap':{'key':'" KEY1 "'}}", 0, "'" HOST2 "'", "1:1M", false, "4420");
	char *b = doc("", 1, "", "1:1M", false, "4420");
	struct cfg old, new;
	struct plan p;
	char words[4096];

	plan_of(a, b, &old, &new, &p);
	plan_words(&new, &p, words, sizeof(words));
	assert_string_equal(words,
			    "changed subsystem " NQN_A ": allow_any_host 1, monitor 0\n"
			    "disallowed host " HOST2 " on " NQN_A "\n"
			    "cleared keys of host " HOST2 " (no longer in the file)");
	free_all(&old, &new, &p, a, b);
}

static void test_subsystems_and_links(void **state)
{
	/* B appears and is exported on port 1; A goes (its removal unlinks it). */
	const char *a = "{'subsystems':[{'nqn':'" NQN_A "'}],'ports':[{'portid':1,'addr':{'trtype':'tcp',"
			"'adrfam':'ipv4','traddr':'127.0.0.1','trsvcid':'4420'},'subsystems':['" NQN_A "']}]}";
	const char *b = "{'subsystems':[{'nqn':'" NQN_B "','attr':{'allow_any_host':'1'}}],'ports':[{'portid':1,"
			"'addr':{'trtype':'tcp','adrfam':'ipv4','traddr':'127.0.0.1','trsvcid':'4420'},"
			"'subsystems':['" NQN_B "']}]}";
	struct cfg old, new;
	struct plan p;
	char words[4096];

	plan_of(a, b, &old, &new, &p);
	plan_words(&new, &p, words, sizeof(words));
	assert_string_equal(words,
			    "removed subsystem " NQN_A "\n"
			    "added subsystem " NQN_B ": allow_any_host 1, monitor 0\n"
			    "exported " NQN_B " on port 1");
	free_all(&old, &new, &p, NULL, NULL);
}

static void test_unspecified_ids_match_generated_ones(void **state)
{
	/* The running target reports the UUID it generated; the file gives none. */
	const char *a = "{'subsystems':[{'nqn':'" NQN_A "','namespaces':[{'nsid':1,'device':{'size':'1M',"
			"'uuid':'d592cdf3-5d1c-44e0-8412-3fcf7d99df27','block_size':'512'}}]}]}";
	const char *b = "{'subsystems':[{'nqn':'" NQN_A "','namespaces':[{'nsid':1,'device':{'size':'1M'}}]}]}";
	const char *c = "{'subsystems':[{'nqn':'" NQN_A "','namespaces':[{'nsid':1,'device':{'size':'1M',"
			"'uuid':'d592cdf3-5d1c-44e0-8412-3fcf7d99df28'}}]}]}";
	struct cfg old, new;
	struct plan p;

	plan_of(a, b, &old, &new, &p);
	assert_int_equal(p.n, 0);
	free_all(&old, &new, &p, NULL, NULL);
	plan_of(a, c, &old, &new, &p);
	assert_int_equal(p.n, 2); /* a different UUID given: recreated */
	free_all(&old, &new, &p, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* On a real target                                                    */

struct fake_listeners {
	unsigned int started, stopped;
	int fail_start;
};

static int fake_start(void *ctx, struct nvmf_port *port)
{
	struct fake_listeners *f = ctx;

	if (f->fail_start)
		return f->fail_start;
	f->started++;
	return 0;
}

static int fake_stop(void *ctx, uint16_t portid)
{
	struct fake_listeners *f = ctx;

	f->stopped++;
	return 0;
}

static void write_q(const char *path, const char *text_q)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	for (const char *s = text_q; *s; s++)
		fputc(*s == '\'' ? '"' : *s, f);
	assert_int_equal(fclose(f), 0);
}

static unsigned int ns_count(struct nvmf_tgt *tgt)
{
	struct json_object *snap = nvmf_tgt_snapshot(tgt), *subs, *nss;
	unsigned int n = 0;

	assert_non_null(snap);
	subs = snap_array(snap, "subsystems");
	for (size_t i = 0; subs && i < json_object_array_length(subs); i++)
		if ((nss = snap_array(json_object_array_get_idx(subs, i), "namespaces")))
			n += (unsigned int)json_object_array_length(nss);
	json_object_put(snap);
	return n;
}

static void test_reload_real_target(void **state)
{
	struct fake_listeners f = { 0 };
	const struct nvmf_config_listeners lis = { fake_start, fake_stop, &f };
	struct nvmf_tgt *tgt;
	char path[128], err[512];
	char *v1 = doc("{'nqn':'" HOST1 "'}", 1, "'" HOST1 "'", "1:1M 3:1M", false, "4420");
	char *v2 = doc("{'nqn':'" HOST1 "'},{'nqn':'" HOST2 "','dhchap':{'key':'" KEY1 "'}}", 0,
		       "'" HOST1 "','" HOST2 "'", "1:1M 2:1M", true, "4420");
	struct nvmf_dhchap_cfg d;

	snprintf(path, sizeof(path), "%s/reload.json", tmpdir);
	write_q(path, v1);
	assert_int_equal(nvmf_tgt_create(&tgt), 0);
	if (nvmf_config_load(tgt, path, err, sizeof(err)))
		fail_msg("%s", err);

	/* Unchanged: nothing to do. */
	assert_int_equal(nvmf_config_reload(tgt, path, &lis, err, sizeof(err)), 0);
	assert_int_equal(f.started + f.stopped, 0);

	write_q(path, v2);
	if (nvmf_config_reload(tgt, path, &lis, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(ns_count(tgt), 2);
	assert_non_null(nvmf_port_find(tgt, 2));
	assert_int_equal(f.started, 1);
	assert_int_equal(nvmf_tgt_get_host_dhchap(tgt, HOST2, &d), 0);
	assert_string_equal(d.key, KEY1);
	nvmf_dhchap_cfg_wipe(&d);

	/* A broken file changes nothing and says where it broke. */
	write_q(path, "{'subsystems':[{'nqn':'" NQN_A "','attr':{'allow_any_host':'maybe'}}]}");
	assert_int_equal(nvmf_config_reload(tgt, path, &lis, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "subsystems[0].attr.allow_any_host"));
	assert_int_equal(ns_count(tgt), 2);
	assert_non_null(nvmf_port_find(tgt, 2));

	/* Back to v1: port 2 is stopped and removed, the host's keys cleared. */
	write_q(path, v1);
	assert_int_equal(nvmf_config_reload(tgt, path, &lis, err, sizeof(err)), 0);
	assert_null(nvmf_port_find(tgt, 2));
	assert_int_equal(f.stopped, 1);
	assert_int_equal(nvmf_tgt_get_host_dhchap(tgt, HOST2, &d), -ENOENT);
	assert_int_equal(ns_count(tgt), 2);

	/* A port that cannot listen: logged, the rest applied, -EIO. */
	f.fail_start = -EADDRINUSE;
	write_q(path, v2);
	assert_int_equal(nvmf_config_reload(tgt, path, &lis, err, sizeof(err)), -EIO);
	assert_null(nvmf_port_find(tgt, 2));
	assert_non_null(nvmf_subsys_find(tgt, NQN_A));
	assert_int_equal(nvmf_tgt_get_host_dhchap(tgt, HOST2, &d), 0);
	nvmf_dhchap_cfg_wipe(&d);

	nvmf_tgt_destroy(tgt);
	free(v1);
	free(v2);
}

static void test_check_prints_plan(void **state)
{
	char path[128], out_path[128], err[512], text[4096] = "";
	char *v = doc("{'nqn':'" HOST2 "','dhchap':{'key':'" KEY1 "'}}", 0, "'" HOST2 "'", "1:1M", false, "4420");
	FILE *out;
	size_t n;

	snprintf(path, sizeof(path), "%s/check.json", tmpdir);
	snprintf(out_path, sizeof(out_path), "%s/check.out", tmpdir);
	write_q(path, v);
	out = fopen(out_path, "w+");
	assert_non_null(out);
	assert_int_equal(nvmf_config_check(path, out, err, sizeof(err)), 0);
	rewind(out);
	n = fread(text, 1, sizeof(text) - 1, out);
	text[n] = '\0';
	fclose(out);
	assert_non_null(strstr(text, "add subsystem " NQN_A));
	assert_non_null(strstr(text, "add namespace 1 to " NQN_A));
	assert_non_null(strstr(text, "set keys of host " HOST2 ": DH-HMAC-CHAP key set"));
	assert_non_null(strstr(text, "add port 1: ipv4 127.0.0.1:4420"));
	assert_null(strstr(text, "DHHC-1"));

	/* A missing device is an error naming the field; nothing is created. */
	write_q(path, "{'subsystems':[{'nqn':'" NQN_A "','namespaces':[{'nsid':1,'device':"
		      "{'path':'/nonexistent/disk.img'}}]}]}");
	out = fopen(out_path, "w");
	assert_non_null(out);
	assert_int_equal(nvmf_config_check(path, out, err, sizeof(err)), -EINVAL);
	fclose(out);
	assert_non_null(strstr(err, "subsystems[0].namespaces[0].device.path"));
	free(v);
}

static int setup(void **state)
{
	log_set_level(LOG_LVL_ERROR); /* the changes and refusals logged here are expected */
	snprintf(tmpdir, sizeof(tmpdir), "/var/tmp/test_config_reload.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_file_no_change),
		cmocka_unit_test(test_everything_changes_in_order),
		cmocka_unit_test(test_changed_things_are_recreated),
		cmocka_unit_test(test_removed_host_loses_keys),
		cmocka_unit_test(test_subsystems_and_links),
		cmocka_unit_test(test_unspecified_ids_match_generated_ones),
		cmocka_unit_test(test_reload_real_target),
		cmocka_unit_test(test_check_prints_plan),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
