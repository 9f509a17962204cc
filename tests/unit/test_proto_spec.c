/* SPDX-License-Identifier: MIT */
/*
 * NVMe wire helpers (src/proto/nvme_spec.h, endian.h): status encoding as the
 * CQE carries it, little-endian accessors on unaligned buffers, and the
 * byte positions of the fields hosts read most.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/endian.h"
#include "proto/nvme_spec.h"

static void test_status_encoding(void **state)
{
	uint16_t s;

	(void)state;
	/* Connect Invalid Host: SCT 1, SC 84h; Linux prints it as 0x4184 with DNR. */
	s = NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_HOST) | NVME_STATUS_DNR;
	assert_int_equal(s, 0x4184);
	assert_int_equal(NVME_STATUS_SCT(s), 1);
	assert_int_equal(NVME_STATUS_SC(s), 0x84);
	/* The CQE status field is shifted left by one (bit 0 = phase tag). */
	assert_int_equal(NVME_CQE_STATUS(s), 0x8308);
	assert_int_equal(NVME_STATUS_FROM_CQE(NVME_CQE_STATUS(s)), s);
	assert_int_equal(NVME_CQE_STATUS(s) & 1, 0);

	/* Every status round-trips through the CQE field, phase bit clear. */
	for (uint32_t v = 0; v <= 0x7fff; v++) {
		uint16_t st = (uint16_t)v;

		assert_int_equal(NVME_STATUS_FROM_CQE(NVME_CQE_STATUS(st)), st);
		assert_int_equal(NVME_CQE_STATUS(st) & 1, 0);
	}

	s = NVME_STATUS(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED);
	assert_int_equal(s, 0x285);
	assert_int_equal(NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE) | NVME_STATUS_DNR, 0x4080);
	assert_int_equal(NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_AUTH_REQUIRED), 0x191);
}

static void test_endian_accessors(void **state)
{
	uint8_t buf[16];

	(void)state;
	memset(buf, 0, sizeof(buf));
	/* Unaligned store/load at every offset, least significant byte first. */
	for (int off = 0; off < 8; off++) {
		memset(buf, 0xee, sizeof(buf));
		put_le32(buf + off, 0x11223344);
		assert_int_equal(buf[off], 0x44);
		assert_int_equal(buf[off + 1], 0x33);
		assert_int_equal(buf[off + 2], 0x22);
		assert_int_equal(buf[off + 3], 0x11);
		assert_int_equal(buf[off + 4], 0xee);
		assert_int_equal(get_le32(buf + off), 0x11223344);

		memset(buf, 0, sizeof(buf));
		put_le64(buf + off, 0x0102030405060708ull);
		for (int i = 0; i < 8; i++)
			assert_int_equal(buf[off + i], 8 - i);
	}
	assert_int_equal(le16(to_le16(0xabcd)), 0xabcd);
	assert_int_equal(le32(to_le32(0xdeadbeef)), 0xdeadbeef);
	assert_int_equal(le64(to_le64(0x0123456789abcdefull)), 0x0123456789abcdefull);
}

static void test_sqe_layout(void **state)
{
	struct nvme_sqe sqe;
	struct nvmf_connect_sqe *c = (struct nvmf_connect_sqe *)&sqe;
	struct nvmf_property_sqe *p = (struct nvmf_property_sqe *)&sqe;
	uint8_t *raw = (uint8_t *)&sqe;

	(void)state;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = NVME_FABRICS_COMMAND;
	sqe.flags = NVME_SQE_FLAGS_SGL;
	sqe.cid = to_le16(0xa123);
	sqe.sgl.length = to_le32(1024);
	sqe.sgl.type = NVME_SGL_DATA_BLOCK_OFFSET;
	c->fctype = NVMF_FCTYPE_CONNECT;
	c->qid = to_le16(2);
	c->sqsize = to_le16(127);
	c->cattr = 4;
	c->kato = to_le32(5000);

	assert_int_equal(raw[0], 0x7f);
	assert_int_equal(raw[1], 0x40);
	assert_int_equal(raw[2], 0x23);
	assert_int_equal(raw[3], 0xa1);
	assert_int_equal(raw[4], 0x01); /* FCTYPE */
	assert_int_equal(get_le32(raw + 24 + 8), 1024); /* SGL1 length */
	assert_int_equal(raw[24 + 15], 0x01); /* SGL1 type */
	assert_int_equal(raw[42], 2); /* QID */
	assert_int_equal(raw[44], 127); /* SQSIZE */
	assert_int_equal(raw[46], 4); /* CATTR */
	assert_int_equal(get_le32(raw + 48), 5000); /* KATO */

	memset(&sqe, 0, sizeof(sqe));
	p->fctype = NVMF_FCTYPE_PROPERTY_GET;
	p->attrib = 1;
	p->offset = to_le32(NVME_REG_CSTS);
	p->value = to_le64(0x1122334455667788ull);
	assert_int_equal(raw[40], 1);
	assert_int_equal(get_le32(raw + 44), 0x1c);
	assert_int_equal(get_le32(raw + 48), 0x55667788);
	assert_int_equal(get_le32(raw + 52), 0x11223344);
	/* cdw10..15 overlay */
	assert_int_equal(offsetof(struct nvme_sqe, cdw10), 40);
	assert_int_equal(offsetof(struct nvme_sqe, cdw12), 48);
	assert_int_equal(offsetof(struct nvme_sqe, cdw15), 60);
}

static void test_cqe_and_data_layouts(void **state)
{
	struct nvme_cqe cqe;
	uint8_t *raw = (uint8_t *)&cqe;

	(void)state;
	memset(&cqe, 0, sizeof(cqe));
	cqe.dw0 = to_le32(0x00010001);
	cqe.sqhd = to_le16(5);
	cqe.sqid = to_le16(1);
	cqe.cid = to_le16(0xbeef);
	cqe.status = to_le16(NVME_CQE_STATUS(NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD)));
	assert_int_equal(get_le32(raw), 0x00010001);
	assert_int_equal(raw[8], 5);
	assert_int_equal(raw[10], 1);
	assert_int_equal(raw[12], 0xef);
	assert_int_equal(raw[13], 0xbe);
	assert_int_equal(raw[14], 0x04);
	assert_int_equal(raw[15], 0x00);

	assert_int_equal(sizeof(struct nvmf_connect_data), 1024);
	assert_int_equal(offsetof(struct nvmf_connect_data, cntlid), 16);
	assert_int_equal(offsetof(struct nvmf_connect_data, subnqn), 256);
	assert_int_equal(offsetof(struct nvmf_connect_data, hostnqn), 512);
	assert_int_equal(sizeof(struct nvme_dsm_range), 16);
	assert_int_equal(offsetof(struct nvme_dsm_range, nlb), 4);
	assert_int_equal(offsetof(struct nvme_dsm_range, slba), 8);
	assert_int_equal(sizeof(struct nvme_id_ctrl), 4096);
	assert_int_equal(offsetof(struct nvme_id_ctrl, cntlid), 78);
	assert_int_equal(offsetof(struct nvme_id_ctrl, kas), 320);
	assert_int_equal(offsetof(struct nvme_id_ctrl, sgls), 536);
	assert_int_equal(offsetof(struct nvme_id_ctrl, subnqn), 768);
	assert_int_equal(offsetof(struct nvme_id_ctrl, ioccsz), 1792);
	assert_int_equal(offsetof(struct nvme_id_ctrl, icdoff), 1800);
	assert_int_equal(sizeof(struct nvme_id_ns), 4096);
	assert_int_equal(offsetof(struct nvme_id_ns, nguid), 104);
	assert_int_equal(offsetof(struct nvme_id_ns, lbaf), 128);
	assert_int_equal(sizeof(struct nvmf_disc_log_hdr), 1024);
	assert_int_equal(sizeof(struct nvmf_disc_log_entry), 1024);
	assert_int_equal(offsetof(struct nvmf_disc_log_entry, trsvcid), 32);
	assert_int_equal(offsetof(struct nvmf_disc_log_entry, subnqn), 256);
	assert_int_equal(offsetof(struct nvmf_disc_log_entry, traddr), 512);
	assert_int_equal(sizeof(struct nvme_smart_log), 512);
	assert_int_equal(sizeof(struct nvme_error_log_entry), 64);
}

static void test_register_fields(void **state)
{
	/* CC as the Linux host writes it: EN, IOSQES 6, IOCQES 4. */
	uint32_t cc = 0x00460001;

	(void)state;
	assert_true(cc & NVME_CC_EN);
	assert_int_equal(NVME_CC_IOSQES(cc), 6);
	assert_int_equal(NVME_CC_IOCQES(cc), 4);
	assert_int_equal(NVME_CC_MPS(cc), 0);
	assert_int_equal(NVME_CC_CSS(cc), 0);
	assert_int_equal(NVME_CC_SHN(cc | (1u << 14)), 1);
	assert_int_equal(NVME_CC_AMS(cc), 0);
	assert_int_equal(NVME_VS(1, 3, 0), 0x10300);
	assert_int_equal(NVME_VS(2, 0, 0), 0x20000);
	assert_int_equal(NVME_CSTS_SHST_CMPLT, 0x8);
	assert_string_equal(NVME_DISC_NQN, "nqn.2014-08.org.nvmexpress.discovery");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_encoding),
		cmocka_unit_test(test_endian_accessors),
		cmocka_unit_test(test_sqe_layout),
		cmocka_unit_test(test_cqe_and_data_layouts),
		cmocka_unit_test(test_register_fields),
	};

	return cmocka_run_group_tests_name("proto_spec", tests, NULL, NULL);
}
