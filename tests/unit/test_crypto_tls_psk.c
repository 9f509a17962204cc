/* SPDX-License-Identifier: MIT */
/*
 * TLS PSKs (src/crypto/tls_psk.c, key_interchange.c): the interchange
 * format, and the identities and TLS PSKs the Linux host computes, for both
 * HKDF label encodings. The expected values were computed independently
 * with openssl(1)'s HKDF and HMAC from keys made by nvme-cli's
 * gen-tls-key.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/key_interchange.h"
#include "crypto/tls_psk.h"

#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
#define SUBNQN "nqn.2024-01.io.example:sub1"
#define KEY1 "NVMeTLSkey-1:01:/yQl+6QGx9SgV3VhysK75nGYHM/1Mx/CCcOHpRbwIpy3zAXW:"
#define KEY2 "NVMeTLSkey-1:02:YG1rp8KuW44AX7RFuBcAh4Ux76GWbHLzDGYbAG9w7JEHeVYyc0qKxD8Z0MpgzJOdBnAd6g==:"

struct vector {
	const char *key;
	unsigned int version;
	enum nvme_tls_kdf kdf;
	const char *identity;
	const char *psk_hex;
};

static const struct vector vectors[] = {
	{ KEY1, 0, NVME_TLS_KDF_LIBNVME, "NVMe0R01 " HOSTNQN " " SUBNQN,
	  "ce558ed7e426cd294f168de33b28524d2adc8f99f342b6a846ce1fb2ca72f7b4" },
	{ KEY1, 0, NVME_TLS_KDF_RFC8446, "NVMe0R01 " HOSTNQN " " SUBNQN,
	  "2372fc1b8b08c096bbfcac731782dfefcffa8de35bf14dda01af8b216a3653ef" },
	{ KEY1, 1, NVME_TLS_KDF_LIBNVME,
	  "NVMe1R01 " HOSTNQN " " SUBNQN " 5fHhRBm6xX+njqCQTHSYJBW9rksv5kAfZ/c8/Zm6zac=",
	  "c47d85fd67a9f4c8e1d3b7bc66870fc8198ccb8d2fb36543e4ec8591e229dd63" },
	{ KEY1, 1, NVME_TLS_KDF_RFC8446,
	  "NVMe1R01 " HOSTNQN " " SUBNQN " aRwv0cG0k2stP+Wgj0/80qAecg1UkUKCU/QRFygcV70=",
	  "6e50d56275abad2bc515fcc4d14d9972e34a89bae401e150d96444c610dbc0f9" },
	{ KEY2, 0, NVME_TLS_KDF_LIBNVME, "NVMe0R02 " HOSTNQN " " SUBNQN,
	  "243ae5a5d4aa240c77f5a894e8f74a41695b2142053fe2958c19d2519ccc0a4c"
	  "7739ecce56adcd146e21d705f549a6d8" },
	{ KEY2, 0, NVME_TLS_KDF_RFC8446, "NVMe0R02 " HOSTNQN " " SUBNQN,
	  "19cd9d8a8934271deb58079749cc6a2ff79f75e665c12e808b4657a94631352d"
	  "b668fa55c9aff1f998f3b113876073dc" },
	{ KEY2, 1, NVME_TLS_KDF_LIBNVME,
	  "NVMe1R02 " HOSTNQN " " SUBNQN " T43CiJvN4MB5b8GL0yijBj5jloGTOv+/rFKxRn68RCnrgasDBCFBSnyuxJy0K/4N",
	  "b5c94868ec73ca9140ea46a32d7c8b1b4db53ac5a672d09fb89c9fb2db2e8b9a"
	  "16578904a169e3414f7ae62f00da397a" },
	{ KEY2, 1, NVME_TLS_KDF_RFC8446,
	  "NVMe1R02 " HOSTNQN " " SUBNQN " GH1rV8nutr5V62ad9FU0X8ohaT38URgAFGMngO5vZD5mO94bYd1znxBYMYhGIZwf",
	  "e39e380a3e3273dbfc0ebda71bb6026cf0baffd3439f8bc47f5a00c99c7797bc"
	  "bd1488a6a4b9548b094f40097e7d5462" },
};

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_crc32_check_value(void **state)
{
	(void)state;
	assert_int_equal(nvme_key_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
}

static void test_key_parse_format_roundtrip(void **state)
{
	struct nvme_tls_key k;
	char s[NVME_TLS_KEY_STR_MAX];

	(void)state;
	assert_int_equal(nvme_tls_key_parse(KEY1, &k), 0);
	assert_int_equal(k.hmac, 1);
	assert_int_equal(k.len, 32);
	assert_string_equal(nvme_tls_key_ciphersuite(&k), "TLS_AES_128_GCM_SHA256");
	assert_int_equal(nvme_tls_key_format(&k, s, sizeof(s)), 0);
	assert_string_equal(s, KEY1);
	assert_int_equal(nvme_tls_key_parse(KEY2, &k), 0);
	assert_int_equal(k.hmac, 2);
	assert_int_equal(k.len, 48);
	assert_string_equal(nvme_tls_key_ciphersuite(&k), "TLS_AES_256_GCM_SHA384");
	assert_int_equal(nvme_tls_key_format(&k, s, sizeof(s)), 0);
	assert_string_equal(s, KEY2);
}

static void test_key_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"NVMeTLSkey-1:01:",
		"NVMeTLSkey-2:01:/yQl+6QGx9SgV3VhysK75nGYHM/1Mx/CCcOHpRbwIpy3zAXW:",
		/* CRC: one base64 character changed */
		"NVMeTLSkey-1:01:/yQl+6QGx9SgV3VhysK75nGYHM/1Mx/CCcOHpRbwIpy3zAXX:",
		/* hash 01 with a 48-byte key */
		"NVMeTLSkey-1:01:YG1rp8KuW44AX7RFuBcAh4Ux76GWbHLzDGYbAG9w7JEHeVYyc0qKxD8Z0MpgzJOdBnAd6g==:",
		"NVMeTLSkey-1:03:/yQl+6QGx9SgV3VhysK75nGYHM/1Mx/CCcOHpRbwIpy3zAXW:",
		/* no trailing colon, trailing garbage, bad base64 */
		"NVMeTLSkey-1:01:/yQl+6QGx9SgV3VhysK75nGYHM/1Mx/CCcOHpRbwIpy3zAXW",
		"NVMeTLSkey-1:01:/yQl+6QGx9SgV3VhysK75nGYHM/1Mx/CCcOHpRbwIpy3zAXW:x",
		"NVMeTLSkey-1:01:/yQl+6QGx9SgV3VhysK75nGYHM/1Mx/CCcOHpRbwIpy3z!XW:",
		"NVMeTLSkey-1:01:AAAA:",
	};
	struct nvme_tls_key k;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(nvme_tls_key_parse(bad[i], &k), -EINVAL);
}

static void test_generate(void **state)
{
	struct nvme_tls_key a, b;
	char s[NVME_TLS_KEY_STR_MAX];

	(void)state;
	assert_int_equal(nvme_tls_key_generate(1, &a), 0);
	assert_int_equal(nvme_tls_key_generate(1, &b), 0);
	assert_int_equal(a.len, 32);
	assert_memory_not_equal(a.key, b.key, 32);
	assert_int_equal(nvme_tls_key_format(&a, s, sizeof(s)), 0);
	assert_int_equal(nvme_tls_key_parse(s, &b), 0);
	assert_memory_equal(a.key, b.key, 32);
	assert_int_equal(nvme_tls_key_generate(3, &a), -EINVAL);
}

static void test_derive_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		char identity[NVME_TLS_IDENTITY_MAX], got[2 * NVME_TLS_PSK_MAX + 1];
		uint8_t psk[NVME_TLS_PSK_MAX];
		struct nvme_tls_key k;
		size_t len;

		assert_int_equal(nvme_tls_key_parse(v->key, &k), 0);
		assert_int_equal(nvme_tls_psk_derive(&k, v->version, v->kdf, HOSTNQN, SUBNQN, identity, psk, &len), 0);
		assert_string_equal(identity, v->identity);
		hex(psk, len, got);
		assert_string_equal(got, v->psk_hex);
	}
}

/* The server side finds the same PSK from the identity alone. */
static void test_psk_for_identity(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		char got[2 * NVME_TLS_PSK_MAX + 1];
		uint8_t psk[NVME_TLS_PSK_MAX];
		struct nvme_tls_identity id;
		struct nvme_tls_key k;
		size_t len;

		assert_int_equal(nvme_tls_key_parse(v->key, &k), 0);
		assert_int_equal(nvme_tls_identity_parse((const uint8_t *)v->identity, strlen(v->identity), &id), 0);
		assert_string_equal(id.hostnqn, HOSTNQN);
		assert_string_equal(id.subnqn, SUBNQN);
		/* Version 1 finds its encoding by the digest, whatever the default. */
		assert_int_equal(nvme_tls_psk_for_identity(&k, &id, v->version ? NVME_TLS_KDF_LIBNVME : v->kdf, psk, &len), 0);
		hex(psk, len, got);
		assert_string_equal(got, v->psk_hex);
		if (v->version == 1) {
			assert_int_equal(nvme_tls_psk_for_identity(&k, &id, NVME_TLS_KDF_RFC8446, psk, &len), 0);
			hex(psk, len, got);
			assert_string_equal(got, v->psk_hex);
		}
	}
}

static void test_psk_for_identity_refuses(void **state)
{
	const char *v1 = vectors[2].identity;
	char tampered[NVME_TLS_IDENTITY_MAX];
	uint8_t psk[NVME_TLS_PSK_MAX];
	struct nvme_tls_identity id;
	struct nvme_tls_key k1, k2;
	size_t len;

	(void)state;
	assert_int_equal(nvme_tls_key_parse(KEY1, &k1), 0);
	assert_int_equal(nvme_tls_key_parse(KEY2, &k2), 0);
	/* a SHA-256 identity against a SHA-384 key */
	assert_int_equal(nvme_tls_identity_parse((const uint8_t *)v1, strlen(v1), &id), 0);
	assert_int_equal(nvme_tls_psk_for_identity(&k2, &id, NVME_TLS_KDF_LIBNVME, psk, &len), -EACCES);
	/* a digest from another key */
	snprintf(tampered, sizeof(tampered), "%s", v1);
	tampered[strlen(tampered) - 3] ^= 1;
	assert_int_equal(nvme_tls_identity_parse((const uint8_t *)tampered, strlen(tampered), &id), 0);
	assert_int_equal(nvme_tls_psk_for_identity(&k1, &id, NVME_TLS_KDF_LIBNVME, psk, &len), -EACCES);
	assert_int_equal(len, 0);
	/* generated PSKs are not configured */
	snprintf(tampered, sizeof(tampered), "NVMe0G01 %s %s", HOSTNQN, SUBNQN);
	assert_int_equal(nvme_tls_identity_parse((const uint8_t *)tampered, strlen(tampered), &id), 0);
	assert_int_equal(nvme_tls_psk_for_identity(&k1, &id, NVME_TLS_KDF_LIBNVME, psk, &len), -EACCES);
}

static void test_identity_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"NVMe0R01",
		"NVMe0R01 " HOSTNQN,
		"NVMe0R03 " HOSTNQN " " SUBNQN,
		"NVMe2R01 " HOSTNQN " " SUBNQN,
		"NVMe0X01 " HOSTNQN " " SUBNQN,
		"NVMe0R01 " HOSTNQN " " SUBNQN " extra",
		"NVMe0R01 " HOSTNQN " " SUBNQN " ",
		"NVMe0R01 " HOSTNQN "  " SUBNQN,
		"NVMe1R01 " HOSTNQN " " SUBNQN,
		"NVMe0R01 " HOSTNQN " sub\x01nqn",
	};
	struct nvme_tls_identity id;
	char nul[64] = "NVMe0R01 a b";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(nvme_tls_identity_parse((const uint8_t *)bad[i], strlen(bad[i]), &id), -EINVAL);
	/* an embedded NUL is not an end */
	assert_int_equal(nvme_tls_identity_parse((const uint8_t *)nul, strlen(nul) + 2, &id), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32_check_value),
		cmocka_unit_test(test_key_parse_format_roundtrip),
		cmocka_unit_test(test_key_parse_rejects),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_derive_vectors),
		cmocka_unit_test(test_psk_for_identity),
		cmocka_unit_test(test_psk_for_identity_refuses),
		cmocka_unit_test(test_identity_parse_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
