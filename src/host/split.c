/* SPDX-License-Identifier: MIT */
/* Transfer-size arithmetic: MDTS, in-capsule limits and splitting. */
#include "host_internal.h"

uint32_t host_max_blocks(uint32_t max_xfer, uint32_t lba_shift)
{
	uint32_t blocks = max_xfer >> lba_shift;

	if (blocks > HOST_MAX_NLB)
		blocks = HOST_MAX_NLB;
	return blocks ? blocks : 1;
}

uint32_t host_split_count(uint32_t nlb, uint32_t max_blocks)
{
	return (uint32_t)(((uint64_t)nlb + max_blocks - 1) / max_blocks);
}

uint32_t host_mdts_bytes(uint8_t mdts, uint8_t mpsmin, uint32_t cap)
{
	uint64_t page = 4096ull << mpsmin;

	/* 0 means no limit; anything ≥ 2^32 is as good as no limit for us. */
	if (mdts == 0 || mdts >= 32)
		return cap;
	uint64_t bytes = page << mdts;

	return bytes > cap ? cap : (uint32_t)bytes;
}

uint32_t host_incapsule_bytes(uint32_t ioccsz)
{
	uint64_t bytes = (uint64_t)ioccsz * 16;

	if (bytes <= sizeof(struct nvme_sqe))
		return 0;
	bytes -= sizeof(struct nvme_sqe);
	return bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
}
