/* SPDX-License-Identifier: MIT */
/*
 * DH-HMAC-CHAP primitives (NVMe Base 2.x, in-band authentication): secrets
 * in the interchange format, the NQN transformation, challenge responses and
 * the finite-field Diffie-Hellman exchange. Pure functions over OpenSSL 3;
 * no state beyond what the caller holds. Secrets are wiped by the functions
 * that handle them (dhchap_key_wipe for the caller's copies).
 */
#ifndef NVMEOF_CRYPTO_DHCHAP_H
#define NVMEOF_CRYPTO_DHCHAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hash identifiers (HashID) and DH group identifiers (DHgID) of the spec. */
enum {
	DHCHAP_HASH_SHA256 = 1,
	DHCHAP_HASH_SHA384 = 2,
	DHCHAP_HASH_SHA512 = 3,
};

enum {
	DHCHAP_DHGROUP_NULL = 0,
	DHCHAP_DHGROUP_2048 = 1,
	DHCHAP_DHGROUP_3072 = 2,
	DHCHAP_DHGROUP_4096 = 3,
	DHCHAP_DHGROUP_6144 = 4,
	DHCHAP_DHGROUP_8192 = 5,
};

#define DHCHAP_MAX_HASH_LEN 64
#define DHCHAP_MAX_SECRET_LEN 64
#define DHCHAP_MAX_DH_LEN 1024 /* ffdhe8192 public value */
/* "DHHC-1:03:" + base64 of 68 bytes (92) + ":" + NUL */
#define DHCHAP_KEY_STR_MAX 128

/* A configured secret: HH (0 = used as is, 1..3 = transformed with that hash). */
struct dhchap_key {
	uint8_t hmac;
	uint8_t len; /* 32, 48 or 64 */
	uint8_t secret[DHCHAP_MAX_SECRET_LEN];
};

/* 0, or -EINVAL (format, length, HH), -EBADMSG (CRC mismatch). */
int dhchap_key_parse(const char *text, struct dhchap_key *out);
/* "DHHC-1:HH:base64(secret || crc32 LE):" into buf (DHCHAP_KEY_STR_MAX). */
int dhchap_key_format(const struct dhchap_key *key, char *buf, size_t len);
void dhchap_key_wipe(struct dhchap_key *key);
/* Is text a well-formed secret? (parse without keeping it) */
bool dhchap_key_valid(const char *text);

/*
 * nvme-cli's gen-dhchap-key: a random secret (or the given one) of len bytes;
 * with hmac 1..3 the printed secret is already transformed with nqn, and len
 * must be that hash's size. Returns 0 or -EINVAL.
 */
int dhchap_key_generate(uint8_t hmac, size_t len, const uint8_t *secret, const char *nqn,
			struct dhchap_key *out);

/* Digest length of a HashID (0: unknown). */
size_t dhchap_hash_len(uint8_t hash_id);
/* "hmac(sha256)" ...; NULL when unknown. */
const char *dhchap_hash_name(uint8_t hash_id);
/* HashID of "hmac(sha256)" (also "sha256"), or -EINVAL. */
int dhchap_hash_from_name(const char *name);
/* "null", "ffdhe2048" ...; NULL when unknown. */
const char *dhchap_dhgroup_name(uint8_t dhgid);
int dhchap_dhgroup_from_name(const char *name);
/* Size of the group's public value in bytes (0 for null, -1... as 0 for unknown). */
size_t dhchap_dhgroup_len(uint8_t dhgid);
bool dhchap_dhgroup_known(uint8_t dhgid);

/* HMAC-H(key, parts...) with H = hash_id; out holds dhchap_hash_len(). */
int dhchap_hmac(uint8_t hash_id, const uint8_t *key, size_t key_len, const void *const *parts,
		const size_t *lens, unsigned int n, uint8_t *out);

/*
 * The key used for responses: the secret itself (HH 00) or
 * HMAC-HH(secret, nqn || "NVMe-over-Fabrics"). out: DHCHAP_MAX_SECRET_LEN.
 */
int dhchap_transform_key(const struct dhchap_key *key, const char *nqn, uint8_t *out, size_t *out_len);

/* Ca = HMAC-H(H(session key), C): the challenge with a DH exchange. */
int dhchap_augment_challenge(uint8_t hash_id, const uint8_t *sess, size_t sess_len,
			     const uint8_t *challenge, uint8_t *out);

enum dhchap_role {
	DHCHAP_ROLE_HOST, /* the host proves itself: "HostHost", hostnqn, 0, subnqn */
	DHCHAP_ROLE_CTRL, /* the controller: "Controller", subnqn, 0, hostnqn */
};

/*
 * Response R = HMAC-H(Kt, C || le32 seq || le16 tid || sc_c || role text ||
 * NQNs), with Kt the transformed key and C the (augmented) challenge of
 * dhchap_hash_len(hash_id) bytes.
 */
int dhchap_response(uint8_t hash_id, const uint8_t *tkey, size_t tkey_len, const uint8_t *challenge,
		    uint32_t seqnum, uint16_t tid, uint8_t sc_c, enum dhchap_role role, const char *hostnqn,
		    const char *subnqn, uint8_t *out);

/* Constant-time equality. */
bool dhchap_equal(const void *a, const void *b, size_t len);
/* Cryptographic random bytes; 0 or -EIO. */
int dhchap_random(void *buf, size_t len);
/* A random 32-bit sequence number that is never 0. */
uint32_t dhchap_seqnum(void);
void dhchap_wipe(void *buf, size_t len);

/* An ephemeral FFDHE key pair. */
struct dhchap_dh {
	void *pkey; /* EVP_PKEY */
	uint8_t dhgid;
};

/* Generate a key pair in group dhgid (dh is overwritten: free a previous one first); pub gets dhchap_dhgroup_len() bytes (big-endian, padded). */
int dhchap_dh_generate(struct dhchap_dh *dh, uint8_t dhgid, uint8_t *pub, size_t pub_len);
/* Shared secret with the peer's public value (both group-sized); out gets group size bytes. */
int dhchap_dh_shared(const struct dhchap_dh *dh, const uint8_t *peer, size_t peer_len, uint8_t *out,
		     size_t out_len);
void dhchap_dh_free(struct dhchap_dh *dh);

/*
 * One transaction's negotiated parameters and exchanged values, the same on
 * host and controller: transaction ID, hash and its length, DH group,
 * sequence numbers, challenges, the DH key pair and the session key.
 */
struct dhchap_exchange {
	uint16_t tid;
	uint8_t hash_id;
	uint8_t hl;
	uint8_t dhgid;
	uint32_t s1;
	uint32_t s2;
	uint8_t c1[DHCHAP_MAX_HASH_LEN];
	uint8_t c2[DHCHAP_MAX_HASH_LEN];
	struct dhchap_dh dh;
	uint8_t sess[DHCHAP_MAX_DH_LEN];
	size_t sess_len;
};

/* Free the DH key and wipe challenges and session key. */
void dhchap_exchange_clear(struct dhchap_exchange *x);

#endif
