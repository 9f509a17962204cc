/* SPDX-License-Identifier: MIT */
/*
 * JSON-RPC 2.0 over a byte stream, one message per line.
 *
 * jsonrpc_handle() takes one framed message (a request, a notification or a
 * batch), validates it, calls the method's handler and appends the response
 * line to `out` (nothing for notifications). Method handlers see only their
 * params and report failures through struct rpc_error; every call is logged
 * with the client, the method, a summary of the params and the outcome.
 */
#ifndef NVMEOF_CONTROL_JSONRPC_H
#define NVMEOF_CONTROL_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control/strbuf.h"

struct json_object;

/* Standard codes (JSON-RPC 2.0, section 5.1). */
#define JSONRPC_PARSE_ERROR -32700
#define JSONRPC_INVALID_REQUEST -32600
#define JSONRPC_METHOD_NOT_FOUND -32601
#define JSONRPC_INVALID_PARAMS -32602
#define JSONRPC_INTERNAL_ERROR -32603
/* The target refused the operation; "data": { "errno": N } tells why. */
#define JSONRPC_TARGET_ERROR -32000

#define JSONRPC_MAX_DEPTH 32
#define JSONRPC_MAX_BATCH 64

struct rpc_error {
	int code;
	int err; /* positive errno for JSONRPC_TARGET_ERROR, else 0 */
	char message[256];
};

/* Handlers return 0 and set *result (NULL means JSON null), or return -1
 * with err filled in. */
typedef int (*rpc_handler_fn)(void *ctx, struct json_object *params, struct json_object **result,
			      struct rpc_error *err);

struct rpc_method {
	const char *name;
	rpc_handler_fn fn;
	bool mutating; /* changes the target: logged at notice, queries at debug */
};

struct rpc_dispatcher {
	const struct rpc_method *methods;
	size_t n_methods;
	void *ctx;
};

/* `client` names the peer in log lines (e.g. "pid=12 uid=0"). */
void jsonrpc_handle(const struct rpc_dispatcher *d, const char *client, const char *msg, size_t len,
		    struct strbuf *out);

/* Error helpers for handlers; both return -1 so a handler can `return rpc_fail(...)`. */
int rpc_fail(struct rpc_error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A target error from a negative errno: "<context>: <strerror>". */
int rpc_fail_errno(struct rpc_error *e, int neg_errno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Param accessors. params is the request's "params" (NULL when absent). A
 * missing optional key leaves *out untouched and returns 0; a missing
 * required key or a wrong type fails with JSONRPC_INVALID_PARAMS.
 */
int rpc_params_only(struct json_object *params, const char *const *allowed, struct rpc_error *err);
int rpc_param_str(struct json_object *params, const char *key, bool required, const char **out,
		  struct rpc_error *err);
int rpc_param_u64(struct json_object *params, const char *key, bool required, uint64_t max,
		  uint64_t *out, struct rpc_error *err);
int rpc_param_bool(struct json_object *params, const char *key, bool required, bool *out,
		   struct rpc_error *err);
/* An array of strings; *out is the array (borrowed) or untouched. */
int rpc_param_str_array(struct json_object *params, const char *key, struct json_object **out,
			struct rpc_error *err);

#endif
