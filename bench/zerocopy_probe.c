/* SPDX-License-Identifier: MIT */
/*
 * What a zero-copy send saves the sender, against a copying send, here:
 *   zerocopy_probe SIZE COUNT copy|zerocopy [REGION_MIB]
 * The sender (pinned to CPU 0) sends COUNT messages of SIZE bytes, each from
 * a random SIZE-aligned offset of a REGION_MIB (default 1024) region faulted
 * in beforehand, as a target sends reads from a RAM namespace; the receiver
 * (a thread pinned to CPU 1) drains the socket. "zerocopy" sends with
 * MSG_ZEROCOPY and reaps the completion notifications from the error queue,
 * as a zero-copy target would before releasing a buffer. Prints one JSON
 * object with the sender's CPU time per message (its thread's utime + stime).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *receiver_main(void *arg)
{
	int fd = *(int *)arg;
	size_t len = 1 << 20;
	uint8_t *buf = malloc(len);

	pin(1);
	while (buf && recv(fd, buf, len, 0) > 0)
		;
	free(buf);
	return NULL;
}

static double thread_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Zero-copy sends the kernel reported done but had to copy after all. */
static long copied_by_kernel;

/* Completed zero-copy sends reported on the error queue; -1 on error. */
static long reap_notifications(int fd, bool wait)
{
	long done = 0;

	for (;;) {
		char control[CMSG_SPACE(sizeof(struct sock_extended_err)) + 64];
		struct msghdr msg = { .msg_control = control, .msg_controllen = sizeof(control) };
		struct cmsghdr *cm;

		if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
			if (errno == EAGAIN && wait && !done) {
				struct pollfd pfd = { .fd = fd, .events = 0 };

				poll(&pfd, 1, 10); /* POLLERR is always reported */
				continue;
			}
			return errno == EAGAIN ? done : -1;
		}
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			const struct sock_extended_err *ee = (const void *)CMSG_DATA(cm);

			long n = (long)(ee->ee_data - ee->ee_info) + 1;

			if (ee->ee_origin != SO_EE_ORIGIN_ZEROCOPY)
				continue;
			done += n;
			if (ee->ee_code & SO_EE_CODE_ZEROCOPY_COPIED)
				copied_by_kernel += n;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5 || (strcmp(argv[3], "copy") && strcmp(argv[3], "zerocopy"))) {
		fprintf(stderr, "usage: zerocopy_probe SIZE COUNT copy|zerocopy [REGION_MIB]\n");
		return 2;
	}
	size_t size = strtoul(argv[1], NULL, 0);
	long count = strtol(argv[2], NULL, 0);
	bool zc = strcmp(argv[3], "zerocopy") == 0;
	size_t region = (argc == 5 ? strtoul(argv[4], NULL, 0) : 1024) << 20;

	if (!size || count <= 0 || region < size)
		return 2;
	uint8_t *mem = mmap(NULL, region, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
			    -1, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd = socket(AF_INET, SOCK_STREAM, 0), fd;
	int one = 1;
	pthread_t tid;

	if (mem == MAP_FAILED || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) || connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (fd = accept(lfd, NULL, NULL)) < 0) {
		perror("zerocopy_probe: setup");
		return 1;
	}
	memset(mem, 0x5a, region);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (zc && setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one))) {
		perror("zerocopy_probe: SO_ZEROCOPY");
		return 1;
	}
	pthread_create(&tid, NULL, receiver_main, &cfd);
	pin(0);

	uint64_t x = 0x9e3779b97f4a7c15ull;
	long outstanding = 0, sends = 0;
	double cpu0 = thread_cpu_s(), t0 = now_s();

	for (long i = 0; i < count; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		const uint8_t *p = mem + (x % (region / size)) * size;
		size_t left = size;

		while (left) {
			ssize_t n = send(fd, p, left, MSG_NOSIGNAL | (zc ? MSG_ZEROCOPY : 0));

			if (n < 0 && errno == ENOBUFS && zc) { /* too many pinned: reap first */
				long r = reap_notifications(fd, true);

				if (r < 0)
					return 1;
				outstanding -= r;
				continue;
			}
			if (n < 0 && errno != EINTR) {
				perror("zerocopy_probe: send");
				return 1;
			}
			if (n > 0) {
				p += n;
				left -= (size_t)n;
				outstanding += zc;
				sends++;
			}
		}
		if (zc && (outstanding > 64 || i + 1 == count)) {
			long r;

			while (outstanding && (r = reap_notifications(fd, i + 1 == count)) > 0)
				outstanding -= r;
		}
	}
	double cpu = thread_cpu_s() - cpu0, wall = now_s() - t0;

	printf("{\"size\":%zu,\"mode\":\"%s\",\"count\":%ld,\"region_mib\":%zu,\"sender_cpu_us\":%.3f,"
	       "\"mbps\":%.0f,\"sends\":%ld,\"copied_by_kernel\":%ld}\n",
	       size, argv[3], count, region >> 20, cpu / (double)count * 1e6, (double)size * (double)count / wall / 1e6,
	       sends, copied_by_kernel);
	shutdown(fd, SHUT_WR);
	pthread_join(tid, NULL);
	return 0;
}
