/* SPDX-License-Identifier: MIT */
#include "nvme_tcp.h"

#include <errno.h>
#include <string.h>

#include "crc32c.h"
#include "endian.h"

uint8_t nvme_tcp_hlen(uint8_t type)
{
	switch (type) {
	case NVME_TCP_ICREQ:
	case NVME_TCP_ICRESP:
		return 128;
	case NVME_TCP_CMD:
		return sizeof(struct nvme_tcp_cmd_pdu);
	case NVME_TCP_H2C_TERM:
	case NVME_TCP_C2H_TERM:
	case NVME_TCP_RSP:
	case NVME_TCP_H2C_DATA:
	case NVME_TCP_C2H_DATA:
	case NVME_TCP_R2T:
		return 24;
	default:
		return 0;
	}
}

bool nvme_tcp_type_has_hdgst(uint8_t type)
{
	switch (type) {
	case NVME_TCP_CMD:
	case NVME_TCP_RSP:
	case NVME_TCP_H2C_DATA:
	case NVME_TCP_C2H_DATA:
	case NVME_TCP_R2T:
		return true;
	default:
		return false;
	}
}

static bool type_has_data(uint8_t type)
{
	return type == NVME_TCP_CMD || type == NVME_TCP_H2C_DATA || type == NVME_TCP_C2H_DATA;
}

static bool type_allowed(uint8_t type, enum nvme_tcp_role role)
{
	if (role == NVME_TCP_ROLE_TARGET)
		return type == NVME_TCP_ICREQ || type == NVME_TCP_H2C_TERM || type == NVME_TCP_CMD ||
		       type == NVME_TCP_H2C_DATA;
	return type == NVME_TCP_ICRESP || type == NVME_TCP_C2H_TERM || type == NVME_TCP_RSP ||
	       type == NVME_TCP_C2H_DATA || type == NVME_TCP_R2T;
}

static int fail(struct nvme_tcp_check *err, uint16_t fes, uint32_t fei)
{
	err->fes = fes;
	err->fei = fei;
	return -EPROTO;
}

int nvme_tcp_check_common(const struct nvme_tcp_hdr *hdr, enum nvme_tcp_role role, bool ic_done,
			  const struct nvme_tcp_conn_params *params, uint32_t max_data,
			  uint32_t *hdr_total, uint32_t *data_len, struct nvme_tcp_check *err)
{
	uint8_t type = hdr->type;
	uint32_t plen = le32(hdr->plen);
	bool is_ic = type == NVME_TCP_ICREQ || type == NVME_TCP_ICRESP;
	bool is_term = type == NVME_TCP_H2C_TERM || type == NVME_TCP_C2H_TERM;

	if (!type_allowed(type, role))
		return fail(err, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, type));
	/* Initialize Connection first, and only once (TCP spec 3.3). */
	if (is_ic == ic_done && !is_term)
		return fail(err, NVME_TCP_FES_PDU_SEQ_ERR, 0);
	if (hdr->hlen != nvme_tcp_hlen(type))
		return fail(err, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, hlen));

	if (is_term) {
		if (plen < 24 || plen > 24 + NVME_TCP_TERM_MAX_COPY)
			return fail(err, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, plen));
		*hdr_total = 24;
		*data_len = plen - 24;
		return 0;
	}
	if (is_ic) {
		if (plen != 128)
			return fail(err, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, plen));
		if (hdr->pdo != 0 || hdr->flags != 0)
			return fail(err, NVME_TCP_FES_INVALID_PDU_HDR,
				    hdr->pdo ? offsetof(struct nvme_tcp_hdr, pdo) : offsetof(struct nvme_tcp_hdr, flags));
		*hdr_total = 128;
		*data_len = 0;
		return 0;
	}

	bool hd = params->hdgst && nvme_tcp_type_has_hdgst(type);
	uint32_t hbytes = hdr->hlen + (hd ? NVME_TCP_DIGEST_LEN : 0);

	if (!!(hdr->flags & NVME_TCP_F_HDGST) != hd)
		return fail(err, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, flags));

	if (!type_has_data(type) || (type == NVME_TCP_CMD && plen == hbytes)) {
		if (plen != hbytes)
			return fail(err, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, plen));
		if (hdr->pdo != 0)
			return fail(err, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, pdo));
		if (hdr->flags & NVME_TCP_F_DDGST)
			return fail(err, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, flags));
		*hdr_total = hbytes;
		*data_len = 0;
		return 0;
	}

	/* Data-bearing PDU: PDO must lie after the header (and digest), respect
	 * the alignment we asked for, and leave room for the data digest. */
	uint32_t pdo = hdr->pdo;
	uint32_t dd = params->ddgst ? NVME_TCP_DIGEST_LEN : 0;

	if (pdo < hbytes || pdo >= plen)
		return fail(err, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, pdo));
	if (params->cpda_bytes && role == NVME_TCP_ROLE_TARGET && pdo % params->cpda_bytes)
		return fail(err, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, pdo));
	if (!!(hdr->flags & NVME_TCP_F_DDGST) != params->ddgst)
		return fail(err, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, flags));
	if (plen - pdo <= dd)
		return fail(err, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_hdr, plen));
	if (plen - pdo - dd > max_data)
		return fail(err, NVME_TCP_FES_DATA_LIMIT_EXCEEDED, offsetof(struct nvme_tcp_hdr, plen));
	*hdr_total = pdo;
	*data_len = plen - pdo - dd;
	return 0;
}

int nvme_tcp_verify_hdgst(const void *pdu, uint8_t hlen)
{
	const uint8_t *p = pdu;

	return get_le32(p + hlen) == crc32c(p, hlen) ? 0 : -EBADMSG;
}

void nvme_tcp_set_hdgst(void *pdu, uint8_t hlen)
{
	uint8_t *p = pdu;

	put_le32(p + hlen, crc32c(p, hlen));
}

uint32_t nvme_tcp_build_term(void *buf, uint8_t type, uint16_t fes, uint32_t fei,
			     const void *bad_hdr, uint32_t bad_len)
{
	struct nvme_tcp_term_pdu *t = buf;

	if (bad_len > NVME_TCP_TERM_MAX_COPY)
		bad_len = NVME_TCP_TERM_MAX_COPY;
	memset(t, 0, sizeof(*t));
	t->hdr.type = type;
	t->hdr.hlen = sizeof(*t);
	t->hdr.plen = to_le32(sizeof(*t) + bad_len);
	t->fes = to_le16(fes);
	put_le32((uint8_t *)t + 10, fei);
	if (bad_len)
		memcpy((uint8_t *)buf + sizeof(*t), bad_hdr, bad_len);
	return sizeof(*t) + bad_len;
}

void nvme_tcp_build_icreq(struct nvme_tcp_icreq_pdu *pdu, bool hdgst, bool ddgst, uint8_t hpda)
{
	memset(pdu, 0, sizeof(*pdu));
	pdu->hdr.type = NVME_TCP_ICREQ;
	pdu->hdr.hlen = sizeof(*pdu);
	pdu->hdr.plen = to_le32(sizeof(*pdu));
	pdu->pfv = to_le16(NVME_TCP_PFV_1_0);
	pdu->hpda = hpda;
	pdu->digest = (hdgst ? NVME_TCP_HDR_DIGEST_ENABLE : 0) | (ddgst ? NVME_TCP_DATA_DIGEST_ENABLE : 0);
	pdu->maxr2t = 0;
}

int nvme_tcp_accept_icreq(const struct nvme_tcp_icreq_pdu *req, uint32_t maxh2cdata,
			  struct nvme_tcp_icresp_pdu *resp, struct nvme_tcp_conn_params *params,
			  struct nvme_tcp_check *err)
{
	if (le16(req->pfv) != NVME_TCP_PFV_1_0)
		return fail(err, NVME_TCP_FES_UNSUPPORTED_PARAM, offsetof(struct nvme_tcp_icreq_pdu, pfv));
	if (req->hpda > 31)
		return fail(err, NVME_TCP_FES_INVALID_PDU_HDR, offsetof(struct nvme_tcp_icreq_pdu, hpda));
	/* We never pad C2H data, so only HPDA 0 can be honoured. */
	if (req->hpda != 0)
		return fail(err, NVME_TCP_FES_UNSUPPORTED_PARAM, offsetof(struct nvme_tcp_icreq_pdu, hpda));

	memset(params, 0, sizeof(*params));
	params->hdgst = req->digest & NVME_TCP_HDR_DIGEST_ENABLE;
	params->ddgst = req->digest & NVME_TCP_DATA_DIGEST_ENABLE;
	params->maxh2cdata = maxh2cdata;

	memset(resp, 0, sizeof(*resp));
	resp->hdr.type = NVME_TCP_ICRESP;
	resp->hdr.hlen = sizeof(*resp);
	resp->hdr.plen = to_le32(sizeof(*resp));
	resp->pfv = to_le16(NVME_TCP_PFV_1_0);
	resp->cpda = 0;
	resp->digest = req->digest & (NVME_TCP_HDR_DIGEST_ENABLE | NVME_TCP_DATA_DIGEST_ENABLE);
	resp->maxdata = to_le32(maxh2cdata);
	return 0;
}

int nvme_tcp_check_icresp(const struct nvme_tcp_icresp_pdu *resp, bool hdgst, bool ddgst,
			  struct nvme_tcp_conn_params *params)
{
	uint8_t want = (hdgst ? NVME_TCP_HDR_DIGEST_ENABLE : 0) | (ddgst ? NVME_TCP_DATA_DIGEST_ENABLE : 0);
	uint32_t maxdata = le32(resp->maxdata);

	if (resp->hdr.type != NVME_TCP_ICRESP || le32(resp->hdr.plen) != sizeof(*resp))
		return -EPROTO;
	if (le16(resp->pfv) != NVME_TCP_PFV_1_0 || resp->digest != want)
		return -EPROTO;
	if (resp->cpda > 31 || maxdata < 4096 || maxdata % 4)
		return -EPROTO;

	memset(params, 0, sizeof(*params));
	params->hdgst = hdgst;
	params->ddgst = ddgst;
	params->cpda_bytes = resp->cpda ? (resp->cpda + 1u) * 4 : 0;
	params->maxh2cdata = maxdata;
	return 0;
}

uint32_t nvme_tcp_fill_hdr(struct nvme_tcp_hdr *hdr, uint8_t type, uint8_t flags,
			   const struct nvme_tcp_conn_params *params, uint32_t data_len)
{
	uint8_t hlen = nvme_tcp_hlen(type);
	bool hd = params->hdgst && nvme_tcp_type_has_hdgst(type);
	uint32_t hbytes = hlen + (hd ? NVME_TCP_DIGEST_LEN : 0);
	uint32_t plen = hbytes;

	if (hd)
		flags |= NVME_TCP_F_HDGST;
	if (data_len) {
		/* Padding to the peer's CPDA only matters for H2C data we send as host. */
		uint32_t pdo = hbytes;

		if (params->cpda_bytes && (type == NVME_TCP_CMD || type == NVME_TCP_H2C_DATA))
			pdo = (pdo + params->cpda_bytes - 1) / params->cpda_bytes * params->cpda_bytes;
		if (params->ddgst)
			flags |= NVME_TCP_F_DDGST;
		plen = pdo + data_len + (params->ddgst ? NVME_TCP_DIGEST_LEN : 0);
		hdr->pdo = (uint8_t)pdo;
		hbytes = pdo;
	} else {
		hdr->pdo = 0;
	}
	hdr->type = type;
	hdr->flags = flags;
	hdr->hlen = hlen;
	hdr->plen = to_le32(plen);
	return hbytes;
}
