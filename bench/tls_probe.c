/* SPDX-License-Identifier: MIT */
/*
 * What the host's TLS layer can receive or send on loopback, next to plain
 * TCP: the host library's TLS client (src/host/tls.c) against an OpenSSL
 * TLS 1.3 PSK peer in another thread, 128 KiB application writes/reads.
 *
 *   tls_probe recv|send MIB [HOST_CPU PEER_CPU]
 *
 * Prints one JSON line: {"dir":..., "plain_mibps":..., "tls_mibps":..., "ratio":...}.
 * Build: see bench/tls-vs-plain.sh (links build/libnvmeof-host.a and -common).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "host/host_internal.h"

#define CHUNK (128u * 1024)
#define KEY "NVMeTLSkey-1:01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+KfiaR:"
#define IDENTITY "NVMe0R01 nqn.2014-08.org.nvmexpress:uuid:probe nqn.2014-08.org.nvmexpress:uuid:probe"

static const uint8_t psk[32] = { 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
				 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31 };

struct peer {
	int fd;
	bool tls;
	bool peer_sends;
	size_t total;
	int cpu;
};

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int find_psk(SSL *ssl, const unsigned char *id, size_t len, SSL_SESSION **sess)
{
	static const unsigned char aes128[2] = { 0x13, 0x01 };

	*sess = NULL;
	if (len != strlen(IDENTITY) || memcmp(id, IDENTITY, len) != 0)
		return 1;
	SSL_SESSION *s = SSL_SESSION_new();

	SSL_SESSION_set1_master_key(s, psk, sizeof(psk));
	SSL_SESSION_set_cipher(s, SSL_CIPHER_find(ssl, aes128));
	SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION);
	*sess = s;
	return 1;
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	uint8_t *buf = calloc(1, CHUNK);
	size_t done = 0;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;

	pin(p->cpu);
	if (p->tls) {
		ctx = SSL_CTX_new(TLS_server_method());
		SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
		SSL_CTX_set_psk_find_session_callback(ctx, find_psk);
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_read_ahead(ctx, 1);
		ssl = SSL_new(ctx);
		SSL_set_fd(ssl, p->fd);
		if (SSL_accept(ssl) != 1)
			goto out;
	}
	while (done < p->total) {
		size_t n = p->total - done < CHUNK ? p->total - done : CHUNK;
		ssize_t r;

		if (ssl) {
			size_t k = 0;
			int ok = p->peer_sends ? SSL_write_ex(ssl, buf, n, &k) : SSL_read_ex(ssl, buf, n, &k);

			r = ok ? (ssize_t)k : -1;
		} else {
			r = p->peer_sends ? send(p->fd, buf, n, MSG_NOSIGNAL) : recv(p->fd, buf, n, 0);
		}
		if (r <= 0)
			break;
		done += (size_t)r;
	}
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	free(buf);
	return NULL;
}

static int tcp_pair(int *client, int *server)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &al))
		return -1;
	*client = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(*client, (struct sockaddr *)&a, sizeof(a)))
		return -1;
	*server = accept(l, NULL, NULL);
	close(l);
	setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return *server < 0 ? -1 : 0;
}

/* MiB/s of one run, or -1. */
static double run(bool tls, bool host_recv, size_t total, int host_cpu, int peer_cpu)
{
	struct peer p = { .tls = tls, .peer_sends = host_recv, .total = total, .cpu = peer_cpu };
	struct host_tls_cfg *cfg = NULL;
	struct host_tls *t = NULL;
	uint8_t *buf = calloc(1, CHUNK);
	int fd;
	pthread_t th;
	size_t done = 0;
	double mibps = -1;

	if (!buf || tcp_pair(&fd, &p.fd))
		return -1;
	pthread_create(&th, NULL, peer_main, &p);
	pin(host_cpu);
	if (tls) {
		struct nvmeof_ctrl_opts o;

		nvmeof_ctrl_opts_init(&o);
		o.tls_key = KEY;
		o.tls_key_identity = IDENTITY;
		if (host_tls_cfg_new(&o, &cfg) ||
		    host_tls_handshake(fd, cfg, "probe", 0, host_now_ns() + 5000000000ull, &t))
			goto out;
	}
	sock_set_nonblock(fd, true);
	uint64_t t0 = host_now_ns();

	while (done < total) {
		size_t n = total - done < CHUNK ? total - done : CHUNK;
		ssize_t r;
		short ev = host_recv ? POLLIN : POLLOUT;

		if (t && host_recv) {
			r = host_tls_recv(t, buf, n);
		} else if (t) {
			struct iovec iov = { buf, n };

			r = host_tls_sendv(t, &iov, 1);
		} else {
			r = host_recv ? recv(fd, buf, n, MSG_DONTWAIT) : send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (r < 0)
				r = -errno;
		}
		if (r == -EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = t ? host_tls_want(t) : ev };

			poll(&pfd, 1, 1000);
			continue;
		}
		if (r <= 0)
			goto out;
		done += (size_t)r;
	}
	while (t && host_tls_unsent(t)) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		if (host_tls_sendv(t, NULL, 0) == -EAGAIN)
			poll(&pfd, 1, 1000);
	}
	if (!host_recv)
		shutdown(fd, SHUT_WR);
	pthread_join(th, NULL);
	th = 0;
	mibps = (double)total / (1 << 20) / ((double)(host_now_ns() - t0) / 1e9);
out:
	if (th) {
		shutdown(fd, SHUT_RDWR);
		pthread_join(th, NULL);
	}
	host_tls_free(t);
	host_tls_cfg_free(cfg);
	close(fd);
	close(p.fd);
	free(buf);
	return mibps;
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "recv") && strcmp(argv[1], "send"))) {
		fprintf(stderr, "usage: tls_probe recv|send MIB [HOST_CPU PEER_CPU]\n");
		return 2;
	}
	bool host_recv = strcmp(argv[1], "recv") == 0;
	size_t total = strtoull(argv[2], NULL, 0) << 20;
	int hc = argc > 4 ? atoi(argv[3]) : -1, pc = argc > 4 ? atoi(argv[4]) : -1;

	signal(SIGPIPE, SIG_IGN);
	double plain = run(false, host_recv, total, hc, pc);
	double tls = run(true, host_recv, total, hc, pc);

	if (plain <= 0 || tls <= 0) {
		fprintf(stderr, "tls_probe: a run failed\n");
		return 1;
	}
	printf("{\"dir\": \"%s\", \"plain_mibps\": %.1f, \"tls_mibps\": %.1f, \"ratio\": %.2f}\n",
	       argv[1], plain, tls, tls / plain);
	return 0;
}
