/* SPDX-License-Identifier: MIT */
/* TCP helpers: connect with a timeout, blocking send/receive with deadlines. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "host_internal.h"

int sock_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

static int remaining_ms(uint64_t deadline_ns)
{
	uint64_t now = host_now_ns();

	if (now >= deadline_ns)
		return 0;
	uint64_t ms = (deadline_ns - now + 999999) / 1000000;

	return ms > 1000000 ? 1000000 : (int)ms;
}

/* Per thread: readable = give up every blocking wait (see sock_set_cancel_fd()). */
static _Thread_local int cancel_fd = -1;

void sock_set_cancel_fd(int fd) { cancel_fd = fd; }

int sock_wait_fd(int fd, short events, uint64_t deadline_ns)
{
	for (;;) {
		struct pollfd pfd[2] = { { .fd = fd, .events = events },
					 { .fd = cancel_fd, .events = POLLIN } };
		int ms = remaining_ms(deadline_ns);

		if (ms == 0)
			return -ETIMEDOUT;
		int rc = poll(pfd, cancel_fd >= 0 ? 2 : 1, ms);

		if (rc > 0 && pfd[0].revents)
			return 0;
		if (rc > 0)
			return -ECANCELED;
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	int one = 1;
	int rc;

	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = sock_set_nonblock(fd, true);
	if (rc)
		goto fail;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
			goto fail;
		}
		rc = sock_wait_fd(fd, POLLOUT, host_now_ns() + (uint64_t)timeout_ms * 1000000);
		if (rc)
			goto fail;
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			rc = -soerr;
			goto fail;
		}
	}
	rc = sock_set_nonblock(fd, false);
	if (rc)
		goto fail;
	return fd;
fail:
	close(fd);
	return rc;
}

int sock_connect(const char *addr, const char *port, int timeout_ms, char *peer, size_t peerlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(addr, port, &hints, &res);

	snprintf(peer, peerlen, "%s:%s", addr, port);
	if (rc) {
		log_error(HOST_LOG, "%s: cannot resolve: %s", peer, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	rc = -EHOSTUNREACH;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		rc = connect_one(ai, timeout_ms);
		if (rc >= 0)
			break;
	}
	freeaddrinfo(res);
	return rc;
}

/* TLS: the same loop through the record layer, waiting as it asks. */
static int tls_send_all(struct host_tls *tls, int fd, struct iovec *cur, int n, uint64_t deadline_ns)
{
	while (n > 0 || host_tls_unsent(tls)) {
		ssize_t w = host_tls_sendv(tls, cur, n);

		if (w == -EAGAIN) {
			int rc = sock_wait_fd(fd, host_tls_want(tls), deadline_ns);

			if (rc)
				return rc;
			continue;
		}
		if (w < 0)
			return (int)w;
		size_t left = (size_t)w;

		while (n > 0 && left >= cur->iov_len) {
			left -= cur->iov_len;
			cur++;
			n--;
		}
		if (n > 0) {
			cur->iov_base = (uint8_t *)cur->iov_base + left;
			cur->iov_len -= left;
		}
	}
	return 0;
}

int sock_send_all(int fd, struct host_tls *tls, const struct iovec *iov_in, int iovcnt,
		  uint64_t deadline_ns)
{
	struct iovec iov[8];
	int n = 0;

	if (iovcnt > 8)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		if (iov_in[i].iov_len)
			iov[n++] = iov_in[i];
	struct iovec *cur = iov;

	if (tls)
		return tls_send_all(tls, fd, cur, n, deadline_ns);
	while (n > 0) {
		struct msghdr msg = { .msg_iov = cur, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int rc = sock_wait_fd(fd, POLLOUT, deadline_ns);

				if (rc)
					return rc;
				continue;
			}
			return -errno;
		}
		size_t left = (size_t)w;

		while (n > 0 && left >= cur->iov_len) {
			left -= cur->iov_len;
			cur++;
			n--;
		}
		if (n > 0) {
			cur->iov_base = (uint8_t *)cur->iov_base + left;
			cur->iov_len -= left;
		}
	}
	return 0;
}

int sock_recv_all(int fd, struct host_tls *tls, void *buf, size_t len, uint64_t deadline_ns)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t r;
		short want = POLLIN;

		if (tls) {
			r = host_tls_recv(tls, p, len);
			if (r == -EAGAIN)
				want = host_tls_want(tls);
			else if (r < 0)
				return (int)r;
			else if (r == 0)
				return -ECONNRESET;
		} else {
			r = recv(fd, p, len, MSG_DONTWAIT);
			if (r == 0)
				return -ECONNRESET;
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno != EAGAIN)
				return -errno;
		}
		if (r > 0) {
			p += r;
			len -= (size_t)r;
			continue;
		}
		int rc = sock_wait_fd(fd, want, deadline_ns);

		if (rc)
			return rc;
	}
	return 0;
}
