/* SPDX-License-Identifier: MIT */
/* `nvmeof discover`: connect to a discovery controller and print its log. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "proto/endian.h"
#include "proto/nvme_spec.h"

#define DISC_CHUNK 4096u
#define DISC_MAX_RECORDS 4096u
#define DISC_RETRIES 10

static void discover_usage(FILE *f)
{
	fprintf(f, "usage: nvmeof discover -t tcp -a ADDR [-s PORT (default 8009)] [--output-format=json]\n");
	cli_conn_usage(f, true);
}

/* Read [off, off+len) of the discovery log in LPO-addressed chunks. */
static int read_log(struct nvmeof_ctrl *ctrl, uint8_t *buf, uint64_t off, uint64_t len)
{
	while (len) {
		uint32_t n = len > DISC_CHUNK ? DISC_CHUNK : (uint32_t)len;
		struct nvmeof_cpl cpl;
		int rc = nvmeof_get_log_page(ctrl, NVME_LOG_DISCOVERY, 0, off, buf + off, n, &cpl);

		if (rc) {
			if (rc == -EREMOTEIO)
				fprintf(stderr, "Get Log Page (discovery) failed: status 0x%x\n", cpl.status);
			return rc;
		}
		off += n;
		len -= n;
	}
	return 0;
}

/* Fetch a consistent copy: header, entries, header again (GENCTR must match). */
int fetch_discovery_log(struct nvmeof_ctrl *ctrl, uint8_t **out, uint64_t *numrec_out)
{
	for (int attempt = 0; attempt < DISC_RETRIES; attempt++) {
		struct nvmf_disc_log_hdr hdr;
		int rc = read_log(ctrl, (uint8_t *)&hdr, 0, sizeof(hdr));

		if (rc)
			return rc;
		uint64_t numrec = le64(hdr.numrec);

		if (numrec > DISC_MAX_RECORDS) {
			fprintf(stderr, "discovery log claims %llu records; reading the first %u\n",
				(unsigned long long)numrec, DISC_MAX_RECORDS);
			numrec = DISC_MAX_RECORDS;
		}
		uint64_t size = sizeof(hdr) + numrec * sizeof(struct nvmf_disc_log_entry);
		uint8_t *buf = calloc(1, size);

		if (!buf)
			return -ENOMEM;
		rc = read_log(ctrl, buf, 0, size);
		if (rc) {
			free(buf);
			return rc;
		}
		const struct nvmf_disc_log_hdr *h2 = (const struct nvmf_disc_log_hdr *)buf;

		if (h2->genctr == hdr.genctr && le64(h2->numrec) >= numrec) {
			*out = buf;
			*numrec_out = numrec;
			return 0;
		}
		free(buf);
	}
	fprintf(stderr, "discovery log kept changing while being read\n");
	return -EAGAIN;
}

int cmd_discover(int argc, char **argv)
{
	struct cli_conn c;
	struct nvmeof_ctrl *ctrl;
	uint8_t *log = NULL;
	uint64_t numrec = 0;
	int rc;

	cli_conn_init(&c, NVMEOF_DISC_PORT);
	rc = cli_parse(argc, argv, &c, NULL, NULL, true, NULL, NULL, discover_usage);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (!c.have_nqn)
		c.opts.subnqn = NVME_DISC_NQN;
	if (cli_conn_finish(&c, "discover", false))
		return 2;
	/* One-shot discovery: no I/O queues, no keep-alive (as nvme-cli). */
	c.opts.nr_io_queues = 0;
	c.opts.kato_ms = 0;
	if (cli_connect(&c, &ctrl))
		return 1;
	rc = fetch_discovery_log(ctrl, &log, &numrec);
	if (rc == 0) {
		if (c.json)
			disc_print_json(stdout, log, numrec);
		else
			disc_print_text(stdout, log, numrec);
	} else {
		fprintf(stderr, "discover: %s\n", strerror(-rc));
	}
	free(log);
	nvmeof_ctrl_disconnect(ctrl);
	return rc ? 1 : 0;
}
