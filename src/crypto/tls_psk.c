/* SPDX-License-Identifier: MIT */
#include "tls_psk.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "key_interchange.h"

#define TLS_KEY_PREFIX "NVMeTLSkey-1"
#define NQN_MAX 223

int nvme_tls_key_parse(const char *str, struct nvme_tls_key *out)
{
	size_t len = 0;
	uint8_t hh = 0;

	memset(out, 0, sizeof(*out));
	if (nvme_key_interchange_decode(str, TLS_KEY_PREFIX, &hh, out->key, sizeof(out->key), &len))
		return -EINVAL;
	if ((hh == 0 && len != 32 && len != 48) || (hh == 1 && len != 32) || (hh == 2 && len != 48) ||
	    hh > 2) {
		nvme_tls_key_clear(out);
		return -EINVAL;
	}
	out->hmac = hh;
	out->len = (uint8_t)len;
	return 0;
}

int nvme_tls_key_format(const struct nvme_tls_key *key, char *out, size_t outlen)
{
	return nvme_key_interchange_encode(TLS_KEY_PREFIX, key->hmac, key->key, key->len, out, outlen);
}

int nvme_tls_key_generate(uint8_t hmac, struct nvme_tls_key *out)
{
	memset(out, 0, sizeof(*out));
	if (hmac != 1 && hmac != 2)
		return -EINVAL;
	out->hmac = hmac;
	out->len = hmac == 1 ? 32 : 48;
	if (RAND_bytes(out->key, out->len) != 1) {
		nvme_tls_key_clear(out);
		return -EIO;
	}
	return 0;
}

void nvme_tls_key_clear(struct nvme_tls_key *key)
{
	OPENSSL_cleanse(key, sizeof(*key));
}

unsigned int nvme_tls_key_cipher(const struct nvme_tls_key *key)
{
	if (key->hmac)
		return key->hmac;
	return key->len == 48 ? 2 : 1;
}

const char *nvme_tls_key_ciphersuite(const struct nvme_tls_key *key)
{
	return nvme_tls_key_cipher(key) == 2 ? "TLS_AES_256_GCM_SHA384" : "TLS_AES_128_GCM_SHA256";
}

static const char *digest_name(unsigned int hash)
{
	return hash == 2 ? "SHA384" : "SHA256";
}

/* HKDF label info for length len, "tls13 " label and context, in either encoding. */
static size_t hkdf_info(uint8_t *info, size_t cap, enum nvme_tls_kdf kdf, size_t len,
			const char *label, const char *ctx)
{
	size_t llen = strlen("tls13 ") + strlen(label), clen = strlen(ctx), n = 0;

	if (4 + llen + clen > cap)
		return 0;
	if (kdf == NVME_TLS_KDF_RFC8446) {
		info[n++] = (uint8_t)(len >> 8);
		info[n++] = (uint8_t)len;
		info[n++] = (uint8_t)llen;
	} else {
		info[n++] = (uint8_t)len;
		info[n++] = (uint8_t)(len >> 8);
	}
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, llen - 6);
	n += llen;
	if (kdf == NVME_TLS_KDF_RFC8446)
		info[n++] = (uint8_t)clen;
	memcpy(info + n, ctx, clen);
	return n + clen;
}

/* HKDF-Extract (zero salt) then HKDF-Expand to out_len bytes. */
static int hkdf(unsigned int hash, const uint8_t *ikm, size_t ikm_len, const uint8_t *info,
		size_t info_len, uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[4];
	int ret = -EIO;

	if (!ctx)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest_name(hash), 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	params[3] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, out_len, params) == 1)
		ret = 0;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ret;
}

static bool nqn_ok(const char *nqn)
{
	size_t n = nqn ? strlen(nqn) : 0;

	if (n == 0 || n > NQN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (nqn[i] <= ' ' || nqn[i] > '~')
			return false;
	return true;
}

static int retained_psk(const struct nvme_tls_key *key, enum nvme_tls_kdf kdf, const char *hostnqn,
			uint8_t *out)
{
	uint8_t info[4 + 32 + NQN_MAX];
	size_t n;

	if (key->hmac == 0) {
		memcpy(out, key->key, key->len);
		return 0;
	}
	n = hkdf_info(info, sizeof(info), kdf, key->len, "HostNQN", hostnqn);
	if (!n)
		return -EINVAL;
	return hkdf(key->hmac, key->key, key->len, info, n, out, key->len);
}

/* base64(HMAC(retained, "HOSTNQN SUBNQN NVMe-over-Fabrics")) */
static int psk_digest(unsigned int cipher, const uint8_t *retained, size_t len, const char *hostnqn,
		      const char *subnqn, char *out, size_t outlen)
{
	char msg[2 * NQN_MAX + 32];
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	int n = snprintf(msg, sizeof(msg), "%s %s NVMe-over-Fabrics", hostnqn, subnqn);

	if (n < 0 || (size_t)n >= sizeof(msg))
		return -EINVAL;
	if (!HMAC(cipher == 2 ? EVP_sha384() : EVP_sha256(), retained, (int)len, (const uint8_t *)msg,
		  (size_t)n, mac, &maclen))
		return -EIO;
	if ((maclen + 2) / 3 * 4 + 1 > outlen)
		return -EINVAL;
	EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
	return 0;
}

/* The TLS PSK for identity version/kdf; digest is the version 1 digest (computed). */
static int tls_psk(const struct nvme_tls_key *key, unsigned int version, enum nvme_tls_kdf kdf,
		   const char *hostnqn, const char *subnqn, char *identity, size_t idlen, uint8_t *psk)
{
	unsigned int cipher = nvme_tls_key_cipher(key);
	uint8_t retained[NVME_TLS_PSK_MAX];
	uint8_t info[4 + 32 + NVME_TLS_IDENTITY_MAX];
	char digest[96], ctx[NVME_TLS_IDENTITY_MAX];
	size_t n;
	int ret;

	if (!nqn_ok(hostnqn) || !nqn_ok(subnqn) || version > 1)
		return -EINVAL;
	ret = retained_psk(key, kdf, hostnqn, retained);
	if (ret)
		goto out;
	if (version == 0) {
		snprintf(identity, idlen, "NVMe0R%02u %s %s", cipher, hostnqn, subnqn);
		snprintf(ctx, sizeof(ctx), "%s", identity);
	} else {
		ret = psk_digest(cipher, retained, key->len, hostnqn, subnqn, digest, sizeof(digest));
		if (ret)
			goto out;
		snprintf(identity, idlen, "NVMe1R%02u %s %s %s", cipher, hostnqn, subnqn, digest);
		snprintf(ctx, sizeof(ctx), "%02u %s", cipher, digest);
	}
	n = hkdf_info(info, sizeof(info), kdf, key->len, "nvme-tls-psk", ctx);
	ret = n ? hkdf(cipher, retained, key->len, info, n, psk, key->len) : -EINVAL;
out:
	OPENSSL_cleanse(retained, sizeof(retained));
	return ret;
}

int nvme_tls_psk_derive(const struct nvme_tls_key *key, unsigned int version, enum nvme_tls_kdf kdf,
			const char *hostnqn, const char *subnqn, char *identity, uint8_t *psk,
			size_t *psk_len)
{
	int ret = tls_psk(key, version, kdf, hostnqn, subnqn, identity, NVME_TLS_IDENTITY_MAX, psk);

	*psk_len = ret ? 0 : key->len;
	return ret;
}

/* Next space-separated field of [*p, end) into out (cap bytes). */
static int take_field(const char **p, const char *end, char *out, size_t cap)
{
	const char *s = *p, *e = s;

	while (e < end && *e != ' ')
		e++;
	if (e == s || (size_t)(e - s) >= cap)
		return -EINVAL;
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = '\0';
	*p = e < end ? e + 1 : e;
	return 0;
}

int nvme_tls_identity_parse(const uint8_t *id, size_t len, struct nvme_tls_identity *out)
{
	const char *p = (const char *)id, *end = p + len;

	memset(out, 0, sizeof(*out));
	if (len < 9 || len >= NVME_TLS_IDENTITY_MAX || memcmp(p, "NVMe", 4) != 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (p[i] < ' ' || p[i] > '~')
			return -EINVAL;
	if ((p[4] != '0' && p[4] != '1') || (p[5] != 'R' && p[5] != 'G') || p[6] != '0' ||
	    (p[7] != '1' && p[7] != '2') || p[8] != ' ')
		return -EINVAL;
	out->version = (unsigned int)(p[4] - '0');
	out->generated = p[5] == 'G';
	out->cipher = (unsigned int)(p[7] - '0');
	p += 9;
	if (take_field(&p, end, out->hostnqn, sizeof(out->hostnqn)) ||
	    take_field(&p, end, out->subnqn, sizeof(out->subnqn)))
		return -EINVAL;
	if (out->version == 1 && take_field(&p, end, out->digest, sizeof(out->digest)))
		return -EINVAL;
	return p == end && (p[-1] != ' ') ? 0 : -EINVAL;
}

int nvme_tls_psk_for_identity(const struct nvme_tls_key *key, const struct nvme_tls_identity *id,
			      enum nvme_tls_kdf v0_kdf, uint8_t *psk, size_t *psk_len)
{
	char identity[NVME_TLS_IDENTITY_MAX];
	/* The configured encoding first: with HH 00 both give the same digest. */
	const enum nvme_tls_kdf kdfs[] = { v0_kdf, v0_kdf == NVME_TLS_KDF_LIBNVME ? NVME_TLS_KDF_RFC8446 : NVME_TLS_KDF_LIBNVME };

	*psk_len = 0;
	if (id->generated || id->cipher != nvme_tls_key_cipher(key))
		return -EACCES;
	if (id->version == 0)
		return nvme_tls_psk_derive(key, 0, v0_kdf, id->hostnqn, id->subnqn, identity, psk, psk_len);
	for (size_t i = 0; i < sizeof(kdfs) / sizeof(kdfs[0]); i++) {
		int ret = nvme_tls_psk_derive(key, 1, kdfs[i], id->hostnqn, id->subnqn, identity, psk,
					      psk_len);
		const char *digest = strrchr(identity, ' ');

		if (ret)
			return ret;
		if (digest && strlen(digest + 1) == strlen(id->digest) &&
		    CRYPTO_memcmp(digest + 1, id->digest, strlen(id->digest)) == 0)
			return 0;
	}
	OPENSSL_cleanse(psk, NVME_TLS_PSK_MAX);
	*psk_len = 0;
	return -EACCES;
}
