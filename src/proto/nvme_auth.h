/* SPDX-License-Identifier: MIT */
/*
 * NVMe in-band authentication on the wire (NVMe Base 2.x 8.3.5, oF 1.1):
 * the Authentication Send / Receive fabrics commands and the DH-HMAC-CHAP
 * messages they carry. Pure functions: decoders check every length before
 * reading and hand back pointers into the caller's buffer.
 */
#ifndef NVMEOF_PROTO_NVME_AUTH_H
#define NVMEOF_PROTO_NVME_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "proto/nvme_spec.h"

#define NVME_AUTH_SECP_DHCHAP 0xe9 /* SECP of DH-HMAC-CHAP */
#define NVME_AUTH_SPSP 0x01	   /* SPSP0 and SPSP1 */

/* Connect response DW0 bits (AUTHREQ). */
#define NVMF_CONNECT_AUTHREQ_ATR (1u << 17)  /* authentication required */
#define NVMF_CONNECT_AUTHREQ_ASCR (1u << 18) /* secure channel concatenation required */

/* Authentication Send (TL) / Receive (AL) SQE. */
struct nvmf_auth_sqe {
	uint8_t opcode;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[19];
	struct nvme_sgl_desc sgl;
	uint8_t rsvd3;
	uint8_t spsp0;
	uint8_t spsp1;
	uint8_t secp;
	uint32_t len; /* TL or AL */
	uint8_t rsvd4[16];
};
_Static_assert(sizeof(struct nvmf_auth_sqe) == 64, "Auth SQE is 64 bytes");
_Static_assert(offsetof(struct nvmf_auth_sqe, spsp0) == 41, "SPSP0 at 41");
_Static_assert(offsetof(struct nvmf_auth_sqe, secp) == 43, "SECP at 43");
_Static_assert(offsetof(struct nvmf_auth_sqe, len) == 44, "TL/AL at 44");

/* AUTH-Type and AUTH-Id */
enum {
	NVME_AUTH_COMMON_MESSAGES = 0x00,
	NVME_AUTH_DHCHAP_MESSAGES = 0x01,
};

enum {
	NVME_AUTH_NEGOTIATE = 0x00,
	NVME_AUTH_CHALLENGE = 0x01,
	NVME_AUTH_REPLY = 0x02,
	NVME_AUTH_SUCCESS1 = 0x03,
	NVME_AUTH_SUCCESS2 = 0x04,
	NVME_AUTH_FAILURE2 = 0xf0,
	NVME_AUTH_FAILURE1 = 0xf1,
};

/* Failure reason code and explanations. */
#define NVME_AUTH_RC_FAILED 0x01
enum {
	NVME_AUTH_FAIL_FAILED = 0x01,
	NVME_AUTH_FAIL_NOT_USABLE = 0x02,
	NVME_AUTH_FAIL_CONCAT_MISMATCH = 0x03,
	NVME_AUTH_FAIL_HASH_UNUSABLE = 0x04,
	NVME_AUTH_FAIL_DHGROUP_UNUSABLE = 0x05,
	NVME_AUTH_FAIL_INCORRECT_PAYLOAD = 0x06,
	NVME_AUTH_FAIL_INCORRECT_MESSAGE = 0x07,
};

#define NVME_AUTH_DHCHAP_AUTHID 0x01
#define NVME_AUTH_MAX_IDS 30 /* hash IDs at idlist[0..29], DH group IDs at [30..59] */

struct nvme_auth_protocol_desc {
	uint8_t authid;
	uint8_t rsvd;
	uint8_t halen;
	uint8_t dhlen;
	uint8_t idlist[60];
};
_Static_assert(sizeof(struct nvme_auth_protocol_desc) == 64, "protocol descriptor is 64 bytes");

struct nvme_auth_negotiate_hdr {
	uint8_t auth_type;
	uint8_t auth_id;
	uint8_t rsvd[2];
	uint16_t t_id;
	uint8_t sc_c;
	uint8_t napd;
	/* napd protocol descriptors follow */
};
_Static_assert(sizeof(struct nvme_auth_negotiate_hdr) == 8, "negotiate header is 8 bytes");

struct nvme_auth_challenge_hdr {
	uint8_t auth_type;
	uint8_t auth_id;
	uint8_t rsvd1[2];
	uint16_t t_id;
	uint8_t hl;
	uint8_t rsvd2;
	uint8_t hashid;
	uint8_t dhgid;
	uint16_t dhvlen;
	uint32_t seqnum;
	/* C1 (hl bytes), then the DH value (dhvlen bytes) */
};
_Static_assert(sizeof(struct nvme_auth_challenge_hdr) == 16, "challenge header is 16 bytes");
_Static_assert(offsetof(struct nvme_auth_challenge_hdr, seqnum) == 12, "SEQNUM at 12");

struct nvme_auth_reply_hdr {
	uint8_t auth_type;
	uint8_t auth_id;
	uint8_t rsvd1[2];
	uint16_t t_id;
	uint8_t hl;
	uint8_t rsvd2;
	uint8_t cvalid;
	uint8_t rsvd3;
	uint16_t dhvlen;
	uint32_t seqnum;
	/* R1 (hl), C2 (hl), DH value (dhvlen) */
};
_Static_assert(sizeof(struct nvme_auth_reply_hdr) == 16, "reply header is 16 bytes");
_Static_assert(offsetof(struct nvme_auth_reply_hdr, cvalid) == 8, "CVALID at 8");

struct nvme_auth_success1_hdr {
	uint8_t auth_type;
	uint8_t auth_id;
	uint8_t rsvd1[2];
	uint16_t t_id;
	uint8_t hl;
	uint8_t rsvd2;
	uint8_t rvalid;
	uint8_t rsvd3[7];
	/* R2 (hl bytes) */
};
_Static_assert(sizeof(struct nvme_auth_success1_hdr) == 16, "success1 header is 16 bytes");

struct nvme_auth_success2 {
	uint8_t auth_type;
	uint8_t auth_id;
	uint8_t rsvd1[2];
	uint16_t t_id;
	uint8_t rsvd2[10];
};
_Static_assert(sizeof(struct nvme_auth_success2) == 16, "success2 is 16 bytes");

struct nvme_auth_failure {
	uint8_t auth_type;
	uint8_t auth_id;
	uint8_t rsvd[2];
	uint16_t t_id;
	uint8_t rescode;
	uint8_t rescode_exp;
};
_Static_assert(sizeof(struct nvme_auth_failure) == 8, "failure message is 8 bytes");

/* Largest message: Reply with SHA-512 and ffdhe8192 (16 + 2 * 64 + 1024). */
#define NVME_AUTH_MAX_MSG 4096

/* Decoded messages; pointers point into the decoded buffer. */
struct nvme_auth_negotiate {
	uint16_t t_id;
	uint8_t sc_c;
	uint8_t nr_hashes;
	uint8_t hashes[NVME_AUTH_MAX_IDS];
	uint8_t nr_dhgroups;
	uint8_t dhgroups[NVME_AUTH_MAX_IDS];
};

struct nvme_auth_challenge {
	uint16_t t_id;
	uint8_t hashid;
	uint8_t dhgid;
	uint8_t hl;
	uint32_t seqnum;
	const uint8_t *c1;
	const uint8_t *dhv;
	uint16_t dhvlen;
};

struct nvme_auth_reply {
	uint16_t t_id;
	uint8_t hl;
	uint8_t cvalid;
	uint32_t seqnum;
	const uint8_t *r1;
	const uint8_t *c2;
	const uint8_t *dhv;
	uint16_t dhvlen;
};

struct nvme_auth_success1 {
	uint16_t t_id;
	uint8_t hl;
	uint8_t rvalid;
	const uint8_t *r2; /* hl bytes when rvalid */
};

/* Type, id and transaction of any message (at least 8 bytes): 0 or -EBADMSG. */
int nvme_auth_peek(const void *buf, size_t len, uint8_t *type, uint8_t *id, uint16_t *t_id);

/* Decoders: 0, or -EBADMSG (short, oversized or inconsistent lengths, wrong type). */
int nvme_auth_negotiate_decode(const void *buf, size_t len, struct nvme_auth_negotiate *out);
int nvme_auth_challenge_decode(const void *buf, size_t len, struct nvme_auth_challenge *out);
int nvme_auth_reply_decode(const void *buf, size_t len, struct nvme_auth_reply *out);
int nvme_auth_success1_decode(const void *buf, size_t len, struct nvme_auth_success1 *out);
int nvme_auth_success2_decode(const void *buf, size_t len, uint16_t *t_id);
/* Failure1 or Failure2 (id tells which). */
int nvme_auth_failure_decode(const void *buf, size_t len, uint8_t *id, uint16_t *t_id, uint8_t *rescode,
			     uint8_t *exp);

/* Encoders: message length, or -ENOSPC when cap is too small (-EINVAL on bad arguments). */
int nvme_auth_negotiate_encode(void *buf, size_t cap, const struct nvme_auth_negotiate *m);
int nvme_auth_challenge_encode(void *buf, size_t cap, const struct nvme_auth_challenge *m);
int nvme_auth_reply_encode(void *buf, size_t cap, const struct nvme_auth_reply *m);
int nvme_auth_success1_encode(void *buf, size_t cap, const struct nvme_auth_success1 *m);
int nvme_auth_success2_encode(void *buf, size_t cap, uint16_t t_id);
int nvme_auth_failure_encode(void *buf, size_t cap, uint8_t id, uint16_t t_id, uint8_t exp);

#endif
