/* SPDX-License-Identifier: MIT */
/*
 * The metrics endpoint's HTTP/1.x handling: just enough to answer
 * "GET /metrics" from a scraper, and to refuse anything else cleanly.
 * Requests come from the network: sizes are bounded and every field is
 * checked before use.
 */
#ifndef NVMEOF_CONTROL_HTTP_H
#define NVMEOF_CONTROL_HTTP_H

#include <stddef.h>

#include "control/strbuf.h"

#define HTTP_MAX_REQUEST 8192 /* request line + headers */

struct http_request {
	char method[16];
	char path[256]; /* without the query string */
};

enum http_parse_result {
	HTTP_INCOMPLETE, /* no end of headers yet */
	HTTP_COMPLETE,
	HTTP_BAD_REQUEST, /* malformed: answer 400 */
	HTTP_TOO_LARGE, /* headers beyond HTTP_MAX_REQUEST: answer 431 */
};

/* Look at the bytes received so far. */
enum http_parse_result http_parse_request(const char *buf, size_t len, struct http_request *req);

/* Append a whole response (status line, headers, body) with Connection: close. */
void http_response(struct strbuf *out, int status, const char *content_type, const char *body,
		   size_t body_len, int head_only);

#endif
