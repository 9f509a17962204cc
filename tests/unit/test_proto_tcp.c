/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP PDU layer (src/proto/nvme_tcp.c): common-header validation per
 * role and connection state, ICReq/ICResp negotiation, header digests,
 * outgoing header construction and TermReq construction.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/crc32c.h"
#include "proto/endian.h"
#include "proto/nvme_tcp.h"

#define OFF_TYPE offsetof(struct nvme_tcp_hdr, type)
#define OFF_FLAGS offsetof(struct nvme_tcp_hdr, flags)
#define OFF_HLEN offsetof(struct nvme_tcp_hdr, hlen)
#define OFF_PDO offsetof(struct nvme_tcp_hdr, pdo)
#define OFF_PLEN offsetof(struct nvme_tcp_hdr, plen)

static const struct nvme_tcp_conn_params no_digest = { .maxh2cdata = 131072 };
static const struct nvme_tcp_conn_params hd_only = { .hdgst = true, .maxh2cdata = 131072 };
static const struct nvme_tcp_conn_params dd_only = { .ddgst = true, .maxh2cdata = 131072 };
static const struct nvme_tcp_conn_params both_digests = { .hdgst = true, .ddgst = true, .maxh2cdata = 131072 };

static struct nvme_tcp_hdr hdr(uint8_t type, uint8_t flags, uint8_t hlen, uint8_t pdo, uint32_t plen)
{
	struct nvme_tcp_hdr h = {
		.type = type, .flags = flags, .hlen = hlen, .pdo = pdo, .plen = to_le32(plen),
	};
	return h;
}

/* Run the check and return its result; on success hdr_total/data_len are stored. */
static int check(struct nvme_tcp_hdr h, enum nvme_tcp_role role, bool ic_done,
		 const struct nvme_tcp_conn_params *p, uint32_t max_data, uint32_t *hdr_total,
		 uint32_t *data_len, struct nvme_tcp_check *err)
{
	uint32_t ht = 0xdeadbeef, dl = 0xdeadbeef;
	struct nvme_tcp_check e = { 0xffff, 0xffffffff };
	int rc = nvme_tcp_check_common(&h, role, ic_done, p, max_data, &ht, &dl, &e);

	if (hdr_total)
		*hdr_total = ht;
	if (data_len)
		*data_len = dl;
	if (err)
		*err = e;
	return rc;
}

static void expect_ok(struct nvme_tcp_hdr h, enum nvme_tcp_role role, bool ic_done,
		      const struct nvme_tcp_conn_params *p, uint32_t max_data, uint32_t want_hdr_total,
		      uint32_t want_data_len)
{
	uint32_t ht, dl;

	assert_int_equal(check(h, role, ic_done, p, max_data, &ht, &dl, NULL), 0);
	assert_int_equal(ht, want_hdr_total);
	assert_int_equal(dl, want_data_len);
}

static void expect_fail(struct nvme_tcp_hdr h, enum nvme_tcp_role role, bool ic_done,
			const struct nvme_tcp_conn_params *p, uint32_t max_data, uint16_t want_fes,
			uint32_t want_fei)
{
	struct nvme_tcp_check e;

	assert_int_equal(check(h, role, ic_done, p, max_data, NULL, NULL, &e), -EPROTO);
	assert_int_equal(e.fes, want_fes);
	assert_int_equal(e.fei, want_fei);
}

/* ---------------------------------------------------------------- crc32c */

static void test_crc32c_vectors(void **state)
{
	uint8_t buf[32];

	(void)state;
	assert_int_equal(crc32c("123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c("", 0), 0x00000000u);
	/* iSCSI (RFC 3720 B.4) vectors */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(crc32c(buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(crc32c(buf, sizeof(buf)), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(crc32c(buf, sizeof(buf)), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(crc32c(buf, sizeof(buf)), 0x113FDB5Cu);
}

static void test_crc32c_incremental_and_iov(void **state)
{
	static uint8_t buf[70000];
	uint32_t whole, crc;
	struct iovec iov[4];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	whole = crc32c(buf, sizeof(buf));

	/* Any split of the buffer gives the same digest. */
	static const size_t cuts[] = { 0, 1, 3, 4095, 4096, 65536, 69999, 70000 };
	for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		crc = crc32c_update(CRC32C_SEED, buf, cuts[c]);
		crc = crc32c_update(crc, buf + cuts[c], sizeof(buf) - cuts[c]);
		assert_int_equal(crc32c_final(crc), whole);
	}

	iov[0] = (struct iovec){ buf, 10 };
	iov[1] = (struct iovec){ buf + 10, 0 };
	iov[2] = (struct iovec){ buf + 10, 50000 };
	iov[3] = (struct iovec){ buf + 50010, sizeof(buf) - 50010 };
	assert_int_equal(crc32c_iov(iov, 4), whole);
	assert_int_equal(crc32c_iov(iov, 0), 0u);

	/* A one-bit change must change the digest. */
	buf[12345] ^= 0x10;
	assert_int_not_equal(crc32c(buf, sizeof(buf)), whole);
}

/* -------------------------------------------------------- static layout */

static void test_static_layout(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct nvme_tcp_hdr), 8);
	assert_int_equal(OFF_PLEN, 4);
	assert_int_equal(sizeof(struct nvme_tcp_icreq_pdu), 128);
	assert_int_equal(offsetof(struct nvme_tcp_icreq_pdu, pfv), 8);
	assert_int_equal(offsetof(struct nvme_tcp_icreq_pdu, hpda), 10);
	assert_int_equal(offsetof(struct nvme_tcp_icreq_pdu, digest), 11);
	assert_int_equal(offsetof(struct nvme_tcp_icreq_pdu, maxr2t), 12);
	assert_int_equal(sizeof(struct nvme_tcp_icresp_pdu), 128);
	assert_int_equal(offsetof(struct nvme_tcp_icresp_pdu, cpda), 10);
	assert_int_equal(offsetof(struct nvme_tcp_icresp_pdu, digest), 11);
	assert_int_equal(offsetof(struct nvme_tcp_icresp_pdu, maxdata), 12);
	assert_int_equal(sizeof(struct nvme_tcp_term_pdu), 24);
	assert_int_equal(offsetof(struct nvme_tcp_term_pdu, fes), 8);
	assert_int_equal(offsetof(struct nvme_tcp_term_pdu, feil), 10);
	assert_int_equal(sizeof(struct nvme_tcp_cmd_pdu), 72);
	assert_int_equal(offsetof(struct nvme_tcp_cmd_pdu, sqe), 8);
	assert_int_equal(sizeof(struct nvme_tcp_rsp_pdu), 24);
	assert_int_equal(offsetof(struct nvme_tcp_rsp_pdu, cqe), 8);
	assert_int_equal(sizeof(struct nvme_tcp_data_pdu), 24);
	assert_int_equal(offsetof(struct nvme_tcp_data_pdu, cccid), 8);
	assert_int_equal(offsetof(struct nvme_tcp_data_pdu, ttag), 10);
	assert_int_equal(offsetof(struct nvme_tcp_data_pdu, datao), 12);
	assert_int_equal(offsetof(struct nvme_tcp_data_pdu, datal), 16);
	assert_int_equal(sizeof(struct nvme_tcp_r2t_pdu), 24);
	assert_int_equal(offsetof(struct nvme_tcp_r2t_pdu, cccid), 8);
	assert_int_equal(offsetof(struct nvme_tcp_r2t_pdu, ttag), 10);
	assert_int_equal(offsetof(struct nvme_tcp_r2t_pdu, r2to), 12);
	assert_int_equal(offsetof(struct nvme_tcp_r2t_pdu, r2tl), 16);
}

static void test_hlen_and_hdgst_table(void **state)
{
	(void)state;
	assert_int_equal(nvme_tcp_hlen(NVME_TCP_ICREQ), 128);
	assert_int_equal(nvme_tcp_hlen(NVME_TCP_ICRESP), 128);
	assert_int_equal(nvme_tcp_hlen(NVME_TCP_H2C_TERM), 24);
	assert_int_equal(nvme_tcp_hlen(NVME_TCP_C2H_TERM), 24);
	assert_int_equal(nvme_tcp_hlen(NVME_TCP_CMD), 72);
	assert_int_equal(nvme_tcp_hlen(NVME_TCP_RSP), 24);
	assert_int_equal(nvme_tcp_hlen(NVME_TCP_H2C_DATA), 24);
	assert_int_equal(nvme_tcp_hlen(NVME_TCP_C2H_DATA), 24);
	assert_int_equal(nvme_tcp_hlen(NVME_TCP_R2T), 24);
	assert_int_equal(nvme_tcp_hlen(0x08), 0);
	assert_int_equal(nvme_tcp_hlen(0x0a), 0);
	assert_int_equal(nvme_tcp_hlen(0xff), 0);

	assert_false(nvme_tcp_type_has_hdgst(NVME_TCP_ICREQ));
	assert_false(nvme_tcp_type_has_hdgst(NVME_TCP_ICRESP));
	assert_false(nvme_tcp_type_has_hdgst(NVME_TCP_H2C_TERM));
	assert_false(nvme_tcp_type_has_hdgst(NVME_TCP_C2H_TERM));
	assert_true(nvme_tcp_type_has_hdgst(NVME_TCP_CMD));
	assert_true(nvme_tcp_type_has_hdgst(NVME_TCP_RSP));
	assert_true(nvme_tcp_type_has_hdgst(NVME_TCP_H2C_DATA));
	assert_true(nvme_tcp_type_has_hdgst(NVME_TCP_C2H_DATA));
	assert_true(nvme_tcp_type_has_hdgst(NVME_TCP_R2T));
	assert_false(nvme_tcp_type_has_hdgst(0x08));
}

/* ------------------------------------------------- check_common: types */

static void test_check_type_per_role(void **state)
{
	static const uint8_t host_to_ctrl[] = { NVME_TCP_ICREQ, NVME_TCP_H2C_TERM, NVME_TCP_CMD,
						NVME_TCP_H2C_DATA };
	static const uint8_t ctrl_to_host[] = { NVME_TCP_ICRESP, NVME_TCP_C2H_TERM, NVME_TCP_RSP,
						NVME_TCP_C2H_DATA, NVME_TCP_R2T };
	static const uint8_t unknown[] = { 0x08, 0x0a, 0x0b, 0x10, 0x7f, 0x80, 0xff };

	(void)state;
	/* The target rejects every controller-to-host type and unknown types, in
	 * either connection state, pointing at the type byte. */
	for (size_t i = 0; i < sizeof(ctrl_to_host); i++) {
		uint8_t t = ctrl_to_host[i];
		uint8_t hl = nvme_tcp_hlen(t);

		expect_fail(hdr(t, 0, hl, 0, hl), NVME_TCP_ROLE_TARGET, false, &no_digest, 8192,
			    NVME_TCP_FES_INVALID_PDU_HDR, OFF_TYPE);
		expect_fail(hdr(t, 0, hl, 0, hl), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192,
			    NVME_TCP_FES_INVALID_PDU_HDR, OFF_TYPE);
	}
	for (size_t i = 0; i < sizeof(host_to_ctrl); i++) {
		uint8_t t = host_to_ctrl[i];
		uint8_t hl = nvme_tcp_hlen(t);

		expect_fail(hdr(t, 0, hl, 0, hl), NVME_TCP_ROLE_HOST, false, &no_digest, 8192,
			    NVME_TCP_FES_INVALID_PDU_HDR, OFF_TYPE);
		expect_fail(hdr(t, 0, hl, 0, hl), NVME_TCP_ROLE_HOST, true, &no_digest, 8192,
			    NVME_TCP_FES_INVALID_PDU_HDR, OFF_TYPE);
	}
	for (size_t i = 0; i < sizeof(unknown); i++) {
		expect_fail(hdr(unknown[i], 0, 24, 0, 24), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192,
			    NVME_TCP_FES_INVALID_PDU_HDR, OFF_TYPE);
		expect_fail(hdr(unknown[i], 0, 24, 0, 24), NVME_TCP_ROLE_HOST, true, &no_digest, 8192,
			    NVME_TCP_FES_INVALID_PDU_HDR, OFF_TYPE);
	}
}

static void test_check_sequence(void **state)
{
	(void)state;
	/* Before Initialize Connection only ICReq (target) / ICResp (host). */
	expect_ok(hdr(NVME_TCP_ICREQ, 0, 128, 0, 128), NVME_TCP_ROLE_TARGET, false, &no_digest, 8192, 128, 0);
	expect_ok(hdr(NVME_TCP_ICRESP, 0, 128, 0, 128), NVME_TCP_ROLE_HOST, false, &no_digest, 8192, 128, 0);
	expect_fail(hdr(NVME_TCP_CMD, 0, 72, 0, 72), NVME_TCP_ROLE_TARGET, false, &no_digest, 8192,
		    NVME_TCP_FES_PDU_SEQ_ERR, 0);
	expect_fail(hdr(NVME_TCP_H2C_DATA, 0, 24, 24, 48), NVME_TCP_ROLE_TARGET, false, &no_digest, 8192,
		    NVME_TCP_FES_PDU_SEQ_ERR, 0);
	expect_fail(hdr(NVME_TCP_RSP, 0, 24, 0, 24), NVME_TCP_ROLE_HOST, false, &no_digest, 8192,
		    NVME_TCP_FES_PDU_SEQ_ERR, 0);
	expect_fail(hdr(NVME_TCP_R2T, 0, 24, 0, 24), NVME_TCP_ROLE_HOST, false, &no_digest, 8192,
		    NVME_TCP_FES_PDU_SEQ_ERR, 0);
	expect_fail(hdr(NVME_TCP_C2H_DATA, 0, 24, 24, 48), NVME_TCP_ROLE_HOST, false, &no_digest, 8192,
		    NVME_TCP_FES_PDU_SEQ_ERR, 0);

	/* After it, a second ICReq/ICResp is a sequence error. */
	expect_fail(hdr(NVME_TCP_ICREQ, 0, 128, 0, 128), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192,
		    NVME_TCP_FES_PDU_SEQ_ERR, 0);
	expect_fail(hdr(NVME_TCP_ICRESP, 0, 128, 0, 128), NVME_TCP_ROLE_HOST, true, &no_digest, 8192,
		    NVME_TCP_FES_PDU_SEQ_ERR, 0);
	expect_ok(hdr(NVME_TCP_CMD, 0, 72, 0, 72), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192, 72, 0);
	expect_ok(hdr(NVME_TCP_RSP, 0, 24, 0, 24), NVME_TCP_ROLE_HOST, true, &no_digest, 8192, 24, 0);

	/* A TermReq may arrive at any time. */
	expect_ok(hdr(NVME_TCP_H2C_TERM, 0, 24, 0, 24), NVME_TCP_ROLE_TARGET, false, &no_digest, 8192, 24, 0);
	expect_ok(hdr(NVME_TCP_H2C_TERM, 0, 24, 0, 24), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192, 24, 0);
	expect_ok(hdr(NVME_TCP_C2H_TERM, 0, 24, 0, 24), NVME_TCP_ROLE_HOST, false, &no_digest, 8192, 24, 0);
	expect_ok(hdr(NVME_TCP_C2H_TERM, 0, 24, 0, 24), NVME_TCP_ROLE_HOST, true, &no_digest, 8192, 24, 0);
}

static void test_check_hlen(void **state)
{
	static const uint8_t target_types[] = { NVME_TCP_ICREQ, NVME_TCP_H2C_TERM, NVME_TCP_CMD,
						NVME_TCP_H2C_DATA };
	static const uint8_t host_types[] = { NVME_TCP_ICRESP, NVME_TCP_C2H_TERM, NVME_TCP_RSP,
					      NVME_TCP_C2H_DATA, NVME_TCP_R2T };
	static const int deltas[] = { -1, 1, 4, -8 };

	(void)state;
	for (size_t i = 0; i < sizeof(target_types); i++) {
		uint8_t t = target_types[i];
		bool ic = t == NVME_TCP_ICREQ;

		for (size_t d = 0; d < 4; d++) {
			uint8_t hl = (uint8_t)(nvme_tcp_hlen(t) + deltas[d]);
			expect_fail(hdr(t, 0, hl, 0, hl), NVME_TCP_ROLE_TARGET, !ic, &no_digest, 8192,
				    NVME_TCP_FES_INVALID_PDU_HDR, OFF_HLEN);
		}
		expect_fail(hdr(t, 0, 0, 0, 128), NVME_TCP_ROLE_TARGET, !ic, &no_digest, 8192,
			    NVME_TCP_FES_INVALID_PDU_HDR, OFF_HLEN);
		expect_fail(hdr(t, 0, 255, 0, 255), NVME_TCP_ROLE_TARGET, !ic, &no_digest, 8192,
			    NVME_TCP_FES_INVALID_PDU_HDR, OFF_HLEN);
	}
	for (size_t i = 0; i < sizeof(host_types); i++) {
		uint8_t t = host_types[i];
		bool ic = t == NVME_TCP_ICRESP;

		for (size_t d = 0; d < 4; d++) {
			uint8_t hl = (uint8_t)(nvme_tcp_hlen(t) + deltas[d]);
			expect_fail(hdr(t, 0, hl, 0, hl), NVME_TCP_ROLE_HOST, !ic, &no_digest, 8192,
				    NVME_TCP_FES_INVALID_PDU_HDR, OFF_HLEN);
		}
	}
	/* The header digest is not part of HLEN. */
	expect_fail(hdr(NVME_TCP_CMD, NVME_TCP_F_HDGST, 76, 0, 76), NVME_TCP_ROLE_TARGET, true, &hd_only,
		    8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_HLEN);
}

/* ---------------------------------------------- check_common: IC, Term */

static void test_check_ic_fields(void **state)
{
	(void)state;
	expect_fail(hdr(NVME_TCP_ICREQ, 0, 128, 0, 127), NVME_TCP_ROLE_TARGET, false, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PLEN);
	expect_fail(hdr(NVME_TCP_ICREQ, 0, 128, 0, 132), NVME_TCP_ROLE_TARGET, false, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PLEN);
	expect_fail(hdr(NVME_TCP_ICREQ, 0, 128, 0, 0xffffffffu), NVME_TCP_ROLE_TARGET, false, &no_digest,
		    8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_PLEN);
	expect_fail(hdr(NVME_TCP_ICREQ, 0, 128, 128, 128), NVME_TCP_ROLE_TARGET, false, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);
	/* ICReq never carries digests, even the bits are refused. */
	expect_fail(hdr(NVME_TCP_ICREQ, NVME_TCP_F_HDGST, 128, 0, 128), NVME_TCP_ROLE_TARGET, false,
		    &no_digest, 8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_FLAGS);
	expect_fail(hdr(NVME_TCP_ICREQ, NVME_TCP_F_DDGST, 128, 0, 128), NVME_TCP_ROLE_TARGET, false,
		    &no_digest, 8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_FLAGS);
	expect_fail(hdr(NVME_TCP_ICRESP, 0, 128, 0, 256), NVME_TCP_ROLE_HOST, false, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PLEN);
	expect_fail(hdr(NVME_TCP_ICRESP, NVME_TCP_F_DATA_LAST, 128, 0, 128), NVME_TCP_ROLE_HOST, false,
		    &no_digest, 8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_FLAGS);
}

static void test_check_term_sizes(void **state)
{
	(void)state;
	for (uint32_t plen = 24; plen <= 152; plen++) {
		expect_ok(hdr(NVME_TCP_H2C_TERM, 0, 24, 0, plen), NVME_TCP_ROLE_TARGET, true, &both_digests,
			  8192, 24, plen - 24);
		expect_ok(hdr(NVME_TCP_C2H_TERM, 0, 24, 0, plen), NVME_TCP_ROLE_HOST, true, &both_digests,
			  8192, 24, plen - 24);
	}
	static const uint32_t bad[] = { 0, 8, 23, 153, 256, 4096, 0x80000000u, 0xffffffffu };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_fail(hdr(NVME_TCP_H2C_TERM, 0, 24, 0, bad[i]), NVME_TCP_ROLE_TARGET, true, &no_digest,
			    8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_PLEN);
		expect_fail(hdr(NVME_TCP_C2H_TERM, 0, 24, 0, bad[i]), NVME_TCP_ROLE_HOST, false, &no_digest,
			    8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_PLEN);
	}
}

/* ------------------------------------- check_common: capsules and data */

static void test_check_cmd_without_data(void **state)
{
	(void)state;
	expect_ok(hdr(NVME_TCP_CMD, 0, 72, 0, 72), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192, 72, 0);
	expect_ok(hdr(NVME_TCP_CMD, NVME_TCP_F_HDGST, 72, 0, 76), NVME_TCP_ROLE_TARGET, true, &hd_only, 8192,
		  76, 0);
	/* DDGST negotiated but no data: no digest, no flag. */
	expect_ok(hdr(NVME_TCP_CMD, 0, 72, 0, 72), NVME_TCP_ROLE_TARGET, true, &dd_only, 8192, 72, 0);
	expect_fail(hdr(NVME_TCP_CMD, NVME_TCP_F_DDGST, 72, 0, 72), NVME_TCP_ROLE_TARGET, true, &dd_only,
		    8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_FLAGS);
	/* PDO must be 0 without data. */
	expect_fail(hdr(NVME_TCP_CMD, 0, 72, 72, 72), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);
	/* PLEN shorter than the header. */
	expect_fail(hdr(NVME_TCP_CMD, 0, 72, 0, 71), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);
	expect_fail(hdr(NVME_TCP_CMD, 0, 72, 0, 0), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);
	expect_fail(hdr(NVME_TCP_CMD, NVME_TCP_F_HDGST, 72, 0, 72), NVME_TCP_ROLE_TARGET, true, &hd_only,
		    8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);
}

static void test_check_header_digest_flag(void **state)
{
	(void)state;
	/* Negotiated but flag missing, and flag set but not negotiated. */
	expect_fail(hdr(NVME_TCP_CMD, 0, 72, 0, 76), NVME_TCP_ROLE_TARGET, true, &hd_only, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_FLAGS);
	expect_fail(hdr(NVME_TCP_CMD, NVME_TCP_F_HDGST, 72, 0, 76), NVME_TCP_ROLE_TARGET, true, &no_digest,
		    8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_FLAGS);
	expect_fail(hdr(NVME_TCP_H2C_DATA, 0, 24, 28, 28 + 512), NVME_TCP_ROLE_TARGET, true, &hd_only, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_FLAGS);
	expect_fail(hdr(NVME_TCP_RSP, 0, 24, 0, 28), NVME_TCP_ROLE_HOST, true, &both_digests, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_FLAGS);
	expect_fail(hdr(NVME_TCP_R2T, NVME_TCP_F_HDGST, 24, 0, 28), NVME_TCP_ROLE_HOST, true, &dd_only, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_FLAGS);
	/* With the flag the header grows by four bytes. */
	expect_ok(hdr(NVME_TCP_RSP, NVME_TCP_F_HDGST, 24, 0, 28), NVME_TCP_ROLE_HOST, true, &hd_only, 8192,
		  28, 0);
	expect_ok(hdr(NVME_TCP_R2T, NVME_TCP_F_HDGST, 24, 0, 28), NVME_TCP_ROLE_HOST, true, &both_digests,
		  8192, 28, 0);
	/* Without the digest, the same 28-byte PLEN is wrong. */
	expect_fail(hdr(NVME_TCP_RSP, 0, 24, 0, 28), NVME_TCP_ROLE_HOST, true, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PLEN);
	expect_fail(hdr(NVME_TCP_RSP, 0, 24, 4, 24), NVME_TCP_ROLE_HOST, true, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);
	expect_fail(hdr(NVME_TCP_R2T, NVME_TCP_F_DDGST, 24, 0, 24), NVME_TCP_ROLE_HOST, true, &dd_only, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_FLAGS);
}

static void test_check_data_pdus(void **state)
{
	(void)state;
	/* In-capsule data right after the header (and its digest). */
	expect_ok(hdr(NVME_TCP_CMD, 0, 72, 72, 72 + 4096), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192, 72,
		  4096);
	expect_ok(hdr(NVME_TCP_CMD, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 72, 76, 76 + 4096 + 4),
		  NVME_TCP_ROLE_TARGET, true, &both_digests, 8192, 76, 4096);
	expect_ok(hdr(NVME_TCP_CMD, NVME_TCP_F_DDGST, 72, 72, 72 + 1 + 4), NVME_TCP_ROLE_TARGET, true,
		  &dd_only, 8192, 72, 1);
	expect_ok(hdr(NVME_TCP_H2C_DATA, NVME_TCP_F_DATA_LAST, 24, 24, 24 + 512), NVME_TCP_ROLE_TARGET, true,
		  &no_digest, 8192, 24, 512);
	expect_ok(hdr(NVME_TCP_H2C_DATA, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 24, 28, 28 + 8192 + 4),
		  NVME_TCP_ROLE_TARGET, true, &both_digests, 8192, 28, 8192);
	expect_ok(hdr(NVME_TCP_C2H_DATA, NVME_TCP_F_DATA_LAST | NVME_TCP_F_DATA_SUCCESS, 24, 24, 24 + 100),
		  NVME_TCP_ROLE_HOST, true, &no_digest, 8192, 24, 100);
	/* Padding between header and data is allowed when PDO is consistent. */
	expect_ok(hdr(NVME_TCP_C2H_DATA, 0, 24, 32, 32 + 100), NVME_TCP_ROLE_HOST, true, &no_digest, 8192, 32,
		  100);

	/* Data digest flag must match negotiation on data-bearing PDUs. */
	expect_fail(hdr(NVME_TCP_CMD, 0, 72, 72, 72 + 4096 + 4), NVME_TCP_ROLE_TARGET, true, &dd_only, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_FLAGS);
	expect_fail(hdr(NVME_TCP_H2C_DATA, NVME_TCP_F_DDGST, 24, 24, 24 + 512), NVME_TCP_ROLE_TARGET, true,
		    &no_digest, 8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_FLAGS);
	expect_fail(hdr(NVME_TCP_C2H_DATA, NVME_TCP_F_HDGST, 24, 28, 28 + 512 + 4), NVME_TCP_ROLE_HOST, true,
		    &both_digests, 8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_FLAGS);

	/* PDO inside the header or its digest, or past the end of the PDU. */
	expect_fail(hdr(NVME_TCP_CMD, 0, 72, 71, 72 + 4096), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);
	expect_fail(hdr(NVME_TCP_CMD, 0, 72, 0, 72 + 4096), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);
	expect_fail(hdr(NVME_TCP_CMD, NVME_TCP_F_HDGST, 72, 72, 76 + 4096), NVME_TCP_ROLE_TARGET, true,
		    &hd_only, 8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);
	expect_fail(hdr(NVME_TCP_H2C_DATA, 0, 24, 200, 150), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);
	expect_fail(hdr(NVME_TCP_H2C_DATA, 0, 24, 24, 24), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);
	expect_fail(hdr(NVME_TCP_C2H_DATA, 0, 24, 0, 24), NVME_TCP_ROLE_HOST, true, &no_digest, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);

	/* Room for data digest but no data. */
	expect_fail(hdr(NVME_TCP_H2C_DATA, NVME_TCP_F_DDGST, 24, 24, 28), NVME_TCP_ROLE_TARGET, true, &dd_only,
		    8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_PLEN);
	expect_fail(hdr(NVME_TCP_H2C_DATA, NVME_TCP_F_DDGST, 24, 24, 26), NVME_TCP_ROLE_TARGET, true, &dd_only,
		    8192, NVME_TCP_FES_INVALID_PDU_HDR, OFF_PLEN);
}

static void test_check_data_limits(void **state)
{
	(void)state;
	expect_ok(hdr(NVME_TCP_CMD, 0, 72, 72, 72 + 8192), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192, 72,
		  8192);
	expect_fail(hdr(NVME_TCP_CMD, 0, 72, 72, 72 + 8193), NVME_TCP_ROLE_TARGET, true, &no_digest, 8192,
		    NVME_TCP_FES_DATA_LIMIT_EXCEEDED, OFF_PLEN);
	/* The data digest does not count towards the limit. */
	expect_ok(hdr(NVME_TCP_H2C_DATA, NVME_TCP_F_DDGST, 24, 24, 24 + 8192 + 4), NVME_TCP_ROLE_TARGET, true,
		  &dd_only, 8192, 24, 8192);
	expect_fail(hdr(NVME_TCP_H2C_DATA, NVME_TCP_F_DDGST, 24, 24, 24 + 8193 + 4), NVME_TCP_ROLE_TARGET,
		    true, &dd_only, 8192, NVME_TCP_FES_DATA_LIMIT_EXCEEDED, OFF_PLEN);
	/* Huge PLEN values must not wrap around. */
	expect_fail(hdr(NVME_TCP_H2C_DATA, 0, 24, 24, 0xffffffffu), NVME_TCP_ROLE_TARGET, true, &no_digest,
		    0xffff0000u, NVME_TCP_FES_DATA_LIMIT_EXCEEDED, OFF_PLEN);
	expect_fail(hdr(NVME_TCP_C2H_DATA, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST, 24, 28, 0xffffffffu),
		    NVME_TCP_ROLE_HOST, true, &both_digests, 131072, NVME_TCP_FES_DATA_LIMIT_EXCEEDED, OFF_PLEN);
	expect_ok(hdr(NVME_TCP_C2H_DATA, 0, 24, 24, 0xffffffffu), NVME_TCP_ROLE_HOST, true, &no_digest,
		  0xffffffffu, 24, 0xffffffffu - 24);
	/* max_data 0 refuses any payload, but not a data-less capsule. */
	expect_fail(hdr(NVME_TCP_CMD, 0, 72, 72, 73), NVME_TCP_ROLE_TARGET, true, &no_digest, 0,
		    NVME_TCP_FES_DATA_LIMIT_EXCEEDED, OFF_PLEN);
	expect_ok(hdr(NVME_TCP_CMD, 0, 72, 0, 72), NVME_TCP_ROLE_TARGET, true, &no_digest, 0, 72, 0);
}

static void test_check_cpda_alignment(void **state)
{
	struct nvme_tcp_conn_params p = { .cpda_bytes = 128, .maxh2cdata = 131072 };

	(void)state;
	/* The target asked for 128-byte aligned H2C data. */
	expect_fail(hdr(NVME_TCP_CMD, 0, 72, 72, 72 + 512), NVME_TCP_ROLE_TARGET, true, &p, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);
	expect_ok(hdr(NVME_TCP_CMD, 0, 72, 128, 128 + 512), NVME_TCP_ROLE_TARGET, true, &p, 8192, 128, 512);
	expect_fail(hdr(NVME_TCP_H2C_DATA, 0, 24, 24, 24 + 512), NVME_TCP_ROLE_TARGET, true, &p, 8192,
		    NVME_TCP_FES_INVALID_PDU_HDR, OFF_PDO);
	/* CPDA constrains H2C data only; a host reading C2H data ignores it. */
	expect_ok(hdr(NVME_TCP_C2H_DATA, 0, 24, 24, 24 + 512), NVME_TCP_ROLE_HOST, true, &p, 8192, 24, 512);
}

/* ---------------------------------------------------- header digests */

static void test_header_digest(void **state)
{
	uint8_t pdu[76 + 4];
	uint32_t crc;

	(void)state;
	memset(pdu, 0, sizeof(pdu));
	for (int i = 0; i < 72; i++)
		pdu[i] = (uint8_t)(i * 7 + 1);
	pdu[76] = 0x5a; /* beyond the digest: must be left alone */
	nvme_tcp_set_hdgst(pdu, 72);
	crc = crc32c(pdu, 72);
	/* Stored little-endian right after HLEN bytes. */
	assert_int_equal(pdu[72], crc & 0xff);
	assert_int_equal(pdu[73], (crc >> 8) & 0xff);
	assert_int_equal(pdu[74], (crc >> 16) & 0xff);
	assert_int_equal(pdu[75], crc >> 24);
	assert_int_equal(pdu[76], 0x5a);
	assert_int_equal(nvme_tcp_verify_hdgst(pdu, 72), 0);

	/* Any flipped bit in header or digest is detected. */
	for (int byte = 0; byte < 76; byte++) {
		for (int bit = 0; bit < 8; bit += 3) {
			pdu[byte] ^= (uint8_t)(1u << bit);
			assert_int_equal(nvme_tcp_verify_hdgst(pdu, 72), -EBADMSG);
			pdu[byte] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(nvme_tcp_verify_hdgst(pdu, 72), 0);

	/* Known vector: the digest of a 24-byte all-zero header. */
	uint8_t z[28] = { 0 };
	nvme_tcp_set_hdgst(z, 24);
	assert_int_equal(get_le32(z + 24), crc32c(z, 24));
	assert_int_equal(nvme_tcp_verify_hdgst(z, 24), 0);
	z[27] ^= 0x80;
	assert_int_equal(nvme_tcp_verify_hdgst(z, 24), -EBADMSG);
}

/* ------------------------------------------------- ICReq / ICResp */

static void test_icreq_icresp_roundtrip(void **state)
{
	(void)state;
	for (int dg = 0; dg < 4; dg++) {
		bool hd = dg & 1, dd = dg & 2;
		struct nvme_tcp_icreq_pdu req;
		struct nvme_tcp_icresp_pdu resp;
		struct nvme_tcp_conn_params tp, hp;
		struct nvme_tcp_check e;

		memset(&resp, 0xee, sizeof(resp));
		nvme_tcp_build_icreq(&req, hd, dd, 0);
		assert_int_equal(req.hdr.type, NVME_TCP_ICREQ);
		assert_int_equal(req.hdr.hlen, 128);
		assert_int_equal(req.hdr.pdo, 0);
		assert_int_equal(req.hdr.flags, 0);
		assert_int_equal(le32(req.hdr.plen), 128);
		assert_int_equal(req.digest, (hd ? 1 : 0) | (dd ? 2 : 0));
		assert_int_equal(req.maxr2t, 0);
		expect_ok(req.hdr, NVME_TCP_ROLE_TARGET, false, &no_digest, 8192, 128, 0);

		assert_int_equal(nvme_tcp_accept_icreq(&req, 0x20000, &resp, &tp, &e), 0);
		assert_int_equal(tp.hdgst, hd);
		assert_int_equal(tp.ddgst, dd);
		assert_int_equal(tp.maxh2cdata, 0x20000);
		assert_int_equal(tp.cpda_bytes, 0);
		assert_int_equal(resp.hdr.type, NVME_TCP_ICRESP);
		assert_int_equal(resp.hdr.hlen, 128);
		assert_int_equal(resp.hdr.flags, 0);
		assert_int_equal(resp.hdr.pdo, 0);
		assert_int_equal(le32(resp.hdr.plen), 128);
		assert_int_equal(le16(resp.pfv), 0);
		assert_int_equal(resp.cpda, 0);
		assert_int_equal(resp.digest, req.digest);
		assert_int_equal(get_le32((uint8_t *)&resp + 12), 0x20000);
		for (size_t i = 0; i < sizeof(resp.rsvd); i++)
			assert_int_equal(resp.rsvd[i], 0);

		expect_ok(resp.hdr, NVME_TCP_ROLE_HOST, false, &no_digest, 8192, 128, 0);
		assert_int_equal(nvme_tcp_check_icresp(&resp, hd, dd, &hp), 0);
		assert_int_equal(hp.hdgst, hd);
		assert_int_equal(hp.ddgst, dd);
		assert_int_equal(hp.maxh2cdata, 0x20000);
		assert_int_equal(hp.cpda_bytes, 0);
		/* An ICResp that does not echo our digest choice is refused. */
		assert_int_equal(nvme_tcp_check_icresp(&resp, !hd, dd, &hp), -EPROTO);
		assert_int_equal(nvme_tcp_check_icresp(&resp, hd, !dd, &hp), -EPROTO);
	}
}

static void test_accept_icreq_rejects(void **state)
{
	struct nvme_tcp_icreq_pdu req;
	struct nvme_tcp_icresp_pdu resp;
	struct nvme_tcp_conn_params p;
	struct nvme_tcp_check e;

	(void)state;
	nvme_tcp_build_icreq(&req, false, false, 0);
	req.pfv = to_le16(1);
	assert_int_equal(nvme_tcp_accept_icreq(&req, 0x20000, &resp, &p, &e), -EPROTO);
	assert_int_equal(e.fes, NVME_TCP_FES_UNSUPPORTED_PARAM);
	assert_int_equal(e.fei, offsetof(struct nvme_tcp_icreq_pdu, pfv));

	nvme_tcp_build_icreq(&req, false, false, 32);
	assert_int_equal(nvme_tcp_accept_icreq(&req, 0x20000, &resp, &p, &e), -EPROTO);
	assert_int_equal(e.fes, NVME_TCP_FES_INVALID_PDU_HDR);
	assert_int_equal(e.fei, offsetof(struct nvme_tcp_icreq_pdu, hpda));

	nvme_tcp_build_icreq(&req, false, false, 255);
	assert_int_equal(nvme_tcp_accept_icreq(&req, 0x20000, &resp, &p, &e), -EPROTO);
	assert_int_equal(e.fes, NVME_TCP_FES_INVALID_PDU_HDR);

	/* We never pad C2H data, so an alignment request cannot be honoured. */
	nvme_tcp_build_icreq(&req, true, true, 1);
	assert_int_equal(nvme_tcp_accept_icreq(&req, 0x20000, &resp, &p, &e), -EPROTO);
	assert_int_equal(e.fes, NVME_TCP_FES_UNSUPPORTED_PARAM);
	assert_int_equal(e.fei, offsetof(struct nvme_tcp_icreq_pdu, hpda));

	/* Reserved DGST bits are not echoed; MAXR2T above 0 is fine (we send one R2T). */
	nvme_tcp_build_icreq(&req, false, false, 0);
	req.digest = 0xfd;
	req.maxr2t = to_le32(15);
	assert_int_equal(nvme_tcp_accept_icreq(&req, 0x20000, &resp, &p, &e), 0);
	assert_int_equal(resp.digest, NVME_TCP_HDR_DIGEST_ENABLE);
	assert_true(p.hdgst);
	assert_false(p.ddgst);
}

static void test_check_icresp_rejects(void **state)
{
	struct nvme_tcp_icreq_pdu req;
	struct nvme_tcp_icresp_pdu good, r;
	struct nvme_tcp_conn_params p;
	struct nvme_tcp_check e;

	(void)state;
	nvme_tcp_build_icreq(&req, true, false, 0);
	assert_int_equal(nvme_tcp_accept_icreq(&req, 4096, &good, &p, &e), 0);
	assert_int_equal(nvme_tcp_check_icresp(&good, true, false, &p), 0);
	assert_int_equal(p.maxh2cdata, 4096);

	r = good;
	r.hdr.type = NVME_TCP_ICREQ;
	assert_int_equal(nvme_tcp_check_icresp(&r, true, false, &p), -EPROTO);
	r = good;
	r.hdr.plen = to_le32(132);
	assert_int_equal(nvme_tcp_check_icresp(&r, true, false, &p), -EPROTO);
	r = good;
	r.pfv = to_le16(1);
	assert_int_equal(nvme_tcp_check_icresp(&r, true, false, &p), -EPROTO);
	r = good;
	r.digest = 3;
	assert_int_equal(nvme_tcp_check_icresp(&r, true, false, &p), -EPROTO);
	r = good;
	r.cpda = 32;
	assert_int_equal(nvme_tcp_check_icresp(&r, true, false, &p), -EPROTO);
	static const uint32_t bad_max[] = { 0, 4, 4092, 4095, 4098, 131071 };
	for (size_t i = 0; i < sizeof(bad_max) / sizeof(bad_max[0]); i++) {
		r = good;
		r.maxdata = to_le32(bad_max[i]);
		assert_int_equal(nvme_tcp_check_icresp(&r, true, false, &p), -EPROTO);
	}

	/* A controller alignment request is accepted and converted to bytes. */
	r = good;
	r.cpda = 3;
	r.maxdata = to_le32(0x400000);
	assert_int_equal(nvme_tcp_check_icresp(&r, true, false, &p), 0);
	assert_int_equal(p.cpda_bytes, 16);
	assert_int_equal(p.maxh2cdata, 0x400000);
	r.cpda = 31;
	assert_int_equal(nvme_tcp_check_icresp(&r, true, false, &p), 0);
	assert_int_equal(p.cpda_bytes, 128);
}

/* ---------------------------------------------------------- fill_hdr */

static void test_fill_hdr_basic(void **state)
{
	struct nvme_tcp_hdr h;

	(void)state;
	memset(&h, 0xee, sizeof(h));
	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_RSP, 0, &no_digest, 0), 24);
	assert_int_equal(h.type, NVME_TCP_RSP);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.hlen, 24);
	assert_int_equal(h.pdo, 0);
	assert_int_equal(le32(h.plen), 24);

	memset(&h, 0xee, sizeof(h));
	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_RSP, 0, &both_digests, 0), 28);
	assert_int_equal(h.flags, NVME_TCP_F_HDGST);
	assert_int_equal(h.pdo, 0);
	assert_int_equal(le32(h.plen), 28);

	/* Data digest only matters with data. */
	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_R2T, 0, &dd_only, 0), 24);
	assert_int_equal(h.flags, 0);
	assert_int_equal(le32(h.plen), 24);

	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_C2H_DATA,
					   NVME_TCP_F_DATA_LAST | NVME_TCP_F_DATA_SUCCESS, &both_digests, 4096),
			 28);
	assert_int_equal(h.flags, NVME_TCP_F_HDGST | NVME_TCP_F_DDGST | NVME_TCP_F_DATA_LAST |
					  NVME_TCP_F_DATA_SUCCESS);
	assert_int_equal(h.hlen, 24);
	assert_int_equal(h.pdo, 28);
	assert_int_equal(le32(h.plen), 28 + 4096 + 4);

	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_C2H_DATA, NVME_TCP_F_DATA_LAST, &no_digest, 1), 24);
	assert_int_equal(h.pdo, 24);
	assert_int_equal(le32(h.plen), 25);

	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_CMD, 0, &hd_only, 1024), 76);
	assert_int_equal(h.hlen, 72);
	assert_int_equal(h.pdo, 76);
	assert_int_equal(h.flags, NVME_TCP_F_HDGST);
	assert_int_equal(le32(h.plen), 76 + 1024);

	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_CMD, 0, &both_digests, 0), 76);
	assert_int_equal(h.flags, NVME_TCP_F_HDGST);
	assert_int_equal(h.pdo, 0);
	assert_int_equal(le32(h.plen), 76);

	/* Digest flags are never put on TermReqs. */
	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_C2H_TERM, 0, &both_digests, 0), 24);
	assert_int_equal(h.flags, 0);
}

static void test_fill_hdr_padding(void **state)
{
	struct nvme_tcp_conn_params p = { .hdgst = true, .ddgst = true, .cpda_bytes = 128,
					  .maxh2cdata = 131072 };
	struct nvme_tcp_hdr h;

	(void)state;
	/* Host sending H2C data to a controller that wants 128-byte alignment. */
	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_CMD, 0, &p, 512), 128);
	assert_int_equal(h.pdo, 128);
	assert_int_equal(le32(h.plen), 128 + 512 + 4);
	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_H2C_DATA, NVME_TCP_F_DATA_LAST, &p, 4096), 128);
	assert_int_equal(h.pdo, 128);
	assert_int_equal(le32(h.plen), 128 + 4096 + 4);

	p.cpda_bytes = 16;
	p.hdgst = false;
	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_CMD, 0, &p, 512), 80);
	assert_int_equal(h.pdo, 80);
	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_H2C_DATA, 0, &p, 512), 32);
	assert_int_equal(h.pdo, 32);
	/* Already aligned: no padding. */
	p.cpda_bytes = 8;
	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_CMD, 0, &p, 512), 72);
	/* C2H data is never padded (we refuse HPDA != 0). */
	p.cpda_bytes = 128;
	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_C2H_DATA, 0, &p, 512), 24);
	assert_int_equal(h.pdo, 24);
	/* No data, no padding. */
	assert_int_equal(nvme_tcp_fill_hdr(&h, NVME_TCP_CMD, 0, &p, 0), 72);
	assert_int_equal(h.pdo, 0);
}

/* Whatever one side builds, the other side's check accepts with the same lengths. */
static void test_fill_hdr_accepted_by_peer(void **state)
{
	static const uint32_t lens[] = { 0, 1, 3, 512, 4096, 8192 };
	static const uint32_t cpdas[] = { 0, 16, 128 };
	static const struct {
		uint8_t type;
		enum nvme_tcp_role reader;
		bool may_have_data;
		bool needs_data;
	} kinds[] = {
		{ NVME_TCP_CMD, NVME_TCP_ROLE_TARGET, true, false },
		{ NVME_TCP_H2C_DATA, NVME_TCP_ROLE_TARGET, true, true },
		{ NVME_TCP_RSP, NVME_TCP_ROLE_HOST, false, false },
		{ NVME_TCP_R2T, NVME_TCP_ROLE_HOST, false, false },
		{ NVME_TCP_C2H_DATA, NVME_TCP_ROLE_HOST, true, true },
	};

	(void)state;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (int dg = 0; dg < 4; dg++) {
			for (size_t c = 0; c < 3; c++) {
				for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
					struct nvme_tcp_conn_params p = {
						.hdgst = dg & 1, .ddgst = dg & 2, .cpda_bytes = cpdas[c],
						.maxh2cdata = 131072,
					};
					uint32_t len = lens[l];
					struct nvme_tcp_hdr h;
					uint32_t hbytes, ht, dl;

					if (!kinds[k].may_have_data && len)
						continue;
					if (kinds[k].needs_data && !len)
						continue;
					hbytes = nvme_tcp_fill_hdr(&h, kinds[k].type, 0, &p, len);
					assert_int_equal(check(h, kinds[k].reader, true, &p, 8192, &ht, &dl, NULL), 0);
					assert_int_equal(ht, hbytes);
					assert_int_equal(dl, len);
				}
			}
		}
	}
}

/* --------------------------------------------------------- TermReq */

static void test_build_term(void **state)
{
	uint8_t buf[200], bad[200];
	struct nvme_tcp_hdr h;
	uint32_t n;

	(void)state;
	for (int i = 0; i < 200; i++)
		bad[i] = (uint8_t)(0x80 + i);

	memset(buf, 0xaa, sizeof(buf));
	n = nvme_tcp_build_term(buf, NVME_TCP_C2H_TERM, NVME_TCP_FES_INVALID_PDU_HDR, 2, bad, 72);
	assert_int_equal(n, 24 + 72);
	assert_int_equal(buf[0], NVME_TCP_C2H_TERM);
	assert_int_equal(buf[1], 0);
	assert_int_equal(buf[2], 24);
	assert_int_equal(buf[3], 0);
	assert_int_equal(get_le32(buf + 4), 24 + 72);
	assert_int_equal(buf[8], NVME_TCP_FES_INVALID_PDU_HDR);
	assert_int_equal(buf[9], 0);
	assert_int_equal(get_le32(buf + 10), 2);
	for (int i = 14; i < 24; i++)
		assert_int_equal(buf[i], 0);
	assert_memory_equal(buf + 24, bad, 72);
	assert_int_equal(buf[24 + 72], 0xaa);
	memcpy(&h, buf, sizeof(h));
	expect_ok(h, NVME_TCP_ROLE_HOST, true, &both_digests, 8192, 24, 72);

	/* The copy is capped at 128 bytes: PLEN 152, nothing written past it. */
	memset(buf, 0xaa, sizeof(buf));
	n = nvme_tcp_build_term(buf, NVME_TCP_H2C_TERM, NVME_TCP_FES_DATA_LIMIT_EXCEEDED, 0x01020304, bad,
				200);
	assert_int_equal(n, 152);
	assert_int_equal(get_le32(buf + 4), 152);
	assert_int_equal(get_le32(buf + 10), 0x01020304);
	assert_int_equal(buf[8], NVME_TCP_FES_DATA_LIMIT_EXCEEDED);
	assert_memory_equal(buf + 24, bad, 128);
	assert_int_equal(buf[152], 0xaa);
	memcpy(&h, buf, sizeof(h));
	expect_ok(h, NVME_TCP_ROLE_TARGET, false, &no_digest, 8192, 24, 128);

	/* Without an offending header. */
	n = nvme_tcp_build_term(buf, NVME_TCP_C2H_TERM, NVME_TCP_FES_PDU_SEQ_ERR, 0, NULL, 0);
	assert_int_equal(n, 24);
	assert_int_equal(get_le32(buf + 4), 24);
	assert_int_equal(buf[8], NVME_TCP_FES_PDU_SEQ_ERR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_crc32c_incremental_and_iov),
		cmocka_unit_test(test_static_layout),
		cmocka_unit_test(test_hlen_and_hdgst_table),
		cmocka_unit_test(test_check_type_per_role),
		cmocka_unit_test(test_check_sequence),
		cmocka_unit_test(test_check_hlen),
		cmocka_unit_test(test_check_ic_fields),
		cmocka_unit_test(test_check_term_sizes),
		cmocka_unit_test(test_check_cmd_without_data),
		cmocka_unit_test(test_check_header_digest_flag),
		cmocka_unit_test(test_check_data_pdus),
		cmocka_unit_test(test_check_data_limits),
		cmocka_unit_test(test_check_cpda_alignment),
		cmocka_unit_test(test_header_digest),
		cmocka_unit_test(test_icreq_icresp_roundtrip),
		cmocka_unit_test(test_accept_icreq_rejects),
		cmocka_unit_test(test_check_icresp_rejects),
		cmocka_unit_test(test_fill_hdr_basic),
		cmocka_unit_test(test_fill_hdr_padding),
		cmocka_unit_test(test_fill_hdr_accepted_by_peer),
		cmocka_unit_test(test_build_term),
	};

	return cmocka_run_group_tests_name("proto_tcp", tests, NULL, NULL);
}
