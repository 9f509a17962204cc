/* SPDX-License-Identifier: MIT */
/*
 * The registry of attachments and `nvmeof detach`.
 *
 * Contract (read by `nvmeof list` too): one file <pid>.json per attachment in
 * $NVMEOF_ATTACH_DIR (default /run/nvmeof/attach), written atomically (tmp
 * file + rename), rewritten on changes, removed when the attach process ends:
 *   {"mountpoint": "/mnt/x", "pid": 1234, "hostnqn": "...", "subsystems": [
 *     {"subnqn": "...", "transport": "tcp", "traddr": "127.0.0.1", "trsvcid": "4420",
 *      "state": "live" | "connecting",
 *      "paths": [{"traddr": ..., "trsvcid": ..., "state": ...}],  (several paths only)
 *      "namespaces": [{"nsid": 1, "file": "ns1", "size": 1073741824, "lba_size": 512}]}]}
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"

#define DETACH_WAIT_S 60

const char *att_reg_dir(void)
{
	const char *d = getenv("NVMEOF_ATTACH_DIR");

	return d && *d ? d : ATT_REG_DIR_DEFAULT;
}

int att_reg_path(char *out, size_t len, long pid)
{
	int n = snprintf(out, len, "%s/%ld.json", att_reg_dir(), pid);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int att_reg_mkdir(void)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s", att_reg_dir()) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	/* mkdir -p: /run/nvmeof may not exist yet */
	for (char *p = path + 1;; p++) {
		if (*p && *p != '/')
			continue;
		char c = *p;

		*p = 0;
		if (mkdir(path, 0755) && errno != EEXIST)
			return -errno;
		*p = c;
		if (!c)
			return 0;
	}
}

int att_reg_write(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);

	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "w");

	if (!f)
		return -errno;
	bool ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;

	if (fclose(f) || !ok || rename(tmp, path)) {
		int err = -errno;

		unlink(tmp);
		return err ? err : -EIO;
	}
	return 0;
}

/* The mount point as the attach process recorded it: the real path of its
 * parent plus its name (the mount point itself may be a dead FUSE mount). */
static int canonical_mountpoint(const char *arg, char *out, size_t len)
{
	char a[PATH_MAX], b[PATH_MAX], dir[PATH_MAX];

	snprintf(a, sizeof(a), "%s", arg);
	snprintf(b, sizeof(b), "%s", arg);
	size_t l = strlen(a);

	while (l > 1 && a[l - 1] == '/')
		a[--l] = 0, b[l] = 0;
	if (!realpath(dirname(a), dir))
		return -errno;
	const char *base = basename(b);
	int n = strcmp(dir, "/") == 0 ? snprintf(out, len, "/%s", base)
				      : snprintf(out, len, "%s/%s", dir, base);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The pid of the registry entry for mountpoint mp, 0 if none. */
static long reg_find(const char *mp, char *path, size_t len)
{
	DIR *d = opendir(att_reg_dir());
	struct dirent *de;
	long found = 0;

	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		snprintf(path, len, "%s/%s", att_reg_dir(), de->d_name);
		struct json_object *doc = json_object_from_file(path), *v;

		if (!doc)
			continue;
		if (json_object_object_get_ex(doc, "mountpoint", &v) &&
		    strcmp(json_object_get_string(v), mp) == 0 &&
		    json_object_object_get_ex(doc, "pid", &v))
			found = (long)json_object_get_int64(v);
		json_object_put(doc);
	}
	closedir(d);
	return found;
}

/* Print the loop devices whose backing file lies under mp; their count. */
static int loop_users(const char *mp)
{
	DIR *d = opendir("/sys/block");
	struct dirent *de;
	size_t mlen = strlen(mp);
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char p[300], backing[PATH_MAX];

		if (strncmp(de->d_name, "loop", 4) != 0)
			continue;
		snprintf(p, sizeof(p), "/sys/block/%s/loop/backing_file", de->d_name);
		FILE *f = fopen(p, "r");

		if (!f)
			continue;
		if (fgets(backing, sizeof(backing), f)) {
			backing[strcspn(backing, "\n")] = 0;
			if (strncmp(backing, mp, mlen) == 0 && backing[mlen] == '/') {
				fprintf(stderr, "  /dev/%s uses %s: `losetup -d /dev/%s` first (after "
						"unmounting what is mounted from it)\n",
					de->d_name, backing, de->d_name);
				n++;
			}
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

static void detach_usage(FILE *f)
{
	fprintf(f, "usage: nvmeof detach MOUNTPOINT\n"
		   "Unmount an `nvmeof attach` mount point; the attach process flushes every\n"
		   "namespace, disconnects and exits before this returns.\n");
}

int cmd_detach(int argc, char **argv)
{
	char mp[PATH_MAX], reg[PATH_MAX];

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		detach_usage(stdout);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		detach_usage(stderr);
		return 2;
	}
	int rc = canonical_mountpoint(argv[1], mp, sizeof(mp));

	if (rc) {
		fprintf(stderr, "detach: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	long pid = reg_find(mp, reg, sizeof(reg));

	if (!pid) {
		fprintf(stderr, "detach: %s is not an nvmeof attachment (no entry for it in %s; "
				"NVMEOF_ATTACH_DIR names another registry)\n", mp, att_reg_dir());
		return 1;
	}
	if (kill((pid_t)pid, 0) && errno == ESRCH) {
		/* The attach process died: clean up what it left. */
		umount2(mp, MNT_DETACH);
		unlink(reg);
		fprintf(stderr, "detach: the attach process %ld of %s was gone; removed its mount and "
				"registry entry\n", pid, mp);
		return 0;
	}
	if (loop_users(mp)) {
		fprintf(stderr, "detach: %s is busy: loop devices use its files (above)\n", mp);
		return 1;
	}
	if (umount2(mp, 0)) {
		if (errno == EBUSY)
			fprintf(stderr, "detach: %s is busy: a process has a file open under it "
					"(`fuser -vm %s` shows which)\n", mp, mp);
		else
			fprintf(stderr, "detach: cannot unmount %s: %s%s\n", mp, strerror(errno),
				errno == EPERM ? " (run as root)" : "");
		return 1;
	}
	/* Unmounted: the FUSE loop ends by itself; SIGTERM in case it sleeps elsewhere. */
	kill((pid_t)pid, SIGTERM);
	for (int i = 0; i < DETACH_WAIT_S * 10; i++) {
		if (kill((pid_t)pid, 0) && errno == ESRCH)
			return 0;
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "detach: %s is unmounted, but the attach process %ld has not exited after "
			"%d s (waiting for the target to flush?)\n", mp, pid, DETACH_WAIT_S);
	return 1;
}
