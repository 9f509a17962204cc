/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer for the control path (responses, metrics text).
 * Allocation failure is sticky: later appends are ignored and strbuf_failed()
 * reports it once, at the point where the result is used.
 */
#ifndef NVMEOF_CONTROL_STRBUF_H
#define NVMEOF_CONTROL_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *data; /* NUL-terminated while len < cap */
	size_t len;
	size_t cap;
	bool oom;
};

void strbuf_init(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);
void strbuf_reset(struct strbuf *sb);
void strbuf_append(struct strbuf *sb, const void *data, size_t len);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes (consumed input). */
void strbuf_consume(struct strbuf *sb, size_t n);

static inline bool strbuf_failed(const struct strbuf *sb) { return sb->oom; }

#endif
