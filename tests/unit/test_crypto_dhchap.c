/* SPDX-License-Identifier: MIT */
/*
 * DH-HMAC-CHAP primitives (src/crypto/dhchap.c): the interchange format,
 * nvme-cli's key generation, responses against vectors computed with
 * `openssl dgst -hmac`, and the FFDHE exchange.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/dhchap.h"

/* `nvme gen-dhchap-key --secret=000102...1f --hmac=1 --nqn=nqn.2014-08.org.nvmexpress:uuid:test`
 * (nvme-cli 2.3), and the same secret with --hmac=0. */
#define VEC_SECRET_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define VEC_NQN "nqn.2014-08.org.nvmexpress:uuid:test"
#define VEC_KEY01 "DHHC-1:01:WulleCBkG4oCs0iIC3Cit9gBDCLWiZ9PNXuhqytWkBIZkvGy:"
#define VEC_KEY00 "DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned int v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void vec_secret(uint8_t s[32])
{
	for (int i = 0; i < 32; i++)
		s[i] = (uint8_t)i;
}

static void test_parse_and_format(void **state)
{
	struct dhchap_key k;
	uint8_t s[32], t[32];
	char buf[DHCHAP_KEY_STR_MAX];

	(void)state;
	assert_int_equal(dhchap_key_parse(VEC_KEY00, &k), 0);
	assert_int_equal(k.hmac, 0);
	assert_int_equal(k.len, 32);
	vec_secret(s);
	assert_memory_equal(k.secret, s, 32);
	assert_int_equal(dhchap_key_format(&k, buf, sizeof(buf)), 0);
	assert_string_equal(buf, VEC_KEY00);

	/* The transformed secret nvme-cli printed is HMAC-SHA256(secret, NQN || "NVMe-over-Fabrics"). */
	assert_int_equal(dhchap_key_parse(VEC_KEY01, &k), 0);
	assert_int_equal(k.hmac, 1);
	unhex("5ae9657820641b8a02b348880b70a2b7d8010c22d6899f4f357ba1ab2b569012", t, 32);
	assert_memory_equal(k.secret, t, 32);
	assert_int_equal(dhchap_key_format(&k, buf, sizeof(buf)), 0);
	assert_string_equal(buf, VEC_KEY01);
	assert_int_equal(dhchap_key_format(&k, buf, 20), -ENOSPC);
}

static void test_parse_errors(void **state)
{
	struct dhchap_key k;
	char bad[DHCHAP_KEY_STR_MAX];

	(void)state;
	/* CRC: one changed character of the secret. */
	strcpy(bad, VEC_KEY00);
	bad[12] = bad[12] == 'A' ? 'B' : 'A';
	assert_int_equal(dhchap_key_parse(bad, &k), -EBADMSG);
	assert_int_equal(dhchap_key_parse("DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR", &k), -EINVAL);
	assert_int_equal(dhchap_key_parse("DHHC-2:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", &k), -EINVAL);
	assert_int_equal(dhchap_key_parse("DHHC-1:04:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", &k), -EINVAL);
	assert_int_equal(dhchap_key_parse("DHHC-1:0:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", &k), -EINVAL);
	/* Not base64; wrong length (16 + 4 bytes); empty; trailing text. */
	assert_int_equal(dhchap_key_parse("DHHC-1:00:AAEC*wQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:", &k), -EINVAL);
	assert_int_equal(dhchap_key_parse("DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhM=:", &k), -EINVAL);
	assert_int_equal(dhchap_key_parse("DHHC-1:00::", &k), -EINVAL);
	assert_int_equal(dhchap_key_parse(VEC_KEY00 "x", &k), -EINVAL);
	assert_int_equal(dhchap_key_parse(NULL, &k), -EINVAL);
	assert_false(dhchap_key_valid("secret"));
	assert_true(dhchap_key_valid(VEC_KEY01));
}

static void test_generate_like_nvme_cli(void **state)
{
	struct dhchap_key k, r;
	uint8_t s[32];
	char buf[DHCHAP_KEY_STR_MAX];

	(void)state;
	vec_secret(s);
	assert_int_equal(dhchap_key_generate(1, 32, s, VEC_NQN, &k), 0);
	assert_int_equal(dhchap_key_format(&k, buf, sizeof(buf)), 0);
	assert_string_equal(buf, VEC_KEY01);
	assert_int_equal(dhchap_key_generate(0, 32, s, NULL, &k), 0);
	assert_int_equal(dhchap_key_format(&k, buf, sizeof(buf)), 0);
	assert_string_equal(buf, VEC_KEY00);
	/* nvme-cli's rules: the length must match the transformation's hash. */
	assert_int_equal(dhchap_key_generate(3, 32, NULL, VEC_NQN, &k), -EINVAL);
	assert_int_equal(dhchap_key_generate(1, 48, NULL, VEC_NQN, &k), -EINVAL);
	assert_int_equal(dhchap_key_generate(0, 33, NULL, NULL, &k), -EINVAL);
	assert_int_equal(dhchap_key_generate(4, 32, NULL, VEC_NQN, &k), -EINVAL);
	assert_int_equal(dhchap_key_generate(3, 64, NULL, VEC_NQN, &k), 0);
	assert_int_equal(k.len, 64);
	/* Random keys differ and round-trip. */
	assert_int_equal(dhchap_key_generate(0, 48, NULL, NULL, &r), 0);
	assert_int_equal(dhchap_key_format(&r, buf, sizeof(buf)), 0);
	assert_int_equal(dhchap_key_parse(buf, &k), 0);
	assert_memory_equal(k.secret, r.secret, 48);
	dhchap_key_wipe(&k);
	assert_int_equal(k.len, 0);
}

static void test_transform(void **state)
{
	struct dhchap_key k;
	uint8_t out[DHCHAP_MAX_SECRET_LEN], t[32];
	size_t len;

	(void)state;
	/* The kernel transforms the configured (already transformed) key again: HMAC(key, NQN || ...). */
	assert_int_equal(dhchap_key_parse(VEC_KEY00, &k), 0);
	assert_int_equal(dhchap_transform_key(&k, VEC_NQN, out, &len), 0);
	assert_int_equal(len, 32);
	assert_memory_equal(out, k.secret, 32); /* HH 00: as is */
	k.hmac = 1;
	assert_int_equal(dhchap_transform_key(&k, VEC_NQN, out, &len), 0);
	unhex("5ae9657820641b8a02b348880b70a2b7d8010c22d6899f4f357ba1ab2b569012", t, 32);
	assert_memory_equal(out, t, 32);
	k.hmac = 3;
	assert_int_equal(dhchap_transform_key(&k, VEC_NQN, out, &len), 0);
	assert_int_equal(len, 64);
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(dhchap_hash_from_name("hmac(sha256)"), 1);
	assert_int_equal(dhchap_hash_from_name("sha384"), 2);
	assert_int_equal(dhchap_hash_from_name("hmac(sha512)"), 3);
	assert_int_equal(dhchap_hash_from_name("hmac(md5)"), -EINVAL);
	assert_int_equal(dhchap_dhgroup_from_name("null"), 0);
	assert_int_equal(dhchap_dhgroup_from_name("ffdhe8192"), 5);
	assert_int_equal(dhchap_dhgroup_from_name("ffdhe1024"), -EINVAL);
	assert_string_equal(dhchap_hash_name(2), "hmac(sha384)");
	assert_null(dhchap_hash_name(0));
	assert_int_equal(dhchap_dhgroup_len(DHCHAP_DHGROUP_3072), 384);
	assert_int_equal(dhchap_hash_len(4), 0);
}

/*
 * Vectors from openssl: key = the 32-byte vector secret, C = 32 x 0x11,
 * seq 0x01020304, tid 0x0506, SC_C 0, host "nqn.h", subsystem "nqn.s":
 *   printf C 04030201 0605 00 HostHost nqn.h 00 nqn.s | openssl dgst -sha256 -mac HMAC
 * and the same with Controller nqn.s 00 nqn.h.
 */
static void test_response_vectors(void **state)
{
	uint8_t key[32], c[32], r[64], want[32];

	(void)state;
	vec_secret(key);
	memset(c, 0x11, sizeof(c));
	assert_int_equal(dhchap_response(1, key, 32, c, 0x01020304, 0x0506, 0, DHCHAP_ROLE_HOST, "nqn.h", "nqn.s", r), 0);
	unhex("7b41abf748930aa644dbab5fbab50223ebd94d4af46841fc2a103ee2df384f4d", want, 32);
	assert_memory_equal(r, want, 32);
	assert_int_equal(dhchap_response(1, key, 32, c, 0x01020304, 0x0506, 0, DHCHAP_ROLE_CTRL, "nqn.h", "nqn.s", r), 0);
	unhex("830e0eefd5dc70a20dfecefeb21da6184f953cd78f0316e2597d343bc543ddb8", want, 32);
	assert_memory_equal(r, want, 32);
	/* Any changed input changes the response. */
	assert_int_equal(dhchap_response(1, key, 32, c, 0x01020305, 0x0506, 0, DHCHAP_ROLE_CTRL, "nqn.h", "nqn.s", r), 0);
	assert_memory_not_equal(r, want, 32);
	assert_int_equal(dhchap_response(9, key, 32, c, 1, 1, 0, DHCHAP_ROLE_HOST, "a", "b", r), -EINVAL);
}

/* Ca = HMAC-SHA256(SHA256(256 x 0x22), 32 x 0x11), from openssl dgst. */
static void test_augmented_challenge(void **state)
{
	uint8_t sess[256], c[32], out[32], want[32];

	(void)state;
	memset(sess, 0x22, sizeof(sess));
	memset(c, 0x11, sizeof(c));
	assert_int_equal(dhchap_augment_challenge(1, sess, sizeof(sess), c, out), 0);
	unhex("fce52f42d0d8902e738a431adc5a62a340791e094a45c488c752be1a8e23e5b2", want, 32);
	assert_memory_equal(out, want, 32);
}

static void test_dh_agreement(void **state)
{
	struct dhchap_dh a, b;
	uint8_t pa[256], pb[256], sa[256], sb[256], zero[256] = { 0 };

	(void)state;
	assert_int_equal(dhchap_dh_generate(&a, DHCHAP_DHGROUP_2048, pa, sizeof(pa)), 0);
	assert_int_equal(dhchap_dh_generate(&b, DHCHAP_DHGROUP_2048, pb, sizeof(pb)), 0);
	assert_memory_not_equal(pa, pb, sizeof(pa));
	assert_int_equal(dhchap_dh_shared(&a, pb, sizeof(pb), sa, sizeof(sa)), 0);
	assert_int_equal(dhchap_dh_shared(&b, pa, sizeof(pa), sb, sizeof(sb)), 0);
	assert_memory_equal(sa, sb, sizeof(sa));
	/* Degenerate or misfit peer values are refused. */
	assert_int_not_equal(dhchap_dh_shared(&a, zero, sizeof(zero), sa, sizeof(sa)), 0);
	zero[255] = 1;
	assert_int_not_equal(dhchap_dh_shared(&a, zero, sizeof(zero), sa, sizeof(sa)), 0);
	assert_int_equal(dhchap_dh_shared(&a, pb, 255, sa, sizeof(sa)), -EINVAL);
	dhchap_dh_free(&a);
	dhchap_dh_free(&b);
	dhchap_dh_free(&b); /* twice is harmless */
	assert_int_equal(dhchap_dh_generate(&b, DHCHAP_DHGROUP_NULL, pb, 0), -EINVAL);
	assert_null(b.pkey);
}

static void test_misc(void **state)
{
	uint8_t a[8] = { 1 }, b[8] = { 1 };

	(void)state;
	assert_true(dhchap_equal(a, b, 8));
	b[7] = 2;
	assert_false(dhchap_equal(a, b, 8));
	for (int i = 0; i < 100; i++)
		assert_int_not_equal(dhchap_seqnum(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_format),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_generate_like_nvme_cli),
		cmocka_unit_test(test_transform),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_response_vectors),
		cmocka_unit_test(test_augmented_challenge),
		cmocka_unit_test(test_dh_agreement),
		cmocka_unit_test(test_misc),
	};

	return cmocka_run_group_tests_name("crypto_dhchap", tests, NULL, NULL);
}
