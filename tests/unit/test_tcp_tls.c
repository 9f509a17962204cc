/* SPDX-License-Identifier: MIT */
/*
 * NVMe/TCP over TLS 1.3 (PSK) against the real target transport.
 *
 * The test's TLS client is OpenSSL with an external PSK derived as the
 * Linux host derives it (crypto/tls_psk.h). After the handshake a relay
 * thread moves plaintext between the TLS session and one end of a
 * socketpair, so the harness's raw host drives the connection unchanged.
 */
#define SUBNQN "nqn.2024-01.io.nvmeof:tls-test"
#include "tcp_harness.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>

#include "crypto/tls_psk.h"

#define WATCHDOG_S 60
#define OTHER_HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:00000000-1111-2222-3333-444444444444"

static const struct tcp_transport_limits default_limits = TCP_TRANSPORT_LIMITS_DEFAULT;

static struct {
	struct nvme_tls_key key; /* HOSTNQN's configured key */
	struct nvmf_port *tls_port, *opt_port; /* treq required / not required */
	uint16_t tls_tcp, opt_tcp;
	struct tcp_listener *tls_l, *opt_l;
} X;

/* ------------------------------------------------------------------ */
/* TLS client and relay                                                */

struct tls_client {
	char identity[NVME_TLS_IDENTITY_MAX];
	uint8_t psk[NVME_TLS_PSK_MAX];
	size_t psk_len;
	unsigned int cipher; /* 1 or 2 */
};

struct relay {
	SSL *ssl;
	SSL_CTX *ctx;
	int tcp_fd;
	int pair_fd; /* our end; the host has the other */
	pthread_t thread;
	bool running;
	atomic_bool key_update; /* ask for a KeyUpdate before the next write */
	struct tls_client cl;
};

#define MAX_RELAYS 8
static struct relay relays[MAX_RELAYS];

static int client_psk_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen, SSL_SESSION **sess)
{
	static const unsigned char aes128[2] = { 0x13, 0x01 }, aes256[2] = { 0x13, 0x02 };
	struct tls_client *cl = SSL_get_app_data(ssl);
	const SSL_CIPHER *c = SSL_CIPHER_find(ssl, cl->cipher == 2 ? aes256 : aes128);
	SSL_SESSION *s = SSL_SESSION_new();

	(void)md;
	assert_non_null(c);
	assert_non_null(s);
	assert_true(SSL_SESSION_set1_master_key(s, cl->psk, cl->psk_len));
	assert_true(SSL_SESSION_set_cipher(s, c));
	assert_true(SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION));
	*id = (const unsigned char *)cl->identity;
	*idlen = strlen(cl->identity);
	*sess = s;
	return 1;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	static __thread uint8_t buf[64 * 1024];

	for (;;) {
		struct pollfd p[2] = { { r->tcp_fd, POLLIN, 0 }, { r->pair_fd, POLLIN, 0 } };
		size_t n;

		if (!SSL_pending(r->ssl) && poll(p, 2, 1000) <= 0)
			continue;
		if (SSL_pending(r->ssl) || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (SSL_read_ex(r->ssl, buf, sizeof(buf), &n) != 1) {
				int e = SSL_get_error(r->ssl, 0);

				if (e == SSL_ERROR_WANT_READ)
					continue;
				break; /* the target closed */
			}
			if (send_try(r->pair_fd, buf, n))
				break;
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t got = recv(r->pair_fd, buf, sizeof(buf), MSG_DONTWAIT);

			if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
				break; /* the host closed */
			if (got < 0)
				continue;
			if (atomic_exchange(&r->key_update, false))
				assert_true(SSL_key_update(r->ssl, SSL_KEY_UPDATE_REQUESTED));
			for (size_t off = 0; off < (size_t)got; off += n)
				if (SSL_write_ex(r->ssl, buf + off, (size_t)got - off, &n) != 1)
					goto out;
		}
	}
out:
	shutdown(r->pair_fd, SHUT_RDWR);
	ERR_clear_error();
	OPENSSL_thread_stop();
	return NULL;
}

static void relays_join(void)
{
	for (unsigned int i = 0; i < MAX_RELAYS; i++) {
		struct relay *r = &relays[i];

		if (!r->running)
			continue;
		shutdown(r->tcp_fd, SHUT_RDWR);
		pthread_join(r->thread, NULL);
		SSL_free(r->ssl);
		SSL_CTX_free(r->ctx);
		close(r->tcp_fd);
		close(r->pair_fd);
		OPENSSL_cleanse(&r->cl, sizeof(r->cl));
		memset(r, 0, sizeof(*r));
	}
}

/* The client's identity and PSK for hostnqn/subnqn with key. */
static void client_for(struct tls_client *cl, const struct nvme_tls_key *key, unsigned int version,
		       const char *hostnqn, const char *subnqn)
{
	memset(cl, 0, sizeof(*cl));
	assert_int_equal(nvme_tls_psk_derive(key, version, NVME_TLS_KDF_LIBNVME, hostnqn, subnqn, cl->identity,
					     cl->psk, &cl->psk_len),
			 0);
	cl->cipher = nvme_tls_key_cipher(key);
}

/*
 * TLS handshake with the target on port. On success returns the relay and
 * the host's end of the plaintext pipe in *host_fd; NULL when refused.
 */
static struct relay *tls_dial(uint16_t port, const struct tls_client *cl, int *host_fd)
{
	struct relay *r = NULL;
	int sv[2], fd, ret;

	for (unsigned int i = 0; i < MAX_RELAYS && !r; i++)
		if (!relays[i].running && !relays[i].ssl)
			r = &relays[i];
	assert_non_null(r);
	memset(r, 0, sizeof(*r));
	r->cl = *cl;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(tcp_dial_fd(fd, port, 0), 0);
	r->ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(r->ctx);
	SSL_CTX_set_min_proto_version(r->ctx, TLS1_3_VERSION);
	assert_true(SSL_CTX_set_ciphersuites(r->ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"));
	r->ssl = SSL_new(r->ctx);
	assert_non_null(r->ssl);
	SSL_set_app_data(r->ssl, &r->cl);
	SSL_set_psk_use_session_callback(r->ssl, client_psk_cb);
	SSL_set_fd(r->ssl, fd);
	r->tcp_fd = fd;
	ret = SSL_connect(r->ssl);
	if (ret != 1) {
		ERR_clear_error();
		SSL_free(r->ssl);
		SSL_CTX_free(r->ctx);
		close(fd);
		memset(r, 0, sizeof(*r));
		return NULL;
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	{
		struct timeval tv = { .tv_sec = sock_timeout_s() };

		setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	r->pair_fd = sv[1];
	*host_fd = sv[0];
	host_fd_track(sv[0]);
	assert_int_equal(pthread_create(&r->thread, NULL, relay_main, r), 0);
	r->running = true;
	return r;
}

/* ICReq over TLS: a host whose fd is the plaintext pipe. */
static struct relay *tls_host_open(struct host *h, uint16_t port, const struct tls_client *cl)
{
	struct relay *r;

	memset(h, 0, sizeof(*h));
	h->cid = 0x1000;
	r = tls_dial(port, cl, &h->fd);
	assert_non_null(r);
	host_icreq(h, false, false);
	return r;
}

/* ------------------------------------------------------------------ */
/* Fixture                                                             */

static struct nvmf_port *extra_port(uint16_t portid, uint8_t treq, uint16_t *tcp_port, struct tcp_listener **l)
{
	struct nvmf_port_opts po;
	struct nvmf_port *port;

	*tcp_port = pick_free_port();
	memset(&po, 0, sizeof(po));
	po.portid = portid;
	po.adrfam = NVMF_ADRFAM_IPV4;
	po.tls = true;
	po.treq = treq;
	snprintf(po.traddr, sizeof(po.traddr), "127.0.0.1");
	snprintf(po.trsvcid, sizeof(po.trsvcid), "%u", *tcp_port);
	assert_int_equal(nvmf_port_create(T.tgt, &po, &port), 0);
	assert_int_equal(nvmf_port_add_subsys(port, T.subsys), 0);
	assert_int_equal(tcp_listener_start(T.tgt, port, T.reactors, NREACTORS, l), 0);
	return port;
}

static int group_setup(void **state)
{
	(void)state;
	harness_target_create();
	/* TLS proves who the host is: list it instead of allowing anyone. */
	nvmf_subsys_set_allow_any_host(T.subsys, false);
	assert_int_equal(nvmf_subsys_add_host(T.subsys, HOSTNQN), 0);
	assert_int_equal(nvmf_subsys_add_host(T.subsys, OTHER_HOSTNQN), 0);
	harness_target_start();
	assert_int_equal(nvme_tls_key_generate(1, &X.key), 0);
	assert_int_equal(nvmf_tgt_set_host_tls_key(T.tgt, HOSTNQN, &X.key, NVME_TLS_KDF_LIBNVME), 0);
	X.tls_port = extra_port(2, NVMF_PORT_TREQ_REQUIRED, &X.tls_tcp, &X.tls_l);
	X.opt_port = extra_port(3, NVMF_PORT_TREQ_NOT_REQUIRED, &X.opt_tcp, &X.opt_l);
	return 0;
}

static int group_teardown(void **state)
{
	nvme_tls_key_clear(&X.key);
	return harness_target_teardown(state);
}

static int test_setup(void **state)
{
	(void)state;
	alarm(RUNNING_ON_VALGRIND ? 6 * WATCHDOG_S : WATCHDOG_S);
	log_set_level(getenv("TLS_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	wait_conns(0);
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	tcp_transport_set_limits(&default_limits);
	tcp_harness_close_all();
	relays_join();
	conns_settle(0, RUNNING_ON_VALGRIND ? 20000 : 3000);
	alarm(0);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */

/* Connect, enable, Identify, then I/O of 128 KiB each way with the data checked. */
static void tls_session_io(uint16_t port, unsigned int version, bool key_update)
{
	struct tls_client cl;
	struct host admin, io;
	struct relay *r;
	uint16_t cntlid = 0;
	uint64_t cap;
	uint8_t *out = malloc(NVMF_MAX_XFER), *in = malloc(NVMF_MAX_XFER), idbuf[4096];
	struct nvme_sqe sqe;
	struct nvme_cqe cqe;

	assert_non_null(out);
	assert_non_null(in);
	client_for(&cl, &X.key, version, HOSTNQN, SUBNQN);
	tls_host_open(&admin, port, &cl);
	assert_int_equal(connect_queue(&admin, SUBNQN, 0, NVME_CNTLID_DYNAMIC, &cntlid), 0);
	cap = prop_get(&admin, NVME_REG_CAP, true);
	assert_true((cap & 0xffff) + 1 >= 32);
	prop_set(&admin, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20));
	assert_true(prop_get(&admin, NVME_REG_CSTS, false) & NVME_CSTS_RDY);
	sqe = mk_sqe(&admin, NVME_ADMIN_IDENTIFY, 0);
	sqe.cdw10 = to_le32(1); /* controller */
	sqe.sgl.type = NVME_SGL_TRANSPORT_DATA_BLOCK;
	sqe.sgl.length = to_le32(sizeof(idbuf));
	cqe = run_cmd(&admin, &sqe, NULL, 0, idbuf, sizeof(idbuf));
	assert_int_equal(cqe_status(&cqe), 0);
	assert_memory_equal(idbuf + 768, SUBNQN, strlen(SUBNQN)); /* SUBNQN field */

	r = tls_host_open(&io, port, &cl);
	assert_int_equal(connect_queue_sq(&io, SUBNQN, HOSTNQN, 1, cntlid, 31, NULL), 0);
	for (unsigned int round = 0; round < 3; round++) {
		fill_pattern(out, NVMF_MAX_XFER, 7 + round);
		if (key_update && round == 1)
			atomic_store(&r->key_update, true);
		assert_int_equal(write_r2t(&io, RAM_NSID, 256u * round, out, NVMF_MAX_XFER), 0);
		memset(in, 0, NVMF_MAX_XFER);
		assert_int_equal(read_blocks(&io, RAM_NSID, 256u * round, in, NVMF_MAX_XFER), 0);
		assert_memory_equal(in, out, NVMF_MAX_XFER);
		/* Small writes too: in-capsule data gathered with its header. */
		assert_int_equal(write_incapsule(&io, RAM_NSID, 2048, out, 4096), 0);
		assert_int_equal(read_blocks(&io, RAM_NSID, 2048, in, 4096), 0);
		assert_memory_equal(in, out, 4096);
	}
	host_close(&io);
	host_close(&admin);
	free(out);
	free(in);
}

static void test_tls_v1_identity(void **state)
{
	(void)state;
	tls_session_io(X.tls_tcp, 1, false);
}

static void test_tls_v0_identity(void **state)
{
	(void)state;
	tls_session_io(X.tls_tcp, 0, false);
}

static void test_tls_sha384_key(void **state)
{
	struct nvme_tls_key saved = X.key;

	(void)state;
	assert_int_equal(nvme_tls_key_generate(2, &X.key), 0);
	assert_int_equal(nvmf_tgt_set_host_tls_key(T.tgt, HOSTNQN, &X.key, NVME_TLS_KDF_LIBNVME), 0);
	tls_session_io(X.tls_tcp, 1, false);
	tls_session_io(X.tls_tcp, 0, false);
	X.key = saved;
	assert_int_equal(nvmf_tgt_set_host_tls_key(T.tgt, HOSTNQN, &X.key, NVME_TLS_KDF_LIBNVME), 0);
}

static void test_tls_key_update(void **state)
{
	(void)state;
	tls_session_io(X.tls_tcp, 1, true);
}

/* An ICReq where TLS is required: closed, nothing sent back. */
static void test_tls_plain_refused(void **state)
{
	struct nvme_tcp_icreq_pdu req;
	int fd;

	(void)state;
	fd = tcp_dial_port(X.tls_tcp, 0);
	nvme_tcp_build_icreq(&req, false, false, 0);
	send_all(fd, &req, sizeof(req));
	expect_eof(fd);
	host_fd_close(fd);
}

/* A ClientHello on a port without TLS: closed likewise. */
static void test_tls_on_plain_port_refused(void **state)
{
	struct tls_client cl;
	int fd;

	(void)state;
	client_for(&cl, &X.key, 1, HOSTNQN, SUBNQN);
	assert_null(tls_dial(T.tcp_port, &cl, &fd));
	assert_target_serves();
}

static void test_tls_wrong_psk(void **state)
{
	struct nvme_tls_key other;
	struct tls_client cl;
	int fd;

	(void)state;
	assert_int_equal(nvme_tls_key_generate(1, &other), 0);
	client_for(&cl, &other, 1, HOSTNQN, SUBNQN);
	assert_null(tls_dial(X.tls_tcp, &cl, &fd));
	/* Version 0 has no digest: the binder catches it. */
	client_for(&cl, &other, 0, HOSTNQN, SUBNQN);
	assert_null(tls_dial(X.tls_tcp, &cl, &fd));
	/* The right key still works afterwards. */
	client_for(&cl, &X.key, 1, HOSTNQN, SUBNQN);
	assert_non_null(tls_dial(X.tls_tcp, &cl, &fd));
}

static void test_tls_unknown_identity(void **state)
{
	struct tls_client cl;
	int fd;

	(void)state;
	/* A listed host without a key. */
	client_for(&cl, &X.key, 1, OTHER_HOSTNQN, SUBNQN);
	assert_null(tls_dial(X.tls_tcp, &cl, &fd));
	/* A subsystem that does not exist. */
	client_for(&cl, &X.key, 1, HOSTNQN, "nqn.2024-01.io.nvmeof:nothing-here");
	assert_null(tls_dial(X.tls_tcp, &cl, &fd));
	/* An identity that is not one. */
	client_for(&cl, &X.key, 1, HOSTNQN, SUBNQN);
	snprintf(cl.identity, sizeof(cl.identity), "client-one");
	assert_null(tls_dial(X.tls_tcp, &cl, &fd));
}

/* The PSK proved the host: Connect cannot name another one over its session. */
static void test_tls_connect_as_other_host(void **state)
{
	struct tls_client cl;
	struct host h;

	(void)state;
	client_for(&cl, &X.key, 1, HOSTNQN, SUBNQN);
	tls_host_open(&h, X.tls_tcp, &cl);
	assert_int_equal(connect_queue_as(&h, SUBNQN, OTHER_HOSTNQN, 0, NVME_CNTLID_DYNAMIC, NULL),
			 NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_CONNECT_INVALID_HOST));
	host_close(&h);
}

/* A host removed from the subsystem loses TLS access there too. */
static void test_tls_host_not_allowed(void **state)
{
	struct tls_client cl;
	int fd;

	(void)state;
	assert_int_equal(nvmf_subsys_remove_host(T.subsys, HOSTNQN), 0);
	client_for(&cl, &X.key, 1, HOSTNQN, SUBNQN);
	assert_null(tls_dial(X.tls_tcp, &cl, &fd));
	assert_int_equal(nvmf_subsys_add_host(T.subsys, HOSTNQN), 0);
	assert_non_null(tls_dial(X.tls_tcp, &cl, &fd));
}

static void test_tls_not_required_accepts_both(void **state)
{
	struct host h;

	(void)state;
	tls_session_io(X.opt_tcp, 1, false);
	host_open_ex(&h, X.opt_tcp, false, false, 0);
	assert_int_equal(connect_queue(&h, SUBNQN, 0, NVME_CNTLID_DYNAMIC, NULL), 0);
	host_close(&h);
}

/* Discovery over TLS: the identity names the discovery NQN. */
static void test_tls_discovery(void **state)
{
	struct tls_client cl;
	struct host h;
	struct nvme_sqe sqe;
	struct nvme_cqe cqe;
	uint8_t log[4096];
	const struct nvmf_disc_log_hdr *hdr = (const void *)log;
	const struct nvmf_disc_log_entry *e = (const void *)(log + 1024);
	bool seen = false;

	(void)state;
	client_for(&cl, &X.key, 1, HOSTNQN, NVME_DISC_NQN);
	tls_host_open(&h, X.tls_tcp, &cl);
	assert_int_equal(connect_queue(&h, NVME_DISC_NQN, 0, NVME_CNTLID_DYNAMIC, NULL), 0);
	prop_set(&h, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20));
	assert_true(prop_get(&h, NVME_REG_CSTS, false) & NVME_CSTS_RDY);
	sqe = mk_sqe(&h, NVME_ADMIN_GET_LOG_PAGE, 0);
	sqe.cdw10 = to_le32(0x70 | ((sizeof(log) / 4 - 1) << 16));
	sqe.sgl.type = NVME_SGL_TRANSPORT_DATA_BLOCK;
	sqe.sgl.length = to_le32(sizeof(log));
	cqe = run_cmd(&h, &sqe, NULL, 0, log, sizeof(log));
	assert_int_equal(cqe_status(&cqe), 0);
	for (uint64_t i = 0; i < le64(hdr->numrec) && i < 3; i++) {
		if (le16(e[i].portid) == 2) {
			assert_int_equal(e[i].treq & 3, NVMF_TREQ_REQUIRED);
			assert_int_equal(e[i].tsas[0], NVMF_TCP_SECTYPE_TLS13);
			seen = true;
		} else if (le16(e[i].portid) == 1) {
			assert_int_equal(e[i].treq & 3, NVMF_TREQ_NOT_REQUIRED);
			assert_int_equal(e[i].tsas[0], NVMF_TCP_SECTYPE_NONE);
		}
	}
	assert_true(seen);
	host_close(&h);
}

/* A peer that starts a handshake and stops is dropped at the ICReq deadline. */
static void test_tls_stalled_handshake(void **state)
{
	struct tcp_transport_limits lim = default_limits;
	static const uint8_t partial[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00 };
	uint64_t t0;
	int fd;

	(void)state;
	lim.icreq_timeout_ms = 300;
	tcp_transport_set_limits(&lim);
	fd = tcp_dial_port(X.tls_tcp, 0);
	t0 = now_ns();
	send_all(fd, partial, sizeof(partial));
	expect_eof(fd);
	assert_true(now_ns() - t0 >= 250 * MS);
	host_fd_close(fd);
}

/* Garbage that starts like a handshake record fails at once, not at a deadline. */
static void test_tls_garbage_handshake(void **state)
{
	uint8_t junk[512];
	uint64_t t0;
	int fd;

	(void)state;
	fill_pattern(junk, sizeof(junk), 5);
	junk[0] = 0x16;
	junk[1] = 0x03;
	junk[2] = 0x01;
	junk[3] = 0x01;
	junk[4] = 0xfb; /* a 507-byte record: all of it */
	fd = tcp_dial_port(X.tls_tcp, 0);
	t0 = now_ns();
	send_all(fd, junk, sizeof(junk));
	/* At most a TLS alert record (type 21), then the close. */
	{
		uint8_t alert[7];
		ssize_t n = recv_some(fd, alert, sizeof(alert));

		assert_true(n == 0 || n == -ECONNRESET || (n == (ssize_t)sizeof(alert) && alert[0] == 0x15));
		if (n > 0)
			expect_eof(fd);
	}
	assert_true(now_ns() - t0 < (RUNNING_ON_VALGRIND ? 5000 : 1000) * MS);
	host_fd_close(fd);
	assert_target_serves();
}

/* More ciphertext than the receive buffer holds before the handshake: dropped. */
static void test_tls_flood_before_handshake(void **state)
{
	size_t len = 256 * 1024;
	uint8_t *junk = calloc(1, len);
	int fd;

	(void)state;
	assert_non_null(junk);
	junk[0] = 0x16;
	fd = tcp_dial_port(X.tls_tcp, 0);
	(void)send_try(fd, junk, len); /* may fail once the target has closed */
	expect_eof(fd);
	host_fd_close(fd);
	free(junk);
	wait_conns(0);
}

/* tls_kdf rfc8446: version 0 identities use RFC 8446's label, version 1 tell for themselves. */
static void test_tls_kdf_rfc8446(void **state)
{
	struct tls_client cl;
	int fd;

	(void)state;
	assert_int_equal(nvmf_tgt_set_host_tls_key(T.tgt, HOSTNQN, &X.key, NVME_TLS_KDF_RFC8446), 0);
	client_for(&cl, &X.key, 0, HOSTNQN, SUBNQN);
	assert_null(tls_dial(X.tls_tcp, &cl, &fd)); /* libnvme 1.13's PSK */
	memset(&cl, 0, sizeof(cl));
	assert_int_equal(nvme_tls_psk_derive(&X.key, 0, NVME_TLS_KDF_RFC8446, HOSTNQN, SUBNQN, cl.identity, cl.psk,
					     &cl.psk_len),
			 0);
	cl.cipher = nvme_tls_key_cipher(&X.key);
	assert_non_null(tls_dial(X.tls_tcp, &cl, &fd));
	assert_int_equal(nvme_tls_psk_derive(&X.key, 1, NVME_TLS_KDF_RFC8446, HOSTNQN, SUBNQN, cl.identity, cl.psk,
					     &cl.psk_len),
			 0);
	assert_non_null(tls_dial(X.tls_tcp, &cl, &fd));
	client_for(&cl, &X.key, 1, HOSTNQN, SUBNQN);
	assert_non_null(tls_dial(X.tls_tcp, &cl, &fd));
	assert_int_equal(nvmf_tgt_set_host_tls_key(T.tgt, HOSTNQN, &X.key, NVME_TLS_KDF_LIBNVME), 0);
}

#define TT(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* OpenSSL writes to the socket with write() */
	if (getenv("TLS_TEST_ONLY"))
		cmocka_set_test_filter(getenv("TLS_TEST_ONLY"));
	const struct CMUnitTest tests[] = {
		TT(test_tls_v1_identity),
		TT(test_tls_v0_identity),
		TT(test_tls_sha384_key),
		TT(test_tls_key_update),
		TT(test_tls_plain_refused),
		TT(test_tls_on_plain_port_refused),
		TT(test_tls_wrong_psk),
		TT(test_tls_unknown_identity),
		TT(test_tls_host_not_allowed),
		TT(test_tls_connect_as_other_host),
		TT(test_tls_not_required_accepts_both),
		TT(test_tls_discovery),
		TT(test_tls_stalled_handshake),
		TT(test_tls_garbage_handshake),
		TT(test_tls_kdf_rfc8446),
		TT(test_tls_flood_before_handshake),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
