/* SPDX-License-Identifier: MIT */
/*
 * TLS 1.3 with an external pre-shared key on an NVMe/TCP connection
 * (NVMe/TCP secure channel), client side, with OpenSSL 3 libssl.
 *
 * The record layer runs in user space over a BIO of our own that uses
 * send(MSG_NOSIGNAL | MSG_DONTWAIT) and recv(MSG_DONTWAIT): no SIGPIPE for
 * the application, and the socket's blocking mode does not matter. Kernel
 * TLS would replace that BIO with a socket BIO and set SSL_OP_ENABLE_KTLS;
 * nothing outside this file would change.
 *
 * Sending: small iovecs (PDU headers, small payloads, digests) are gathered
 * into one staging record so that a batch of commands costs one record and
 * one system call; large payloads are encrypted straight from the caller's
 * buffer (OpenSSL copies them into its record buffer while encrypting
 * anyway). A record OpenSSL could not finish sending stays pending: the
 * next call first retries it with the same bytes, as libssl requires.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "crypto/tls_psk.h"
#include "host_internal.h"

#define TLS_RECORD_MAX 16384 /* TLS 1.3 plaintext per record */
#define TLS_DIRECT_MIN 16384 /* iovecs at least this long skip the staging buffer */
#define TLS_READ_BUF (64u * 1024) /* with read-ahead: several records per recv */

struct host_tls_cfg {
	SSL_CTX *ctx;
	BIO_METHOD *bio_meth;
	uint8_t psk[NVME_TLS_PSK_MAX];
	size_t psk_len;
	unsigned int cipher; /* 1: SHA-256 suite, 2: SHA-384 suite */
	char identity[NVME_TLS_IDENTITY_MAX];
	size_t identity_len;
};

struct host_tls {
	SSL *ssl;
	int fd;
	short want; /* poll events the last -EAGAIN waits for */
	bool direct_pending; /* a direct SSL_write must be retried with the same bytes */
	bool maybe_more; /* the last read returned data: libssl may hold more records */
	bool starved; /* the last read wanted the network: no whole record is buffered */
	uint32_t stage_len, stage_off; /* staged bytes, of which stage_off already sent */
	uint8_t stage[TLS_RECORD_MAX];
};

/* ---- the BIO: non-blocking TCP without signals ---- */

static int bio_tcp_write(BIO *b, const char *buf, size_t len, size_t *written)
{
	struct host_tls *t = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	for (;;) {
		ssize_t w = send(t->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w >= 0) {
			*written = (size_t)w;
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			BIO_set_retry_write(b);
		return 0;
	}
}

static int bio_tcp_read(BIO *b, char *buf, size_t len, size_t *got)
{
	struct host_tls *t = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	for (;;) {
		ssize_t r = recv(t->fd, buf, len, MSG_DONTWAIT);

		if (r > 0) {
			*got = (size_t)r;
			return 1;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			BIO_set_retry_read(b);
		return 0; /* r == 0: end of stream, seen by libssl as an unexpected EOF */
	}
}

static long bio_tcp_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

/* ---- configuration: the PSK and identity for one controller ---- */

static int psk_use_session(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
			   SSL_SESSION **sess)
{
	const struct host_tls_cfg *cfg = SSL_get_app_data(ssl);
	static const unsigned char aes128_sha256[2] = { 0x13, 0x01 };
	static const unsigned char aes256_sha384[2] = { 0x13, 0x02 };
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, cfg->cipher == 2 ? aes256_sha384 : aes128_sha256);
	SSL_SESSION *s;

	*sess = NULL;
	*id = NULL;
	*idlen = 0;
	if (!cipher)
		return 0;
	/* After a HelloRetryRequest: offer the PSK only if its hash still fits. */
	if (md && EVP_MD_get_type(md) != EVP_MD_get_type(SSL_CIPHER_get_handshake_digest(cipher)))
		return 1;
	s = SSL_SESSION_new();
	if (!s)
		return 0;
	if (!SSL_SESSION_set1_master_key(s, cfg->psk, cfg->psk_len) ||
	    !SSL_SESSION_set_cipher(s, cipher) ||
	    !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s);
		return 0;
	}
	*sess = s;
	*id = (const unsigned char *)cfg->identity;
	*idlen = cfg->identity_len;
	return 1;
}

void host_tls_cfg_free(struct host_tls_cfg *cfg)
{
	if (!cfg)
		return;
	SSL_CTX_free(cfg->ctx);
	BIO_meth_free(cfg->bio_meth);
	OPENSSL_cleanse(cfg, sizeof(*cfg));
	OPENSSL_free(cfg);
}

int host_tls_cfg_new(const struct nvmeof_ctrl_opts *o, struct host_tls_cfg **out)
{
	struct nvme_tls_key key;
	struct host_tls_cfg *cfg;
	int rc;

	*out = NULL;
	if (!o->tls_key || !*o->tls_key) {
		log_error(HOST_LOG, "TLS needs a pre-shared key (tls_key, NVMeTLSkey-1:...): there is no keyring to look it up in");
		return -EINVAL;
	}
	if (o->tls_identity_version > 1 || (o->tls_kdf != NVMEOF_TLS_KDF_LIBNVME &&
					    o->tls_kdf != NVMEOF_TLS_KDF_RFC8446))
		return -EINVAL;
	rc = nvme_tls_key_parse(o->tls_key, &key);
	if (rc) {
		log_error(HOST_LOG, "TLS key is not a valid NVMeTLSkey-1 interchange string");
		return rc;
	}
	cfg = OPENSSL_zalloc(sizeof(*cfg));
	if (!cfg) {
		nvme_tls_key_clear(&key);
		return -ENOMEM;
	}
	cfg->cipher = nvme_tls_key_cipher(&key);
	if (o->tls_key_identity) {
		/* An explicit identity: the key bytes are the TLS PSK as they are. */
		size_t len = strlen(o->tls_key_identity);

		if (len == 0 || len >= sizeof(cfg->identity)) {
			rc = -EINVAL;
			goto fail;
		}
		memcpy(cfg->identity, o->tls_key_identity, len + 1);
		memcpy(cfg->psk, key.key, key.len);
		cfg->psk_len = key.len;
		cfg->cipher = key.len == 48 ? 2 : 1;
	} else {
		rc = nvme_tls_psk_derive(&key, o->tls_identity_version, (enum nvme_tls_kdf)o->tls_kdf,
					 o->hostnqn, o->subnqn, cfg->identity, cfg->psk, &cfg->psk_len);
		if (rc) {
			log_error(HOST_LOG, "cannot derive the TLS PSK for %s and %s", o->hostnqn, o->subnqn);
			goto fail;
		}
	}
	cfg->identity_len = strlen(cfg->identity);
	nvme_tls_key_clear(&key);

	rc = -ENOMEM;
	cfg->bio_meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "nvmeof-tcp");
	if (!cfg->bio_meth || !BIO_meth_set_write_ex(cfg->bio_meth, bio_tcp_write) ||
	    !BIO_meth_set_read_ex(cfg->bio_meth, bio_tcp_read) ||
	    !BIO_meth_set_ctrl(cfg->bio_meth, bio_tcp_ctrl))
		goto fail;
	cfg->ctx = SSL_CTX_new(TLS_client_method());
	if (!cfg->ctx)
		goto fail;
	rc = -EINVAL;
	if (!SSL_CTX_set_min_proto_version(cfg->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(cfg->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(cfg->ctx, cfg->cipher == 2 ? "TLS_AES_256_GCM_SHA384"
							       : "TLS_AES_128_GCM_SHA256"))
		goto fail;
	SSL_CTX_set_options(cfg->ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(cfg->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(cfg->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* No certificate is trusted: a controller must prove the PSK or fail. */
	SSL_CTX_set_verify(cfg->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_read_ahead(cfg->ctx, 1);
	SSL_CTX_set_default_read_buffer_len(cfg->ctx, TLS_READ_BUF);
	*out = cfg;
	return 0;
fail:
	nvme_tls_key_clear(&key);
	host_tls_cfg_free(cfg);
	return rc;
}

const char *host_tls_cfg_identity(const struct host_tls_cfg *cfg) { return cfg->identity; }

/* ---- one connection ---- */

static void log_ssl_errors(const char *peer, uint16_t qid, const char *identity, int ssl_err)
{
	char buf[256] = "";
	unsigned long e;

	/* The last queued error is usually the most specific one (e.g. the peer's alert). */
	while ((e = ERR_get_error()) != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	if (!buf[0])
		snprintf(buf, sizeof(buf), "%s",
			 ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN
				 ? "the controller closed the connection" : "unknown error");
	log_error(HOST_LOG, "%s qid %u: TLS handshake failed: %s, check the PSK and identity (%s)", peer,
		  qid, buf, identity);
}

void host_tls_free(struct host_tls *t)
{
	if (!t)
		return;
	if (t->ssl) {
		/* close_notify, best effort: the socket is closed right after. */
		if (SSL_is_init_finished(t->ssl))
			SSL_shutdown(t->ssl);
		SSL_free(t->ssl);
	}
	OPENSSL_cleanse(t->stage, sizeof(t->stage)); /* plaintext of data sent */
	OPENSSL_free(t);
	ERR_clear_error();
}

int host_tls_handshake(int fd, const struct host_tls_cfg *cfg, const char *peer, uint16_t qid,
		       uint64_t deadline_ns, struct host_tls **out)
{
	struct host_tls *t;
	BIO *bio;
	int rc;

	*out = NULL;
	t = OPENSSL_zalloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fd = fd;
	ERR_clear_error();
	t->ssl = SSL_new(cfg->ctx);
	bio = BIO_new(cfg->bio_meth);
	if (!t->ssl || !bio) {
		BIO_free(bio);
		host_tls_free(t);
		return -ENOMEM;
	}
	BIO_set_data(bio, t);
	BIO_set_init(bio, 1);
	SSL_set_bio(t->ssl, bio, bio);
	SSL_set_app_data(t->ssl, (void *)cfg);
	SSL_set_psk_use_session_callback(t->ssl, psk_use_session);
	SSL_set_connect_state(t->ssl);
	for (;;) {
		int r = SSL_do_handshake(t->ssl);

		if (r == 1)
			break;
		int err = SSL_get_error(t->ssl, r);

		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
			rc = sock_wait_fd(fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline_ns);
			if (rc) {
				if (rc == -ETIMEDOUT)
					log_error(HOST_LOG, "%s qid %u: TLS handshake timed out", peer, qid);
				goto fail;
			}
			continue;
		}
		log_ssl_errors(peer, qid, cfg->identity, err);
		rc = -ECONNREFUSED;
		goto fail;
	}
	if (!SSL_session_reused(t->ssl)) {
		/* A PSK-only client cannot accept anything else; be explicit anyway. */
		log_error(HOST_LOG, "%s qid %u: TLS handshake failed: the controller did not accept the PSK, check the PSK and identity (%s)",
			  peer, qid, cfg->identity);
		rc = -ECONNREFUSED;
		goto fail;
	}
	log_debug(HOST_LOG, "%s qid %u: TLS 1.3 established (%s)", peer, qid,
		  SSL_CIPHER_get_name(SSL_get_current_cipher(t->ssl)));
	*out = t;
	return 0;
fail:
	SSL_free(t->ssl);
	t->ssl = NULL;
	host_tls_free(t);
	return rc;
}

/* Map a failed SSL_read_ex/SSL_write_ex to -EAGAIN (with t->want set) or an error. */
static int io_error(struct host_tls *t, int r, const char *what)
{
	int err = SSL_get_error(t->ssl, r);

	switch (err) {
	case SSL_ERROR_WANT_READ:
		t->want = POLLIN;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		t->want = POLLOUT;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return -ECONNRESET;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		return errno ? -errno : -ECONNRESET;
	default: {
		char buf[256] = "";
		unsigned long e;

		while ((e = ERR_get_error()) != 0)
			ERR_error_string_n(e, buf, sizeof(buf));
		log_error(HOST_LOG, "TLS %s failed: %s", what, buf);
		return -EPROTO;
	}
	}
}

/* Send the staged record; 0 once it is all out. */
static int stage_flush(struct host_tls *t)
{
	while (t->stage_off < t->stage_len) {
		size_t w = 0;
		int r = SSL_write_ex(t->ssl, t->stage + t->stage_off, t->stage_len - t->stage_off, &w);

		if (r <= 0)
			return io_error(t, r, "send");
		t->stage_off += (uint32_t)w;
	}
	t->stage_len = t->stage_off = 0;
	return 0;
}

ssize_t host_tls_sendv(struct host_tls *t, const struct iovec *iov, int iovcnt)
{
	size_t done = 0;
	int i = 0;
	size_t off = 0; /* into iov[i] */
	int rc;

	errno = 0;
	rc = stage_flush(t);
	if (rc)
		return rc;
	while (i < iovcnt) {
		const uint8_t *base = (const uint8_t *)iov[i].iov_base + off;
		size_t len = iov[i].iov_len - off;

		if (len >= TLS_DIRECT_MIN) {
			size_t w = 0;
			int r = SSL_write_ex(t->ssl, base, len, &w);

			if (r <= 0) {
				rc = io_error(t, r, "send");
				t->direct_pending = rc == -EAGAIN;
				return done ? (ssize_t)done : rc;
			}
			t->direct_pending = false;
			done += w;
			off += w;
			if (off == iov[i].iov_len) {
				i++;
				off = 0;
			}
			continue;
		}
		/* Gather small pieces into one record; they count as sent once staged. */
		while (i < iovcnt && t->stage_len < TLS_RECORD_MAX) {
			base = (const uint8_t *)iov[i].iov_base + off;
			len = iov[i].iov_len - off;
			if (len >= TLS_DIRECT_MIN && t->stage_len)
				break;
			size_t n = len < TLS_RECORD_MAX - t->stage_len ? len : TLS_RECORD_MAX - t->stage_len;

			memcpy(t->stage + t->stage_len, base, n);
			t->stage_len += (uint32_t)n;
			done += n;
			off += n;
			if (off == iov[i].iov_len) {
				i++;
				off = 0;
			}
		}
		rc = stage_flush(t);
		if (rc == -EAGAIN)
			return (ssize_t)done; /* staged bytes are ours now; sent on the next call */
		if (rc)
			return rc;
	}
	return (ssize_t)done;
}

bool host_tls_unsent(const struct host_tls *t) { return t->stage_off < t->stage_len || t->direct_pending; }

ssize_t host_tls_recv(struct host_tls *t, void *buf, size_t len)
{
	size_t got = 0;
	int r;

	errno = 0;
	if (t->starved) {
		/*
		 * A poller calls here in a loop. poll() does not take the socket
		 * lock that recv() does (the sender's softirq needs it to queue
		 * our data), and skips libssl's work for a read that cannot
		 * complete a record.
		 */
		struct pollfd pfd = { .fd = t->fd, .events = POLLIN };

		if (poll(&pfd, 1, 0) == 0) {
			t->want = POLLIN;
			return -EAGAIN;
		}
	}
	r = SSL_read_ex(t->ssl, buf, len, &got);
	t->maybe_more = r > 0;
	if (r > 0) {
		t->starved = false;
		return (ssize_t)got;
	}
	r = io_error(t, r, "receive");
	t->starved = r == -EAGAIN && t->want == POLLIN;
	return r;
}

/*
 * Not SSL_has_pending(): it also counts half a record, which only the
 * network can complete. A read that ended in WANT_READ left no whole record.
 */
bool host_tls_pending(const struct host_tls *t) { return t->maybe_more || SSL_pending(t->ssl) > 0; }

short host_tls_want(const struct host_tls *t) { return t->want ? t->want : POLLIN; }
