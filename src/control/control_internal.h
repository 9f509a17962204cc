/* SPDX-License-Identifier: MIT */
/* Shared between the control server (control.c) and its RPC methods. */
#ifndef NVMEOF_CONTROL_INTERNAL_H
#define NVMEOF_CONTROL_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "control/control.h"
#include "control/jsonrpc.h"

struct port_listener {
	uint16_t portid;
	struct tcp_listener *listener;
};

struct control {
	struct nvmf_tgt *tgt;
	struct reactor **reactors;
	unsigned int n_reactors;

	/* Listeners by port id; the daemon may adopt into it from its thread. */
	pthread_mutex_t listeners_lock;
	struct port_listener *listeners;
	size_t n_listeners, cap_listeners;

	struct control_server *server; /* sockets and thread (control.c) */
};

extern const struct rpc_method control_methods[];
extern const size_t control_n_methods;

/* nvmf_tgt_snapshot() plus "reactors" and "connections": the stats view. */
struct json_object *control_stats_snapshot(struct control *c);

/* Listener map (locked). take removes the entry: 0, or -ENOENT if unknown. */
int control_listener_put(struct control *c, uint16_t portid, struct tcp_listener *l);
int control_listener_take(struct control *c, uint16_t portid, struct tcp_listener **out);

#endif
