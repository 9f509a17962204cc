/* SPDX-License-Identifier: MIT */
/*
 * Object model and controller life: discovery log, asynchronous events,
 * keep-alive, live namespace/host/subsystem/port changes, teardown and the
 * JSON snapshot.
 */
#include "test_target_harness.h"

#define DNR NVME_STATUS_DNR

static struct fake_sq *disc_up(struct env *e, struct nvmf_port *port, const char *hostnqn)
{
	struct fake_sq *f = fake_sq_new(e->tgt, e->r, port);

	assert_int_equal(do_connect(f, 0, 31, 0xffff, NVME_DISC_NQN, hostnqn, 0), 0);
	enable_ctrl(f);
	return f;
}

/*
 * The backend closes once every reactor saw the namespace quiesced, on a
 * reactor timer: it may run just after the reactor answered a pump (a loaded
 * machine delays that thread too), so wait for it, within bounds. The flag is
 * read on the reactor, which writes it.
 */
struct closed_probe {
	const bool *flag;
	bool seen;
};

static void closed_probe_on_reactor(void *arg)
{
	struct closed_probe *p = arg;

	p->seen = *p->flag;
}

static bool tb_closed_soon(struct env *e)
{
	struct closed_probe p = { .flag = &e->tb_closed };

	for (int i = 0; i < 5000; i++) {
		on_reactor(e->r, closed_probe_on_reactor, &p);
		if (p.seen)
			return true;
		usleep(1000);
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Discovery                                                           */

static void test_discovery_identify_and_limits(void **state)
{
	struct env e;
	struct fake_sq *f;
	struct nvme_id_ctrl *id;

	(void)state;
	env_setup(&e, true);
	f = disc_up(&e, e.port, HOSTNQN);
	assert_int_equal(f->sq.ctrl->kato_ms, NVMF_DISC_KATO_MS); /* KATO 0 replaced */
	assert_int_equal(identify(f, NVME_ID_CNS_CTRL, 0), 0);
	id = (struct nvme_id_ctrl *)f->c2h;
	assert_int_equal(id->cntrltype, 2);
	assert_string_equal(id->subnqn, NVME_DISC_NQN);
	assert_int_equal(le32(id->oaes), 1u << 31);
	assert_int_equal(le32(id->nn), 0);
	assert_int_equal(identify(f, NVME_ID_CNS_NS, 1), NVME_STATUS(0, NVME_SC_INVALID_FIELD) | DNR);
	assert_int_equal(io_cmd(f, NVME_ADMIN_ABORT, 0, 0, 0, 0), NVME_STATUS(0, NVME_SC_INVALID_OPCODE) | DNR);
	assert_int_equal(get_log(f, NVME_LOG_SMART, 0, 0, 512, false), NVME_STATUS(1, NVME_SC_INVALID_LOG_PAGE) | DNR);
	assert_int_equal(set_feature(f, NVME_FEAT_ASYNC_EVENT, 1u << 31), 0);
	assert_int_equal(set_feature(f, NVME_FEAT_ASYNC_EVENT, 1u << 8), NVME_STATUS(0, NVME_SC_INVALID_FIELD) | DNR);
	assert_int_equal(set_feature(f, NVME_FEAT_NUM_QUEUES, 1), NVME_STATUS(0, NVME_SC_INVALID_FIELD) | DNR);

	/* No I/O queues on the discovery subsystem. */
	{
		struct fake_sq *q = fake_sq_new(e.tgt, e.r, e.port);

		assert_int_equal(do_connect(q, 1, 31, f->sq.ctrl->cntlid, NVME_DISC_NQN, HOSTNQN, 0),
				 NVME_STATUS(1, NVME_SC_CONNECT_INVALID_PARAM) | DNR);
		fake_sq_close(q);
	}
	fake_sq_close(f);
	env_teardown(&e);
}

static void test_discovery_log(void **state)
{
	struct env e;
	struct fake_sq *f;
	struct nvmf_port *p2;
	struct nvmf_port_opts po = { .portid = 2, .adrfam = NVMF_ADRFAM_IPV4 };
	struct nvmf_port_opts ref = { .portid = 9, .adrfam = NVMF_ADRFAM_IPV4 };
	struct nvmf_subsys *restricted, *many[4];
	struct nvmf_disc_log_hdr *hdr;
	struct nvmf_disc_log_entry *ent;
	uint8_t *full;
	uint64_t numrec, genctr;

	(void)state;
	env_setup(&e, true);
	strcpy(po.traddr, "198.51.100.7");
	strcpy(po.trsvcid, "4421");
	assert_int_equal(nvmf_port_create(e.tgt, &po, &p2), 0);
	assert_int_equal(nvmf_subsys_create(e.tgt, SUBNQN2, &restricted), 0);
	assert_int_equal(nvmf_subsys_add_host(restricted, HOSTNQN2), 0);
	assert_int_equal(nvmf_port_add_subsys(p2, restricted), 0);
	assert_int_equal(nvmf_port_add_subsys(p2, e.subsys), 0);
	strcpy(ref.traddr, "203.0.113.5");
	strcpy(ref.trsvcid, "8009");
	assert_int_equal(nvmf_port_add_referral(p2, &ref), 0);

	/* HOSTNQN sees SUBNQN on both ports and the referral, not SUBNQN2. */
	f = disc_up(&e, e.port, HOSTNQN);
	assert_int_equal(get_log(f, NVME_LOG_DISCOVERY, 0, 0, 1024, true), 0);
	hdr = (struct nvmf_disc_log_hdr *)f->c2h;
	assert_int_equal(le64(hdr->numrec), 3);
	assert_int_equal(le16(hdr->recfmt), 0);
	genctr = le64(hdr->genctr);
	assert_int_equal(get_log(f, NVME_LOG_DISCOVERY, 0, 0, 4096, false), 0);
	ent = (struct nvmf_disc_log_entry *)(f->c2h + 1024);
	assert_int_equal(ent[0].trtype, NVMF_TRTYPE_TCP);
	assert_int_equal(ent[0].adrfam, NVMF_ADRFAM_IPV4);
	assert_int_equal(ent[0].subtype, NVMF_SUBTYPE_NVME);
	assert_int_equal(ent[0].treq, 0x06);
	assert_int_equal(le16(ent[0].portid), 1);
	assert_int_equal(le16(ent[0].cntlid), 0xffff);
	assert_int_equal(le16(ent[0].asqsz), 32);
	assert_string_equal(ent[0].subnqn, SUBNQN);
	assert_string_equal(ent[0].traddr, "192.0.2.10"); /* wildcard port: the local address */
	assert_memory_equal(ent[0].trsvcid, "4420", 5);
	assert_int_equal(le16(ent[1].portid), 2);
	assert_string_equal(ent[1].traddr, "198.51.100.7");
	assert_string_equal(ent[1].subnqn, SUBNQN);
	assert_int_equal(ent[2].subtype, NVMF_SUBTYPE_REFERRAL);
	assert_int_equal(le16(ent[2].portid), 9);
	assert_string_equal(ent[2].subnqn, NVME_DISC_NQN);
	assert_string_equal(ent[2].traddr, "203.0.113.5");
	fake_sq_close(f);

	/* HOSTNQN2 also sees SUBNQN2. */
	f = disc_up(&e, p2, HOSTNQN2);
	assert_int_equal(get_log(f, NVME_LOG_DISCOVERY, 0, 0, 1024, false), 0);
	hdr = (struct nvmf_disc_log_hdr *)f->c2h;
	assert_int_equal(le64(hdr->numrec), 4);
	fake_sq_close(f);

	/* Paging: with 8 records, 4 KiB chunks at LPO must tile the whole log. */
	for (int i = 0; i < 4; i++) {
		char nqn[64];

		snprintf(nqn, sizeof(nqn), "nqn.2024-01.io.nvmeof:many%d", i);
		assert_int_equal(nvmf_subsys_create(e.tgt, nqn, &many[i]), 0);
		nvmf_subsys_set_allow_any_host(many[i], true);
		assert_int_equal(nvmf_port_add_subsys(e.port, many[i]), 0);
	}
	f = disc_up(&e, e.port, HOSTNQN);
	assert_int_equal(get_log(f, NVME_LOG_DISCOVERY, 0, 0, 1024, true), 0);
	hdr = (struct nvmf_disc_log_hdr *)f->c2h;
	numrec = le64(hdr->numrec);
	assert_int_equal(numrec, 7);
	assert_true(le64(hdr->genctr) > genctr);
	full = calloc(1, 1024 * (numrec + 1));
	for (uint64_t off = 0; off < 1024 * (numrec + 1); off += 4096) {
		uint32_t len = 4096;

		assert_int_equal(get_log(f, NVME_LOG_DISCOVERY, 0, off, len, off + len < 1024 * (numrec + 1)), 0);
		memcpy(full + off, f->c2h,
		       off + len > 1024 * (numrec + 1) ? 1024 * (numrec + 1) - off : len);
	}
	{
		int seen_many = 0;

		for (uint64_t i = 0; i < numrec; i++) {
			ent = (struct nvmf_disc_log_entry *)(full + 1024 * (i + 1));
			assert_int_equal(ent->trtype, NVMF_TRTYPE_TCP);
			if (strncmp(ent->subnqn, "nqn.2024-01.io.nvmeof:many", 26) == 0)
				seen_many++;
		}
		assert_int_equal(seen_many, 4);
	}
	free(full);
	/* LPO past the end is invalid; exactly at a record boundary is fine. */
	assert_int_equal(get_log(f, NVME_LOG_DISCOVERY, 0, 1024 * 100, 1024, false),
			 NVME_STATUS(0, NVME_SC_INVALID_FIELD) | DNR);
	assert_int_equal(get_log(f, NVME_LOG_DISCOVERY, 0, 1024 * 7, 1024, false), 0);
	assert_int_equal(((struct nvmf_disc_log_entry *)f->c2h)->trtype, NVMF_TRTYPE_TCP);
	fake_sq_close(f);
	env_teardown(&e);
}

static void test_discovery_aen(void **state)
{
	struct env e;
	struct fake_sq *f;
	struct nvmf_subsys *s2;

	(void)state;
	env_setup(&e, true);
	f = disc_up(&e, e.port, HOSTNQN);
	assert_int_equal(set_feature(f, NVME_FEAT_ASYNC_EVENT, 1u << 31), 0);
	cmd_reset(&f->req, NVME_ADMIN_ASYNC_EVENT);
	assert_int_equal(run_cmd(f), -1); /* parked */

	assert_int_equal(nvmf_subsys_create(e.tgt, SUBNQN2, &s2), 0);
	assert_int_equal(nvmf_port_add_subsys(e.port, s2), 0);
	pump(e.r);
	assert_int_equal(NVME_STATUS_FROM_CQE(le16(f->cqe.status)), 0);
	assert_int_equal(le32(f->cqe.dw0), NVME_AER_DW0(2, 0xf0, 0x70));
	fake_sq_close(f);
	env_teardown(&e);
}

/* ------------------------------------------------------------------ */
/* Namespace changes and AERs                                          */

static void test_aer_ns_change(void **state)
{
	struct env e;
	struct fake_sq *f;
	struct nvmf_req aers[5];
	unsigned int before;
	struct nvmf_ns_opts no = { .nsid = 5, .enabled = true };
	uint32_t *list;

	(void)state;
	env_setup(&e, true);
	admin_up(&e, &f, HOSTNQN);
	assert_int_equal(set_feature(f, NVME_FEAT_ASYNC_EVENT, 1u << 8), 0);

	/* AERL + 1 = 4 may be outstanding; the fifth is refused. */
	memset(aers, 0, sizeof(aers));
	for (int i = 0; i < 5; i++) {
		aers[i].sq = &f->sq;
		aers[i].data = f->req.data;
		cmd_reset(&aers[i], NVME_ADMIN_ASYNC_EVENT);
		aers[i].cmd.cid = to_le16(0x100 + i);
		aers[i].start_ns = reactor_now_ns(); /* timed, as a transport does */
		assert_int_equal(run_req(f, &aers[i]), i < 4 ? -1 : (NVME_STATUS(1, NVME_SC_AER_LIMIT) | DNR));
	}

	/* Adding a namespace completes one AER, on the admin reactor. */
	before = f->completions;
	no.backend = &test_backend_new(4096, 512, NULL)->be;
	assert_int_equal(nvmf_subsys_add_ns(e.subsys, &no, NULL), 0);
	pump(e.r); /* delivered on the admin queue's reactor */
	assert_int_equal(f->completions, before + 1);
	assert_int_equal(le16(f->cqe.cid), 0x100);
	assert_int_equal(le32(f->cqe.dw0), NVME_AER_DW0(2, 0, 4));

	/* Masked until the log is read: a second change sends nothing yet. */
	assert_int_equal(nvmf_subsys_remove_ns(e.subsys, 1), 0);
	pump(e.r);
	assert_int_equal(f->completions, before + 1);
	assert_int_equal(get_log(f, NVME_LOG_CHANGED_NS, 0, 0, 4096, true), 0);
	list = (uint32_t *)f->c2h;
	assert_int_equal(le32(list[0]), 5);
	assert_int_equal(le32(list[1]), 1);
	assert_int_equal(list[2], 0);
	/* RAE kept it; reading without RAE clears it. */
	assert_int_equal(get_log(f, NVME_LOG_CHANGED_NS, 0, 0, 4096, false), 0);
	assert_int_equal(le32(list[0]), 5);
	assert_int_equal(get_log(f, NVME_LOG_CHANGED_NS, 0, 0, 4096, false), 0);
	assert_int_equal(list[0], 0);
	assert_true(tb_closed_soon(&e)); /* no I/O was in flight: freed after quiescence */

	/* Unmasked again: the next change is delivered. */
	assert_int_equal(nvmf_subsys_remove_ns(e.subsys, 5), 0);
	pump(e.r);
	assert_int_equal(f->completions, before + 5);
	assert_int_equal(le16(f->cqe.cid), 0x101);

	/* A controller reset gives the remaining AERs back. */
	assert_int_equal(prop_set(f, NVME_REG_CC, 0, 0), 0);
	assert_int_equal(f->completions, before + 8); /* two AERs, then the Property Set */

	/* AERs are counted but not timed: they wait for events, not for service. */
	struct json_object *snap = nvmf_tgt_snapshot(e.tgt);
	struct json_object *st = jpath(json_object_array_get_idx(
		jpath(json_object_array_get_idx(jpath(snap, "subsystems"), 0), "controllers"), 0), "stats");
	struct json_object *hist = jpath(st, "latency_us_hist");
	uint64_t timed = 0;

	assert_true(json_object_get_int64(jpath(st, "others")) >= 5);
	for (size_t i = 0; i < json_object_array_length(hist); i++)
		timed += (uint64_t)json_object_get_int64(json_object_array_get_idx(hist, i));
	assert_int_equal(timed, 0);
	json_object_put(snap);
	fake_sq_close(f);
	env_teardown(&e);
}

static void finish_on_reactor(void *arg)
{
	test_backend_finish(arg);
}

static void parse_on_reactor(void *arg)
{
	struct nvmf_req *req = arg;

	req->status = nvmf_req_parse(req);
}

static void release_on_reactor(void *arg)
{
	nvmf_req_release(arg);
}

static void test_ns_removal_waits_for_io(void **state)
{
	struct env e;
	struct fake_sq *a, *q;
	uint16_t cntlid;

	(void)state;
	env_setup(&e, true);
	cntlid = admin_up(&e, &a, HOSTNQN);
	q = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(q, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), 0);

	e.tb->defer = true;
	assert_int_equal(io_cmd(q, NVME_CMD_WRITE, 1, 0, 0, 512), -1); /* in flight */
	assert_int_equal(nvmf_subsys_remove_ns(e.subsys, 1), 0);
	/* New commands no longer see it ... */
	{
		struct nvmf_req r2 = { .sq = &q->sq, .data = calloc(1, 4096) };

		rw_setup(&r2, NVME_CMD_READ, 1, 0, 0, 512);
		assert_int_equal(run_req(q, &r2), NVME_STATUS(0, NVME_SC_INVALID_NS) | DNR);
		free(r2.data);
	}
	/* ... but it stays open while the write is outstanding. */
	run_for_ms(e.r, 20);
	assert_false(e.tb_closed);
	on_reactor(e.r, finish_on_reactor, e.tb);
	assert_int_equal(NVME_STATUS_FROM_CQE(le16(q->cqe.status)), 0);
	run_for_ms(e.r, 20);
	assert_true(tb_closed_soon(&e));
	fake_sq_close(q);
	fake_sq_close(a);
	env_teardown(&e);
}

/* A request accepted by parse and then abandoned must not pin the namespace. */
static void test_req_release(void **state)
{
	struct env e;
	struct fake_sq *a, *q;
	uint16_t cntlid;

	(void)state;
	env_setup(&e, true);
	cntlid = admin_up(&e, &a, HOSTNQN);
	q = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(q, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), 0);
	rw_setup(&q->req, NVME_CMD_WRITE, 1, 0, 0, 512);
	on_reactor(e.r, parse_on_reactor, &q->req);
	assert_int_equal(q->req.status, 0);
	assert_int_equal(q->req.dir, NVMF_DATA_H2C);
	assert_int_equal(nvmf_subsys_remove_ns(e.subsys, 1), 0);
	run_for_ms(e.r, 5);
	assert_false(e.tb_closed);
	on_reactor(e.r, release_on_reactor, &q->req);
	run_for_ms(e.r, 20);
	assert_true(tb_closed_soon(&e));
	fake_sq_close(q);
	fake_sq_close(a);
	env_teardown(&e);
}

/* A queue closed while a parsed request waited for its data gives the reference back. */
static void test_close_drops_held(void **state)
{
	struct env e;
	struct fake_sq *a, *q;
	uint16_t cntlid;

	(void)state;
	env_setup(&e, true);
	cntlid = admin_up(&e, &a, HOSTNQN);
	q = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(q, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), 0);
	rw_setup(&q->req, NVME_CMD_WRITE, 1, 0, 0, 512);
	on_reactor(e.r, parse_on_reactor, &q->req);
	assert_int_equal(q->req.status, 0);
	assert_int_equal(nvmf_subsys_remove_ns(e.subsys, 1), 0);
	run_for_ms(e.r, 5);
	assert_false(e.tb_closed);
	fake_sq_close(q);
	run_for_ms(e.r, 20);
	assert_true(tb_closed_soon(&e));
	fake_sq_close(a);
	env_teardown(&e);
}

/* ------------------------------------------------------------------ */
/* Keep-alive                                                          */

/*
 * The reactor keeps real time, and a loaded machine can stall this thread for
 * longer than the gap between two commands (tens of ms were seen, and more).
 * So the commands come far more often than KATO, and each round records the
 * longest time the target could have seen without any: from just before one
 * command to just after the next. If that reached KATO the host really was
 * silent that long and a disconnect is right: nothing can be judged then.
 */
#define KA_TEST_KATO_MS 500u

struct ka_clock {
	uint64_t before; /* at or before the target's stamp of the last command (or the Connect) */
	uint64_t max_gap;
};

/* before: now, or the command's start_ns when the target stamps that (TBKAS). */
static int ka_cmd(struct ka_clock *c, struct fake_sq *f, uint64_t before)
{
	int ret = run_cmd(f);
	uint64_t gap = reactor_now_ns() - c->before;

	if (gap > c->max_gap)
		c->max_gap = gap;
	c->before = before;
	return ret;
}

static bool ka_judgeable(const struct ka_clock *c)
{
	if (c->max_gap < (uint64_t)KA_TEST_KATO_MS * 1000000u)
		return true;
	print_message("this thread stalled %llu ms (KATO %u ms): keep-alive cannot be judged\n",
		      (unsigned long long)(c->max_gap / 1000000u), KA_TEST_KATO_MS);
	return false;
}

static void test_keep_alive(void **state)
{
	struct env e;
	struct fake_sq *f, *q;
	struct ka_clock c = { 0 };
	uint16_t cntlid;

	(void)state;
	env_setup(&e, true);
	f = fake_sq_new(e.tgt, e.r, e.port);
	c.before = reactor_now_ns();
	assert_int_equal(do_connect(f, 0, 31, 0xffff, SUBNQN, HOSTNQN, KA_TEST_KATO_MS), 0);
	cntlid = (uint16_t)le32(f->cqe.dw0);
	enable_ctrl(f);
	q = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(q, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), 0);

	/* Keep Alive commands hold it off, over more than a KATO. */
	for (unsigned int i = 0; i < KA_TEST_KATO_MS / 50 + 2; i++) {
		run_for_ms(e.r, 50);
		cmd_reset(&f->req, NVME_ADMIN_KEEP_ALIVE);
		assert_int_equal(ka_cmd(&c, f, reactor_now_ns()), 0);
	}
	if (!ka_judgeable(&c))
		goto stalled;
	assert_int_equal(f->disconnects, 0);
	/* So does other traffic (TBKAS), on any queue. */
	for (unsigned int i = 0; i < KA_TEST_KATO_MS / 60 + 2; i++) {
		run_for_ms(e.r, 60);
		rw_setup(&q->req, NVME_CMD_READ, 1, 0, 0, 512);
		q->req.start_ns = reactor_now_ns();
		assert_int_equal(ka_cmd(&c, q, q->req.start_ns), 0);
	}
	if (!ka_judgeable(&c))
		goto stalled;
	assert_int_equal(f->disconnects, 0);
	/* Silence: every queue of the controller is disconnected, not before KATO. */
	for (int i = 0; i < 500 && !f->disconnects; i++)
		run_for_ms(e.r, 10);
	assert_int_equal(f->disconnects, 1);
	assert_int_equal(q->disconnects, 1);
	assert_true(reactor_now_ns() - c.before >= (uint64_t)KA_TEST_KATO_MS * 1000000u);
	fake_sq_close(q);
	fake_sq_close(f);
	env_teardown(&e);
	return;

stalled: /* torn down before skip() leaves: the reactor points into e */
	fake_sq_close(q);
	fake_sq_close(f);
	env_teardown(&e);
	skip();
}

/* KATO 0 on an I/O controller: no timer at all. */
static void test_keep_alive_disabled(void **state)
{
	struct env e;
	struct fake_sq *f;

	(void)state;
	env_setup(&e, true);
	admin_up(&e, &f, HOSTNQN);
	run_for_ms(e.r, 50);
	assert_int_equal(f->disconnects, 0);
	assert_int_equal(f->sq.ctrl->ka_timer.heap_index, 0);
	fake_sq_close(f);
	env_teardown(&e);
}

/* ------------------------------------------------------------------ */
/* Live changes and teardown                                           */

static void test_host_and_subsys_removal(void **state)
{
	struct env e;
	struct fake_sq *a, *b, *q;
	uint16_t cntlid;

	(void)state;
	env_setup(&e, false);
	assert_int_equal(nvmf_subsys_add_host(e.subsys, HOSTNQN), 0);
	assert_int_equal(nvmf_subsys_add_host(e.subsys, HOSTNQN2), 0);
	assert_int_equal(nvmf_subsys_add_host(e.subsys, HOSTNQN2), -EEXIST);
	cntlid = admin_up(&e, &a, HOSTNQN);
	admin_up(&e, &b, HOSTNQN2);
	q = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(q, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), 0);

	/* Removing HOSTNQN2 disconnects only its controller. */
	assert_int_equal(nvmf_subsys_remove_host(e.subsys, HOSTNQN2), 0);
	assert_int_equal(b->disconnects, 1);
	assert_int_equal(a->disconnects, 0);
	fake_sq_close(b);

	/* Removing the subsystem disconnects the rest; it is freed after the last queue. */
	assert_int_equal(nvmf_subsys_remove(e.tgt, e.subsys), 0);
	assert_int_equal(a->disconnects, 1);
	assert_int_equal(q->disconnects, 1);
	assert_null(nvmf_subsys_find(e.tgt, SUBNQN));
	/* I/O still parses against the (unpublished) namespace table. */
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0, 0, 512), NVME_STATUS(0, NVME_SC_INVALID_NS) | DNR);
	fake_sq_close(q);
	fake_sq_close(a);
	pump(e.r);
	assert_true(tb_closed_soon(&e));
	env_teardown(&e);
}

static void test_port_removal(void **state)
{
	struct env e;
	struct fake_sq *a, *idle;

	(void)state;
	env_setup(&e, true);
	admin_up(&e, &a, HOSTNQN);
	idle = fake_sq_new(e.tgt, e.r, e.port); /* not yet connected */
	assert_ptr_equal(nvmf_tgt_port_at(e.tgt, 0), e.port);
	assert_null(nvmf_tgt_port_at(e.tgt, 1));
	assert_int_equal(nvmf_port_remove_subsys(e.port, e.subsys), 0);
	assert_int_equal(a->disconnects, 1);
	assert_int_equal(nvmf_port_remove(e.tgt, e.port), 0);
	assert_int_equal(idle->disconnects, 1);
	assert_null(nvmf_port_find(e.tgt, 1));
	fake_sq_close(idle);
	fake_sq_close(a);
	env_teardown(&e);
}

static void test_cntlid_unique(void **state)
{
	struct env e;
	struct fake_sq *f[6];
	uint16_t ids[6];

	(void)state;
	env_setup(&e, true);
	for (int i = 0; i < 6; i++) {
		f[i] = fake_sq_new(e.tgt, e.r, e.port);
		assert_int_equal(do_connect(f[i], 0, 31, 0xffff, SUBNQN, HOSTNQN, 0), 0);
		ids[i] = (uint16_t)le32(f[i]->cqe.dw0);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(ids[i], ids[j]);
	}
	/* A freed CNTLID is not handed out again right away. */
	fake_sq_close(f[0]);
	pump(e.r);
	f[0] = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(f[0], 0, 31, 0xffff, SUBNQN, HOSTNQN, 0), 0);
	assert_int_not_equal((uint16_t)le32(f[0]->cqe.dw0), ids[0]);
	for (int i = 0; i < 6; i++)
		fake_sq_close(f[i]);
	env_teardown(&e);
}

static void test_model_api_errors(void **state)
{
	struct env e;
	struct nvmf_subsys *s;
	struct nvmf_port *p;
	struct nvmf_port_opts po = { .portid = 1, .adrfam = NVMF_ADRFAM_IPV4 };
	struct nvmf_ns_opts no = { .nsid = 1, .enabled = true };
	struct test_backend *tb = test_backend_new(4096, 512, NULL);
	uint32_t nsid;

	(void)state;
	env_setup(&e, true);
	assert_true(nvmf_nqn_valid(SUBNQN));
	assert_true(nvmf_nqn_valid(NVME_DISC_NQN));
	/* Names the kernel target accepts are accepted too. */
	assert_true(nvmf_nqn_valid("testnqn"));
	assert_true(nvmf_nqn_valid("nqn.24-01.io:x"));
	assert_false(nvmf_nqn_valid("with space"));
	assert_false(nvmf_nqn_valid("tab\there"));
	assert_false(nvmf_nqn_valid(""));
	{
		char longnqn[300];

		memset(longnqn, 'a', sizeof(longnqn));
		memcpy(longnqn, "nqn.2024-01.io:", 15);
		longnqn[224] = '\0';
		assert_false(nvmf_nqn_valid(longnqn));
		longnqn[223] = '\0';
		assert_true(nvmf_nqn_valid(longnqn));
	}
	assert_int_equal(nvmf_subsys_create(e.tgt, SUBNQN, &s), -EEXIST);
	assert_int_equal(nvmf_subsys_create(e.tgt, NVME_DISC_NQN, &s), -EINVAL);
	assert_int_equal(nvmf_subsys_create(e.tgt, "bogus name", &s), -EINVAL);
	strcpy(po.trsvcid, "4420");
	assert_int_equal(nvmf_port_create(e.tgt, &po, &p), -EEXIST);
	/* NSID 1 is taken; NSID 0 picks the lowest free one. */
	no.backend = &tb->be;
	assert_int_equal(nvmf_subsys_add_ns(e.subsys, &no, NULL), -EEXIST);
	no.nsid = 0;
	assert_int_equal(nvmf_subsys_add_ns(e.subsys, &no, &nsid), 0);
	assert_int_equal(nsid, 2);
	assert_int_equal(nvmf_subsys_remove_ns(e.subsys, 3), -ENOENT);
	assert_int_equal(nvmf_subsys_remove_host(e.subsys, HOSTNQN), -ENOENT);
	assert_int_equal(nvmf_subsys_set_ident(e.subsys, "this serial is far too long", NULL), -EINVAL);
	assert_int_equal(nvmf_tgt_sync(e.tgt), 0);
	assert_int_equal(e.tb->flushes, 1);
	env_teardown(&e);
}

static void test_snapshot(void **state)
{
	struct env e;
	struct fake_sq *a;
	struct json_object *snap, *sub, *ns, *port, *ctrl;
	struct nvmf_port_opts ref = { .portid = 3, .adrfam = NVMF_ADRFAM_IPV6 };
	char uuid[37];

	(void)state;
	env_setup(&e, false);
	assert_int_equal(nvmf_subsys_add_host(e.subsys, HOSTNQN), 0);
	strcpy(ref.traddr, "2001:db8::1");
	strcpy(ref.trsvcid, "8009");
	assert_int_equal(nvmf_port_add_referral(e.port, &ref), 0);
	admin_up(&e, &a, HOSTNQN);

	snap = nvmf_tgt_snapshot(e.tgt);
	sub = json_object_array_get_idx(jpath(snap, "subsystems"), 0);
	assert_string_equal(json_object_get_string(jpath(sub, "nqn")), SUBNQN);
	assert_false(json_object_get_boolean(jpath(sub, "allow_any_host")));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(jpath(sub, "hosts"), 0)), HOSTNQN);
	assert_int_equal(strlen(json_object_get_string(jpath(sub, "serial"))), 20);
	ns = json_object_array_get_idx(jpath(sub, "namespaces"), 0);
	assert_int_equal(json_object_get_int(jpath(ns, "nsid")), 1);
	assert_int_equal(json_object_get_int64(jpath(ns, "size")), TEST_NS_BYTES);
	assert_int_equal(json_object_get_int(jpath(ns, "block_size")), 512);
	assert_null(jpath(ns, "path"));
	snprintf(uuid, sizeof(uuid), "%s", json_object_get_string(jpath(ns, "uuid")));
	assert_int_equal(strlen(uuid), 36);
	assert_int_equal(uuid[8], '-');
	assert_int_equal(strlen(json_object_get_string(jpath(ns, "nguid"))), 32);
	assert_true(json_object_get_boolean(jpath(ns, "enabled")));
	ctrl = json_object_array_get_idx(jpath(sub, "controllers"), 0);
	assert_string_equal(json_object_get_string(jpath(ctrl, "hostnqn")), HOSTNQN);
	assert_string_equal(json_object_get_string(jpath(ctrl, "peer")), "192.0.2.1:40000");
	assert_string_equal(json_object_get_string(jpath(ctrl, "hostid")), "abababab-abab-abab-abab-abababababab");
	port = json_object_array_get_idx(jpath(snap, "ports"), 0);
	assert_int_equal(json_object_get_int(jpath(port, "portid")), 1);
	assert_string_equal(json_object_get_string(jpath(port, "trsvcid")), "4420");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(jpath(port, "subsystems"), 0)), SUBNQN);
	assert_string_equal(json_object_get_string(jpath(json_object_array_get_idx(jpath(port, "referrals"), 0),
							 "traddr")),
			    "2001:db8::1");
	json_object_put(snap);
	fake_sq_close(a);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discovery_identify_and_limits),
		cmocka_unit_test(test_discovery_log),
		cmocka_unit_test(test_discovery_aen),
		cmocka_unit_test(test_aer_ns_change),
		cmocka_unit_test(test_ns_removal_waits_for_io),
		cmocka_unit_test(test_req_release),
		cmocka_unit_test(test_close_drops_held),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_keep_alive_disabled),
		cmocka_unit_test(test_host_and_subsys_removal),
		cmocka_unit_test(test_port_removal),
		cmocka_unit_test(test_cntlid_unique),
		cmocka_unit_test(test_model_api_errors),
		cmocka_unit_test(test_snapshot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
