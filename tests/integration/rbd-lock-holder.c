/* SPDX-License-Identifier: MIT */
/*
 * A third Ceph client for tests/integration/gateway-group.sh: it takes the
 * exclusive lock of an RBD image with rbd_lock_acquire, which librbd does
 * not hand over when another client asks (a writer's lock it would), and
 * holds it until STOPFILE exists. Prints "locked ADDR" (its client's
 * address, as the lock names its holder) once it holds it; at the end
 * "owner N write RET": whether it still holds the lock and a 4 KiB write's
 * result (-108, ESHUTDOWN, when its client was blocklisted); then lets go.
 * Exit status 0, or 1 when it could not take the lock.
 *
 *   usage: rbd-lock-holder CONF POOL IMAGE STOPFILE
 */
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRITE_OFFSET (32u << 20) /* away from what the test writes through the targets */

int main(int argc, char **argv)
{
	rados_t rados;
	rados_ioctx_t io;
	rbd_image_t image;
	char *addrs = NULL, buf[4096];
	int owner = 0, ret;
	ssize_t w;

	if (argc != 5) {
		fprintf(stderr, "usage: %s CONF POOL IMAGE STOPFILE\n", argv[0]);
		return 2;
	}
	if ((ret = rados_create(&rados, "admin")) < 0 || (ret = rados_conf_read_file(rados, argv[1])) < 0) {
		fprintf(stderr, "ceph conf %s: %s\n", argv[1], strerror(-ret));
		return 1;
	}
	/* Blocklisted, operations fail at once; anything else must not hang the test. */
	rados_conf_set(rados, "rados_osd_op_timeout", "10");
	rados_conf_set(rados, "rados_mon_op_timeout", "10");
	if ((ret = rados_connect(rados)) < 0 || (ret = rados_ioctx_create(rados, argv[2], &io)) < 0 ||
	    (ret = rbd_open(io, argv[3], &image, NULL)) < 0) {
		fprintf(stderr, "opening %s/%s: %s\n", argv[2], argv[3], strerror(-ret));
		return 1;
	}
	if ((ret = rbd_lock_acquire(image, RBD_LOCK_MODE_EXCLUSIVE)) < 0) {
		fprintf(stderr, "rbd_lock_acquire: %s\n", strerror(-ret));
		return 1;
	}
	if (rados_getaddrs(rados, &addrs) < 0 || !addrs) {
		fprintf(stderr, "rados_getaddrs failed\n");
		return 1;
	}
	printf("locked %s\n", addrs);
	fflush(stdout);
	free(addrs);
	while (access(argv[4], F_OK) != 0)
		usleep(100 * 1000);
	memset(buf, 0xab, sizeof(buf));
	if (rbd_is_exclusive_lock_owner(image, &owner) < 0)
		owner = -1;
	w = rbd_write(image, WRITE_OFFSET, sizeof(buf), buf);
	printf("owner %d write %zd\n", owner, w);
	fflush(stdout);
	rbd_lock_release(image);
	rbd_close(image);
	rados_ioctx_destroy(io);
	rados_shutdown(rados);
	return 0;
}
