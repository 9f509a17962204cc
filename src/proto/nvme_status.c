// SPDX-License-Identifier: MIT
#include "proto/nvme_status.h"

#include <stdio.h>

#include "proto/nvme_spec.h"

struct status_name {
	uint8_t sc;
	const char *name;
	const char *detail; /* the explanation nvme-cli adds after the name, where it has one */
};

static const struct status_name generic_names[] = {
	{ 0x00, "Successful Completion",
	  "The command completed without error" },
	{ 0x01, "Invalid Command Opcode",
	  "A reserved coded value or an unsupported value in the command opcode field" },
	{ 0x02, "Invalid Field in Command",
	  "A reserved coded value or an unsupported value in a defined field" },
	{ 0x03, "Command ID Conflict",
	  "The command identifier is already in use" },
	{ 0x04, "Data Transfer Error",
	  "Transferring the data or metadata associated with a command experienced an error" },
	{ 0x05, "Commands Aborted due to Power Loss Notification", NULL },
	{ 0x06, "Internal Error",
	  "The command was not completed successfully due to an internal error" },
	{ 0x07, "Command Abort Requested",
	  "The command was aborted due to an Abort command" },
	{ 0x08, "Command Aborted due to SQ Deletion", NULL },
	{ 0x09, "Command Aborted due to Failed Fused Command", NULL },
	{ 0x0a, "Command Aborted due to Missing Fused Command", NULL },
	{ 0x0b, "Invalid Namespace or Format",
	  "The namespace or the format of that namespace is invalid" },
	{ 0x0c, "Command Sequence Error",
	  "The command was aborted due to a protocol violation in a multi-command sequence" },
	{ 0x0d, "Invalid SGL Segment Descriptor",
	  "The command includes an invalid SGL Last Segment or SGL Segment descriptor" },
	{ 0x0e, "Invalid Number of SGL Descriptors", NULL },
	{ 0x0f, "Data SGL Length Invalid",
	  "This may occur if the length of a Data SGL is too short" },
	{ 0x10, "Metadata SGL Length Invalid", NULL },
	{ 0x11, "SGL Descriptor Type Invalid",
	  "The type of an SGL Descriptor is a type that is not supported by the controller" },
	{ 0x12, "Invalid Use of Controller Memory Buffer", NULL },
	{ 0x13, "PRP Offset Invalid", NULL },
	{ 0x14, "Atomic Write Unit Exceeded", NULL },
	{ 0x15, "Operation Denied", NULL },
	{ 0x16, "SGL Offset Invalid",
	  "The offset specified in a descriptor is invalid" },
	{ 0x18, "Host Identifier Inconsistent Format", NULL },
	{ 0x19, "Keep Alive Timer Expired", NULL },
	{ 0x1a, "Keep Alive Timeout Invalid", NULL },
	{ 0x1b, "Command Aborted due to Preempt and Abort", NULL },
	{ 0x1c, "Sanitize Failed", NULL },
	{ 0x1d, "Sanitize In Progress", NULL },
	{ 0x1e, "SGL Data Block Granularity Invalid", NULL },
	{ 0x1f, "Command Not Supported for Queue in CMB", NULL },
	{ 0x20, "Namespace is Write Protected",
	  "The command is prohibited while the namespace is write protected" },
	{ 0x21, "Command Interrupted", NULL },
	{ 0x22, "Transient Transport Error", NULL },
	{ 0x80, "LBA Out of Range",
	  "The command references an LBA that exceeds the size of the namespace" },
	{ 0x81, "Capacity Exceeded",
	  "The execution of the command has caused the capacity of the namespace to be exceeded" },
	{ 0x82, "Namespace Not Ready",
	  "The namespace is not ready to be accessed" },
	{ 0x83, "Reservation Conflict", NULL },
	{ 0x84, "Format In Progress", NULL },
};

/* Command specific, admin commands (0x00-0x7f) and NVM I/O commands (0x80-). */
static const struct status_name cmd_specific_names[] = {
	{ 0x00, "Completion Queue Invalid", NULL },
	{ 0x01, "Invalid Queue Identifier", NULL },
	{ 0x02, "Invalid Queue Size", NULL },
	{ 0x03, "Abort Command Limit Exceeded", NULL },
	{ 0x05, "Asynchronous Event Request Limit Exceeded", NULL },
	{ 0x06, "Invalid Firmware Slot", NULL },
	{ 0x07, "Invalid Firmware Image", NULL },
	{ 0x08, "Invalid Interrupt Vector", NULL },
	{ 0x09, "Invalid Log Page",
	  "The log page indicated is invalid" },
	{ 0x0a, "Invalid Format", NULL },
	{ 0x0d, "Feature Identifier Not Saveable",
	  "The Feature Identifier specified does not support a saveable value" },
	{ 0x0e, "Feature Not Changeable",
	  "The Feature Identifier is not able to be changed" },
	{ 0x0f, "Feature Not Namespace Specific",
	  "The Feature Identifier specified is not namespace specific" },
	{ 0x15, "Namespace Insufficient Capacity", NULL },
	{ 0x16, "Namespace Identifier Unavailable", NULL },
	{ 0x18, "Namespace Already Attached", NULL },
	{ 0x19, "Namespace Is Private", NULL },
	{ 0x1a, "Namespace Not Attached", NULL },
	{ 0x1c, "Controller List Invalid", NULL },
	{ 0x80, "Conflicting Attributes", NULL },
	{ 0x81, "Invalid Protection Information", NULL },
	{ 0x82, "Attempted Write to Read Only Range", NULL },
};

/* Command specific, Fabrics commands. */
static const struct status_name fabrics_names[] = {
	{ 0x02, "Invalid Queue Size", NULL },
	{ NVME_SC_CONNECT_FORMAT, "Connect Incompatible Format", NULL },
	{ NVME_SC_CONNECT_CTRL_BUSY, "Controller Busy", NULL },
	{ NVME_SC_CONNECT_INVALID_PARAM, "Connect Invalid Parameters", NULL },
	{ NVME_SC_CONNECT_RESTART_DISC, "Connect Restart Discovery", NULL },
	{ NVME_SC_CONNECT_INVALID_HOST, "Connect Invalid Host", NULL },
	{ 0x85, "Invalid Queue Type", NULL },
	{ 0x90, "Discover Restart", NULL },
	{ NVME_SC_AUTH_REQUIRED, "Authentication Required", NULL },
};

static const struct status_name media_names[] = {
	{ 0x80, "Write Fault",
	  "The write data could not be committed to the media" },
	{ 0x81, "Unrecovered Read Error",
	  "The read data could not be recovered from the media" },
	{ 0x82, "End-to-end Guard Check Error", NULL },
	{ 0x83, "End-to-end Application Tag Check Error", NULL },
	{ 0x84, "End-to-end Reference Tag Check Error", NULL },
	{ 0x85, "Compare Failure",
	  "The command failed due to a miscompare during a Compare command" },
	{ 0x86, "Access Denied",
	  "Access to the namespace and/or LBA range is denied due to lack of access rights" },
	{ 0x87, "Deallocated or Unwritten Logical Block", NULL },
};

static const struct status_name path_names[] = {
	{ 0x00, "Internal Path Error", NULL },
	{ 0x01, "Asymmetric Access Persistent Loss",
	  "The requested function (e.g., command) is not able to be performed as a result of the relationship between the controller and the namespace being in the ANA Persistent Loss state" },
	{ 0x02, "Asymmetric Access Inaccessible",
	  "The requested function (e.g., command) is not able to be performed as a result of the relationship between the controller and the namespace being in the ANA Inaccessible state" },
	{ 0x03, "Asymmetric Access Transition",
	  "The requested function (e.g., command) is not able to be performed as a result of the relationship between the controller and the namespace being in the ANA Transition state" },
	{ 0x60, "Controller Pathing Error", NULL },
	{ 0x70, "Host Pathing Error", NULL },
	{ 0x71, "Command Aborted By Host", NULL },
};

#define LOOKUP(table, sc) lookup(table, sizeof(table) / sizeof((table)[0]), sc)

static const struct status_name *lookup(const struct status_name *t, size_t n, uint8_t sc)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].sc == sc)
			return &t[i];
	return NULL;
}

static const struct status_name *status_entry(uint16_t status, bool fabrics)
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

const char *nvme_status_name(uint16_t status, bool fabrics)
{
	const struct status_name *e = status_entry(status, fabrics);

	return e ? e->name : NULL;
}

const char *nvme_status_detail(uint16_t status, bool fabrics)
{
	const struct status_name *e = status_entry(status, fabrics);

	return e ? e->detail : NULL;
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
