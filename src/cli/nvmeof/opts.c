/* SPDX-License-Identifier: MIT */
/* Connection options shared by the subcommands, with nvme-cli's names. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/log.h"
#include "proto/nvme_spec.h"
#include "proto/nvme_status.h"

static const struct option conn_options[] = {
	{ "transport", required_argument, NULL, 't' },
	{ "traddr", required_argument, NULL, 'a' },
	{ "trsvcid", required_argument, NULL, 's' },
	{ "nqn", required_argument, NULL, 'n' },
	{ "hostid", required_argument, NULL, 'I' },
	{ "nr-io-queues", required_argument, NULL, OPT_NR_IO_QUEUES },
	{ "queue-size", required_argument, NULL, OPT_QUEUE_SIZE },
	{ "hdr-digest", no_argument, NULL, OPT_HDR_DIGEST },
	{ "data-digest", no_argument, NULL, OPT_DATA_DIGEST },
	{ "keep-alive-tmo", required_argument, NULL, OPT_KATO },
	{ "reconnect-delay", required_argument, NULL, OPT_RECONNECT_DELAY },
	{ "ctrl-loss-tmo", required_argument, NULL, OPT_CTRL_LOSS_TMO },
	{ "fast_io_fail_tmo", required_argument, NULL, OPT_FAST_IO_FAIL_TMO },
	{ "fast-io-fail-tmo", required_argument, NULL, OPT_FAST_IO_FAIL_TMO },
	{ "io-timeout", required_argument, NULL, OPT_IO_TIMEOUT },
	{ "output-format", required_argument, NULL, OPT_OUTPUT_FORMAT },
	{ "verbose", no_argument, NULL, OPT_VERBOSE },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "tls-key-identity", required_argument, NULL, OPT_TLS_KEY_IDENTITY },
	{ "tls-kdf", required_argument, NULL, OPT_TLS_KDF },
	{ "tls-identity-version", required_argument, NULL, OPT_TLS_IDENTITY_VERSION },
	{ "dhchap-secret", required_argument, NULL, OPT_DHCHAP_SECRET },
	{ "dhchap-ctrl-secret", required_argument, NULL, OPT_DHCHAP_CTRL_SECRET },
	{ "help", no_argument, NULL, 'h' },
};
#define N_CONN_OPTIONS (sizeof(conn_options) / sizeof(conn_options[0]))

int cli_build_options(const struct option *extra, const char *extra_short, bool hostnqn_short,
		      struct option *out, size_t out_len, char *shortopts, size_t short_len)
{
	size_t n = 0;

	for (size_t i = 0; i < N_CONN_OPTIONS; i++) {
		if (n + 1 >= out_len)
			return -ENOSPC;
		out[n++] = conn_options[i];
	}
	if (n + 1 >= out_len)
		return -ENOSPC;
	out[n++] = (struct option){ "hostnqn", required_argument, NULL, hostnqn_short ? 'q' : OPT_HOSTNQN_LONG };
	for (size_t i = 0; extra && extra[i].name; i++) {
		if (n + 1 >= out_len)
			return -ENOSPC;
		out[n++] = extra[i];
	}
	out[n] = (struct option){ 0 };
	/* nvme-cli's -S / -C for the DH-HMAC-CHAP secrets, where the command
	 * has no short option of its own by that letter. */
	bool short_s = !extra_short || !strchr(extra_short, 'S');
	bool short_c = !extra_short || !strchr(extra_short, 'C');
	int w = snprintf(shortopts, short_len, "ht:a:s:n:I:%s%s%s%s", hostnqn_short ? "q:" : "",
			 short_s ? "S:" : "", short_c ? "C:" : "", extra_short ? extra_short : "");

	return (w < 0 || (size_t)w >= short_len) ? -ENOSPC : 0;
}

void cli_conn_init(struct cli_conn *c, const char *default_port)
{
	memset(c, 0, sizeof(*c));
	nvmeof_ctrl_opts_init(&c->opts);
	c->opts.trsvcid = default_port;
	c->default_port = default_port;
}

void cli_conn_path_opts(const struct cli_conn *c, unsigned int i, struct nvmeof_ctrl_opts *o)
{
	*o = c->opts;
	if (i < c->npaths) {
		o->traddr = c->path_addr[i];
		o->trsvcid = c->path_port[i] ? c->path_port[i] : c->default_port;
	}
}

int cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);

	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int cli_parse_int(const char *s, int min, int max, int *out)
{
	char *end;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	long v = strtol(s, &end, 0);

	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int cli_parse_iopolicy(const char *s, enum nvmeof_iopolicy *out)
{
	if (strcmp(s, "round-robin") == 0)
		*out = NVMEOF_IOPOLICY_ROUND_ROBIN;
	else if (strcmp(s, "queue-depth") == 0)
		*out = NVMEOF_IOPOLICY_QUEUE_DEPTH;
	else
		return -EINVAL;
	return 0;
}

int cli_conn_opt(struct cli_conn *c, int opt, const char *arg)
{
	struct nvmeof_ctrl_opts *o = &c->opts;
	int v;

	switch (opt) {
	case 't':
		if (strcmp(arg, "tcp") != 0) {
			fprintf(stderr, "unsupported transport '%s' (only tcp)\n", arg);
			return -EINVAL;
		}
		return 1;
	case 'a':
		if (c->npaths == NVMEOF_MPATH_MAX_PATHS) {
			fprintf(stderr, "at most %d --traddr\n", NVMEOF_MPATH_MAX_PATHS);
			return -EINVAL;
		}
		c->path_addr[c->npaths] = arg;
		c->path_port[c->npaths++] = NULL;
		o->traddr = c->path_addr[0];
		c->have_traddr = true;
		return 1;
	case 's':
		if (cli_parse_int(arg, 1, 65535, &v)) {
			fprintf(stderr, "invalid --trsvcid '%s'\n", arg);
			return -EINVAL;
		}
		if (!c->npaths) {
			c->default_port = arg;
			c->default_port_set = true;
		} else if (!c->path_port[c->npaths - 1]) {
			c->path_port[c->npaths - 1] = arg;
		} else {
			fprintf(stderr, "--trsvcid '%s': --traddr %s has a port already\n", arg,
				c->path_addr[c->npaths - 1]);
			return -EINVAL;
		}
		o->trsvcid = c->path_port[0] ? c->path_port[0] : c->default_port;
		return 1;
	case 'n':
		if (strlen(arg) > NVMEOF_NQN_MAX) {
			fprintf(stderr, "--nqn longer than %d bytes\n", NVMEOF_NQN_MAX);
			return -EINVAL;
		}
		o->subnqn = arg;
		c->have_nqn = true;
		return 1;
	case 'q':
	case OPT_HOSTNQN_LONG:
		if (strlen(arg) > NVMEOF_NQN_MAX) {
			fprintf(stderr, "--hostnqn longer than %d bytes\n", NVMEOF_NQN_MAX);
			return -EINVAL;
		}
		strcpy(o->hostnqn, arg);
		return 1;
	case 'I':
		if (nvmeof_uuid_parse(arg, o->hostid)) {
			fprintf(stderr, "invalid --hostid '%s' (want a UUID)\n", arg);
			return -EINVAL;
		}
		return 1;
	case OPT_NR_IO_QUEUES:
		if (cli_parse_int(arg, 1, 1024, &v))
			goto bad;
		o->nr_io_queues = (unsigned int)v;
		return 1;
	case OPT_QUEUE_SIZE:
		if (cli_parse_int(arg, 2, 4096, &v))
			goto bad;
		o->queue_size = (unsigned int)v;
		return 1;
	case OPT_HDR_DIGEST:
		o->hdr_digest = true;
		return 1;
	case OPT_DATA_DIGEST:
		o->data_digest = true;
		return 1;
	case OPT_KATO:
		if (cli_parse_int(arg, 0, 65535, &v))
			goto bad;
		o->kato_ms = (unsigned int)v * 1000;
		return 1;
	case OPT_RECONNECT_DELAY:
		if (cli_parse_int(arg, 1, 3600, &v))
			goto bad;
		o->reconnect_delay_s = v;
		return 1;
	case OPT_CTRL_LOSS_TMO:
		if (cli_parse_int(arg, -1, 1 << 24, &v))
			goto bad;
		o->ctrl_loss_tmo_s = v;
		return 1;
	case OPT_FAST_IO_FAIL_TMO:
		if (cli_parse_int(arg, -1, 1 << 24, &v))
			goto bad;
		o->fast_io_fail_tmo_s = v;
		return 1;
	case OPT_IO_TIMEOUT:
		if (cli_parse_int(arg, 1, 3600, &v))
			goto bad;
		o->io_timeout_ms = (unsigned int)v * 1000;
		return 1;
	case OPT_OUTPUT_FORMAT:
		if (strcmp(arg, "json") == 0)
			c->json = true;
		else if (strcmp(arg, "normal") == 0)
			c->json = false;
		else {
			fprintf(stderr, "--output-format must be normal or json\n");
			return -EINVAL;
		}
		return 1;
	case OPT_VERBOSE:
		c->verbose = true;
		return 1;
	case OPT_TLS:
		o->tls = true;
		return 1;
	case OPT_TLS_KEY:
		if (strncmp(arg, "NVMeTLSkey-1:", 13) != 0) {
			fprintf(stderr, "--tls-key wants the interchange format NVMeTLSkey-1:HH:...:\n");
			return -EINVAL;
		}
		o->tls_key = arg;
		o->tls = true;
		return 1;
	case OPT_TLS_KEY_IDENTITY:
		if (!*arg || strlen(arg) >= 512)
			goto bad;
		o->tls_key_identity = arg;
		return 1;
	case OPT_TLS_KDF:
		if (strcmp(arg, "libnvme") == 0)
			o->tls_kdf = NVMEOF_TLS_KDF_LIBNVME;
		else if (strcmp(arg, "rfc8446") == 0)
			o->tls_kdf = NVMEOF_TLS_KDF_RFC8446;
		else {
			fprintf(stderr, "--tls-kdf must be libnvme or rfc8446\n");
			return -EINVAL;
		}
		return 1;
	case OPT_TLS_IDENTITY_VERSION:
		if (cli_parse_int(arg, 0, 1, &v))
			goto bad;
		o->tls_identity_version = (unsigned int)v;
		return 1;
	case 'S':
	case 'C':
		if ((opt == 'S' && !c->dhchap_short_S) || (opt == 'C' && !c->dhchap_short_C))
			return 0;
		/* fall through */
	case OPT_DHCHAP_SECRET:
	case OPT_DHCHAP_CTRL_SECRET: {
		bool ctrl_secret = opt == 'C' || opt == OPT_DHCHAP_CTRL_SECRET;
		char *dst = ctrl_secret ? c->dhchap_ctrl_secret : c->dhchap_secret;

		if (strlen(arg) >= sizeof(c->dhchap_secret)) {
			fprintf(stderr, "--dhchap-%ssecret is too long\n", ctrl_secret ? "ctrl-" : "");
			return -EINVAL;
		}
		strcpy(dst, arg);
		if (ctrl_secret)
			o->dhchap_ctrl_secret = c->dhchap_ctrl_secret;
		else
			o->dhchap_secret = c->dhchap_secret;
		return 1;
	}
	default:
		return 0;
	}
bad:
	fprintf(stderr, "invalid value '%s' for a connection option\n", arg);
	return -EINVAL;
}

int cli_conn_finish(struct cli_conn *c, const char *cmd, bool need_nqn)
{
	if (!c->have_traddr) {
		fprintf(stderr, "%s: --traddr (-a) is required\n", cmd);
		return -EINVAL;
	}
	if (c->npaths > 1 && !c->multipath_ok) {
		fprintf(stderr, "%s: takes one --traddr (several paths: perf, attach)\n", cmd);
		return -EINVAL;
	}
	if (need_nqn && !c->have_nqn) {
		fprintf(stderr, "%s: --nqn (-n) is required\n", cmd);
		return -EINVAL;
	}
	if ((c->opts.tls || c->opts.tls_key_identity) && !c->opts.tls_key) {
		fprintf(stderr, "%s: --tls needs --tls-key=NVMeTLSkey-1:... (there is no keyring)\n", cmd);
		return -EINVAL;
	}
	static const uint8_t zero[16];

	if (!c->opts.hostnqn[0] || memcmp(c->opts.hostid, zero, 16) == 0) {
		char nqn[NVMEOF_NQN_MAX + 1];
		uint8_t id[16];

		if (nvmeof_default_host_id(nqn, id) == 0) {
			if (!c->opts.hostnqn[0])
				strcpy(c->opts.hostnqn, nqn);
			if (memcmp(c->opts.hostid, zero, 16) == 0)
				memcpy(c->opts.hostid, id, 16);
		}
	}
	return 0;
}

void cli_conn_usage(FILE *f, bool hostnqn_short)
{
	fprintf(f,
		"connection options:\n"
		"  -t, --transport=tcp\n"
		"  -a, --traddr=ADDR           controller address\n"
		"  -s, --trsvcid=PORT          controller port\n"
		"  -n, --nqn=NQN               subsystem NQN\n"
		"  %s--hostnqn=NQN           host NQN (default /etc/nvme/hostnqn or generated)\n"
		"  -I, --hostid=UUID           host ID (default /etc/nvme/hostid or the NQN's uuid)\n"
		"      --nr-io-queues=N        I/O queues to create\n"
		"      --queue-size=N          I/O queue entries (default 128)\n"
		"      --hdr-digest            enable PDU header digests\n"
		"      --data-digest           enable PDU data digests\n"
		"      --keep-alive-tmo=SEC    keep-alive timeout (default 5)\n"
		"      --reconnect-delay=SEC   delay between reconnect attempts (default 10)\n"
		"      --ctrl-loss-tmo=SEC     give up reconnecting after SEC (-1 = never, default 600)\n"
		"      --fast-io-fail-tmo=SEC  fail I/O after SEC disconnected (-1 = wait, default;\n"
		"                              --fast_io_fail_tmo too)\n"
		"      --io-timeout=SEC        per-command timeout (default 30)\n"
		"  -S, --dhchap-secret=KEY     DH-HMAC-CHAP host secret (DHHC-1:HH:...:)\n"
		"  -C, --dhchap-ctrl-secret=KEY  controller secret: the controller proves it too\n"
		"      --output-format=normal|json\n"
		"      --verbose               log the connection's steps (--log-level=info)\n"
		"      --tls                   TLS 1.3 with a pre-shared key (needs --tls-key)\n"
		"      --tls-key=KEY           configured PSK NVMeTLSkey-1:HH:...: (implies --tls);\n"
		"                              identity and TLS PSK derived for host NQN and NQN\n"
		"      --tls-key-identity=ID   send identity ID and use KEY's bytes as the TLS PSK\n"
		"      --tls-identity-version=0|1  derived identity NVMe0R.. or NVMe1R.. (default 1)\n"
		"      --tls-kdf=libnvme|rfc8446   HKDF label encoding of the derivation: libnvme\n"
		"                              <= 1.13 / Linux 6.12 setups (default) or RFC 8446\n",
		hostnqn_short ? "-q, " : "    ");
}

/* Connect Invalid Parameters: DW0 bit 16 says the offset in 15:0 is into the data. */
#define CONNECT_IATTR_DATA (1u << 16)
#define CONNECT_DATA_SUBNQN 256
#define CONNECT_DATA_HOSTNQN 512

void cli_print_connect_refusal(FILE *f, const struct nvmeof_ctrl_opts *o, const struct nvmeof_cpl *cpl)
{
	const char *host = o->hostnqn[0] ? o->hostnqn : "this host's NQN (/etc/nvme/hostnqn)";
	char st[128];

	fprintf(f, "failed to connect to %s:%s (%s): controller refused Connect: %s\n", o->traddr, o->trsvcid,
		o->subnqn, nvme_status_format(cpl->status, true, st, sizeof(st)));
	if (NVMEOF_STATUS_SCT(cpl->status) != NVME_SCT_CMD_SPECIFIC)
		return;
	switch (NVMEOF_STATUS_SC(cpl->status)) {
	case NVME_SC_CONNECT_INVALID_HOST:
		fprintf(f, "  host %s is not allowed on %s: on the target, run\n"
			   "  `nvmeof target add-host %s %s` (or `set-allow-any-host %s on`);\n"
			   "  with TLS, the host NQN must be the one of the TLS key\n",
			host, o->subnqn, o->subnqn, o->hostnqn[0] ? o->hostnqn : "HOSTNQN", o->subnqn);
		break;
	case NVME_SC_CONNECT_INVALID_PARAM:
		if (cpl->dw0 == (CONNECT_IATTR_DATA | CONNECT_DATA_SUBNQN))
			fprintf(f, "  the target does not serve %s on this port: check the NQN's spelling\n"
				   "  (`nvmeof discover` lists what the port serves)\n", o->subnqn);
		else if (cpl->dw0 == (CONNECT_IATTR_DATA | CONNECT_DATA_HOSTNQN))
			fprintf(f, "  the target refused the host NQN %s: check its spelling\n", host);
		else
			fprintf(f, "  check the subsystem NQN's spelling (%s), that this port serves it,\n"
				   "  and the queue options (--nr-io-queues, --queue-size)\n", o->subnqn);
		break;
	case NVME_SC_CONNECT_CTRL_BUSY:
		fprintf(f, "  the target has no room for another controller or queue now: retry later,\n"
			   "  or with fewer --nr-io-queues\n");
		break;
	case NVME_SC_AUTH_REQUIRED:
		fprintf(f, "  %s requires DH-HMAC-CHAP authentication: give this host's secret\n"
			   "  with --dhchap-secret\n", o->subnqn);
		break;
	case NVME_SC_CONNECT_RESTART_DISC:
		fprintf(f, "  the subsystem moved: run `nvmeof discover` again\n");
		break;
	default:
		break;
	}
}

int cli_connect(struct cli_conn *c, struct nvmeof_ctrl **ctrl)
{
	struct nvmeof_cpl cpl = { 0 };

	/* --verbose: the connection's steps, unless --log-level asked for more already. */
	if (c->verbose && log_get_level() < LOG_LVL_INFO)
		log_set_level(LOG_LVL_INFO);
	int rc = nvmeof_ctrl_connect(&c->opts, ctrl, &cpl);

	if (rc) {
		if (rc == -EREMOTEIO)
			cli_print_connect_refusal(stderr, &c->opts, &cpl);
		else if (rc == -EACCES)
			fprintf(stderr, "failed to connect to %s:%s (%s): authentication failed\n", c->opts.traddr,
				c->opts.trsvcid, c->opts.subnqn);
		else
			fprintf(stderr, "failed to connect to %s:%s (%s): %s\n", c->opts.traddr,
				c->opts.trsvcid, c->opts.subnqn, strerror(-rc));
	}
	return rc;
}

int cli_parse(int argc, char **argv, struct cli_conn *c, const struct option *extra,
	      const char *extra_short, bool hostnqn_short, cli_opt_fn fn, void *ctx,
	      void (*usage)(FILE *f))
{
	struct option longopts[64];
	char shortopts[128];
	int opt;

	if (cli_build_options(extra, extra_short, hostnqn_short, longopts, 64, shortopts,
			      sizeof(shortopts)))
		return -EINVAL;
	c->dhchap_short_S = !extra_short || !strchr(extra_short, 'S');
	c->dhchap_short_C = !extra_short || !strchr(extra_short, 'C');
	optind = 1;
	opterr = 1;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return 1;
		}
		if (opt == '?') {
			usage(stderr);
			return -EINVAL;
		}
		/* Without hostnqn_short, -q belongs to the subcommand. */
		int rc = (opt == 'q' && !hostnqn_short) ? 0 : cli_conn_opt(c, opt, optarg);

		if (rc < 0)
			return rc;
		if (rc == 1)
			continue;
		rc = fn ? fn(ctx, opt, optarg) : -EINVAL;
		if (rc < 0)
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		return -EINVAL;
	}
	return 0;
}
