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

/* Number of live connections (for stats and tests). */
unsigned int tcp_transport_connections(void);

#endif
