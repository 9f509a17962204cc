/* SPDX-License-Identifier: MIT */
/*
 * Output of the nvme-cli style commands (get-log, smart-log, error-log,
 * get/set-feature, I/O status): the same texts, layouts and JSON keys as
 * nvme-cli 2.x, so that scripts written for it read ours. Pure functions
 * on buffers; tests include this file.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <string.h>

#include "cli.h"
#include "proto/endian.h"
#include "proto/nvme_spec.h"
#include "proto/nvme_status.h"

/* "Name: explanation" as nvme-cli prints a status (I/O and admin commands). */
const char *nvme_status_text(uint16_t status)
{
	static _Thread_local char buf[256];
	const char *name = nvme_status_name(status, false), *detail = nvme_status_detail(status, false);

	if (!name)
		return "Unknown";
	if (!detail)
		return name;
	snprintf(buf, sizeof(buf), "%s: %s", name, detail);
	return buf;
}

void nvme_print_status(FILE *f, uint16_t status)
{
	fprintf(f, "NVMe status: %s(%#x)\n", nvme_status_text(status), status);
}

int nvme_report_result(const char *what, int rc, const struct nvmeof_cpl *cpl)
{
	if (rc == -EREMOTEIO || (!rc && cpl->status)) {
		nvme_print_status(stderr, cpl->status);
		return 1;
	}
	if (rc || cpl->err) {
		fprintf(stderr, "%s: %s\n", what, strerror(-(rc ? rc : cpl->err)));
		return 1;
	}
	return 0;
}

const char *nvme_feature_name(uint8_t fid)
{
	static const char *const names[] = {
		[0x01] = "Arbitration",
		[0x02] = "Power Management",
		[0x03] = "LBA Range Type",
		[0x04] = "Temperature Threshold",
		[0x05] = "Error Recovery",
		[0x06] = "Volatile Write Cache",
		[0x07] = "Number of Queues",
		[0x08] = "Interrupt Coalescing",
		[0x09] = "Interrupt Vector Configuration",
		[0x0a] = "Write Atomicity Normal",
		[0x0b] = "Async Event Configuration",
		[0x0c] = "Autonomous Power State Transition",
		[0x0d] = "Host Memory Buffer",
		[0x0e] = "Timestamp",
		[0x0f] = "Keep Alive Timer",
		[0x10] = "Host Controlled Thermal Management",
		[0x11] = "Non-Operational Power State Config",
		[0x12] = "Read Recovery Level",
		[0x13] = "Predictable Latency Mode Config",
		[0x14] = "Predictable Latency Mode Window",
		[0x16] = "Host Behavior Support",
		[0x17] = "Sanitize",
		[0x18] = "Endurance Event Group Configuration",
		[0x19] = "I/O Command Set Profile",
		[0x1a] = "Spinup Control",
		[0x7d] = "Enhanced Controller Metadata",
		[0x7e] = "Controller Metadata",
		[0x7f] = "Namespace Metadata",
		[0x80] = "Software Progress",
		[0x81] = "Host Identifier",
		[0x82] = "Reservation Notification Mask",
		[0x83] = "Reservation Persistence",
		[0x84] = "Namespace Write Protection Config",
	};

	if (fid < sizeof(names) / sizeof(names[0]) && names[fid])
		return names[fid];
	return "Unknown";
}

const char *nvme_select_name(uint8_t sel)
{
	static const char *const names[] = { "Current", "Default", "Saved", "Supported capabilities" };

	return sel < 4 ? names[sel] : "Reserved";
}

void nvme_print_get_feature(FILE *f, uint8_t fid, uint8_t sel, uint32_t result)
{
	/* nvme-cli's "%#0*x": "0x" counts in the width, and a zero has no prefix. */
	fprintf(f, "get-feature:%#0*x (%s), %s value:%#0*x\n", fid ? 4 : 2, fid, nvme_feature_name(fid),
		nvme_select_name(sel), result ? 10 : 8, result);
}

void nvme_print_set_feature(FILE *f, uint8_t fid, uint32_t value, uint32_t cdw12, bool save)
{
	fprintf(f, "set-feature:%#0*x (%s), value:%#0*x, cdw12:%#0*x, save:%#x\n", fid ? 4 : 2, fid,
		nvme_feature_name(fid), value ? 10 : 8, value, cdw12 ? 10 : 8, cdw12, save ? 1u : 0u);
}

void nvme_hexdump(FILE *f, const uint8_t *buf, size_t len)
{
	enum { WIDTH = 16 };
	char ascii[WIDTH + 1] = { 0 };
	size_t i;

	fprintf(f, "     ");
	for (i = 0; i < WIDTH; i++)
		fprintf(f, "%3zx", i);
	for (i = 0; i < len; i++) {
		if (i % WIDTH == 0)
			fprintf(f, "\n%04zx:", i);
		fprintf(f, " %02x", buf[i]);
		ascii[i % WIDTH] = (buf[i] >= '!' && buf[i] <= '~') ? (char)buf[i] : '.';
		if ((i + 1) % WIDTH == 0) {
			fprintf(f, " \"%.*s\"", WIDTH, ascii);
			memset(ascii, 0, sizeof(ascii));
		}
	}
	if (i % WIDTH) {
		unsigned int missing = WIDTH - (unsigned int)(i % WIDTH);

		fprintf(f, " %*s \"%.*s\"", (int)(3 * missing), "", WIDTH, ascii);
	}
	fprintf(f, "\n");
}

static unsigned __int128 le128(const uint8_t b[16])
{
	unsigned __int128 v = 0;

	for (int i = 15; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}

/* Decimal digits of a 128-bit counter into out (≥ 40 bytes). */
static const char *u128_str(unsigned __int128 v, char out[40])
{
	char *p = out + 39;

	*p = '\0';
	do {
		*--p = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	return p;
}

/* A JSON number with every digit, even above 2^64 (json-c has no 128-bit integer). */
static json_object *json_u128(unsigned __int128 v)
{
	char digits[40];

	if (v <= UINT64_MAX)
		return json_object_new_uint64((uint64_t)v);
	return json_object_new_double_s((double)v, u128_str(v, digits));
}

static uint32_t smart_u32(const struct nvme_smart_log *s, size_t off)
{
	return get_le32((const uint8_t *)s + off);
}

/* Thermal management counters: bytes 216..231, reserved in our struct. */
#define SMART_THM_T1_TRANS 216
#define SMART_THM_T2_TRANS 220
#define SMART_THM_T1_TIME 224
#define SMART_THM_T2_TIME 228

static const struct {
	const char *text; /* nvme-cli's label, tab aligned as it prints it */
	const char *json;
	size_t off;
} smart_counters[] = {
	{ "data_units_read\t\t\t\t", "data_units_read", offsetof(struct nvme_smart_log, data_units_read) },
	{ "data_units_written\t\t\t", "data_units_written", offsetof(struct nvme_smart_log, data_units_written) },
	{ "host_read_commands\t\t\t", "host_read_commands", offsetof(struct nvme_smart_log, host_reads) },
	{ "host_write_commands\t\t\t", "host_write_commands", offsetof(struct nvme_smart_log, host_writes) },
	{ "controller_busy_time\t\t\t", "controller_busy_time", offsetof(struct nvme_smart_log, ctrl_busy_time) },
	{ "power_cycles\t\t\t\t", "power_cycles", offsetof(struct nvme_smart_log, power_cycles) },
	{ "power_on_hours\t\t\t\t", "power_on_hours", offsetof(struct nvme_smart_log, power_on_hours) },
	{ "unsafe_shutdowns\t\t\t", "unsafe_shutdowns", offsetof(struct nvme_smart_log, unsafe_shutdowns) },
	{ "media_errors\t\t\t\t", "media_errors", offsetof(struct nvme_smart_log, media_errors) },
	{ "num_err_log_entries\t\t\t", "num_err_log_entries", offsetof(struct nvme_smart_log, num_err_log_entries) },
};

void nvme_print_smart_text(FILE *f, const struct nvme_smart_log *s, const char *dev, uint32_t nsid)
{
	unsigned int kelvin = (unsigned int)s->temperature[0] | (unsigned int)s->temperature[1] << 8;
	char digits[40];

	fprintf(f, "Smart Log for NVME device:%s namespace-id:%x\n", dev, nsid);
	fprintf(f, "critical_warning\t\t\t: %#x\n", s->critical_warning);
	fprintf(f, "temperature\t\t\t\t: %ld°C (%u Kelvin)\n", (long)kelvin - 273, kelvin);
	fprintf(f, "available_spare\t\t\t\t: %u%%\n", s->avail_spare);
	fprintf(f, "available_spare_threshold\t\t: %u%%\n", s->spare_thresh);
	fprintf(f, "percentage_used\t\t\t\t: %u%%\n", s->percent_used);
	fprintf(f, "endurance group critical warning summary: %#x\n", s->endu_grp_crit_warn_sumry);
	for (size_t i = 0; i < sizeof(smart_counters) / sizeof(smart_counters[0]); i++)
		fprintf(f, "%s: %s\n", smart_counters[i].text,
			u128_str(le128((const uint8_t *)s + smart_counters[i].off), digits));
	fprintf(f, "Warning Temperature Time\t\t: %u\n", le32(s->warning_temp_time));
	fprintf(f, "Critical Composite Temperature Time\t: %u\n", le32(s->critical_comp_time));
	for (int i = 0; i < 8; i++) {
		unsigned int t = le16(s->temp_sensor[i]);

		if (t)
			fprintf(f, "Temperature Sensor %d           : %ld°C (%u Kelvin)\n", i + 1, (long)t - 273, t);
	}
	fprintf(f, "Thermal Management T1 Trans Count\t: %u\n", smart_u32(s, SMART_THM_T1_TRANS));
	fprintf(f, "Thermal Management T2 Trans Count\t: %u\n", smart_u32(s, SMART_THM_T2_TRANS));
	fprintf(f, "Thermal Management T1 Total Time\t: %u\n", smart_u32(s, SMART_THM_T1_TIME));
	fprintf(f, "Thermal Management T2 Total Time\t: %u\n", smart_u32(s, SMART_THM_T2_TIME));
}

void nvme_print_smart_json(FILE *f, const struct nvme_smart_log *s)
{
	json_object *o = json_object_new_object();
	unsigned int kelvin = (unsigned int)s->temperature[0] | (unsigned int)s->temperature[1] << 8;

	json_object_object_add(o, "critical_warning", json_object_new_int(s->critical_warning));
	json_object_object_add(o, "temperature", json_object_new_int((int)kelvin));
	json_object_object_add(o, "avail_spare", json_object_new_int(s->avail_spare));
	json_object_object_add(o, "spare_thresh", json_object_new_int(s->spare_thresh));
	json_object_object_add(o, "percent_used", json_object_new_int(s->percent_used));
	json_object_object_add(o, "endurance_grp_critical_warning_summary",
			       json_object_new_int(s->endu_grp_crit_warn_sumry));
	for (size_t i = 0; i < sizeof(smart_counters) / sizeof(smart_counters[0]); i++)
		json_object_object_add(o, smart_counters[i].json,
				       json_u128(le128((const uint8_t *)s + smart_counters[i].off)));
	json_object_object_add(o, "warning_temp_time", json_object_new_int64(le32(s->warning_temp_time)));
	json_object_object_add(o, "critical_comp_time", json_object_new_int64(le32(s->critical_comp_time)));
	for (int i = 0; i < 8; i++) {
		unsigned int t = le16(s->temp_sensor[i]);
		char key[32];

		if (!t)
			continue;
		snprintf(key, sizeof(key), "temperature_sensor_%d", i + 1);
		json_object_object_add(o, key, json_object_new_int((int)t));
	}
	json_object_object_add(o, "thm_temp1_trans_count", json_object_new_int64(smart_u32(s, SMART_THM_T1_TRANS)));
	json_object_object_add(o, "thm_temp2_trans_count", json_object_new_int64(smart_u32(s, SMART_THM_T2_TRANS)));
	json_object_object_add(o, "thm_temp1_total_time", json_object_new_int64(smart_u32(s, SMART_THM_T1_TIME)));
	json_object_object_add(o, "thm_temp2_total_time", json_object_new_int64(smart_u32(s, SMART_THM_T2_TIME)));
	fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
	json_object_put(o);
}

/* The error log's transport type, in nvme-cli's words. */
static const char *err_trtype_text(uint8_t trtype)
{
	switch (trtype) {
	case 0:
		return "The transport type is not indicated or the error is not transport related.";
	case 1:
		return "RDMA Transport error.";
	case 2:
		return "Fibre Channel Transport error.";
	case 3:
		return "TCP Transport error.";
	case 254:
		return "Intra-host Transport error.";
	default:
		return "Reserved";
	}
}

void nvme_print_error_log_text(FILE *f, const struct nvme_error_log_entry *log, unsigned int n,
			       const char *dev)
{
	fprintf(f, "Error Log Entries for device:%s entries:%u\n", dev, n);
	fprintf(f, ".................\n");
	for (unsigned int i = 0; i < n; i++) {
		const struct nvme_error_log_entry *e = &log[i];
		uint16_t sf = le16(e->status);

		fprintf(f, " Entry[%2u]   \n", i);
		fprintf(f, ".................\n");
		fprintf(f, "error_count\t: %" PRIu64 "\n", le64(e->error_count));
		fprintf(f, "sqid\t\t: %u\n", le16(e->sqid));
		fprintf(f, "cmdid\t\t: %#x\n", le16(e->cid));
		fprintf(f, "status_field\t: %#x(%s)\n", sf >> 1, nvme_status_text((uint16_t)(sf >> 1)));
		fprintf(f, "phase_tag\t: %#x\n", sf & 1);
		fprintf(f, "parm_err_loc\t: %#x\n", le16(e->param_error_location));
		fprintf(f, "lba\t\t: %#" PRIx64 "\n", le64(e->lba));
		fprintf(f, "nsid\t\t: %#x\n", le32(e->nsid));
		fprintf(f, "vs\t\t: %u\n", e->vs);
		fprintf(f, "trtype\t\t: %s\n", err_trtype_text(e->trtype));
		fprintf(f, "cs\t\t: %#" PRIx64 "\n", le64(e->cs));
		fprintf(f, "trtype_spec_info: %#x\n", le16(e->trtype_spec_info));
		fprintf(f, ".................\n");
	}
}

void nvme_print_error_log_json(FILE *f, const struct nvme_error_log_entry *log, unsigned int n)
{
	json_object *root = json_object_new_object();
	json_object *errors = json_object_new_array();

	for (unsigned int i = 0; i < n; i++) {
		const struct nvme_error_log_entry *e = &log[i];
		uint16_t sf = le16(e->status);
		json_object *o = json_object_new_object();

		json_object_object_add(o, "error_count", json_object_new_uint64(le64(e->error_count)));
		json_object_object_add(o, "sqid", json_object_new_int(le16(e->sqid)));
		json_object_object_add(o, "cmdid", json_object_new_int(le16(e->cid)));
		json_object_object_add(o, "status_field", json_object_new_int(sf >> 1));
		json_object_object_add(o, "phase_tag", json_object_new_int(sf & 1));
		json_object_object_add(o, "parm_error_location", json_object_new_int(le16(e->param_error_location)));
		json_object_object_add(o, "lba", json_object_new_uint64(le64(e->lba)));
		json_object_object_add(o, "nsid", json_object_new_int64(le32(e->nsid)));
		json_object_object_add(o, "vs", json_object_new_int(e->vs));
		json_object_object_add(o, "trtype", json_object_new_string(err_trtype_text(e->trtype)));
		json_object_object_add(o, "cs", json_object_new_uint64(le64(e->cs)));
		json_object_object_add(o, "trtype_spec_info", json_object_new_int(le16(e->trtype_spec_info)));
		json_object_array_add(errors, o);
	}
	json_object_object_add(root, "errors", errors);
	fprintf(f, "%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
	json_object_put(root);
}

/* ------------------------------------------------------------------ */
/* ANA log: nvme-cli 2.x's "nvme ana-log" layouts                      */

static const char *ana_state_text(uint8_t state)
{
	switch (state) {
	case NVME_ANA_OPTIMIZED:
		return "optimized";
	case NVME_ANA_NON_OPTIMIZED:
		return "non-optimized";
	case NVME_ANA_INACCESSIBLE:
		return "inaccessible";
	case NVME_ANA_PERSISTENT_LOSS:
		return "persistent-loss";
	case NVME_ANA_CHANGE:
		return "change";
	}
	return "invalid state";
}

/* The next descriptor of the log, copied to *d (descriptors are only 4-byte
 * aligned); false when it does not fit in len. Its NSID list is cut to what
 * fits: *nnsids. */
static bool ana_next(const uint8_t *log, size_t len, size_t *off, struct nvme_ana_group_desc *d, uint32_t *nnsids)
{
	size_t room;

	if (*off + sizeof(*d) > len)
		return false;
	memcpy(d, log + *off, sizeof(*d));
	*off += sizeof(*d);
	room = (len - *off) / 4;
	*nnsids = le32(d->nnsids) < room ? le32(d->nnsids) : (uint32_t)room;
	return true;
}

void nvme_print_ana_log_text(FILE *f, const uint8_t *log, size_t len, const char *dev)
{
	struct nvme_ana_log_hdr hdr, *h = &hdr;
	size_t off = sizeof(*h);

	memset(h, 0, sizeof(*h));
	memcpy(h, log, len < sizeof(*h) ? len : sizeof(*h));
	fprintf(f, "Asymmetric Namespace Access Log for NVMe device: %s\n", dev);
	fprintf(f, "ANA LOG HEADER :-\n");
	fprintf(f, "chgcnt\t:\t%" PRIu64 "\n", le64(h->chgcnt));
	fprintf(f, "ngrps\t:\t%u\n", le16(h->ngrps));
	fprintf(f, "ANA Log Desc :-\n");
	for (unsigned int i = 0; i < le16(h->ngrps); i++) {
		struct nvme_ana_group_desc desc, *d = &desc;
		uint32_t n;

		if (!ana_next(log, len, &off, d, &n))
			break;
		fprintf(f, "grpid\t:\t%u\n", le32(d->grpid));
		fprintf(f, "nnsids\t:\t%u\n", le32(d->nnsids));
		fprintf(f, "chgcnt\t:\t%" PRIu64 "\n", le64(d->chgcnt));
		fprintf(f, "state\t:\t%s\n", ana_state_text(d->state));
		for (uint32_t j = 0; j < n; j++)
			fprintf(f, "\tnsid\t:\t%u\n", get_le32(log + off + 4 * j));
		fprintf(f, "\n");
		off += 4 * (size_t)n;
	}
}

void nvme_print_ana_log_json(FILE *f, const uint8_t *log, size_t len, const char *dev)
{
	struct nvme_ana_log_hdr hdr, *h = &hdr;
	json_object *root = json_object_new_object();
	json_object *list = json_object_new_array();
	size_t off = sizeof(*h);

	memset(h, 0, sizeof(*h));
	memcpy(h, log, len < sizeof(*h) ? len : sizeof(*h));

	json_object_object_add(root, "Asymmetric Namespace Access Log for NVMe device", json_object_new_string(dev));
	json_object_object_add(root, "chgcnt", json_object_new_uint64(le64(h->chgcnt)));
	json_object_object_add(root, "ngrps", json_object_new_int(le16(h->ngrps)));
	for (unsigned int i = 0; i < le16(h->ngrps); i++) {
		struct nvme_ana_group_desc desc, *d = &desc;
		json_object *o, *nsids;
		uint32_t n;

		if (!ana_next(log, len, &off, d, &n))
			break;
		o = json_object_new_object();
		nsids = json_object_new_array();
		json_object_object_add(o, "grpid", json_object_new_int64(le32(d->grpid)));
		json_object_object_add(o, "nnsids", json_object_new_int64(le32(d->nnsids)));
		json_object_object_add(o, "chgcnt", json_object_new_uint64(le64(d->chgcnt)));
		json_object_object_add(o, "state", json_object_new_string(ana_state_text(d->state)));
		for (uint32_t j = 0; j < n; j++) {
			json_object *ns = json_object_new_object();

			json_object_object_add(ns, "nsid", json_object_new_int64(get_le32(log + off + 4 * j)));
			json_object_array_add(nsids, ns);
		}
		json_object_object_add(o, "NSIDS", nsids);
		off += 4 * (size_t)n;
		json_object_array_add(list, o);
	}
	/* nvme-cli's key, trailing space included. */
	json_object_object_add(root, "ANA DESC LIST ", list);
	fprintf(f, "%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
	json_object_put(root);
}
