/* SPDX-License-Identifier: MIT */
#include "control/http.h"

#include <string.h>

static const char *find_header_end(const char *buf, size_t len, size_t *end)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (buf[i] == '\n' && buf[i + 1] == '\n') {
			*end = i + 2;
			return buf + i;
		}
		if (i + 3 < len && buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
		    buf[i + 3] == '\n') {
			*end = i + 4;
			return buf + i;
		}
	}
	return NULL;
}

static int token_char(char c) { return c > ' ' && c < 0x7f; }

enum http_parse_result http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	size_t end = 0;

	memset(req, 0, sizeof(*req));
	if (!find_header_end(buf, len, &end))
		return len >= HTTP_MAX_REQUEST ? HTTP_TOO_LARGE : HTTP_INCOMPLETE;
	if (end > HTTP_MAX_REQUEST)
		return HTTP_TOO_LARGE;

	/* Request line: METHOD SP TARGET SP HTTP/1.x (RFC 9112, section 3). */
	size_t i = 0, n = 0;
	while (i < end && token_char(buf[i]) && buf[i] >= 'A' && buf[i] <= 'Z') {
		if (n + 1 >= sizeof(req->method))
			return HTTP_BAD_REQUEST;
		req->method[n++] = buf[i++];
	}
	if (n == 0 || i >= end || buf[i] != ' ')
		return HTTP_BAD_REQUEST;
	i++;
	n = 0;
	if (i >= end || buf[i] != '/')
		return HTTP_BAD_REQUEST;
	bool in_query = false;
	while (i < end && token_char(buf[i])) {
		if (buf[i] == '?' || buf[i] == '#')
			in_query = true;
		if (!in_query) {
			if (n + 1 >= sizeof(req->path))
				return HTTP_BAD_REQUEST;
			req->path[n++] = buf[i];
		}
		i++;
	}
	if (i >= end || buf[i] != ' ')
		return HTTP_BAD_REQUEST;
	i++;
	static const char version[] = "HTTP/1.";
	if (end - i < sizeof(version) || memcmp(buf + i, version, sizeof(version) - 1) != 0)
		return HTTP_BAD_REQUEST;
	i += sizeof(version) - 1;
	if (buf[i] != '0' && buf[i] != '1')
		return HTTP_BAD_REQUEST;
	i++;
	if (buf[i] == '\r')
		i++;
	if (buf[i] != '\n')
		return HTTP_BAD_REQUEST;
	return HTTP_COMPLETE;
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

void http_response(struct strbuf *out, int status, const char *content_type, const char *body,
		   size_t body_len, int head_only)
{
	strbuf_printf(out,
		      "HTTP/1.1 %d %s\r\n"
		      "Content-Type: %s\r\n"
		      "Content-Length: %zu\r\n"
		      "Cache-Control: no-store\r\n"
		      "Connection: close\r\n",
		      status, reason(status), content_type, body_len);
	if (status == 405)
		strbuf_puts(out, "Allow: GET, HEAD\r\n");
	strbuf_puts(out, "\r\n");
	if (!head_only && body_len)
		strbuf_append(out, body, body_len);
}
