/* SPDX-License-Identifier: MIT */
/*
 * DH-HMAC-CHAP primitives on OpenSSL 3 (EVP_MAC HMAC, EVP_MD, EVP_PKEY DH
 * with the RFC 7919 named groups). See dhchap.h.
 */
#include "crypto/dhchap.h"

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/dh.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "crypto/key_interchange.h"

#define KEY_NAME "DHHC-1" /* interchange-format prefix */
#define NQN_SUFFIX "NVMe-over-Fabrics"

static const struct {
	const char *hmac_name;
	const char *md;
	size_t len;
} hashes[] = {
	[DHCHAP_HASH_SHA256] = { "hmac(sha256)", "SHA256", 32 },
	[DHCHAP_HASH_SHA384] = { "hmac(sha384)", "SHA384", 48 },
	[DHCHAP_HASH_SHA512] = { "hmac(sha512)", "SHA512", 64 },
};

static const struct {
	const char *name;
	size_t len;
} groups[] = {
	[DHCHAP_DHGROUP_NULL] = { "null", 0 },	     [DHCHAP_DHGROUP_2048] = { "ffdhe2048", 256 },
	[DHCHAP_DHGROUP_3072] = { "ffdhe3072", 384 }, [DHCHAP_DHGROUP_4096] = { "ffdhe4096", 512 },
	[DHCHAP_DHGROUP_6144] = { "ffdhe6144", 768 }, [DHCHAP_DHGROUP_8192] = { "ffdhe8192", 1024 },
};

size_t dhchap_hash_len(uint8_t hash_id)
{
	return hash_id >= DHCHAP_HASH_SHA256 && hash_id <= DHCHAP_HASH_SHA512 ? hashes[hash_id].len : 0;
}

const char *dhchap_hash_name(uint8_t hash_id)
{
	return dhchap_hash_len(hash_id) ? hashes[hash_id].hmac_name : NULL;
}

int dhchap_hash_from_name(const char *name)
{
	for (uint8_t i = DHCHAP_HASH_SHA256; i <= DHCHAP_HASH_SHA512; i++) {
		/* "hmac(sha256)" as configfs and nvmetcli spell it, or plain "sha256". */
		if (strcmp(name, hashes[i].hmac_name) == 0 ||
		    (strlen(name) == 6 && strncmp(name, hashes[i].hmac_name + 5, 6) == 0))
			return i;
	}
	return -EINVAL;
}

bool dhchap_dhgroup_known(uint8_t dhgid)
{
	return dhgid <= DHCHAP_DHGROUP_8192;
}

const char *dhchap_dhgroup_name(uint8_t dhgid)
{
	return dhchap_dhgroup_known(dhgid) ? groups[dhgid].name : NULL;
}

int dhchap_dhgroup_from_name(const char *name)
{
	for (uint8_t i = 0; i <= DHCHAP_DHGROUP_8192; i++)
		if (strcmp(name, groups[i].name) == 0)
			return i;
	return -EINVAL;
}

size_t dhchap_dhgroup_len(uint8_t dhgid)
{
	return dhchap_dhgroup_known(dhgid) ? groups[dhgid].len : 0;
}

void dhchap_wipe(void *buf, size_t len)
{
	OPENSSL_cleanse(buf, len);
}

void dhchap_key_wipe(struct dhchap_key *key)
{
	dhchap_wipe(key, sizeof(*key));
}

bool dhchap_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

int dhchap_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

uint32_t dhchap_seqnum(void)
{
	uint32_t s = 0;

	while (s == 0)
		if (dhchap_random(&s, sizeof(s)))
			s = 1; /* never 0: 0 means "no bidirectional authentication" */
	return s;
}

int dhchap_key_parse(const char *text, struct dhchap_key *out)
{
	size_t len = 0;
	uint8_t hh = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = nvme_key_interchange_decode(text, KEY_NAME, &hh, out->secret, sizeof(out->secret), &len);
	/* A secret of the wrong length is malformed, whatever its CRC says. */
	if ((ret == 0 || ret == -EBADMSG) && (len != 32 && len != 48 && len != 64))
		ret = -EINVAL;
	if (ret == 0 && hh > DHCHAP_HASH_SHA512)
		ret = -EINVAL;
	if (ret) {
		dhchap_key_wipe(out);
		return ret;
	}
	out->hmac = hh;
	out->len = (uint8_t)len;
	return 0;
}

bool dhchap_key_valid(const char *text)
{
	struct dhchap_key k;
	int ret = dhchap_key_parse(text, &k);

	dhchap_key_wipe(&k);
	return ret == 0;
}

int dhchap_key_format(const struct dhchap_key *key, char *buf, size_t len)
{
	if ((key->len != 32 && key->len != 48 && key->len != 64) || key->hmac > DHCHAP_HASH_SHA512)
		return -EINVAL;
	return nvme_key_interchange_encode(KEY_NAME, key->hmac, key->secret, key->len, buf, len) ? -ENOSPC : 0;
}

int dhchap_hmac(uint8_t hash_id, const uint8_t *key, size_t key_len, const void *const *parts,
		const size_t *lens, unsigned int n, uint8_t *out)
{
	size_t hlen = dhchap_hash_len(hash_id), outl = 0;
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	int ret = -EIO;

	if (!hlen || !key_len)
		return -EINVAL;
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!mac)
		return -EIO;
	ctx = EVP_MAC_CTX_new(mac);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)hashes[hash_id].md, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!ctx || !EVP_MAC_init(ctx, key, key_len, params))
		goto out;
	for (unsigned int i = 0; i < n; i++)
		if (lens[i] && !EVP_MAC_update(ctx, parts[i], lens[i]))
			goto out;
	if (EVP_MAC_final(ctx, out, &outl, hlen) && outl == hlen)
		ret = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ret;
}

int dhchap_transform_key(const struct dhchap_key *key, const char *nqn, uint8_t *out, size_t *out_len)
{
	const void *parts[2] = { nqn, NQN_SUFFIX };
	size_t lens[2] = { strlen(nqn), strlen(NQN_SUFFIX) };
	int ret;

	if (key->len == 0 || key->len > DHCHAP_MAX_SECRET_LEN)
		return -EINVAL;
	if (key->hmac == 0) {
		memcpy(out, key->secret, key->len);
		*out_len = key->len;
		return 0;
	}
	ret = dhchap_hmac(key->hmac, key->secret, key->len, parts, lens, 2, out);
	if (ret == 0)
		*out_len = dhchap_hash_len(key->hmac);
	return ret;
}

int dhchap_key_generate(uint8_t hmac, size_t len, const uint8_t *secret, const char *nqn,
			struct dhchap_key *out)
{
	struct dhchap_key raw = { .hmac = hmac, .len = (uint8_t)len };
	size_t tlen;
	int ret;

	memset(out, 0, sizeof(*out));
	if (hmac > DHCHAP_HASH_SHA512 || (len != 32 && len != 48 && len != 64))
		return -EINVAL;
	if (hmac && len != dhchap_hash_len(hmac))
		return -EINVAL;
	if (hmac && (!nqn || !*nqn))
		return -EINVAL;
	if (secret)
		memcpy(raw.secret, secret, len);
	else if ((ret = dhchap_random(raw.secret, len)))
		return ret;
	ret = dhchap_transform_key(&raw, hmac ? nqn : "", out->secret, &tlen);
	dhchap_key_wipe(&raw);
	if (ret)
		return ret;
	out->hmac = hmac;
	out->len = (uint8_t)tlen;
	return 0;
}

int dhchap_augment_challenge(uint8_t hash_id, const uint8_t *sess, size_t sess_len,
			     const uint8_t *challenge, uint8_t *out)
{
	uint8_t hashed[DHCHAP_MAX_HASH_LEN];
	unsigned int hl = 0;
	size_t len = dhchap_hash_len(hash_id);
	const void *parts[1] = { challenge };
	int ret;

	if (!len)
		return -EINVAL;
	if (!EVP_Digest(sess, sess_len, hashed, &hl, EVP_get_digestbyname(hashes[hash_id].md), NULL) ||
	    hl != len)
		return -EIO;
	ret = dhchap_hmac(hash_id, hashed, len, parts, &len, 1, out);
	dhchap_wipe(hashed, sizeof(hashed));
	return ret;
}

int dhchap_response(uint8_t hash_id, const uint8_t *tkey, size_t tkey_len, const uint8_t *challenge,
		    uint32_t seqnum, uint16_t tid, uint8_t sc_c, enum dhchap_role role, const char *hostnqn,
		    const char *subnqn, uint8_t *out)
{
	uint8_t seq[4] = { (uint8_t)seqnum, (uint8_t)(seqnum >> 8), (uint8_t)(seqnum >> 16),
			   (uint8_t)(seqnum >> 24) };
	uint8_t t[2] = { (uint8_t)tid, (uint8_t)(tid >> 8) };
	static const uint8_t zero = 0;
	bool host = role == DHCHAP_ROLE_HOST;
	const char *first = host ? hostnqn : subnqn, *second = host ? subnqn : hostnqn;
	const char *label = host ? "HostHost" : "Controller";
	const void *parts[8] = { challenge, seq, t, &sc_c, label, first, &zero, second };
	size_t lens[8] = { dhchap_hash_len(hash_id), 4, 2, 1, strlen(label), strlen(first), 1, strlen(second) };

	return dhchap_hmac(hash_id, tkey, tkey_len, parts, lens, 8, out);
}

/* ------------------------------------------------------------------ */
/* FFDHE                                                               */

int dhchap_dh_generate(struct dhchap_dh *dh, uint8_t dhgid, uint8_t *pub, size_t pub_len)
{
	size_t glen = dhchap_dhgroup_len(dhgid);
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn = NULL;
	OSSL_PARAM params[2];
	int ret = -EIO;

	dh->pkey = NULL;
	dh->dhgid = dhgid;
	if (!glen || pub_len != glen)
		return -EINVAL;
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)groups[dhgid].name, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || !EVP_PKEY_CTX_set_params(ctx, params) ||
	    EVP_PKEY_generate(ctx, &pkey) <= 0)
		goto out;
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, &bn) ||
	    BN_bn2binpad(bn, pub, (int)glen) != (int)glen)
		goto out;
	dh->pkey = pkey;
	pkey = NULL;
	ret = 0;
out:
	BN_free(bn);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return ret;
}

static EVP_PKEY *peer_key(uint8_t dhgid, const uint8_t *peer, size_t len)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
	BIGNUM *bn = BN_bin2bn(peer, (int)len, NULL);
	OSSL_PARAM params[3];
	EVP_PKEY *pkey = NULL;
	unsigned char *pub = NULL;
	int bl;

	if (!ctx || !bn)
		goto out;
	/* The public value as a native-endian unsigned integer parameter. */
	bl = BN_num_bytes(bn);
	pub = OPENSSL_malloc((size_t)(bl ? bl : 1));
	if (!pub || BN_bn2nativepad(bn, pub, bl ? bl : 1) < 0)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)groups[dhgid].name, 0);
	params[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PUB_KEY, pub, (size_t)(bl ? bl : 1));
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_PKEY_fromdata_init(ctx) <= 0 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
out:
	OPENSSL_free(pub);
	BN_free(bn);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

int dhchap_dh_shared(const struct dhchap_dh *dh, const uint8_t *peer, size_t peer_len, uint8_t *out,
		     size_t out_len)
{
	size_t glen = dhchap_dhgroup_len(dh->dhgid), len = out_len;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey;
	int ret = -EIO;

	if (!dh->pkey || !glen || peer_len != glen || out_len != glen)
		return -EINVAL;
	pkey = peer_key(dh->dhgid, peer, peer_len);
	if (!pkey)
		return -EINVAL;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, dh->pkey, NULL);
	/* derive_set_peer checks the peer's value (1 < y < p-1, subgroup);
	 * padding keeps the secret at the group size as the peer computes it. */
	if (!ctx || EVP_PKEY_derive_init(ctx) <= 0 || EVP_PKEY_CTX_set_dh_pad(ctx, 1) <= 0)
		goto out;
	if (EVP_PKEY_derive_set_peer(ctx, pkey) <= 0) {
		ret = -EINVAL;
		goto out;
	}
	if (EVP_PKEY_derive(ctx, out, &len) <= 0 || len != glen) {
		dhchap_wipe(out, out_len);
		goto out;
	}
	ret = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ret;
}

void dhchap_dh_free(struct dhchap_dh *dh)
{
	EVP_PKEY_free(dh->pkey); /* EVP_PKEY_free clears private key material */
	dh->pkey = NULL;
}

void dhchap_exchange_clear(struct dhchap_exchange *x)
{
	dhchap_dh_free(&x->dh);
	dhchap_wipe(x->sess, sizeof(x->sess));
	dhchap_wipe(x->c1, sizeof(x->c1));
	dhchap_wipe(x->c2, sizeof(x->c2));
	x->sess_len = 0;
}
