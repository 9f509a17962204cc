/* SPDX-License-Identifier: MIT */
/* The one version string of nvmeof-target and nvmeof. */
#ifndef NVMEOF_COMMON_VERSION_H
#define NVMEOF_COMMON_VERSION_H

#define NVMEOF_VERSION_BASE "0.1.0"

/* The Makefile passes NVMEOF_GIT_DESCRIBE when built from a git checkout. */
#ifdef NVMEOF_GIT_DESCRIBE
#define NVMEOF_VERSION NVMEOF_VERSION_BASE " (" NVMEOF_GIT_DESCRIBE ")"
#else
#define NVMEOF_VERSION NVMEOF_VERSION_BASE
#endif

#endif
