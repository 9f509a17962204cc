/* SPDX-License-Identifier: MIT */
/*
 * The target's control server: a JSON-RPC 2.0 endpoint on a Unix socket
 * (what `nvmeof target ...` talks to) and an optional HTTP listener serving
 * Prometheus metrics at /metrics. Both run on one thread of their own with a
 * poll loop; every change goes through the thread-safe control-path API of
 * target/target.h and, for ports, tcp_listener_*.
 */
#ifndef NVMEOF_CONTROL_H
#define NVMEOF_CONTROL_H

#include <stdint.h>

#include "reactor/reactor.h"
#include "target/target.h"

#define CONTROL_DEFAULT_SOCKET "/run/nvmeof/target.sock"

struct control;
struct tcp_listener;

struct control_opts {
	/* Unix socket path; NULL or "none": no RPC endpoint. The socket is
	 * created 0600 and a missing parent directory 0700. */
	const char *rpc_socket;
	/* The default path, not asked for: if it cannot be served (another
	 * daemon has it, no permission for /run) warn and go on without. */
	bool rpc_socket_optional;
	/* "ADDR:PORT" or "[ADDR6]:PORT" for GET /metrics; NULL: no HTTP. */
	const char *metrics_addr;
};

/*
 * Open the endpoints (failing early, with a log line, if a socket cannot be
 * bound) and start the server thread. reactors are the daemon's I/O
 * reactors: new ports listen on them and their stats are exported.
 * Returns 0 or -errno.
 */
int control_start(struct nvmf_tgt *tgt, struct reactor **reactors, unsigned int n,
		  const struct control_opts *opts, struct control **out);

/*
 * Hand the listener the daemon started for portid to the control server,
 * so that `remove-port` can stop it. Ports without a known listener cannot
 * be removed through the socket. Returns 0 or -errno.
 */
int control_adopt_listener(struct control *c, uint16_t portid, struct tcp_listener *l);

/* Take portid's listener back (to stop it before the port goes): 0 or -ENOENT. */
int control_take_listener(struct control *c, uint16_t portid, struct tcp_listener **out);

/*
 * Ask the server to stop after the request it is serving, without waiting
 * (safe on any thread, e.g. a reactor starting the shutdown). Requests that
 * arrive later are not read; control_stop() still has to be called.
 */
void control_request_stop(struct control *c);

/*
 * Stop the thread and close the endpoints (the socket file is unlinked).
 * Listeners stay up: the transport's shutdown stops them with everything else.
 */
void control_stop(struct control *c);

#endif
