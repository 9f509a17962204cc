/* SPDX-License-Identifier: MIT */
/*
 * Discovery controllers and the discovery log page (oF 1.1 section 5).
 *
 * The discovery subsystem answers on every port. Its controllers accept
 * only admin-queue commands; Get Log Page 70h lists, for the asking host,
 * every (port, subsystem) pair it may connect to, plus each port's
 * referrals. The log is generated straight into the requested window
 * (LPO/NUMD) so that a host reading it in 4 KiB pieces sees one consistent
 * layout, and a GENCTR change tells it to start over.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "proto/endian.h"

#define DISC_ASQSZ 32

struct disc_cursor {
	uint8_t *buf;
	uint64_t win_start;
	uint32_t win_len;
	uint64_t pos; /* offset in the log of the next record */
};

/* Copy the overlap of a log record [pos, pos+len) with the window. */
static void cursor_put(struct disc_cursor *c, const void *rec, uint32_t len)
{
	uint64_t start = c->pos, end = c->pos + len;
	uint64_t wend = c->win_start + c->win_len;

	if (end > c->win_start && start < wend) {
		uint64_t from = start > c->win_start ? start : c->win_start;
		uint64_t to = end < wend ? end : wend;

		memcpy(c->buf + (from - c->win_start), (const uint8_t *)rec + (from - start), to - from);
	}
	c->pos = end;
}

static bool cursor_overlaps(const struct disc_cursor *c, uint32_t len)
{
	return c->pos + len > c->win_start && c->pos < c->win_start + c->win_len;
}

static bool traddr_is_wildcard(const char *a)
{
	return a[0] == '\0' || strcmp(a, "0.0.0.0") == 0 || strcmp(a, "::") == 0 || strcmp(a, "[::]") == 0;
}

static void fill_entry(struct nvmf_disc_log_entry *e, const struct nvmf_port_opts *o, uint8_t subtype,
		       const char *subnqn, const char *local_addr)
{
	memset(e, 0, sizeof(*e));
	e->trtype = NVMF_TRTYPE_TCP;
	e->adrfam = o->adrfam;
	e->subtype = subtype;
	e->treq = (o->treq == NVMF_PORT_TREQ_REQUIRED ? NVMF_TREQ_REQUIRED : NVMF_TREQ_NOT_REQUIRED) |
		  NVMF_TREQ_DISABLE_SQFLOW;
	e->tsas[0] = o->tls ? NVMF_TCP_SECTYPE_TLS13 : NVMF_TCP_SECTYPE_NONE;
	e->portid = to_le16(o->portid);
	e->cntlid = to_le16(NVME_CNTLID_DYNAMIC);
	e->asqsz = to_le16(DISC_ASQSZ);
	/* NUL padded like nvmet: libnvme and the kernel read them as C strings. */
	memcpy(e->trsvcid, o->trsvcid, strnlen(o->trsvcid, sizeof(e->trsvcid)));
	snprintf(e->subnqn, sizeof(e->subnqn), "%s", subnqn);
	/* Hosts cannot connect to a wildcard: name the address they reached. */
	snprintf(e->traddr, sizeof(e->traddr), "%s",
		 traddr_is_wildcard(o->traddr) && local_addr ? local_addr : o->traddr);
}

static uint64_t count_records_locked(struct nvmf_tgt *tgt, const char *hostnqn)
{
	uint64_t n = 0;

	for (struct nvmf_port *p = tgt->ports; p; p = p->next) {
		for (unsigned int i = 0; i < p->nr_subsys; i++) {
			bool monitored;

			if (nvmf_subsys_host_allowed_locked(p->subsys[i], hostnqn, &monitored))
				n++;
		}
		n += p->nr_referrals;
	}
	return n;
}

void nvmf_disc_log_read_locked(struct nvmf_ctrl *ctrl, const struct nvmf_sq *sq, uint8_t *buf,
			       uint64_t offset, uint32_t len, uint64_t *log_size)
{
	struct nvmf_tgt *tgt = ctrl->tgt;
	struct disc_cursor c = { .buf = buf, .win_start = offset, .win_len = len, .pos = 0 };
	const char *local = sq->local_addr[0] ? sq->local_addr : NULL;
	struct nvmf_disc_log_hdr hdr;
	struct nvmf_disc_log_entry e = { 0 };
	uint64_t numrec = count_records_locked(tgt, ctrl->hostnqn);

	memset(buf, 0, len);
	memset(&hdr, 0, sizeof(hdr));
	hdr.genctr = to_le64(tgt->genctr);
	hdr.numrec = to_le64(numrec);
	hdr.recfmt = 0;
	cursor_put(&c, &hdr, sizeof(hdr));

	for (struct nvmf_port *p = tgt->ports; p; p = p->next) {
		for (unsigned int i = 0; i < p->nr_subsys; i++) {
			struct nvmf_subsys *s = p->subsys[i];
			bool monitored;

			if (!nvmf_subsys_host_allowed_locked(s, ctrl->hostnqn, &monitored))
				continue;
			if (cursor_overlaps(&c, sizeof(e)))
				fill_entry(&e, &p->opts, NVMF_SUBTYPE_NVME, s->nqn, local);
			cursor_put(&c, &e, sizeof(e));
		}
		for (unsigned int i = 0; i < p->nr_referrals; i++) {
			if (cursor_overlaps(&c, sizeof(e)))
				fill_entry(&e, &p->referrals[i], NVMF_SUBTYPE_REFERRAL, NVME_DISC_NQN, NULL);
			cursor_put(&c, &e, sizeof(e));
		}
	}
	*log_size = c.pos;
}

uint16_t nvmf_disc_parse(struct nvmf_req *req)
{
	switch (req->cmd.opcode) {
	case NVME_ADMIN_IDENTIFY:
	case NVME_ADMIN_GET_LOG_PAGE:
	case NVME_ADMIN_SET_FEATURES:
	case NVME_ADMIN_GET_FEATURES:
	case NVME_ADMIN_ASYNC_EVENT:
	case NVME_ADMIN_KEEP_ALIVE:
		/* The admin parser knows which CNS/LID/FID a discovery controller has. */
		return nvmf_admin_parse(req);
	default:
		return NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR;
	}
}
