/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per event, "LEVEL [component] message", to stderr (or
 * syslog once log_use_syslog() was called). Callers put the context they
 * know (peer, qid, cid, opcode, subsystem) into the message.
 */
#ifndef NVMEOF_COMMON_LOG_H
#define NVMEOF_COMMON_LOG_H

#include <stdbool.h>
#include <stdint.h>

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

/*
 * Rate limiting for messages a peer can trigger at will (refusals, protocol
 * errors, failed accepts): each call site passes LOG_RL_BURST messages per
 * LOG_RL_WINDOW_MS, then counts what it drops and reports the count with
 * its next message.
 */
#define LOG_RL_BURST 10
#define LOG_RL_WINDOW_MS 5000

struct log_ratelimit {
	uint64_t window_start_ns;
	unsigned int passed;
	unsigned long suppressed;
};

/* Whether to log now; *suppressed is how many were dropped before this one. */
bool log_ratelimit_pass(struct log_ratelimit *rl, unsigned long *suppressed);

#define log_rl(level, comp, ...)                                                                   \
	do {                                                                                       \
		static struct log_ratelimit rl_state_;                                             \
		unsigned long rl_dropped_;                                                         \
		if (log_get_level() >= (level) && log_ratelimit_pass(&rl_state_, &rl_dropped_)) { \
			if (rl_dropped_)                                                           \
				log_msg(level, comp, "(%lu similar messages suppressed)", rl_dropped_); \
			log_msg(level, comp, __VA_ARGS__);                                         \
		}                                                                                  \
	} while (0)

#define log_error_rl(comp, ...) log_rl(LOG_LVL_ERROR, comp, __VA_ARGS__)
#define log_warn_rl(comp, ...) log_rl(LOG_LVL_WARN, comp, __VA_ARGS__)
#define log_notice_rl(comp, ...) log_rl(LOG_LVL_NOTICE, comp, __VA_ARGS__)
#define log_info_rl(comp, ...) log_rl(LOG_LVL_INFO, comp, __VA_ARGS__)

#endif
