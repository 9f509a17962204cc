/* SPDX-License-Identifier: MIT */
/*
 * Asymmetric Namespace Access in the command layer: the ANA log's layout
 * (groups, NSID lists, RGO, LPO, change count), the ANA change event, the
 * Identify fields, and I/O admission by the port's state, including a
 * command parsed before a state change and executed after it; and the
 * controller ID range that lets two targets export one subsystem.
 */
#include "test_target_harness.h"

#define DNR NVME_STATUS_DNR
#define ST(sct, sc) NVME_STATUS(sct, sc)

static int get_ana_log(struct fake_sq *f, uint64_t offset, uint32_t len, bool rgo, bool rae)
{
	get_log(f, NVME_LOG_ANA, 0, offset, len, rae);
	/* LSP (bits 11:8) bit 0 = RGO; the command is run again with it. */
	if (!rgo)
		return NVME_STATUS_FROM_CQE(le16(f->cqe.status));
	f->req.cmd.cdw10 = to_le32(le32(f->req.cmd.cdw10) | NVME_ANA_LOG_RGO << 8);
	f->req.data_len = len;
	return run_cmd(f);
}

static void add_ns(struct env *e, uint32_t nsid, uint32_t grpid)
{
	struct nvmf_ns_opts no = { .nsid = nsid, .enabled = true, .anagrpid = grpid };

	no.backend = &test_backend_new(1 << 20, 512, NULL)->be;
	assert_int_equal(nvmf_subsys_add_ns(e->subsys, &no, NULL), 0);
}

static struct nvme_ana_group_desc desc_at(const uint8_t *log, size_t off)
{
	struct nvme_ana_group_desc d;

	memcpy(&d, log + off, sizeof(d));
	return d;
}

static void test_ana_log_layout(void **state)
{
	struct env e;
	struct fake_sq *f;
	struct nvme_ana_log_hdr h;
	struct nvme_ana_group_desc d;
	uint64_t chg;

	(void)state;
	env_setup(&e, true);
	add_ns(&e, 2, 2);
	add_ns(&e, 3, 0); /* default group 1 */
	assert_int_equal(nvmf_port_set_ana_state(e.port, 2, NVME_ANA_NON_OPTIMIZED), 0);
	admin_up(&e, &f, HOSTNQN);

	assert_int_equal(get_ana_log(f, 0, 4096, false, false), 0);
	memcpy(&h, f->c2h, sizeof(h));
	assert_int_equal(le16(h.ngrps), 2);
	chg = le64(h.chgcnt);
	assert_true(chg >= 1);
	/* Group 1: NSIDs 1 and 3, optimized (the default on every port). */
	d = desc_at(f->c2h, 16);
	assert_int_equal(le32(d.grpid), 1);
	assert_int_equal(le32(d.nnsids), 2);
	assert_int_equal(le64(d.chgcnt), chg);
	assert_int_equal(d.state, NVME_ANA_OPTIMIZED);
	assert_int_equal(get_le32(f->c2h + 48), 1);
	assert_int_equal(get_le32(f->c2h + 52), 3);
	/* Group 2 right after group 1's list: NSID 2, non-optimized. */
	d = desc_at(f->c2h, 56);
	assert_int_equal(le32(d.grpid), 2);
	assert_int_equal(le32(d.nnsids), 1);
	assert_int_equal(d.state, NVME_ANA_NON_OPTIMIZED);
	assert_int_equal(get_le32(f->c2h + 88), 2);
	assert_int_equal(get_le32(f->c2h + 92), 0); /* zero filled past the end */

	/* RGO: the same groups, no NSID lists. */
	assert_int_equal(get_ana_log(f, 0, 4096, true, false), 0);
	memcpy(&h, f->c2h, sizeof(h));
	assert_int_equal(le16(h.ngrps), 2);
	d = desc_at(f->c2h, 16);
	assert_int_equal(le32(d.grpid), 1);
	assert_int_equal(le32(d.nnsids), 0);
	d = desc_at(f->c2h, 48);
	assert_int_equal(le32(d.grpid), 2);
	assert_int_equal(d.state, NVME_ANA_NON_OPTIMIZED);

	/* LPO: the second descriptor alone; past the page: Invalid Field. */
	assert_int_equal(get_ana_log(f, 56, 32, false, false), 0);
	d = desc_at(f->c2h, 0);
	assert_int_equal(le32(d.grpid), 2);
	assert_int_equal(get_ana_log(f, 8192, 16, false, false), 0); /* within Identify's size: zeroes */
	assert_int_equal(get_le32(f->c2h), 0);
	assert_int_equal(get_ana_log(f, NVMF_ANA_LOG_MAX, 16, false, false),
			 ST(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD) | DNR);

	/* Change count: up on a change, not on setting the same state. */
	assert_int_equal(nvmf_port_set_ana_state(e.port, 2, NVME_ANA_NON_OPTIMIZED), 0);
	assert_int_equal(get_ana_log(f, 0, 16, false, false), 0);
	memcpy(&h, f->c2h, sizeof(h));
	assert_int_equal(le64(h.chgcnt), chg);
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, NVME_ANA_INACCESSIBLE), 0);
	assert_int_equal(get_ana_log(f, 0, 64, false, false), 0);
	memcpy(&h, f->c2h, sizeof(h));
	assert_int_equal(le64(h.chgcnt), chg + 1);
	d = desc_at(f->c2h, 16);
	assert_int_equal(le64(d.chgcnt), chg + 1);
	assert_int_equal(d.state, NVME_ANA_INACCESSIBLE);
	/* A namespace moving between groups is a change too. */
	assert_int_equal(nvmf_subsys_set_ns_anagrpid(e.subsys, 3, 2), 0);
	assert_int_equal(get_ana_log(f, 0, 4096, false, false), 0);
	memcpy(&h, f->c2h, sizeof(h));
	assert_int_equal(le64(h.chgcnt), chg + 2);
	d = desc_at(f->c2h, 16);
	assert_int_equal(le32(d.nnsids), 1);
	d = desc_at(f->c2h, 52);
	assert_int_equal(le32(d.grpid), 2);
	assert_int_equal(le32(d.nnsids), 2);

	/* A group taken off the port is inaccessible there and leaves the log. */
	assert_int_equal(nvmf_subsys_set_ns_anagrpid(e.subsys, 2, 1), 0);
	assert_int_equal(nvmf_subsys_set_ns_anagrpid(e.subsys, 3, 1), 0);
	assert_int_equal(nvmf_port_clear_ana_group(e.port, 2), 0);
	assert_int_equal(get_ana_log(f, 0, 4096, false, false), 0);
	memcpy(&h, f->c2h, sizeof(h));
	assert_int_equal(le16(h.ngrps), 1);

	/* Bad arguments. */
	assert_int_equal(nvmf_port_set_ana_state(e.port, 0, NVME_ANA_OPTIMIZED), -EINVAL);
	assert_int_equal(nvmf_port_set_ana_state(e.port, NVMF_ANA_GRP_MAX + 1, NVME_ANA_OPTIMIZED), -EINVAL);
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, 0x05), -EINVAL);
	assert_int_equal(nvmf_port_clear_ana_group(e.port, 1), -EINVAL);
	assert_int_equal(nvmf_subsys_set_ns_anagrpid(e.subsys, 9, 1), -ENOENT);
	fake_sq_close(f);
	env_teardown(&e);
}

static void test_ana_aen(void **state)
{
	struct env e;
	struct fake_sq *f, *g;
	struct nvmf_port *p2;
	struct nvmf_port_opts po = { .portid = 2, .adrfam = NVMF_ADRFAM_IPV4 };
	unsigned int before, before_g;

	(void)state;
	env_setup(&e, true);
	snprintf(po.traddr, sizeof(po.traddr), "0.0.0.0");
	snprintf(po.trsvcid, sizeof(po.trsvcid), "4421");
	assert_int_equal(nvmf_port_create(e.tgt, &po, &p2), 0);
	assert_int_equal(nvmf_port_add_subsys(p2, e.subsys), 0);
	admin_up(&e, &f, HOSTNQN);
	g = fake_sq_new(e.tgt, e.r, p2);
	assert_int_equal(do_connect(g, 0, 31, NVME_CNTLID_DYNAMIC, SUBNQN, HOSTNQN2, 0), 0);
	enable_ctrl(g);

	/* The AEN config bit is accepted; a controller without it gets nothing. */
	assert_int_equal(set_feature(f, NVME_FEAT_ASYNC_EVENT, NVME_CTRL_OAES_ANA_CHANGE), 0);
	cmd_reset(&f->req, NVME_ADMIN_ASYNC_EVENT);
	assert_int_equal(run_cmd(f), -1); /* parked */
	cmd_reset(&g->req, NVME_ADMIN_ASYNC_EVENT);
	assert_int_equal(set_feature(g, NVME_FEAT_ASYNC_EVENT, NVME_CTRL_OAES_ANA_CHANGE), 0);
	cmd_reset(&g->req, NVME_ADMIN_ASYNC_EVENT);
	assert_int_equal(run_cmd(g), -1);

	/* A change on port 1 reaches port 1's controller only. */
	before = f->completions;
	before_g = g->completions;
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, NVME_ANA_INACCESSIBLE), 0);
	pump(e.r);
	assert_int_equal(f->completions, before + 1);
	assert_int_equal(le32(f->cqe.dw0), NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_ANA_CHANGE, NVME_LOG_ANA));
	assert_int_equal(g->completions, before_g);

	/* Masked until the ANA log is read without RAE. */
	cmd_reset(&f->req, NVME_ADMIN_ASYNC_EVENT);
	assert_int_equal(run_cmd(f), -1);
	before = f->completions;
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, NVME_ANA_CHANGE), 0);
	pump(e.r);
	assert_int_equal(f->completions, before);
	assert_int_equal(get_ana_log(f, 0, 4096, false, true), 0); /* RAE: still masked */
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, NVME_ANA_OPTIMIZED), 0);
	pump(e.r);
	assert_int_equal(f->completions, before + 1); /* only the log read */
	assert_int_equal(get_ana_log(f, 0, 4096, false, false), 0);
	before = f->completions;
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, NVME_ANA_NON_OPTIMIZED), 0);
	pump(e.r);
	assert_int_equal(f->completions, before + 1);
	assert_int_equal(le32(f->cqe.dw0), NVME_AER_DW0(NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_ANA_CHANGE, NVME_LOG_ANA));

	/* Port 2's controller hears about port 2. */
	assert_int_equal(nvmf_port_set_ana_state(p2, 1, NVME_ANA_INACCESSIBLE), 0);
	pump(e.r);
	assert_int_equal(g->completions, before_g + 1);
	fake_sq_close(g);
	fake_sq_close(f);
	env_teardown(&e);
}

static void test_ana_identify(void **state)
{
	struct env e;
	struct fake_sq *f;
	struct nvme_id_ctrl *id;
	struct nvme_id_ns *ns;

	(void)state;
	env_setup(&e, true);
	add_ns(&e, 2, 7);
	admin_up(&e, &f, HOSTNQN);
	assert_int_equal(identify(f, NVME_ID_CNS_CTRL, 0), 0);
	id = (struct nvme_id_ctrl *)f->c2h;
	assert_int_equal(id->cmic, NVME_CTRL_CMIC_MULTI_PORT | NVME_CTRL_CMIC_MULTI_CTRL | NVME_CTRL_CMIC_ANA);
	assert_int_equal(id->anacap, 0x1f);
	assert_int_equal(id->anatt, 10);
	assert_int_equal(le32(id->anagrpmax), NVMF_ANA_GRP_MAX);
	assert_int_equal(le32(id->nanagrpid), NVMF_ANA_GRP_MAX);
	assert_true(le32(id->mnan) >= 1 && le32(id->mnan) <= le32(id->nn));
	assert_true(le32(id->oaes) & NVME_CTRL_OAES_ANA_CHANGE);
	/* The host's ANA log buffer must fit in MDTS. */
	assert_true(NVMF_ANA_LOG_MAX <= NVMF_MAX_XFER);

	assert_int_equal(identify(f, NVME_ID_CNS_NS, 1), 0);
	ns = (struct nvme_id_ns *)f->c2h;
	assert_int_equal(le32(ns->anagrpid), 1);
	assert_int_equal(ns->nmic, NVME_NS_NMIC_SHARED);
	assert_true(le64(ns->nuse) > 0);
	/* Group 7 is not on this port: inaccessible, so NUSE 0. */
	assert_int_equal(identify(f, NVME_ID_CNS_NS, 2), 0);
	assert_int_equal(le32(ns->anagrpid), 7);
	assert_int_equal(le64(ns->nuse), 0);
	assert_int_equal(nvmf_port_set_ana_state(e.port, 7, NVME_ANA_NON_OPTIMIZED), 0);
	assert_int_equal(identify(f, NVME_ID_CNS_NS, 2), 0);
	assert_int_equal(le64(ns->nuse), le64(ns->nsze));

	/* The snapshot (list, save-config) carries groups and states. */
	{
		struct json_object *snap = nvmf_tgt_snapshot(e.tgt);
		struct json_object *sub = json_object_array_get_idx(jpath(snap, "subsystems"), 0);
		struct json_object *ns2 = json_object_array_get_idx(jpath(sub, "namespaces"), 1);
		struct json_object *port = json_object_array_get_idx(jpath(snap, "ports"), 0);
		struct json_object *groups = jpath(port, "ana_groups");

		assert_int_equal(json_object_get_int(jpath(ns2, "ana_grpid")), 7);
		assert_int_equal(json_object_array_length(groups), 2);
		assert_int_equal(json_object_get_int(jpath(json_object_array_get_idx(groups, 1), "grpid")), 7);
		assert_string_equal(json_object_get_string(jpath(json_object_array_get_idx(groups, 1), "state")),
				    "non-optimized");
		json_object_put(snap);
	}
	fake_sq_close(f);
	env_teardown(&e);
}

static void parse_on_reactor(void *arg)
{
	struct nvmf_req *req = arg;

	req->status = nvmf_req_parse(req);
}

static void execute_on_reactor(void *arg)
{
	nvmf_req_execute(arg);
}

static void test_ana_admission(void **state)
{
	struct env e;
	struct fake_sq *a, *q;
	uint16_t cntlid;
	unsigned int before;

	(void)state;
	env_setup(&e, true);
	cntlid = admin_up(&e, &a, HOSTNQN);
	q = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(q, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), 0);

	/* Each state that is not accessible has its path status, without DNR. */
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0, 0, 512), 0);
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, NVME_ANA_INACCESSIBLE), 0);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0, 0, 512), ST(NVME_SCT_PATH, NVME_SC_ANA_INACCESSIBLE));
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, NVME_ANA_PERSISTENT_LOSS), 0);
	assert_int_equal(io_cmd(q, NVME_CMD_WRITE, 1, 0, 0, 512), ST(NVME_SCT_PATH, NVME_SC_ANA_PERSISTENT_LOSS));
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, NVME_ANA_CHANGE), 0);
	assert_int_equal(io_cmd(q, NVME_CMD_FLUSH, 1, 0, 0, 0), ST(NVME_SCT_PATH, NVME_SC_ANA_TRANSITION));
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, NVME_ANA_NON_OPTIMIZED), 0);
	assert_int_equal(io_cmd(q, NVME_CMD_WRITE, 1, 0, 0, 512), 0);

	/* A write parsed while accessible, its data still on the way when the
	 * group turns inaccessible: it must not reach the backend. */
	rw_setup(&q->req, NVME_CMD_WRITE, 1, 8, 0, 512);
	memset(q->req.data, 0xab, 512);
	on_reactor(e.r, parse_on_reactor, &q->req);
	assert_int_equal(q->req.status, 0);
	assert_int_equal(q->req.dir, NVMF_DATA_H2C);
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, NVME_ANA_INACCESSIBLE), 0);
	before = q->completions;
	on_reactor(e.r, execute_on_reactor, &q->req);
	assert_int_equal(q->completions, before + 1);
	assert_int_equal(NVME_STATUS_FROM_CQE(le16(q->cqe.status)), ST(NVME_SCT_PATH, NVME_SC_ANA_INACCESSIBLE));
	assert_int_equal(e.tb->mem[8 * 512], 0); /* never written */

	/* The other way round: parsed while inaccessible is refused at parse. */
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, NVME_ANA_OPTIMIZED), 0);
	assert_int_equal(io_cmd(q, NVME_CMD_WRITE, 1, 8, 0, 512), 0);
	fake_sq_close(q);
	fake_sq_close(a);
	env_teardown(&e);
}

/*
 * A gateway group's groups: set-ana-state refused, the group's own setter
 * allowed; and I/O bounded by the lease's end whatever the port's state says
 * (a member frozen past its lease admits nothing when it resumes).
 */
static void test_ana_gateway_lease(void **state)
{
	struct env e;
	struct fake_sq *a, *q;
	struct nvme_ana_group_desc d;
	uint16_t cntlid;

	(void)state;
	env_setup(&e, true);
	cntlid = admin_up(&e, &a, HOSTNQN);
	q = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(q, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), 0);

	e.tgt->ana_managed[1] = true;
	assert_true(nvmf_port_ana_managed(e.port, 1));
	assert_false(nvmf_port_ana_managed(e.port, 2));
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, NVME_ANA_INACCESSIBLE), -EPERM);
	assert_int_equal(nvmf_port_clear_ana_group(e.port, 1), -EINVAL); /* group 1 never leaves */
	assert_int_equal(nvmf_port_set_ana_state_gw(e.port, 1, NVME_ANA_OPTIMIZED), 0);

	atomic_store(&e.tgt->ana_lease_until_ms[1], nvmf_mono_ms() + 60000);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0, 0, 512), 0);
	/* The lease ran out; the port still says optimized. */
	atomic_store(&e.tgt->ana_lease_until_ms[1], nvmf_mono_ms() - 1);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0, 0, 512), ST(NVME_SCT_PATH, NVME_SC_ANA_INACCESSIBLE));
	assert_int_equal(io_cmd(q, NVME_CMD_WRITE, 1, 0, 0, 512), ST(NVME_SCT_PATH, NVME_SC_ANA_INACCESSIBLE));
	assert_int_equal(get_ana_log(a, 0, 4096, false, false), 0);
	d = desc_at(a->c2h, sizeof(struct nvme_ana_log_hdr));
	assert_int_equal(le32(d.grpid), 1);
	assert_int_equal(d.state, NVME_ANA_INACCESSIBLE);
	/* No lease: the port's state alone. */
	atomic_store(&e.tgt->ana_lease_until_ms[1], 0);
	assert_int_equal(io_cmd(q, NVME_CMD_READ, 1, 0, 0, 512), 0);
	e.tgt->ana_managed[1] = false;
	assert_int_equal(nvmf_port_set_ana_state(e.port, 1, NVME_ANA_OPTIMIZED), 0);
	fake_sq_close(q);
	fake_sq_close(a);
	env_teardown(&e);
}

/* attr_cntlid_min/max: controllers get IDs from the range only; a full range refuses Connect. */
static void test_cntlid_range(void **state)
{
	struct env e;
	struct fake_sq *f[3];

	(void)state;
	env_setup(&e, true);
	assert_int_equal(nvmf_subsys_set_cntlid_range(e.subsys, 0, 5), -EINVAL);
	assert_int_equal(nvmf_subsys_set_cntlid_range(e.subsys, 9, 8), -EINVAL);
	assert_int_equal(nvmf_subsys_set_cntlid_range(e.subsys, 1, 0xfff0), -EINVAL);
	assert_int_equal(nvmf_subsys_set_cntlid_range(e.subsys, 200, 201), 0);
	for (int i = 0; i < 3; i++) {
		f[i] = fake_sq_new(e.tgt, e.r, e.port);
		if (i < 2) {
			assert_int_equal(do_connect(f[i], 0, 31, NVME_CNTLID_DYNAMIC, SUBNQN, HOSTNQN, 0), 0);
			assert_int_equal((uint16_t)le32(f[i]->cqe.dw0), 200 + i);
		} else {
			assert_int_not_equal(do_connect(f[i], 0, 31, NVME_CNTLID_DYNAMIC, SUBNQN, HOSTNQN, 0), 0);
		}
	}
	/* One freed: the next controller takes its ID, still within the range. */
	fake_sq_close(f[0]);
	pump(e.r);
	f[0] = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(f[0], 0, 31, NVME_CNTLID_DYNAMIC, SUBNQN, HOSTNQN, 0), 0);
	assert_int_equal((uint16_t)le32(f[0]->cqe.dw0), 200);
	for (int i = 0; i < 3; i++)
		fake_sq_close(f[i]);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ana_log_layout),
		cmocka_unit_test(test_ana_aen),
		cmocka_unit_test(test_ana_identify),
		cmocka_unit_test(test_ana_admission),
		cmocka_unit_test(test_ana_gateway_lease),
		cmocka_unit_test(test_cntlid_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
