/* SPDX-License-Identifier: MIT */
/*
 * A TLS 1.3 PSK relay for measuring the target's TLS path with a host that
 * has none: it accepts plain NVMe/TCP on LISTEN_PORT and carries each
 * connection to the target over TLS (identity version 1 for HOSTNQN and
 * SUBNQN from KEY), or plain with --plain (the baseline through the same
 * relay). One thread per connection.
 *
 *   build: cc -O2 -Isrc bench/tls_relay.c build/libnvmeof-common.a -lssl -lcrypto -lpthread -o build/tls_relay
 *   usage: tls_relay [--plain] LISTEN_PORT TARGET_PORT KEY HOSTNQN SUBNQN
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/tls_psk.h"

static struct {
	bool plain;
	uint16_t target_port;
	char identity[NVME_TLS_IDENTITY_MAX];
	uint8_t psk[NVME_TLS_PSK_MAX];
	size_t psk_len;
	unsigned int cipher;
	SSL_CTX *ctx;
} R;

static int psk_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen, SSL_SESSION **sess)
{
	static const unsigned char aes128[2] = { 0x13, 0x01 }, aes256[2] = { 0x13, 0x02 };
	SSL_SESSION *s = SSL_SESSION_new();

	(void)md;
	SSL_SESSION_set1_master_key(s, R.psk, R.psk_len);
	SSL_SESSION_set_cipher(s, SSL_CIPHER_find(ssl, R.cipher == 2 ? aes256 : aes128));
	SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION);
	*id = (const unsigned char *)R.identity;
	*idlen = strlen(R.identity);
	*sess = s;
	return 1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *relay(void *arg)
{
	int host = (int)(intptr_t)arg, tgt = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(R.target_port) };
	static __thread uint8_t buf[256 * 1024];
	SSL *ssl = NULL;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(tgt, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(host, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(tgt, (struct sockaddr *)&sin, sizeof(sin)))
		goto out;
	if (!R.plain) {
		ssl = SSL_new(R.ctx);
		SSL_set_psk_use_session_callback(ssl, psk_cb);
		SSL_set_fd(ssl, tgt);
		if (SSL_connect(ssl) != 1) {
			fprintf(stderr, "tls_relay: handshake failed\n");
			goto out;
		}
	}
	for (;;) {
		struct pollfd p[2] = { { tgt, POLLIN, 0 }, { host, POLLIN, 0 } };
		size_t n;
		ssize_t got;

		if (!(ssl && SSL_pending(ssl)) && poll(p, 2, -1) <= 0)
			continue;
		if ((ssl && SSL_pending(ssl)) || p[0].revents) {
			if (ssl) {
				if (SSL_read_ex(ssl, buf, sizeof(buf), &n) != 1) {
					if (SSL_get_error(ssl, 0) == SSL_ERROR_WANT_READ)
						continue;
					break;
				}
			} else if ((got = recv(tgt, buf, sizeof(buf), 0)) <= 0) {
				break;
			} else {
				n = (size_t)got;
			}
			if (write_all(host, buf, n))
				break;
		}
		if (p[1].revents) {
			got = recv(host, buf, sizeof(buf), MSG_DONTWAIT);
			if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
				break;
			if (got < 0)
				continue;
			if (ssl) {
				for (size_t off = 0; off < (size_t)got; off += n)
					if (SSL_write_ex(ssl, buf + off, (size_t)got - off, &n) != 1)
						goto out;
			} else if (write_all(tgt, buf, (size_t)got)) {
				break;
			}
		}
	}
out:
	SSL_free(ssl);
	close(tgt);
	close(host);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct nvme_tls_key key;
	int lfd, one = 1, a = 1;

	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && !strcmp(argv[1], "--plain")) {
		R.plain = true;
		a++;
	}
	if (argc - a != 5 || nvme_tls_key_parse(argv[a + 2], &key) ||
	    nvme_tls_psk_derive(&key, 1, NVME_TLS_KDF_LIBNVME, argv[a + 3], argv[a + 4], R.identity, R.psk,
				&R.psk_len)) {
		fprintf(stderr, "usage: tls_relay [--plain] LISTEN_PORT TARGET_PORT KEY HOSTNQN SUBNQN\n");
		return 2;
	}
	R.cipher = nvme_tls_key_cipher(&key);
	R.target_port = (uint16_t)atoi(argv[a + 1]);
	R.ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(R.ctx, TLS1_3_VERSION);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)atoi(argv[a]));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) || listen(lfd, 64)) {
		perror("tls_relay: listen");
		return 1;
	}
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		pthread_t t;

		if (fd < 0)
			continue;
		pthread_create(&t, NULL, relay, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
}
