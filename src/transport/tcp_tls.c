/* SPDX-License-Identifier: MIT */
/*
 * TLS 1.3 PSK record layer for target connections (see tcp_tls.h).
 *
 * OpenSSL talks to a BIO of ours over two linear buffers: received
 * ciphertext (io_uring recv writes at rx_tail, OpenSSL reads at rx_head)
 * and produced ciphertext (OpenSSL appends at tx_tail, io_uring send takes
 * from tx_head). Offsets move only when the caller says so, so a buffer
 * handed to the kernel stays put until its completion.
 */
#include "tcp_tls.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define TLS_GATHER_MAX 8192u /* pieces up to this are gathered: a 4 KiB read is one record */
#define TLS_RECORD_ROOM (TCP_TLS_RECORD_PLAIN + 512u) /* a record with header, type and tag, and a KeyUpdate */

struct tcp_tls {
	SSL *ssl;
	tcp_tls_key_fn key_fn;
	void *key_arg;
	bool established;
	bool broken;
	char peer[64];
	char identity[160]; /* printable, truncated */
	char hostnqn[224]; /* from the identity whose PSK was offered */
	const char *refusal; /* why our side turned the identity down */
	uint64_t tx_total;
	uint32_t rx_head, rx_tail;
	uint32_t tx_head, tx_tail;
	uint32_t gathered;
	uint8_t gather[TCP_TLS_RECORD_PLAIN];
	uint8_t rx[TCP_TLS_RX_CAP];
	uint8_t tx[TCP_TLS_TX_CAP];
};

static struct {
	pthread_once_t once;
	SSL_CTX *ctx;
	BIO_METHOD *bio_method;
	int init_err;
} g_tls = { .once = PTHREAD_ONCE_INIT };

/* ------------------------------------------------------------------ */
/* BIO over the two buffers                                            */

static int tls_bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
	struct tcp_tls *t = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (len > TCP_TLS_TX_CAP - t->tx_tail) {
		/* Callers keep TLS_RECORD_ROOM free before writing: not reached. */
		BIO_set_retry_write(b);
		return 0;
	}
	memcpy(t->tx + t->tx_tail, data, len);
	t->tx_tail += (uint32_t)len;
	t->tx_total += len;
	*written = len;
	return 1;
}

static int tls_bio_read(BIO *b, char *data, size_t len, size_t *readbytes)
{
	struct tcp_tls *t = BIO_get_data(b);
	size_t n = t->rx_tail - t->rx_head;

	BIO_clear_retry_flags(b);
	if (n == 0) {
		BIO_set_retry_read(b);
		return 0;
	}
	if (n > len)
		n = len;
	memcpy(data, t->rx + t->rx_head, n);
	t->rx_head += (uint32_t)n;
	*readbytes = n;
	return 1;
}

static long tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* PSK                                                                 */

static void tls_identity_printable(struct tcp_tls *t, const unsigned char *id, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < sizeof(t->identity); i++)
		t->identity[o++] = id[i] >= 0x20 && id[i] < 0x7f ? (char)id[i] : '?';
	t->identity[o] = '\0';
}

/*
 * The client offered a PSK identity: find the host's key, check the host
 * may reach the subsystem, derive the TLS PSK. Anything unknown is declined
 * (no session): with no certificate the handshake then fails.
 */
static int tls_find_psk(SSL *ssl, const unsigned char *identity, size_t identity_len, SSL_SESSION **sess)
{
	static const unsigned char aes128[2] = { 0x13, 0x01 }, aes256[2] = { 0x13, 0x02 };
	struct tcp_tls *t = SSL_get_app_data(ssl);
	struct nvme_tls_identity id;
	struct nvme_tls_key key;
	uint8_t psk[NVME_TLS_PSK_MAX];
	size_t psk_len = 0;
	unsigned int kdf = NVME_TLS_KDF_LIBNVME;
	const SSL_CIPHER *cipher;
	SSL_SESSION *s = NULL;
	int ret;

	*sess = NULL;
	tls_identity_printable(t, identity, identity_len);
	if (nvme_tls_identity_parse(identity, identity_len, &id)) {
		t->refusal = "malformed PSK identity";
		return 1;
	}
	if (id.generated) {
		t->refusal = "generated PSKs (secure concatenation) are not supported";
		return 1;
	}
	ret = t->key_fn(t->key_arg, &id, &key, &kdf);
	if (ret) {
		t->refusal = ret == -EACCES ? "host not allowed on the subsystem through this port"
					    : "no TLS key configured for the host";
		return 1;
	}
	ret = nvme_tls_psk_for_identity(&key, &id, (enum nvme_tls_kdf)kdf, psk, &psk_len);
	nvme_tls_key_clear(&key);
	if (ret) {
		t->refusal = "the host's key does not match the identity (hash or digest)";
		return 1;
	}
	cipher = SSL_CIPHER_find(ssl, id.cipher == 2 ? aes256 : aes128);
	s = cipher ? SSL_SESSION_new() : NULL;
	if (!s || !SSL_SESSION_set1_master_key(s, psk, psk_len) || !SSL_SESSION_set_cipher(s, cipher) ||
	    !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s);
		OPENSSL_cleanse(psk, sizeof(psk));
		t->refusal = "out of memory for the PSK session";
		return 0;
	}
	OPENSSL_cleanse(psk, sizeof(psk));
	snprintf(t->hostnqn, sizeof(t->hostnqn), "%s", id.hostnqn);
	*sess = s;
	return 1;
}

/*
 * TLS 1.3 picks the suite before it looks at PSKs, and a PSK only fits a
 * suite of its own hash: offer just the suite the identity's HH names
 * (01: SHA-256, 02: SHA-384), from the first identity in the ClientHello.
 */
static int tls_client_hello(SSL *ssl, int *alert, void *arg)
{
	const unsigned char *ext;
	size_t len, idlen;

	(void)alert;
	(void)arg;
	/* pre_shared_key: identities<7..2^16-1> of { opaque identity<1..2^16-1>; uint32 age; } */
	if (!SSL_client_hello_get0_ext(ssl, 41, &ext, &len) || len < 4)
		return SSL_CLIENT_HELLO_SUCCESS;
	idlen = (size_t)ext[2] << 8 | ext[3];
	if (idlen >= 8 && idlen <= len - 4 && !memcmp(ext + 4, "NVMe", 4) && ext[4 + 6] == '0' &&
	    ext[4 + 7] == '2')
		SSL_set_ciphersuites(ssl, "TLS_AES_256_GCM_SHA384");
	else if (idlen >= 8 && idlen <= len - 4)
		SSL_set_ciphersuites(ssl, "TLS_AES_128_GCM_SHA256");
	return SSL_CLIENT_HELLO_SUCCESS;
}

static void tls_global_init(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "nvmeof-tcp");

	if (!ctx || !m || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384") ||
	    !SSL_CTX_set_num_tickets(ctx, 0) || !BIO_meth_set_write_ex(m, tls_bio_write) ||
	    !BIO_meth_set_read_ex(m, tls_bio_read) || !BIO_meth_set_ctrl(m, tls_bio_ctrl)) {
		SSL_CTX_free(ctx);
		BIO_meth_free(m);
		g_tls.init_err = -ENOMEM;
		return;
	}
	/* No resumption, no renegotiation, no early data: every connection
	 * proves the configured key afresh. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_psk_find_session_callback(ctx, tls_find_psk);
	SSL_CTX_set_client_hello_cb(ctx, tls_client_hello, NULL);
	g_tls.ctx = ctx;
	g_tls.bio_method = m;
}

/* ------------------------------------------------------------------ */
/* Session                                                             */

int tcp_tls_new(struct tcp_tls **out, tcp_tls_key_fn key_fn, void *key_arg, const char *peer)
{
	struct tcp_tls *t;
	BIO *bio;

	pthread_once(&g_tls.once, tls_global_init);
	if (g_tls.init_err)
		return g_tls.init_err;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ssl = SSL_new(g_tls.ctx);
	bio = BIO_new(g_tls.bio_method);
	if (!t->ssl || !bio) {
		BIO_free(bio);
		SSL_free(t->ssl);
		free(t);
		return -ENOMEM;
	}
	BIO_set_data(bio, t);
	BIO_set_init(bio, 1);
	SSL_set_bio(t->ssl, bio, bio);
	SSL_set_app_data(t->ssl, t);
	SSL_set_accept_state(t->ssl);
	t->key_fn = key_fn;
	t->key_arg = key_arg;
	snprintf(t->peer, sizeof(t->peer), "%s", peer);
	snprintf(t->identity, sizeof(t->identity), "(none)");
	*out = t;
	return 0;
}

void tcp_tls_free(struct tcp_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	/* Plaintext may linger in the gather and receive buffers. */
	OPENSSL_cleanse(t->gather, sizeof(t->gather));
	free(t);
}

size_t tcp_tls_rx_space(struct tcp_tls *t, uint8_t **buf)
{
	/* No receive is in flight while the caller asks: offsets may move. */
	if (t->rx_head == t->rx_tail) {
		t->rx_head = t->rx_tail = 0;
	} else if (t->rx_tail > TCP_TLS_RX_CAP / 2) {
		memmove(t->rx, t->rx + t->rx_head, t->rx_tail - t->rx_head);
		t->rx_tail -= t->rx_head;
		t->rx_head = 0;
	}
	*buf = t->rx + t->rx_tail;
	return TCP_TLS_RX_CAP - t->rx_tail;
}

void tcp_tls_rx_commit(struct tcp_tls *t, size_t n)
{
	t->rx_tail += (uint32_t)n;
}

int tcp_tls_rx_push(struct tcp_tls *t, const void *data, size_t n)
{
	uint8_t *dst;

	if (n > tcp_tls_rx_space(t, &dst))
		return -ENOBUFS;
	memcpy(dst, data, n);
	tcp_tls_rx_commit(t, n);
	return 0;
}

/* OpenSSL's reason for a failure, for the log (its error queue is per thread). */
static const char *tls_error_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "protocol error";
}

int tcp_tls_handshake(struct tcp_tls *t)
{
	int ret, err;

	if (t->established)
		return 0;
	ERR_clear_error();
	ret = SSL_do_handshake(t->ssl);
	if (ret == 1) {
		t->established = true;
		return 0;
	}
	err = SSL_get_error(t->ssl, ret);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	log_warn_rl("tcp", "%s: TLS handshake failed: %s (identity %s)", t->peer,
		    t->refusal ? t->refusal : tls_error_reason(), t->identity);
	ERR_clear_error();
	t->broken = true;
	return t->refusal ? -EACCES : -EPROTO;
}

bool tcp_tls_established(const struct tcp_tls *t)
{
	return t->established;
}

int tcp_tls_read(struct tcp_tls *t, void *dst, size_t len, size_t *got)
{
	int ret, err;

	*got = 0;
	if (t->broken)
		return -EPROTO;
	/* Let a KeyUpdate answer fit before OpenSSL tries to write it. */
	if (TCP_TLS_TX_CAP - t->tx_tail < TLS_RECORD_ROOM)
		return -ENOBUFS;
	ERR_clear_error();
	ret = SSL_read_ex(t->ssl, dst, len, got);
	if (ret == 1)
		return 0;
	err = SSL_get_error(t->ssl, 0);
	switch (err) {
	case SSL_ERROR_WANT_READ:
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		return -ENOBUFS;
	case SSL_ERROR_ZERO_RETURN:
		return -ECONNRESET;
	default:
		log_warn_rl("tcp", "%s: TLS receive failed: %s", t->peer, tls_error_reason());
		ERR_clear_error();
		t->broken = true;
		return -EPROTO;
	}
}

/* Records from src (full ones but the last); room was checked, TLS_RECORD_ROOM each. */
static bool tls_seal_record(struct tcp_tls *t, const void *src, size_t len)
{
	size_t written = 0;

	ERR_clear_error();
	if (SSL_write_ex(t->ssl, src, len, &written) != 1 || written != len) {
		log_warn_rl("tcp", "%s: TLS send failed: %s", t->peer, tls_error_reason());
		ERR_clear_error();
		t->broken = true;
		return false;
	}
	return true;
}

static bool tls_has_room(const struct tcp_tls *t)
{
	return TCP_TLS_TX_CAP - t->tx_tail >= TLS_RECORD_ROOM;
}

int tcp_tls_seal(struct tcp_tls *t)
{
	if (!t->gathered || t->broken)
		return t->broken ? -EPROTO : 0;
	if (!tls_has_room(t))
		return -EAGAIN;
	if (!tls_seal_record(t, t->gather, t->gathered))
		return -EPROTO;
	t->gathered = 0;
	return 0;
}

size_t tcp_tls_write(struct tcp_tls *t, const void *src, size_t len)
{
	size_t n, room;

	if (t->broken || !t->established || len == 0)
		return 0;
	if (t->gathered == sizeof(t->gather) && tcp_tls_seal(t))
		return 0;
	/*
	 * Small pieces are gathered. So is the start of a large one when
	 * bytes are already gathered (a PDU header, a payload's tail): they
	 * are topped up to a full record rather than sealed alone, since a
	 * 24-byte record costs both ends a whole record's fixed work (it was
	 * two extra records per 128 KiB read: the header's and the tail's).
	 */
	if (len <= TLS_GATHER_MAX || t->gathered) {
		n = sizeof(t->gather) - t->gathered;
		if (n > len)
			n = len;
		memcpy(t->gather + t->gathered, src, n);
		t->gathered += (uint32_t)n;
		return n;
	}
	/*
	 * Then straight from the caller: whole records, as many as there is
	 * room for in one call. The tail comes back: gathered if small (so
	 * the next PDU tops it up), else sealed as one short record.
	 */
	room = (TCP_TLS_TX_CAP - t->tx_tail) / TLS_RECORD_ROOM;
	n = len / TCP_TLS_RECORD_PLAIN;
	if (n == 0)
		n = room ? len : 0; /* one short record: nothing else was gathered */
	else
		n = (n < room ? n : room) * TCP_TLS_RECORD_PLAIN;
	if (n == 0)
		return 0;
	return tls_seal_record(t, src, n) ? n : 0;
}

size_t tcp_tls_gathered(const struct tcp_tls *t)
{
	return t->gathered;
}

bool tcp_tls_broken(const struct tcp_tls *t)
{
	return t->broken;
}

uint64_t tcp_tls_tx_total(const struct tcp_tls *t)
{
	return t->tx_total;
}

size_t tcp_tls_tx_pending(struct tcp_tls *t, uint8_t **buf)
{
	*buf = t->tx + t->tx_head;
	return t->tx_tail - t->tx_head;
}

void tcp_tls_tx_sent(struct tcp_tls *t, size_t n)
{
	t->tx_head += (uint32_t)n;
	if (t->tx_head == t->tx_tail)
		t->tx_head = t->tx_tail = 0;
}

void tcp_tls_tx_compact(struct tcp_tls *t)
{
	/* Only when the next record would not fit: moving is a copy. */
	if (t->tx_head == 0 || tls_has_room(t))
		return;
	memmove(t->tx, t->tx + t->tx_head, t->tx_tail - t->tx_head);
	t->tx_tail -= t->tx_head;
	t->tx_head = 0;
}

const char *tcp_tls_identity(const struct tcp_tls *t)
{
	return t->identity;
}

const char *tcp_tls_hostnqn(const struct tcp_tls *t)
{
	return t->hostnqn;
}

const char *tcp_tls_cipher(const struct tcp_tls *t)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);

	return c ? SSL_CIPHER_get_name(c) : "(none)";
}
