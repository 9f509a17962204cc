/* SPDX-License-Identifier: MIT */
/*
 * nvmetcli JSON configuration: the pure parse/validate layer (every error
 * class, with the exact JSON path in the message), loading into a real
 * target, and save -> load round trips.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>

#include "target/config.c"

static char tmpdir[64];
static char examples[256];

/* JSON in C strings with ' for " keeps the tables readable. */
static char *q(const char *s)
{
	char *out = strdup(s);

	assert_non_null(out);
	for (char *p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

static int parse_q(const char *text_q, struct cfg *cfg, char *err, size_t errlen)
{
	struct cfg_ctx c = { .file = "config.json", .err = err, .errlen = errlen };
	char *text = q(text_q);
	int ret = cfg_parse(&c, text, strlen(text), cfg);

	free(text);
	return ret;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static char *read_all(const char *path)
{
	struct cfg_ctx c = { .file = path, .err = (char[256]){ 0 }, .errlen = 256 };
	char *text = NULL;
	size_t len;

	assert_int_equal(read_text(&c, path, &text, &len), 0);
	return text;
}

/* ------------------------------------------------------------------ */
/* Parsing what nvmetcli writes                                        */

static void test_parse_nvmetcli_kernel_example(void **state)
{
	char path[300], err[512];
	struct cfg_ctx c = { .file = "nvmetcli-kernel.json", .err = err, .errlen = sizeof(err) };
	struct cfg cfg;
	char *text;
	uint8_t want_uuid[16] = { 0xd5, 0x92, 0xcd, 0xf3, 0x5d, 0x1c, 0x44, 0xe0,
				  0x84, 0x12, 0x3f, 0xcf, 0x7d, 0x99, 0xdf, 0x27 };
	uint8_t zero[16] = { 0 };

	snprintf(path, sizeof(path), "%s/nvmetcli-kernel.json", examples);
	text = read_all(path);
	if (cfg_parse(&c, text, strlen(text), &cfg) != 0)
		fail_msg("%s", err);
	free(text);

	assert_int_equal(cfg.n_hosts, 2);
	assert_string_equal(cfg.hosts[0],
			    "nqn.2014-08.org.nvmexpress:uuid:8a3f1c52-6a0e-4c5b-9d41-2f7e0b6c9a13");
	assert_int_equal(cfg.n_subsys, 1);
	assert_string_equal(cfg.subsys[0].nqn, "nqn.2014-08.org.example:storage1:disk1");
	assert_false(cfg.subsys[0].allow_any_host);
	assert_false(cfg.subsys[0].monitor);
	assert_string_equal(cfg.subsys[0].serial, "7d1c0e5a9b3f2a44");
	assert_string_equal(cfg.subsys[0].model, "Linux");
	assert_int_equal(cfg.subsys[0].n_hosts, 2);
	assert_int_equal(cfg.subsys[0].n_ns, 1);
	assert_int_equal(cfg.subsys[0].ns[0].nsid, 1);
	assert_true(cfg.subsys[0].ns[0].enabled);
	assert_string_equal(cfg.subsys[0].ns[0].bopts.path, "/dev/nvme0n1");
	assert_memory_equal(cfg.subsys[0].ns[0].uuid, want_uuid, 16);
	assert_memory_equal(cfg.subsys[0].ns[0].nguid, zero, 16); /* all zero: derived later */

	assert_int_equal(cfg.n_ports, 1);
	assert_int_equal(cfg.ports[0].opts.portid, 1);
	assert_int_equal(cfg.ports[0].opts.adrfam, NVMF_ADRFAM_IPV4);
	assert_string_equal(cfg.ports[0].opts.traddr, "192.168.122.10");
	assert_string_equal(cfg.ports[0].opts.trsvcid, "4420");
	assert_int_equal(cfg.ports[0].n_subsys, 1);
	assert_int_equal(cfg.ports[0].subsys[0], 0);
	assert_int_equal(cfg.ports[0].n_referrals, 1);
	assert_int_equal(cfg.ports[0].referrals[0].portid, 2);
	assert_string_equal(cfg.ports[0].referrals[0].traddr, "192.168.122.11");
	cfg_free(&cfg);
}

static void test_parse_values(void **state)
{
	struct cfg cfg;
	char err[512];
	uint8_t nguid[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
			      0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

	/* Numbers and booleans where nvmetcli writes strings; sizes with units; 32-hex NGUIDs. */
	int ret = parse_q("{'subsystems': [{'nqn': 'nqn.2014-08.org.example:s1',"
			  " 'attr': {'allow_any_host': true, 'monitor': 1},"
			  " 'namespaces': ["
			  "  {'nsid': '7', 'enable': false, 'device': {'size': '512M', 'block_size': '4096',"
			  "   'nguid': '00112233445566778899AABBCCDDEEFF', 'read_only': 'true'}},"
			  "  {'nsid': 8, 'enable': '1', 'device': {'size': '2GiB', 'direct': 'yes'}},"
			  "  {'nsid': 9, 'device': {'size': 1048576, 'buffered_io': '0'}},"
			  "  {'nsid': 10, 'device': {'path': '/srv/a.img', 'size': '3k'}}]}],"
			  " 'ports': [{'portid': '3', 'addr': {'trtype': 'tcp', 'adrfam': 'ipv6',"
			  "   'traddr': 'fe80::1', 'trsvcid': 4420, 'tsas': 'none'},"
			  "   'param': {'inline_data_size': -1, 'max_queue_size': '128', 'future': 'x'},"
			  "   'referrals': [{'name': 'off', 'enable': 0, 'addr': {'trtype': 'tcp',"
			  "     'adrfam': 'ipv4', 'traddr': '10.0.0.1', 'trsvcid': '4420'}}],"
			  "   'subsystems': ['nqn.2014-08.org.example:s1']}]}",
			  &cfg, err, sizeof(err));

	if (ret)
		fail_msg("%s", err);
	assert_true(cfg.subsys[0].allow_any_host);
	assert_true(cfg.subsys[0].monitor);
	assert_int_equal(cfg.subsys[0].ns[0].nsid, 7);
	assert_false(cfg.subsys[0].ns[0].enabled);
	assert_null(cfg.subsys[0].ns[0].bopts.path);
	assert_int_equal(cfg.subsys[0].ns[0].bopts.size, 512ull << 20);
	assert_int_equal(cfg.subsys[0].ns[0].bopts.block_size, 4096);
	assert_true(cfg.subsys[0].ns[0].bopts.read_only);
	assert_memory_equal(cfg.subsys[0].ns[0].nguid, nguid, 16);
	assert_true(cfg.subsys[0].ns[1].enabled);
	assert_int_equal(cfg.subsys[0].ns[1].bopts.size, 2ull << 30);
	assert_true(cfg.subsys[0].ns[1].bopts.direct);
	assert_true(cfg.subsys[0].ns[2].enabled); /* enable defaults to 1 */
	assert_int_equal(cfg.subsys[0].ns[2].bopts.size, 1048576);
	assert_true(cfg.subsys[0].ns[2].bopts.direct);
	assert_string_equal(cfg.subsys[0].ns[3].bopts.path, "/srv/a.img");
	assert_int_equal(cfg.subsys[0].ns[3].bopts.size, 3072);
	assert_int_equal(cfg.ports[0].opts.portid, 3);
	assert_int_equal(cfg.ports[0].opts.adrfam, NVMF_ADRFAM_IPV6);
	assert_string_equal(cfg.ports[0].opts.trsvcid, "4420");
	assert_int_equal(cfg.ports[0].n_referrals, 0); /* disabled referral not served */
	cfg_free(&cfg);

	/* An empty document is a valid, empty target. */
	assert_int_equal(parse_q("{}", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_subsys + cfg.n_ports + cfg.n_hosts, 0);
	cfg_free(&cfg);
}

/* ------------------------------------------------------------------ */
/* Every error class names the field                                   */

#define TLS_KEY "NVMeTLSkey-1:01:/yQl+6QGx9SgV3VhysK75nGYHM/1Mx/CCcOHpRbwIpy3zAXW:"
#define HOST1 "'nqn.2014-08.org.example:host1'"
#define SUB1 "'nqn.2014-08.org.example:s1'"
#define ADDR4 "{'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1', 'trsvcid': '4420'}"
#define NS1 "{'nsid': 1, 'device': {'size': '1M'}}"
#define SUBSYS(ns) "{'nqn': " SUB1 ", 'namespaces': [" ns "]}"
#define DOC(subsys, ports) \
	"{'hosts': [{'nqn': " HOST1 "}], 'subsystems': [" subsys "], 'ports': [" ports "]}"
#define PORT(id, addr) "{'portid': " #id ", 'addr': " addr ", 'subsystems': [" SUB1 "]}"

static const struct {
	const char *json;
	const char *message;
} error_cases[] = {
	{ "{'hosts': [], 'bogus': 1}",
	  "config.json: bogus: unknown key (expected 'hosts', 'ports', 'subsystems')" },
	{ "[]",
	  "config.json: the top level must be an object with 'hosts', 'ports' and 'subsystems'" },
	{ "{'hosts': {}}", "config.json: hosts: must be an array, not an object" },
	{ "{'hosts': [{'nqn': 'host 1'}]}",
	  "config.json: hosts[0].nqn: invalid NQN 'host 1' (expected 1 to 223 printable characters "
	  "without blanks, e.g. nqn.yyyy-mm.domain:name)" },
	{ "{'hosts': [{'nqn': " HOST1 "}, {'nqn': " HOST1 "}]}",
	  "config.json: hosts[1].nqn: duplicate host 'nqn.2014-08.org.example:host1'" },
	{ "{'hosts': [{'nqn': " HOST1 ", 'dhchap': {'key': 'DHHC-1:00:abc:'}}]}",
	  "config.json: hosts[0].dhchap.key: not a DH-HMAC-CHAP secret (\"DHHC-1:HH:base64:\" with a 32, 48 or 64-byte secret and its CRC)" },
	{ "{'hosts': [{'nqn': " HOST1 ", 'dhchap': {'key': 'DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:', 'hash': 'hmac(md5)'}}]}",
	  "config.json: hosts[0].dhchap.hash: unknown hash \"hmac(md5)\" (hmac(sha256), hmac(sha384) or hmac(sha512))" },
	{ "{'hosts': [{'nqn': " HOST1 ", 'dhchap': {'key': 'DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:', 'dhgroup': 'ffdhe1024'}}]}",
	  "config.json: hosts[0].dhchap.dhgroup: unknown DH group \"ffdhe1024\" (null, ffdhe2048, ffdhe3072, ffdhe4096, ffdhe6144 or ffdhe8192)" },
	{ "{'hosts': [{'nqn': " HOST1 ", 'dhchap': {'ctrl_key': 'DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:'}}]}",
	  "config.json: hosts[0].dhchap.ctrl_key: a controller key needs a host key (\"key\")" },
	{ "{'hosts': [{'nqn': " HOST1 ", 'dhchap': {'key': 'DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaS:'}}]}",
	  "config.json: hosts[0].dhchap.key: not a DH-HMAC-CHAP secret (\"DHHC-1:HH:base64:\" with a 32, 48 or 64-byte secret and its CRC)" },
	{ DOC("{'nqn': 'nqn x'}", ""),
	  "config.json: subsystems[0].nqn: invalid NQN 'nqn x' (expected 1 to 223 printable "
	  "characters without blanks, e.g. nqn.yyyy-mm.domain:name)" },
	{ DOC("{'nqn': 'nqn.2014-08.org.nvmexpress.discovery'}", ""),
	  "config.json: subsystems[0].nqn: 'nqn.2014-08.org.nvmexpress.discovery' is the "
	  "discovery subsystem, which always exists" },
	{ DOC(SUBSYS(NS1) ", " SUBSYS(""), ""),
	  "config.json: subsystems[1].nqn: duplicate subsystem 'nqn.2014-08.org.example:s1' (also "
	  "subsystems[0])" },
	{ DOC("{'nqn': " SUB1 ", 'allowed_hosts': ['nqn.2014-08.org.example:h9']}", ""),
	  "config.json: subsystems[0].allowed_hosts[0]: unknown host "
	  "'nqn.2014-08.org.example:h9' (not in 'hosts')" },
	{ DOC("{'nqn': " SUB1 ", 'allowed_hosts': [" HOST1 ", " HOST1 "]}", ""),
	  "config.json: subsystems[0].allowed_hosts[1]: duplicate host "
	  "'nqn.2014-08.org.example:host1'" },
	{ DOC("{'nqn': " SUB1 ", 'attr': {'allow_any_host': 'maybe'}}", ""),
	  "config.json: subsystems[0].attr.allow_any_host: 'maybe' is not a boolean ('1' or '0')" },
	{ DOC("{'nqn': " SUB1 ", 'attr': {'serial': '123456789012345678901'}}", ""),
	  "config.json: subsystems[0].attr.serial: '123456789012345678901' is not 1 to 20 "
	  "printable ASCII characters" },
	{ DOC("{'nqn': " SUB1 ", 'attr': {'pi_enable': '1'}}", ""),
	  "config.json: subsystems[0].attr.pi_enable: protection information is not supported" },
	{ DOC("{'nqn': " SUB1 ", 'passthru': [{}]}", ""),
	  "config.json: subsystems[0].passthru: passthru is not supported" },
	{ DOC("{'nqn': " SUB1 ", 'name_space': []}", ""),
	  "config.json: subsystems[0].name_space: unknown key" },
	{ DOC(SUBSYS("{'nsid': 1, 'devcie': {}}"), ""),
	  "config.json: subsystems[0].namespaces[0].devcie: unknown key" },
	{ DOC(SUBSYS("{'device': {'size': '1M'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].nsid: missing" },
	{ DOC(SUBSYS("{'nsid': 0, 'device': {'size': '1M'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].nsid: 0 is out of range 1..1024" },
	{ DOC(SUBSYS("{'nsid': 1.5, 'device': {'size': '1M'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].nsid: must be an integer" },
	{ DOC(SUBSYS(NS1 ", " NS1), ""),
	  "config.json: subsystems[0].namespaces[1].nsid: duplicate nsid 1 (also "
	  "subsystems[0].namespaces[0])" },
	{ DOC(SUBSYS("{'nsid': 1}"), ""),
	  "config.json: subsystems[0].namespaces[0].device: missing" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'path': '/dev/null', 'preallocate': '1'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].device.preallocate: only a RAM namespace (no path) is "
	  "preallocated" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'path': ''}}"), ""),
	  "config.json: subsystems[0].namespaces[0].device.path: missing (or give device.size "
	  "for a RAM namespace)" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'path': 'disk.img'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].device.path: 'disk.img' is not an absolute "
	  "path (nor rbd:POOL/IMAGE)" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'path': 'rbd:rbd'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].device.path: rbd:rbd: no image (expected "
	  "rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'path': 'rbd:rbd/img@snap'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].device.path: rbd:rbd/img@snap: snapshots "
	  "(@SNAP) are not supported" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'size': '1M'}, 'ceph': {'id': 'admin'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].ceph: only for an RBD namespace (device.path "
	  "rbd:POOL/IMAGE)" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'path': 'rbd:p/i'}, 'ceph': {'user': 'x'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].ceph.user: unknown key" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'path': 'rbd:p/i'}, 'ceph': {'id': 'client.admin'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].ceph.id: 'client.admin': give the id without "
	  "'client.'" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'path': 'rbd:p/i'}, 'ceph': {'conf': ''}}"), ""),
	  "config.json: subsystems[0].namespaces[0].ceph.conf: empty" },
	{ DOC(SUBSYS("{'nsid': 1, 'enable': 2, 'device': {'size': '1M'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].enable: 2 is not a boolean (0 or 1)" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'size': '1.5G'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].device.size: '1.5G' is not a size (bytes, or "
	  "with K, M, G, T)" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'size': '0'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].device.size: '0' is out of range" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'size': '1M', 'block_size': 1024}}"), ""),
	  "config.json: subsystems[0].namespaces[0].device.block_size: 1024 is not 512 or 4096" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'size': '1M', 'uuid': 'xyz'}}"), ""),
	  "config.json: subsystems[0].namespaces[0].device.uuid: 'xyz' is not a UUID "
	  "(8-4-4-4-12 hex digits)" },
	{ DOC(SUBSYS("{'nsid': 1, 'device': {'size': '1M', 'uuid': "
		     "'5c0a7f3e-8d21-4b6e-9f40-3a2b1c0d9e8f'}}, {'nsid': 2, 'device': {'size': "
		     "'1M', 'uuid': '5C0A7F3E8D214B6E9F403A2B1C0D9E8F'}}"),
	      ""),
	  "config.json: subsystems[0].namespaces[1].device.uuid: same UUID as "
	  "subsystems[0].namespaces[0]" },
	{ DOC(SUBSYS(NS1), PORT(1, "{'trtype': 'rdma', 'adrfam': 'ipv4', 'traddr': '1.2.3.4', "
				 "'trsvcid': '4420'}")),
	  "config.json: ports[0].addr.trtype: 'rdma' is not supported, only 'tcp'" },
	{ DOC(SUBSYS(NS1), PORT(1, "{'trtype': 'tcp', 'adrfam': 'ipv6', 'traddr': '127.0.0.1', "
				 "'trsvcid': '4420'}")),
	  "config.json: ports[0].addr.traddr: '127.0.0.1' is not an IPv6 address" },
	{ DOC(SUBSYS(NS1), PORT(1, "{'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '::1', "
				 "'trsvcid': '4420'}")),
	  "config.json: ports[0].addr.traddr: '::1' is not an IPv4 address" },
	{ DOC(SUBSYS(NS1), PORT(1, "{'trtype': 'tcp', 'adrfam': 'ib', 'traddr': '::1', "
				 "'trsvcid': '4420'}")),
	  "config.json: ports[0].addr.adrfam: 'ib' is not 'ipv4' or 'ipv6'" },
	{ DOC(SUBSYS(NS1), PORT(1, "{'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '10.0.0.1', "
				 "'trsvcid': '70000'}")),
	  "config.json: ports[0].addr.trsvcid: 70000 is out of range 1..65535" },
	{ DOC(SUBSYS(NS1), PORT(1, "{'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '10.0.0.1'}")),
	  "config.json: ports[0].addr.trsvcid: missing" },
	{ DOC(SUBSYS(NS1), PORT(1, "{'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '10.0.0.1', "
				 "'trsvcid': '4420', 'treq': 'required'}")),
	  "config.json: ports[0].addr.treq: 'required' needs tsas 'tls1.3'" },
	{ DOC(SUBSYS(NS1), PORT(1, "{'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '10.0.0.1', "
				 "'trsvcid': '4420', 'tsas': 'tls1.2'}")),
	  "config.json: ports[0].addr.tsas: 'tls1.2' is not 'none' or 'tls1.3'" },
	{ DOC(SUBSYS(NS1), PORT(1, "{'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '10.0.0.1', "
				 "'trsvcid': '4420', 'tsas': 'tls1.3', 'treq': 'sometimes'}")),
	  "config.json: ports[0].addr.treq: 'sometimes' is not 'not specified', 'required' or "
	  "'not required'" },
	{ "{'hosts': [{'nqn': 'nqn.2014-08.org.example:h1', 'tls_key': 'NVMeTLSkey-1:01:AAAA:'}]}",
	  "config.json: hosts[0].tls_key: not a valid TLS PSK (NVMeTLSkey-1:HH:base64:, HH 01 or 02)" },
	{ "{'hosts': [{'nqn': 'nqn.2014-08.org.example:h1', 'tls_kdf': 'md5'}]}",
	  "config.json: hosts[0].tls_kdf: 'md5' is not 'libnvme' or 'rfc8446'" },
	{ DOC(SUBSYS(NS1), "{'portid': 'abc', 'addr': " ADDR4 "}"),
	  "config.json: ports[0].portid: 'abc' is not a non-negative integer" },
	{ DOC(SUBSYS(NS1), "{'portid': 1, 'addr': " ADDR4 "}, {'portid': 1, 'addr': " ADDR4 "}"),
	  "config.json: ports[1].portid: duplicate portid 1 (also ports[0])" },
	{ DOC(SUBSYS(NS1), "{'portid': 1, 'addr': " ADDR4 "}, {'portid': 2, 'addr': " ADDR4 "}"),
	  "config.json: ports[1].addr: 127.0.0.1:4420 is already used by ports[0]" },
	{ DOC(SUBSYS(NS1), "{'portid': 1, 'addr': " ADDR4 ", 'subsystems': ['nqn.x']}"),
	  "config.json: ports[0].subsystems[0]: unknown subsystem 'nqn.x'" },
	{ DOC(SUBSYS(NS1), "{'portid': 1, 'addr': " ADDR4 ", 'subsystems': [" SUB1 ", " SUB1 "]}"),
	  "config.json: ports[0].subsystems[1]: duplicate subsystem 'nqn.2014-08.org.example:s1'" },
	{ DOC(SUBSYS(NS1), "{'portid': 1, 'addr': " ADDR4 ", 'param': {'pi_enable': 1}}"),
	  "config.json: ports[0].param.pi_enable: protection information is not supported" },
	{ DOC(SUBSYS(NS1), "{'portid': 1, 'addr': " ADDR4 ", 'referrals': [{'name': 'r', "
			   "'addr': {'trtype': 'fc', 'adrfam': 'ipv4', 'traddr': '1.1.1.1', "
			   "'trsvcid': '8009'}}]}"),
	  "config.json: ports[0].referrals[0].addr.trtype: 'fc' is not supported, only 'tcp'" },
	{ DOC(SUBSYS(NS1), "{'portid': 1}"), "config.json: ports[0].addr: missing" },
	{ "{\n  'hosts': [],\n  'ports': []\n} x",
	  "config.json:4:3: JSON syntax error: unexpected character" },
	{ "{\n  'hosts': [\n", "config.json:3:1: JSON syntax error: unexpected end of file" },
};

static void test_errors_name_the_field(void **state)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		char err[512], *want = q(error_cases[i].message);
		struct cfg cfg;
		int ret = parse_q(error_cases[i].json, &cfg, err, sizeof(err));

		if (ret != -EINVAL || strcmp(err, want) != 0)
			fail_msg("case %zu: ret %d\n  got:  %s\n  want: %s", i, ret, err, want);
		/* Nothing is left allocated for the caller to free. */
		assert_null(cfg.subsys);
		assert_null(cfg.ports);
		assert_null(cfg.hosts);
		free(want);
	}
}

static void test_syntax_error_position(void **state)
{
	char err[512];
	struct cfg cfg;

	/* The stray comma is on line 3, column 3. */
	assert_int_equal(parse_q("{\n  'hosts': [],\n  , 'ports': []\n}", &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "config.json:3:3: JSON syntax error: "));
	/* Trailing commas are not JSON (nvmetcli's Python parser rejects them too). */
	assert_int_equal(parse_q("{'hosts': [],}", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "config.json:1:14: JSON syntax error: "));
}

/* ------------------------------------------------------------------ */
/* Loading into a real target                                          */

static struct json_object *snap_subsys(struct json_object *snap, const char *nqn)
{
	struct json_object *a = snap_array(snap, "subsystems");

	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *s = json_object_array_get_idx(a, i);

		if (strcmp(snap_str(s, "nqn"), nqn) == 0)
			return s;
	}
	return NULL;
}

static struct json_object *snap_ns(struct json_object *s, int64_t nsid)
{
	struct json_object *a = snap_array(s, "namespaces");

	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *ns = json_object_array_get_idx(a, i);

		if (snap_int(ns, "nsid") == nsid)
			return ns;
	}
	return NULL;
}

static unsigned int snap_count(struct json_object *o, const char *key)
{
	struct json_object *a = snap_array(o, key);

	return a ? (unsigned int)json_object_array_length(a) : 0;
}

static void test_load_ram_ipv6_example(void **state)
{
	struct json_object *snap, *s, *ns, *p;
	struct nvmf_tgt *tgt;
	char path[300], err[512];

	snprintf(path, sizeof(path), "%s/ram-ipv6.json", examples);
	assert_int_equal(nvmf_tgt_create(&tgt), 0);
	if (nvmf_config_load(tgt, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	snap = nvmf_tgt_snapshot(tgt);

	s = snap_subsys(snap, "nqn.2024-01.io.example:ram0");
	assert_non_null(s);
	assert_string_equal(snap_str(s, "serial"), "ram0000000000001");
	assert_string_equal(snap_str(s, "model"), "nvmeof RAM disk");
	assert_false(snap_bool(s, "allow_any_host"));
	assert_int_equal(snap_count(s, "hosts"), 1);
	ns = snap_ns(s, 1);
	assert_non_null(ns);
	assert_null(snap_str(ns, "path"));
	assert_int_equal(snap_int(ns, "size"), 1ll << 30);
	assert_int_equal(snap_int(ns, "block_size"), 512);
	assert_string_equal(snap_str(ns, "uuid"), "5c0a7f3e-8d21-4b6e-9f40-3a2b1c0d9e8f");
	assert_true(snap_bool(ns, "enabled"));
	ns = snap_ns(s, 2);
	assert_non_null(ns);
	assert_int_equal(snap_int(ns, "size"), 64ll << 20);
	assert_int_equal(snap_int(ns, "block_size"), 4096);
	assert_false(snap_bool(ns, "enabled")); /* "enable": 0 -> created disabled */

	s = snap_subsys(snap, "nqn.2024-01.io.example:ram-audit");
	assert_non_null(s);
	assert_true(snap_bool(s, "monitor"));

	assert_int_equal(snap_count(snap, "ports"), 2);
	p = json_object_array_get_idx(snap_array(snap, "ports"), 0);
	assert_int_equal(snap_int(p, "portid"), 1);
	assert_string_equal(snap_str(p, "adrfam"), "ipv6");
	assert_string_equal(snap_str(p, "traddr"), "::1");
	assert_string_equal(snap_str(p, "trsvcid"), "4420");
	assert_int_equal(snap_count(p, "subsystems"), 2);
	p = json_object_array_get_idx(snap_array(snap, "ports"), 1);
	assert_string_equal(snap_str(p, "trsvcid"), "4421");

	json_object_put(snap);
	nvmf_tgt_destroy(tgt);
}

static void test_load_errors_create_nothing(void **state)
{
	char path[200], want[512], err[512], *text;
	struct json_object *snap;
	struct nvmf_tgt *tgt;

	/* The second subsystem's device is missing: the first is not created either. */
	snprintf(path, sizeof(path), "%s/missing-dev.json", tmpdir);
	text = q("{'subsystems': [" SUBSYS(NS1) ", {'nqn': 'nqn.2014-08.org.example:s2', "
		 "'namespaces': [{'nsid': 1, 'device': {'path': '/nonexistent-dir/nope.img'}}]}],"
		 " 'ports': [" PORT(1, ADDR4) "]}");
	write_text(path, text);
	free(text);
	assert_int_equal(nvmf_tgt_create(&tgt), 0);
	assert_int_equal(nvmf_config_load(tgt, path, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want),
		 "%s: subsystems[1].namespaces[0].device.path: /nonexistent-dir/nope.img: No such "
		 "file or directory",
		 path);
	assert_string_equal(err, want);
	snap = nvmf_tgt_snapshot(tgt);
	assert_int_equal(snap_count(snap, "subsystems"), 0);
	assert_int_equal(snap_count(snap, "ports"), 0);
	json_object_put(snap);

	/* The configuration file itself. */
	snprintf(path, sizeof(path), "%s/absent.json", tmpdir);
	assert_int_equal(nvmf_config_load(tgt, path, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	assert_string_equal(err, want);

	/* Applying over an existing subsystem fails with the field named. */
	snprintf(path, sizeof(path), "%s/exists.json", tmpdir);
	text = q("{'subsystems': [" SUBSYS(NS1) "]}");
	write_text(path, text);
	free(text);
	assert_int_equal(nvmf_config_load(tgt, path, err, sizeof(err)), 0);
	assert_int_equal(nvmf_config_load(tgt, path, err, sizeof(err)), -EEXIST);
	snprintf(want, sizeof(want), "%s: subsystems[0].nqn: cannot create the subsystem: File exists",
		 path);
	assert_string_equal(err, want);
	nvmf_tgt_destroy(tgt);
}

static void test_load_file_namespace(void **state)
{
	char path[200], img[200], err[512], *text, *fmt;
	struct json_object *snap, *ns;
	struct nvmf_tgt *tgt;
	struct stat st;

	snprintf(img, sizeof(img), "%s/disk.img", tmpdir);
	unlink(img);
	snprintf(path, sizeof(path), "%s/file.json", tmpdir);
	fmt = q("{'subsystems': [{'nqn': " SUB1 ", 'attr': {'allow_any_host': '1'}, "
		"'namespaces': [{'nsid': 3, 'device': {'path': '%s', 'size': '8M', "
		"'block_size': '4096', 'direct': '1'}}]}]}");
	assert_true(asprintf(&text, fmt, img) > 0);
	write_text(path, text);
	free(text);
	free(fmt);

	assert_int_equal(nvmf_tgt_create(&tgt), 0);
	if (nvmf_config_load(tgt, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(stat(img, &st), 0);
	assert_int_equal(st.st_size, 8 << 20); /* created at the size asked */
	snap = nvmf_tgt_snapshot(tgt);
	ns = snap_ns(snap_subsys(snap, "nqn.2014-08.org.example:s1"), 3);
	assert_non_null(ns);
	assert_string_equal(snap_str(ns, "path"), img);
	assert_int_equal(snap_int(ns, "block_size"), 4096);
	assert_int_equal(snap_int(ns, "size"), 8 << 20);
	json_object_put(snap);
	nvmf_tgt_destroy(tgt);
	unlink(img);
}

/* ------------------------------------------------------------------ */
/* Save -> load                                                        */

/* The configuration part of a snapshot: counters and live state removed. */
static void strip_live_state(struct json_object *o)
{
	static const char *const live[] = { "stats", "controllers", "audit", "hosts_stats",
					    "discovery_genctr", NULL };

	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			strip_live_state(json_object_array_get_idx(o, i));
		return;
	}
	if (!json_object_is_type(o, json_type_object))
		return;
	for (const char *const *k = live; *k; k++)
		json_object_object_del(o, *k);
	{
		struct json_object_iterator it = json_object_iter_begin(o);
		struct json_object_iterator end = json_object_iter_end(o);

		for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
			strip_live_state(json_object_iter_peek_value(&it));
	}
}

static int cmp_json_str(const void *a, const void *b);

static char *config_of(struct nvmf_tgt *tgt)
{
	struct json_object *snap = nvmf_tgt_snapshot(tgt);
	struct json_object *subs;
	char *s;

	/* Top-level "hosts" also lists hosts that merely connected: compare per subsystem. */
	json_object_object_del(snap, "hosts");
	strip_live_state(snap);
	/* Allowed hosts are a set. */
	subs = snap_array(snap, "subsystems");
	for (size_t i = 0; subs && i < json_object_array_length(subs); i++) {
		struct json_object *h = snap_array(json_object_array_get_idx(subs, i), "hosts");

		if (h)
			json_object_array_sort(h, cmp_json_str);
	}
	s = strdup(json_object_to_json_string_ext(snap, JSON_C_TO_STRING_PRETTY));
	json_object_put(snap);
	return s;
}

/* Host keys load, stay out of snapshots, and are saved back as nvmetcli writes them. */
static void test_dhchap_round_trip(void **state)
{
	char src[200], saved[200], err[512];
	char *fmt, *file, *snaptext;
	struct nvmf_tgt *tgt;
	struct json_object *doc, *snap, *h, *dh;
	struct nvmf_dhchap_cfg cfg;
	struct stat st;

	(void)state;
	snprintf(src, sizeof(src), "%s/dh-src.json", tmpdir);
	snprintf(saved, sizeof(saved), "%s/dh-saved.json", tmpdir);
	fmt = q("{'hosts': [{'nqn': 'nqn.2014-08.org.example:ha', 'dhchap': {"
		"   'key': 'DHHC-1:01:WulleCBkG4oCs0iIC3Cit9gBDCLWiZ9PNXuhqytWkBIZkvGy:',"
		"   'ctrl_key': 'DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:',"
		"   'hash': 'hmac(sha384)', 'dhgroup': 'ffdhe3072'}},"
		"  {'nqn': 'nqn.2014-08.org.example:hb', 'dhchap': {'key': '', 'ctrl_key': ''}}],"
		" 'subsystems': [{'nqn': 'nqn.2014-08.org.example:one', 'allowed_hosts': ['nqn.2014-08.org.example:hb'],"
		"   'attr': {'allow_any_host': '0'}}]}");
	write_text(src, fmt);
	free(fmt);
	chmod(src, 0644); /* warned about, still loaded */
	assert_int_equal(nvmf_tgt_create(&tgt), 0);
	if (nvmf_config_load(tgt, src, err, sizeof(err)) != 0)
		fail_msg("%s", err);

	assert_int_equal(nvmf_tgt_get_host_dhchap(tgt, "nqn.2014-08.org.example:ha", &cfg), 0);
	assert_string_equal(cfg.key, "DHHC-1:01:WulleCBkG4oCs0iIC3Cit9gBDCLWiZ9PNXuhqytWkBIZkvGy:");
	assert_string_equal(cfg.hash, "hmac(sha384)");
	assert_string_equal(cfg.dhgroup, "ffdhe3072");
	assert_int_equal(nvmf_tgt_get_host_dhchap(tgt, "nqn.2014-08.org.example:hb", &cfg), -ENOENT);

	snap = nvmf_tgt_snapshot(tgt);
	snaptext = strdup(json_object_to_json_string_ext(snap, JSON_C_TO_STRING_PLAIN));
	assert_null(strstr(snaptext, "DHHC-1"));
	assert_non_null(strstr(snaptext, "\"dhchap_key\":true"));
	free(snaptext);
	json_object_put(snap);

	if (nvmf_config_save(tgt, saved, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(stat(saved, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	file = read_all(saved);
	doc = json_tokener_parse(file);
	assert_non_null(doc);
	/* ha has keys but no subsystem lists it: it is saved all the same. */
	assert_int_equal(snap_count(doc, "hosts"), 2);
	h = json_object_array_get_idx(snap_array(doc, "hosts"), 0);
	assert_string_equal(snap_str(h, "nqn"), "nqn.2014-08.org.example:ha");
	dh = member(h, "dhchap");
	assert_non_null(dh);
	assert_string_equal(snap_str(dh, "key"), "DHHC-1:01:WulleCBkG4oCs0iIC3Cit9gBDCLWiZ9PNXuhqytWkBIZkvGy:");
	assert_string_equal(snap_str(dh, "ctrl_key"), "DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:");
	assert_string_equal(snap_str(dh, "dhgroup"), "ffdhe3072");
	assert_null(member(json_object_array_get_idx(snap_array(doc, "hosts"), 1), "dhchap"));
	json_object_put(doc);
	free(file);

	/* Invalid values are refused with the field named; an empty key removes. */
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.key, "DHHC-1:01:nope:");
	const char *what = NULL;
	assert_int_equal(nvmf_tgt_set_host_dhchap(tgt, "nqn.2014-08.org.example:ha", &cfg, &what), -EINVAL);
	assert_string_equal(what, "key");
	cfg.key[0] = '\0';
	assert_int_equal(nvmf_tgt_set_host_dhchap(tgt, "nqn.2014-08.org.example:ha", &cfg, &what), 0);
	assert_int_equal(nvmf_tgt_get_host_dhchap(tgt, "nqn.2014-08.org.example:ha", &cfg), -ENOENT);
	nvmf_tgt_destroy(tgt);
}

static void test_save_load_round_trip(void **state)
{
	char src[200], saved1[200], saved2[200], img[200], tmp[220], err[512];
	char *text, *fmt, *conf1, *conf2, *file1, *file2;
	struct nvmf_tgt *tgt1, *tgt2;
	struct json_object *doc, *dev;
	struct stat st;

	snprintf(img, sizeof(img), "%s/rt.img", tmpdir);
	unlink(img);
	snprintf(src, sizeof(src), "%s/rt-src.json", tmpdir);
	snprintf(saved1, sizeof(saved1), "%s/rt-saved1.json", tmpdir);
	snprintf(saved2, sizeof(saved2), "%s/rt-saved2.json", tmpdir);
	fmt = q("{'hosts': [{'nqn': 'nqn.2014-08.org.example:hb', 'tls_key': '" TLS_KEY "',"
		"   'tls_kdf': 'rfc8446'}, {'nqn': 'nqn.2014-08.org.example:ha'}],"
		" 'subsystems': ["
		"  {'nqn': 'nqn.2014-08.org.example:one', 'allowed_hosts': ['nqn.2014-08.org.example:hb',"
		"    'nqn.2014-08.org.example:ha'], 'attr': {'serial': 'SER1', 'model': 'Model One'},"
		"   'namespaces': ["
		"    {'nsid': 1, 'device': {'size': '32M'}},"
		"    {'nsid': 5, 'enable': 0, 'device': {'path': '%s', 'size': '4M', 'block_size': 4096,"
		"      'uuid': '11111111-2222-3333-4444-555555555555',"
		"      'nguid': '66666666-7777-8888-9999-aaaaaaaaaaaa'}}]},"
		"  {'nqn': 'nqn.2014-08.org.example:two', 'allowed_hosts': ['nqn.2014-08.org.example:ha'],"
		"   'attr': {'allow_any_host': '0', 'monitor': '1'},"
		"   'namespaces': [{'nsid': 2, 'device': {'size': '1M', 'read_only': '1'}},"
		"                  {'nsid': 3, 'device': {'size': '1M', 'preallocate': '1'}}]},"
		"  {'nqn': 'nqn.2014-08.org.example:open', 'attr': {'allow_any_host': '1'}}],"
		" 'ports': ["
		"  {'portid': 7, 'addr': {'trtype': 'tcp', 'adrfam': 'ipv6', 'traddr': '::', 'trsvcid': '4420'},"
		"   'subsystems': ['nqn.2014-08.org.example:two', 'nqn.2014-08.org.example:one'],"
		"   'referrals': [{'name': 'x', 'portid': 9, 'addr': {'trtype': 'tcp', 'adrfam': 'ipv4',"
		"     'traddr': '10.1.2.3', 'trsvcid': '8009'}}, {'name': 'y', 'portid': 11, 'addr':"
		"     {'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '10.1.2.4', 'trsvcid': '8009',"
		"      'tsas': 'tls1.3', 'treq': 'not required'}}]},"
		"  {'portid': 8, 'addr': " ADDR4 ", 'subsystems': []},"
		"  {'portid': 10, 'addr': {'trtype': 'tcp', 'adrfam': 'ipv4', 'traddr': '127.0.0.1',"
		"   'trsvcid': '4430', 'tsas': 'tls1.3'}, 'subsystems': []}]}");
	assert_true(asprintf(&text, fmt, img) > 0);
	write_text(src, text);
	free(text);
	free(fmt);

	assert_int_equal(nvmf_tgt_create(&tgt1), 0);
	if (nvmf_config_load(tgt1, src, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	if (nvmf_config_save(tgt1, saved1, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	snprintf(tmp, sizeof(tmp), "%s.tmp", saved1);
	assert_int_equal(stat(tmp, &st), -1); /* the temporary file was renamed */
	assert_int_equal(stat(saved1, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* What was written is nvmetcli's shape. */
	file1 = read_all(saved1);
	doc = json_tokener_parse(file1);
	assert_non_null(doc);
	assert_int_equal(snap_count(doc, "hosts"), 2);
	assert_string_equal(snap_str(json_object_array_get_idx(snap_array(doc, "hosts"), 0), "nqn"),
			    "nqn.2014-08.org.example:ha");
	dev = member(member(json_object_array_get_idx(
				    snap_array(json_object_array_get_idx(snap_array(doc, "subsystems"), 0),
					       "namespaces"),
				    0),
			    "device"),
		     "size");
	assert_non_null(dev); /* RAM namespaces carry their size */
	assert_non_null(strstr(file1, "\"preallocate\": \"1\"")); /* and whether they are preallocated */
	assert_non_null(strstr(file1, "\"trtype\": \"tcp\""));
	assert_non_null(strstr(file1, img)); /* paths written without escaped slashes */
	assert_non_null(strstr(file1, "\"nguid\": \"66666666-7777-8888-9999-aaaaaaaaaaaa\""));
	/* The host's key is saved (the file is 0600, checked above); TLS ports keep theirs. */
	assert_non_null(strstr(file1, "\"tls_key\": \"" TLS_KEY "\""));
	assert_non_null(strstr(file1, "\"tls_kdf\": \"rfc8446\""));
	assert_non_null(strstr(file1, "\"treq\": \"required\""));
	assert_non_null(strstr(file1, "\"tsas\": \"tls1.3\""));
	json_object_put(doc);
	/* A snapshot says there is a key, never what it is. */
	{
		struct json_object *snap = nvmf_tgt_snapshot(tgt1);
		const char *text_snap = json_object_to_json_string(snap);

		assert_null(strstr(text_snap, "NVMeTLSkey"));
		assert_non_null(strstr(text_snap, "\"tls_key\": true"));
		assert_non_null(strstr(text_snap, "\"tsas\": \"tls1.3\""));
		json_object_put(snap);
	}

	/* Loading it back gives the same target, and saving that gives the same file. */
	assert_int_equal(nvmf_tgt_create(&tgt2), 0);
	if (nvmf_config_load(tgt2, saved1, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	conf1 = config_of(tgt1);
	conf2 = config_of(tgt2);
	assert_string_equal(conf1, conf2);
	if (nvmf_config_save(tgt2, saved2, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	file2 = read_all(saved2);
	assert_string_equal(file1, file2);

	/* Saving over an existing file replaces it. */
	if (nvmf_config_save(tgt2, saved1, err, sizeof(err)) != 0)
		fail_msg("%s", err);

	free(conf1);
	free(conf2);
	free(file1);
	free(file2);
	nvmf_tgt_destroy(tgt1);
	nvmf_tgt_destroy(tgt2);
	unlink(img);
}

static void test_save_error_names_file(void **state)
{
	struct nvmf_tgt *tgt;
	char err[512];

	assert_int_equal(nvmf_tgt_create(&tgt), 0);
	assert_int_equal(nvmf_config_save(tgt, "/nonexistent-dir/config.json", err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "/nonexistent-dir/config.json: cannot create "
				 "/nonexistent-dir/config.json.tmp: No such file or directory");
	nvmf_tgt_destroy(tgt);
}

static int setup(void **state)
{
	const char *file = __FILE__;
	const char *cut = strstr(file, "tests/unit/");

	snprintf(examples, sizeof(examples), "%.*sdocs/examples", cut ? (int)(cut - file) : 0,
		 file);
	log_set_level(LOG_LVL_ERROR); /* the warnings provoked here are expected */
	snprintf(tmpdir, sizeof(tmpdir), "/var/tmp/test_config.XXXXXX");
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
		cmocka_unit_test(test_parse_nvmetcli_kernel_example),
		cmocka_unit_test(test_parse_values),
		cmocka_unit_test(test_errors_name_the_field),
		cmocka_unit_test(test_syntax_error_position),
		cmocka_unit_test(test_load_ram_ipv6_example),
		cmocka_unit_test(test_load_errors_create_nothing),
		cmocka_unit_test(test_load_file_namespace),
		cmocka_unit_test(test_save_load_round_trip),
		cmocka_unit_test(test_dhchap_round_trip),
		cmocka_unit_test(test_save_error_names_file),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
