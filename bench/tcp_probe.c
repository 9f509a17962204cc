/* SPDX-License-Identifier: MIT */
/*
 * Loopback TCP limits, to put `nvmeof perf` numbers in context:
 *   tcp_probe pingpong SIZE ITERS blocking|busy [REPLY]  round trip: SIZE bytes
 *                                                         out, REPLY (default SIZE) back
 *   tcp_probe stream   SIZE SECONDS blocking|busy         one-way bulk bandwidth
 * Server and client are two threads of this process on 127.0.0.1 with
 * TCP_NODELAY, the server on CPU 0 and the client on CPU 1 (where there are
 * two), as vs-spdk.sh places targets and clients; "busy" makes every receiver
 * spin on non-blocking recv instead of sleeping in the kernel. A 4 KiB read
 * at QD1 is `pingpong 72 N busy 4120`: a command capsule out, a C2HData PDU
 * back, nothing done in between. Prints one JSON object.
 */
#define _GNU_SOURCE /* sched_setaffinity */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static size_t msg_size, reply_size;
static bool busy;
static volatile bool stop_stream;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int recv_full(int fd, uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = recv(fd, buf, len, busy ? MSG_DONTWAIT : 0);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n == 0) {
			return -1;
		} else if (errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

static int send_full(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
	}
	return 0;
}

struct server {
	int lfd;
	bool echo;
};

static void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	int one = 1;
	uint8_t *buf = malloc(msg_size > reply_size ? msg_size : reply_size);

	pin_to_cpu(0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (s->echo) {
		while (recv_full(fd, buf, msg_size) == 0 && send_full(fd, buf, reply_size) == 0)
			;
	} else {
		for (;;) {
			ssize_t n = recv(fd, buf, msg_size, busy ? MSG_DONTWAIT : 0);

			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				break;
		}
	}
	close(fd);
	free(buf);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	bool pingpong = argc >= 2 && strcmp(argv[1], "pingpong") == 0;

	if (argc != 5 && !(pingpong && argc == 6)) {
		fprintf(stderr, "usage: tcp_probe pingpong SIZE ITERS blocking|busy [REPLY_SIZE]\n"
				"       tcp_probe stream SIZE SECONDS blocking|busy\n");
		return 2;
	}
	msg_size = strtoul(argv[2], NULL, 0);
	reply_size = argc == 6 ? strtoul(argv[5], NULL, 0) : msg_size;
	busy = strcmp(argv[4], "busy") == 0;
	if (!msg_size || !reply_size)
		return 2;

	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct server srv = { .lfd = socket(AF_INET, SOCK_STREAM, 0), .echo = pingpong };
	pthread_t tid;
	int one = 1;

	if (bind(srv.lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(srv.lfd, 1) ||
	    getsockname(srv.lfd, (struct sockaddr *)&sa, &sl)) {
		perror("listen");
		return 1;
	}
	pthread_create(&tid, NULL, server_main, &srv);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("connect");
		return 1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pin_to_cpu(1);
	uint8_t *buf = calloc(1, msg_size > reply_size ? msg_size : reply_size);

	if (pingpong) {
		long iters = strtol(argv[3], NULL, 0);
		uint64_t *lat = calloc((size_t)iters, sizeof(*lat));
		double sum = 0;

		for (long i = -iters / 10; i < iters; i++) { /* 10 % warm-up */
			uint64_t t0 = now_ns();

			if (send_full(fd, buf, msg_size) || recv_full(fd, buf, reply_size))
				return 1;
			if (i >= 0) {
				lat[i] = now_ns() - t0;
				sum += (double)lat[i];
			}
		}
		qsort(lat, (size_t)iters, sizeof(*lat), cmp_u64);
		printf("{\"mode\":\"pingpong\",\"size\":%zu,\"reply\":%zu,\"receiver\":\"%s\","
		       "\"iters\":%ld,\"avg_us\":%.2f,\"p50_us\":%.2f,\"p99_us\":%.2f}\n",
		       msg_size, reply_size, argv[4], iters, sum / (double)iters / 1e3, (double)lat[iters / 2] / 1e3,
		       (double)lat[iters * 99 / 100] / 1e3);
		free(lat);
	} else {
		double secs = strtod(argv[3], NULL);
		uint64_t t0 = now_ns(), bytes = 0, end = t0 + (uint64_t)(secs * 1e9);

		while (now_ns() < end) {
			if (send_full(fd, buf, msg_size))
				return 1;
			bytes += msg_size;
		}
		double dt = (double)(now_ns() - t0) / 1e9;

		printf("{\"mode\":\"stream\",\"size\":%zu,\"receiver\":\"%s\",\"seconds\":%.2f,"
		       "\"mibps\":%.1f}\n",
		       msg_size, argv[4], dt, (double)bytes / 1048576.0 / dt);
	}
	shutdown(fd, SHUT_RDWR);
	close(fd);
	pthread_join(tid, NULL);
	free(buf);
	return 0;
}
