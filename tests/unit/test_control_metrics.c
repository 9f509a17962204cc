/* SPDX-License-Identifier: MIT */
/*
 * Prometheus rendering (src/control/metrics.c) from a snapshot as the
 * command layer and the control server produce it: exact sample lines,
 * histogram bucket conversion, label escaping, and the exposition format's
 * structural rules (one HELP/TYPE per family, every sample well formed).
 */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/metrics.h"

/* Two subsystems: one with a namespace and a controller, one empty (whose NQN
 * needs escaping), a host with refusals and reactor stats. Histogram of ns 1:
 * 2 commands < 2 us, 3 < 3 us, 1 in [12, 14) us and 4 in the last bucket
 * the array has (which therefore holds everything slower). */
static const char snapshot_json[] =
	"{ \"subsystems\": ["
	"  { \"nqn\": \"nqn.2014-08.org.example:disk1\", \"serial\": \"S1\", \"model\": \"M\","
	"    \"allow_any_host\": false, \"monitor\": true, \"hosts\": [\"nqn.2014-08.org.example:h1\"],"
	"    \"namespaces\": [ { \"nsid\": 1, \"path\": null, \"size\": 67108864, \"block_size\": 512,"
	"       \"stats\": { \"reads\": 7, \"writes\": 3, \"others\": 2, \"read_bytes\": 28672,"
	"         \"write_bytes\": 12288, \"errors\": 1, \"latency_us_sum\": 1234567, \"inflight\": 3,"
	"         \"latency_us_hist\": [0,2,3,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,4] } } ],"
	"    \"controllers\": [ { \"cntlid\": 5, \"hostnqn\": \"nqn.2014-08.org.example:h1\","
	"       \"peer\": \"127.0.0.1:40000\", \"queues\": 3, \"kato_ms\": 5000,"
	"       \"stats\": { \"reads\": 7, \"writes\": 3, \"others\": 9, \"read_bytes\": 28672,"
	"         \"write_bytes\": 12288, \"errors\": 1, \"latency_us_sum\": 10,"
	"         \"latency_us_hist\": [1] } } ],"
	"    \"stats\": { \"reads\": 7, \"writes\": 3, \"others\": 9, \"read_bytes\": 28672,"
	"       \"write_bytes\": 12288, \"errors\": 1, \"latency_us_sum\": 10, \"latency_us_hist\": [] } },"
	"  { \"nqn\": \"nqn.2014-08.org.example:we\\\"ird\\\\name\", \"namespaces\": [],"
	"    \"controllers\": [], \"hosts\": [], \"stats\": {} } ],"
	"  \"ports\": [ { \"portid\": 1, \"adrfam\": \"ipv4\", \"traddr\": \"127.0.0.1\","
	"    \"trsvcid\": \"4420\", \"subsystems\": [], \"referrals\": [] } ],"
	"  \"hosts\": [ { \"nqn\": \"nqn.2014-08.org.example:h1\", \"refused\": 2, \"monitored\": 1,"
	"     \"stats\": { \"reads\": 7, \"writes\": 3, \"others\": 9, \"read_bytes\": 28672,"
	"       \"write_bytes\": 12288, \"errors\": 1 } } ],"
	"  \"audit\": { \"refused\": 6, \"monitored_admissions\": 1 },"
	"  \"connections\": 3,"
	"  \"reactors\": [ { \"id\": 0, \"busy_ns\": 1500000000, \"idle_ns\": 42, \"completions\": 9,"
	"     \"sleeps\": 4, \"busy_polls\": 7, \"spin_misses\": 2 } ] }";

static char *render(const char *json)
{
	struct json_object *snap = json_tokener_parse(json);
	struct strbuf out;

	assert_non_null(snap);
	strbuf_init(&out);
	assert_int_equal(metrics_render(snap, &out), 0);
	json_object_put(snap);
	return out.data; /* caller frees */
}

/* The line must appear exactly once, whole. */
static void expect_line(const char *text, const char *line)
{
	size_t n = strlen(line), hits = 0;

	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			hits++;
	if (hits != 1)
		fail_msg("expected exactly one line \"%s\", found %zu", line, hits);
}

static void test_bucket_bounds(void **state)
{
	char buf[32];

	metrics_bucket_le(0, buf, sizeof(buf));
	assert_string_equal(buf, "0.000001");
	metrics_bucket_le(1, buf, sizeof(buf));
	assert_string_equal(buf, "0.000002");
	metrics_bucket_le(7, buf, sizeof(buf)); /* [7, 8) us */
	assert_string_equal(buf, "0.000008");
	metrics_bucket_le(8, buf, sizeof(buf)); /* [8, 10) us: no trailing zero */
	assert_string_equal(buf, "0.00001");
	metrics_bucket_le(9, buf, sizeof(buf)); /* [10, 12) us */
	assert_string_equal(buf, "0.000012");
	metrics_bucket_le(35, buf, sizeof(buf)); /* [896, 1024) us */
	assert_string_equal(buf, "0.001024");
	metrics_bucket_le(73, buf, sizeof(buf)); /* [655360, 786432) us */
	assert_string_equal(buf, "0.786432");
}

static void test_hist_cumulative(void **state)
{
	const uint64_t hist[6] = { 0, 2, 3, 0, 1, 4 };
	uint64_t cum[6];

	metrics_hist_cumulative(hist, 6, cum);
	assert_int_equal(cum[0], 0);
	assert_int_equal(cum[1], 2);
	assert_int_equal(cum[2], 5);
	assert_int_equal(cum[3], 5);
	assert_int_equal(cum[4], 6);
	assert_int_equal(cum[5], 10);
}

static void test_namespace_counters(void **state)
{
	char *t = render(snapshot_json);
	const char *l = "subsystem=\"nqn.2014-08.org.example:disk1\",nsid=\"1\"";
	char line[256];

	snprintf(line, sizeof(line), "nvmeof_commands_total{%s,op=\"read\"} 7", l);
	expect_line(t, line);
	snprintf(line, sizeof(line), "nvmeof_commands_total{%s,op=\"write\"} 3", l);
	expect_line(t, line);
	snprintf(line, sizeof(line), "nvmeof_commands_total{%s,op=\"other\"} 2", l);
	expect_line(t, line);
	snprintf(line, sizeof(line), "nvmeof_bytes_total{%s,dir=\"read\"} 28672", l);
	expect_line(t, line);
	snprintf(line, sizeof(line), "nvmeof_bytes_total{%s,dir=\"write\"} 12288", l);
	expect_line(t, line);
	snprintf(line, sizeof(line), "nvmeof_errors_total{%s} 1", l);
	expect_line(t, line);
	snprintf(line, sizeof(line), "nvmeof_namespace_size_bytes{%s} 67108864", l);
	expect_line(t, line);
	free(t);
}

static void test_latency_histogram(void **state)
{
	char *t = render(snapshot_json);
	const char *l = "subsystem=\"nqn.2014-08.org.example:disk1\",nsid=\"1\"";
	char line[256];

	snprintf(line, sizeof(line), "nvmeof_latency_seconds_bucket{%s,le=\"0.000001\"} 0", l);
	expect_line(t, line);
	snprintf(line, sizeof(line), "nvmeof_latency_seconds_bucket{%s,le=\"0.000002\"} 2", l);
	expect_line(t, line);
	snprintf(line, sizeof(line), "nvmeof_latency_seconds_bucket{%s,le=\"0.000003\"} 5", l);
	expect_line(t, line);
	snprintf(line, sizeof(line), "nvmeof_latency_seconds_bucket{%s,le=\"0.000012\"} 5", l);
	expect_line(t, line);
	snprintf(line, sizeof(line), "nvmeof_latency_seconds_bucket{%s,le=\"0.000014\"} 6", l);
	expect_line(t, line);
	/* The last bucket also holds everything slower: only +Inf has it. */
	snprintf(line, sizeof(line), "nvmeof_latency_seconds_bucket{%s,le=\"0.000448\"} 6", l);
	expect_line(t, line);
	snprintf(line, sizeof(line), "nvmeof_latency_seconds_bucket{%s,le=\"+Inf\"} 10", l);
	expect_line(t, line);
	assert_null(strstr(t, "le=\"0.000512\""));
	snprintf(line, sizeof(line), "nvmeof_latency_seconds_sum{%s} 1.234567", l);
	expect_line(t, line);
	snprintf(line, sizeof(line), "nvmeof_latency_seconds_count{%s} 10", l);
	expect_line(t, line);
	/* A histogram with no buckets still has +Inf, sum and count. */
	expect_line(t, "nvmeof_subsystem_latency_seconds_bucket{subsystem=\"nqn.2014-08.org.example:"
		       "disk1\",le=\"+Inf\"} 0");
	/* Queue depth: a gauge per object, 0 where the snapshot has none. */
	snprintf(line, sizeof(line), "nvmeof_inflight_commands{%s} 3", l);
	expect_line(t, line);
	expect_line(t, "# TYPE nvmeof_inflight_commands gauge");
	expect_line(t, "nvmeof_subsystem_inflight_commands{subsystem=\"nqn.2014-08.org.example:disk1\"} 0");
	free(t);
}

static void test_controller_host_audit(void **state)
{
	char *t = render(snapshot_json);

	expect_line(t, "nvmeof_controller_queues{subsystem=\"nqn.2014-08.org.example:disk1\","
		       "cntlid=\"5\",host=\"nqn.2014-08.org.example:h1\"} 3");
	expect_line(t, "nvmeof_controller_commands_total{subsystem=\"nqn.2014-08.org.example:disk1\","
		       "cntlid=\"5\",host=\"nqn.2014-08.org.example:h1\",op=\"other\"} 9");
	expect_line(t, "nvmeof_subsystem_commands_total{subsystem=\"nqn.2014-08.org.example:disk1\","
		       "op=\"write\"} 3");
	expect_line(t, "nvmeof_host_commands_total{host=\"nqn.2014-08.org.example:h1\",op=\"read\"} 7");
	expect_line(t, "nvmeof_host_bytes_total{host=\"nqn.2014-08.org.example:h1\",dir=\"write\"} "
		       "12288");
	expect_line(t, "nvmeof_connect_refused_total{host=\"nqn.2014-08.org.example:h1\"} 2");
	expect_line(t, "nvmeof_monitored_admissions_total{host=\"nqn.2014-08.org.example:h1\"} 1");
	expect_line(t, "nvmeof_audit_refused_total 6");
	expect_line(t, "nvmeof_audit_monitored_admissions_total 1");
	expect_line(t, "nvmeof_controllers{subsystem=\"nqn.2014-08.org.example:disk1\"} 1");
	expect_line(t, "nvmeof_subsystems 2");
	expect_line(t, "nvmeof_connections 3");
	expect_line(t, "nvmeof_port_info{portid=\"1\",adrfam=\"ipv4\",traddr=\"127.0.0.1\","
		       "trsvcid=\"4420\"} 1");
	expect_line(t, "nvmeof_reactor_busy_seconds_total{reactor=\"0\"} 1.500000000");
	expect_line(t, "nvmeof_reactor_idle_seconds_total{reactor=\"0\"} 0.000000042");
	expect_line(t, "nvmeof_reactor_completions_total{reactor=\"0\"} 9");
	expect_line(t, "nvmeof_reactor_busy_polls_total{reactor=\"0\"} 7");
	expect_line(t, "nvmeof_reactor_spin_misses_total{reactor=\"0\"} 2");
	free(t);
}

static void test_label_escaping(void **state)
{
	char *t = render(snapshot_json);

	expect_line(t, "nvmeof_controllers{subsystem=\"nqn.2014-08.org.example:we\\\"ird\\\\name\"} 0");
	free(t);

	struct strbuf sb;
	strbuf_init(&sb);
	metrics_escape_label(&sb, "a\"b\\c\nd");
	assert_string_equal(sb.data, "a\\\"b\\\\c\\nd");
	strbuf_free(&sb);
}

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

/* Structure: HELP then TYPE once per family, samples of a family together,
 * every sample "name{k="v",...} number". */
static void test_exposition_structure(void **state)
{
	char *t = render(snapshot_json);
	char families[128][96];
	size_t nfam = 0, samples = 0;
	char current[96] = "";

	assert_true(strlen(t) > 0 && t[strlen(t) - 1] == '\n');
	for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char name[96], type[32];
			assert_int_equal(sscanf(line + 7, "%95s %31s", name, type), 2);
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge") ||
				    !strcmp(type, "histogram"));
			for (size_t i = 0; i < nfam; i++)
				if (!strcmp(families[i], name))
					fail_msg("family %s declared twice", name);
			assert_true(nfam < 128);
			strcpy(families[nfam++], name);
			strcpy(current, name);
			continue;
		}
		assert_true(line[0] != '#');
		/* name */
		size_t i = 0;
		assert_true(name_char(line[0], true));
		while (name_char(line[i], false))
			i++;
		/* the sample belongs to the family declared last */
		assert_int_equal(strncmp(line, current, strlen(current)), 0);
		if (line[i] == '{') {
			i++;
			while (line[i] != '}') {
				assert_true(name_char(line[i], true));
				while (name_char(line[i], false))
					i++;
				assert_int_equal(line[i++], '=');
				assert_int_equal(line[i++], '"');
				while (line[i] != '"') {
					assert_true(line[i] != '\0');
					if (line[i] == '\\')
						i++;
					i++;
				}
				i++;
				if (line[i] == ',')
					i++;
			}
			i++;
		}
		assert_int_equal(line[i++], ' ');
		char *end;
		strtod(line + i, &end);
		assert_true(end != line + i && *end == '\0');
		samples++;
	}
	assert_true(nfam >= 25);
	assert_true(samples > 80);
	free(t);
}

static void test_empty_and_hostile_snapshots(void **state)
{
	static const char *const inputs[] = {
		"{}",
		"{\"subsystems\": 5, \"hosts\": {}, \"audit\": []}",
		"{\"subsystems\": [1, \"x\", {\"nqn\": 7, \"namespaces\": [{\"nsid\": -1, "
		"\"stats\": {\"reads\": -5, \"latency_us_hist\": [\"a\", -1, 1.5]}}]}]}",
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		char *t = render(inputs[i]);
		assert_non_null(strstr(t, "nvmeof_subsystems "));
		free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_bounds),
		cmocka_unit_test(test_hist_cumulative),
		cmocka_unit_test(test_namespace_counters),
		cmocka_unit_test(test_latency_histogram),
		cmocka_unit_test(test_controller_host_audit),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_exposition_structure),
		cmocka_unit_test(test_empty_and_hostile_snapshots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
