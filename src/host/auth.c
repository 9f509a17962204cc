/* SPDX-License-Identifier: MIT */
/*
 * DH-HMAC-CHAP, host side (see auth.h): Negotiate -> Challenge -> Reply ->
 * Success1 [-> Success2]; Failure2 when the controller's messages or its
 * proof do not hold up. Every queue authenticates on its own connection,
 * right after its Connect, before it carries anything else.
 */
#include "host/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "host/host_internal.h"
#include "proto/endian.h"
#include "proto/nvme_auth.h"
#include "proto/nvme_status.h"

#define AUTH_RECV_LEN 4096

static const char *explanation(uint8_t exp)
{
	switch (exp) {
	case NVME_AUTH_FAIL_FAILED: return "the controller rejected our key";
	case NVME_AUTH_FAIL_NOT_USABLE: return "protocol not usable";
	case NVME_AUTH_FAIL_CONCAT_MISMATCH: return "secure channel concatenation mismatch";
	case NVME_AUTH_FAIL_HASH_UNUSABLE: return "no common hash function";
	case NVME_AUTH_FAIL_DHGROUP_UNUSABLE: return "no common DH group";
	case NVME_AUTH_FAIL_INCORRECT_PAYLOAD: return "the controller found our message malformed";
	case NVME_AUTH_FAIL_INCORRECT_MESSAGE: return "the controller did not expect our message";
	default: return "unknown reason";
	}
}

void host_auth_txn_clear(struct host_auth_txn *t)
{
	dhchap_exchange_clear(&t->x);
}

int host_auth_negotiate(struct host_auth_txn *t, void *buf, size_t cap)
{
	struct nvme_auth_negotiate m = {
		.t_id = t->x.tid,
		.nr_hashes = 3,
		.hashes = { DHCHAP_HASH_SHA256, DHCHAP_HASH_SHA384, DHCHAP_HASH_SHA512 },
		.nr_dhgroups = 6,
		.dhgroups = { DHCHAP_DHGROUP_NULL, DHCHAP_DHGROUP_2048, DHCHAP_DHGROUP_3072, DHCHAP_DHGROUP_4096,
			      DHCHAP_DHGROUP_6144, DHCHAP_DHGROUP_8192 },
	};

	return nvme_auth_negotiate_encode(buf, cap, &m);
}

/* A Failure1 instead of the message expected: the controller refused. */
static bool is_failure1(struct host_auth_txn *t, const void *msg, size_t len)
{
	uint8_t id, rc, exp;
	uint16_t tid;

	if (nvme_auth_failure_decode(msg, len, &id, &tid, &rc, &exp) || id != NVME_AUTH_FAILURE1)
		return false;
	snprintf(t->why, sizeof(t->why), "%s", explanation(exp));
	return true;
}

static int proto_error(struct host_auth_txn *t, uint8_t exp, const char *why)
{
	t->status = exp;
	snprintf(t->why, sizeof(t->why), "%s", why);
	return -EPROTO;
}

static int effective_challenge(const struct host_auth_txn *t, const uint8_t *c, uint8_t *out)
{
	if (t->x.dhgid == DHCHAP_DHGROUP_NULL) {
		memcpy(out, c, t->x.hl);
		return 0;
	}
	return dhchap_augment_challenge(t->x.hash_id, t->x.sess, t->x.sess_len, c, out);
}

int host_auth_challenge(struct host_auth_txn *t, const void *msg, size_t len, void *reply, size_t cap)
{
	uint8_t pub[DHCHAP_MAX_DH_LEN], tkey[DHCHAP_MAX_SECRET_LEN], chal[DHCHAP_MAX_HASH_LEN];
	uint8_t r1[DHCHAP_MAX_HASH_LEN];
	struct nvme_auth_challenge c;
	struct nvme_auth_reply r = { 0 };
	size_t tlen, glen;
	int ret;

	if (is_failure1(t, msg, len))
		return -EACCES;
	if (nvme_auth_challenge_decode(msg, len, &c) || c.t_id != t->x.tid)
		return proto_error(t, NVME_AUTH_FAIL_INCORRECT_MESSAGE, "malformed Challenge from the controller");
	if (dhchap_hash_len(c.hashid) != c.hl)
		return proto_error(t, NVME_AUTH_FAIL_HASH_UNUSABLE, "the controller chose an unknown hash");
	if (!dhchap_dhgroup_known(c.dhgid))
		return proto_error(t, NVME_AUTH_FAIL_DHGROUP_UNUSABLE, "the controller chose an unknown DH group");
	glen = dhchap_dhgroup_len(c.dhgid);
	if (c.dhvlen != glen)
		return proto_error(t, NVME_AUTH_FAIL_INCORRECT_PAYLOAD, "DH value of the wrong size in the Challenge");
	t->x.hash_id = c.hashid;
	t->x.hl = c.hl;
	t->x.dhgid = c.dhgid;
	t->x.s1 = c.seqnum;
	memcpy(t->x.c1, c.c1, c.hl);
	if (glen) {
		if (dhchap_dh_generate(&t->x.dh, c.dhgid, pub, glen))
			return proto_error(t, NVME_AUTH_FAIL_FAILED, "cannot generate a DH key");
		t->x.sess_len = glen;
		if (dhchap_dh_shared(&t->x.dh, c.dhv, glen, t->x.sess, glen))
			return proto_error(t, NVME_AUTH_FAIL_DHGROUP_UNUSABLE, "unusable DH value from the controller");
		r.dhv = pub;
		r.dhvlen = (uint16_t)glen;
	}
	ret = dhchap_transform_key(t->key, t->hostnqn, tkey, &tlen);
	if (!ret)
		ret = effective_challenge(t, t->x.c1, chal);
	if (!ret)
		ret = dhchap_response(t->x.hash_id, tkey, tlen, chal, t->x.s1, t->x.tid, 0, DHCHAP_ROLE_HOST, t->hostnqn,
				      t->subnqn, r1);
	dhchap_wipe(tkey, sizeof(tkey));
	dhchap_wipe(chal, sizeof(chal));
	if (ret)
		return proto_error(t, NVME_AUTH_FAIL_FAILED, "cannot compute the response");
	r.t_id = t->x.tid;
	r.hl = t->x.hl;
	r.r1 = r1;
	if (t->ctrl_key) {
		if (dhchap_random(t->x.c2, t->x.hl))
			return proto_error(t, NVME_AUTH_FAIL_FAILED, "no random bytes");
		t->x.s2 = dhchap_seqnum();
		r.cvalid = 1;
		r.c2 = t->x.c2;
		r.seqnum = t->x.s2;
	}
	ret = nvme_auth_reply_encode(reply, cap, &r);
	dhchap_wipe(r1, sizeof(r1));
	return ret;
}

int host_auth_success1(struct host_auth_txn *t, const void *msg, size_t len)
{
	uint8_t tkey[DHCHAP_MAX_SECRET_LEN], chal[DHCHAP_MAX_HASH_LEN], want[DHCHAP_MAX_HASH_LEN];
	struct nvme_auth_success1 s;
	size_t tlen;
	bool match;
	int ret;

	if (is_failure1(t, msg, len))
		return -EACCES;
	if (nvme_auth_success1_decode(msg, len, &s) || s.t_id != t->x.tid || s.hl != t->x.hl)
		return proto_error(t, NVME_AUTH_FAIL_INCORRECT_MESSAGE, "malformed Success1 from the controller");
	if (!t->ctrl_key)
		return 0;
	if (!s.rvalid) {
		proto_error(t, NVME_AUTH_FAIL_FAILED, "the controller did not prove its key");
		return -EACCES;
	}
	ret = dhchap_transform_key(t->ctrl_key, t->subnqn, tkey, &tlen);
	if (!ret)
		ret = effective_challenge(t, t->x.c2, chal);
	if (!ret)
		ret = dhchap_response(t->x.hash_id, tkey, tlen, chal, t->x.s2, t->x.tid, 0, DHCHAP_ROLE_CTRL, t->hostnqn,
				      t->subnqn, want);
	dhchap_wipe(tkey, sizeof(tkey));
	dhchap_wipe(chal, sizeof(chal));
	if (ret)
		return proto_error(t, NVME_AUTH_FAIL_FAILED, "cannot compute the controller's response");
	match = dhchap_equal(want, s.r2, t->x.hl);
	dhchap_wipe(want, sizeof(want));
	if (!match) {
		proto_error(t, NVME_AUTH_FAIL_FAILED,
			    "the controller's response does not match the controller key (wrong --dhchap-ctrl-secret?)");
		return -EACCES;
	}
	return 0;
}

int host_auth_failure2(struct host_auth_txn *t, void *buf, size_t cap)
{
	return nvme_auth_failure_encode(buf, cap, NVME_AUTH_FAILURE2, t->x.tid,
					t->status ? t->status : NVME_AUTH_FAIL_FAILED);
}

/* ------------------------------------------------------------------ */
/* Over a connection                                                   */

static int auth_cmd(struct sync_conn *sc, bool send, void *buf, uint32_t len, int timeout_ms,
		    struct nvmeof_cpl *cpl)
{
	struct nvme_sqe sqe;
	struct nvmf_auth_sqe *a = (struct nvmf_auth_sqe *)&sqe;

	memset(&sqe, 0, sizeof(sqe));
	a->opcode = NVME_FABRICS_COMMAND;
	a->fctype = send ? NVMF_FCTYPE_AUTH_SEND : NVMF_FCTYPE_AUTH_RECV;
	a->secp = NVME_AUTH_SECP_DHCHAP;
	a->spsp0 = NVME_AUTH_SPSP;
	a->spsp1 = NVME_AUTH_SPSP;
	a->len = to_le32(len);
	return sync_conn_cmd(sc, &sqe, buf, len, send, timeout_ms, cpl);
}

static uint16_t next_tid;

int host_auth_run(struct sync_conn *sc, const struct nvmeof_ctrl_opts *opts, int timeout_ms)
{
	struct dhchap_key key, ctrl_key;
	struct host_auth_txn t = { .hostnqn = opts->hostnqn, .subnqn = opts->subnqn };
	struct nvmeof_cpl cpl;
	const char *stage = "Negotiate";
	uint8_t *buf = calloc(1, AUTH_RECV_LEN);
	int n, ret = -EACCES;

	memset(&key, 0, sizeof(key));
	memset(&ctrl_key, 0, sizeof(ctrl_key));
	if (!buf)
		return -ENOMEM;
	if (!opts->dhchap_secret || !opts->dhchap_secret[0]) {
		log_error(HOST_LOG, "%s qid %u: authentication failed: the controller requires DH-HMAC-CHAP "
				    "and no secret is configured (--dhchap-secret)", sc->peer, sc->qid);
		goto out;
	}
	if (dhchap_key_parse(opts->dhchap_secret, &key) ||
	    (opts->dhchap_ctrl_secret && opts->dhchap_ctrl_secret[0] &&
	     dhchap_key_parse(opts->dhchap_ctrl_secret, &ctrl_key))) {
		log_error(HOST_LOG, "authentication failed: a DH-HMAC-CHAP secret is not in the DHHC-1 format");
		ret = -EINVAL;
		goto out;
	}
	t.key = &key;
	t.ctrl_key = ctrl_key.len ? &ctrl_key : NULL;
	t.x.tid = __atomic_fetch_add(&next_tid, 1, __ATOMIC_RELAXED);

	n = host_auth_negotiate(&t, buf, AUTH_RECV_LEN);
	if (n < 0 || (ret = auth_cmd(sc, true, buf, (uint32_t)n, timeout_ms, &cpl)) || cpl.status)
		goto cmd_failed;
	stage = "Challenge";
	memset(buf, 0, AUTH_RECV_LEN);
	if ((ret = auth_cmd(sc, false, buf, AUTH_RECV_LEN, timeout_ms, &cpl)) || cpl.status)
		goto cmd_failed;
	n = host_auth_challenge(&t, buf, AUTH_RECV_LEN, buf, AUTH_RECV_LEN);
	if (n == -EACCES)
		goto refused;
	if (n < 0)
		goto fail2;
	stage = "Reply";
	if ((ret = auth_cmd(sc, true, buf, (uint32_t)n, timeout_ms, &cpl)) || cpl.status)
		goto cmd_failed;
	stage = "Success1";
	memset(buf, 0, AUTH_RECV_LEN);
	if ((ret = auth_cmd(sc, false, buf, AUTH_RECV_LEN, timeout_ms, &cpl)) || cpl.status)
		goto cmd_failed;
	n = host_auth_success1(&t, buf, AUTH_RECV_LEN);
	if (n == -EACCES && !t.status)
		goto refused;
	if (n < 0)
		goto fail2;
	if (t.ctrl_key) {
		stage = "Success2";
		n = nvme_auth_success2_encode(buf, AUTH_RECV_LEN, t.x.tid);
		if ((ret = auth_cmd(sc, true, buf, (uint32_t)n, timeout_ms, &cpl)) || cpl.status)
			goto cmd_failed;
	}
	if (sc->qid == 0)
		log_info(HOST_LOG, "%s qid 0: authenticated with %s, dhgroup %s%s", sc->peer,
			 dhchap_hash_name(t.x.hash_id), dhchap_dhgroup_name(t.x.dhgid),
			 t.ctrl_key ? ", controller authenticated" : "");
	ret = 0;
	goto out;

fail2:
	/* Tell the controller before giving up on the queue. */
	n = host_auth_failure2(&t, buf, AUTH_RECV_LEN);
	if (n > 0)
		(void)auth_cmd(sc, true, buf, (uint32_t)n, timeout_ms, &cpl);
	log_error(HOST_LOG, "%s qid %u: authentication failed: %s", sc->peer, sc->qid, t.why);
	ret = -EACCES;
	goto out;
refused:
	log_error(HOST_LOG, "%s qid %u: authentication failed: %s", sc->peer, sc->qid, t.why);
	ret = -EACCES;
	goto out;
cmd_failed:
	if (ret)
		log_error(HOST_LOG, "%s qid %u: authentication failed: the controller dropped the connection at %s (%s)",
			  sc->peer, sc->qid, stage, strerror(-ret));
	else {
		char st[128];

		log_error(HOST_LOG, "%s qid %u: authentication failed: %s refused with %s", sc->peer, sc->qid,
			  stage, nvme_status_format(cpl.status, true, st, sizeof(st)));
	}
	ret = -EACCES;
out:
	host_auth_txn_clear(&t);
	dhchap_key_wipe(&key);
	dhchap_key_wipe(&ctrl_key);
	dhchap_wipe(buf, AUTH_RECV_LEN);
	free(buf);
	return ret;
}
