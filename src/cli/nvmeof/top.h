/* SPDX-License-Identifier: MIT */
/*
 * `nvmeof target top`: live I/O rates per subsystem, namespace or host of a
 * running target, computed from consecutive `stats` snapshots.
 */
#ifndef NVMEOF_CLI_TOP_H
#define NVMEOF_CLI_TOP_H

struct json_object;

/* One `stats` snapshot (the caller puts it), or NULL after printing why. */
typedef struct json_object *(*top_fetch_fn)(void *ctx);

/* argv[0] is "top". Returns the exit status: 0, 1 (target unreachable), 2 (usage). */
int top_main(int argc, char **argv, top_fetch_fn fetch, void *ctx);

#endif
