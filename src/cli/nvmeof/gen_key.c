/* SPDX-License-Identifier: MIT */
/*
 * nvmeof gen-dhchap-key: a DH-HMAC-CHAP secret in the interchange format,
 * with nvme-cli 2.x's options and output (the secret printed for HMAC 1-3
 * is already transformed with the NQN, as nvme-cli does).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "crypto/dhchap.h"
#include "common/hex.h"

static void gen_usage(FILE *f)
{
	fputs("usage: nvmeof gen-dhchap-key [options]\n"
	      "\n"
	      "Generate a DH-HMAC-CHAP host key usable for NVMe in-band authentication.\n"
	      "\n"
	      "  -s, --secret=HEX       secret (hexadecimal) to use instead of a random one\n"
	      "  -l, --key-length=N     length of the key: 32, 48 or 64 bytes\n"
	      "                         (default: 32, or the HMAC's size)\n"
	      "  -n, --nqn=NQN          host NQN for the transformation (default: the host's)\n"
	      "  -m, --hmac=N           transformation: 0 = none, 1 = SHA-256, 2 = SHA-384,\n"
	      "                         3 = SHA-512 (default 0)\n",
	      f);
}

int cmd_gen_dhchap_key(int argc, char **argv)
{
	static const struct option opts[] = { { "secret", required_argument, NULL, 's' },
					      { "key-length", required_argument, NULL, 'l' },
					      { "nqn", required_argument, NULL, 'n' },
					      { "hmac", required_argument, NULL, 'm' },
					      { "help", no_argument, NULL, 'h' },
					      { 0 } };
	uint8_t secret[DHCHAP_MAX_SECRET_LEN + 1];
	char hostnqn[NVMEOF_NQN_MAX + 1] = "", out[DHCHAP_KEY_STR_MAX];
	const char *secret_hex = NULL, *nqn = NULL;
	int hmac = 0, key_len = 0, opt, rc;
	size_t secret_len = 0;
	struct dhchap_key key;
	uint8_t hostid[16];

	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:l:n:m:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			secret_hex = optarg;
			break;
		case 'l':
			if (cli_parse_int(optarg, 0, 1024, &key_len)) {
				fprintf(stderr, "Invalid key length %s\n", optarg);
				return 1;
			}
			break;
		case 'n':
			nqn = optarg;
			break;
		case 'm':
			if (cli_parse_int(optarg, 0, 255, &hmac) || hmac > 3) {
				fprintf(stderr, "Invalid HMAC identifier %s\n", optarg);
				return 1;
			}
			break;
		case 'h':
			gen_usage(stdout);
			return 0;
		default:
			gen_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gen-dhchap-key: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (secret_hex) {
		if (hex_decode(secret_hex, secret, sizeof(secret), &secret_len) ||
		    (secret_len != 32 && secret_len != 48 && secret_len != 64)) {
			fprintf(stderr, "Invalid key length (%zu bytes)\n", strlen(secret_hex) / 2);
			return 1;
		}
		if (key_len && (size_t)key_len != secret_len) {
			fprintf(stderr, "Invalid key length %d (the secret has %zu bytes)\n", key_len, secret_len);
			return 1;
		}
		key_len = (int)secret_len;
	}
	if (!key_len)
		key_len = hmac ? (int)dhchap_hash_len((uint8_t)hmac) : 32;
	if (key_len != 32 && key_len != 48 && key_len != 64) {
		fprintf(stderr, "Invalid key length %d\n", key_len);
		return 1;
	}
	if (hmac && (size_t)key_len != dhchap_hash_len((uint8_t)hmac)) {
		fprintf(stderr, "Invalid key length %d for %s\n", key_len, dhchap_hash_name((uint8_t)hmac));
		return 1;
	}
	if (hmac && !nqn) {
		if (nvmeof_default_host_id(hostnqn, hostid)) {
			fprintf(stderr, "gen-dhchap-key: no host NQN (give --nqn)\n");
			return 1;
		}
		nqn = hostnqn;
	}
	rc = dhchap_key_generate((uint8_t)hmac, (size_t)key_len, secret_hex ? secret : NULL, nqn, &key);
	dhchap_wipe(secret, sizeof(secret));
	if (!rc)
		rc = dhchap_key_format(&key, out, sizeof(out));
	dhchap_key_wipe(&key);
	if (rc) {
		fprintf(stderr, "gen-dhchap-key: %s\n", strerror(-rc));
		return 1;
	}
	printf("%s\n", out);
	dhchap_wipe(out, sizeof(out));
	return 0;
}
