// SPDX-License-Identifier: MIT
#include "proto/nvme_status.h"

#include <stdio.h>

#include "proto/nvme_spec.h"

struct status_name {
	uint8_t sc;
	const char *name;
};

static const struct status_name generic_names[] = {
	{ 0x00, "Successful Completion" },
	{ 0x01, "Invalid Command Opcode" },
	{ 0x02, "Invalid Field in Command" },
	{ 0x03, "Command ID Conflict" },
	{ 0x04, "Data Transfer Error" },
	{ 0x05, "Commands Aborted due to Power Loss Notification" },
	{ 0x06, "Internal Error" },
	{ 0x07, "Command Abort Requested" },
	{ 0x08, "Command Aborted due to SQ Deletion" },
	{ 0x09, "Command Aborted due to Failed Fused Command" },
	{ 0x0a, "Command Aborted due to Missing Fused Command" },
	{ 0x0b, "Invalid Namespace or Format" },
	{ 0x0c, "Command Sequence Error" },
	{ 0x0d, "Invalid SGL Segment Descriptor" },
	{ 0x0e, "Invalid Number of SGL Descriptors" },
	{ 0x0f, "Data SGL Length Invalid" },
	{ 0x10, "Metadata SGL Length Invalid" },
	{ 0x11, "SGL Descriptor Type Invalid" },
	{ 0x12, "Invalid Use of Controller Memory Buffer" },
	{ 0x13, "PRP Offset Invalid" },
	{ 0x14, "Atomic Write Unit Exceeded" },
	{ 0x15, "Operation Denied" },
	{ 0x16, "SGL Offset Invalid" },
	{ 0x18, "Host Identifier Inconsistent Format" },
	{ 0x19, "Keep Alive Timer Expired" },
	{ 0x1a, "Keep Alive Timeout Invalid" },
	{ 0x1b, "Command Aborted due to Preempt and Abort" },
	{ 0x1c, "Sanitize Failed" },
	{ 0x1d, "Sanitize In Progress" },
	{ 0x1e, "SGL Data Block Granularity Invalid" },
	{ 0x1f, "Command Not Supported for Queue in CMB" },
	{ 0x20, "Namespace is Write Protected" },
	{ 0x21, "Command Interrupted" },
	{ 0x22, "Transient Transport Error" },
	{ 0x80, "LBA Out of Range" },
	{ 0x81, "Capacity Exceeded" },
	{ 0x82, "Namespace Not Ready" },
	{ 0x83, "Reservation Conflict" },
	{ 0x84, "Format In Progress" },
};

/* Command specific, admin commands (0x00-0x7f) and NVM I/O commands (0x80-). */
static const struct status_name cmd_specific_names[] = {
	{ 0x00, "Completion Queue Invalid" },
	{ 0x01, "Invalid Queue Identifier" },
	{ 0x02, "Invalid Queue Size" },
	{ 0x03, "Abort Command Limit Exceeded" },
	{ 0x05, "Asynchronous Event Request Limit Exceeded" },
	{ 0x06, "Invalid Firmware Slot" },
	{ 0x07, "Invalid Firmware Image" },
	{ 0x08, "Invalid Interrupt Vector" },
	{ 0x09, "Invalid Log Page" },
	{ 0x0a, "Invalid Format" },
	{ 0x0d, "Feature Identifier Not Saveable" },
	{ 0x0e, "Feature Not Changeable" },
	{ 0x0f, "Feature Not Namespace Specific" },
	{ 0x15, "Namespace Insufficient Capacity" },
	{ 0x16, "Namespace Identifier Unavailable" },
	{ 0x18, "Namespace Already Attached" },
	{ 0x19, "Namespace Is Private" },
	{ 0x1a, "Namespace Not Attached" },
	{ 0x1c, "Controller List Invalid" },
	{ 0x80, "Conflicting Attributes" },
	{ 0x81, "Invalid Protection Information" },
	{ 0x82, "Attempted Write to Read Only Range" },
};

/* Command specific, Fabrics commands. */
static const struct status_name fabrics_names[] = {
	{ 0x02, "Invalid Queue Size" },
	{ NVME_SC_CONNECT_FORMAT, "Connect Incompatible Format" },
	{ NVME_SC_CONNECT_CTRL_BUSY, "Controller Busy" },
	{ NVME_SC_CONNECT_INVALID_PARAM, "Connect Invalid Parameters" },
	{ NVME_SC_CONNECT_RESTART_DISC, "Connect Restart Discovery" },
	{ NVME_SC_CONNECT_INVALID_HOST, "Connect Invalid Host" },
	{ 0x85, "Invalid Queue Type" },
	{ 0x90, "Discover Restart" },
	{ NVME_SC_AUTH_REQUIRED, "Authentication Required" },
};

static const struct status_name media_names[] = {
	{ 0x80, "Write Fault" },
	{ 0x81, "Unrecovered Read Error" },
	{ 0x82, "End-to-end Guard Check Error" },
	{ 0x83, "End-to-end Application Tag Check Error" },
	{ 0x84, "End-to-end Reference Tag Check Error" },
	{ 0x85, "Compare Failure" },
	{ 0x86, "Access Denied" },
	{ 0x87, "Deallocated or Unwritten Logical Block" },
};

static const struct status_name path_names[] = {
	{ 0x00, "Internal Path Error" },
	{ 0x01, "Asymmetric Access Persistent Loss" },
	{ 0x02, "Asymmetric Access Inaccessible" },
	{ 0x03, "Asymmetric Access Transition" },
	{ 0x60, "Controller Pathing Error" },
	{ 0x70, "Host Pathing Error" },
	{ 0x71, "Command Aborted By Host" },
};

#define LOOKUP(table, sc) lookup(table, sizeof(table) / sizeof((table)[0]), sc)

static const char *lookup(const struct status_name *t, size_t n, uint8_t sc)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].sc == sc)
			return t[i].name;
	return NULL;
}

const char *nvme_status_name(uint16_t status, bool fabrics)
{
	uint8_t sc = (uint8_t)NVME_STATUS_SC(status);

	switch (NVME_STATUS_SCT(status)) {
	case NVME_SCT_GENERIC:
		return LOOKUP(generic_names, sc);
	case NVME_SCT_CMD_SPECIFIC:
		return fabrics ? LOOKUP(fabrics_names, sc) : LOOKUP(cmd_specific_names, sc);
	case NVME_SCT_MEDIA:
		return LOOKUP(media_names, sc);
	case NVME_SCT_PATH:
		return LOOKUP(path_names, sc);
	default:
		return NULL;
	}
}

const char *nvme_status_format(uint16_t status, bool fabrics, char *buf, size_t len)
{
	const char *name = nvme_status_name(status, fabrics);
	const char *dnr = (status & NVME_STATUS_DNR) ? ", do not retry" : "";

	if (name)
		snprintf(buf, len, "%s (sct %u sc 0x%02x%s)", name, NVME_STATUS_SCT(status),
			 NVME_STATUS_SC(status), dnr);
	else
		snprintf(buf, len, "status sct %u sc 0x%02x%s", NVME_STATUS_SCT(status), NVME_STATUS_SC(status),
			 dnr);
	return buf;
}
