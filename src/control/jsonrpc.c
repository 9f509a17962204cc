/* SPDX-License-Identifier: MIT */
#include "control/jsonrpc.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

#define PARAMS_SUMMARY_MAX 160

int rpc_fail(struct rpc_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	e->err = 0;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -1;
}

int rpc_fail_errno(struct rpc_error *e, int neg_errno, const char *fmt, ...)
{
	va_list ap;
	char ctx[192];

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	e->code = JSONRPC_TARGET_ERROR;
	e->err = neg_errno < 0 ? -neg_errno : neg_errno;
	/* Messages from the backend and the config code may already hold the errno text. */
	const char *text = strerror(e->err);

	if (strstr(ctx, text))
		snprintf(e->message, sizeof(e->message), "%s", ctx);
	else
		snprintf(e->message, sizeof(e->message), "%s: %s", ctx, text);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Params                                                               */

int rpc_params_only(struct json_object *params, const char *const *allowed, struct rpc_error *err)
{
	if (!params)
		return 0;
	if (!json_object_is_type(params, json_type_object))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "params must be an object");
	json_object_object_foreach(params, key, val) {
		(void)val;
		bool known = false;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, key) == 0)
				known = true;
		if (!known)
			return rpc_fail(err, JSONRPC_INVALID_PARAMS, "unknown parameter '%s'", key);
	}
	return 0;
}

static struct json_object *param_get(struct json_object *params, const char *key)
{
	struct json_object *v = NULL;

	if (!params || !json_object_is_type(params, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(params, key, &v))
		return NULL;
	return v;
}

static int param_missing(const char *key, bool required, struct rpc_error *err)
{
	if (required)
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "missing parameter '%s'", key);
	return 0;
}

int rpc_param_str(struct json_object *params, const char *key, bool required, const char **out,
		  struct rpc_error *err)
{
	struct json_object *v = param_get(params, key);

	if (!v)
		return param_missing(key, required, err);
	if (!json_object_is_type(v, json_type_string))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "parameter '%s' must be a string", key);
	*out = json_object_get_string(v);
	return 0;
}

int rpc_param_u64(struct json_object *params, const char *key, bool required, uint64_t max,
		  uint64_t *out, struct rpc_error *err)
{
	struct json_object *v = param_get(params, key);

	if (!v)
		return param_missing(key, required, err);
	if (!json_object_is_type(v, json_type_int))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "parameter '%s' must be an integer", key);
	/* json-c keeps integers above INT64_MAX as unsigned; below zero as signed. */
	int64_t s = json_object_get_int64(v);
	uint64_t u = s < 0 ? 0 : json_object_get_uint64(v);
	if (s < 0 || u > max)
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "parameter '%s' out of range (0..%llu)", key,
				(unsigned long long)max);
	*out = u;
	return 0;
}

int rpc_param_bool(struct json_object *params, const char *key, bool required, bool *out,
		   struct rpc_error *err)
{
	struct json_object *v = param_get(params, key);

	if (!v)
		return param_missing(key, required, err);
	if (!json_object_is_type(v, json_type_boolean))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "parameter '%s' must be true or false", key);
	*out = json_object_get_boolean(v);
	return 0;
}

int rpc_param_str_array(struct json_object *params, const char *key, struct json_object **out,
			struct rpc_error *err)
{
	struct json_object *v = param_get(params, key);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return rpc_fail(err, JSONRPC_INVALID_PARAMS, "parameter '%s' must be an array", key);
	size_t n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
			return rpc_fail(err, JSONRPC_INVALID_PARAMS,
					"parameter '%s' must hold only strings", key);
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                             */

static struct json_object *response_new(struct json_object *id)
{
	struct json_object *r = json_object_new_object();

	if (!r)
		return NULL;
	json_object_object_add(r, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(r, "id", id ? json_object_get(id) : NULL);
	return r;
}

static struct json_object *error_response(struct json_object *id, const struct rpc_error *e)
{
	struct json_object *r = response_new(id);
	struct json_object *eo = json_object_new_object();

	if (!r || !eo) {
		json_object_put(r);
		json_object_put(eo);
		return NULL;
	}
	json_object_object_add(eo, "code", json_object_new_int(e->code));
	json_object_object_add(eo, "message", json_object_new_string(e->message));
	if (e->err) {
		struct json_object *data = json_object_new_object();
		if (data) {
			json_object_object_add(data, "errno", json_object_new_int(e->err));
			json_object_object_add(eo, "data", data);
		}
	}
	json_object_object_add(r, "error", eo);
	return r;
}

/* Secrets (members named "...key..." or "...secret...": TLS PSKs, DH-HMAC-CHAP keys) never reach the log. */
static struct json_object *params_redacted(struct json_object *params)
{
	struct json_object *copy = NULL;

	if (!json_object_is_type(params, json_type_object))
		return json_object_get(params);
	json_object_object_foreach(params, key, val) {
		(void)val;
		if (!strstr(key, "key") && !strstr(key, "secret"))
			continue;
		if (!copy && json_object_deep_copy(params, &copy, NULL))
			return NULL;
		json_object_object_add(copy, key, json_object_new_string("(secret)"));
	}
	return copy ? copy : json_object_get(params);
}

static void params_summary(struct json_object *params, char *buf, size_t len)
{
	struct json_object *shown;

	if (!params) {
		snprintf(buf, len, "-");
		return;
	}
	shown = params_redacted(params);
	if (!shown) {
		snprintf(buf, len, "(out of memory)");
		return;
	}
	const char *s = json_object_to_json_string_ext(
		shown, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s);
	if (n < len && n <= PARAMS_SUMMARY_MAX)
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "%.*s...", (int)(len < PARAMS_SUMMARY_MAX ? len - 4 : PARAMS_SUMMARY_MAX),
			 s);
	json_object_put(shown);
}

/* Method names come from the client: keep them from forging log lines. */
static void printable(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 < len; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", *p);
	}
	out[o] = '\0';
}

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static bool id_valid(struct json_object *id)
{
	/* Absent/null, a string or a number (section 4). */
	return !id || json_object_is_type(id, json_type_string) ||
	       json_object_is_type(id, json_type_int) || json_object_is_type(id, json_type_double);
}

/* Returns the response object, or NULL for a notification (or OOM). */
static struct json_object *handle_one(const struct rpc_dispatcher *d, const char *client,
				      struct json_object *req)
{
	struct rpc_error err = { 0 };
	struct json_object *id = NULL, *method = NULL, *params = NULL, *version = NULL;
	bool has_id = false;

	if (!json_object_is_type(req, json_type_object)) {
		rpc_fail(&err, JSONRPC_INVALID_REQUEST, "request must be an object");
		goto invalid;
	}
	has_id = json_object_object_get_ex(req, "id", &id);
	if (!id_valid(id)) {
		id = NULL;
		rpc_fail(&err, JSONRPC_INVALID_REQUEST, "id must be a string, a number or null");
		goto invalid;
	}
	json_object_object_foreach(req, key, val) {
		(void)val;
		if (strcmp(key, "jsonrpc") && strcmp(key, "method") && strcmp(key, "params") &&
		    strcmp(key, "id")) {
			rpc_fail(&err, JSONRPC_INVALID_REQUEST, "unexpected member '%s'", key);
			goto invalid;
		}
	}
	if (!json_object_object_get_ex(req, "jsonrpc", &version) ||
	    !json_object_is_type(version, json_type_string) ||
	    strcmp(json_object_get_string(version), "2.0") != 0) {
		rpc_fail(&err, JSONRPC_INVALID_REQUEST, "jsonrpc must be \"2.0\"");
		goto invalid;
	}
	if (!json_object_object_get_ex(req, "method", &method) ||
	    !json_object_is_type(method, json_type_string)) {
		rpc_fail(&err, JSONRPC_INVALID_REQUEST, "method must be a string");
		goto invalid;
	}
	if (json_object_object_get_ex(req, "params", &params) && params &&
	    !json_object_is_type(params, json_type_object) &&
	    !json_object_is_type(params, json_type_array)) {
		rpc_fail(&err, JSONRPC_INVALID_REQUEST, "params must be an object or an array");
		goto invalid;
	}

	const char *name = json_object_get_string(method);
	char name_log[80];
	printable(name, name_log, sizeof(name_log));
	const struct rpc_method *m = NULL;
	for (size_t i = 0; i < d->n_methods; i++)
		if (strcmp(d->methods[i].name, name) == 0)
			m = &d->methods[i];

	char summary[PARAMS_SUMMARY_MAX + 8];
	params_summary(params, summary, sizeof(summary));
	if (!m) {
		log_warn("control", "client=%s method=%s params=%s result=error code=%d (no such method)",
			 client, name_log, summary, JSONRPC_METHOD_NOT_FOUND);
		if (!has_id)
			return NULL;
		rpc_fail(&err, JSONRPC_METHOD_NOT_FOUND, "method '%s' not found", name_log);
		return error_response(id, &err);
	}
	if (params && json_object_is_type(params, json_type_array)) {
		/* Every method takes named parameters; by-position would be ambiguous. */
		if (json_object_array_length(params) != 0) {
			rpc_fail(&err, JSONRPC_INVALID_PARAMS, "params must be an object");
			goto failed;
		}
		params = NULL;
	}

	struct timespec t0;
	struct json_object *result = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (m->fn(d->ctx, params, &result, &err) != 0) {
		json_object_put(result);
		goto failed;
	}
	log_msg(m->mutating ? LOG_LVL_NOTICE : LOG_LVL_DEBUG, "control",
		"client=%s method=%s params=%s result=ok (%.1f ms)", client, name_log, summary,
		elapsed_ms(&t0));
	if (!has_id) {
		json_object_put(result);
		return NULL;
	}
	struct json_object *resp = response_new(id);
	if (!resp) {
		json_object_put(result);
		return NULL;
	}
	json_object_object_add(resp, "result", result);
	return resp;

failed:;
	char msg_log[sizeof(err.message) + 64];
	printable(err.message, msg_log, sizeof(msg_log));
	log_warn("control", "client=%s method=%s params=%s result=error code=%d message=\"%s\"", client,
		 name_log, summary, err.code, msg_log);
	return has_id ? error_response(id, &err) : NULL;

invalid:
	log_warn("control", "client=%s invalid request: %s", client, err.message);
	/* An invalid request is answered even without an id (section 5). */
	return error_response(id, &err);
}

static void emit(struct strbuf *out, struct json_object *resp)
{
	strbuf_puts(out, json_object_to_json_string_ext(
				 resp, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	strbuf_append(out, "\n", 1);
}

void jsonrpc_handle(const struct rpc_dispatcher *d, const char *client, const char *msg, size_t len,
		    struct strbuf *out)
{
	struct rpc_error err = { 0 };
	struct json_tokener *tok = json_tokener_new_ex(JSONRPC_MAX_DEPTH);
	struct json_object *req = NULL, *resp = NULL;

	if (!tok) {
		rpc_fail(&err, JSONRPC_INTERNAL_ERROR, "out of memory");
		goto error;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	req = json_tokener_parse_ex(tok, msg, (int)len);
	size_t used = json_tokener_get_parse_end(tok);
	if (!req && json_tokener_get_error(tok) == json_tokener_continue) {
		/* The line is the whole message: a bare number at its end is complete. */
		req = json_tokener_parse_ex(tok, " ", 1);
		used = len;
	}
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	bool trailing = false;
	for (size_t i = used; req && i < len; i++)
		if (msg[i] != ' ' && msg[i] != '\t' && msg[i] != '\r' && msg[i] != '\n')
			trailing = true;
	if (!req || jerr != json_tokener_success || trailing) {
		const char *why = trailing ? "trailing data after the JSON value"
			: jerr == json_tokener_continue ? "incomplete JSON"
							: json_tokener_error_desc(jerr);
		rpc_fail(&err, JSONRPC_PARSE_ERROR, "parse error at byte %zu: %s", used, why);
		log_warn("control", "client=%s %s", client, err.message);
		goto error;
	}

	if (json_object_is_type(req, json_type_array)) {
		size_t n = json_object_array_length(req);
		if (n == 0 || n > JSONRPC_MAX_BATCH) {
			rpc_fail(&err, JSONRPC_INVALID_REQUEST, n ? "batch larger than %d requests"
								   : "empty batch",
				 JSONRPC_MAX_BATCH);
			goto error;
		}
		struct json_object *arr = json_object_new_array();
		if (!arr) {
			rpc_fail(&err, JSONRPC_INTERNAL_ERROR, "out of memory");
			goto error;
		}
		for (size_t i = 0; i < n; i++) {
			struct json_object *r = handle_one(d, client, json_object_array_get_idx(req, i));
			if (r)
				json_object_array_add(arr, r);
		}
		/* A batch of notifications gets no answer at all (section 6). */
		if (json_object_array_length(arr) > 0)
			emit(out, arr);
		json_object_put(arr);
	} else {
		resp = handle_one(d, client, req);
		if (resp)
			emit(out, resp);
		json_object_put(resp);
	}
	json_object_put(req);
	json_tokener_free(tok);
	return;

error:
	resp = error_response(NULL, &err);
	if (resp)
		emit(out, resp);
	json_object_put(resp);
	json_object_put(req);
	if (tok)
		json_tokener_free(tok);
}
