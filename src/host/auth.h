/* SPDX-License-Identifier: MIT */
/*
 * Host side of DH-HMAC-CHAP: one transaction on one queue, as pure steps
 * (message in, message out) so that tests can drive a target with it, and
 * host_auth_run() that carries them over a blocking connection.
 */
#ifndef NVMEOF_HOST_AUTH_H
#define NVMEOF_HOST_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/dhchap.h"

struct host_auth_txn {
	/* Set by the caller. */
	const struct dhchap_key *key;
	const struct dhchap_key *ctrl_key; /* NULL: unidirectional */
	const char *hostnqn;
	const char *subnqn;
	/* Negotiated and exchanged (x.tid is set by the caller). */
	struct dhchap_exchange x;
	uint8_t status; /* failure explanation for Failure2 */
	char why[160]; /* what went wrong, for the caller's message */
};

/* Negotiate offering SHA-256/384/512 and null + ffdhe2048..8192 (as Linux). */
int host_auth_negotiate(struct host_auth_txn *t, void *buf, size_t cap);
/* Challenge in, Reply out: reply length, -EACCES (Failure1 received, t->why
 * says why) or -EPROTO (bad challenge: send Failure2). */
int host_auth_challenge(struct host_auth_txn *t, const void *msg, size_t len, void *reply, size_t cap);
/* Success1 in: 0 (then Success2 when t->ctrl_key), -EACCES (Failure1, or
 * the controller failed to prove its key: send Failure2), -EPROTO. */
int host_auth_success1(struct host_auth_txn *t, const void *msg, size_t len);
int host_auth_failure2(struct host_auth_txn *t, void *buf, size_t cap);
void host_auth_txn_clear(struct host_auth_txn *t);

struct sync_conn;
struct nvmeof_ctrl_opts;
/* Authenticate the queue of sc (just connected). 0, or -EACCES with the
 * reason logged as "authentication failed: ...". */
int host_auth_run(struct sync_conn *sc, const struct nvmeof_ctrl_opts *opts, int timeout_ms);

#endif
