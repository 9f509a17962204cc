/* SPDX-License-Identifier: MIT */
/*
 * nvmeof CLI: option parsing (nvme-cli names), discovery log printing and
 * the nvme-cli style outputs (status texts, features, hex dump, SMART log).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/hex.h"

#include "../../src/cli/nvmeof/disc_print.c"
#include "../../src/cli/nvmeof/opts.c"
#include "../../src/cli/nvmeof/tls_key.c"
#include "../../src/cli/nvmeof/feat_cmds.c"
#include "../../src/cli/nvmeof/io_cmds.c"
#include "../../src/cli/nvmeof/log_cmds.c"
#include "../../src/cli/nvmeof/nvme_print.c"
#include "proto/nvme_spec.h"

static void quiet_usage(FILE *f) { (void)f; }

static int parse(struct cli_conn *c, int argc, char **argv, bool hostnqn_short)
{
	cli_conn_init(c, NVMEOF_IO_PORT);
	return cli_parse(argc, argv, c, NULL, NULL, hostnqn_short, NULL, NULL, quiet_usage);
}

static void test_conn_options(void **state)
{
	struct cli_conn c;
	char *argv[] = { "id-ctrl", "-t", "tcp", "-a", "10.0.0.1", "--trsvcid=4421", "-n", "nqn.x:y",
			 "-q", "nqn.h:1", "-I", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "--nr-io-queues=3",
			 "--queue-size", "64", "--hdr-digest", "--data-digest", "--keep-alive-tmo=7",
			 "--reconnect-delay=2", "--ctrl-loss-tmo=-1", "--fast_io_fail_tmo=4",
			 "--output-format=json", NULL };

	assert_int_equal(parse(&c, 22, argv, true), 0);
	assert_string_equal(c.opts.traddr, "10.0.0.1");
	assert_string_equal(c.opts.trsvcid, "4421");
	assert_string_equal(c.opts.subnqn, "nqn.x:y");
	assert_string_equal(c.opts.hostnqn, "nqn.h:1");
	assert_int_equal(c.opts.hostid[0], 0x0f);
	assert_int_equal(c.opts.hostid[15], 0xf0);
	assert_int_equal(c.opts.nr_io_queues, 3);
	assert_int_equal(c.opts.queue_size, 64);
	assert_true(c.opts.hdr_digest && c.opts.data_digest);
	assert_int_equal(c.opts.kato_ms, 7000);
	assert_int_equal(c.opts.reconnect_delay_s, 2);
	assert_int_equal(c.opts.ctrl_loss_tmo_s, -1);
	assert_int_equal(c.opts.fast_io_fail_tmo_s, 4);
	assert_true(c.json);
	assert_int_equal(cli_conn_finish(&c, "id-ctrl", true), 0);
}

/* Several -a: each -s after an -a is its port, one before the first -a the default. */
static void test_multipath_pairs(void **state)
{
	struct cli_conn c;
	struct nvmeof_ctrl_opts o;
	char *argv[] = { "perf", "-s", "4430", "-a", "10.0.0.1", "-a", "10.0.0.2", "-s", "4421",
			 "-a", "10.0.0.3", "-n", "nqn.x:y", NULL };

	assert_int_equal(parse(&c, 13, argv, false), 0);
	assert_int_equal(c.npaths, 3);
	cli_conn_path_opts(&c, 0, &o);
	assert_string_equal(o.traddr, "10.0.0.1");
	assert_string_equal(o.trsvcid, "4430");
	cli_conn_path_opts(&c, 1, &o);
	assert_string_equal(o.traddr, "10.0.0.2");
	assert_string_equal(o.trsvcid, "4421");
	assert_string_equal(o.subnqn, "nqn.x:y");
	cli_conn_path_opts(&c, 2, &o);
	assert_string_equal(o.traddr, "10.0.0.3");
	assert_string_equal(o.trsvcid, "4430");
	/* The single-path fields are the first path's. */
	assert_string_equal(c.opts.traddr, "10.0.0.1");
	assert_string_equal(c.opts.trsvcid, "4430");
	/* Only a command that asked for it takes several paths. */
	assert_int_equal(cli_conn_finish(&c, "id-ctrl", true), -EINVAL);
	c.multipath_ok = true;
	assert_int_equal(cli_conn_finish(&c, "perf", true), 0);

	/* Without any -s every path gets the default port. */
	char *argv2[] = { "perf", "-a", "10.0.0.1", "-a", "10.0.0.2", NULL };

	assert_int_equal(parse(&c, 5, argv2, false), 0);
	cli_conn_path_opts(&c, 1, &o);
	assert_string_equal(o.trsvcid, NVMEOF_IO_PORT);
	assert_false(c.default_port_set);

	/* Two ports for one address is a mistake, not a silent override. */
	char *argv3[] = { "perf", "-a", "10.0.0.1", "-s", "4420", "-s", "4421", NULL };

	assert_int_equal(parse(&c, 7, argv3, false), -EINVAL);
}

static int sub_opt(void *ctx, int opt, const char *arg)
{
	(void)arg;
	*(int *)ctx = opt;
	return 0;
}

/* nvme-cli's -S/-C for the DH-HMAC-CHAP secrets, unless the command owns the letter. */
static void test_dhchap_options(void **state)
{
	struct cli_conn c;
	char *argv[] = { "id-ctrl", "-a", "10.0.0.1", "-n", "nqn.x:y", "-S", "DHHC-1:00:a:", "-C", "DHHC-1:00:b:", NULL };
	char *argv2[] = { "read", "-a", "10.0.0.1", "-S", "7", "--dhchap-secret=DHHC-1:00:c:",
			  "--dhchap-ctrl-secret", "DHHC-1:00:d:", NULL };
	int sub = 0;

	(void)state;
	assert_int_equal(parse(&c, 9, argv, true), 0);
	assert_string_equal(c.opts.dhchap_secret, "DHHC-1:00:a:");
	assert_string_equal(c.opts.dhchap_ctrl_secret, "DHHC-1:00:b:");
	/* read/write: -S is the start block, the long forms still work. */
	cli_conn_init(&c, NVMEOF_IO_PORT);
	assert_int_equal(cli_parse(8, argv2, &c, (const struct option[]){ { "start-block", required_argument, NULL, 'S' }, { 0 } },
				   "S:", true, sub_opt, &sub, quiet_usage), 0);
	assert_int_equal(sub, 'S');
	assert_string_equal(c.opts.dhchap_secret, "DHHC-1:00:c:");
	assert_string_equal(c.opts.dhchap_ctrl_secret, "DHHC-1:00:d:");
}

static void test_defaults_and_errors(void **state)
{
	struct cli_conn c;
	char *a1[] = { "discover", "-a", "127.0.0.1", NULL };

	cli_conn_init(&c, NVMEOF_DISC_PORT);
	assert_int_equal(cli_parse(3, a1, &c, NULL, NULL, true, NULL, NULL, quiet_usage), 0);
	assert_string_equal(c.opts.trsvcid, "8009");
	assert_int_equal(c.opts.ctrl_loss_tmo_s, 600);
	assert_int_equal(c.opts.fast_io_fail_tmo_s, -1);
	assert_int_equal(c.opts.reconnect_delay_s, 10);
	/* Without -n the nqn is missing for commands that need one. */
	assert_int_equal(cli_conn_finish(&c, "id-ctrl", true), -EINVAL);
	assert_int_equal(cli_conn_finish(&c, "discover", false), 0);
	assert_true(c.opts.hostnqn[0] != '\0'); /* a default host NQN was chosen */

	char *a2[] = { "x", "-t", "rdma", "-a", "1.2.3.4", NULL };

	assert_int_equal(parse(&c, 5, a2, true), -EINVAL);
	char *a3[] = { "x", "-a", "1.2.3.4", "-s", "99999", NULL };

	assert_int_equal(parse(&c, 5, a3, true), -EINVAL);
	char *a4[] = { "x", "-a", "1.2.3.4", "-I", "not-a-uuid", NULL };

	assert_int_equal(parse(&c, 5, a4, true), -EINVAL);
	char *a5[] = { "x", "--queue-size=1", NULL };

	assert_int_equal(parse(&c, 2, a5, true), -EINVAL);
	/* perf leaves -q to its queue depth; --hostnqn still works. */
	char *a6[] = { "perf", "-q", "8", NULL };

	assert_int_equal(parse(&c, 3, a6, false), -EINVAL);
	char *a7[] = { "perf", "--hostnqn=nqn.h:2", NULL };

	assert_int_equal(parse(&c, 2, a7, false), 0);
	assert_string_equal(c.opts.hostnqn, "nqn.h:2");
}

static void test_sizes(void **state)
{
	uint64_t v;

	assert_int_equal(parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("128k", &v), 0);
	assert_int_equal(v, 131072);
	assert_int_equal(parse_size("1M", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(parse_size("2GiB", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(parse_size("-1", &v), -EINVAL);
	assert_int_equal(parse_size("12x", &v), -EINVAL);
	assert_int_equal(parse_size("", &v), -EINVAL);
	assert_int_equal(parse_size("1.5G", &v), -EINVAL);
	assert_int_equal(parse_size("1Gx", &v), -EINVAL);
	assert_int_equal(parse_size("2tb", &v), 0);
	assert_int_equal(v, 2ull << 40);
	assert_int_equal(parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_size("9223372036854775807", &v), 0);
	assert_int_equal(parse_size("9223372036854775808", &v), -ERANGE);
	assert_int_equal(parse_size("8192P", &v), -ERANGE);
}

static void test_uuid(void **state)
{
	uint8_t u[16];
	char s[37];

	assert_int_equal(nvmeof_uuid_parse("f81d4fae-7dec-11d0-a765-00a0c91e6bf6", u), 0);
	nvmeof_uuid_format(u, s);
	assert_string_equal(s, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
	assert_int_equal(nvmeof_uuid_parse("f81d4fae7dec-11d0-a765-00a0c91e6bf6x", u), -EINVAL);
	assert_int_equal(nvmeof_uuid_parse("f81d4fae-7dec-11d0-a765-00a0c91e6bfg", u), -EINVAL);
}

static uint8_t *make_log(unsigned int n)
{
	uint8_t *log = calloc(1, 1024 + 1024 * n);
	struct nvmf_disc_log_hdr *h = (struct nvmf_disc_log_hdr *)log;
	struct nvmf_disc_log_entry *e = (struct nvmf_disc_log_entry *)(log + 1024);

	h->genctr = 5;
	h->numrec = n;
	for (unsigned int i = 0; i < n; i++) {
		e[i].trtype = NVMF_TRTYPE_TCP;
		e[i].adrfam = NVMF_ADRFAM_IPV4;
		e[i].subtype = i == 0 ? NVMF_SUBTYPE_CURRENT_DISC : NVMF_SUBTYPE_NVME;
		e[i].treq = NVMF_TREQ_NOT_REQUIRED | NVMF_TREQ_DISABLE_SQFLOW;
		e[i].portid = (uint16_t)(i + 1);
		e[i].eflags = i == 0 ? 3 : 0;
		memset(e[i].trsvcid, ' ', sizeof(e[i].trsvcid));
		memcpy(e[i].trsvcid, i == 0 ? "8009" : "4420", 4);
		strcpy(e[i].subnqn, i == 0 ? NVME_DISC_NQN : "nqn.2026-01.io.nvmeof:ramdisk");
		strcpy(e[i].traddr, "10.0.2.15");
	}
	return log;
}

static void test_disc_text(void **state)
{
	uint8_t *log = make_log(2);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	disc_print_text(f, log, 2);
	fclose(f);
	assert_non_null(strstr(out, "Discovery Log Number of Records 2, Generation counter 5\n"));
	assert_non_null(strstr(out, "=====Discovery Log Entry 0======\ntrtype:  tcp\nadrfam:  ipv4\n"
				    "subtype: current discovery subsystem\n"
				    "treq:    not required, sq flow control disable supported\n"
				    "portid:  1\ntrsvcid: 8009\n"));
	assert_non_null(strstr(out, "eflags:  explicit discovery connections, duplicate discovery information\n"));
	assert_non_null(strstr(out, "=====Discovery Log Entry 1======\n"));
	assert_non_null(strstr(out, "subtype: nvme subsystem\n"));
	assert_non_null(strstr(out, "subnqn:  nqn.2026-01.io.nvmeof:ramdisk\ntraddr:  10.0.2.15\n"
				    "eflags:  none\nsectype: none\n"));
	free(out);
	free(log);
}

static void test_disc_json(void **state)
{
	uint8_t *log = make_log(2);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	disc_print_json(f, log, 2);
	fclose(f);
	json_object *o = json_tokener_parse(out);

	assert_non_null(o);
	json_object *recs, *genctr, *r1, *v;

	assert_true(json_object_object_get_ex(o, "genctr", &genctr));
	assert_int_equal(json_object_get_int(genctr), 5);
	assert_true(json_object_object_get_ex(o, "records", &recs));
	assert_int_equal(json_object_array_length(recs), 2);
	r1 = json_object_array_get_idx(recs, 1);
	assert_true(json_object_object_get_ex(r1, "trsvcid", &v));
	assert_string_equal(json_object_get_string(v), "4420"); /* padding trimmed */
	assert_true(json_object_object_get_ex(r1, "subnqn", &v));
	assert_string_equal(json_object_get_string(v), "nqn.2026-01.io.nvmeof:ramdisk");
	assert_true(json_object_object_get_ex(r1, "portid", &v));
	assert_int_equal(json_object_get_int(v), 2);
	json_object_put(o);
	free(out);
	free(log);
}

#define KEY1 "NVMeTLSkey-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"

static void test_tls_options(void **state)
{
	struct cli_conn c;
	char *a1[] = { "id-ctrl", "-a", "1.2.3.4", "-n", "nqn.x:y", "--tls-key=" KEY1, NULL };

	assert_int_equal(parse(&c, 6, a1, true), 0);
	assert_true(c.opts.tls); /* --tls-key implies --tls */
	assert_string_equal(c.opts.tls_key, KEY1);
	assert_null(c.opts.tls_key_identity);
	assert_int_equal(c.opts.tls_identity_version, 1);
	assert_int_equal(c.opts.tls_kdf, NVMEOF_TLS_KDF_LIBNVME);
	assert_int_equal(cli_conn_finish(&c, "id-ctrl", true), 0);

	char *a2[] = { "discover", "-a", "1.2.3.4", "--tls", "--tls-key", KEY1, "--tls-key-identity",
		       "NVMe0R01 nqn.h nqn.s", "--tls-kdf=rfc8446", "--tls-identity-version=0", NULL };

	assert_int_equal(parse(&c, 10, a2, true), 0);
	assert_string_equal(c.opts.tls_key_identity, "NVMe0R01 nqn.h nqn.s");
	assert_int_equal(c.opts.tls_kdf, NVMEOF_TLS_KDF_RFC8446);
	assert_int_equal(c.opts.tls_identity_version, 0);

	/* --tls alone: no keyring to find a key in. */
	char *a3[] = { "discover", "-a", "1.2.3.4", "--tls", NULL };

	assert_int_equal(parse(&c, 4, a3, true), 0);
	assert_true(c.opts.tls);
	assert_int_equal(cli_conn_finish(&c, "discover", false), -EINVAL);
	char *a4[] = { "x", "-a", "1.2.3.4", "--tls-key=DHHC-1:00:abc:", NULL };

	assert_int_equal(parse(&c, 4, a4, true), -EINVAL);
	char *a5[] = { "x", "-a", "1.2.3.4", "--tls-kdf=hkdf", NULL };

	assert_int_equal(parse(&c, 4, a5, true), -EINVAL);
	char *a6[] = { "x", "-a", "1.2.3.4", "--tls-identity-version=2", NULL };

	assert_int_equal(parse(&c, 4, a6, true), -EINVAL);
}

static void test_tls_key_commands(void **state)
{
	struct tls_key_args a;
	uint8_t b[4];
	char *g1[] = { "gen-tls-key", "--hmac=2", "-s", "00ff", "-n", "nqn.h", "-c", "nqn.s", "-I", "1", NULL };

	assert_int_equal(cli_tls_key_parse(10, g1, true, &a, quiet_usage), 0);
	assert_int_equal(a.hmac, 2);
	assert_string_equal(a.secret, "00ff");
	assert_string_equal(a.hostnqn, "nqn.h");
	assert_string_equal(a.subnqn, "nqn.s");
	assert_int_equal(a.identity, 1);
	char *g2[] = { "gen-tls-key", "--hmac=3", NULL };

	assert_int_equal(cli_tls_key_parse(2, g2, true, &a, quiet_usage), -EINVAL);
	char *g3[] = { "gen-tls-key", "--identity=2", NULL };

	assert_int_equal(cli_tls_key_parse(2, g3, true, &a, quiet_usage), -EINVAL);
	/* check-tls-key needs the key, and both NQNs or none. */
	char *c1[] = { "check-tls-key", NULL };

	assert_int_equal(cli_tls_key_parse(1, c1, false, &a, quiet_usage), -EINVAL);
	char *c2[] = { "check-tls-key", "--keydata=" KEY1, "-n", "nqn.h", NULL };

	assert_int_equal(cli_tls_key_parse(4, c2, false, &a, quiet_usage), -EINVAL);
	char *c3[] = { "check-tls-key", "-k", KEY1, NULL };

	assert_int_equal(cli_tls_key_parse(3, c3, false, &a, quiet_usage), 0);
	assert_string_equal(a.keydata, KEY1);
	assert_int_equal(a.identity, 1);

	size_t n = 0;

	assert_int_equal(hex_decode("00Ff7a10", b, 4, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(b[1], 0xff);
	assert_int_equal(b[2], 0x7a);
	assert_int_equal(hex_decode("00ff7a1", b, 4, &n), -EINVAL);
	assert_int_equal(hex_decode("00ff7a1g", b, 4, &n), -EINVAL);
	assert_int_equal(hex_decode("00ff7a1000", b, 4, &n), -EINVAL);

	/* A --secret of the wrong length for the hash is refused (exit 2). */
	char *g4[] = { "gen-tls-key", "--hmac=2", "--secret",
		       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", NULL };

	assert_int_equal(cmd_gen_tls_key(4, g4), 2);
	char *c4[] = { "check-tls-key", "--keydata=NVMeTLSkey-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaS:", NULL };

	assert_int_equal(cmd_check_tls_key(2, c4), 1); /* CRC mismatch */
}

/* A TLS-required port as the Linux target reports it. */
static void test_disc_tls_entry(void **state)
{
	uint8_t *log = make_log(1);
	struct nvmf_disc_log_entry *e = (struct nvmf_disc_log_entry *)(log + sizeof(struct nvmf_disc_log_hdr));
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	e->treq = 1; /* secure channel required */
	e->tsas[0] = 2; /* TLS 1.3 */
	f = open_memstream(&out, &len);
	disc_print_text(f, log, 1);
	fclose(f);
	assert_non_null(strstr(out, "treq:    required\n"));
	assert_non_null(strstr(out, "sectype: tls13\n"));
	free(out);
	out = NULL;
	f = open_memstream(&out, &len);
	disc_print_json(f, log, 1);
	fclose(f);
	json_object *o = json_tokener_parse(out), *recs, *v;

	assert_true(json_object_object_get_ex(o, "records", &recs));
	json_object *r = json_object_array_get_idx(recs, 0);

	assert_true(json_object_object_get_ex(r, "treq", &v));
	assert_string_equal(json_object_get_string(v), "required");
	assert_true(json_object_object_get_ex(r, "sectype", &v));
	assert_string_equal(json_object_get_string(v), "tls13");
	json_object_put(o);
	free(out);
	free(log);
}

/* Status names as nvme-cli prints them; command-specific codes depend on the command set. */
static void test_status_names(void **state)
{
	char buf[128];

	assert_string_equal(nvme_status_name(NVME_STATUS(NVME_SCT_CMD_SPECIFIC, 0x84), true), "Connect Invalid Host");
	assert_string_equal(nvme_status_name(NVME_STATUS(NVME_SCT_CMD_SPECIFIC, 0x82), true),
			    "Connect Invalid Parameters");
	assert_string_equal(nvme_status_name(NVME_STATUS(NVME_SCT_CMD_SPECIFIC, 0x81), true), "Controller Busy");
	assert_string_equal(nvme_status_name(NVME_STATUS(NVME_SCT_CMD_SPECIFIC, 0x91), true),
			    "Authentication Required");
	assert_string_equal(nvme_status_name(NVME_STATUS(NVME_SCT_CMD_SPECIFIC, 0x82), false),
			    "Attempted Write to Read Only Range");
	assert_string_equal(nvme_status_name(NVME_STATUS(NVME_SCT_GENERIC, 0x80) | NVME_STATUS_DNR, false),
			    "LBA Out of Range");
	assert_string_equal(nvme_status_name(NVME_STATUS(NVME_SCT_MEDIA, 0x81), false), "Unrecovered Read Error");
	assert_null(nvme_status_name(NVME_STATUS(NVME_SCT_GENERIC, 0x7f), false));
	assert_string_equal(nvme_status_format(NVME_STATUS(NVME_SCT_CMD_SPECIFIC, 0x84) | NVME_STATUS_DNR, true, buf,
					       sizeof(buf)),
			    "Connect Invalid Host (sct 1 sc 0x84, do not retry)");
	assert_string_equal(nvme_status_format(NVME_STATUS(7, 0x12), false, buf, sizeof(buf)),
			    "status sct 7 sc 0x12");
}

static char *refusal_text(uint16_t status, uint32_t dw0)
{
	struct nvmeof_ctrl_opts o;
	struct nvmeof_cpl cpl = { .status = status, .dw0 = dw0 };
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	memset(&o, 0, sizeof(o));
	o.traddr = "10.0.0.1";
	o.trsvcid = "4420";
	o.subnqn = "nqn.x:sub";
	snprintf(o.hostnqn, sizeof(o.hostnqn), "nqn.x:host");
	cli_print_connect_refusal(f, &o, &cpl);
	fclose(f);
	return text;
}

static void test_connect_refusal_hints(void **state)
{
	char *t = refusal_text(NVME_STATUS(NVME_SCT_CMD_SPECIFIC, 0x84) | NVME_STATUS_DNR, 0);

	assert_non_null(strstr(t, "Connect Invalid Host (sct 1 sc 0x84"));
	assert_non_null(strstr(t, "nvmeof target add-host nqn.x:sub nqn.x:host"));
	free(t);
	t = refusal_text(NVME_STATUS(NVME_SCT_CMD_SPECIFIC, 0x82), (1u << 16) | 256);
	assert_non_null(strstr(t, "Connect Invalid Parameters"));
	assert_non_null(strstr(t, "does not serve nqn.x:sub"));
	free(t);
	t = refusal_text(NVME_STATUS(NVME_SCT_CMD_SPECIFIC, 0x91), 0);
	assert_non_null(strstr(t, "--dhchap-secret"));
	free(t);
	t = refusal_text(NVME_STATUS(NVME_SCT_CMD_SPECIFIC, 0x81), 0);
	assert_non_null(strstr(t, "Controller Busy"));
	free(t);
}

/* get-log: nvme-cli's names; -n stays the subsystem NQN, the namespace is -N. */
static void test_get_log_options(void **state)
{
	struct cli_conn c;
	struct log_args a;
	char *argv[] = { "get-log", "-a", "10.0.0.1", "-n", "nqn.x:y", "--log-id=0x02", "-l", "512",
			 "--lsp=3", "--lsi=9", "--lpo=8", "--rae", "-N", "1", "-b", NULL };
	char *no_len[] = { "get-log", "-a", "h", "-n", "nqn.x:y", "-i", "2", NULL };
	char *odd_lpo[] = { "get-log", "-a", "h", "-n", "nqn.x:y", "-i", "2", "-l", "4", "--lpo=6", NULL };
	char *big_lsp[] = { "get-log", "-a", "h", "-n", "nqn.x:y", "-i", "2", "-l", "4", "--lsp=128", NULL };

	(void)state;
	assert_int_equal(getlog_parse(15, argv, &c, &a), 0);
	assert_string_equal(c.opts.subnqn, "nqn.x:y");
	assert_int_equal(a.lid, 2);
	assert_int_equal(a.len, 512);
	assert_int_equal(a.lsp, 3);
	assert_int_equal(a.lsi, 9);
	assert_int_equal(a.lpo, 8);
	assert_true(a.rae && a.raw);
	assert_int_equal(a.nsid, 1);
	assert_int_equal(getlog_parse(7, no_len, &c, &a), -EINVAL);
	assert_int_equal(getlog_parse(10, odd_lpo, &c, &a), -EINVAL);
	assert_int_equal(getlog_parse(10, big_lsp, &c, &a), -EINVAL);
	char *dflt[] = { "get-log", "-a", "h", "-n", "nqn.x:y", "-i", "1", "-l", "64", NULL };

	assert_int_equal(getlog_parse(9, dflt, &c, &a), 0);
	assert_int_equal(a.nsid, NVME_NSID_ALL);
}

static void test_feature_options(void **state)
{
	struct cli_conn c;
	struct feat_args a;
	char *get[] = { "get-feature", "-a", "h", "-n", "nqn.x:y", "--feature-id=0x81", "--cdw11=1", "--sel=2", NULL };
	char *set[] = { "set-feature", "-a", "h", "-n", "nqn.x:y", "-f", "0x0f", "--value=9000", "--save", "--cdw12=5", NULL };
	char *no_value[] = { "set-feature", "-a", "h", "-n", "nqn.x:y", "-f", "0x0f", NULL };
	char *no_fid[] = { "get-feature", "-a", "h", "-n", "nqn.x:y", NULL };
	char *bad_sel[] = { "get-feature", "-a", "h", "-n", "nqn.x:y", "-f", "7", "--sel=4", NULL };

	(void)state;
	assert_int_equal(feat_parse(8, get, &c, &a, false), 0);
	assert_int_equal(a.fid, 0x81);
	assert_int_equal(a.sel, 2);
	assert_int_equal(a.data_len, 16); /* extended host identifier, as nvme-cli */
	assert_int_equal(feat_parse(10, set, &c, &a, true), 0);
	assert_int_equal(a.fid, 0x0f);
	assert_int_equal(a.cdw11, 9000);
	assert_int_equal(a.cdw12, 5);
	assert_true(a.save);
	assert_int_equal(feat_parse(7, no_value, &c, &a, true), -EINVAL);
	assert_int_equal(feat_parse(5, no_fid, &c, &a, false), -EINVAL);
	assert_int_equal(feat_parse(8, bad_sel, &c, &a, false), -EINVAL);
}

static void test_io_options(void **state)
{
	struct cli_conn c;
	struct io_args *a = calloc(1, sizeof(*a));
	struct nvmeof_dsm_range r[3];
	char *wz[] = { "write-zeroes", "-a", "h", "-n", "nqn.x:y", "--start-block=8", "--block-count=7",
		       "--deac", "-N", "2", NULL };
	char *dsm[] = { "dsm", "-a", "h", "-n", "nqn.x:y", "--ad", "--slbs=32,64,0x100", "--blocks=4,8", NULL };
	char *no_ranges[] = { "dsm", "-a", "h", "-n", "nqn.x:y", "--ad", NULL };
	char *bad_list[] = { "dsm", "-a", "h", "-n", "nqn.x:y", "--slbs=1,,x", NULL };
	char *cmp[] = { "compare", "-a", "h", "-n", "nqn.x:y", "-S", "3", "--data-size=4k", "--data=f", NULL };
	char *cmp_no_size[] = { "compare", "-a", "h", "-n", "nqn.x:y", "--data=f", NULL };

	(void)state;
	assert_int_equal(io_parse(10, wz, &c, a, IO_WRITE_ZEROES), 0);
	assert_int_equal(a->slba, 8);
	assert_int_equal(a->nlb, 8);
	assert_int_equal(a->nsid, 2);
	assert_true(a->deac);
	assert_int_equal(io_parse(8, dsm, &c, a, IO_DSM), 0);
	assert_int_equal(a->nlb, 3); /* the longest list gives the range count */
	assert_int_equal(a->cdw11, NVMEOF_DSM_AD);
	dsm_fill(a, r);
	assert_int_equal(le64(r[1].slba), 64);
	assert_int_equal(le32(r[1].nlb), 8);
	assert_int_equal(le64(r[2].slba), 0x100);
	assert_int_equal(le32(r[2].nlb), 0);
	assert_int_equal(io_parse(6, no_ranges, &c, a, IO_DSM), -EINVAL);
	assert_int_equal(io_parse(6, bad_list, &c, a, IO_DSM), -EINVAL);
	assert_int_equal(io_parse(9, cmp, &c, a, IO_COMPARE), 0);
	assert_int_equal(a->slba, 3);
	assert_int_equal(a->data_size, 4096);
	assert_string_equal(a->data, "f");
	assert_int_equal(io_parse(6, cmp_no_size, &c, a, IO_COMPARE), -EINVAL);
	char *wz_big[] = { "write-zeroes", "-a", "h", "-n", "nqn.x:y", "-c", "65536", NULL };

	assert_int_equal(io_parse(7, wz_big, &c, a, IO_WRITE_ZEROES), -EINVAL);
	wz_big[6] = "65535";
	assert_int_equal(io_parse(7, wz_big, &c, a, IO_WRITE_ZEROES), 0);
	assert_int_equal(a->nlb, 65536);
	free(a);
}

static void test_nvme_print(void **state)
{
	char *out = NULL;
	size_t len;
	FILE *f;

	(void)state;
	assert_string_equal(nvme_status_text(0x4285),
			    "Compare Failure: The command failed due to a miscompare during a Compare command");
	assert_string_equal(nvme_status_text(0x0109), "Invalid Log Page: The log page indicated is invalid");
	assert_string_equal(nvme_status_text(0x07ff), "Unknown");
	assert_string_equal(nvme_feature_name(0x07), "Number of Queues");
	assert_string_equal(nvme_feature_name(0xff), "Unknown");

	f = open_memstream(&out, &len);
	nvme_print_get_feature(f, 7, 0, 0x00030003);
	nvme_print_get_feature(f, 0x0b, 0, 0);
	nvme_print_set_feature(f, 0x0f, 10000, 0, false);
	nvme_print_status(f, 0x4285);
	fclose(f);
	assert_string_equal(out, "get-feature:0x07 (Number of Queues), Current value:0x00030003\n"
				 "get-feature:0x0b (Async Event Configuration), Current value:00000000\n"
				 "set-feature:0x0f (Keep Alive Timer), value:0x00002710, cdw12:00000000, save:0\n"
				 "NVMe status: Compare Failure: The command failed due to a miscompare during a Compare command(0x4285)\n");
	free(out);

	uint8_t buf[20];

	for (int i = 0; i < 20; i++)
		buf[i] = (uint8_t)('A' + i);
	f = open_memstream(&out, &len);
	nvme_hexdump(f, buf, sizeof(buf));
	fclose(f);
	assert_string_equal(out, "       0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f\n"
				 "0000: 41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50 \"ABCDEFGHIJKLMNOP\"\n"
				 "0010: 51 52 53 54                                      \"QRST\"\n");
	free(out);

	/* A 128-bit counter above 2^64 keeps every digit, in text and JSON. */
	struct nvme_smart_log smart = { 0 };

	smart.temperature[0] = 0x2c; /* 300 K */
	smart.temperature[1] = 0x01;
	smart.host_writes[8] = 1; /* 2^64 */
	f = open_memstream(&out, &len);
	nvme_print_smart_text(f, &smart, "dev", NVME_NSID_ALL);
	fclose(f);
	assert_non_null(strstr(out, "temperature\t\t\t\t: 27°C (300 Kelvin)\n"));
	assert_non_null(strstr(out, "host_write_commands\t\t\t: 18446744073709551616\n"));
	free(out);
	f = open_memstream(&out, &len);
	nvme_print_smart_json(f, &smart);
	fclose(f);
	assert_non_null(strstr(out, "\"host_write_commands\":18446744073709551616"));
	assert_non_null(strstr(out, "\"temperature\":300"));
	json_object *o = json_tokener_parse(out);

	assert_non_null(o);
	json_object_put(o);
	free(out);

	char nqn[NVMEOF_NQN_MAX + 1];

	assert_int_equal(gen_hostnqn(nqn), 0);
	assert_int_equal(strlen(nqn), strlen("nqn.2014-08.org.nvmexpress:uuid:") + 36);
	assert_int_equal(nqn[strlen("nqn.2014-08.org.nvmexpress:uuid:") + 14], '4');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conn_options), cmocka_unit_test(test_multipath_pairs),
		cmocka_unit_test(test_dhchap_options),
		cmocka_unit_test(test_defaults_and_errors),
		cmocka_unit_test(test_sizes), cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_disc_text), cmocka_unit_test(test_disc_json),
		cmocka_unit_test(test_tls_options), cmocka_unit_test(test_tls_key_commands),
		cmocka_unit_test(test_disc_tls_entry), cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_connect_refusal_hints),
		cmocka_unit_test(test_get_log_options), cmocka_unit_test(test_feature_options),
		cmocka_unit_test(test_io_options), cmocka_unit_test(test_nvme_print),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
