/* SPDX-License-Identifier: MIT */
/*
 * DH-HMAC-CHAP message encoding and decoding (see nvme_auth.h). Decoders
 * treat the buffer as hostile: the fixed header is checked against len
 * before it is read, and the variable parts (HL, DHVLEN) must add up to
 * exactly what was received.
 */
#include "proto/nvme_auth.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "proto/endian.h"

static bool type_is(const uint8_t *b, uint8_t type, uint8_t id)
{
	return b[0] == type && b[1] == id;
}

int nvme_auth_peek(const void *buf, size_t len, uint8_t *type, uint8_t *id, uint16_t *t_id)
{
	const uint8_t *b = buf;

	if (len < 8)
		return -EBADMSG;
	*type = b[0];
	*id = b[1];
	*t_id = (uint16_t)(b[4] | b[5] << 8);
	return 0;
}

int nvme_auth_negotiate_decode(const void *buf, size_t len, struct nvme_auth_negotiate *out)
{
	struct nvme_auth_negotiate_hdr h;
	struct nvme_auth_protocol_desc d;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(h) + sizeof(d))
		return -EBADMSG;
	memcpy(&h, buf, sizeof(h));
	if (!type_is(buf, NVME_AUTH_COMMON_MESSAGES, NVME_AUTH_NEGOTIATE))
		return -EBADMSG;
	/* One descriptor (DH-HMAC-CHAP is the only protocol), and nothing beyond it. */
	if (h.napd != 1 || len != sizeof(h) + (size_t)h.napd * sizeof(d))
		return -EBADMSG;
	memcpy(&d, (const uint8_t *)buf + sizeof(h), sizeof(d));
	if (d.authid != NVME_AUTH_DHCHAP_AUTHID || d.halen > NVME_AUTH_MAX_IDS || d.dhlen > NVME_AUTH_MAX_IDS)
		return -EBADMSG;
	out->t_id = le16(h.t_id);
	out->sc_c = h.sc_c;
	out->nr_hashes = d.halen;
	memcpy(out->hashes, d.idlist, d.halen);
	out->nr_dhgroups = d.dhlen;
	memcpy(out->dhgroups, d.idlist + NVME_AUTH_MAX_IDS, d.dhlen);
	return 0;
}

int nvme_auth_negotiate_encode(void *buf, size_t cap, const struct nvme_auth_negotiate *m)
{
	struct nvme_auth_negotiate_hdr h = { .auth_type = NVME_AUTH_COMMON_MESSAGES,
					     .auth_id = NVME_AUTH_NEGOTIATE,
					     .t_id = to_le16(m->t_id),
					     .sc_c = m->sc_c,
					     .napd = 1 };
	struct nvme_auth_protocol_desc d = { .authid = NVME_AUTH_DHCHAP_AUTHID,
					     .halen = m->nr_hashes,
					     .dhlen = m->nr_dhgroups };

	if (m->nr_hashes > NVME_AUTH_MAX_IDS || m->nr_dhgroups > NVME_AUTH_MAX_IDS)
		return -EINVAL;
	if (cap < sizeof(h) + sizeof(d))
		return -ENOSPC;
	memcpy(d.idlist, m->hashes, m->nr_hashes);
	memcpy(d.idlist + NVME_AUTH_MAX_IDS, m->dhgroups, m->nr_dhgroups);
	memcpy(buf, &h, sizeof(h));
	memcpy((uint8_t *)buf + sizeof(h), &d, sizeof(d));
	return (int)(sizeof(h) + sizeof(d));
}

/* A hash length the protocol knows (SHA-256/384/512). */
static bool hl_valid(uint8_t hl)
{
	return hl == 32 || hl == 48 || hl == 64;
}

int nvme_auth_challenge_decode(const void *buf, size_t len, struct nvme_auth_challenge *out)
{
	struct nvme_auth_challenge_hdr h;
	const uint8_t *b = buf;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(h) || !type_is(b, NVME_AUTH_DHCHAP_MESSAGES, NVME_AUTH_CHALLENGE))
		return -EBADMSG;
	memcpy(&h, b, sizeof(h));
	if (!hl_valid(h.hl) || sizeof(h) + (size_t)h.hl + le16(h.dhvlen) > len)
		return -EBADMSG;
	out->t_id = le16(h.t_id);
	out->hashid = h.hashid;
	out->dhgid = h.dhgid;
	out->hl = h.hl;
	out->seqnum = le32(h.seqnum);
	out->c1 = b + sizeof(h);
	out->dhvlen = le16(h.dhvlen);
	out->dhv = out->dhvlen ? b + sizeof(h) + h.hl : NULL;
	return 0;
}

int nvme_auth_challenge_encode(void *buf, size_t cap, const struct nvme_auth_challenge *m)
{
	struct nvme_auth_challenge_hdr h = { .auth_type = NVME_AUTH_DHCHAP_MESSAGES,
					     .auth_id = NVME_AUTH_CHALLENGE,
					     .t_id = to_le16(m->t_id),
					     .hl = m->hl,
					     .hashid = m->hashid,
					     .dhgid = m->dhgid,
					     .dhvlen = to_le16(m->dhvlen),
					     .seqnum = to_le32(m->seqnum) };
	size_t len = sizeof(h) + m->hl + m->dhvlen;
	uint8_t *b = buf;

	if (!hl_valid(m->hl) || (m->dhvlen && !m->dhv))
		return -EINVAL;
	if (cap < len)
		return -ENOSPC;
	memcpy(b, &h, sizeof(h));
	memcpy(b + sizeof(h), m->c1, m->hl);
	if (m->dhvlen)
		memcpy(b + sizeof(h) + m->hl, m->dhv, m->dhvlen);
	return (int)len;
}

int nvme_auth_reply_decode(const void *buf, size_t len, struct nvme_auth_reply *out)
{
	struct nvme_auth_reply_hdr h;
	const uint8_t *b = buf;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(h) || !type_is(b, NVME_AUTH_DHCHAP_MESSAGES, NVME_AUTH_REPLY))
		return -EBADMSG;
	memcpy(&h, b, sizeof(h));
	/* R1 and C2 are always there (C2 zeroed without CVALID), then the DH value. */
	if (!hl_valid(h.hl) || sizeof(h) + 2 * (size_t)h.hl + le16(h.dhvlen) > len)
		return -EBADMSG;
	out->t_id = le16(h.t_id);
	out->hl = h.hl;
	out->cvalid = h.cvalid;
	out->seqnum = le32(h.seqnum);
	out->r1 = b + sizeof(h);
	out->c2 = b + sizeof(h) + h.hl;
	out->dhvlen = le16(h.dhvlen);
	out->dhv = out->dhvlen ? b + sizeof(h) + 2 * (size_t)h.hl : NULL;
	return 0;
}

int nvme_auth_reply_encode(void *buf, size_t cap, const struct nvme_auth_reply *m)
{
	struct nvme_auth_reply_hdr h = { .auth_type = NVME_AUTH_DHCHAP_MESSAGES,
					 .auth_id = NVME_AUTH_REPLY,
					 .t_id = to_le16(m->t_id),
					 .hl = m->hl,
					 .cvalid = m->cvalid,
					 .dhvlen = to_le16(m->dhvlen),
					 .seqnum = to_le32(m->seqnum) };
	size_t len = sizeof(h) + 2 * (size_t)m->hl + m->dhvlen;
	uint8_t *b = buf;

	if (!hl_valid(m->hl) || (m->dhvlen && !m->dhv))
		return -EINVAL;
	if (cap < len)
		return -ENOSPC;
	memcpy(b, &h, sizeof(h));
	memcpy(b + sizeof(h), m->r1, m->hl);
	if (m->cvalid && m->c2)
		memcpy(b + sizeof(h) + m->hl, m->c2, m->hl);
	else
		memset(b + sizeof(h) + m->hl, 0, m->hl);
	if (m->dhvlen)
		memcpy(b + sizeof(h) + 2 * (size_t)m->hl, m->dhv, m->dhvlen);
	return (int)len;
}

int nvme_auth_success1_decode(const void *buf, size_t len, struct nvme_auth_success1 *out)
{
	struct nvme_auth_success1_hdr h;
	const uint8_t *b = buf;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(h) || !type_is(b, NVME_AUTH_DHCHAP_MESSAGES, NVME_AUTH_SUCCESS1))
		return -EBADMSG;
	memcpy(&h, b, sizeof(h));
	if (!hl_valid(h.hl) || (h.rvalid && sizeof(h) + (size_t)h.hl > len))
		return -EBADMSG;
	out->t_id = le16(h.t_id);
	out->hl = h.hl;
	out->rvalid = h.rvalid ? 1 : 0;
	out->r2 = h.rvalid ? b + sizeof(h) : NULL;
	return 0;
}

int nvme_auth_success1_encode(void *buf, size_t cap, const struct nvme_auth_success1 *m)
{
	struct nvme_auth_success1_hdr h = { .auth_type = NVME_AUTH_DHCHAP_MESSAGES,
					    .auth_id = NVME_AUTH_SUCCESS1,
					    .t_id = to_le16(m->t_id),
					    .hl = m->hl,
					    .rvalid = m->rvalid };
	/* Room for R2 always, as hosts size their check by HL. */
	size_t len = sizeof(h) + m->hl;
	uint8_t *b = buf;

	if (!hl_valid(m->hl) || (m->rvalid && !m->r2))
		return -EINVAL;
	if (cap < len)
		return -ENOSPC;
	memcpy(b, &h, sizeof(h));
	if (m->rvalid)
		memcpy(b + sizeof(h), m->r2, m->hl);
	else
		memset(b + sizeof(h), 0, m->hl);
	return (int)len;
}

int nvme_auth_success2_decode(const void *buf, size_t len, uint16_t *t_id)
{
	struct nvme_auth_success2 m;

	if (len < sizeof(m) || !type_is(buf, NVME_AUTH_DHCHAP_MESSAGES, NVME_AUTH_SUCCESS2))
		return -EBADMSG;
	memcpy(&m, buf, sizeof(m));
	*t_id = le16(m.t_id);
	return 0;
}

int nvme_auth_success2_encode(void *buf, size_t cap, uint16_t t_id)
{
	struct nvme_auth_success2 m = { .auth_type = NVME_AUTH_DHCHAP_MESSAGES,
					.auth_id = NVME_AUTH_SUCCESS2,
					.t_id = to_le16(t_id) };

	if (cap < sizeof(m))
		return -ENOSPC;
	memcpy(buf, &m, sizeof(m));
	return (int)sizeof(m);
}

int nvme_auth_failure_decode(const void *buf, size_t len, uint8_t *id, uint16_t *t_id, uint8_t *rescode,
			     uint8_t *exp)
{
	struct nvme_auth_failure m;
	const uint8_t *b = buf;

	if (len < sizeof(m) || b[0] != NVME_AUTH_COMMON_MESSAGES ||
	    (b[1] != NVME_AUTH_FAILURE1 && b[1] != NVME_AUTH_FAILURE2))
		return -EBADMSG;
	memcpy(&m, buf, sizeof(m));
	*id = m.auth_id;
	*t_id = le16(m.t_id);
	*rescode = m.rescode;
	*exp = m.rescode_exp;
	return 0;
}

int nvme_auth_failure_encode(void *buf, size_t cap, uint8_t id, uint16_t t_id, uint8_t exp)
{
	struct nvme_auth_failure m = { .auth_type = NVME_AUTH_COMMON_MESSAGES,
				       .auth_id = id,
				       .t_id = to_le16(t_id),
				       .rescode = NVME_AUTH_RC_FAILED,
				       .rescode_exp = exp };

	if (id != NVME_AUTH_FAILURE1 && id != NVME_AUTH_FAILURE2)
		return -EINVAL;
	if (cap < sizeof(m))
		return -ENOSPC;
	memcpy(buf, &m, sizeof(m));
	return (int)sizeof(m);
}
