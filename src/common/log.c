/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* Changed at run time by the control thread, read by every thread. */
static atomic_int current_level = LOG_LVL_NOTICE;
static atomic_bool to_syslog; /* set once; attach sets it with the library's threads running */

static const char *const level_names[] = { "error", "warn", "notice", "info", "debug" };

/* Relaxed: the level guards nothing but itself. */
void log_set_level(enum log_level level)
{
	atomic_store_explicit(&current_level, (int)level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&current_level, memory_order_relaxed);
}

int log_parse_level(const char *name, enum log_level *out)
{
	for (unsigned int i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_use_syslog(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	atomic_store_explicit(&to_syslog, true, memory_order_relaxed);
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
	static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };
	char msg[1024];
	va_list ap;

	if (level > log_get_level())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (atomic_load_explicit(&to_syslog, memory_order_relaxed)) {
		syslog(syslog_prio[level], "level=%s component=%s %s", level_names[level], component, msg);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per line keeps lines from different threads whole. */
	fprintf(stderr, "%s.%03ldZ %-6s [%s] %s\n", stamp, ts.tv_nsec / 1000000, level_names[level],
		component, msg);
}

static pthread_mutex_t ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

bool log_ratelimit_pass(struct log_ratelimit *rl, unsigned long *suppressed)
{
	struct timespec ts;
	uint64_t now;
	bool pass;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	*suppressed = 0;
	pthread_mutex_lock(&ratelimit_lock);
	if (rl->window_start_ns == 0 || now - rl->window_start_ns >= LOG_RL_WINDOW_MS * 1000000ull) {
		rl->window_start_ns = now;
		rl->passed = 0;
	}
	pass = rl->passed < LOG_RL_BURST;
	if (pass) {
		rl->passed++;
		*suppressed = rl->suppressed;
		rl->suppressed = 0;
	} else {
		rl->suppressed++;
	}
	pthread_mutex_unlock(&ratelimit_lock);
	return pass;
}
