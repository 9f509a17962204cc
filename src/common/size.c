/* SPDX-License-Identifier: MIT */
#include "size.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGTP";
	unsigned int shift = 0;
	uint64_t v = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (*p) {
		const char *u = strchr(units, toupper((unsigned char)*p));

		if (!u)
			return -EINVAL;
		shift = 10u * (unsigned int)(u - units + 1);
		p++;
		if (*p && strcasecmp(p, "B") != 0 && strcasecmp(p, "iB") != 0)
			return -EINVAL;
	}
	if (v > ((uint64_t)INT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}
