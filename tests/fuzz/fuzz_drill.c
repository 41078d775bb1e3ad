/*
 * libFuzzer target: the packetdrill script lexer and parser of ustack-drill
 * (tools/drill/lex.c, parse.c). Scripts come from anywhere, so the parser
 * bounds all it allocates (drill.h); this checks that no input makes it
 * read or write out of bounds, leak, or loop. The script is only parsed:
 * nothing here runs a system call, a packet or a sleep.
 */
#include <stdlib.h>
#include <string.h>

#include "drill/drill.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > DRILL_MAX_SCRIPT)
		return 0;
	/* The runner hands the parser a NUL-terminated copy of the file. */
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct script s = {
		.path = "fuzz.pkt",
		.cfg = { .local_ip = 0xC0A80001u, .remote_ip = 0xC0000201u, .bind_port = 8080, .connect_port = 8080,
			 .mtu = 1500, .tolerance_usecs = 4000, .tolerance_percent = 12.5, .seed = 1 },
	};
	char err[DRILL_ERR];
	int r = drill_parse(&s, text, size, err, sizeof(err));
	if (r == 0 && !s.skip[0] && s.nev <= 0)
		abort(); /* a script that parsed has events */
	if (r != 0 && !err[0])
		abort(); /* a failure says why */
	drill_script_free(&s);
	free(text);
	return 0;
}
