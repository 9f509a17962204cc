/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP target transport: listeners and connections on io_uring.
 *
 * A listener accepts on the first reactor it is given and hands every new
 * connection to the next reactor in turn; from then on the connection (one
 * NVMe queue) lives on that reactor only. The listener functions and
 * tcp_transport_shutdown() are thread-safe (control path: daemon, control
 * socket); everything else runs on reactor threads.
 */
#ifndef NVMEOF_TRANSPORT_TCP_TARGET_H
#define NVMEOF_TRANSPORT_TCP_TARGET_H

#include <stdbool.h>

#include "reactor/reactor.h"
#include "target/target.h"

struct tcp_listener;

/*
 * Bind the port's traddr:trsvcid (IPv4 or IPv6 per adrfam; wildcard
 * addresses allowed) and start accepting on reactors[0]. The reactors array
 * is copied. Returns 0 or -errno (bind failures are logged with the address).
 */
int tcp_listener_start(struct nvmf_tgt *tgt, struct nvmf_port *port, struct reactor **reactors,
		       unsigned int nreactors, struct tcp_listener **out);

/*
 * Stop accepting and release the listener (asynchronously, on its reactor;
 * the caller must not use l afterwards). With disconnect set, every
 * connection that came in on this listener's port is closed as well.
 */
void tcp_listener_stop(struct tcp_listener *l, bool disconnect);

/* Close every connection that came in on port (thread-safe). */
void tcp_port_disconnect_all(struct nvmf_port *port);

/*
 * Graceful shutdown of the whole transport: stop all listeners, stop reading
 * new commands on every connection, let commands in flight finish (at most
 * TCP_SHUTDOWN_GRACE_MS), then close everything. done(arg) is called once,
 * on some reactor thread or on the caller's thread, when no listener and no
 * connection is left. The reactors must keep running until then.
 */
#define TCP_SHUTDOWN_GRACE_MS 5000
void tcp_transport_shutdown(void (*done)(void *arg), void *arg);

/*
 * Bounds on what a peer can make the transport hold. A port is exposed to
 * a network: a peer that connects and sends nothing, or sends an ICReq and
 * never connects, is dropped at the deadline; connections beyond the limits
 * are closed as soon as they are accepted (and logged, rate-limited).
 */
struct tcp_transport_limits {
	unsigned int icreq_timeout_ms; /* accept -> ICReq; default 10000 */
	unsigned int connect_timeout_ms; /* ICResp -> Connect completed; default 10000 */
	unsigned int max_connections; /* over all ports; 0 = unlimited; default 4096 */
	unsigned int max_per_addr; /* per peer IP address; 0 = unlimited; default 512 */
	/* request data buffers in use per reactor, all its connections together;
	 * 0 = unlimited; default 256 */
	unsigned int buffer_mib;
	/* peer reads nothing we send, or withholds a command's data; 0 = wait
	 * forever; default 30000 */
	unsigned int stall_timeout_ms;
};
#define TCP_DEFAULT_ICREQ_TIMEOUT_MS 10000
#define TCP_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define TCP_DEFAULT_MAX_CONNECTIONS 4096
#define TCP_DEFAULT_MAX_PER_ADDR 512
#define TCP_DEFAULT_BUFFER_MIB 256
#define TCP_DEFAULT_STALL_TIMEOUT_MS 30000
#define TCP_TRANSPORT_LIMITS_DEFAULT                                                                   \
	{                                                                                              \
		.icreq_timeout_ms = TCP_DEFAULT_ICREQ_TIMEOUT_MS,                                      \
		.connect_timeout_ms = TCP_DEFAULT_CONNECT_TIMEOUT_MS,                                  \
		.max_connections = TCP_DEFAULT_MAX_CONNECTIONS, .max_per_addr = TCP_DEFAULT_MAX_PER_ADDR, \
		.buffer_mib = TCP_DEFAULT_BUFFER_MIB, .stall_timeout_ms = TCP_DEFAULT_STALL_TIMEOUT_MS,  \
	}

/* Thread-safe; new values apply to connections accepted afterwards. */
void tcp_transport_get_limits(struct tcp_transport_limits *out);
void tcp_transport_set_limits(const struct tcp_transport_limits *limits);

/*
 * Whether a successful read may end with a C2HData PDU flagged SUCCESS and
 * no CapsuleResp while the host keeps SQ flow control, as SPDK's target does
 * by default (c2h_success); a CapsuleResp still goes out at least every half
 * queue, so a host that throttles on SQHD keeps going. Without SQ flow
 * control (Connect CATTR bit 2) SUCCESS is always used. Default on;
 * thread-safe; applies to connections accepted afterwards.
 */
void tcp_transport_set_c2h_success(bool on);

/*
 * Serve an already connected stream socket as a new connection that came in
 * on port, on reactor r (what a listener does for each accepted socket;
 * also for tests and fuzzing over socketpairs). Takes ownership of fd: on
 * failure it is closed. Returns 0 or -errno (-ENOENT: the port is being
 * removed, -EMFILE: a connection limit is reached, -ESHUTDOWN).
 */
int tcp_conn_adopt(struct nvmf_tgt *tgt, struct nvmf_port *port, struct reactor *r, int fd);

/* Number of live connections (for stats and tests). */
unsigned int tcp_transport_connections(void);

#endif
