/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the NVMe/TCP PDU layer the way a connection's receive path drives it:
 * split the byte stream into PDUs by PLEN, validate every common header,
 * negotiate with ICReq/ICResp, verify header and data digests and answer a
 * bad header with a TermReq. Besides memory safety, the target checks that
 * the layer is self-consistent: what it accepts has sane lengths, what it
 * builds (ICResp, TermReq, outgoing headers) the other side accepts.
 *
 * Input: byte 0 selects the setup, byte 1 the CPDA, the rest is the stream.
 *   bit 0     reader is the host (else the target)
 *   bit 1     Initialize Connection already done (use bits 2-3 as digests)
 *   bit 2/3   header / data digest negotiated (or requested, for a host)
 *   bit 4     rewrite digests to be correct, to reach deeper paths
 *   bits 5-7  max in-capsule / data PDU size, from a table
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/crc32c.h"
#include "proto/endian.h"
#include "proto/nvme_tcp.h"
#include "fuzz_common.h"

#define MAX_PDUS 64

static const uint32_t max_data_table[8] = { 0, 1, 512, 4096, 8192, 131072, 0x400000, 0xffffffffu };

static enum nvme_tcp_role peer_of(enum nvme_tcp_role r)
{
	return r == NVME_TCP_ROLE_TARGET ? NVME_TCP_ROLE_HOST : NVME_TCP_ROLE_TARGET;
}

/* A TermReq we would send must be acceptable to the peer in any state. */
static void send_term(enum nvme_tcp_role role, const struct nvme_tcp_check *err, const uint8_t *bad,
		      size_t avail)
{
	uint8_t buf[24 + NVME_TCP_TERM_MAX_COPY + 8];
	uint32_t len = avail > 255 ? 255 : (uint32_t)avail;
	uint8_t type = role == NVME_TCP_ROLE_TARGET ? NVME_TCP_C2H_TERM : NVME_TCP_H2C_TERM;
	struct nvme_tcp_conn_params none = { 0 };
	struct nvme_tcp_check e2;
	uint32_t ht, dl, n;

	memset(buf, 0xa5, sizeof(buf));
	n = nvme_tcp_build_term(buf, type, err->fes, err->fei, bad, len);
	fuzz_assert(n >= 24 && n <= 24 + NVME_TCP_TERM_MAX_COPY);
	fuzz_assert(buf[n] == 0xa5); /* nothing written past PLEN */
	fuzz_assert(get_le32(buf + 4) == n);
	fuzz_assert(get_le32(buf + 10) == err->fei);
	fuzz_assert(memcmp(buf + 24, bad, n - 24) == 0);
	fuzz_assert(nvme_tcp_check_common((struct nvme_tcp_hdr *)buf, peer_of(role), false, &none, 0, &ht,
					  &dl, &e2) == 0);
	fuzz_assert(ht == 24 && dl == n - 24);
}

/* Re-encode an accepted PDU's header as its sender would; the reader must
 * accept it with the same payload length. */
static void check_reencode(const struct nvme_tcp_hdr *h, enum nvme_tcp_role role,
			   const struct nvme_tcp_conn_params *params, uint32_t max_data, uint32_t data_len)
{
	struct nvme_tcp_hdr out;
	struct nvme_tcp_conn_params sender = *params;
	struct nvme_tcp_check e;
	uint32_t hb, ht, dl;

	/* TermReqs are never built by fill_hdr; IC PDUs only come once. */
	if (h->type == NVME_TCP_H2C_TERM || h->type == NVME_TCP_C2H_TERM || h->type == NVME_TCP_ICREQ ||
	    h->type == NVME_TCP_ICRESP)
		return;
	/* The sender pads H2C data to our CPDA; C2H data is never padded. */
	if (role == NVME_TCP_ROLE_HOST)
		sender.cpda_bytes = 0;
	hb = nvme_tcp_fill_hdr(&out, h->type,
			       h->flags & (NVME_TCP_F_DATA_LAST | NVME_TCP_F_DATA_SUCCESS), &sender, data_len);
	fuzz_assert(out.hlen == h->hlen);
	fuzz_assert(nvme_tcp_check_common(&out, role, true, params, max_data, &ht, &dl, &e) == 0);
	fuzz_assert(ht == hb);
	fuzz_assert(dl == data_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nvme_tcp_conn_params params = { 0 };
	enum nvme_tcp_role role;
	bool ic_done, want_hd, want_dd, fix_digests;
	uint32_t max_data;
	uint8_t *stream;
	size_t off = 0;

	if (size < 2)
		return 0;
	role = (data[0] & 1) ? NVME_TCP_ROLE_HOST : NVME_TCP_ROLE_TARGET;
	ic_done = data[0] & 2;
	want_hd = data[0] & 4;
	want_dd = data[0] & 8;
	fix_digests = data[0] & 16;
	max_data = max_data_table[data[0] >> 5];
	if (ic_done) {
		params.hdgst = want_hd;
		params.ddgst = want_dd;
		params.maxh2cdata = 131072;
		if (role == NVME_TCP_ROLE_TARGET && (data[1] & 31))
			params.cpda_bytes = ((data[1] & 31) + 1u) * 4;
	}

	/* A private, writable copy: digests may be rewritten in place. */
	size -= 2;
	stream = malloc(size ? size : 1);
	if (!stream)
		return 0;
	memcpy(stream, data + 2, size);

	for (int n = 0; n < MAX_PDUS && size - off >= sizeof(struct nvme_tcp_hdr); n++) {
		uint8_t *pdu = stream + off;
		size_t avail = size - off;
		struct nvme_tcp_hdr h;
		struct nvme_tcp_check err = { 0, 0 };
		uint32_t hdr_total = 0, data_len = 0, plen;
		int rc;

		memcpy(&h, pdu, sizeof(h));
		rc = nvme_tcp_check_common(&h, role, ic_done, &params, max_data, &hdr_total, &data_len, &err);
		if (rc) {
			fuzz_assert(rc < 0);
			fuzz_assert(err.fes >= NVME_TCP_FES_INVALID_PDU_HDR &&
				    err.fes <= NVME_TCP_FES_UNSUPPORTED_PARAM);
			fuzz_assert(err.fei < NVME_TCP_MAX_HDR);
			send_term(role, &err, pdu, avail);
			break;
		}

		/* Accepted: lengths must be consistent and bounded. */
		plen = le32(h.plen);
		fuzz_assert(h.hlen == nvme_tcp_hlen(h.type));
		fuzz_assert(hdr_total >= h.hlen && hdr_total <= 255);
		fuzz_assert(hdr_total <= plen);
		fuzz_assert(data_len <= plen - hdr_total);
		if (h.type != NVME_TCP_H2C_TERM && h.type != NVME_TCP_C2H_TERM)
			fuzz_assert(data_len <= max_data);
		if (h.type == NVME_TCP_H2C_TERM || h.type == NVME_TCP_C2H_TERM)
			fuzz_assert(plen >= 24 && plen <= 24 + NVME_TCP_TERM_MAX_COPY);
		if (data_len) {
			uint32_t dd = params.ddgst && h.type != NVME_TCP_H2C_TERM &&
						      h.type != NVME_TCP_C2H_TERM
					      ? NVME_TCP_DIGEST_LEN
					      : 0;
			fuzz_assert((uint64_t)hdr_total + data_len + dd == plen);
		}
		check_reencode(&h, role, &params, max_data, data_len);

		if (avail < plen)
			break; /* a real reader would wait for more bytes */

		/* Header digest. */
		if (params.hdgst && nvme_tcp_type_has_hdgst(h.type)) {
			if (fix_digests)
				nvme_tcp_set_hdgst(pdu, h.hlen);
			if (nvme_tcp_verify_hdgst(pdu, h.hlen)) {
				err.fes = NVME_TCP_FES_HDR_DIGEST_ERR;
				err.fei = 0;
				send_term(role, &err, pdu, h.hlen);
				break;
			}
			fuzz_assert(get_le32(pdu + h.hlen) == crc32c(pdu, h.hlen));
		}

		/* Data digest, computed two ways. */
		if (data_len && params.ddgst && h.type != NVME_TCP_H2C_TERM && h.type != NVME_TCP_C2H_TERM) {
			const uint8_t *payload = pdu + hdr_total;
			uint32_t crc = crc32c(payload, data_len);
			struct iovec iov[2] = {
				{ (void *)payload, data_len / 3 },
				{ (void *)(payload + data_len / 3), data_len - data_len / 3 },
			};

			fuzz_assert(crc32c_iov(iov, 2) == crc);
			if (fix_digests)
				put_le32(pdu + hdr_total + data_len, crc);
			/* A bad data digest ends the connection (nvmet) or the
			 * command (Linux host); either way this stream is done. */
			if (get_le32(pdu + hdr_total + data_len) != crc)
				break;
		}

		switch (h.type) {
		case NVME_TCP_ICREQ: {
			struct nvme_tcp_icreq_pdu req;
			struct nvme_tcp_icresp_pdu resp;
			struct nvme_tcp_conn_params hp = { 0 };
			uint32_t ht, dl;

			memcpy(&req, pdu, sizeof(req));
			rc = nvme_tcp_accept_icreq(&req, 131072, &resp, &params, &err);
			if (rc) {
				fuzz_assert(err.fes == NVME_TCP_FES_INVALID_PDU_HDR ||
					    err.fes == NVME_TCP_FES_UNSUPPORTED_PARAM);
				send_term(role, &err, pdu, sizeof(req));
				goto out;
			}
			/* The host side must accept the answer we built. */
			fuzz_assert(nvme_tcp_check_common(&resp.hdr, NVME_TCP_ROLE_HOST, false, &hp, 0, &ht, &dl,
							  &err) == 0);
			fuzz_assert(nvme_tcp_check_icresp(&resp, params.hdgst, params.ddgst, &hp) == 0);
			fuzz_assert(hp.hdgst == params.hdgst && hp.ddgst == params.ddgst);
			fuzz_assert(hp.maxh2cdata == params.maxh2cdata);
			ic_done = true;
			break;
		}
		case NVME_TCP_ICRESP: {
			struct nvme_tcp_icresp_pdu resp;

			memcpy(&resp, pdu, sizeof(resp));
			if (nvme_tcp_check_icresp(&resp, want_hd, want_dd, &params))
				goto out; /* the host gives up on the connection */
			fuzz_assert(params.maxh2cdata >= 4096 && params.maxh2cdata % 4 == 0);
			fuzz_assert(params.cpda_bytes <= 128 && params.cpda_bytes % 4 == 0);
			ic_done = true;
			break;
		}
		case NVME_TCP_H2C_TERM:
		case NVME_TCP_C2H_TERM:
			goto out; /* the receiver closes without replying */
		default:
			break;
		}
		off += plen;
	}
out:
	free(stream);
	return 0;
}
