/* SPDX-License-Identifier: MIT */
/*
 * Blocking, one-command-at-a-time NVMe/TCP connection. The admin queue lives
 * here (its traffic is tiny), and every new I/O connection runs its ICReq and
 * Connect through it before the I/O engine takes the socket over.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "host_internal.h"
#include "host/auth.h"
#include "proto/nvme_auth.h"
#include "proto/crc32c.h"
#include "proto/endian.h"
#include "proto/nvme_status.h"

static uint64_t deadline_after(int timeout_ms)
{
	return host_now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1) * 1000000ull;
}

int sync_conn_open(struct sync_conn *sc, const char *addr, const char *port, uint16_t qid,
		   bool hdgst, bool ddgst, const struct host_tls_cfg *tls, int timeout_ms)
{
	struct nvme_tcp_icreq_pdu req;
	struct nvme_tcp_icresp_pdu resp;
	uint64_t deadline = deadline_after(timeout_ms);
	int rc;

	memset(sc, 0, sizeof(*sc));
	sc->qid = qid;
	sc->fd = sock_connect(addr, port, timeout_ms, sc->peer, sizeof(sc->peer));
	if (sc->fd < 0) {
		rc = sc->fd;
		if (rc != -ECANCELED)
			log_error(HOST_LOG, "%s qid %u: connect failed: %s", sc->peer, qid, strerror(-rc));
		sc->fd = -1;
		return rc;
	}
	if (tls) {
		rc = host_tls_handshake(sc->fd, tls, sc->peer, qid, deadline, &sc->tls);
		if (rc)
			goto fail;
	}
	nvme_tcp_build_icreq(&req, hdgst, ddgst, 0);
	struct iovec iov = { &req, sizeof(req) };

	rc = sock_send_all(sc->fd, sc->tls, &iov, 1, deadline);
	if (!rc)
		rc = sock_recv_all(sc->fd, sc->tls, &resp, sizeof(resp), deadline);
	if (rc) {
		if (rc != -ECANCELED)
			log_error(HOST_LOG, "%s qid %u: ICReq/ICResp exchange failed: %s%s", sc->peer, qid,
				  strerror(-rc),
				  rc == -ECONNRESET && !sc->tls ? " (does the port require TLS?)" : "");
		/* Closed unanswered: the controller refused the connection. */
		if (rc == -ECONNRESET)
			rc = -ECONNREFUSED;
		goto fail;
	}
	if (resp.hdr.type == NVME_TCP_C2H_TERM) {
		log_error(HOST_LOG, "%s qid %u: controller answered ICReq with C2HTermReq", sc->peer, qid);
		rc = -ECONNREFUSED;
		goto fail;
	}
	rc = nvme_tcp_check_icresp(&resp, hdgst, ddgst, &sc->params);
	if (rc) {
		log_error(HOST_LOG,
			  "%s qid %u: bad ICResp (type %u plen %u pfv %u digest %u cpda %u maxh2cdata %u)",
			  sc->peer, qid, resp.hdr.type, le32(resp.hdr.plen), le16(resp.pfv), resp.digest,
			  resp.cpda, le32(resp.maxdata));
		goto fail;
	}
	return 0;
fail:
	sync_conn_close(sc);
	return rc;
}

void sync_conn_close(struct sync_conn *sc)
{
	host_tls_free(sc->tls);
	sc->tls = NULL;
	if (sc->fd >= 0)
		close(sc->fd);
	sc->fd = -1;
}

/* Read one PDU header (common part validated) into hdr; returns its data length. */
static int recv_pdu_hdr(struct sync_conn *sc, uint8_t *hdr, uint32_t max_data, uint32_t *data_len,
			uint64_t deadline)
{
	struct nvme_tcp_check chk;
	uint32_t hdr_total;
	int rc = sock_recv_all(sc->fd, sc->tls, hdr, sizeof(struct nvme_tcp_hdr), deadline);

	if (rc)
		return rc;
	rc = nvme_tcp_check_common((struct nvme_tcp_hdr *)hdr, NVME_TCP_ROLE_HOST, true, &sc->params,
				   max_data, &hdr_total, data_len, &chk);
	if (rc) {
		log_error(HOST_LOG, "%s qid %u: invalid PDU header (type %u): fes %u fei %u", sc->peer,
			  sc->qid, hdr[0], chk.fes, chk.fei);
		return rc;
	}
	rc = sock_recv_all(sc->fd, sc->tls, hdr + 8, hdr_total - 8, deadline);
	if (rc)
		return rc;
	if (sc->params.hdgst && nvme_tcp_type_has_hdgst(hdr[0]) &&
	    nvme_tcp_verify_hdgst(hdr, hdr[2])) {
		log_error(HOST_LOG, "%s qid %u: header digest error (type %u)", sc->peer, sc->qid, hdr[0]);
		return -EBADMSG;
	}
	return 0;
}

int sync_conn_cmd(struct sync_conn *sc, struct nvme_sqe *sqe, void *buf, uint32_t len,
		  bool write, int timeout_ms, struct nvmeof_cpl *cpl)
{
	uint64_t deadline = deadline_after(timeout_ms);
	uint8_t hdrbuf[256];
	struct nvme_tcp_cmd_pdu *pdu = (struct nvme_tcp_cmd_pdu *)hdrbuf;
	uint32_t ddgst = 0;
	uint16_t cid = sc->next_cid++;
	uint32_t hbytes;
	bool data_err = false;
	int rc;

	if (sc->fd < 0)
		return -ENOTCONN;
	if (write && len > NVME_TCP_ADMIN_INCAPSULE)
		return -EINVAL;
	memset(hdrbuf, 0, sizeof(hdrbuf));
	sqe->cid = to_le16(cid);
	sqe->flags = NVME_SQE_FLAGS_SGL;
	memset(&sqe->sgl, 0, sizeof(sqe->sgl));
	sqe->sgl.length = to_le32(len);
	sqe->sgl.type = (write && len) ? NVME_SGL_DATA_BLOCK_OFFSET : NVME_SGL_TRANSPORT_DATA_BLOCK;
	pdu->sqe = *sqe;
	hbytes = nvme_tcp_fill_hdr(&pdu->hdr, NVME_TCP_CMD, 0, &sc->params, write ? len : 0);
	if (sc->params.hdgst)
		nvme_tcp_set_hdgst(pdu, sizeof(*pdu));

	struct iovec iov[3] = { { hdrbuf, hbytes } };
	int iovcnt = 1;

	if (write && len) {
		iov[iovcnt++] = (struct iovec){ buf, len };
		if (sc->params.ddgst) {
			ddgst = to_le32(crc32c(buf, len));
			iov[iovcnt++] = (struct iovec){ &ddgst, 4 };
		}
	}
	rc = sock_send_all(sc->fd, sc->tls, iov, iovcnt, deadline);
	if (rc)
		goto out_err;

	uint32_t next = 0; /* next expected C2H data offset */

	for (;;) {
		uint32_t dlen;

		rc = recv_pdu_hdr(sc, hdrbuf, len ? len : 1, &dlen, deadline);
		if (rc)
			goto out_err;
		uint8_t type = hdrbuf[0];

		if (type == NVME_TCP_C2H_TERM) {
			struct nvme_tcp_term_pdu *t = (struct nvme_tcp_term_pdu *)hdrbuf;

			log_error(HOST_LOG, "%s qid %u: C2HTermReq fes %u", sc->peer, sc->qid, le16(t->fes));
			rc = -ECONNRESET;
			goto out_err;
		}
		if (type == NVME_TCP_RSP) {
			struct nvme_tcp_rsp_pdu *r = (struct nvme_tcp_rsp_pdu *)hdrbuf;

			if (le16(r->cqe.cid) != cid) {
				log_error(HOST_LOG, "%s qid %u: completion for unknown cid %u (waiting for %u)",
					  sc->peer, sc->qid, le16(r->cqe.cid), cid);
				rc = -EPROTO;
				goto out_err;
			}
			cpl->err = 0;
			cpl->status = NVME_STATUS_FROM_CQE(le16(r->cqe.status)) & 0x47ff;
			cpl->dw0 = le32(r->cqe.dw0);
			cpl->dw1 = le32(r->cqe.dw1);
			if (data_err && !cpl->status)
				cpl->status = NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR);
			return 0;
		}
		if (type == NVME_TCP_C2H_DATA) {
			struct nvme_tcp_data_pdu *d = (struct nvme_tcp_data_pdu *)hdrbuf;
			uint32_t datao = le32(d->datao), datal = le32(d->datal);

			if (le16(d->cccid) != cid || write || datal != dlen || datao != next ||
			    datao + datal > len || datao + datal < datao) {
				log_error(HOST_LOG,
					  "%s qid %u cid %u: unexpected C2HData (cccid %u datao %u datal %u len %u)",
					  sc->peer, sc->qid, cid, le16(d->cccid), datao, datal, len);
				rc = -EPROTO;
				goto out_err;
			}
			rc = sock_recv_all(sc->fd, sc->tls, (uint8_t *)buf + datao, datal, deadline);
			if (rc)
				goto out_err;
			if (sc->params.ddgst) {
				uint8_t dg[4];

				rc = sock_recv_all(sc->fd, sc->tls, dg, 4, deadline);
				if (rc)
					goto out_err;
				if (get_le32(dg) != crc32c((uint8_t *)buf + datao, datal)) {
					log_error(HOST_LOG, "%s qid %u cid %u: data digest error", sc->peer,
						  sc->qid, cid);
					data_err = true;
				}
			}
			next = datao + datal;
			if (d->hdr.flags & NVME_TCP_F_DATA_SUCCESS) {
				if (!(d->hdr.flags & NVME_TCP_F_DATA_LAST) || next != len) {
					rc = -EPROTO;
					goto out_err;
				}
				cpl->err = 0;
				cpl->dw0 = 0;
				cpl->dw1 = 0;
				cpl->status = data_err ? NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_DATA_XFER_ERROR) : 0;
				return 0;
			}
			continue;
		}
		log_error(HOST_LOG, "%s qid %u cid %u: unexpected PDU type %u", sc->peer, sc->qid, cid, type);
		rc = -EPROTO;
		goto out_err;
	}
out_err:
	if (rc != -ECANCELED) /* the controller is being disconnected: nothing went wrong */
		log_error(HOST_LOG, "%s qid %u cid %u opcode 0x%02x: %s", sc->peer, sc->qid, cid,
			  sqe->opcode, strerror(-rc));
	sync_conn_close(sc);
	return rc;
}

int sync_conn_fabrics_connect(struct sync_conn *sc, const struct nvmeof_ctrl_opts *opts,
			      uint16_t sqsize, uint32_t kato_ms, uint16_t *cntlid,
			      int timeout_ms, struct nvmeof_cpl *cpl)
{
	struct nvmf_connect_data data;
	struct nvme_sqe sqe;
	struct nvmf_connect_sqe *c = (struct nvmf_connect_sqe *)&sqe;
	int rc;

	memset(&data, 0, sizeof(data));
	memcpy(data.hostid, opts->hostid, 16);
	data.cntlid = to_le16(*cntlid);
	strncpy(data.subnqn, opts->subnqn, NVME_NQN_FIELD - 1);
	strncpy(data.hostnqn, opts->hostnqn, NVME_NQN_FIELD - 1);

	memset(&sqe, 0, sizeof(sqe));
	c->opcode = NVME_FABRICS_COMMAND;
	c->fctype = NVMF_FCTYPE_CONNECT;
	c->recfmt = 0;
	c->qid = to_le16(sc->qid);
	c->sqsize = to_le16((uint16_t)(sqsize - 1));
	c->kato = to_le32(sc->qid == 0 ? kato_ms : 0);

	rc = sync_conn_cmd(sc, &sqe, &data, sizeof(data), true, timeout_ms, cpl);
	if (rc)
		return rc;
	if (cpl->status) {
		char st[128];

		log_error(HOST_LOG, "%s qid %u: Connect to %s rejected: %s (dw0 0x%x)", sc->peer, sc->qid,
			  opts->subnqn, nvme_status_format(cpl->status, true, st, sizeof(st)), cpl->dw0);
		return -EREMOTEIO;
	}
	if (sc->qid == 0)
		*cntlid = (uint16_t)(cpl->dw0 & 0xffff);
	/* AUTHREQ (DW0 31:16): ATR asks for DH-HMAC-CHAP; secure channel
	 * concatenation (ASCR) is not supported. */
	if (cpl->dw0 & NVMF_CONNECT_AUTHREQ_ASCR) {
		log_error(HOST_LOG, "%s qid %u: authentication failed: the controller requires secure channel "
				    "concatenation, which is not supported", sc->peer, sc->qid);
		return -EACCES;
	}
	if (cpl->dw0 & NVMF_CONNECT_AUTHREQ_ATR)
		return host_auth_run(sc, opts, timeout_ms);
	/* Unasked, a host secret alone is not used (as the Linux host does);
	 * a controller secret means the controller must prove itself, so the
	 * host authenticates anyway (not to discovery controllers, which take
	 * no keys) and a target that skips it is noticed. */
	if (opts->dhchap_ctrl_secret && opts->dhchap_ctrl_secret[0] && strcmp(opts->subnqn, NVME_DISC_NQN) != 0)
		return host_auth_run(sc, opts, timeout_ms);
	if (opts->dhchap_secret && opts->dhchap_secret[0] && sc->qid == 0)
		log_info(HOST_LOG, "%s qid 0: the controller does not ask for authentication; connected without it",
			 sc->peer);
	return 0;
}
