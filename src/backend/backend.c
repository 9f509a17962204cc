/* SPDX-License-Identifier: MIT */
/* Picking a backend kind from the path, and the common open/close checks. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backend_internal.h"

static bool block_size_valid(uint32_t bs)
{
	return bs == 0 || (bs >= 512 && bs <= 4096 && (bs & (bs - 1)) == 0);
}

int backend_open(const struct backend_open_opts *opts, struct backend **out, char *errbuf,
		 size_t errlen)
{
	const char *path = opts->path;
	struct stat st;

	*out = NULL;
	if (errlen)
		errbuf[0] = '\0';
	if (!block_size_valid(opts->block_size)) {
		snprintf(errbuf, errlen, "%s: block size %u is not 512, 1024, 2048 or 4096",
			 path && *path ? path : "ram", opts->block_size);
		return -EINVAL;
	}
	if (!path || !*path)
		return backend_ram_open(opts, out, errbuf, errlen);
	if (backend_path_is_rbd(path))
		return backend_rbd_open(opts, out, errbuf, errlen);

	if (stat(path, &st) < 0) {
		int err = errno;

		/* A missing file is created only when a size says how big. */
		if (err == ENOENT && opts->size && !opts->read_only)
			return backend_file_open(opts, false, out, errbuf, errlen);
		snprintf(errbuf, errlen, "%s: %s", path, strerror(err));
		return -err;
	}
	if (S_ISBLK(st.st_mode))
		return backend_file_open(opts, true, out, errbuf, errlen);
	if (S_ISREG(st.st_mode))
		return backend_file_open(opts, false, out, errbuf, errlen);
	snprintf(errbuf, errlen, "%s: not a regular file or block device", path);
	return -EINVAL;
}

void backend_close(struct backend *be)
{
	if (be)
		be->ops->close(be);
}
