/* SPDX-License-Identifier: MIT */
/*
 * JSON-RPC 2.0 framing and dispatch (src/control/jsonrpc.c): request
 * validation, the standard error codes, notifications, batches, param
 * accessors and hostile input.
 */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/log.h"
#include "control/jsonrpc.h"

static int calls;

/* echo: returns its params (or {} when absent). */
static int m_echo(void *ctx, struct json_object *params, struct json_object **result,
		  struct rpc_error *err)
{
	calls++;
	*result = params ? json_object_get(params) : json_object_new_object();
	return 0;
}

/* add: { "a": u64 <= 1000, "b": u64 <= 1000, "neg": bool } -> a + b */
static int m_add(void *ctx, struct json_object *params, struct json_object **result,
		 struct rpc_error *err)
{
	uint64_t a = 0, b = 0;
	bool neg = false;

	calls++;
	if (rpc_params_only(params, (const char *const[]){ "a", "b", "neg", NULL }, err) ||
	    rpc_param_u64(params, "a", true, 1000, &a, err) ||
	    rpc_param_u64(params, "b", false, 1000, &b, err) ||
	    rpc_param_bool(params, "neg", false, &neg, err))
		return -1;
	*result = json_object_new_int64(neg ? -(int64_t)(a + b) : (int64_t)(a + b));
	return 0;
}

static int m_refuse(void *ctx, struct json_object *params, struct json_object **result,
		    struct rpc_error *err)
{
	calls++;
	return rpc_fail_errno(err, -EEXIST, "subsystem %s", "nqn.2014-08.org.example:x");
}

/* A context that already ends with the errno text, as the backend's messages do. */
static int m_refuse_with_text(void *ctx, struct json_object *params, struct json_object **result,
			      struct rpc_error *err)
{
	calls++;
	return rpc_fail_errno(err, -ENOENT, "/x/ns.img: %s", strerror(ENOENT));
}

static const struct rpc_method methods[] = {
	{ "echo", m_echo, false },
	{ "add", m_add, true },
	{ "refuse", m_refuse, true },
	{ "refuse_with_text", m_refuse_with_text, true },
};
static const struct rpc_dispatcher disp = { methods, 4, NULL };

/* Run one message; returns the parsed response (NULL if none) and checks framing. */
static struct json_object *call(const char *msg)
{
	struct strbuf out;

	strbuf_init(&out);
	jsonrpc_handle(&disp, "test", msg, strlen(msg), &out);
	if (out.len == 0) {
		strbuf_free(&out);
		return NULL;
	}
	/* Exactly one line, newline-terminated. */
	assert_int_equal(out.data[out.len - 1], '\n');
	assert_null(memchr(out.data, '\n', out.len - 1));
	struct json_object *r = json_tokener_parse(out.data);
	assert_non_null(r);
	strbuf_free(&out);
	return r;
}

static struct json_object *member(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	assert_true(json_object_object_get_ex(o, key, &v));
	return v;
}

static bool has(struct json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

static void expect_error(const char *msg, int code, bool id_null)
{
	struct json_object *r = call(msg);

	assert_non_null(r);
	assert_string_equal(json_object_get_string(member(r, "jsonrpc")), "2.0");
	assert_false(has(r, "result"));
	struct json_object *e = member(r, "error");
	assert_int_equal(json_object_get_int(member(e, "code")), code);
	assert_true(strlen(json_object_get_string(member(e, "message"))) > 0);
	if (id_null)
		assert_null(member(r, "id"));
	json_object_put(r);
}

static void test_success_keeps_id(void **state)
{
	struct json_object *r = call("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"add\","
				     "\"params\":{\"a\":2,\"b\":40}}");
	assert_int_equal(json_object_get_int(member(r, "id")), 7);
	assert_int_equal(json_object_get_int(member(r, "result")), 42);
	assert_false(has(r, "error"));
	json_object_put(r);

	r = call("{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"echo\",\"params\":{\"x\":[1,2]}}");
	assert_string_equal(json_object_get_string(member(r, "id")), "abc");
	assert_int_equal(json_object_array_length(member(member(r, "result"), "x")), 2);
	json_object_put(r);

	/* Absent params and an empty positional list both mean "no params". */
	r = call("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"echo\"}");
	assert_null(member(r, "id"));
	assert_true(json_object_is_type(member(r, "result"), json_type_object));
	json_object_put(r);
	r = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[]}");
	assert_true(has(r, "result"));
	json_object_put(r);
}

static void test_parse_errors(void **state)
{
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1", JSONRPC_PARSE_ERROR, true);
	expect_error("{\"jsonrpc\": 2.0,,}", JSONRPC_PARSE_ERROR, true);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"} trailing", JSONRPC_PARSE_ERROR,
		     true);
	expect_error("{'jsonrpc':'2.0'}", JSONRPC_PARSE_ERROR, true); /* strict JSON only */
	expect_error("\x01\x02\xff", JSONRPC_PARSE_ERROR, true);
	expect_error("", JSONRPC_PARSE_ERROR, true);
}

static void test_invalid_requests(void **state)
{
	expect_error("1", JSONRPC_INVALID_REQUEST, true);
	expect_error("\"echo\"", JSONRPC_INVALID_REQUEST, true);
	expect_error("{\"id\":1,\"method\":\"echo\"}", JSONRPC_INVALID_REQUEST, false);
	expect_error("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"echo\"}", JSONRPC_INVALID_REQUEST,
		     false);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", JSONRPC_INVALID_REQUEST, false);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1}", JSONRPC_INVALID_REQUEST, false);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":\"x\"}",
		     JSONRPC_INVALID_REQUEST, false);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"echo\"}",
		     JSONRPC_INVALID_REQUEST, true);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"param\":{}}",
		     JSONRPC_INVALID_REQUEST, false);
	/* Invalid requests are answered even without an id. */
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":1}", JSONRPC_INVALID_REQUEST, true);

	/* When the id could be read it comes back with the error. */
	struct json_object *r = call("{\"jsonrpc\":\"1.0\",\"id\":9,\"method\":\"echo\"}");
	assert_int_equal(json_object_get_int(member(r, "id")), 9);
	json_object_put(r);
}

static void test_method_not_found(void **state)
{
	struct json_object *r = call("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"nope\"}");
	struct json_object *e = member(r, "error");
	assert_int_equal(json_object_get_int(member(e, "code")), JSONRPC_METHOD_NOT_FOUND);
	assert_non_null(strstr(json_object_get_string(member(e, "message")), "nope"));
	assert_int_equal(json_object_get_int(member(r, "id")), 3);
	json_object_put(r);
}

static void test_invalid_params(void **state)
{
	static const char *const bad[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\"}", /* missing a */
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\",\"params\":{\"a\":\"1\"}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\",\"params\":{\"a\":-1}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\",\"params\":{\"a\":1001}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\",\"params\":{\"a\":1.5}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\",\"params\":{\"a\":1,\"c\":2}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\",\"params\":{\"a\":1,\"neg\":1}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\",\"params\":[1,2]}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\","
		"\"params\":{\"a\":18446744073709551615}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i], JSONRPC_INVALID_PARAMS, false);

	struct json_object *r = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\","
				     "\"params\":{\"a\":1000,\"neg\":true}}");
	assert_int_equal(json_object_get_int(member(r, "result")), -1000);
	json_object_put(r);
}

static void test_target_error(void **state)
{
	struct json_object *r = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"refuse\"}");
	struct json_object *e = member(r, "error");
	assert_int_equal(json_object_get_int(member(e, "code")), JSONRPC_TARGET_ERROR);
	assert_string_equal(json_object_get_string(member(e, "message")),
			    "subsystem nqn.2014-08.org.example:x: File exists");
	assert_int_equal(json_object_get_int(member(member(e, "data"), "errno")), EEXIST);
	json_object_put(r);

	/* The errno text appears once even when the context already ends with it. */
	r = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"refuse_with_text\"}");
	e = member(r, "error");
	assert_string_equal(json_object_get_string(member(e, "message")), "/x/ns.img: No such file or directory");
	json_object_put(r);
}

static void test_notifications(void **state)
{
	calls = 0;
	assert_null(call("{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}"));
	assert_int_equal(calls, 1);
	/* Errors of notifications are not reported either. */
	assert_null(call("{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}"));
	assert_null(call("{\"jsonrpc\":\"2.0\",\"method\":\"refuse\"}"));
	assert_null(call("{\"jsonrpc\":\"2.0\",\"method\":\"add\",\"params\":{}}"));
	assert_int_equal(calls, 3);
}

static void test_batch(void **state)
{
	struct json_object *r = call(
		"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\",\"params\":{\"a\":1,\"b\":2}},"
		" {\"jsonrpc\":\"2.0\",\"method\":\"echo\"},"
		" {\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"},"
		" 5]");
	assert_true(json_object_is_type(r, json_type_array));
	assert_int_equal(json_object_array_length(r), 3);
	struct json_object *a = json_object_array_get_idx(r, 0);
	assert_int_equal(json_object_get_int(member(a, "result")), 3);
	struct json_object *b = json_object_array_get_idx(r, 1);
	assert_int_equal(json_object_get_int(member(member(b, "error"), "code")),
			 JSONRPC_METHOD_NOT_FOUND);
	struct json_object *c = json_object_array_get_idx(r, 2);
	assert_int_equal(json_object_get_int(member(member(c, "error"), "code")),
			 JSONRPC_INVALID_REQUEST);
	json_object_put(r);

	expect_error("[]", JSONRPC_INVALID_REQUEST, true);
	/* Only notifications: nothing at all comes back. */
	assert_null(call("[{\"jsonrpc\":\"2.0\",\"method\":\"echo\"},"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}]"));

	/* Oversized batches are refused as a whole. */
	struct strbuf big;
	strbuf_init(&big);
	strbuf_puts(&big, "[");
	for (int i = 0; i <= JSONRPC_MAX_BATCH; i++)
		strbuf_printf(&big, "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"echo\"}",
			      i ? "," : "", i);
	strbuf_puts(&big, "]");
	calls = 0;
	expect_error(big.data, JSONRPC_INVALID_REQUEST, true);
	assert_int_equal(calls, 0);
	strbuf_free(&big);
}

static void test_deep_nesting(void **state)
{
	/* Deeper than JSONRPC_MAX_DEPTH: refused by the parser, no recursion blow-up. */
	size_t depth = 100000;
	char *msg = malloc(2 * depth + 1);
	assert_non_null(msg);
	memset(msg, '[', depth);
	memset(msg + depth, ']', depth);
	msg[2 * depth] = '\0';
	expect_error(msg, JSONRPC_PARSE_ERROR, true);
	free(msg);
}

static void test_garbage_does_not_crash(void **state)
{
	/* Random bytes and mutated requests: always exactly one error reply. */
	const char *seed = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\",\"params\":{\"a\":1}}";
	size_t n = strlen(seed);
	char buf[128];
	unsigned int rnd = 12345;

	for (int iter = 0; iter < 5000; iter++) {
		memcpy(buf, seed, n + 1);
		for (int k = 0; k < 3; k++) {
			rnd = rnd * 1103515245u + 12345u;
			buf[(rnd >> 8) % n] = (char)(rnd >> 16);
		}
		struct strbuf out;
		strbuf_init(&out);
		jsonrpc_handle(&disp, "fuzz", buf, n, &out);
		if (out.len) {
			struct json_object *r = json_tokener_parse(out.data);
			assert_non_null(r);
			json_object_put(r);
		}
		strbuf_free(&out);
	}
}

int main(void)
{
	log_set_level(LOG_LVL_ERROR); /* the refusals below are expected */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_success_keeps_id),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_invalid_requests),
		cmocka_unit_test(test_method_not_found),
		cmocka_unit_test(test_invalid_params),
		cmocka_unit_test(test_target_error),
		cmocka_unit_test(test_notifications),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_garbage_does_not_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
