/* SPDX-License-Identifier: MIT */
/*
 * Host TLS layer (src/host/tls.c) against an in-process OpenSSL TLS 1.3 PSK
 * server on a socketpair: the server finds the PSK from the identity it is
 * offered the way a target does (crypto/tls_psk.h), so identity and
 * derivation are checked end to end. Handshake, wrong PSK, explicit
 * identity, SHA-384 keys, hostile peers, deadline and cancel, and byte-exact
 * streams across records with the socket buffer full (partial writes).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "crypto/tls_psk.h"
#include "host/host_internal.h"

#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555"
#define SUBNQN "nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
/* The 32 bytes 00..1f in the interchange format. */
#define KEY_01 "NVMeTLSkey-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"
#define STREAM_LEN (3u << 20)

enum srv_mode { SRV_SINK, SRV_SOURCE, SRV_GARBAGE, SRV_SILENT, SRV_BAD_RECORD };

struct srv {
	int fd;
	enum srv_mode mode;
	struct nvme_tls_key key;
	bool raw; /* the key bytes are the TLS PSK (explicit identity) */
	bool slow; /* read in small pieces with pauses: the client's sends fill the socket */
	char identity[NVME_TLS_IDENTITY_MAX];
	char cipher[64];
	int handshake_ok;
	size_t got;
	uint8_t *buf; /* SINK: what arrived; SOURCE: what to send */
	pthread_t thread;
};

static uint8_t pattern(size_t i) { return (uint8_t)(i * 31 + (i >> 9)); }

static int find_psk(SSL *ssl, const unsigned char *id, size_t len, SSL_SESSION **sess)
{
	struct srv *s = SSL_get_app_data(ssl);
	struct nvme_tls_identity parsed;
	uint8_t psk[NVME_TLS_PSK_MAX];
	size_t psk_len = 0;
	static const unsigned char aes128[2] = { 0x13, 0x01 }, aes256[2] = { 0x13, 0x02 };

	*sess = NULL;
	if (len >= sizeof(s->identity))
		return 1;
	memcpy(s->identity, id, len);
	s->identity[len] = '\0';
	if (s->raw) {
		memcpy(psk, s->key.key, s->key.len);
		psk_len = s->key.len;
	} else if (nvme_tls_identity_parse(id, len, &parsed) ||
		   nvme_tls_psk_for_identity(&s->key, &parsed, NVME_TLS_KDF_LIBNVME, psk, &psk_len)) {
		return 1; /* unknown identity: no PSK, the handshake fails */
	}
	SSL_SESSION *ss = SSL_SESSION_new();

	SSL_SESSION_set1_master_key(ss, psk, psk_len);
	SSL_SESSION_set_cipher(ss, SSL_CIPHER_find(ssl, psk_len == 48 ? aes256 : aes128));
	SSL_SESSION_set_protocol_version(ss, TLS1_3_VERSION);
	*sess = ss;
	return 1;
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	char junk[64];

	if (s->mode == SRV_GARBAGE) {
		/* Not TLS at all: an HTTP error page. */
		const char msg[] = "HTTP/1.1 400 Bad Request\r\n\r\n";

		(void)!read(s->fd, junk, sizeof(junk));
		(void)!write(s->fd, msg, sizeof(msg) - 1);
		shutdown(s->fd, SHUT_RDWR);
		return NULL;
	}
	if (s->mode == SRV_SILENT) {
		while (read(s->fd, junk, sizeof(junk)) > 0)
			;
		return NULL;
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_psk_find_session_callback(ctx, find_psk);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL *ssl = SSL_new(ctx);

	SSL_set_app_data(ssl, s);
	SSL_set_fd(ssl, s->fd);
	s->handshake_ok = SSL_accept(ssl) == 1;
	if (s->handshake_ok) {
		snprintf(s->cipher, sizeof(s->cipher), "%s", SSL_get_cipher_name(ssl));
		if (s->mode == SRV_BAD_RECORD) {
			/* An application data record whose tag cannot verify. */
			uint8_t rec[5 + 64] = { 0x17, 0x03, 0x03, 0x00, 64 };

			memset(rec + 5, 0xa5, 64);
			(void)!write(s->fd, rec, sizeof(rec));
			while (read(s->fd, junk, sizeof(junk)) > 0)
				;
		} else if (s->mode == SRV_SINK) {
			size_t n;

			while (s->got < STREAM_LEN) {
				size_t want = s->slow ? 3000 : STREAM_LEN - s->got;

				if (!SSL_read_ex(ssl, s->buf + s->got, want, &n))
					break;
				s->got += n;
				if (s->slow && (s->got / 3000) % 64 == 0)
					usleep(1000);
			}
		} else {
			size_t n;

			while (s->got < STREAM_LEN && SSL_write_ex(ssl, s->buf + s->got, STREAM_LEN - s->got, &n))
				s->got += n;
		}
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	shutdown(s->fd, SHUT_RDWR);
	return NULL;
}

/* Client socket in sv[0], server thread on sv[1]. */
static void srv_start(struct srv *s, int sv[2], enum srv_mode mode, const char *key, bool raw)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s->fd = sv[1];
	s->mode = mode;
	s->raw = raw;
	assert_int_equal(nvme_tls_key_parse(key, &s->key), 0);
	s->buf = malloc(STREAM_LEN);
	assert_non_null(s->buf);
	if (mode == SRV_SOURCE)
		for (size_t i = 0; i < STREAM_LEN; i++)
			s->buf[i] = pattern(i);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

static void srv_stop(struct srv *s, int sv[2])
{
	close(sv[0]);
	pthread_join(s->thread, NULL);
	close(sv[1]);
	free(s->buf);
	nvme_tls_key_clear(&s->key);
}

static struct host_tls_cfg *make_cfg(const char *key, const char *identity, unsigned int version)
{
	struct nvmeof_ctrl_opts o;
	struct host_tls_cfg *cfg = NULL;

	nvmeof_ctrl_opts_init(&o);
	o.tls = true;
	o.tls_key = key;
	o.tls_key_identity = identity;
	o.tls_identity_version = version;
	o.subnqn = SUBNQN;
	strcpy(o.hostnqn, HOSTNQN);
	assert_int_equal(host_tls_cfg_new(&o, &cfg), 0);
	return cfg;
}

static uint64_t in_ms(int ms) { return host_now_ns() + (uint64_t)ms * 1000000ull; }

static void handshake_ok(unsigned int version, const char *want_prefix)
{
	struct host_tls_cfg *cfg = make_cfg(KEY_01, NULL, version);
	struct host_tls *tls = NULL;
	struct srv s;
	int sv[2];

	srv_start(&s, sv, SRV_SINK, KEY_01, false);
	assert_int_equal(host_tls_handshake(sv[0], cfg, "test", 0, in_ms(5000), &tls), 0);
	assert_non_null(tls);
	host_tls_free(tls);
	srv_stop(&s, sv);
	assert_true(s.handshake_ok);
	assert_string_equal(s.cipher, "TLS_AES_128_GCM_SHA256");
	assert_int_equal(strncmp(s.identity, want_prefix, strlen(want_prefix)), 0);
	assert_string_equal(s.identity, host_tls_cfg_identity(cfg));
	host_tls_cfg_free(cfg);
}

static void test_handshake_v1(void **state)
{
	handshake_ok(1, "NVMe1R01 " HOSTNQN " " SUBNQN " ");
}

static void test_handshake_v0(void **state) { handshake_ok(0, "NVMe0R01 " HOSTNQN " " SUBNQN); }

static void test_sha384_key(void **state)
{
	struct nvme_tls_key k;
	char key[NVME_TLS_KEY_STR_MAX];

	assert_int_equal(nvme_tls_key_generate(2, &k), 0);
	assert_int_equal(nvme_tls_key_format(&k, key, sizeof(key)), 0);
	nvme_tls_key_clear(&k);
	struct host_tls_cfg *cfg = make_cfg(key, NULL, 1);
	struct host_tls *tls = NULL;
	struct srv s;
	int sv[2];

	srv_start(&s, sv, SRV_SINK, key, false);
	assert_int_equal(host_tls_handshake(sv[0], cfg, "test", 0, in_ms(5000), &tls), 0);
	host_tls_free(tls);
	srv_stop(&s, sv);
	assert_string_equal(s.cipher, "TLS_AES_256_GCM_SHA384");
	assert_int_equal(strncmp(s.identity, "NVMe1R02 ", 9), 0);
	host_tls_cfg_free(cfg);
}

static void test_wrong_psk_refused(void **state)
{
	char other[NVME_TLS_KEY_STR_MAX];
	struct nvme_tls_key k;

	assert_int_equal(nvme_tls_key_generate(1, &k), 0);
	assert_int_equal(nvme_tls_key_format(&k, other, sizeof(other)), 0);
	nvme_tls_key_clear(&k);
	/* Same identity, other secret: the server's binder check fails. */
	struct host_tls_cfg *cfg = make_cfg(other, NULL, 0);
	struct host_tls *tls = NULL;
	struct srv s;
	int sv[2];
	uint64_t t0 = host_now_ns();

	srv_start(&s, sv, SRV_SINK, KEY_01, false);
	assert_int_equal(host_tls_handshake(sv[0], cfg, "test", 0, in_ms(5000), &tls), -ECONNREFUSED);
	assert_null(tls);
	assert_true(host_now_ns() - t0 < 2000000000ull);
	srv_stop(&s, sv);
	assert_false(s.handshake_ok);
	host_tls_cfg_free(cfg);
}

static void test_explicit_identity(void **state)
{
	const char *id = "NVMe0R01 " HOSTNQN " " SUBNQN;
	struct host_tls_cfg *cfg = make_cfg(KEY_01, id, 1);
	struct host_tls *tls = NULL;
	struct srv s;
	int sv[2];

	srv_start(&s, sv, SRV_SINK, KEY_01, true);
	assert_int_equal(host_tls_handshake(sv[0], cfg, "test", 0, in_ms(5000), &tls), 0);
	host_tls_free(tls);
	srv_stop(&s, sv);
	assert_true(s.handshake_ok);
	assert_string_equal(s.identity, id);
	host_tls_cfg_free(cfg);

	/* The derived PSK is not the raw key: against the raw-key server it fails. */
	cfg = make_cfg(KEY_01, NULL, 0);
	srv_start(&s, sv, SRV_SINK, KEY_01, true);
	assert_int_equal(host_tls_handshake(sv[0], cfg, "test", 0, in_ms(5000), &tls), -ECONNREFUSED);
	srv_stop(&s, sv);
	host_tls_cfg_free(cfg);
}

static void test_hostile_peers(void **state)
{
	struct host_tls_cfg *cfg = make_cfg(KEY_01, NULL, 1);
	struct host_tls *tls = NULL;
	struct srv s;
	int sv[2];

	srv_start(&s, sv, SRV_GARBAGE, KEY_01, false);
	assert_int_equal(host_tls_handshake(sv[0], cfg, "test", 0, in_ms(5000), &tls), -ECONNREFUSED);
	srv_stop(&s, sv);

	/* Silent peer: the deadline holds. */
	uint64_t t0 = host_now_ns();

	srv_start(&s, sv, SRV_SILENT, KEY_01, false);
	assert_int_equal(host_tls_handshake(sv[0], cfg, "test", 0, in_ms(200), &tls), -ETIMEDOUT);
	assert_true(host_now_ns() - t0 < 2000000000ull);
	srv_stop(&s, sv);

	/* The cancel fd ends the wait at once. */
	int efd = eventfd(1, EFD_CLOEXEC);

	srv_start(&s, sv, SRV_SILENT, KEY_01, false);
	sock_set_cancel_fd(efd);
	assert_int_equal(host_tls_handshake(sv[0], cfg, "test", 0, in_ms(5000), &tls), -ECANCELED);
	sock_set_cancel_fd(-1);
	srv_stop(&s, sv);
	close(efd);
	assert_null(tls);
	host_tls_cfg_free(cfg);
}

/* Send a stream cut into iovecs of awkward sizes, accounted as qp_flush does; count the waits. */
static unsigned int send_stream(struct host_tls *tls, int fd, const uint8_t *data)
{
	unsigned int waits = 0;
	static const size_t sizes[] = { 72, 4096, 4, 72, 131072, 1, 72, 16383, 16384, 16385, 72, 65536, 4 };
	struct iovec iov[64];
	size_t pos = 0, k = 0;
	int n = 0;

	while (pos < STREAM_LEN || n > 0 || host_tls_unsent(tls)) {
		while (n < 64 && pos < STREAM_LEN) {
			size_t len = sizes[k++ % (sizeof(sizes) / sizeof(sizes[0]))];

			if (len > STREAM_LEN - pos)
				len = STREAM_LEN - pos;
			iov[n++] = (struct iovec){ (void *)(data + pos), len };
			pos += len;
		}
		ssize_t w = host_tls_sendv(tls, iov, n);

		if (w == -EAGAIN) {
			struct pollfd p = { .fd = fd, .events = host_tls_want(tls) };

			assert_true(poll(&p, 1, 5000) == 1);
			waits++;
			continue;
		}
		assert_true(w >= 0);
		size_t left = (size_t)w;
		int i = 0;

		while (i < n && left >= iov[i].iov_len)
			left -= iov[i++].iov_len;
		if (i < n) {
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + left;
			iov[i].iov_len -= left;
		}
		memmove(iov, iov + i, (size_t)(n - i) * sizeof(iov[0]));
		n -= i;
	}
	return waits;
}

static void test_stream_send_partial_writes(void **state)
{
	struct host_tls_cfg *cfg = make_cfg(KEY_01, NULL, 1);
	struct host_tls *tls = NULL;
	uint8_t *data = malloc(STREAM_LEN);
	int small = 8192;
	struct srv s;
	int sv[2];

	assert_non_null(data);
	for (size_t i = 0; i < STREAM_LEN; i++)
		data[i] = pattern(i);
	srv_start(&s, sv, SRV_SINK, KEY_01, false);
	s.slow = true;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	assert_int_equal(sock_set_nonblock(sv[0], true), 0);
	assert_int_equal(host_tls_handshake(sv[0], cfg, "test", 0, in_ms(5000), &tls), 0);
	/* The slow reader must have made some sends wait (partial writes, retries). */
	assert_true(send_stream(tls, sv[0], data) > 0);
	pthread_join(s.thread, NULL);
	assert_int_equal(s.got, STREAM_LEN);
	assert_memory_equal(s.buf, data, STREAM_LEN);
	host_tls_free(tls);
	close(sv[0]);
	close(sv[1]);
	free(s.buf);
	nvme_tls_key_clear(&s.key);
	free(data);
	host_tls_cfg_free(cfg);
}

static void test_stream_recv_and_blocking_helpers(void **state)
{
	struct host_tls_cfg *cfg = make_cfg(KEY_01, NULL, 1);
	struct host_tls *tls = NULL;
	uint8_t *got = malloc(STREAM_LEN);
	struct srv s;
	int sv[2];

	assert_non_null(got);
	srv_start(&s, sv, SRV_SOURCE, KEY_01, false);
	assert_int_equal(host_tls_handshake(sv[0], cfg, "test", 0, in_ms(5000), &tls), 0);
	/* Odd pieces, through the blocking helper the sync connection uses. */
	size_t pos = 0, piece = 1;

	while (pos < STREAM_LEN) {
		size_t n = piece < STREAM_LEN - pos ? piece : STREAM_LEN - pos;

		assert_int_equal(sock_recv_all(sv[0], tls, got + pos, n, in_ms(5000)), 0);
		pos += n;
		piece = piece * 3 + 7;
		if (piece > 200000)
			piece = 5;
	}
	assert_memory_equal(got, s.buf, STREAM_LEN);
	/* Then the server closes: seen as a reset, not as data. */
	uint8_t b;

	assert_int_equal(sock_recv_all(sv[0], tls, &b, 1, in_ms(5000)), -ECONNRESET);
	host_tls_free(tls);
	srv_stop(&s, sv);
	free(got);
	host_tls_cfg_free(cfg);
}

/* A controller that forges a record after the handshake: the connection fails, nothing is delivered. */
static void test_forged_record(void **state)
{
	struct host_tls_cfg *cfg = make_cfg(KEY_01, NULL, 1);
	struct host_tls *tls = NULL;
	uint8_t buf[256];
	struct srv s;
	int sv[2];

	srv_start(&s, sv, SRV_BAD_RECORD, KEY_01, false);
	assert_int_equal(host_tls_handshake(sv[0], cfg, "test", 0, in_ms(5000), &tls), 0);
	assert_int_equal(sock_recv_all(sv[0], tls, buf, sizeof(buf), in_ms(5000)), -EPROTO);
	host_tls_free(tls);
	srv_stop(&s, sv);
	host_tls_cfg_free(cfg);
}

static void test_cfg_errors(void **state)
{
	struct nvmeof_ctrl_opts o;
	struct host_tls_cfg *cfg = NULL;

	nvmeof_ctrl_opts_init(&o);
	assert_int_equal(o.tls_identity_version, 1);
	assert_int_equal(o.tls_kdf, NVMEOF_TLS_KDF_LIBNVME);
	o.subnqn = SUBNQN;
	strcpy(o.hostnqn, HOSTNQN);
	o.tls = true;
	assert_int_equal(host_tls_cfg_new(&o, &cfg), -EINVAL); /* no key */
	o.tls_key = "NVMeTLSkey-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh/ALETU:"; /* bad CRC */
	assert_int_equal(host_tls_cfg_new(&o, &cfg), -EINVAL);
	o.tls_key = KEY_01;
	o.tls_identity_version = 2;
	assert_int_equal(host_tls_cfg_new(&o, &cfg), -EINVAL);
	assert_null(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_v1),
		cmocka_unit_test(test_handshake_v0),
		cmocka_unit_test(test_sha384_key),
		cmocka_unit_test(test_wrong_psk_refused),
		cmocka_unit_test(test_explicit_identity),
		cmocka_unit_test(test_hostile_peers),
		cmocka_unit_test(test_stream_send_partial_writes),
		cmocka_unit_test(test_stream_recv_and_blocking_helpers),
		cmocka_unit_test(test_forged_record),
		cmocka_unit_test(test_cfg_errors),
	};

	/* The test server uses OpenSSL's socket BIO (write(), unlike the host's BIO). */
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
