/* SPDX-License-Identifier: MIT */
/*
 * The metrics endpoint's HTTP request parsing and responses
 * (src/control/http.c): complete and partial requests, malformed and
 * oversized ones, and random bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/http.h"

static enum http_parse_result parse(const char *s, struct http_request *r)
{
	return http_parse_request(s, strlen(s), r);
}

static void test_complete_requests(void **state)
{
	struct http_request r;

	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", &r),
			 HTTP_COMPLETE);
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.path, "/metrics");
	/* Bare LF line endings, HTTP/1.0, a query string. */
	assert_int_equal(parse("HEAD /metrics?name[]=x HTTP/1.0\n\n", &r), HTTP_COMPLETE);
	assert_string_equal(r.method, "HEAD");
	assert_string_equal(r.path, "/metrics");
	assert_int_equal(parse("POST /other HTTP/1.1\r\n\r\n", &r), HTTP_COMPLETE);
	assert_string_equal(r.path, "/other");
}

static void test_incomplete(void **state)
{
	struct http_request r;
	const char *full = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

	/* Every strict prefix is incomplete, never an error. */
	for (size_t n = 0; n < strlen(full); n++)
		assert_int_equal(http_parse_request(full, n, &r), HTTP_INCOMPLETE);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"get /metrics HTTP/1.1\r\n\r\n",
		"GET metrics HTTP/1.1\r\n\r\n",
		"GET /metrics\r\n\r\n",
		"GET /metrics HTTP/2.0\r\n\r\n",
		"GET /metrics HTTP/1.1 extra\r\n\r\n",
		"GET  /metrics HTTP/1.1\r\n\r\n",
		"\r\n\r\n",
		"GET /me\x01trics HTTP/1.1\r\n\r\n",
		"VERYLONGMETHODNAMEXX /metrics HTTP/1.1\r\n\r\n",
	};
	struct http_request r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &r) != HTTP_BAD_REQUEST)
			fail_msg("accepted: %s", bad[i]);

	char longpath[600] = "GET /";
	memset(longpath + 5, 'a', 400);
	strcpy(longpath + 405, " HTTP/1.1\r\n\r\n");
	assert_int_equal(parse(longpath, &r), HTTP_BAD_REQUEST);
}

static void test_too_large(void **state)
{
	struct http_request r;
	char *big = malloc(HTTP_MAX_REQUEST + 64);

	assert_non_null(big);
	strcpy(big, "GET /metrics HTTP/1.1\r\nX: ");
	size_t n = strlen(big);
	memset(big + n, 'a', HTTP_MAX_REQUEST + 10 - n);
	/* No end of headers within the limit. */
	assert_int_equal(http_parse_request(big, HTTP_MAX_REQUEST, &r), HTTP_TOO_LARGE);
	/* End of headers past the limit. */
	memcpy(big + HTTP_MAX_REQUEST + 10, "\r\n\r\n", 4);
	assert_int_equal(http_parse_request(big, HTTP_MAX_REQUEST + 14, &r), HTTP_TOO_LARGE);
	free(big);
}

static void test_random_bytes(void **state)
{
	struct http_request r;
	unsigned int seed = 7;
	char *buf = malloc(512);

	assert_non_null(buf);
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = (size_t)(iter % 512);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			/* Bias toward the bytes that matter to the parser. */
			static const char interesting[] = "GET /metrics HTTP/1.1\r\n ";
			buf[i] = (seed >> 24) & 1 ? interesting[(seed >> 8) % (sizeof(interesting) - 1)]
						  : (char)(seed >> 16);
		}
		/* A heap buffer of exactly n bytes: ASan catches any overread. */
		char *exact = malloc(n ? n : 1);
		assert_non_null(exact);
		memcpy(exact, buf, n);
		enum http_parse_result pr = http_parse_request(exact, n, &r);
		assert_true(pr >= HTTP_INCOMPLETE && pr <= HTTP_TOO_LARGE);
		if (pr == HTTP_COMPLETE)
			assert_int_equal(r.path[0], '/');
		free(exact);
	}
	free(buf);
}

static void test_response(void **state)
{
	struct strbuf sb;

	strbuf_init(&sb);
	http_response(&sb, 200, "text/plain; version=0.0.4", "a 1\n", 4, 0);
	assert_string_equal(sb.data, "HTTP/1.1 200 OK\r\n"
				     "Content-Type: text/plain; version=0.0.4\r\n"
				     "Content-Length: 4\r\n"
				     "Cache-Control: no-store\r\n"
				     "Connection: close\r\n"
				     "\r\n"
				     "a 1\n");
	strbuf_reset(&sb);
	/* HEAD: same headers, no body. */
	http_response(&sb, 404, "text/plain", "not found\n", 10, 1);
	assert_non_null(strstr(sb.data, "HTTP/1.1 404 Not Found\r\n"));
	assert_non_null(strstr(sb.data, "Content-Length: 10\r\n"));
	assert_int_equal(strcmp(sb.data + sb.len - 4, "\r\n\r\n"), 0);
	strbuf_reset(&sb);
	http_response(&sb, 405, "text/plain", "", 0, 0);
	assert_non_null(strstr(sb.data, "Allow: GET, HEAD\r\n"));
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_requests),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_response),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
