/*
 * ustack-drill: packetdrill scripts against ustack.
 *
 *   ustack-drill [options] SCRIPT.pkt...
 *
 * Each script runs against a fresh stack on a virtual clock (a script that
 * waits 60 s finishes at once), playing the remote host as packetdrill
 * does: inbound packets are built and handed to the stack, outbound ones
 * are taken from its output and compared field by field, system calls go
 * to ustack's socket API with Linux's blocking behaviour emulated. The
 * sysctls a script sets in backticks go to the stack (drill/shell.c).
 * What ustack cannot run (Python, other shell commands, settings it lacks,
 * IPv6, options it lacks) is skipped, never passed. The last line is "N passed, N failed, N skipped";
 * the exit status is 1 if any script failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drill/drill.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: ustack-drill [options] SCRIPT.pkt...\n"
		   "  --local_ip=ADDR         the stack's address (default 192.168.0.1)\n"
		   "  --remote_ip=ADDR        the remote host's address (default 192.0.2.1)\n"
		   "  --bind_port=PORT        port bind(..., ...) uses (default 8080)\n"
		   "  --connect_port=PORT     port connect(..., ...) uses (default 8080)\n"
		   "  --mtu=BYTES             the stack's MTU (default 1500)\n"
		   "  --tolerance_usecs=N     timing slack (default 4000)\n"
		   "  --tolerance_percent=P   slack as a share of the gap between events (default 12.5)\n"
		   "  --verbose, -v           print every packet and system call as it runs\n");
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(DRILL_MAX_SCRIPT + 1);
	if (!buf) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	size_t n = fread(buf, 1, DRILL_MAX_SCRIPT + 1, f);
	bool bad = ferror(f);
	fclose(f);
	if (bad || n > DRILL_MAX_SCRIPT) {
		snprintf(err, errlen, "%s: %s", path, bad ? "read error" : "script larger than 1 MiB");
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

enum outcome { PASSED, FAILED, SKIPPED };

static enum outcome run_one(const char *path, const struct drill_config *cfg)
{
	static char err[8192];
	size_t len;
	char *text = read_file(path, &len, err, sizeof(err));
	if (!text) {
		printf("FAIL %s\n%s\n", path, err);
		return FAILED;
	}
	struct script s = { .path = path, .cfg = *cfg };
	enum outcome o;
	if (drill_parse(&s, text, len, err, sizeof(err)) != 0) {
		printf("FAIL %s\n%s\n", path, err);
		o = FAILED;
	} else if (s.skip[0]) {
		printf("skip %s: skipped: %s (line %d)\n", path, s.skip, s.skip_line);
		o = SKIPPED;
	} else if (drill_run(&s, err, sizeof(err)) != 0) {
		printf("FAIL %s\n%s\n", path, err);
		o = FAILED;
	} else {
		printf("ok   %s\n", path);
		o = PASSED;
	}
	fflush(stdout);
	drill_script_free(&s);
	free(text);
	return o;
}

int main(int argc, char **argv)
{
	struct drill_config cfg = {
		.local_ip = 0xC0A80001u, /* 192.168.0.1 */
		.remote_ip = 0xC0000201u, /* 192.0.2.1 */
		.bind_port = 8080,
		.connect_port = 8080,
		.mtu = 1500,
		.tolerance_usecs = 4000,
		.tolerance_percent = 12.5,
		.seed = 1,
	};
	int first = argc;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(a, "-v") == 0)
			a = "--verbose";
		if (strncmp(a, "--", 2) != 0) {
			first = i;
			break;
		}
		char name[64], err[256];
		const char *eq = strchr(a, '='), *value = NULL;
		size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		if (n >= sizeof(name)) {
			fprintf(stderr, "ustack-drill: unknown option %s\n", a);
			return 2;
		}
		memcpy(name, a + 2, n);
		name[n] = '\0';
		if (eq)
			value = eq + 1;
		else if (strcmp(name, "verbose") != 0 && i + 1 < argc)
			value = argv[++i];
		int r = drill_option(&cfg, name, value, err, sizeof(err));
		if (r != 0) {
			fprintf(stderr, "ustack-drill: %s\n", r > 0 ? "unknown option" : err);
			if (r > 0)
				usage(stderr);
			return 2;
		}
	}
	if (first >= argc) {
		usage(stderr);
		return 2;
	}
	int count[3] = { 0, 0, 0 };
	for (int i = first; i < argc; i++)
		count[run_one(argv[i], &cfg)]++;
	printf("%d passed, %d failed, %d skipped\n", count[PASSED], count[FAILED], count[SKIPPED]);
	return count[FAILED] ? 1 : 0;
}
