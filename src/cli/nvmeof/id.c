/* SPDX-License-Identifier: MIT */
/* `nvmeof id-ctrl`, `id-ns` and `list-subsys`. */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "proto/endian.h"
#include "proto/nvme_spec.h"

static void id_usage(FILE *f)
{
	fprintf(f, "usage: nvmeof id-ctrl|id-ns|list-subsys -t tcp -a ADDR -s PORT -n NQN [-N NSID] [--output-format=json]\n");
	cli_conn_usage(f, true);
}

struct id_args {
	uint32_t nsid;
};

static int id_opt(void *ctx, int opt, const char *arg)
{
	struct id_args *a = ctx;
	uint64_t v;

	if (opt == 'N') {
		if (cli_parse_u64(arg, &v) || v == 0 || v >= NVME_NSID_ALL) {
			fprintf(stderr, "invalid --namespace-id '%s'\n", arg);
			return -EINVAL;
		}
		a->nsid = (uint32_t)v;
		return 0;
	}
	return -EINVAL;
}

static const struct option id_options[] = {
	{ "namespace-id", required_argument, NULL, 'N' },
	{ 0 },
};

/* Parse, connect (admin queue only). Returns 0, 1 (help) or -errno. */
static int id_connect(int argc, char **argv, struct cli_conn *c, struct id_args *a,
		      struct nvmeof_ctrl **ctrl)
{
	int rc;

	cli_conn_init(c, NVMEOF_IO_PORT);
	a->nsid = 1;
	rc = cli_parse(argc, argv, c, id_options, "N:", true, id_opt, a, id_usage);
	if (rc)
		return rc;
	if (cli_conn_finish(c, argv[0], true))
		return -EINVAL;
	c->opts.nr_io_queues = 0;
	return cli_connect(c, ctrl) ? -EIO : 0;
}

static void str_field(char *out, const char *in, size_t n)
{
	memcpy(out, in, n);
	out[n] = '\0';
	while (n && (out[n - 1] == ' ' || out[n - 1] == '\0'))
		out[--n] = '\0';
}

int cmd_id_ctrl(int argc, char **argv)
{
	struct cli_conn c;
	struct id_args a;
	struct nvmeof_ctrl *ctrl;
	struct nvme_id_ctrl *id;
	struct nvmeof_cpl cpl;
	int rc = id_connect(argc, argv, &c, &a, &ctrl);

	if (rc)
		return rc > 0 ? 0 : (rc == -EIO ? 1 : 2);
	id = aligned_alloc(4096, sizeof(*id));
	if (!id) {
		nvmeof_ctrl_disconnect(ctrl);
		return 1;
	}
	rc = nvmeof_identify(ctrl, NVME_ID_CNS_CTRL, 0, id, &cpl);
	if (rc) {
		fprintf(stderr, "identify controller failed: %s (status 0x%x)\n", strerror(-rc), cpl.status);
		goto out;
	}
	char sn[21], mn[41], fr[9], subnqn[257];

	str_field(sn, id->sn, 20);
	str_field(mn, id->mn, 40);
	str_field(fr, id->fr, 8);
	str_field(subnqn, id->subnqn, 256);
	if (c.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "vid", json_object_new_int(le16(id->vid)));
		json_object_object_add(o, "ssvid", json_object_new_int(le16(id->ssvid)));
		json_object_object_add(o, "sn", json_object_new_string(sn));
		json_object_object_add(o, "mn", json_object_new_string(mn));
		json_object_object_add(o, "fr", json_object_new_string(fr));
		json_object_object_add(o, "cmic", json_object_new_int(id->cmic));
		json_object_object_add(o, "mdts", json_object_new_int(id->mdts));
		json_object_object_add(o, "cntlid", json_object_new_int(le16(id->cntlid)));
		json_object_object_add(o, "ver", json_object_new_int64(le32(id->ver)));
		json_object_object_add(o, "oaes", json_object_new_int64(le32(id->oaes)));
		json_object_object_add(o, "ctratt", json_object_new_int64(le32(id->ctratt)));
		json_object_object_add(o, "cntrltype", json_object_new_int(id->cntrltype));
		json_object_object_add(o, "oacs", json_object_new_int(le16(id->oacs)));
		json_object_object_add(o, "lpa", json_object_new_int(id->lpa));
		json_object_object_add(o, "kas", json_object_new_int(le16(id->kas)));
		json_object_object_add(o, "sqes", json_object_new_int(id->sqes));
		json_object_object_add(o, "cqes", json_object_new_int(id->cqes));
		json_object_object_add(o, "maxcmd", json_object_new_int(le16(id->maxcmd)));
		json_object_object_add(o, "nn", json_object_new_int64(le32(id->nn)));
		json_object_object_add(o, "oncs", json_object_new_int(le16(id->oncs)));
		json_object_object_add(o, "vwc", json_object_new_int(id->vwc));
		json_object_object_add(o, "sgls", json_object_new_int64(le32(id->sgls)));
		json_object_object_add(o, "mnan", json_object_new_int64(le32(id->mnan)));
		json_object_object_add(o, "subnqn", json_object_new_string(subnqn));
		json_object_object_add(o, "ioccsz", json_object_new_int64(le32(id->ioccsz)));
		json_object_object_add(o, "iorcsz", json_object_new_int64(le32(id->iorcsz)));
		json_object_object_add(o, "icdoff", json_object_new_int(le16(id->icdoff)));
		json_object_object_add(o, "fcatt", json_object_new_int(id->fcatt));
		json_object_object_add(o, "msdbd", json_object_new_int(id->msdbd));
		json_object_object_add(o, "ofcs", json_object_new_int(le16(id->ofcs)));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
		json_object_put(o);
	} else {
		printf("NVME Identify Controller:\n");
		printf("vid       : %#x\n", le16(id->vid));
		printf("ssvid     : %#x\n", le16(id->ssvid));
		printf("sn        : %s\n", sn);
		printf("mn        : %s\n", mn);
		printf("fr        : %s\n", fr);
		printf("rab       : %u\n", id->rab);
		printf("ieee      : %02x%02x%02x\n", id->ieee[2], id->ieee[1], id->ieee[0]);
		printf("cmic      : %#x\n", id->cmic);
		printf("mdts      : %u\n", id->mdts);
		printf("cntlid    : %#x\n", le16(id->cntlid));
		printf("ver       : %#x\n", le32(id->ver));
		printf("rtd3r     : %#x\n", le32(id->rtd3r));
		printf("rtd3e     : %#x\n", le32(id->rtd3e));
		printf("oaes      : %#x\n", le32(id->oaes));
		printf("ctratt    : %#x\n", le32(id->ctratt));
		printf("cntrltype : %u\n", id->cntrltype);
		printf("oacs      : %#x\n", le16(id->oacs));
		printf("acl       : %u\n", id->acl);
		printf("aerl      : %u\n", id->aerl);
		printf("frmw      : %#x\n", id->frmw);
		printf("lpa       : %#x\n", id->lpa);
		printf("elpe      : %u\n", id->elpe);
		printf("npss      : %u\n", id->npss);
		printf("kas       : %u\n", le16(id->kas));
		printf("anatt     : %u\n", id->anatt);
		printf("anacap    : %u\n", id->anacap);
		printf("anagrpmax : %u\n", le32(id->anagrpmax));
		printf("nanagrpid : %u\n", le32(id->nanagrpid));
		printf("sqes      : %#x\n", id->sqes);
		printf("cqes      : %#x\n", id->cqes);
		printf("maxcmd    : %u\n", le16(id->maxcmd));
		printf("nn        : %u\n", le32(id->nn));
		printf("oncs      : %#x\n", le16(id->oncs));
		printf("fuses     : %#x\n", le16(id->fuses));
		printf("vwc       : %#x\n", id->vwc);
		printf("awun      : %u\n", le16(id->awun));
		printf("awupf     : %u\n", le16(id->awupf));
		printf("sgls      : %#x\n", le32(id->sgls));
		printf("mnan      : %u\n", le32(id->mnan));
		printf("subnqn    : %s\n", subnqn);
		printf("ioccsz    : %u\n", le32(id->ioccsz));
		printf("iorcsz    : %u\n", le32(id->iorcsz));
		printf("icdoff    : %u\n", le16(id->icdoff));
		printf("fcatt     : %#x\n", id->fcatt);
		printf("msdbd     : %u\n", id->msdbd);
		printf("ofcs      : %u\n", le16(id->ofcs));
	}
out:
	free(id);
	nvmeof_ctrl_disconnect(ctrl);
	return rc ? 1 : 0;
}

int cmd_id_ns(int argc, char **argv)
{
	struct cli_conn c;
	struct id_args a;
	struct nvmeof_ctrl *ctrl;
	struct nvme_id_ns *ns;
	struct nvmeof_cpl cpl;
	int rc = id_connect(argc, argv, &c, &a, &ctrl);

	if (rc)
		return rc > 0 ? 0 : (rc == -EIO ? 1 : 2);
	ns = aligned_alloc(4096, sizeof(*ns));
	if (!ns) {
		nvmeof_ctrl_disconnect(ctrl);
		return 1;
	}
	rc = nvmeof_identify(ctrl, NVME_ID_CNS_NS, a.nsid, ns, &cpl);
	if (rc) {
		fprintf(stderr, "identify namespace %u failed: %s (status 0x%x)\n", a.nsid, strerror(-rc),
			cpl.status);
		goto out;
	}
	unsigned int nlbaf = ns->nlbaf < 64 ? ns->nlbaf : 63;
	unsigned int fmt = ns->flbas & 0xf;

	if (c.json) {
		json_object *o = json_object_new_object();
		json_object *lbafs = json_object_new_array();

		json_object_object_add(o, "nsid", json_object_new_int64(a.nsid));
		json_object_object_add(o, "nsze", json_object_new_uint64(le64(ns->nsze)));
		json_object_object_add(o, "ncap", json_object_new_uint64(le64(ns->ncap)));
		json_object_object_add(o, "nuse", json_object_new_uint64(le64(ns->nuse)));
		json_object_object_add(o, "nsfeat", json_object_new_int(ns->nsfeat));
		json_object_object_add(o, "nlbaf", json_object_new_int(ns->nlbaf));
		json_object_object_add(o, "flbas", json_object_new_int(ns->flbas));
		json_object_object_add(o, "nmic", json_object_new_int(ns->nmic));
		json_object_object_add(o, "dlfeat", json_object_new_int(ns->dlfeat));
		for (unsigned int i = 0; i <= nlbaf; i++) {
			json_object *l = json_object_new_object();

			json_object_object_add(l, "ms", json_object_new_int(le16(ns->lbaf[i].ms)));
			json_object_object_add(l, "ds", json_object_new_int(ns->lbaf[i].lbads));
			json_object_object_add(l, "rp", json_object_new_int(ns->lbaf[i].rp));
			json_object_array_add(lbafs, l);
		}
		json_object_object_add(o, "lbafs", lbafs);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
		json_object_put(o);
	} else {
		printf("NVME Identify Namespace %u:\n", a.nsid);
		printf("nsze    : %#" PRIx64 "\n", le64(ns->nsze));
		printf("ncap    : %#" PRIx64 "\n", le64(ns->ncap));
		printf("nuse    : %#" PRIx64 "\n", le64(ns->nuse));
		printf("nsfeat  : %#x\n", ns->nsfeat);
		printf("nlbaf   : %u\n", ns->nlbaf);
		printf("flbas   : %#x\n", ns->flbas);
		printf("mc      : %#x\n", ns->mc);
		printf("dpc     : %#x\n", ns->dpc);
		printf("dps     : %#x\n", ns->dps);
		printf("nmic    : %#x\n", ns->nmic);
		printf("dlfeat  : %u\n", ns->dlfeat);
		printf("noiob   : %u\n", le16(ns->noiob));
		printf("anagrpid: %u\n", le32(ns->anagrpid));
		printf("nguid   : ");
		for (int i = 0; i < 16; i++)
			printf("%02x", ns->nguid[i]);
		printf("\neui64   : ");
		for (int i = 0; i < 8; i++)
			printf("%02x", ns->eui64[i]);
		printf("\n");
		for (unsigned int i = 0; i <= nlbaf; i++)
			printf("lbaf %2u : ms:%-3u lbads:%-2u rp:%#x %s\n", i, le16(ns->lbaf[i].ms),
			       ns->lbaf[i].lbads, ns->lbaf[i].rp, i == fmt ? "(in use)" : "");
	}
	if (!rc && le64(ns->ncap) == 0) {
		/* Inactive NSIDs identify as all zeroes; say so rather than pretend. */
		fprintf(stderr, "namespace %u is not active\n", a.nsid);
		rc = -ENODEV;
	}
out:
	free(ns);
	nvmeof_ctrl_disconnect(ctrl);
	return rc ? 1 : 0;
}

int cmd_list_subsys(int argc, char **argv)
{
	struct cli_conn c;
	struct id_args a;
	struct nvmeof_ctrl *ctrl;
	struct nvmeof_ctrl_info info;
	uint32_t *list;
	struct nvmeof_cpl cpl;
	char hostid[37];
	int rc;

	cli_conn_init(&c, NVMEOF_IO_PORT);
	rc = cli_parse(argc, argv, &c, id_options, "N:", true, id_opt, &a, id_usage);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (cli_conn_finish(&c, argv[0], true))
		return 2;
	if (cli_connect(&c, &ctrl))
		return 1;
	nvmeof_ctrl_get_info(ctrl, &info);
	nvmeof_uuid_format(c.opts.hostid, hostid);
	list = aligned_alloc(4096, 4096);
	if (!list) {
		nvmeof_ctrl_disconnect(ctrl);
		return 1;
	}
	rc = nvmeof_identify(ctrl, NVME_ID_CNS_NS_ACTIVE_LIST, 0, list, &cpl);
	if (rc)
		memset(list, 0, 4096);

	json_object *root = NULL, *nss = NULL;

	if (c.json) {
		root = json_object_new_object();
		json_object_object_add(root, "subnqn", json_object_new_string(c.opts.subnqn));
		json_object_object_add(root, "hostnqn", json_object_new_string(c.opts.hostnqn));
		json_object_object_add(root, "hostid", json_object_new_string(hostid));
		json_object_object_add(root, "transport", json_object_new_string("tcp"));
		json_object_object_add(root, "traddr", json_object_new_string(c.opts.traddr));
		json_object_object_add(root, "trsvcid", json_object_new_string(c.opts.trsvcid));
		json_object_object_add(root, "state", json_object_new_string(nvmeof_ctrl_state_name(info.state)));
		json_object_object_add(root, "cntlid", json_object_new_int(info.cntlid));
		json_object_object_add(root, "nr_io_queues", json_object_new_int((int)info.nr_io_queues));
		json_object_object_add(root, "queue_size", json_object_new_int((int)info.queue_size));
		json_object_object_add(root, "max_xfer", json_object_new_int64(info.max_xfer));
		json_object_object_add(root, "incapsule_max", json_object_new_int64(info.incapsule_max));
		json_object_object_add(root, "maxh2cdata", json_object_new_int64(info.maxh2cdata));
		nss = json_object_new_array();
	} else {
		printf("nvme-subsys NQN=%s\n", c.opts.subnqn);
		printf("            hostnqn=%s\n", c.opts.hostnqn);
		printf("            hostid=%s\n", hostid);
		printf("\\\n +- tcp traddr=%s,trsvcid=%s %s cntlid=%u io-queues=%u queue-size=%u max-xfer=%u in-capsule=%u maxh2cdata=%u\n",
		       c.opts.traddr, c.opts.trsvcid, nvmeof_ctrl_state_name(info.state), info.cntlid,
		       info.nr_io_queues, info.queue_size, info.max_xfer, info.incapsule_max, info.maxh2cdata);
	}
	for (int i = 0; i < 1024 && list[i]; i++) {
		struct nvmeof_ns_info ni;
		uint32_t nsid = le32(list[i]);

		if (nvmeof_ns_get_info(ctrl, nsid, &ni))
			continue;
		if (nss) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "nsid", json_object_new_int64(nsid));
			json_object_object_add(o, "nsze", json_object_new_uint64(ni.nsze));
			json_object_object_add(o, "lba_size", json_object_new_int64(ni.lba_size));
			json_object_array_add(nss, o);
		} else {
			printf("    +- ns %u: %" PRIu64 " blocks of %u bytes (%.1f MiB)\n", nsid, ni.nsze,
			       ni.lba_size, (double)ni.nsze * ni.lba_size / 1048576.0);
		}
	}
	if (root) {
		json_object_object_add(root, "namespaces", nss);
		printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
		json_object_put(root);
	}
	free(list);
	nvmeof_ctrl_disconnect(ctrl);
	return 0;
}
