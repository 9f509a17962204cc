/* SPDX-License-Identifier: MIT */
/*
 * NVMe Base 2.0 and NVMe-oF 1.1 wire structures and constants shared by the
 * target and the host. Everything on the wire is little-endian; the le*_get /
 * le*_put helpers in endian.h are the only way fields are read or written by
 * code that touches raw buffers. Structures here are naturally aligned so the
 * compiler lays them out as the spec does; the static asserts pin that down.
 */
#ifndef NVMEOF_PROTO_NVME_SPEC_H
#define NVMEOF_PROTO_NVME_SPEC_H

#include <stddef.h>
#include <stdint.h>

#define NVME_DISC_NQN "nqn.2014-08.org.nvmexpress.discovery"
#define NVME_NQN_MAX 223 /* bytes without the terminating NUL */
#define NVME_NQN_FIELD 256
#define NVME_IDENTIFY_SIZE 4096
#define NVME_NSID_ALL 0xffffffffu
#define NVME_CNTLID_DYNAMIC 0xffffu

/* ---- Submission / completion queue entries (Base 4.2, 4.6) ---- */

struct nvme_sgl_desc {
	uint64_t addr;
	uint32_t length;
	uint8_t rsvd[3];
	uint8_t type; /* bits 7:4 type, 3:0 subtype */
};
_Static_assert(sizeof(struct nvme_sgl_desc) == 16, "SGL descriptor is 16 bytes");

#define NVME_SGL_DATA_BLOCK_OFFSET 0x01 /* in-capsule data, addr = offset */
#define NVME_SGL_TRANSPORT_DATA_BLOCK 0x5a /* data moved by C2HData / R2T+H2CData */

struct nvme_sqe {
	uint8_t opcode;
	uint8_t flags; /* FUSE 1:0, PSDT 7:6 (01b = SGL) */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	struct nvme_sgl_desc sgl;
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};
_Static_assert(sizeof(struct nvme_sqe) == 64, "SQE is 64 bytes");
_Static_assert(offsetof(struct nvme_sqe, sgl) == 24, "SGL1 at 24");
_Static_assert(offsetof(struct nvme_sqe, cdw10) == 40, "CDW10 at 40");

#define NVME_SQE_FLAGS_SGL 0x40

/* Fabrics commands overlay the SQE: opcode 7Fh, FCTYPE at byte 4. */
struct nvmf_connect_sqe {
	uint8_t opcode;
	uint8_t flags;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd1[19];
	struct nvme_sgl_desc sgl;
	uint16_t recfmt;
	uint16_t qid;
	uint16_t sqsize; /* 0's based */
	uint8_t cattr; /* bit 2: disable SQ flow control */
	uint8_t rsvd2;
	uint32_t kato; /* ms, admin queue only */
	uint8_t rsvd3[12];
};
_Static_assert(sizeof(struct nvmf_connect_sqe) == 64, "Connect SQE is 64 bytes");
_Static_assert(offsetof(struct nvmf_connect_sqe, qid) == 42, "QID at 42");
_Static_assert(offsetof(struct nvmf_connect_sqe, kato) == 48, "KATO at 48");

struct nvmf_property_sqe {
	uint8_t opcode;
	uint8_t flags;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd1[35];
	uint8_t attrib; /* bits 2:0: 0 = 4 bytes, 1 = 8 bytes */
	uint8_t rsvd2[3];
	uint32_t offset;
	uint64_t value;
	uint8_t rsvd3[8];
};
_Static_assert(sizeof(struct nvmf_property_sqe) == 64, "Property SQE is 64 bytes");
_Static_assert(offsetof(struct nvmf_property_sqe, attrib) == 40, "ATTRIB at 40");
_Static_assert(offsetof(struct nvmf_property_sqe, offset) == 44, "OFFSET at 44");
_Static_assert(offsetof(struct nvmf_property_sqe, value) == 48, "VALUE at 48");

struct nvmf_connect_data {
	uint8_t hostid[16];
	uint16_t cntlid;
	uint8_t rsvd1[238];
	char subnqn[NVME_NQN_FIELD];
	char hostnqn[NVME_NQN_FIELD];
	uint8_t rsvd2[256];
};
_Static_assert(sizeof(struct nvmf_connect_data) == 1024, "Connect data is 1024 bytes");
_Static_assert(offsetof(struct nvmf_connect_data, subnqn) == 256, "SUBNQN at 256");
_Static_assert(offsetof(struct nvmf_connect_data, hostnqn) == 512, "HOSTNQN at 512");

struct nvme_cqe {
	uint32_t dw0;
	uint32_t dw1;
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status; /* bit 0 phase (0 on fabrics), 8:1 SC, 11:9 SCT, 15 DNR */
};
_Static_assert(sizeof(struct nvme_cqe) == 16, "CQE is 16 bytes");

/* Status as carried in our code: (SCT << 8) | SC, plus the DNR/MORE flags.
 * The CQE status field is this value shifted left by one. */
#define NVME_SCT_GENERIC 0x0
#define NVME_SCT_CMD_SPECIFIC 0x1
#define NVME_SCT_MEDIA 0x2
#define NVME_SCT_PATH 0x3
#define NVME_STATUS(sct, sc) ((uint16_t)(((sct) << 8) | (sc)))
#define NVME_STATUS_DNR 0x4000
#define NVME_STATUS_MORE 0x2000
#define NVME_STATUS_SCT(s) (((s) >> 8) & 0x7)
#define NVME_STATUS_SC(s) ((s) & 0xff)
#define NVME_CQE_STATUS(s) ((uint16_t)((s) << 1))
#define NVME_STATUS_FROM_CQE(f) ((uint16_t)((f) >> 1))

enum nvme_status_code {
	NVME_SC_SUCCESS = 0x00,
	NVME_SC_INVALID_OPCODE = 0x01,
	NVME_SC_INVALID_FIELD = 0x02,
	NVME_SC_CID_CONFLICT = 0x03,
	NVME_SC_DATA_XFER_ERROR = 0x04,
	NVME_SC_INTERNAL = 0x06,
	NVME_SC_ABORT_REQ = 0x07,
	NVME_SC_ABORT_SQ_DELETED = 0x08,
	NVME_SC_INVALID_NS = 0x0b,
	NVME_SC_CMD_SEQ_ERROR = 0x0c,
	NVME_SC_SGL_INVALID_LAST = 0x0d,
	NVME_SC_SGL_INVALID_DATA_LEN = 0x0f,
	NVME_SC_SGL_INVALID_TYPE = 0x11,
	NVME_SC_SGL_INVALID_OFFSET = 0x16,
	NVME_SC_HOSTID_INCONSISTENT = 0x18,
	NVME_SC_KA_EXPIRED = 0x19,
	NVME_SC_KA_INVALID = 0x1a,
	NVME_SC_NS_WRITE_PROTECTED = 0x20,
	NVME_SC_TRANSIENT_TRANSPORT = 0x22,
	NVME_SC_LBA_RANGE = 0x80,
	NVME_SC_CAP_EXCEEDED = 0x81,
	NVME_SC_NS_NOT_READY = 0x82,
};

/* SCT 1 (command specific) */
enum nvme_cmd_specific_status {
	NVME_SC_INVALID_QID = 0x01,
	NVME_SC_INVALID_QSIZE = 0x02,
	NVME_SC_ABORT_LIMIT = 0x03,
	NVME_SC_AER_LIMIT = 0x05,
	NVME_SC_INVALID_LOG_PAGE = 0x09,
	NVME_SC_FEATURE_NOT_SAVEABLE = 0x0d,
	NVME_SC_FEATURE_NOT_CHANGEABLE = 0x0e,
	NVME_SC_CONNECT_FORMAT = 0x80,
	NVME_SC_CONNECT_CTRL_BUSY = 0x81,
	NVME_SC_CONNECT_INVALID_PARAM = 0x82,
	NVME_SC_CONNECT_RESTART_DISC = 0x83,
	NVME_SC_CONNECT_INVALID_HOST = 0x84,
	NVME_SC_AUTH_REQUIRED = 0x91,
};

/* SCT 2 (media) */
#define NVME_SC_WRITE_FAULT 0x80
#define NVME_SC_READ_ERROR 0x81
#define NVME_SC_COMPARE_FAILED 0x85

/* SCT 3 (path related): a host retries these on another path. */
#define NVME_SC_ANA_PERSISTENT_LOSS 0x01
#define NVME_SC_ANA_INACCESSIBLE 0x02
#define NVME_SC_ANA_TRANSITION 0x03

/* ---- Opcodes ---- */
enum nvme_admin_opcode {
	NVME_ADMIN_GET_LOG_PAGE = 0x02,
	NVME_ADMIN_IDENTIFY = 0x06,
	NVME_ADMIN_ABORT = 0x08,
	NVME_ADMIN_SET_FEATURES = 0x09,
	NVME_ADMIN_GET_FEATURES = 0x0a,
	NVME_ADMIN_ASYNC_EVENT = 0x0c,
	NVME_ADMIN_KEEP_ALIVE = 0x18,
	NVME_FABRICS_COMMAND = 0x7f,
};

enum nvme_io_opcode {
	NVME_CMD_FLUSH = 0x00,
	NVME_CMD_WRITE = 0x01,
	NVME_CMD_READ = 0x02,
	NVME_CMD_COMPARE = 0x05,
	NVME_CMD_WRITE_ZEROES = 0x08,
	NVME_CMD_DSM = 0x09,
};

enum nvmf_fctype {
	NVMF_FCTYPE_PROPERTY_SET = 0x00,
	NVMF_FCTYPE_CONNECT = 0x01,
	NVMF_FCTYPE_PROPERTY_GET = 0x04,
	NVMF_FCTYPE_AUTH_SEND = 0x05,
	NVMF_FCTYPE_AUTH_RECV = 0x06,
	NVMF_FCTYPE_DISCONNECT = 0x08,
};

/* I/O command CDW12 bits */
#define NVME_RW_NLB_MASK 0xffffu
#define NVME_RW_FUA (1u << 30)
#define NVME_WZ_DEAC (1u << 25)
#define NVME_DSM_ATTR_DEALLOCATE (1u << 2)

struct nvme_dsm_range {
	uint32_t cattr;
	uint32_t nlb; /* 1's based */
	uint64_t slba;
};
_Static_assert(sizeof(struct nvme_dsm_range) == 16, "DSM range is 16 bytes");

/* ---- Controller properties (Base 3.1.4) ---- */
#define NVME_REG_CAP 0x00
#define NVME_REG_VS 0x08
#define NVME_REG_CC 0x14
#define NVME_REG_CSTS 0x1c
#define NVME_REG_NSSR 0x20

#define NVME_CC_EN (1u << 0)
#define NVME_CC_CSS(cc) (((cc) >> 4) & 0x7)
#define NVME_CC_MPS(cc) (((cc) >> 7) & 0xf)
#define NVME_CC_AMS(cc) (((cc) >> 11) & 0x7)
#define NVME_CC_SHN(cc) (((cc) >> 14) & 0x3)
#define NVME_CC_IOSQES(cc) (((cc) >> 16) & 0xf)
#define NVME_CC_IOCQES(cc) (((cc) >> 20) & 0xf)
#define NVME_CSTS_RDY (1u << 0)
#define NVME_CSTS_CFS (1u << 1)
#define NVME_CSTS_SHST_MASK (3u << 2)
#define NVME_CSTS_SHST_CMPLT (2u << 2)

#define NVME_VS(mjr, mnr, ter) (((uint32_t)(mjr) << 16) | ((mnr) << 8) | (ter))

/* ---- Identify (Base 5.17) ---- */
enum nvme_identify_cns {
	NVME_ID_CNS_NS = 0x00,
	NVME_ID_CNS_CTRL = 0x01,
	NVME_ID_CNS_NS_ACTIVE_LIST = 0x02,
	NVME_ID_CNS_NS_DESC_LIST = 0x03,
	NVME_ID_CNS_CS_CTRL = 0x06,
	NVME_ID_CNS_CS_INDEP_NS = 0x08,
};

struct nvme_id_power_state {
	uint16_t max_power;
	uint8_t rsvd2;
	uint8_t flags;
	uint32_t entry_lat;
	uint32_t exit_lat;
	uint8_t read_tput, read_lat, write_tput, write_lat;
	uint16_t idle_power;
	uint8_t idle_scale;
	uint8_t rsvd19;
	uint16_t active_power;
	uint8_t active_work_scale;
	uint8_t rsvd23[9];
};
_Static_assert(sizeof(struct nvme_id_power_state) == 32, "power state is 32 bytes");

struct nvme_id_ctrl {
	uint16_t vid;
	uint16_t ssvid;
	char sn[20];
	char mn[40];
	char fr[8];
	uint8_t rab;
	uint8_t ieee[3];
	uint8_t cmic;
	uint8_t mdts;
	uint16_t cntlid;
	uint32_t ver;
	uint32_t rtd3r;
	uint32_t rtd3e;
	uint32_t oaes;
	uint32_t ctratt;
	uint16_t rrls;
	uint8_t rsvd102[9];
	uint8_t cntrltype;
	uint8_t fguid[16];
	uint16_t crdt1, crdt2, crdt3;
	uint8_t rsvd134[122];
	uint16_t oacs;
	uint8_t acl;
	uint8_t aerl;
	uint8_t frmw;
	uint8_t lpa;
	uint8_t elpe;
	uint8_t npss;
	uint8_t avscc;
	uint8_t apsta;
	uint16_t wctemp;
	uint16_t cctemp;
	uint16_t mtfa;
	uint32_t hmpre;
	uint32_t hmmin;
	uint8_t tnvmcap[16];
	uint8_t unvmcap[16];
	uint32_t rpmbs;
	uint16_t edstt;
	uint8_t dsto;
	uint8_t fwug;
	uint16_t kas;
	uint16_t hctma;
	uint16_t mntmt;
	uint16_t mxtmt;
	uint32_t sanicap;
	uint32_t hmminds;
	uint16_t hmmaxd;
	uint16_t nsetidmax;
	uint16_t endgidmax;
	uint8_t anatt;
	uint8_t anacap;
	uint32_t anagrpmax;
	uint32_t nanagrpid;
	uint32_t pels;
	uint16_t domainid;
	uint8_t rsvd358[10];
	uint8_t megcap[16];
	uint8_t rsvd384[128];
	uint8_t sqes;
	uint8_t cqes;
	uint16_t maxcmd;
	uint32_t nn;
	uint16_t oncs;
	uint16_t fuses;
	uint8_t fna;
	uint8_t vwc;
	uint16_t awun;
	uint16_t awupf;
	uint8_t icsvscc;
	uint8_t nwpc;
	uint16_t acwu;
	uint16_t ocfs;
	uint32_t sgls;
	uint32_t mnan;
	uint8_t maxdna[16];
	uint32_t maxcna;
	uint8_t rsvd564[204];
	char subnqn[256];
	uint8_t rsvd1024[768];
	/* Fabrics-specific (NVMe-oF 1.1 4.1) */
	uint32_t ioccsz;
	uint32_t iorcsz;
	uint16_t icdoff;
	uint8_t fcatt;
	uint8_t msdbd;
	uint16_t ofcs;
	uint8_t rsvd1806[242];
	struct nvme_id_power_state psd[32];
	uint8_t vs[1024];
};
_Static_assert(sizeof(struct nvme_id_ctrl) == 4096, "Identify Controller is 4096 bytes");
_Static_assert(offsetof(struct nvme_id_ctrl, cmic) == 76, "CMIC at 76");
_Static_assert(offsetof(struct nvme_id_ctrl, cntlid) == 78, "CNTLID at 78");
_Static_assert(offsetof(struct nvme_id_ctrl, oaes) == 92, "OAES at 92");
_Static_assert(offsetof(struct nvme_id_ctrl, cntrltype) == 111, "CNTRLTYPE at 111");
_Static_assert(offsetof(struct nvme_id_ctrl, oacs) == 256, "OACS at 256");
_Static_assert(offsetof(struct nvme_id_ctrl, kas) == 320, "KAS at 320");
_Static_assert(offsetof(struct nvme_id_ctrl, anatt) == 342, "ANATT at 342");
_Static_assert(offsetof(struct nvme_id_ctrl, sqes) == 512, "SQES at 512");
_Static_assert(offsetof(struct nvme_id_ctrl, nn) == 516, "NN at 516");
_Static_assert(offsetof(struct nvme_id_ctrl, vwc) == 525, "VWC at 525");
_Static_assert(offsetof(struct nvme_id_ctrl, sgls) == 536, "SGLS at 536");
_Static_assert(offsetof(struct nvme_id_ctrl, mnan) == 540, "MNAN at 540");
_Static_assert(offsetof(struct nvme_id_ctrl, subnqn) == 768, "SUBNQN at 768");
_Static_assert(offsetof(struct nvme_id_ctrl, ioccsz) == 1792, "IOCCSZ at 1792");
_Static_assert(offsetof(struct nvme_id_ctrl, icdoff) == 1800, "ICDOFF at 1800");
_Static_assert(offsetof(struct nvme_id_ctrl, msdbd) == 1803, "MSDBD at 1803");
_Static_assert(offsetof(struct nvme_id_ctrl, psd) == 2048, "PSD0 at 2048");

#define NVME_CTRL_CNTRLTYPE_IO 1
#define NVME_CTRL_CNTRLTYPE_DISC 2
#define NVME_CTRL_OAES_NS_ATTR (1u << 8)
#define NVME_CTRL_OAES_ANA_CHANGE (1u << 11)
#define NVME_CTRL_OAES_DISC_CHANGE (1u << 31)
#define NVME_CTRL_CTRATT_HOSTID_128 (1u << 0)
#define NVME_CTRL_CTRATT_TBKAS (1u << 6)
#define NVME_CTRL_ONCS_COMPARE (1u << 0)
#define NVME_CTRL_ONCS_DSM (1u << 2)
#define NVME_CTRL_ONCS_WRITE_ZEROES (1u << 3)
#define NVME_CTRL_SGLS_SUPPORTED (1u << 0)
#define NVME_CTRL_SGLS_OFFSET (1u << 20)
#define NVME_CTRL_CMIC_MULTI_PORT (1u << 0)
#define NVME_CTRL_CMIC_MULTI_CTRL (1u << 1)
#define NVME_CTRL_CMIC_ANA (1u << 3)
/* ANACAP: which ANA states the controller reports (bits 4:0, Base 5.17.2.1). */
#define NVME_CTRL_ANACAP_ALL_STATES 0x1f

struct nvme_lbaf {
	uint16_t ms;
	uint8_t lbads;
	uint8_t rp;
};

struct nvme_id_ns {
	uint64_t nsze;
	uint64_t ncap;
	uint64_t nuse;
	uint8_t nsfeat;
	uint8_t nlbaf;
	uint8_t flbas;
	uint8_t mc;
	uint8_t dpc;
	uint8_t dps;
	uint8_t nmic;
	uint8_t rescap;
	uint8_t fpi;
	uint8_t dlfeat;
	uint16_t nawun;
	uint16_t nawupf;
	uint16_t nacwu;
	uint16_t nabsn;
	uint16_t nabo;
	uint16_t nabspf;
	uint16_t noiob;
	uint8_t nvmcap[16];
	uint16_t npwg;
	uint16_t npwa;
	uint16_t npdg;
	uint16_t npda;
	uint16_t nows;
	uint16_t mssrl;
	uint32_t mcl;
	uint8_t msrc;
	uint8_t rsvd81[11];
	uint32_t anagrpid;
	uint8_t rsvd96[3];
	uint8_t nsattr;
	uint16_t nvmsetid;
	uint16_t endgid;
	uint8_t nguid[16];
	uint8_t eui64[8];
	struct nvme_lbaf lbaf[64];
	uint8_t vs[3712];
};
_Static_assert(sizeof(struct nvme_id_ns) == 4096, "Identify Namespace is 4096 bytes");
_Static_assert(offsetof(struct nvme_id_ns, nmic) == 30, "NMIC at 30");
_Static_assert(offsetof(struct nvme_id_ns, noiob) == 46, "NOIOB at 46");
_Static_assert(offsetof(struct nvme_id_ns, anagrpid) == 92, "ANAGRPID at 92");
_Static_assert(offsetof(struct nvme_id_ns, nguid) == 104, "NGUID at 104");
_Static_assert(offsetof(struct nvme_id_ns, eui64) == 120, "EUI64 at 120");
_Static_assert(offsetof(struct nvme_id_ns, lbaf) == 128, "LBAF at 128");

#define NVME_NS_DLFEAT_ZEROES 0x01 /* deallocated blocks read as zeroes */
#define NVME_NS_NMIC_SHARED 0x01

enum nvme_nidt {
	NVME_NIDT_EUI64 = 1,
	NVME_NIDT_NGUID = 2,
	NVME_NIDT_UUID = 3,
	NVME_NIDT_CSI = 4,
};

/* ---- Log pages (Base 5.16) ---- */
enum nvme_log_id {
	NVME_LOG_ERROR = 0x01,
	NVME_LOG_SMART = 0x02,
	NVME_LOG_FW_SLOT = 0x03,
	NVME_LOG_CHANGED_NS = 0x04,
	NVME_LOG_CMD_EFFECTS = 0x05,
	NVME_LOG_ANA = 0x0c,
	NVME_LOG_DISCOVERY = 0x70,
};

struct nvme_error_log_entry {
	uint64_t error_count;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status; /* same layout as CQE status, phase bit included */
	uint16_t param_error_location;
	uint64_t lba;
	uint32_t nsid;
	uint8_t vs;
	uint8_t trtype;
	uint8_t rsvd30[2];
	uint64_t cs;
	uint16_t trtype_spec_info;
	uint8_t rsvd42[22];
};
_Static_assert(sizeof(struct nvme_error_log_entry) == 64, "error log entry is 64 bytes");

struct nvme_smart_log {
	uint8_t critical_warning;
	uint8_t temperature[2];
	uint8_t avail_spare;
	uint8_t spare_thresh;
	uint8_t percent_used;
	uint8_t endu_grp_crit_warn_sumry;
	uint8_t rsvd7[25];
	uint8_t data_units_read[16];
	uint8_t data_units_written[16];
	uint8_t host_reads[16];
	uint8_t host_writes[16];
	uint8_t ctrl_busy_time[16];
	uint8_t power_cycles[16];
	uint8_t power_on_hours[16];
	uint8_t unsafe_shutdowns[16];
	uint8_t media_errors[16];
	uint8_t num_err_log_entries[16];
	uint32_t warning_temp_time;
	uint32_t critical_comp_time;
	uint16_t temp_sensor[8];
	uint8_t rsvd216[296];
};
_Static_assert(sizeof(struct nvme_smart_log) == 512, "SMART log is 512 bytes");
_Static_assert(offsetof(struct nvme_smart_log, data_units_read) == 32, "DUR at 32");

/* Asymmetric Namespace Access log (Base 5.16.1.13): a header, then one
 * descriptor per ANA group, each followed by its NSID list. */
enum nvme_ana_state {
	NVME_ANA_OPTIMIZED = 0x01,
	NVME_ANA_NON_OPTIMIZED = 0x02,
	NVME_ANA_INACCESSIBLE = 0x03,
	NVME_ANA_PERSISTENT_LOSS = 0x04,
	NVME_ANA_CHANGE = 0x0f,
};

#define NVME_ANA_LOG_RGO 0x01 /* LSP bit 0: Return Groups Only (no NSID lists) */

struct nvme_ana_log_hdr {
	uint64_t chgcnt;
	uint16_t ngrps;
	uint8_t rsvd10[6];
};
_Static_assert(sizeof(struct nvme_ana_log_hdr) == 16, "ANA log header is 16 bytes");

struct nvme_ana_group_desc {
	uint32_t grpid;
	uint32_t nnsids;
	uint64_t chgcnt;
	uint8_t state;
	uint8_t rsvd17[15];
	/* uint32_t nsids[nnsids] follow */
};
_Static_assert(sizeof(struct nvme_ana_group_desc) == 32, "ANA group descriptor is 32 bytes");
_Static_assert(offsetof(struct nvme_ana_group_desc, chgcnt) == 8, "group CHGCNT at 8");
_Static_assert(offsetof(struct nvme_ana_group_desc, state) == 16, "ANA state at 16");

struct nvmf_disc_log_hdr {
	uint64_t genctr;
	uint64_t numrec;
	uint16_t recfmt;
	uint8_t rsvd[1006];
};
_Static_assert(sizeof(struct nvmf_disc_log_hdr) == 1024, "discovery log header is 1024 bytes");

struct nvmf_disc_log_entry {
	uint8_t trtype;
	uint8_t adrfam;
	uint8_t subtype;
	uint8_t treq;
	uint16_t portid;
	uint16_t cntlid;
	uint16_t asqsz;
	uint16_t eflags;
	uint8_t rsvd12[20];
	char trsvcid[32];
	uint8_t rsvd64[192];
	char subnqn[256];
	char traddr[256];
	uint8_t tsas[256];
};
_Static_assert(sizeof(struct nvmf_disc_log_entry) == 1024, "discovery entry is 1024 bytes");
_Static_assert(offsetof(struct nvmf_disc_log_entry, trsvcid) == 32, "TRSVCID at 32");
_Static_assert(offsetof(struct nvmf_disc_log_entry, subnqn) == 256, "SUBNQN at 256");
_Static_assert(offsetof(struct nvmf_disc_log_entry, traddr) == 512, "TRADDR at 512");

#define NVMF_TRTYPE_TCP 3
#define NVMF_ADRFAM_IPV4 1
#define NVMF_ADRFAM_IPV6 2
#define NVMF_SUBTYPE_REFERRAL 1
#define NVMF_SUBTYPE_NVME 2
#define NVMF_SUBTYPE_CURRENT_DISC 3
#define NVMF_TREQ_REQUIRED 0x01
#define NVMF_TREQ_NOT_REQUIRED 0x02
#define NVMF_TREQ_DISABLE_SQFLOW 0x04
/* TSAS of a TCP entry: byte 0 is the security type. */
#define NVMF_TCP_SECTYPE_NONE 0
#define NVMF_TCP_SECTYPE_TLS12 1
#define NVMF_TCP_SECTYPE_TLS13 2

/* ---- Features (Base 5.27) ---- */
enum nvme_feature_id {
	NVME_FEAT_ARBITRATION = 0x01,
	NVME_FEAT_POWER_MGMT = 0x02,
	NVME_FEAT_TEMP_THRESH = 0x04,
	NVME_FEAT_ERR_RECOVERY = 0x05,
	NVME_FEAT_VOLATILE_WC = 0x06,
	NVME_FEAT_NUM_QUEUES = 0x07,
	NVME_FEAT_IRQ_COALESCE = 0x08,
	NVME_FEAT_WRITE_ATOMIC = 0x0a,
	NVME_FEAT_ASYNC_EVENT = 0x0b,
	NVME_FEAT_KATO = 0x0f,
	NVME_FEAT_HOST_ID = 0x81,
};

/* Asynchronous event completion DW0 */
#define NVME_AER_TYPE_NOTICE 2
#define NVME_AER_NOTICE_NS_CHANGED 0x00
#define NVME_AER_NOTICE_ANA_CHANGE 0x03
#define NVME_AER_NOTICE_DISC_CHANGED 0xf0
#define NVME_AER_DW0(type, info, lid) ((uint32_t)(type) | ((uint32_t)(info) << 8) | ((uint32_t)(lid) << 16))

#endif
