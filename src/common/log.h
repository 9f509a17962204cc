/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per event, "LEVEL [component] message", to stderr (or
 * syslog once log_use_syslog() was called). Callers put the context they
 * know (peer, qid, cid, opcode, subsystem) into the message.
 */
#ifndef NVMEOF_COMMON_LOG_H
#define NVMEOF_COMMON_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_NOTICE,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", "notice", "info", "debug"; returns -EINVAL if unknown. */
int log_parse_level(const char *name, enum log_level *out);
void log_use_syslog(const char *ident);

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(comp, ...) log_msg(LOG_LVL_ERROR, comp, __VA_ARGS__)
#define log_warn(comp, ...) log_msg(LOG_LVL_WARN, comp, __VA_ARGS__)
#define log_notice(comp, ...) log_msg(LOG_LVL_NOTICE, comp, __VA_ARGS__)
#define log_info(comp, ...) log_msg(LOG_LVL_INFO, comp, __VA_ARGS__)
#define log_debug(comp, ...)                                        \
	do {                                                        \
		if (log_get_level() >= LOG_LVL_DEBUG)               \
			log_msg(LOG_LVL_DEBUG, comp, __VA_ARGS__);  \
	} while (0)

#endif
