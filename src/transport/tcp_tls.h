/* SPDX-License-Identifier: MIT */
/*
 * TLS 1.3 record layer of an NVMe/TCP target connection (TCP transport
 * 1.0c §3.6): server side, external PSK only (no certificates, no tickets).
 *
 * The socket stays with io_uring: ciphertext is received into and sent from
 * buffers owned here, and OpenSSL reads and writes them through a small BIO
 * of its own. The connection asks for receive space, reports what landed,
 * and reads plaintext; it hands plaintext in (small pieces are gathered,
 * large ones encrypted straight from the caller's memory, records kept full
 * across pieces) and sends whatever ciphertext is pending. Both buffers are
 * bounded: a peer can make us hold at most TCP_TLS_RX_CAP bytes of
 * ciphertext.
 *
 * Plaintext handed in is copied or encrypted before tcp_tls_write returns,
 * but the connection keeps a request until the ciphertext carrying its last
 * byte has been sent (tcp_tls_tx_total marks where that is): a request is
 * never done while its bytes only sit in the gather buffer.
 *
 * Everything after the handshake goes through tcp_tls_read/tcp_tls_write
 * and the ciphertext buffers only, so a kernel TLS offload (keys handed to
 * the socket with TLS_TX/TLS_RX, io_uring carrying plaintext) could replace
 * this layer for an established connection without touching the PDU code.
 */
#ifndef NVMEOF_TRANSPORT_TCP_TLS_H
#define NVMEOF_TRANSPORT_TCP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/tls_psk.h"

#define TCP_TLS_RECORD_PLAIN 16384u /* plaintext of one record */
#define TCP_TLS_RX_CAP (64u * 1024) /* ciphertext received, not yet decrypted */
#define TCP_TLS_TX_CAP (128u * 1024) /* ciphertext produced, not yet sent */

struct tcp_tls;

/*
 * The handshake asks the target for the key of the identity's host, which
 * must be allowed on the identity's subsystem. 0, -ENOKEY, -EACCES.
 */
typedef int (*tcp_tls_key_fn)(void *arg, const struct nvme_tls_identity *id, struct nvme_tls_key *key,
			      unsigned int *kdf);

/* A server-side TLS session for one connection; peer names it in logs. 0 or -errno. */
int tcp_tls_new(struct tcp_tls **out, tcp_tls_key_fn key_fn, void *key_arg, const char *peer);
void tcp_tls_free(struct tcp_tls *t);

/* Where the next ciphertext may be received (0 = buffer full); then commit what landed. */
size_t tcp_tls_rx_space(struct tcp_tls *t, uint8_t **buf);
void tcp_tls_rx_commit(struct tcp_tls *t, size_t n);
/* Ciphertext that arrived elsewhere (the bytes read before TLS was detected). 0 or -ENOBUFS. */
int tcp_tls_rx_push(struct tcp_tls *t, const void *data, size_t n);

/* Advance the handshake: 0 done, -EAGAIN needs more bytes, other -errno failed (logged). */
int tcp_tls_handshake(struct tcp_tls *t);
bool tcp_tls_established(const struct tcp_tls *t);

/*
 * Plaintext into dst: 0 (*got > 0), -EAGAIN (nothing decryptable yet),
 * -ENOBUFS (must send first), -ECONNRESET (close_notify), -EPROTO (logged).
 */
int tcp_tls_read(struct tcp_tls *t, void *dst, size_t len, size_t *got);

/*
 * Hand in plaintext: returns how many bytes were taken (0 = no room now;
 * retry after a send). Pieces under a few KiB are gathered; a large piece
 * first tops the gathered bytes up to a full record, then is encrypted
 * straight from src, whole records only while more follows. Gathered bytes
 * are sealed when the gather buffer is full or by tcp_tls_seal().
 * A failed write marks the session broken (tcp_tls_broken).
 */
size_t tcp_tls_write(struct tcp_tls *t, const void *src, size_t len);
/* Seal gathered plaintext into a record. 0 or -EAGAIN (no room). */
int tcp_tls_seal(struct tcp_tls *t);
/* Plaintext taken but not yet in a record. */
size_t tcp_tls_gathered(const struct tcp_tls *t);
bool tcp_tls_broken(const struct tcp_tls *t);
/* Ciphertext bytes produced since the start (handshake included). */
uint64_t tcp_tls_tx_total(const struct tcp_tls *t);

/* Ciphertext to send (contiguous), then how much of it went out. */
size_t tcp_tls_tx_pending(struct tcp_tls *t, uint8_t **buf);
void tcp_tls_tx_sent(struct tcp_tls *t, size_t n);
/* No send may be in flight: move pending ciphertext to the buffer's start. */
void tcp_tls_tx_compact(struct tcp_tls *t);

/* For logs: the peer's PSK identity (printable) and the negotiated suite. */
const char *tcp_tls_identity(const struct tcp_tls *t);
/* The host NQN the accepted PSK identity names (once established). */
const char *tcp_tls_hostnqn(const struct tcp_tls *t);
const char *tcp_tls_cipher(const struct tcp_tls *t);

#endif
