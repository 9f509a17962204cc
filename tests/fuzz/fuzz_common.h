/* SPDX-License-Identifier: MIT */
/* What every fuzz target shares: an invariant that aborts with its place. */
#ifndef NVMEOF_TESTS_FUZZ_COMMON_H
#define NVMEOF_TESTS_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#define fuzz_assert(cond)                                                                            \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

#endif
