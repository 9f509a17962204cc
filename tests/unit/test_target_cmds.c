/* SPDX-License-Identifier: MIT */
/*
 * Command layer: Connect, properties, Identify, Get Log Page, Features and
 * the NVM I/O commands, driven through nvmf_req_parse/execute with a fake
 * transport queue.
 */
#include "test_target_harness.h"

#define ST(sct, sc) NVME_STATUS(sct, sc)
#define DNR NVME_STATUS_DNR
#define ST_INVALID_FIELD (ST(0, NVME_SC_INVALID_FIELD) | DNR)
#define ST_CONNECT_INVALID (ST(1, NVME_SC_CONNECT_INVALID_PARAM) | DNR)

/* ------------------------------------------------------------------ */
/* Connect                                                             */

static void test_connect_admin(void **state)
{
	struct env e;
	struct fake_sq *f, *g;
	uint16_t c1, c2;

	(void)state;
	env_setup(&e, true);
	f = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(f, 0, 31, NVME_CNTLID_DYNAMIC, SUBNQN, HOSTNQN, 5000), 0);
	c1 = (uint16_t)le32(f->cqe.dw0);
	assert_true(c1 >= 1 && c1 <= 0xffef);
	assert_true(f->sq.connected);
	assert_int_equal(f->sq.qid, 0);
	assert_int_equal(f->sq.sqsize, 32);
	assert_int_equal(le16(f->cqe.cid), 0x1234);
	assert_int_equal(le16(f->cqe.sqhd), 1);
	assert_int_equal(f->sq.ctrl->kato_ms, 5000);
	/* A second connect on a connected queue is out of sequence. */
	assert_int_equal(do_connect(f, 0, 31, NVME_CNTLID_DYNAMIC, SUBNQN, HOSTNQN, 0),
			 ST(0, NVME_SC_CMD_SEQ_ERROR) | DNR);

	/* A second controller gets a different CNTLID. */
	g = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(g, 0, 31, NVME_CNTLID_DYNAMIC, SUBNQN, HOSTNQN, 0), 0);
	c2 = (uint16_t)le32(g->cqe.dw0);
	assert_int_not_equal(c1, c2);
	fake_sq_close(g);
	fake_sq_close(f);
	env_teardown(&e);
}

static void test_connect_errors(void **state)
{
	struct env e;
	struct fake_sq *f;
	struct nvmf_subsys *hidden;

	(void)state;
	env_setup(&e, true);
	f = fake_sq_new(e.tgt, e.r, e.port);

	/* Static CNTLID on the admin queue: offset of CNTLID in the data. */
	assert_int_equal(do_connect(f, 0, 31, 5, SUBNQN, HOSTNQN, 0), ST_CONNECT_INVALID);
	assert_int_equal(le32(f->cqe.dw0), (1u << 16) | 16);
	/* Unknown subsystem. */
	assert_int_equal(do_connect(f, 0, 31, 0xffff, "nqn.2024-01.io.nvmeof:nope", HOSTNQN, 0),
			 ST_CONNECT_INVALID);
	assert_int_equal(le32(f->cqe.dw0), (1u << 16) | 256);
	/* Existing but not exported on this port. */
	assert_int_equal(nvmf_subsys_create(e.tgt, SUBNQN2, &hidden), 0);
	nvmf_subsys_set_allow_any_host(hidden, true);
	assert_int_equal(do_connect(f, 0, 31, 0xffff, SUBNQN2, HOSTNQN, 0), ST_CONNECT_INVALID);
	assert_int_equal(le32(f->cqe.dw0), (1u << 16) | 256);
	/* SQSIZE 0 and beyond MQES: offset of SQSIZE in the SQE. */
	assert_int_equal(do_connect(f, 0, 0, 0xffff, SUBNQN, HOSTNQN, 0), ST_CONNECT_INVALID);
	assert_int_equal(le32(f->cqe.dw0), 44);
	assert_int_equal(do_connect(f, 0, NVMF_MAX_QUEUE_SIZE, 0xffff, SUBNQN, HOSTNQN, 0), ST_CONNECT_INVALID);
	/* Failed attempts leave the queue unconnected: a valid Connect still works. */
	assert_false(f->sq.connected);
	assert_int_equal(do_connect(f, 0, 31, 0xffff, SUBNQN, HOSTNQN, 0), 0);
	assert_true(f->sq.connected);
	fake_sq_close(f);

	f = fake_sq_new(e.tgt, e.r, e.port);
	{
		struct nvmf_connect_sqe *c = (struct nvmf_connect_sqe *)&f->req.cmd;
		struct nvmf_connect_data *d = f->req.data;

		cmd_reset(&f->req, NVME_FABRICS_COMMAND);
		c->fctype = NVMF_FCTYPE_CONNECT;
		c->recfmt = to_le16(1);
		c->sqsize = to_le16(31);
		c->qid = 0;
		memset(d, 0, sizeof(*d));
		d->cntlid = 0xffff;
		strcpy(d->subnqn, SUBNQN);
		strcpy(d->hostnqn, HOSTNQN);
		f->req.data_len = 1024;
		assert_int_equal(run_cmd(f), ST(1, NVME_SC_CONNECT_FORMAT) | DNR);
		/* Wrong data length. */
		c->recfmt = 0;
		f->req.data_len = 512;
		assert_int_equal(run_cmd(f), ST(0, NVME_SC_SGL_INVALID_DATA_LEN) | DNR);
		/* Unterminated NQNs are cut, not overrun: an unknown subsystem. */
		memset(d->subnqn, 'a', sizeof(d->subnqn));
		memset(d->hostnqn, 'b', sizeof(d->hostnqn));
		f->req.data_len = 1024;
		assert_int_equal(run_cmd(f), ST_CONNECT_INVALID);
	}
	/* Commands before Connect. */
	assert_int_equal(identify(f, NVME_ID_CNS_CTRL, 0), ST(0, NVME_SC_CMD_SEQ_ERROR) | DNR);
	assert_int_equal(prop_get(f, NVME_REG_CAP, 1, NULL), ST(0, NVME_SC_CMD_SEQ_ERROR) | DNR);
	fake_sq_close(f);
	env_teardown(&e);
}

static void test_connect_host_refused_and_monitor(void **state)
{
	struct env e;
	struct fake_sq *f;
	struct json_object *snap, *audit, *hosts;
	bool found = false;

	(void)state;
	env_setup(&e, false);
	assert_int_equal(nvmf_subsys_add_host(e.subsys, HOSTNQN), 0);
	f = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(f, 0, 31, 0xffff, SUBNQN, HOSTNQN2, 0),
			 ST(1, NVME_SC_CONNECT_INVALID_HOST) | DNR);
	assert_int_equal(le16(f->cqe.status) >> 1, 0x4184);
	assert_false(f->sq.connected);

	snap = nvmf_tgt_snapshot(e.tgt);
	audit = jpath(snap, "audit");
	assert_int_equal(json_object_get_int64(jpath(audit, "refused")), 1);
	assert_int_equal(json_object_get_int64(jpath(audit, "monitored_admissions")), 0);
	hosts = jpath(snap, "hosts");
	for (size_t i = 0; i < json_object_array_length(hosts); i++) {
		struct json_object *h = json_object_array_get_idx(hosts, i);

		if (strcmp(json_object_get_string(jpath(h, "nqn")), HOSTNQN2) == 0) {
			assert_int_equal(json_object_get_int64(jpath(h, "refused")), 1);
			found = true;
		}
	}
	assert_true(found);
	json_object_put(snap);

	/* The listed host gets in. */
	assert_int_equal(do_connect(f, 0, 31, 0xffff, SUBNQN, HOSTNQN, 0), 0);
	fake_sq_close(f);

	/* Monitor mode admits the unlisted host and counts it. */
	nvmf_subsys_set_monitor(e.subsys, true);
	f = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(f, 0, 31, 0xffff, SUBNQN, HOSTNQN2, 0), 0);
	snap = nvmf_tgt_snapshot(e.tgt);
	assert_int_equal(json_object_get_int64(jpath(jpath(snap, "audit"), "monitored_admissions")), 1);
	json_object_put(snap);
	/* Leaving monitor mode disconnects the controller that lost access. */
	nvmf_subsys_set_monitor(e.subsys, false);
	assert_int_equal(f->disconnects, 1);
	fake_sq_close(f);
	env_teardown(&e);
}

static void test_connect_io_queue(void **state)
{
	struct env e;
	struct fake_sq *a, *q1, *q2;
	uint16_t cntlid;

	(void)state;
	env_setup(&e, true);
	cntlid = admin_up(&e, &a, HOSTNQN);
	assert_int_equal(set_feature(a, NVME_FEAT_NUM_QUEUES, (1u << 16) | 1), 0);
	assert_int_equal(le32(a->cqe.dw0), (1u << 16) | 1); /* two queues granted */

	/* Through another port that exports the subsystem: the controller is its admin queue's port's. */
	struct nvmf_port_opts po2 = { .portid = 2, .adrfam = NVMF_ADRFAM_IPV4 };
	struct nvmf_port *port2;
	struct fake_sq *other;

	snprintf(po2.traddr, sizeof(po2.traddr), "0.0.0.0");
	snprintf(po2.trsvcid, sizeof(po2.trsvcid), "4421");
	assert_int_equal(nvmf_port_create(e.tgt, &po2, &port2), 0);
	assert_int_equal(nvmf_port_add_subsys(port2, e.subsys), 0);
	other = fake_sq_new(e.tgt, e.r, port2);
	assert_int_equal(do_connect(other, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), ST_CONNECT_INVALID);
	assert_int_equal(le32(other->cqe.dw0), (1u << 16) | 16);
	fake_sq_close(other);

	q1 = fake_sq_new(e.tgt, e.r, e.port);
	/* Unknown CNTLID, wrong host, QID beyond the grant. */
	assert_int_equal(do_connect(q1, 1, 127, cntlid + 1, SUBNQN, HOSTNQN, 0), ST_CONNECT_INVALID);
	assert_int_equal(le32(q1->cqe.dw0), (1u << 16) | 16);
	assert_int_equal(do_connect(q1, 1, 127, cntlid, SUBNQN, HOSTNQN2, 0), ST_CONNECT_INVALID);
	assert_int_equal(le32(q1->cqe.dw0), (1u << 16) | 512);
	assert_int_equal(do_connect(q1, 3, 127, cntlid, SUBNQN, HOSTNQN, 0), ST_CONNECT_INVALID);
	assert_int_equal(le32(q1->cqe.dw0), 42);
	assert_int_equal(do_connect(q1, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), 0);
	assert_int_equal(le32(q1->cqe.dw0), cntlid);
	assert_int_equal(q1->sq.qid, 1);
	assert_int_equal(q1->sq.sqsize, 128);

	q2 = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(q2, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), ST(0, NVME_SC_CMD_SEQ_ERROR) | DNR);
	/* SQ flow control disabled: SQHD reads 0xFFFF. */
	((struct nvmf_connect_sqe *)&q2->req.cmd)->cattr = 0x04;
	((struct nvmf_connect_sqe *)&q2->req.cmd)->qid = to_le16(2);
	assert_int_equal(run_cmd(q2), 0);
	assert_true(q2->sq.sqflow_disabled);
	assert_int_equal(le16(q2->cqe.sqhd), 0xffff);
	/* Number of queues cannot change once I/O queues exist. */
	assert_int_equal(set_feature(a, NVME_FEAT_NUM_QUEUES, 0), ST(0, NVME_SC_CMD_SEQ_ERROR) | DNR);
	/* Admin commands on an I/O queue are I/O opcodes there: Identify = 06h is invalid. */
	assert_int_equal(identify(q1, 1, 0), ST(0, NVME_SC_INVALID_OPCODE) | DNR);

	/* Closing the admin queue disconnects the I/O queues. */
	fake_sq_close(a);
	assert_int_equal(q1->disconnects, 1);
	assert_int_equal(q2->disconnects, 1);
	fake_sq_close(q1);
	fake_sq_close(q2);
	env_teardown(&e);
}

/* ------------------------------------------------------------------ */
/* Properties                                                          */

static void test_properties(void **state)
{
	struct env e;
	struct fake_sq *f;
	uint64_t v;

	(void)state;
	env_setup(&e, true);
	f = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(f, 0, 31, 0xffff, SUBNQN, HOSTNQN, 0), 0);

	assert_int_equal(prop_get(f, NVME_REG_CAP, 1, &v), 0);
	assert_int_equal(v & 0xffff, NVMF_MAX_QUEUE_SIZE - 1);
	assert_true(v & (1ull << 16)); /* CQR */
	assert_int_equal((v >> 24) & 0xff, 15);
	assert_true(v & (1ull << 37));
	assert_false(v & (1ull << 43));
	assert_int_equal((v >> 48) & 0xf, 0);
	assert_int_equal(prop_get(f, NVME_REG_CAP, 0, &v), ST_INVALID_FIELD);
	assert_int_equal(prop_get(f, NVME_REG_VS, 0, &v), 0);
	assert_int_equal(v, 0x00010300);
	assert_int_equal(prop_get(f, 0x100, 0, &v), ST_INVALID_FIELD);

	/* Admin commands wait for CC.EN. */
	assert_int_equal(identify(f, NVME_ID_CNS_CTRL, 0), ST(0, NVME_SC_CMD_SEQ_ERROR) | DNR);
	/* Bad IOSQES: CFS instead of RDY. */
	assert_int_equal(prop_set(f, NVME_REG_CC, NVME_CC_EN | (7u << 16) | (4u << 20), 0), 0);
	assert_int_equal(prop_get(f, NVME_REG_CSTS, 0, &v), 0);
	assert_false(v & NVME_CSTS_RDY);
	assert_true(v & NVME_CSTS_CFS);
	assert_int_equal(prop_set(f, NVME_REG_CC, 0, 0), 0);
	/* Only CC is writable, only 4 bytes wide. */
	assert_int_equal(prop_set(f, NVME_REG_CC, CC_ENABLE, 1), ST_INVALID_FIELD);
	assert_int_equal(prop_set(f, NVME_REG_CSTS, 1, 0), ST_INVALID_FIELD);

	enable_ctrl(f);
	assert_int_equal(prop_get(f, NVME_REG_CC, 0, &v), 0);
	assert_int_equal(v, CC_ENABLE);
	assert_int_equal(identify(f, NVME_ID_CNS_CTRL, 0), 0);

	/* Normal shutdown: SHST complete. */
	assert_int_equal(prop_set(f, NVME_REG_CC, CC_ENABLE | (1u << 14), 0), 0);
	assert_int_equal(prop_get(f, NVME_REG_CSTS, 0, &v), 0);
	assert_int_equal(v & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_CMPLT);
	assert_false(v & NVME_CSTS_RDY);
	/* Re-enable after reset. */
	assert_int_equal(prop_set(f, NVME_REG_CC, 0, 0), 0);
	enable_ctrl(f);
	assert_int_equal(prop_get(f, NVME_REG_CSTS, 0, &v), 0);
	assert_int_equal(v & NVME_CSTS_SHST_MASK, 0);
	/* EN 1->0 drops RDY. */
	assert_int_equal(prop_set(f, NVME_REG_CC, 0, 0), 0);
	assert_int_equal(prop_get(f, NVME_REG_CSTS, 0, &v), 0);
	assert_false(v & NVME_CSTS_RDY);
	fake_sq_close(f);
	env_teardown(&e);
}

/* ------------------------------------------------------------------ */
/* Identify                                                            */

static void test_identify_ctrl(void **state)
{
	struct env e;
	struct fake_sq *f;
	struct nvme_id_ctrl *id;
	uint16_t cntlid;

	(void)state;
	env_setup(&e, true);
	assert_int_equal(nvmf_subsys_set_ident(e.subsys, "SER123", "Model X"), 0);
	cntlid = admin_up(&e, &f, HOSTNQN);
	assert_int_equal(identify(f, NVME_ID_CNS_CTRL, 0), 0);
	assert_int_equal(f->c2h_len, 4096);
	id = (struct nvme_id_ctrl *)f->c2h;
	assert_int_equal(le16(id->cntlid), cntlid);
	assert_memory_equal(id->sn, "SER123              ", 20);
	assert_memory_equal(id->mn, "Model X", 7);
	assert_int_equal(id->mn[39], ' ');
	assert_int_equal(le32(id->sgls), 0x00100001);
	assert_int_equal(le16(id->kas), NVMF_KAS_100MS);
	assert_int_equal(le16(id->maxcmd), NVMF_MAX_QUEUE_SIZE);
	assert_int_equal(le16(id->icdoff), 0);
	assert_int_equal(le32(id->ioccsz), (64 + NVMF_IO_INCAPSULE) / 16);
	assert_int_equal(le32(id->iorcsz), 1);
	assert_int_equal(id->msdbd, 1);
	assert_int_equal(id->cmic, 0x0b); /* multi-port, multi-controller, ANA */
	assert_int_equal(id->mdts, NVMF_MDTS_SHIFT);
	assert_int_equal(id->cntrltype, 1);
	assert_int_equal(id->sqes, 0x66);
	assert_int_equal(id->cqes, 0x44);
	assert_int_equal(le32(id->nn), NVMF_MAX_NSID);
	assert_int_equal(le32(id->mnan), NVMF_MAX_NSID);
	assert_int_equal(id->vwc & 1, 1);
	assert_int_equal(le16(id->oncs), 0x0d);
	assert_int_equal(le32(id->oaes), (1u << 8) | (1u << 11)); /* NS attribute, ANA change */
	assert_int_equal(le32(id->ctratt), 0x41);
	assert_int_equal(le32(id->ver), 0x00010300);
	assert_int_equal(id->lpa, 0x07);
	assert_int_equal(id->aerl, 3);
	assert_string_equal(id->subnqn, SUBNQN);

	/* Wrong transfer length, unknown CNS, CNS 06h with a foreign CSI. */
	cmd_reset(&f->req, NVME_ADMIN_IDENTIFY);
	f->req.cmd.cdw10 = to_le32(1);
	f->req.data_len = 512;
	assert_int_equal(run_cmd(f), ST(0, NVME_SC_SGL_INVALID_DATA_LEN) | DNR);
	assert_int_equal(identify(f, 0x1f, 0), ST_INVALID_FIELD);
	assert_int_equal(identify(f, NVME_ID_CNS_CS_CTRL, 0), 0);
	f->req.cmd.cdw11 = to_le32(2u << 24);
	assert_int_equal(run_cmd(f), ST_INVALID_FIELD);
	fake_sq_close(f);
	env_teardown(&e);
}

static void test_identify_namespaces(void **state)
{
	struct env e;
	struct fake_sq *f;
	struct nvme_id_ns *ns;
	struct nvmf_ns_opts no = { .nsid = 7, .enabled = true };
	struct test_backend *tb2 = test_backend_new(8 << 20, 4096, "/tmp/x.img");
	uint32_t *list;
	uint8_t nguid[16], uuid[16];
	uint8_t *p;

	(void)state;
	env_setup(&e, true);
	no.backend = &tb2->be;
	memset(no.uuid, 0x42, 16);
	assert_int_equal(nvmf_subsys_add_ns(e.subsys, &no, NULL), 0);
	admin_up(&e, &f, HOSTNQN);

	assert_int_equal(identify(f, NVME_ID_CNS_NS, 1), 0);
	ns = (struct nvme_id_ns *)f->c2h;
	assert_int_equal(le64(ns->nsze), TEST_NS_BYTES / 512);
	assert_int_equal(le64(ns->ncap), TEST_NS_BYTES / 512);
	assert_int_equal(ns->lbaf[0].lbads, 9);
	assert_int_equal(ns->nmic, 1);
	assert_int_equal(ns->dlfeat & 1, 1);
	memcpy(nguid, ns->nguid, 16);
	assert_int_equal(identify(f, NVME_ID_CNS_NS, 7), 0);
	assert_int_equal(ns->lbaf[0].lbads, 12);
	assert_int_equal(le64(ns->nsze), 2048);
	assert_memory_not_equal(nguid, ns->nguid, 16);
	/* Valid but inactive: zeroes. NSID 0 and broadcast: invalid. */
	assert_int_equal(identify(f, NVME_ID_CNS_NS, 3), 0);
	assert_int_equal(le64(ns->ncap), 0);
	assert_int_equal(identify(f, NVME_ID_CNS_NS, 0), ST(0, NVME_SC_INVALID_NS) | DNR);
	assert_int_equal(identify(f, NVME_ID_CNS_NS, 0xffffffff), ST(0, NVME_SC_INVALID_NS) | DNR);

	/* Active list: ascending, only NSIDs above the one given. */
	assert_int_equal(identify(f, NVME_ID_CNS_NS_ACTIVE_LIST, 0), 0);
	list = (uint32_t *)f->c2h;
	assert_int_equal(le32(list[0]), 1);
	assert_int_equal(le32(list[1]), 7);
	assert_int_equal(list[2], 0);
	assert_int_equal(identify(f, NVME_ID_CNS_NS_ACTIVE_LIST, 1), 0);
	assert_int_equal(le32(list[0]), 7);
	assert_int_equal(list[1], 0);

	/* Descriptors: NGUID, UUID (as configured), CSI. */
	assert_int_equal(identify(f, NVME_ID_CNS_NS_DESC_LIST, 7), 0);
	p = f->c2h;
	assert_int_equal(p[0], NVME_NIDT_NGUID);
	assert_int_equal(p[1], 16);
	p += 20;
	assert_int_equal(p[0], NVME_NIDT_UUID);
	assert_int_equal(p[1], 16);
	memset(uuid, 0x42, 16);
	assert_memory_equal(p + 4, uuid, 16);
	p += 20;
	assert_int_equal(p[0], NVME_NIDT_CSI);
	assert_int_equal(p[1], 1);
	assert_int_equal(p[4], 0);
	assert_int_equal(p[5], 0); /* list terminator */
	assert_int_equal(identify(f, NVME_ID_CNS_NS_DESC_LIST, 2), ST(0, NVME_SC_INVALID_NS) | DNR);
	fake_sq_close(f);
	env_teardown(&e);
}

static void test_generated_ids_stable(void **state)
{
	struct nvmf_tgt *t1, *t2;
	struct nvmf_subsys *s1, *s2, *s3;
	struct test_backend *a = test_backend_new(4096, 512, "/data/a.img");
	struct test_backend *b = test_backend_new(4096, 512, "/data/a.img");
	struct test_backend *c = test_backend_new(4096, 512, "/data/a.img");
	struct nvmf_ns_opts no = { .nsid = 1, .enabled = true };
	uint8_t u1[16], u2[16], u3[16];

	(void)state;
	assert_int_equal(nvmf_tgt_create(&t1), 0);
	assert_int_equal(nvmf_tgt_create(&t2), 0);
	assert_int_equal(nvmf_subsys_create(t1, SUBNQN, &s1), 0);
	assert_int_equal(nvmf_subsys_create(t2, SUBNQN, &s2), 0);
	assert_int_equal(nvmf_subsys_create(t2, SUBNQN2, &s3), 0);
	no.backend = &a->be;
	assert_int_equal(nvmf_subsys_add_ns(s1, &no, NULL), 0);
	no.backend = &b->be;
	assert_int_equal(nvmf_subsys_add_ns(s2, &no, NULL), 0);
	no.backend = &c->be;
	assert_int_equal(nvmf_subsys_add_ns(s3, &no, NULL), 0);
	memcpy(u1, s1->nss[1]->uuid, 16);
	memcpy(u2, s2->nss[1]->uuid, 16);
	memcpy(u3, s3->nss[1]->uuid, 16);
	/* Same names, same IDs (a restart); another subsystem, other IDs. */
	assert_memory_equal(u1, u2, 16);
	assert_memory_equal(s1->nss[1]->nguid, s2->nss[1]->nguid, 16);
	assert_memory_not_equal(u1, u3, 16);
	assert_memory_not_equal(s1->nss[1]->nguid, s3->nss[1]->nguid, 16);
	assert_int_equal(u1[6] >> 4, 8); /* version 8 UUID */
	assert_int_equal(u1[8] >> 6, 2);
	nvmf_tgt_destroy(t1);
	nvmf_tgt_destroy(t2);
}

/* ------------------------------------------------------------------ */
/* Log pages                                                           */

static void test_log_pages(void **state)
{
	struct env e;
	struct fake_sq *f, *q;
	struct nvme_smart_log *smart;
	uint32_t *effects;
	uint16_t cntlid;

	(void)state;
	env_setup(&e, true);
	cntlid = admin_up(&e, &f, HOSTNQN);

	/* Effects log: CSUPP for what we implement, LBCC for writes. */
	assert_int_equal(get_log(f, NVME_LOG_CMD_EFFECTS, 0, 0, 4096, false), 0);
	effects = (uint32_t *)f->c2h;
	assert_int_equal(le32(effects[NVME_ADMIN_IDENTIFY]) & 1, 1);
	assert_int_equal(le32(effects[0x10]), 0);
	assert_int_equal(le32(effects[256 + NVME_CMD_WRITE]), 3);
	assert_int_equal(le32(effects[256 + NVME_CMD_READ]), 1);
	/* LPO: the second half of the effects log starts with the I/O entries. */
	assert_int_equal(get_log(f, NVME_LOG_CMD_EFFECTS, 0, 1024, 8, false), 0);
	assert_int_equal(f->c2h_len, 8);
	assert_int_equal(le32(effects[0]), 1); /* Flush */
	assert_int_equal(le32(effects[1]), 3); /* Write */
	/* Longer than the log: zero filled. */
	assert_int_equal(get_log(f, NVME_LOG_FW_SLOT, 0, 0, 1024, false), 0);
	assert_int_equal(f->c2h[0], 1);
	assert_memory_equal(f->c2h + 8, NVMF_FW_REVISION, strlen(NVMF_FW_REVISION));
	assert_int_equal(f->c2h[1000], 0);
	/* Misaligned or out-of-range LPO, unknown and discovery-only LIDs. */
	assert_int_equal(get_log(f, NVME_LOG_SMART, 0, 2, 4, false), ST_INVALID_FIELD);
	assert_int_equal(get_log(f, NVME_LOG_SMART, 0, 4096, 4, false), ST_INVALID_FIELD);
	assert_int_equal(get_log(f, 0x7f, 0, 0, 512, false), ST(1, NVME_SC_INVALID_LOG_PAGE) | DNR);
	assert_int_equal(get_log(f, NVME_LOG_DISCOVERY, 0, 0, 1024, false), ST(1, NVME_SC_INVALID_LOG_PAGE) | DNR);
	/* NUMD vs SGL length. */
	get_log(f, NVME_LOG_SMART, 0, 0, 512, false);
	f->req.data_len = 256;
	assert_int_equal(run_cmd(f), ST(0, NVME_SC_SGL_INVALID_DATA_LEN) | DNR);

	/* Error log: the failures above, newest first. */
	assert_int_equal(get_log(f, NVME_LOG_ERROR, 0, 0, 128, false), 0);
	{
		struct nvme_error_log_entry *el = (struct nvme_error_log_entry *)f->c2h;

		assert_true(le64(el[0].error_count) > le64(el[1].error_count));
		assert_int_equal(NVME_STATUS_FROM_CQE(le16(el[0].status)) & 0x7ff,
				 NVME_STATUS(0, NVME_SC_SGL_INVALID_DATA_LEN));
		assert_int_equal(le16(el[0].cid), 0x1234);
	}

	/* SMART counts host reads/writes and data units. */
	q = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(q, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(io_cmd(q, NVME_CMD_WRITE, 1, 0, 7, 4096), 0);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0, 0, 512), 0);
	assert_int_equal(get_log(f, NVME_LOG_SMART, NVME_NSID_ALL, 0, 512, false), 0);
	smart = (struct nvme_smart_log *)f->c2h;
	assert_int_equal(get_le32(smart->host_writes), 3);
	assert_int_equal(get_le32(smart->host_reads), 1);
	assert_int_equal(get_le32(smart->data_units_written), 1); /* 24 units, rounded up */
	assert_int_equal(get_le32(smart->data_units_read), 1);
	assert_int_equal(get_log(f, NVME_LOG_SMART, 1, 0, 512, false), 0);
	assert_int_equal(get_le32(smart->host_writes), 3);
	assert_int_equal(get_log(f, NVME_LOG_SMART, 9, 0, 512, false), ST(0, NVME_SC_INVALID_NS) | DNR);
	fake_sq_close(q);
	fake_sq_close(f);
	env_teardown(&e);
}

/* ------------------------------------------------------------------ */
/* Features                                                            */

static void test_features(void **state)
{
	struct env e;
	struct fake_sq *f;
	uint8_t hostid[16];

	(void)state;
	env_setup(&e, true);
	admin_up(&e, &f, HOSTNQN);

	assert_int_equal(set_feature(f, NVME_FEAT_NUM_QUEUES, (200u << 16) | 3), 0);
	assert_int_equal(le32(f->cqe.dw0), ((NVMF_MAX_IO_QUEUES - 1u) << 16) | 3);
	assert_int_equal(get_feature(f, NVME_FEAT_NUM_QUEUES, 0, 0), 0);
	assert_int_equal(le32(f->cqe.dw0), (3u << 16) | 3);
	assert_int_equal(set_feature(f, NVME_FEAT_NUM_QUEUES, 0xffff), ST_INVALID_FIELD);

	assert_int_equal(set_feature(f, NVME_FEAT_ASYNC_EVENT, 1u << 8), 0);
	assert_int_equal(get_feature(f, NVME_FEAT_ASYNC_EVENT, 0, 0), 0);
	assert_int_equal(le32(f->cqe.dw0), 1u << 8);
	assert_int_equal(set_feature(f, NVME_FEAT_ASYNC_EVENT, 1u << 9), ST_INVALID_FIELD);
	assert_int_equal(set_feature(f, NVME_FEAT_ASYNC_EVENT, 1u << 31), ST_INVALID_FIELD);

	assert_int_equal(set_feature(f, NVME_FEAT_KATO, 7000), 0);
	assert_int_equal(get_feature(f, NVME_FEAT_KATO, 0, 0), 0);
	assert_int_equal(le32(f->cqe.dw0), 7000);

	assert_int_equal(get_feature(f, NVME_FEAT_VOLATILE_WC, 0, 0), 0);
	assert_int_equal(le32(f->cqe.dw0), 1);
	assert_int_equal(set_feature(f, NVME_FEAT_VOLATILE_WC, 1), 0);
	assert_int_equal(set_feature(f, NVME_FEAT_VOLATILE_WC, 0), ST_INVALID_FIELD);

	assert_int_equal(get_feature(f, NVME_FEAT_HOST_ID, 1, 16), 0);
	memset(hostid, 0xab, 16);
	assert_int_equal(f->c2h_len, 16);
	assert_memory_equal(f->c2h, hostid, 16);
	assert_int_equal(get_feature(f, NVME_FEAT_HOST_ID, 0, 16), ST_INVALID_FIELD);
	assert_int_equal(set_feature(f, NVME_FEAT_HOST_ID, 1), ST(0, NVME_SC_CMD_SEQ_ERROR) | DNR);

	assert_int_equal(get_feature(f, NVME_FEAT_ARBITRATION, 0, 0), 0);
	assert_int_equal(get_feature(f, NVME_FEAT_POWER_MGMT, 0, 0), 0);
	assert_int_equal(get_feature(f, 0x0e, 0, 0), ST_INVALID_FIELD);
	assert_int_equal(set_feature(f, 0x0e, 0), ST_INVALID_FIELD);
	assert_int_equal(set_feature(f, NVME_FEAT_KATO | (1u << 31), 1000),
			 ST(1, NVME_SC_FEATURE_NOT_SAVEABLE) | DNR);
	/* Abort never aborts; Keep Alive succeeds. */
	cmd_reset(&f->req, NVME_ADMIN_ABORT);
	assert_int_equal(run_cmd(f), 0);
	assert_int_equal(le32(f->cqe.dw0), 1);
	cmd_reset(&f->req, NVME_ADMIN_KEEP_ALIVE);
	assert_int_equal(run_cmd(f), 0);
	cmd_reset(&f->req, 0x80);
	assert_int_equal(run_cmd(f), ST(0, NVME_SC_INVALID_OPCODE) | DNR);
	fake_sq_close(f);
	env_teardown(&e);
}

/* ------------------------------------------------------------------ */
/* I/O                                                                 */

static void io_env(struct env *e, struct fake_sq **admin, struct fake_sq **q)
{
	uint16_t cntlid;

	env_setup(e, true);
	cntlid = admin_up(e, admin, HOSTNQN);
	*q = fake_sq_new(e->tgt, e->r, e->port);
	assert_int_equal(do_connect(*q, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), 0);
}

static void io_env_done(struct env *e, struct fake_sq *a, struct fake_sq *q)
{
	fake_sq_close(q);
	fake_sq_close(a);
	env_teardown(e);
}

static void test_io_validation(void **state)
{
	struct env e;
	struct fake_sq *a, *q;
	const uint64_t nblocks = TEST_NS_BYTES / 512;

	(void)state;
	io_env(&e, &a, &q);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 2, 0, 0, 512), ST(0, NVME_SC_INVALID_NS) | DNR);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 0, 0, 0, 512), ST(0, NVME_SC_INVALID_NS) | DNR);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, nblocks, 0, 512), ST(0, NVME_SC_LBA_RANGE) | DNR);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, nblocks - 1, 1, 1024), ST(0, NVME_SC_LBA_RANGE) | DNR);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0xffffffffffffffffull, 1, 1024),
			 ST(0, NVME_SC_LBA_RANGE) | DNR);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, nblocks - 1, 0, 512), 0);
	assert_int_equal(io_cmd(q, NVME_CMD_WRITE, 1, 0, 7, 512), ST(0, NVME_SC_SGL_INVALID_DATA_LEN) | DNR);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0, NVMF_MAX_XFER / 512, NVMF_MAX_XFER + 512),
			 ST_INVALID_FIELD); /* > MDTS */
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0, NVMF_MAX_XFER / 512 - 1, NVMF_MAX_XFER), 0); /* = MDTS */
	assert_int_equal(io_cmd(q, NVME_CMD_WRITE_ZEROES, 1, 0, 0, 512), ST(0, NVME_SC_SGL_INVALID_DATA_LEN) | DNR);
	assert_int_equal(io_cmd(q, NVME_CMD_FLUSH, NVME_NSID_ALL, 0, 0, 0), ST(0, NVME_SC_INVALID_NS) | DNR);
	assert_int_equal(io_cmd(q, 0x7e, 1, 0, 0, 0), ST(0, NVME_SC_INVALID_OPCODE) | DNR);
	/* Fused commands are refused. */
	rw_setup(&q->req, NVME_CMD_READ, 1, 0, 0, 512);
	q->req.cmd.flags |= 1;
	assert_int_equal(run_cmd(q), ST_INVALID_FIELD);
	/* After a controller reset, I/O queues stop accepting commands. */
	assert_int_equal(prop_set(a, NVME_REG_CC, 0, 0), 0);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0, 0, 512), ST(0, NVME_SC_CMD_SEQ_ERROR) | DNR);
	io_env_done(&e, a, q);
}

static void test_io_data(void **state)
{
	struct env e;
	struct fake_sq *a, *q;
	uint8_t pattern[4096];

	(void)state;
	io_env(&e, &a, &q);
	for (unsigned int i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);

	/* Write with FUA, read back through the copy path and the zero-copy path. */
	rw_setup(&q->req, NVME_CMD_WRITE, 1, 8, 7, 4096);
	q->req.cmd.cdw12 |= to_le32(NVME_RW_FUA);
	memcpy(q->req.data, pattern, 4096);
	assert_int_equal(run_cmd(q), 0);
	assert_true(e.tb->last_fua);
	assert_memory_equal(e.tb->mem + 8 * 512, pattern, 4096);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 8, 7, 4096), 0);
	assert_int_equal(q->c2h_len, 4096);
	assert_memory_equal(q->c2h, pattern, 4096);
	assert_ptr_equal(q->last->c2h_data, q->req.data);
	e.tb->can_map = true;
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 9, 0, 512), 0);
	assert_ptr_equal(q->last->c2h_data, e.tb->mem + 9 * 512);
	assert_memory_equal(q->c2h, pattern + 512, 512);

	/* Compare: equal, then different; mapped and unmapped. */
	for (int mapped = 0; mapped < 2; mapped++) {
		e.tb->can_map = mapped;
		rw_setup(&q->req, NVME_CMD_COMPARE, 1, 8, 7, 4096);
		memcpy(q->req.data, pattern, 4096);
		assert_int_equal(run_cmd(q), 0);
		rw_setup(&q->req, NVME_CMD_COMPARE, 1, 8, 7, 4096);
		memcpy(q->req.data, pattern, 4096);
		((uint8_t *)q->req.data)[4095] ^= 1;
		assert_int_equal(run_cmd(q), ST(2, NVME_SC_COMPARE_FAILED) | DNR);
	}

	/* Write Zeroes. */
	assert_int_equal(io_cmd(q, NVME_CMD_WRITE_ZEROES, 1, 8, 0, 0), 0);
	assert_int_equal(e.tb->last_op, BACKEND_WRITE_ZEROES);
	assert_int_equal(e.tb->mem[8 * 512], 0);
	assert_int_equal(e.tb->mem[9 * 512], pattern[512]);
	rw_setup(&q->req, NVME_CMD_WRITE_ZEROES, 1, 9, 0, 0);
	q->req.cmd.cdw12 |= to_le32(NVME_WZ_DEAC);
	assert_int_equal(run_cmd(q), 0);
	assert_int_equal(e.tb->last_op, BACKEND_DISCARD);
	assert_int_equal(e.tb->mem[9 * 512], 0);

	/* DSM deallocate: all ranges validated first. */
	memset(e.tb->mem, 0xee, 64 * 512);
	{
		struct nvme_dsm_range *r = q->req.data;

		cmd_reset(&q->req, NVME_CMD_DSM);
		q->req.cmd.nsid = to_le32(1);
		q->req.cmd.cdw10 = to_le32(2); /* three ranges */
		q->req.cmd.cdw11 = to_le32(NVME_DSM_ATTR_DEALLOCATE);
		q->req.data_len = 48;
		memset(r, 0, 48);
		r[0].slba = to_le64(0);
		r[0].nlb = to_le32(2);
		r[1].slba = to_le64(10);
		r[1].nlb = to_le32(0); /* empty: skipped */
		r[2].slba = to_le64(TEST_NS_BYTES / 512);
		r[2].nlb = to_le32(1); /* out of range */
		assert_int_equal(run_cmd(q), ST(0, NVME_SC_LBA_RANGE) | DNR);
		assert_int_equal(e.tb->discards, 1); /* only the Write Zeroes above */
		assert_int_equal(e.tb->mem[0], 0xee);
		r[2].slba = to_le64(20);
		assert_int_equal(run_cmd(q), 0);
		assert_int_equal(e.tb->discards, 3);
		assert_int_equal(e.tb->mem[0], 0);
		assert_int_equal(e.tb->mem[2 * 512], 0xee);
		assert_int_equal(e.tb->mem[20 * 512], 0);
		/* Hints only: no work. */
		memset(e.tb->mem, 0xee, 512);
		q->req.cmd.cdw11 = to_le32(1);
		assert_int_equal(run_cmd(q), 0);
		assert_int_equal(e.tb->mem[0], 0xee);
		q->req.data_len = 32;
		assert_int_equal(run_cmd(q), ST(0, NVME_SC_SGL_INVALID_DATA_LEN) | DNR);
		/* Linux sends a whole 256-range buffer whatever NR says. */
		q->req.data_len = 4096;
		memset(r + 3, 0xff, 4096 - 48);
		q->req.cmd.cdw11 = to_le32(NVME_DSM_ATTR_DEALLOCATE);
		assert_int_equal(run_cmd(q), 0);
		assert_int_equal(e.tb->discards, 5);
	}

	/* Flush goes to the backend. */
	assert_int_equal(io_cmd(q, NVME_CMD_FLUSH, 1, 0, 0, 0), 0);
	assert_int_equal(e.tb->flushes, 1);

	/* Backend failures become media errors. */
	e.tb->fail = -EIO;
	e.tb->can_map = false;
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0, 0, 512), ST(2, NVME_SC_READ_ERROR));
	rw_setup(&q->req, NVME_CMD_WRITE, 1, 0, 0, 512);
	assert_int_equal(run_cmd(q), ST(2, NVME_SC_WRITE_FAULT));
	e.tb->fail = 0;

	/* Read-only namespace. */
	e.tb->be.read_only = true;
	assert_int_equal(io_cmd(q, NVME_CMD_WRITE, 1, 0, 0, 512), ST(0, NVME_SC_NS_WRITE_PROTECTED) | DNR);
	assert_int_equal(io_cmd(q, NVME_CMD_WRITE_ZEROES, 1, 0, 0, 0), ST(0, NVME_SC_NS_WRITE_PROTECTED) | DNR);
	e.tb->be.read_only = false;

	/* SQHD advances modulo the queue size. */
	{
		uint16_t hd = le16(q->cqe.sqhd);

		assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0, 0, 512), 0);
		assert_int_equal(le16(q->cqe.sqhd), (hd + 1) % 128);
		assert_int_equal(le16(q->cqe.sqid), 1);
	}
	io_env_done(&e, a, q);
}

static void test_io_telemetry(void **state)
{
	struct env e;
	struct fake_sq *a, *q;
	struct json_object *snap, *sub, *stats, *ctrl;

	(void)state;
	io_env(&e, &a, &q);
	rw_setup(&q->req, NVME_CMD_WRITE, 1, 0, 7, 4096);
	q->req.start_ns = reactor_now_ns();
	assert_int_equal(run_cmd(q), 0);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0, 0, 512), 0);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 99999, 0, 512), ST(0, NVME_SC_LBA_RANGE) | DNR);

	snap = nvmf_tgt_snapshot(e.tgt);
	sub = json_object_array_get_idx(jpath(snap, "subsystems"), 0);
	ctrl = json_object_array_get_idx(jpath(sub, "controllers"), 0);
	assert_int_equal(json_object_get_int(jpath(ctrl, "queues")), 2);
	stats = jpath(ctrl, "stats");
	assert_int_equal(json_object_get_int64(jpath(stats, "writes")), 1);
	assert_int_equal(json_object_get_int64(jpath(stats, "reads")), 2);
	assert_int_equal(json_object_get_int64(jpath(stats, "write_bytes")), 4096);
	assert_int_equal(json_object_get_int64(jpath(stats, "read_bytes")), 512);
	assert_int_equal(json_object_get_int64(jpath(stats, "errors")), 1);
	assert_int_equal(json_object_array_length(jpath(stats, "latency_us_hist")), NVMF_LAT_BUCKETS);
	stats = jpath(json_object_array_get_idx(jpath(sub, "namespaces"), 0), "stats");
	assert_int_equal(json_object_get_int64(jpath(stats, "writes")), 1);
	assert_int_equal(json_object_get_int64(jpath(stats, "reads")), 1);
	json_object_put(snap);

	/* Closed queues fold into the subsystem and host totals. */
	fake_sq_close(q);
	fake_sq_close(a);
	pump(e.r);
	snap = nvmf_tgt_snapshot(e.tgt);
	sub = json_object_array_get_idx(jpath(snap, "subsystems"), 0);
	assert_int_equal(json_object_array_length(jpath(sub, "controllers")), 0);
	assert_int_equal(json_object_get_int64(jpath(jpath(sub, "stats"), "writes")), 1);
	assert_int_equal(json_object_get_int64(
				 jpath(jpath(json_object_array_get_idx(jpath(snap, "hosts"), 0), "stats"), "reads")),
			 2);
	json_object_put(snap);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_admin),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_connect_host_refused_and_monitor),
		cmocka_unit_test(test_connect_io_queue),
		cmocka_unit_test(test_properties),
		cmocka_unit_test(test_identify_ctrl),
		cmocka_unit_test(test_identify_namespaces),
		cmocka_unit_test(test_generated_ids_stable),
		cmocka_unit_test(test_log_pages),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_io_validation),
		cmocka_unit_test(test_io_data),
		cmocka_unit_test(test_io_telemetry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
