/* SPDX-License-Identifier: MIT */
/* Discovery log page output in nvme-cli's text and JSON shapes. */
#include <inttypes.h>
#include <json-c/json.h>
#include <string.h>

#include "cli.h"
#include "proto/endian.h"
#include "proto/nvme_spec.h"

const char *disc_trtype_str(uint8_t t)
{
	switch (t) {
	case 1: return "rdma";
	case 2: return "fc";
	case NVMF_TRTYPE_TCP: return "tcp";
	case 0xfe: return "loop";
	default: return "unrecognized";
	}
}

const char *disc_adrfam_str(uint8_t a)
{
	switch (a) {
	case NVMF_ADRFAM_IPV4: return "ipv4";
	case NVMF_ADRFAM_IPV6: return "ipv6";
	case 3: return "infiniband";
	case 4: return "fibre-channel";
	case 0xfe: return "intra-host";
	default: return "unrecognized";
	}
}

const char *disc_subtype_str(uint8_t s)
{
	switch (s) {
	case NVMF_SUBTYPE_REFERRAL: return "discovery subsystem referral";
	case NVMF_SUBTYPE_NVME: return "nvme subsystem";
	case NVMF_SUBTYPE_CURRENT_DISC: return "current discovery subsystem";
	default: return "unrecognized";
	}
}

static void treq_str(uint8_t treq, char *buf, size_t len)
{
	static const char *const sec[] = { "not specified", "required", "not required", "reserved" };

	snprintf(buf, len, "%s%s", sec[treq & 3],
		 (treq & NVMF_TREQ_DISABLE_SQFLOW) ? ", sq flow control disable supported" : "");
}

static void eflags_str(uint16_t ef, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!ef) {
		snprintf(buf, len, "none");
		return;
	}
	if (ef & 2)
		snprintf(buf + strlen(buf), len - strlen(buf), "explicit discovery connections");
	if (ef & 1)
		snprintf(buf + strlen(buf), len - strlen(buf), "%sduplicate discovery information",
			 buf[0] ? ", " : "");
	if (ef & 4)
		snprintf(buf + strlen(buf), len - strlen(buf), "%sno cdc connectivity", buf[0] ? ", " : "");
}

static const char *sectype_str(uint8_t s)
{
	switch (s) {
	case 0: return "none";
	case 1: return "tls";
	case 2: return "tls13";
	default: return "unrecognized";
	}
}

/* Copy a fixed-width, space or NUL padded field into a C string. */
static void field_str(const char *src, size_t width, char *out)
{
	size_t n = strnlen(src, width);

	while (n && (src[n - 1] == ' '))
		n--;
	memcpy(out, src, n);
	out[n] = '\0';
}

struct disc_strings {
	char trsvcid[33];
	char subnqn[257];
	char traddr[257];
	char treq[80];
	char eflags[120];
};

static void entry_strings(const struct nvmf_disc_log_entry *e, struct disc_strings *s)
{
	field_str(e->trsvcid, sizeof(e->trsvcid), s->trsvcid);
	field_str(e->subnqn, sizeof(e->subnqn), s->subnqn);
	field_str(e->traddr, sizeof(e->traddr), s->traddr);
	treq_str(e->treq, s->treq, sizeof(s->treq));
	eflags_str(le16(e->eflags), s->eflags, sizeof(s->eflags));
}

void disc_print_text(FILE *f, const void *log, uint64_t numrec)
{
	const struct nvmf_disc_log_hdr *h = log;
	const struct nvmf_disc_log_entry *ents = (const struct nvmf_disc_log_entry *)(h + 1);

	fprintf(f, "\nDiscovery Log Number of Records %" PRIu64 ", Generation counter %" PRIu64 "\n",
		numrec, le64(h->genctr));
	for (uint64_t i = 0; i < numrec; i++) {
		const struct nvmf_disc_log_entry *e = &ents[i];
		struct disc_strings s;

		entry_strings(e, &s);
		fprintf(f, "=====Discovery Log Entry %" PRIu64 "======\n", i);
		fprintf(f, "trtype:  %s\n", disc_trtype_str(e->trtype));
		fprintf(f, "adrfam:  %s\n", disc_adrfam_str(e->adrfam));
		fprintf(f, "subtype: %s\n", disc_subtype_str(e->subtype));
		fprintf(f, "treq:    %s\n", s.treq);
		fprintf(f, "portid:  %u\n", le16(e->portid));
		fprintf(f, "trsvcid: %s\n", s.trsvcid);
		fprintf(f, "subnqn:  %s\n", s.subnqn);
		fprintf(f, "traddr:  %s\n", s.traddr);
		fprintf(f, "eflags:  %s\n", s.eflags);
		if (e->trtype == NVMF_TRTYPE_TCP)
			fprintf(f, "sectype: %s\n", sectype_str(e->tsas[0]));
	}
}

void disc_print_json(FILE *f, const void *log, uint64_t numrec)
{
	const struct nvmf_disc_log_hdr *h = log;
	const struct nvmf_disc_log_entry *ents = (const struct nvmf_disc_log_entry *)(h + 1);
	json_object *root = json_object_new_object();
	json_object *recs = json_object_new_array();

	json_object_object_add(root, "genctr", json_object_new_uint64(le64(h->genctr)));
	for (uint64_t i = 0; i < numrec; i++) {
		const struct nvmf_disc_log_entry *e = &ents[i];
		json_object *r = json_object_new_object();
		struct disc_strings s;

		entry_strings(e, &s);
		json_object_object_add(r, "trtype", json_object_new_string(disc_trtype_str(e->trtype)));
		json_object_object_add(r, "adrfam", json_object_new_string(disc_adrfam_str(e->adrfam)));
		json_object_object_add(r, "subtype", json_object_new_string(disc_subtype_str(e->subtype)));
		json_object_object_add(r, "treq", json_object_new_string(s.treq));
		json_object_object_add(r, "portid", json_object_new_int(le16(e->portid)));
		json_object_object_add(r, "trsvcid", json_object_new_string(s.trsvcid));
		json_object_object_add(r, "subnqn", json_object_new_string(s.subnqn));
		json_object_object_add(r, "traddr", json_object_new_string(s.traddr));
		json_object_object_add(r, "eflags", json_object_new_string(s.eflags));
		if (e->trtype == NVMF_TRTYPE_TCP)
			json_object_object_add(r, "sectype", json_object_new_string(sectype_str(e->tsas[0])));
		json_object_array_add(recs, r);
	}
	json_object_object_add(root, "records", recs);
	fprintf(f, "%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	json_object_put(root);
}
