/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP transport 1.0 PDUs, shared by the target and the host.
 *
 * Pure functions only: they check and fill buffers, never do I/O. Every PDU
 * read from a socket goes through tcp_pdu_check_common() (type, HLEN, PDO,
 * PLEN and digest flags against the negotiated state) before any
 * type-specific field is used.
 */
#ifndef NVMEOF_PROTO_NVME_TCP_H
#define NVMEOF_PROTO_NVME_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme_spec.h"

#define NVME_TCP_DIGEST_LEN 4
#define NVME_TCP_PFV_1_0 0
#define NVME_TCP_ADMIN_INCAPSULE 8192 /* in-capsule data accepted on the admin queue / fabrics */
#define NVME_TCP_TERM_MAX_COPY 128 /* offending header bytes a TermReq carries */

enum nvme_tcp_pdu_type {
	NVME_TCP_ICREQ = 0x00,
	NVME_TCP_ICRESP = 0x01,
	NVME_TCP_H2C_TERM = 0x02,
	NVME_TCP_C2H_TERM = 0x03,
	NVME_TCP_CMD = 0x04,
	NVME_TCP_RSP = 0x05,
	NVME_TCP_H2C_DATA = 0x06,
	NVME_TCP_C2H_DATA = 0x07,
	NVME_TCP_R2T = 0x09,
};

enum nvme_tcp_pdu_flags {
	NVME_TCP_F_HDGST = 1u << 0,
	NVME_TCP_F_DDGST = 1u << 1,
	NVME_TCP_F_DATA_LAST = 1u << 2,
	NVME_TCP_F_DATA_SUCCESS = 1u << 3,
};

/* ICReq/ICResp DGST byte */
#define NVME_TCP_HDR_DIGEST_ENABLE (1u << 0)
#define NVME_TCP_DATA_DIGEST_ENABLE (1u << 1)

/* Fatal error status for TermReq (TCP spec 1.0 3.6.2.9) */
enum nvme_tcp_fes {
	NVME_TCP_FES_INVALID_PDU_HDR = 0x01,
	NVME_TCP_FES_PDU_SEQ_ERR = 0x02,
	NVME_TCP_FES_HDR_DIGEST_ERR = 0x03,
	NVME_TCP_FES_DATA_OUT_OF_RANGE = 0x04,
	NVME_TCP_FES_DATA_LIMIT_EXCEEDED = 0x05,
	NVME_TCP_FES_UNSUPPORTED_PARAM = 0x06,
};

struct nvme_tcp_hdr {
	uint8_t type;
	uint8_t flags;
	uint8_t hlen;
	uint8_t pdo;
	uint32_t plen;
};
_Static_assert(sizeof(struct nvme_tcp_hdr) == 8, "common header is 8 bytes");

struct nvme_tcp_icreq_pdu {
	struct nvme_tcp_hdr hdr;
	uint16_t pfv;
	uint8_t hpda;
	uint8_t digest;
	uint32_t maxr2t;
	uint8_t rsvd[112];
};
_Static_assert(sizeof(struct nvme_tcp_icreq_pdu) == 128, "ICReq is 128 bytes");

struct nvme_tcp_icresp_pdu {
	struct nvme_tcp_hdr hdr;
	uint16_t pfv;
	uint8_t cpda;
	uint8_t digest;
	uint32_t maxdata;
	uint8_t rsvd[112];
};
_Static_assert(sizeof(struct nvme_tcp_icresp_pdu) == 128, "ICResp is 128 bytes");

struct nvme_tcp_term_pdu {
	struct nvme_tcp_hdr hdr;
	uint16_t fes;
	uint16_t feil; /* FEI is 4 bytes at offset 10, unaligned: two halves */
	uint16_t feiu;
	uint8_t rsvd[10];
};
_Static_assert(sizeof(struct nvme_tcp_term_pdu) == 24, "TermReq header is 24 bytes");

struct nvme_tcp_cmd_pdu {
	struct nvme_tcp_hdr hdr;
	struct nvme_sqe sqe;
};
_Static_assert(sizeof(struct nvme_tcp_cmd_pdu) == 72, "CapsuleCmd header is 72 bytes");

struct nvme_tcp_rsp_pdu {
	struct nvme_tcp_hdr hdr;
	struct nvme_cqe cqe;
};
_Static_assert(sizeof(struct nvme_tcp_rsp_pdu) == 24, "CapsuleResp is 24 bytes");

/* H2CData and C2HData share one layout (ttag is reserved in C2HData). */
struct nvme_tcp_data_pdu {
	struct nvme_tcp_hdr hdr;
	uint16_t cccid;
	uint16_t ttag;
	uint32_t datao;
	uint32_t datal;
	uint8_t rsvd[4];
};
_Static_assert(sizeof(struct nvme_tcp_data_pdu) == 24, "data PDU header is 24 bytes");

struct nvme_tcp_r2t_pdu {
	struct nvme_tcp_hdr hdr;
	uint16_t cccid;
	uint16_t ttag;
	uint32_t r2to;
	uint32_t r2tl;
	uint8_t rsvd[4];
};
_Static_assert(sizeof(struct nvme_tcp_r2t_pdu) == 24, "R2T is 24 bytes");

/* Largest PDU header we ever read: ICReq/ICResp (no digest on those). */
#define NVME_TCP_MAX_HDR 128

/* Negotiated per-connection state the checks need. */
struct nvme_tcp_conn_params {
	bool hdgst; /* header digest negotiated */
	bool ddgst; /* data digest negotiated */
	uint32_t cpda_bytes; /* required alignment of H2C data (0 = none) */
	uint32_t maxh2cdata;
};

/* Which side is reading: decides which PDU types are legal. */
enum nvme_tcp_role {
	NVME_TCP_ROLE_TARGET, /* reads H2C PDUs */
	NVME_TCP_ROLE_HOST, /* reads C2H PDUs */
};

/* Expected HLEN for a type, 0 if the type is unknown. */
uint8_t nvme_tcp_hlen(uint8_t type);

/* Whether a type carries a header digest once negotiated. */
bool nvme_tcp_type_has_hdgst(uint8_t type);

/*
 * Result of checking a common header: 0 if fine, otherwise the FES and the
 * byte offset of the offending field for a TermReq.
 */
struct nvme_tcp_check {
	uint16_t fes;
	uint32_t fei;
};

/*
 * Validate the 8-byte common header just read against the role and the
 * negotiated parameters. `ic_done` is false until ICReq/ICResp were exchanged.
 * On success returns 0 and sets *hdr_total (HLEN + header digest, i.e. bytes
 * to read for the full header) and *data_len (payload bytes, without padding
 * and data digest; 0 if none). Returns -EPROTO with *err filled otherwise.
 */
int nvme_tcp_check_common(const struct nvme_tcp_hdr *hdr, enum nvme_tcp_role role, bool ic_done,
			  const struct nvme_tcp_conn_params *params, uint32_t max_data,
			  uint32_t *hdr_total, uint32_t *data_len, struct nvme_tcp_check *err);

/* Verify the header digest that follows HLEN bytes. 0 or -EBADMSG. */
int nvme_tcp_verify_hdgst(const void *pdu, uint8_t hlen);

/* Append a header digest after HLEN bytes of pdu (buffer must have room). */
void nvme_tcp_set_hdgst(void *pdu, uint8_t hlen);

/* Fill a TermReq (type C2H_TERM or H2C_TERM), copying up to 128 bytes of the
 * offending header. Returns the PDU length (PLEN). buf must hold 152 bytes. */
uint32_t nvme_tcp_build_term(void *buf, uint8_t type, uint16_t fes, uint32_t fei,
			     const void *bad_hdr, uint32_t bad_len);

/* Fill a 128-byte ICReq. */
void nvme_tcp_build_icreq(struct nvme_tcp_icreq_pdu *pdu, bool hdgst, bool ddgst, uint8_t hpda);

/*
 * Target side: validate an ICReq (already passed check_common) and fill the
 * ICResp. Returns 0, or -EPROTO with *err set (unsupported PFV / HPDA / MAXR2T).
 * Negotiated digests are stored in *params.
 */
int nvme_tcp_accept_icreq(const struct nvme_tcp_icreq_pdu *req, uint32_t maxh2cdata,
			  struct nvme_tcp_icresp_pdu *resp, struct nvme_tcp_conn_params *params,
			  struct nvme_tcp_check *err);

/* Host side: validate an ICResp against what we asked for; fills *params. */
int nvme_tcp_check_icresp(const struct nvme_tcp_icresp_pdu *resp, bool hdgst, bool ddgst,
			  struct nvme_tcp_conn_params *params);

/*
 * Fill the common header of an outgoing PDU with data (or without when
 * data_len is 0): flags for digests, HLEN, PDO and PLEN. Returns the header
 * bytes to send (HLEN plus header digest space); the caller appends the
 * digest with nvme_tcp_set_hdgst once the header is complete.
 */
uint32_t nvme_tcp_fill_hdr(struct nvme_tcp_hdr *hdr, uint8_t type, uint8_t flags,
			   const struct nvme_tcp_conn_params *params, uint32_t data_len);

#endif
