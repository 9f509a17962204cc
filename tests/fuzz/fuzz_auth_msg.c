/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the DH-HMAC-CHAP message decoders (src/proto/nvme_auth.c) and the
 * host's steps that consume controller messages (src/host/auth.c): memory
 * safety, plus self-consistency: whatever decodes lies inside the input,
 * re-encodes to a message that decodes to the same fields, and the host
 * never accepts a Challenge whose sizes disagree with its hash and group.
 *
 * Input: byte 0 selects what the rest is fed to:
 *   0 Negotiate  1 Challenge  2 Reply  3 Success1  4 Success2 / Failure
 *   5 the host's Challenge step (then Success1 on the same bytes)
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crypto/dhchap.h"
#include "fuzz_common.h"
#include "host/auth.h"
#include "proto/nvme_auth.h"

static bool inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t len)
{
	return !n || (p && p >= buf && p + n <= buf + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[NVME_AUTH_MAX_MSG + 2048];
	const uint8_t *msg;
	size_t len;
	int n;

	if (size < 1)
		return 0;
	msg = data + 1;
	len = size - 1;
	switch (data[0] % 6) {
	case 0: {
		struct nvme_auth_negotiate m, m2;

		if (nvme_auth_negotiate_decode(msg, len, &m))
			break;
		fuzz_assert(m.nr_hashes <= NVME_AUTH_MAX_IDS && m.nr_dhgroups <= NVME_AUTH_MAX_IDS);
		n = nvme_auth_negotiate_encode(out, sizeof(out), &m);
		fuzz_assert(n == (int)len);
		fuzz_assert(nvme_auth_negotiate_decode(out, (size_t)n, &m2) == 0);
		fuzz_assert(m2.nr_hashes == m.nr_hashes && memcmp(m2.hashes, m.hashes, m.nr_hashes) == 0);
		break;
	}
	case 1: {
		struct nvme_auth_challenge c, c2;

		if (nvme_auth_challenge_decode(msg, len, &c))
			break;
		fuzz_assert(inside(c.c1, c.hl, msg, len) && inside(c.dhv, c.dhvlen, msg, len));
		n = nvme_auth_challenge_encode(out, sizeof(out), &c);
		fuzz_assert(n > 0 && (size_t)n <= len);
		fuzz_assert(nvme_auth_challenge_decode(out, (size_t)n, &c2) == 0);
		fuzz_assert(c2.seqnum == c.seqnum && c2.dhvlen == c.dhvlen && memcmp(c2.c1, c.c1, c.hl) == 0);
		break;
	}
	case 2: {
		struct nvme_auth_reply r, r2;

		if (nvme_auth_reply_decode(msg, len, &r))
			break;
		fuzz_assert(inside(r.r1, r.hl, msg, len) && inside(r.c2, r.hl, msg, len) &&
			    inside(r.dhv, r.dhvlen, msg, len));
		n = nvme_auth_reply_encode(out, sizeof(out), &r);
		fuzz_assert(n > 0 && (size_t)n <= len);
		fuzz_assert(nvme_auth_reply_decode(out, (size_t)n, &r2) == 0);
		fuzz_assert(memcmp(r2.r1, r.r1, r.hl) == 0 && r2.dhvlen == r.dhvlen);
		break;
	}
	case 3: {
		struct nvme_auth_success1 s;

		if (nvme_auth_success1_decode(msg, len, &s))
			break;
		fuzz_assert(!s.rvalid || inside(s.r2, s.hl, msg, len));
		n = nvme_auth_success1_encode(out, sizeof(out), &s);
		fuzz_assert(n > 0);
		break;
	}
	case 4: {
		uint8_t id, rc, exp;
		uint16_t tid;

		(void)nvme_auth_success2_decode(msg, len, &tid);
		if (nvme_auth_failure_decode(msg, len, &id, &tid, &rc, &exp) == 0)
			fuzz_assert(id == NVME_AUTH_FAILURE1 || id == NVME_AUTH_FAILURE2);
		break;
	}
	case 5: {
		static const struct dhchap_key key = { .hmac = 0, .len = 32, .secret = { 1, 2, 3 } };
		struct host_auth_txn t = { .key = &key, .ctrl_key = &key, .hostnqn = "nqn.h", .subnqn = "nqn.s" };
		struct nvme_auth_challenge c;

		/* The transaction ID the decoder reads, so the step gets past it. */
		if (len >= 6)
			t.x.tid = (uint16_t)(msg[4] | msg[5] << 8);
		n = host_auth_challenge(&t, msg, len, out, sizeof(out));
		if (n > 0) {
			fuzz_assert(nvme_auth_challenge_decode(msg, len, &c) == 0);
			fuzz_assert(c.dhvlen == dhchap_dhgroup_len(c.dhgid) && dhchap_hash_len(c.hashid) == c.hl);
			(void)host_auth_success1(&t, msg, len);
		} else {
			fuzz_assert(n == -EACCES || n == -EPROTO);
		}
		host_auth_txn_clear(&t);
		break;
	}
	}
	return 0;
}
