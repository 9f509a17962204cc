/* SPDX-License-Identifier: MIT */
/*
 * `nvmeof gen-tls-key` and `nvmeof check-tls-key`: TLS pre-shared keys in
 * the NVMe interchange format, with nvme-cli 2.x's option names and output
 * shape, so that keys move freely between the two tools. There is no
 * keyring here: the host NQN, subsystem NQN and identity version only
 * matter for what check-tls-key prints (the identity and TLS PSK a
 * connection with --tls-key would use).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "crypto/key_interchange.h"
#include "crypto/tls_psk.h"
#include "common/hex.h"

enum { OPT_COMPAT = OPT_CMD_FIRST, OPT_KDF };

struct tls_key_args {
	unsigned int hmac;
	const char *secret; /* hex */
	const char *keydata;
	const char *hostnqn;
	const char *subnqn;
	unsigned int identity;
	enum nvme_tls_kdf kdf;
};

static const struct option tls_key_options[] = {
	{ "hmac", required_argument, NULL, 'm' },
	{ "secret", required_argument, NULL, 's' },
	{ "keydata", required_argument, NULL, 'd' },
	{ "key", required_argument, NULL, 'k' },
	{ "hostnqn", required_argument, NULL, 'n' },
	{ "subsysnqn", required_argument, NULL, 'c' },
	{ "identity", required_argument, NULL, 'I' },
	{ "tls-kdf", required_argument, NULL, OPT_KDF },
	{ "compat", no_argument, NULL, OPT_COMPAT },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* Parse argv; 0, 1 (help printed) or -EINVAL. gen selects the command's rules. */
static int cli_tls_key_parse(int argc, char **argv, bool gen, struct tls_key_args *a,
			     void (*usage)(FILE *f))
{
	int opt, v;

	memset(a, 0, sizeof(*a));
	a->hmac = 1;
	a->identity = gen ? 0 : 1;
	a->kdf = NVME_TLS_KDF_LIBNVME;
	optind = 1;
	opterr = 1;
	while ((opt = getopt_long(argc, argv, "hm:s:d:k:n:c:I:", tls_key_options, NULL)) != -1) {
		switch (opt) {
		case 'h':
			usage(stdout);
			return 1;
		case 'm':
			if (cli_parse_int(optarg, 1, 2, &v)) {
				fprintf(stderr, "--hmac must be 1 (SHA-256) or 2 (SHA-384)\n");
				return -EINVAL;
			}
			a->hmac = (unsigned int)v;
			break;
		case 's':
			a->secret = optarg;
			break;
		case 'd':
		case 'k':
			a->keydata = optarg;
			break;
		case 'n':
			a->hostnqn = optarg;
			break;
		case 'c':
			a->subnqn = optarg;
			break;
		case 'I':
			if (cli_parse_int(optarg, 0, 1, &v)) {
				fprintf(stderr, "--identity must be 0 or 1\n");
				return -EINVAL;
			}
			a->identity = (unsigned int)v;
			break;
		case OPT_KDF:
			if (strcmp(optarg, "libnvme") == 0)
				a->kdf = NVME_TLS_KDF_LIBNVME;
			else if (strcmp(optarg, "rfc8446") == 0)
				a->kdf = NVME_TLS_KDF_RFC8446;
			else {
				fprintf(stderr, "--tls-kdf must be libnvme or rfc8446\n");
				return -EINVAL;
			}
			break;
		case OPT_COMPAT: /* nvme-cli: an older identity digest; ours is the 6.12 one */
			break;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!gen && !a->keydata) {
		fprintf(stderr, "check-tls-key: --keydata=NVMeTLSkey-1:... is required\n");
		return -EINVAL;
	}
	if (!gen && (!a->hostnqn) != (!a->subnqn)) {
		fprintf(stderr, "check-tls-key: give --hostnqn and --subsysnqn together\n");
		return -EINVAL;
	}
	return 0;
}

static void gen_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof gen-tls-key [options]\n"
		"Print a TLS pre-shared key in the interchange format NVMeTLSkey-1:0H:...:\n"
		"  -m, --hmac=1|2          hash for the retained PSK: 1 SHA-256 (32-byte key,\n"
		"                          default), 2 SHA-384 (48 bytes)\n"
		"  -s, --secret=HEX        the key (64 or 96 hex digits) instead of a random one\n"
		"  -n, --hostnqn=NQN       accepted for nvme-cli compatibility (no keyring here;\n"
		"  -c, --subsysnqn=NQN     see check-tls-key for the derived identity)\n"
		"  -I, --identity=0|1\n");
}

int cmd_gen_tls_key(int argc, char **argv)
{
	struct tls_key_args a;
	struct nvme_tls_key key;
	char out[NVME_TLS_KEY_STR_MAX];
	size_t n = 0;
	int rc = cli_tls_key_parse(argc, argv, true, &a, gen_usage);

	if (rc)
		return rc > 0 ? 0 : 2;
	if (a.secret) {
		memset(&key, 0, sizeof(key));
		key.hmac = (uint8_t)a.hmac;
		key.len = a.hmac == 2 ? 48 : 32;
		if (hex_decode(a.secret, key.key, key.len, &n) || n != key.len) {
			fprintf(stderr, "gen-tls-key: --secret must be %u hex digits for --hmac=%u\n",
				2u * key.len, a.hmac);
			nvme_tls_key_clear(&key);
			return 2;
		}
	} else if (nvme_tls_key_generate((uint8_t)a.hmac, &key)) {
		fprintf(stderr, "gen-tls-key: no random bytes\n");
		return 1;
	}
	rc = nvme_tls_key_format(&key, out, sizeof(out));
	nvme_tls_key_clear(&key);
	if (rc) {
		fprintf(stderr, "gen-tls-key: cannot encode the key\n");
		return 1;
	}
	printf("%s\n", out);
	OPENSSL_cleanse(out, sizeof(out));
	return 0;
}

static void check_usage(FILE *f)
{
	fprintf(f,
		"usage: nvmeof check-tls-key -d KEY [-n HOSTNQN -c SUBNQN [-I 0|1] [--tls-kdf=K]]\n"
		"Check a TLS PSK in the interchange format; with both NQNs also print the PSK\n"
		"identity and the TLS PSK (hex) a connection with --tls-key would use.\n"
		"  -d, --keydata=KEY       NVMeTLSkey-1:HH:...: (-k, --key too)\n"
		"  -n, --hostnqn=NQN\n"
		"  -c, --subsysnqn=NQN\n"
		"  -I, --identity=0|1      identity version (default 1)\n"
		"      --tls-kdf=libnvme|rfc8446  HKDF label encoding (default libnvme)\n");
}

int cmd_check_tls_key(int argc, char **argv)
{
	struct tls_key_args a;
	struct nvme_tls_key key;
	char identity[NVME_TLS_IDENTITY_MAX];
	uint8_t psk[NVME_TLS_PSK_MAX];
	size_t psk_len = 0;
	int rc = cli_tls_key_parse(argc, argv, false, &a, check_usage);

	if (rc)
		return rc > 0 ? 0 : 2;
	if (nvme_tls_key_parse(a.keydata, &key)) {
		fprintf(stderr, "check-tls-key: not a valid key (format, length or CRC)\n");
		return 1;
	}
	printf("Key is valid (HMAC %u, length %u, CRC %08x)\n", key.hmac, key.len,
	       nvme_key_crc32(key.key, key.len));
	if (a.hostnqn) {
		rc = nvme_tls_psk_derive(&key, a.identity, a.kdf, a.hostnqn, a.subnqn, identity, psk,
					 &psk_len);
		if (rc) {
			fprintf(stderr, "check-tls-key: cannot derive (bad NQN?)\n");
			nvme_tls_key_clear(&key);
			return 1;
		}
		printf("identity: %s\ntls psk: ", identity);
		for (size_t i = 0; i < psk_len; i++)
			printf("%02x", psk[i]);
		printf("\n");
		OPENSSL_cleanse(psk, sizeof(psk));
	}
	nvme_tls_key_clear(&key);
	return 0;
}
