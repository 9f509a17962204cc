/* SPDX-License-Identifier: MIT */
/*
 * nvmeof-target: the NVMe/TCP target daemon.
 *
 * Startup: build the target (from an nvmetcli JSON file, or the embedded
 * default of one RAM namespace), start N reactor threads, bind a listener
 * per port, print what is served and "ready". Signals are blocked in every
 * thread and read through a signalfd on reactor 0, so shutdown runs on a
 * reactor like everything else: stop accepting, let commands in flight
 * finish, close connections, then stop the reactors; the main thread joins
 * them, flushes the backends and tears the target down.
 *
 * SIGHUP reloads the --config file on a thread of its own (a reload opens
 * files, binds sockets and waits for namespace users: no reactor may wait
 * for that). A shutdown signal during a reload waits for it to end.
 *
 * A gateway group's member whose Ceph client was blocklisted (fenced by
 * another member) shuts down the same way, then exits with EX_TEMPFAIL so
 * that its service manager restarts it with a new client.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sys/resource.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sysexits.h>
#include <unistd.h>

#include "backend/backend.h"
#include "common/log.h"
#include "common/size.h"
#include "control/control.h"
#include "daemon.h"
#include "reactor/reactor.h"
#include "target/config.h"
#include "target/gateway_group.h"
#include "target/target.h"
#include "transport/tcp_target.h"

#define DEFAULT_ADDR "127.0.0.1"
#define DEFAULT_PORT "4420"
#define DEFAULT_DISC_PORT "8009"
#define DEFAULT_NQN "nqn.2026-01.io.nvmeof:ramdisk"
#define DEFAULT_RAM_SIZE (1ull << 30)
#define DEFAULT_SPIN_US 50
#define DEFAULT_SLICE_US 100
#define DEFAULT_MODEL "nvmeof"

struct daemon_opts {
	const char *config;
	bool check_config; /* validate --config, print the plan, exit */
	bool config_optional; /* --config-if-exists: a missing file means the embedded default */
	const char *addr;
	char port[16];
	char disc_port[16];
	const char *nqn;
	uint64_t ram_size;
	unsigned int nreactors;
	unsigned int spin_us;
	unsigned int slice_us;
	int reactor_nice;
	bool reactor_nice_set; /* else the reactors keep the daemon's */
	enum log_level log_level;
	bool syslog;
	const char *rpc_socket; /* "none" disables the control socket */
	bool rpc_socket_given; /* an explicit --rpc-socket must work; the default may not */
	const char *metrics; /* ADDR:PORT for GET /metrics, or NULL */
	const char *ceph_conf, *ceph_id; /* RBD namespaces' defaults, NULL = built-in */
	const char *gateway_group, *gateway_pool; /* gateway group membership, NULL = none */
	uint8_t tls_treq; /* default config: I/O port with TLS 1.3 (0 = plain) */
	struct tcp_transport_limits limits;
	bool c2h_success; /* --c2h-success */
};

struct daemon {
	struct daemon_opts opts;
	struct nvmf_tgt *tgt;
	struct nvmf_gw *gw; /* --gateway-group */
	struct reactor **reactors;
	pthread_t *threads;
	unsigned int nreactors;
	unsigned int nthreads;

	int signal_fd;
	struct signalfd_siginfo siginfo;
	struct reactor_completion signal_rc;
	bool shutting_down; /* reactor 0 only */
	_Atomic(struct control *) control; /* set by main, read by reactor 0 at shutdown */
	atomic_bool ready; /* startup done: ports listen, a reload may run */
	atomic_bool reactors_up; /* reactor 0 takes posted work */
	atomic_int exit_status; /* non-zero: exit with it (set by the gateway group) */

	/* Reload: reactor 0 starts it, the reload thread ends it. */
	pthread_mutex_t reload_lock;
	bool reloading; /* a reload thread runs */
	bool reload_joinable; /* reload_thread has to be joined */
	bool shutdown_after_reload; /* a shutdown signal came during the reload */
	pthread_t reload_thread;
	/* Listeners of ports when there is no control server to hold them. */
	pthread_mutex_t listeners_lock;
	struct { uint16_t portid; struct tcp_listener *l; } *listeners;
	unsigned int n_listeners;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [options]\n"
		"NVMe over Fabrics (TCP) target.\n\n"
		"  -c, --config FILE     nvmetcli JSON configuration; without it an embedded\n"
		"                        default serves one RAM namespace. SIGHUP reloads it\n"
		"      --config-if-exists FILE  as --config when FILE exists, else the embedded\n"
		"                        default (what the systemd unit uses)\n"
		"      --check-config    validate --config, print what it would create, exit\n"
		"      --addr ADDR       default config: listen address (default %s; IPv6 allowed)\n"
		"      --port N          default config: I/O port (default %s)\n"
		"      --disc-port N     default config: discovery port (default %s; 0 = none)\n"
		"      --tls[=not-required]  default config: the I/O port speaks NVMe/TCP TLS 1.3\n"
		"                        and refuses plain connections unless not-required\n"
		"                        (host keys: nvmeof target add-host ... --tls-key)\n"
		"      --nqn NQN         default config: subsystem NQN (default %s)\n"
		"      --ram-size SIZE   default config: RAM namespace size, K/M/G suffixes (default 1G)\n"
		"      --reactors N      reactor threads (default: online CPUs)\n"
		"      --spin-us N       adaptive polling window in microseconds (default %d; 0 = off)\n"
		"      --sched-slice-us N  CPU slice reactor threads ask for, so that they get the\n"
		"                        CPU back at once on wake-up under load (default %d;\n"
		"                        0 = the kernel's; needs Linux 6.12)\n"
		"      --reactor-nice N  nice value of reactor threads, -20..19 (default: the\n"
		"                        daemon's); e.g. -10 keeps their CPU while I/O flows on a\n"
		"                        busy machine, at the expense of the other tasks there\n"
		"                        (below the daemon's own needs CAP_SYS_NICE); a daemon\n"
		"                        leading its own session gives the session this value\n"
		"      --log-level LVL   error|warn|notice|info|debug (default notice)\n"
		"      --syslog          log to syslog instead of stderr\n"
		"      --rpc-socket PATH control socket for `nvmeof target` (default %s;\n"
		"                        none = no control socket)\n"
		"      --metrics ADDR:PORT  serve Prometheus metrics at http://ADDR:PORT/metrics\n"
		"      --ceph-conf FILE  Ceph client settings for rbd:POOL/IMAGE namespaces that\n"
		"                        name none (default /etc/ceph/ceph.conf)\n"
		"      --ceph-id ID      their Ceph client id, without \"client.\" (default admin)\n"
		"      --gateway-group NAME  join gateway group NAME: ANA groups move between its\n"
		"                        members through leases in Ceph (needs --config)\n"
		"      --gateway-pool POOL  RADOS pool of the gateway group's objects (default rbd)\n"
		"      --max-connections N  connections over all ports (default %d; 0 = no limit)\n"
		"      --max-connections-per-addr N  connections from one host address\n"
		"                        (default %d; 0 = no limit)\n"
		"      --icreq-timeout SEC  close a connection that sends no ICReq in time\n"
		"                        (default %d; 0 = wait forever)\n"
		"      --connect-timeout SEC  close a connection that completes no Connect\n"
		"                        within SEC of its ICResp (default %d; 0 = wait forever)\n"
		"      --stall-timeout SEC  close a connection whose peer reads nothing that is\n"
		"                        sent, or withholds a command's data, this long\n"
		"                        (default %d; 0 = wait forever)\n"
		"      --buffer-mib N    MiB of request data buffers each reactor shares among\n"
		"                        its connections (default %d; 0 = no limit)\n"
		"      --c2h-success on|off  end a successful read with its data PDU flagged\n"
		"                        SUCCESS instead of a response PDU, also when the host\n"
		"                        keeps SQ flow control, as SPDK's target does (default\n"
		"                        on; off: only for hosts that disabled it, as nvmet)\n"
		"  -h, --help            this text\n"
		"      --version         print the version\n",
		DAEMON_NAME, DEFAULT_ADDR, DEFAULT_PORT, DEFAULT_DISC_PORT, DEFAULT_NQN, DEFAULT_SPIN_US, DEFAULT_SLICE_US,
		CONTROL_DEFAULT_SOCKET, TCP_DEFAULT_MAX_CONNECTIONS, TCP_DEFAULT_MAX_PER_ADDR,
		TCP_DEFAULT_ICREQ_TIMEOUT_MS / 1000, TCP_DEFAULT_CONNECT_TIMEOUT_MS / 1000,
		TCP_DEFAULT_STALL_TIMEOUT_MS / 1000, TCP_DEFAULT_BUFFER_MIB);
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_port(const char *s, bool allow_zero, char *out, size_t len)
{
	unsigned long long v;

	if (parse_uint(s, 65535, &v) || (!allow_zero && v == 0))
		return -EINVAL;
	snprintf(out, len, "%u", (unsigned int)v);
	return 0;
}

enum {
	OPT_ADDR = 256,
	OPT_PORT,
	OPT_DISC_PORT,
	OPT_NQN,
	OPT_RAM_SIZE,
	OPT_REACTORS,
	OPT_SPIN_US,
	OPT_SLICE_US,
	OPT_REACTOR_NICE,
	OPT_LOG_LEVEL,
	OPT_SYSLOG,
	OPT_VERSION,
	OPT_RPC_SOCKET,
	OPT_METRICS,
	OPT_MAX_CONNECTIONS,
	OPT_MAX_PER_ADDR,
	OPT_ICREQ_TIMEOUT,
	OPT_CONNECT_TIMEOUT,
	OPT_BUFFER_MIB,
	OPT_STALL_TIMEOUT,
	OPT_TLS,
	OPT_CHECK_CONFIG,
	OPT_CONFIG_IF_EXISTS,
	OPT_CEPH_CONF,
	OPT_CEPH_ID,
	OPT_GATEWAY_GROUP,
	OPT_GATEWAY_POOL,
	OPT_C2H_SUCCESS,
};

/* Returns 0 to run, 1 to exit successfully (help/version), -1 on error. */
static int parse_args(int argc, char **argv, struct daemon_opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "config-if-exists", required_argument, NULL, OPT_CONFIG_IF_EXISTS },
		{ "addr", required_argument, NULL, OPT_ADDR },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "disc-port", required_argument, NULL, OPT_DISC_PORT },
		{ "nqn", required_argument, NULL, OPT_NQN },
		{ "ram-size", required_argument, NULL, OPT_RAM_SIZE },
		{ "reactors", required_argument, NULL, OPT_REACTORS },
		{ "spin-us", required_argument, NULL, OPT_SPIN_US },
		{ "sched-slice-us", required_argument, NULL, OPT_SLICE_US },
		{ "reactor-nice", required_argument, NULL, OPT_REACTOR_NICE },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "syslog", no_argument, NULL, OPT_SYSLOG },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "rpc-socket", required_argument, NULL, OPT_RPC_SOCKET },
		{ "metrics", required_argument, NULL, OPT_METRICS },
		{ "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
		{ "max-connections-per-addr", required_argument, NULL, OPT_MAX_PER_ADDR },
		{ "icreq-timeout", required_argument, NULL, OPT_ICREQ_TIMEOUT },
		{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
		{ "buffer-mib", required_argument, NULL, OPT_BUFFER_MIB },
		{ "stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT },
		{ "tls", optional_argument, NULL, OPT_TLS },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "ceph-conf", required_argument, NULL, OPT_CEPH_CONF },
		{ "ceph-id", required_argument, NULL, OPT_CEPH_ID },
		{ "gateway-group", required_argument, NULL, OPT_GATEWAY_GROUP },
		{ "gateway-pool", required_argument, NULL, OPT_GATEWAY_POOL },
		{ "c2h-success", required_argument, NULL, OPT_C2H_SUCCESS },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	long ncpu;
	int opt;

	memset(o, 0, sizeof(*o));
	o->addr = DEFAULT_ADDR;
	snprintf(o->port, sizeof(o->port), "%s", DEFAULT_PORT);
	snprintf(o->disc_port, sizeof(o->disc_port), "%s", DEFAULT_DISC_PORT);
	o->nqn = DEFAULT_NQN;
	o->ram_size = DEFAULT_RAM_SIZE;
	o->spin_us = DEFAULT_SPIN_US;
	o->slice_us = DEFAULT_SLICE_US;
	o->log_level = LOG_LVL_NOTICE;
	o->rpc_socket = CONTROL_DEFAULT_SOCKET;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	o->nreactors = ncpu > 0 ? (unsigned int)ncpu : 1;
	tcp_transport_get_limits(&o->limits);
	o->c2h_success = true;

	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
		case OPT_CONFIG_IF_EXISTS:
			o->config = optarg;
			o->config_optional = opt == OPT_CONFIG_IF_EXISTS;
			break;
		case OPT_ADDR:
			if (!*optarg || strlen(optarg) >= sizeof(((struct nvmf_port_opts *)0)->traddr)) {
				fprintf(stderr, "%s: invalid --addr '%s'\n", DAEMON_NAME, optarg);
				return -1;
			}
			o->addr = optarg;
			break;
		case OPT_PORT:
			if (parse_port(optarg, false, o->port, sizeof(o->port))) {
				fprintf(stderr, "%s: invalid --port '%s' (1-65535)\n", DAEMON_NAME, optarg);
				return -1;
			}
			break;
		case OPT_DISC_PORT:
			if (parse_port(optarg, true, o->disc_port, sizeof(o->disc_port))) {
				fprintf(stderr, "%s: invalid --disc-port '%s' (0-65535)\n", DAEMON_NAME, optarg);
				return -1;
			}
			break;
		case OPT_NQN:
			if (!nvmf_nqn_valid(optarg)) {
				fprintf(stderr, "%s: invalid --nqn '%s'\n", DAEMON_NAME, optarg);
				return -1;
			}
			o->nqn = optarg;
			break;
		case OPT_RAM_SIZE:
			if (parse_size(optarg, &o->ram_size) || o->ram_size == 0) {
				fprintf(stderr, "%s: invalid --ram-size '%s' (e.g. 512M, 1G)\n", DAEMON_NAME, optarg);
				return -1;
			}
			break;
		case OPT_REACTORS:
			if (parse_uint(optarg, NVMF_MAX_REACTORS, &v) || v == 0) {
				fprintf(stderr, "%s: invalid --reactors '%s' (1-%d)\n", DAEMON_NAME, optarg,
					NVMF_MAX_REACTORS);
				return -1;
			}
			o->nreactors = (unsigned int)v;
			break;
		case OPT_SPIN_US:
			if (parse_uint(optarg, 1000000, &v)) {
				fprintf(stderr, "%s: invalid --spin-us '%s'\n", DAEMON_NAME, optarg);
				return -1;
			}
			o->spin_us = (unsigned int)v;
			break;
		case OPT_SLICE_US:
			if (parse_uint(optarg, 100000, &v) || (v && v < 100)) {
				fprintf(stderr, "%s: invalid --sched-slice-us '%s' (0, or 100-100000)\n", DAEMON_NAME,
					optarg);
				return -1;
			}
			o->slice_us = (unsigned int)v;
			break;
		case OPT_REACTOR_NICE: {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (!*optarg || *end || n < -20 || n > 19) {
				fprintf(stderr, "%s: invalid --reactor-nice '%s' (-20 to 19)\n", DAEMON_NAME, optarg);
				return -1;
			}
			o->reactor_nice = (int)n;
			o->reactor_nice_set = true;
			break;
		}
		case OPT_LOG_LEVEL:
			if (log_parse_level(optarg, &o->log_level)) {
				fprintf(stderr, "%s: invalid --log-level '%s' (error|warn|notice|info|debug)\n",
					DAEMON_NAME, optarg);
				return -1;
			}
			break;
		case OPT_SYSLOG:
			o->syslog = true;
			break;
		case OPT_CHECK_CONFIG:
			o->check_config = true;
			break;
		case OPT_RPC_SOCKET:
			if (!*optarg) {
				fprintf(stderr, "%s: empty --rpc-socket (use 'none' to disable)\n", DAEMON_NAME);
				return -1;
			}
			o->rpc_socket = optarg;
			o->rpc_socket_given = true;
			break;
		case OPT_METRICS:
			o->metrics = optarg;
			break;
		case OPT_CEPH_CONF:
			if (!*optarg) {
				fprintf(stderr, "%s: empty --ceph-conf\n", DAEMON_NAME);
				return -1;
			}
			o->ceph_conf = optarg;
			break;
		case OPT_CEPH_ID:
			if (!*optarg || !strncmp(optarg, "client.", 7)) {
				fprintf(stderr, "%s: invalid --ceph-id '%s' (an id such as admin, without \"client.\")\n",
					DAEMON_NAME, optarg);
				return -1;
			}
			o->ceph_id = optarg;
			break;
		case OPT_GATEWAY_GROUP:
			if (!nvmf_gw_name_valid(optarg)) {
				fprintf(stderr, "%s: invalid --gateway-group '%s' (1-64 of A-Z a-z 0-9 _ - .)\n",
					DAEMON_NAME, optarg);
				return -1;
			}
			o->gateway_group = optarg;
			break;
		case OPT_GATEWAY_POOL:
			if (!*optarg) {
				fprintf(stderr, "%s: empty --gateway-pool\n", DAEMON_NAME);
				return -1;
			}
			o->gateway_pool = optarg;
			break;
		case OPT_MAX_CONNECTIONS:
		case OPT_MAX_PER_ADDR:
			if (parse_uint(optarg, 1000000, &v)) {
				fprintf(stderr, "%s: invalid --%s '%s' (0-1000000)\n", DAEMON_NAME,
					opt == OPT_MAX_CONNECTIONS ? "max-connections" : "max-connections-per-addr",
					optarg);
				return -1;
			}
			if (opt == OPT_MAX_CONNECTIONS)
				o->limits.max_connections = (unsigned int)v;
			else
				o->limits.max_per_addr = (unsigned int)v;
			break;
		case OPT_TLS:
			o->tls_treq = NVMF_PORT_TREQ_REQUIRED;
			if (optarg && (nvmf_port_treq_parse(optarg, &o->tls_treq) ||
				       o->tls_treq == NVMF_PORT_TREQ_NOT_SPECIFIED)) {
				fprintf(stderr, "%s: invalid --tls '%s' (required or not-required)\n", DAEMON_NAME,
					optarg);
				return -1;
			}
			break;
		case OPT_ICREQ_TIMEOUT:
		case OPT_CONNECT_TIMEOUT:
		case OPT_STALL_TIMEOUT:
			if (parse_uint(optarg, 3600, &v)) {
				fprintf(stderr, "%s: invalid --%s '%s' (seconds, 0-3600)\n", DAEMON_NAME,
					opt == OPT_ICREQ_TIMEOUT	? "icreq-timeout" :
					opt == OPT_CONNECT_TIMEOUT ? "connect-timeout" :
								     "stall-timeout",
					optarg);
				return -1;
			}
			if (opt == OPT_ICREQ_TIMEOUT)
				o->limits.icreq_timeout_ms = (unsigned int)v * 1000;
			else if (opt == OPT_CONNECT_TIMEOUT)
				o->limits.connect_timeout_ms = (unsigned int)v * 1000;
			else
				o->limits.stall_timeout_ms = (unsigned int)v * 1000;
			break;
		case OPT_BUFFER_MIB:
			if (parse_uint(optarg, 1u << 20, &v)) {
				fprintf(stderr, "%s: invalid --buffer-mib '%s' (0-1048576)\n", DAEMON_NAME, optarg);
				return -1;
			}
			o->limits.buffer_mib = (unsigned int)v;
			break;
		case OPT_C2H_SUCCESS:
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				fprintf(stderr, "%s: invalid --c2h-success '%s' (on or off)\n", DAEMON_NAME, optarg);
				return -1;
			}
			o->c2h_success = !strcmp(optarg, "on");
			break;
		case 'h':
			usage(stdout);
			return 1;
		case OPT_VERSION:
			printf("%s %s\n", DAEMON_NAME, NVMEOF_VERSION);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", DAEMON_NAME, argv[optind]);
		usage(stderr);
		return -1;
	}
	if (o->check_config && !o->config) {
		fprintf(stderr, "%s: --check-config needs --config FILE\n", DAEMON_NAME);
		return -1;
	}
	if (o->gateway_pool && !o->gateway_group) {
		fprintf(stderr, "%s: --gateway-pool needs --gateway-group\n", DAEMON_NAME);
		return -1;
	}
	if (o->gateway_group && !o->config && !o->check_config) {
		fprintf(stderr, "%s: --gateway-group needs --config FILE (the members' ports and ANA groups)\n",
			DAEMON_NAME);
		return -1;
	}
	if (o->nreactors > NVMF_MAX_REACTORS)
		o->nreactors = NVMF_MAX_REACTORS;
	return 0;
}

/*
 * Every connection is a descriptor: take the hard limit, and say so when it
 * cannot hold the connection limit (accepts then pause on EMFILE instead).
 */
static void raise_fd_limit(const struct tcp_transport_limits *limits)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (limits->max_connections && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)limits->max_connections + 64)
		log_notice(DAEMON_NAME, "descriptor limit %llu is below --max-connections %u",
			   (unsigned long long)rl.rlim_cur, limits->max_connections);
}

/* A stable serial from the NQN (FNV-1a 64), so hosts see the same one on restart. */
static void serial_from_nqn(const char *nqn, char *buf, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)nqn; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	snprintf(buf, len, "%016llx", (unsigned long long)h);
}

static int add_port(struct daemon *d, uint16_t portid, const char *addr, const char *svc, uint8_t tls_treq,
		    struct nvmf_port **out)
{
	struct nvmf_port_opts po;
	int ret;

	memset(&po, 0, sizeof(po));
	po.tls = tls_treq != 0;
	po.treq = tls_treq;
	po.portid = portid;
	po.adrfam = strchr(addr, ':') ? NVMF_ADRFAM_IPV6 : NVMF_ADRFAM_IPV4;
	snprintf(po.traddr, sizeof(po.traddr), "%s", addr);
	snprintf(po.trsvcid, sizeof(po.trsvcid), "%s", svc);
	ret = nvmf_port_create(d->tgt, &po, out);
	if (ret)
		fprintf(stderr, "%s: cannot create port %s:%s: %s\n", DAEMON_NAME, addr, svc, strerror(-ret));
	return ret;
}

/* The embedded default: one subsystem, one RAM namespace, I/O + discovery ports. */
static int build_default(struct daemon *d)
{
	const struct daemon_opts *o = &d->opts;
	struct backend_open_opts bo;
	struct nvmf_ns_opts nso;
	struct nvmf_subsys *subsys;
	struct nvmf_port *port;
	struct backend *be;
	char serial[24], err[256] = "";
	int ret;

	ret = nvmf_subsys_create(d->tgt, o->nqn, &subsys);
	if (ret) {
		fprintf(stderr, "%s: cannot create subsystem %s: %s\n", DAEMON_NAME, o->nqn, strerror(-ret));
		return ret;
	}
	nvmf_subsys_set_allow_any_host(subsys, true);
	serial_from_nqn(o->nqn, serial, sizeof(serial));
	ret = nvmf_subsys_set_ident(subsys, serial, DEFAULT_MODEL);
	if (ret) {
		fprintf(stderr, "%s: cannot set subsystem identity: %s\n", DAEMON_NAME, strerror(-ret));
		return ret;
	}

	memset(&bo, 0, sizeof(bo));
	bo.path = NULL;
	bo.size = o->ram_size;
	ret = backend_open(&bo, &be, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "%s: cannot create the RAM namespace: %s\n", DAEMON_NAME,
			err[0] ? err : strerror(-ret));
		return ret;
	}
	memset(&nso, 0, sizeof(nso));
	nso.nsid = 1;
	nso.backend = be;
	nso.enabled = true;
	ret = nvmf_subsys_add_ns(subsys, &nso, NULL);
	if (ret) {
		fprintf(stderr, "%s: cannot add namespace 1: %s\n", DAEMON_NAME, strerror(-ret));
		return ret;
	}

	ret = add_port(d, 1, o->addr, o->port, o->tls_treq, &port);
	if (ret)
		return ret;
	ret = nvmf_port_add_subsys(port, subsys);
	if (ret) {
		fprintf(stderr, "%s: cannot link %s to port 1: %s\n", DAEMON_NAME, o->nqn, strerror(-ret));
		return ret;
	}
	if (strcmp(o->disc_port, "0") != 0) {
		/* Discovery-only: the discovery log lists every subsystem/port pair anyway. */
		ret = add_port(d, 2, o->addr, o->disc_port, 0, &port);
		if (ret)
			return ret;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Shutdown, driven from reactor 0                                     */

static void shutdown_done(void *arg)
{
	struct daemon *d = arg;

	log_notice("target", "all connections closed; stopping reactors");
	for (unsigned int i = 0; i < d->nreactors; i++)
		reactor_stop(d->reactors[i]);
}

static void signal_arm(struct daemon *d);

/* ------------------------------------------------------------------ */
/* Reload (SIGHUP)                                                     */

/* Listeners belong to the control server when there is one (so that
 * remove-port can stop them), else to the daemon. */
static int daemon_listener_keep(struct daemon *d, uint16_t portid, struct tcp_listener *l)
{
	struct control *ctl = atomic_load(&d->control);
	void *grown;
	int ret = 0;

	if (ctl)
		return control_adopt_listener(ctl, portid, l);
	pthread_mutex_lock(&d->listeners_lock);
	grown = realloc(d->listeners, (d->n_listeners + 1) * sizeof(*d->listeners));
	if (grown) {
		d->listeners = grown;
		d->listeners[d->n_listeners].portid = portid;
		d->listeners[d->n_listeners].l = l;
		d->n_listeners++;
	} else {
		ret = -ENOMEM;
	}
	pthread_mutex_unlock(&d->listeners_lock);
	return ret;
}

static int reload_listener_start(void *ctx, struct nvmf_port *port)
{
	struct daemon *d = ctx;
	struct tcp_listener *l;
	int ret = tcp_listener_start(d->tgt, port, d->reactors, d->nreactors, &l);

	if (ret)
		return ret;
	ret = daemon_listener_keep(d, nvmf_port_opts(port)->portid, l);
	if (ret)
		tcp_listener_stop(l, true);
	return ret;
}

static int reload_listener_stop(void *ctx, uint16_t portid)
{
	struct daemon *d = ctx;
	struct control *ctl = atomic_load(&d->control);
	struct tcp_listener *l = NULL;
	int ret = -ENOENT;

	if (ctl) {
		ret = control_take_listener(ctl, portid, &l);
	} else {
		pthread_mutex_lock(&d->listeners_lock);
		for (unsigned int i = 0; i < d->n_listeners; i++) {
			if (d->listeners[i].portid == portid) {
				l = d->listeners[i].l;
				d->listeners[i] = d->listeners[--d->n_listeners];
				ret = 0;
				break;
			}
		}
		pthread_mutex_unlock(&d->listeners_lock);
	}
	if (ret == 0)
		tcp_listener_stop(l, true);
	return ret;
}

static void begin_shutdown(struct daemon *d);

static void shutdown_after_reload(void *arg)
{
	begin_shutdown(arg);
}

static void *reload_main(void *arg)
{
	struct daemon *d = arg;
	const struct nvmf_config_listeners lis = { reload_listener_start, reload_listener_stop, d };
	char err[512] = "";
	bool shutdown;
	int ret;

	pthread_setname_np(pthread_self(), "reload");
	log_notice("target", "SIGHUP: reloading %s", d->opts.config);
	ret = nvmf_config_reload(d->tgt, d->opts.config, &lis, err, sizeof(err));
	if (ret == -EIO)
		log_error("target", "reload: %s", err);
	else if (ret)
		log_error("target", "reload refused, the configuration is unchanged: %s",
			  err[0] ? err : strerror(-ret));
	pthread_mutex_lock(&d->reload_lock);
	d->reloading = false;
	shutdown = d->shutdown_after_reload;
	pthread_mutex_unlock(&d->reload_lock);
	if (shutdown && reactor_post(d->reactors[0], shutdown_after_reload, d) < 0) {
		log_error("target", "cannot post the shutdown; stopping reactors");
		for (unsigned int i = 0; i < d->nreactors; i++)
			reactor_stop(d->reactors[i]);
	}
	return NULL;
}

/* On reactor 0: start a reload unless one runs or there is nothing to reload. */
static void reload_request(struct daemon *d)
{
	int ret;

	if (!d->opts.config) {
		log_notice("target", "SIGHUP: started without --config (embedded default): nothing to reload");
		return;
	}
	if (d->shutting_down) {
		log_notice("target", "SIGHUP: shutting down, not reloading");
		return;
	}
	if (!atomic_load(&d->ready)) {
		log_notice("target", "SIGHUP: still starting up, not reloading");
		return;
	}
	pthread_mutex_lock(&d->reload_lock);
	if (d->reloading) {
		pthread_mutex_unlock(&d->reload_lock);
		log_notice("target", "SIGHUP: a reload is already in progress; ignored");
		return;
	}
	/* The previous reload thread has cleared reloading: it is returning. */
	if (d->reload_joinable)
		pthread_join(d->reload_thread, NULL);
	d->reload_joinable = false;
	ret = pthread_create(&d->reload_thread, NULL, reload_main, d);
	if (ret == 0)
		d->reloading = d->reload_joinable = true;
	pthread_mutex_unlock(&d->reload_lock);
	if (ret)
		log_error("target", "SIGHUP: cannot start the reload: %s", strerror(ret));
}

static void begin_shutdown(struct daemon *d)
{
	if (d->shutting_down)
		return;
	d->shutting_down = true;
	control_request_stop(atomic_load(&d->control));
	tcp_transport_shutdown(shutdown_done, d);
}

/* On reactor 0: shut down now, or once the reload in progress ends. */
static void request_shutdown(struct daemon *d, const char *why)
{
	if (d->shutting_down)
		return;
	pthread_mutex_lock(&d->reload_lock);
	if (d->reloading) {
		/* A half-applied reload must not race the teardown: its thread starts the shutdown. */
		d->shutdown_after_reload = true;
		pthread_mutex_unlock(&d->reload_lock);
		log_notice("target", "%s: shutting down once the reload in progress ends", why);
		return;
	}
	pthread_mutex_unlock(&d->reload_lock);
	log_notice("target", "%s: shutting down", why);
	begin_shutdown(d);
}

static void shutdown_blocklisted(void *arg)
{
	request_shutdown(arg, "gateway group member fenced");
}

/* The gateway group's thread: this member must leave (gateway_group.h). */
static void gw_blocklisted(void *arg)
{
	struct daemon *d = arg;

	atomic_store(&d->exit_status, EX_TEMPFAIL);
	/* Before the reactors run, main posts it once they do. */
	if (atomic_load(&d->reactors_up) && reactor_post(d->reactors[0], shutdown_blocklisted, d) < 0)
		log_error("target", "cannot post the shutdown");
}

static void signal_read_done(struct reactor_completion *rc, int res, uint32_t cqe_flags)
{
	struct daemon *d = (struct daemon *)((char *)rc - offsetof(struct daemon, signal_rc));
	char why[32];

	if (res < 0) {
		if (res != -EINTR && res != -EAGAIN && res != -ECANCELED)
			log_error("target", "signalfd read failed: %s", strerror(-res));
		if (res != -ECANCELED)
			signal_arm(d);
		return;
	}
	if ((size_t)res != sizeof(d->siginfo)) {
		signal_arm(d);
		return;
	}
	if (d->siginfo.ssi_signo == SIGPIPE) {
		signal_arm(d);
		return;
	}
	if (d->siginfo.ssi_signo == SIGHUP) {
		signal_arm(d);
		reload_request(d);
		return;
	}
	if (d->shutting_down) {
		log_notice("target", "signal %u: shutdown already in progress", d->siginfo.ssi_signo);
		signal_arm(d);
		return;
	}
	/* Keep reading so a repeated signal is consumed, not left pending. */
	signal_arm(d);
	snprintf(why, sizeof(why), "signal %u", d->siginfo.ssi_signo);
	request_shutdown(d, why);
}

static void signal_arm(struct daemon *d)
{
	struct io_uring_sqe *sqe = reactor_sqe(d->reactors[0], &d->signal_rc);

	io_uring_prep_read(sqe, d->signal_fd, &d->siginfo, sizeof(d->siginfo), 0);
}

static void signal_start(void *arg)
{
	signal_arm(arg);
}

/* Startup failed after the reactors were running: wind down the same way. */
static void shutdown_from_main(void *arg)
{
	struct daemon *d = arg;

	if (d->shutting_down)
		return;
	d->shutting_down = true;
	tcp_transport_shutdown(shutdown_done, d);
}

static void *reactor_thread(void *arg)
{
	struct reactor *r = arg;
	char name[16];
	int ret;

	snprintf(name, sizeof(name), "reactor%u", reactor_id(r));
	pthread_setname_np(pthread_self(), name);
	ret = reactor_run(r);
	if (ret)
		log_error("target", "reactor %u stopped: %s", reactor_id(r), strerror(-ret));
	return NULL;
}

/*
 * With autogroup scheduling (Linux's default for ordinary tasks) a thread's
 * nice value weighs only against the other threads of its session; between
 * sessions the session's own nice value decides. A daemon in a session of its
 * own (systemd, setsid) gives that session the reactors' nice value, or
 * --reactor-nice would not count against any other service. A daemon started
 * from a shell leaves the shell's session alone.
 */
static void apply_session_nice(int nice)
{
	char buf[16];
	int fd, len;

	if (getsid(0) != getpid())
		return;
	fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return; /* no autogroup: nice values weigh across the machine */
	len = snprintf(buf, sizeof(buf), "%d", nice);
	if (write(fd, buf, (size_t)len) != len)
		log_notice("target", "session nice %d not set (%s): --reactor-nice counts only within this session",
			   nice, strerror(errno));
	close(fd);
}

static int start_reactors(struct daemon *d)
{
	struct reactor_opts ro = { .ring_entries = 0, .spin_us = d->opts.spin_us, .slice_us = d->opts.slice_us,
				   .set_nice = d->opts.reactor_nice_set, .nice = d->opts.reactor_nice };
	int ret;

	if (d->opts.reactor_nice_set)
		apply_session_nice(d->opts.reactor_nice);
	d->nreactors = d->opts.nreactors;
	d->reactors = calloc(d->nreactors, sizeof(*d->reactors));
	d->threads = calloc(d->nreactors, sizeof(*d->threads));
	if (!d->reactors || !d->threads)
		return -ENOMEM;
	for (unsigned int i = 0; i < d->nreactors; i++) {
		ret = reactor_create(&ro, &d->reactors[i]);
		if (ret) {
			fprintf(stderr, "%s: cannot create reactor %u: %s\n", DAEMON_NAME, i, strerror(-ret));
			return ret;
		}
		reactor_set_id(d->reactors[i], i);
	}
	nvmf_tgt_set_reactors(d->tgt, d->reactors, d->nreactors);
	for (unsigned int i = 0; i < d->nreactors; i++) {
		ret = pthread_create(&d->threads[i], NULL, reactor_thread, d->reactors[i]);
		if (ret) {
			fprintf(stderr, "%s: cannot start reactor thread: %s\n", DAEMON_NAME, strerror(ret));
			return -ret;
		}
		d->nthreads++;
	}
	return 0;
}

static void stop_and_join(struct daemon *d)
{
	for (unsigned int i = 0; i < d->nthreads; i++)
		pthread_join(d->threads[i], NULL);
	d->nthreads = 0;
}

static void cleanup(struct daemon *d)
{
	/* A reload ends before the shutdown it delayed; this only collects the thread. */
	if (d->reload_joinable)
		pthread_join(d->reload_thread, NULL);
	d->reload_joinable = false;
	/* After the reactors are joined: no control request can wait on them. */
	control_stop(atomic_exchange(&d->control, NULL));
	/* Connections are closed: hand our groups over now rather than after the lease. */
	nvmf_gw_stop(d->gw);
	d->gw = NULL;
	if (d->tgt) {
		int ret = nvmf_tgt_sync(d->tgt);

		if (ret)
			log_error("target", "flushing namespaces failed: %s", strerror(-ret));
		nvmf_tgt_destroy(d->tgt);
		d->tgt = NULL;
	}
	for (unsigned int i = 0; d->reactors && i < d->nreactors; i++)
		reactor_destroy(d->reactors[i]);
	free(d->reactors);
	free(d->threads);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	free(d->listeners);
	pthread_mutex_destroy(&d->reload_lock);
	pthread_mutex_destroy(&d->listeners_lock);
}

int main(int argc, char **argv)
{
	struct daemon d;
	struct nvmf_port *port;
	sigset_t sigs;
	int ret, status = 1;

	memset(&d, 0, sizeof(d));
	d.signal_fd = -1;
	d.signal_rc.fn = signal_read_done;
	ret = parse_args(argc, argv, &d.opts);
	if (ret)
		return ret > 0 ? 0 : 2;
	log_set_level(d.opts.log_level);
	if (d.opts.syslog)
		log_use_syslog(DAEMON_NAME);
	if (backend_rbd_set_defaults(d.opts.ceph_conf, d.opts.ceph_id) < 0) {
		fprintf(stderr, "%s: %s\n", DAEMON_NAME, strerror(ENOMEM));
		return 1;
	}
	if (d.opts.check_config) {
		char err[512] = "";

		ret = nvmf_config_check(d.opts.config, stdout, err, sizeof(err));
		if (ret)
			fprintf(stderr, "%s: %s\n", DAEMON_NAME, err[0] ? err : strerror(-ret));
		return ret ? 1 : 0;
	}
	pthread_mutex_init(&d.reload_lock, NULL);
	pthread_mutex_init(&d.listeners_lock, NULL);
	tcp_transport_set_limits(&d.opts.limits);
	tcp_transport_set_c2h_success(d.opts.c2h_success);
	raise_fd_limit(&d.opts.limits);

	/* Before any thread exists, so every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGPIPE);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	d.signal_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (d.signal_fd < 0) {
		fprintf(stderr, "%s: signalfd: %s\n", DAEMON_NAME, strerror(errno));
		return 1;
	}

	ret = nvmf_tgt_create(&d.tgt);
	if (ret) {
		fprintf(stderr, "%s: cannot create the target: %s\n", DAEMON_NAME, strerror(-ret));
		cleanup(&d);
		return 1;
	}
	/* A fresh install has no configuration file yet: serve the embedded default. */
	if (d.opts.config && d.opts.config_optional && access(d.opts.config, F_OK) != 0 && errno == ENOENT) {
		log_notice("target", "%s does not exist: serving the embedded default", d.opts.config);
		d.opts.config = NULL;
	}
	if (d.opts.config) {
		char err[512] = "";

		ret = nvmf_config_load(d.tgt, d.opts.config, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "%s: %s\n", DAEMON_NAME, err[0] ? err : strerror(-ret));
			cleanup(&d);
			return 1;
		}
	} else if (build_default(&d)) {
		cleanup(&d);
		return 1;
	}
	if (d.opts.gateway_group) {
		struct nvmf_gw_opts go = { .name = d.opts.gateway_group,
					   .pool = d.opts.gateway_pool ? d.opts.gateway_pool : "rbd",
					   .ceph_conf = d.opts.ceph_conf,
					   .ceph_id = d.opts.ceph_id,
					   .blocklisted = gw_blocklisted,
					   .arg = &d };
		char err[512] = "";

		if (!d.opts.config) {
			fprintf(stderr, "%s: --gateway-group needs a configuration file\n", DAEMON_NAME);
			cleanup(&d);
			return 1;
		}
		/* Before the ports listen: every group starts inaccessible. */
		ret = nvmf_gw_start(d.tgt, &go, &d.gw, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "%s: %s\n", DAEMON_NAME, err[0] ? err : strerror(-ret));
			cleanup(&d);
			return 1;
		}
	}

	if (start_reactors(&d))
		goto fail_running;
	if (reactor_post(d.reactors[0], signal_start, &d)) {
		fprintf(stderr, "%s: out of memory\n", DAEMON_NAME);
		goto fail_running;
	}
	atomic_store(&d.reactors_up, true);
	if (atomic_load(&d.exit_status) && reactor_post(d.reactors[0], shutdown_blocklisted, &d) < 0) {
		fprintf(stderr, "%s: out of memory\n", DAEMON_NAME);
		goto fail_running;
	}
	unsigned int nports = 0;
	while (nvmf_tgt_port_at(d.tgt, nports))
		nports++;
	struct tcp_listener **listeners = calloc(nports ? nports : 1, sizeof(*listeners));
	if (!listeners) {
		fprintf(stderr, "%s: out of memory\n", DAEMON_NAME);
		goto fail_running;
	}
	for (unsigned int i = 0; i < nports && (port = nvmf_tgt_port_at(d.tgt, i)); i++) {
		const struct nvmf_port_opts *po = nvmf_port_opts(port);

		ret = tcp_listener_start(d.tgt, port, d.reactors, d.nreactors, &listeners[i]);
		if (ret) {
			fprintf(stderr, "%s: cannot listen on %s:%s (port id %u): %s\n", DAEMON_NAME, po->traddr,
				po->trsvcid, po->portid, strerror(-ret));
			free(listeners);
			goto fail_running;
		}
	}
	if (strcmp(d.opts.rpc_socket, "none") != 0 || d.opts.metrics) {
		struct control_opts co = { .rpc_socket = d.opts.rpc_socket,
					   .rpc_socket_optional = !d.opts.rpc_socket_given,
					   .metrics_addr = d.opts.metrics };
		struct control *ctl;

		ret = control_start(d.tgt, d.reactors, d.nreactors, &co, &ctl);
		if (ret) {
			fprintf(stderr, "%s: cannot start the control server: %s\n", DAEMON_NAME, strerror(-ret));
			free(listeners);
			goto fail_running;
		}
		atomic_store(&d.control, ctl);
	}
	/* To the control server (so that `nvmeof target remove-port` can stop
	 * them) or kept here; either way a reload can stop them too. */
	for (unsigned int i = 0; i < nports; i++)
		daemon_listener_keep(&d, nvmf_port_opts(nvmf_tgt_port_at(d.tgt, i))->portid, listeners[i]);
	free(listeners);
	if (!nvmf_tgt_port_at(d.tgt, 0))
		log_warn("target", "no port configured: nothing to listen on");

	daemon_print_summary(d.tgt, stdout);
	printf("%s: ready\n", DAEMON_NAME);
	fflush(stdout);
	atomic_store(&d.ready, true);

	stop_and_join(&d);
	status = atomic_load(&d.exit_status);
	if (status)
		log_notice("target", "stopped (exit status %d: restart with a new Ceph client)", status);
	else
		log_notice("target", "stopped");
	cleanup(&d);
	return status;

fail_running:
	if (d.nthreads) {
		if (reactor_post(d.reactors[0], shutdown_from_main, &d) < 0)
			for (unsigned int i = 0; i < d.nreactors; i++)
				reactor_stop(d.reactors[i]);
		stop_and_join(&d);
	}
	cleanup(&d);
	return 1;
}
