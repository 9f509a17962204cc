/* SPDX-License-Identifier: MIT */
/*
 * In-band authentication of the target (src/target/auth.c), driven by the
 * host library's own DH-HMAC-CHAP steps (src/host/auth.c): ATR in Connect,
 * commands refused until the queue authenticated, right and wrong keys,
 * bidirectional with a wrong controller key, hash and DH group choice,
 * re-authentication, malformed messages, and live key changes.
 */
#include "test_target_harness.h"

#include "host/auth.h"
#include "proto/nvme_auth.h"

#define KEY_A "DHHC-1:01:WulleCBkG4oCs0iIC3Cit9gBDCLWiZ9PNXuhqytWkBIZkvGy:"
#define KEY_B "DHHC-1:00:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"
#define ST(sct, sc) NVME_STATUS(sct, sc)
#define DNR NVME_STATUS_DNR
#define AUTH_REQUIRED (ST(NVME_SCT_CMD_SPECIFIC, NVME_SC_AUTH_REQUIRED) | DNR)

struct snap {
	struct fake_sq *f;
	unsigned int completions;
	uint16_t status;
};

/* Read the completion state on the reactor: DH steps complete there later. */
static void snap_on_reactor(void *arg)
{
	struct snap *s = arg;

	s->completions = s->f->completions;
	s->status = NVME_STATUS_FROM_CQE(le16(s->f->cqe.status));
}

static int auth_cmd(struct fake_sq *f, bool send, uint32_t len)
{
	struct nvmf_auth_sqe *a = (struct nvmf_auth_sqe *)&f->req.cmd;
	struct snap sn = { .f = f };
	unsigned int before;

	cmd_reset(&f->req, NVME_FABRICS_COMMAND);
	a->fctype = send ? NVMF_FCTYPE_AUTH_SEND : NVMF_FCTYPE_AUTH_RECV;
	a->secp = NVME_AUTH_SECP_DHCHAP;
	a->spsp0 = NVME_AUTH_SPSP;
	a->spsp1 = NVME_AUTH_SPSP;
	a->len = to_le32(len);
	f->req.data_len = len;
	f->req.in_capsule = send;
	on_reactor(f->sq.reactor, snap_on_reactor, &sn);
	before = sn.completions;
	on_reactor(f->sq.reactor, run_req_on_reactor, &f->req);
	/* DH steps finish on the reactor after the worker thread's part. */
	for (int i = 0; i < 5000; i++) {
		on_reactor(f->sq.reactor, snap_on_reactor, &sn);
		if (sn.completions != before)
			return sn.status;
		usleep(1000);
	}
	return -1;
}

static int auth_send(struct fake_sq *f, const void *msg, size_t len)
{
	memcpy(f->req.data, msg, len);
	return auth_cmd(f, true, (uint32_t)len);
}

static int auth_recv(struct fake_sq *f)
{
	return auth_cmd(f, false, 4096);
}

static void set_keys(struct env *e, const char *key, const char *ckey, const char *hash, const char *group)
{
	struct nvmf_dhchap_cfg cfg = { 0 };

	snprintf(cfg.key, sizeof(cfg.key), "%s", key ? key : "");
	snprintf(cfg.ctrl_key, sizeof(cfg.ctrl_key), "%s", ckey ? ckey : "");
	snprintf(cfg.hash, sizeof(cfg.hash), "%s", hash ? hash : "");
	snprintf(cfg.dhgroup, sizeof(cfg.dhgroup), "%s", group ? group : "");
	assert_int_equal(nvmf_tgt_set_host_dhchap(e->tgt, HOSTNQN, &cfg, NULL), 0);
}

struct result {
	uint8_t hash_id;
	uint8_t dhgid;
	char why[160];
};

/* One transaction as a host runs it; 0, -EACCES (refused either way) or -EPROTO. */
static int host_auth(struct fake_sq *f, const char *key, const char *ckey, struct result *res)
{
	struct dhchap_key k, ck;
	struct host_auth_txn t = { .hostnqn = HOSTNQN, .subnqn = SUBNQN, .x.tid = 7 };
	uint8_t buf[4096];
	int n, ret;

	assert_int_equal(dhchap_key_parse(key, &k), 0);
	t.key = &k;
	if (ckey) {
		assert_int_equal(dhchap_key_parse(ckey, &ck), 0);
		t.ctrl_key = &ck;
	}
	n = host_auth_negotiate(&t, buf, sizeof(buf));
	assert_int_equal(auth_send(f, buf, (size_t)n), 0);
	assert_int_equal(auth_recv(f), 0);
	assert_int_equal(f->c2h_len, 4096);
	ret = host_auth_challenge(&t, f->c2h, f->c2h_len, buf, sizeof(buf));
	if (ret < 0)
		goto out;
	assert_int_equal(auth_send(f, buf, (size_t)ret), 0);
	assert_int_equal(auth_recv(f), 0);
	ret = host_auth_success1(&t, f->c2h, f->c2h_len);
	if (ret == 0 && t.ctrl_key) {
		n = nvme_auth_success2_encode(buf, sizeof(buf), t.x.tid);
		assert_int_equal(auth_send(f, buf, (size_t)n), 0);
	} else if (ret && t.status) {
		n = host_auth_failure2(&t, buf, sizeof(buf));
		assert_int_equal(auth_send(f, buf, (size_t)n), 0);
	}
out:
	if (res) {
		res->hash_id = t.x.hash_id;
		res->dhgid = t.x.dhgid;
		snprintf(res->why, sizeof(res->why), "%s", t.why);
	}
	host_auth_txn_clear(&t);
	return ret;
}

static struct fake_sq *connect_admin(struct env *e, bool want_atr)
{
	struct fake_sq *f = fake_sq_new(e->tgt, e->r, e->port);

	assert_int_equal(do_connect(f, 0, 31, NVME_CNTLID_DYNAMIC, SUBNQN, HOSTNQN, 0), 0);
	assert_int_equal(!!(le32(f->cqe.dw0) & NVMF_CONNECT_AUTHREQ_ATR), want_atr);
	return f;
}

static void test_right_key(void **state)
{
	struct env e;
	struct fake_sq *a, *q;
	struct result r;
	uint16_t cntlid;

	(void)state;
	env_setup(&e, true);
	set_keys(&e, KEY_A, NULL, NULL, NULL);
	a = connect_admin(&e, true);
	cntlid = (uint16_t)le32(a->cqe.dw0);
	/* Nothing but authentication before it. */
	assert_int_equal(identify(a, NVME_ID_CNS_CTRL, 0), AUTH_REQUIRED);
	assert_int_equal(prop_get(a, NVME_REG_CAP, 1, NULL), AUTH_REQUIRED);
	assert_int_equal(host_auth(a, KEY_A, NULL, &r), 0);
	assert_int_equal(r.hash_id, DHCHAP_HASH_SHA256);
	assert_int_equal(r.dhgid, DHCHAP_DHGROUP_NULL);
	enable_ctrl(a);
	assert_int_equal(identify(a, NVME_ID_CNS_CTRL, 0), 0);

	/* I/O queues authenticate on their own. */
	q = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(q, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), 0);
	assert_true(le32(q->cqe.dw0) & NVMF_CONNECT_AUTHREQ_ATR);
	rw_setup(&q->req, NVME_CMD_READ, 1, 0, 0, 512);
	assert_int_equal(run_cmd(q), AUTH_REQUIRED);
	assert_int_equal(host_auth(q, KEY_A, NULL, NULL), 0);
	rw_setup(&q->req, NVME_CMD_READ, 1, 0, 0, 512);
	assert_int_equal(run_cmd(q), 0);

	/* Re-authentication on request, while the queue keeps working. */
	assert_int_equal(host_auth(q, KEY_A, NULL, NULL), 0);
	rw_setup(&q->req, NVME_CMD_READ, 1, 0, 0, 512);
	assert_int_equal(run_cmd(q), 0);
	assert_int_equal(atomic_load(&q->disconnects), 0);
	fake_sq_close(q);
	fake_sq_close(a);
	env_teardown(&e);
}

static void test_wrong_key(void **state)
{
	struct env e;
	struct fake_sq *a;
	struct result r;

	(void)state;
	env_setup(&e, true);
	set_keys(&e, KEY_A, NULL, NULL, NULL);
	a = connect_admin(&e, true);
	/* Failure1 comes at the host's next Receive: it fails fast. */
	assert_int_equal(host_auth(a, KEY_B, NULL, &r), -EACCES);
	assert_string_equal(r.why, "the controller rejected our key");
	assert_int_equal(identify(a, NVME_ID_CNS_CTRL, 0), AUTH_REQUIRED);
	/* ... and the queue is closed shortly after. */
	run_for_ms(e.r, 1300);
	assert_int_equal(atomic_load(&a->disconnects), 1);
	fake_sq_close(a);
	env_teardown(&e);
}

static void test_no_key_on_target(void **state)
{
	struct env e;
	struct fake_sq *a;
	struct result r;

	(void)state;
	env_setup(&e, true);
	/* No key here: no ATR, and a host that authenticates anyway is refused. */
	a = connect_admin(&e, false);
	assert_int_equal(host_auth(a, KEY_A, NULL, &r), -EACCES);
	assert_int_equal(identify(a, NVME_ID_CNS_CTRL, 0), AUTH_REQUIRED);
	fake_sq_close(a);
	env_teardown(&e);
}

static void test_bidirectional(void **state)
{
	struct env e;
	struct fake_sq *a, *b;
	struct result r;

	(void)state;
	env_setup(&e, true);
	set_keys(&e, KEY_A, KEY_B, "hmac(sha384)", "ffdhe2048");
	a = connect_admin(&e, true);
	assert_int_equal(host_auth(a, KEY_A, KEY_B, &r), 0);
	assert_int_equal(r.hash_id, DHCHAP_HASH_SHA384);
	assert_int_equal(r.dhgid, DHCHAP_DHGROUP_2048);
	enable_ctrl(a);
	assert_int_equal(identify(a, NVME_ID_CNS_CTRL, 0), 0);

	/* The host notices a controller that does not know the controller key. */
	b = connect_admin(&e, true);
	assert_int_equal(host_auth(b, KEY_A, KEY_A, &r), -EACCES);
	assert_non_null(strstr(r.why, "does not match the controller key"));
	/* Its Failure2 ends the queue. */
	assert_int_equal(atomic_load(&b->disconnects), 1);
	fake_sq_close(b);
	fake_sq_close(a);
	env_teardown(&e);
}

static void test_unusable_group(void **state)
{
	struct env e;
	struct fake_sq *a;
	uint8_t buf[128];
	struct nvme_auth_negotiate m = { .t_id = 1, .nr_hashes = 1, .hashes = { 1 }, .nr_dhgroups = 1,
					 .dhgroups = { 0 } };
	uint8_t id, rc, exp;
	uint16_t tid;
	int n;

	(void)state;
	env_setup(&e, true);
	set_keys(&e, KEY_A, NULL, NULL, "ffdhe4096");
	a = connect_admin(&e, true);
	n = nvme_auth_negotiate_encode(buf, sizeof(buf), &m);
	assert_int_equal(auth_send(a, buf, (size_t)n), 0);
	assert_int_equal(auth_recv(a), 0);
	assert_int_equal(nvme_auth_failure_decode(a->c2h, a->c2h_len, &id, &tid, &rc, &exp), 0);
	assert_int_equal(id, NVME_AUTH_FAILURE1);
	assert_int_equal(exp, NVME_AUTH_FAIL_DHGROUP_UNUSABLE);
	fake_sq_close(a);
	env_teardown(&e);
}

static void test_malformed(void **state)
{
	struct env e;
	struct fake_sq *a;
	struct nvmf_auth_sqe *s;
	uint8_t buf[128] = { 0 };
	uint8_t id, rc, exp;
	uint16_t tid;

	(void)state;
	env_setup(&e, true);
	set_keys(&e, KEY_A, NULL, NULL, NULL);
	a = connect_admin(&e, true);
	/* Command-level checks: protocol, lengths. */
	memset(a->req.data, 0, 64);
	cmd_reset(&a->req, NVME_FABRICS_COMMAND);
	s = (struct nvmf_auth_sqe *)&a->req.cmd;
	s->fctype = NVMF_FCTYPE_AUTH_SEND;
	s->secp = 0xea;
	s->spsp0 = s->spsp1 = 1;
	s->len = to_le32(16);
	a->req.data_len = 16;
	assert_int_equal(run_cmd(a), ST(0, NVME_SC_INVALID_FIELD) | DNR);
	assert_int_equal(auth_cmd(a, true, 0), ST(0, NVME_SC_INVALID_FIELD) | DNR);
	assert_int_equal(auth_cmd(a, true, 8192), ST(0, NVME_SC_INVALID_FIELD) | DNR);
	a->req.cmd.cdw10 = 0;
	/* A Receive before any Negotiate is out of sequence. */
	assert_int_equal(auth_recv(a), ST(0, NVME_SC_CMD_SEQ_ERROR) | DNR);
	/* A truncated Negotiate: Failure1 with "incorrect payload". */
	buf[0] = NVME_AUTH_COMMON_MESSAGES;
	buf[1] = NVME_AUTH_NEGOTIATE;
	assert_int_equal(auth_send(a, buf, 40), 0);
	assert_int_equal(auth_recv(a), 0);
	assert_int_equal(nvme_auth_failure_decode(a->c2h, a->c2h_len, &id, &tid, &rc, &exp), 0);
	assert_int_equal(exp, NVME_AUTH_FAIL_INCORRECT_PAYLOAD);
	fake_sq_close(a);

	/* A Reply where the Challenge is due: incorrect message. */
	a = connect_admin(&e, true);
	{
		struct dhchap_key k;
		struct host_auth_txn t = { .hostnqn = HOSTNQN, .subnqn = SUBNQN, .x.tid = 3 };
		uint8_t m[128], r1[32] = { 0 };
		struct nvme_auth_reply rep = { .t_id = 3, .hl = 32, .r1 = r1 };
		int n;

		assert_int_equal(dhchap_key_parse(KEY_A, &k), 0);
		t.key = &k;
		n = host_auth_negotiate(&t, m, sizeof(m));
		assert_int_equal(auth_send(a, m, (size_t)n), 0);
		n = nvme_auth_reply_encode(m, sizeof(m), &rep);
		assert_int_equal(auth_send(a, m, (size_t)n), 0);
		assert_int_equal(auth_recv(a), 0);
		assert_int_equal(nvme_auth_failure_decode(a->c2h, a->c2h_len, &id, &tid, &rc, &exp), 0);
		assert_int_equal(exp, NVME_AUTH_FAIL_INCORRECT_MESSAGE);
	}
	fake_sq_close(a);
	env_teardown(&e);
}

static void test_live_key_change(void **state)
{
	struct env e;
	struct fake_sq *a, *q, *b;
	uint16_t cntlid;

	(void)state;
	env_setup(&e, true);
	set_keys(&e, KEY_A, NULL, NULL, NULL);
	a = connect_admin(&e, true);
	cntlid = (uint16_t)le32(a->cqe.dw0);
	assert_int_equal(host_auth(a, KEY_A, NULL, NULL), 0);
	enable_ctrl(a);
	set_keys(&e, KEY_B, NULL, NULL, NULL);
	/* The live controller keeps the key it was created with, on new I/O queues too. */
	q = fake_sq_new(e.tgt, e.r, e.port);
	assert_int_equal(do_connect(q, 1, 127, cntlid, SUBNQN, HOSTNQN, 0), 0);
	assert_int_equal(host_auth(q, KEY_A, NULL, NULL), 0);
	/* A new connection needs the new one. */
	b = connect_admin(&e, true);
	assert_int_equal(host_auth(b, KEY_A, NULL, NULL), -EACCES);
	fake_sq_close(b);
	b = connect_admin(&e, true);
	assert_int_equal(host_auth(b, KEY_B, NULL, NULL), 0);
	fake_sq_close(b);
	/* Without a key, no authentication is asked for. */
	set_keys(&e, NULL, NULL, NULL, NULL);
	b = connect_admin(&e, false);
	enable_ctrl(b);
	fake_sq_close(b);
	fake_sq_close(q);
	fake_sq_close(a);
	env_teardown(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_right_key),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_no_key_on_target),
		cmocka_unit_test(test_bidirectional),
		cmocka_unit_test(test_unusable_group),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_live_key_change),
	};

	(void)jpath; /* shared fixture, unused here */
	return cmocka_run_group_tests_name("target_auth", tests, NULL, NULL);
}
