/*
 * ustack-echo: the article's echo server and client, on ustack over a TUN
 * device, so that the Linux kernel's TCP (the article's Python programs,
 * nc, anything) is the other end.
 *
 *   ustack-echo server [--port 9999] [--rounds N] [--reuseaddr]
 *   ustack-echo client HOST [PORT] [--message TEXT]
 *
 * The server prints "Connected by" with the peer's address, prints what it
 * receives, echoes it and closes first, as the article's server does; so its
 * side of each connection ends in TIME_WAIT. With --rounds N it then binds
 * port 9999 again, in the same stack, while that TIME_WAIT still holds the
 * port: without --reuseaddr the bind fails, as the article describes.
 *
 * A user-space stack's TIME_WAIT lives as long as the stack: when this
 * process exits, the record is gone with it, as if the host had rebooted.
 * The kernel peer is not told; if its last ACK had been lost, its
 * retransmitted FIN now reaches no socket and the kernel's TUN side answers
 * nothing (the device is gone) or, while it exists, the new stack answers
 * with a RST, which ends the peer's LAST_ACK early: harmless for it. What
 * TIME_WAIT protects against, a delayed old segment landing in a new
 * connection with the same four-tuple, cannot happen to a stack that no
 * longer exists. --hold keeps the process (and the TIME_WAIT) until 2MSL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/tool.h"

enum phase { LISTENING, CONNECTED, CLOSING, DONE };

struct app {
	struct tool_net net;
	bool server;
	uint16_t port;
	int rounds, round;
	bool reuse, hold;
	const char *message;
	uint32_t host;
	ustack_time_t connect_at; /* the client waits until then, link up */
	int wait_ms;
	int lfd, fd;
	enum phase phase;
	ustack_time_t done_at;
	int status;
	char buf[4096];
	size_t len;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ustack-echo server [--port N] [--rounds N] [--reuseaddr] [--hold] [network options]\n"
		   "       ustack-echo client HOST [PORT] [--message TEXT] [--wait MS] [network options]\n"
		   "The article's echo programs on ustack: the server accepts, prints 'Connected by',\n"
		   "echoes and closes first; the client sends 'Hello, world' and prints the reply.\n"
		   "  --port N       server port (default 9999)\n"
		   "  --rounds N     serve N connections, binding the port anew each time, while the\n"
		   "                 previous connection's TIME_WAIT still holds it\n"
		   "  --reuseaddr    set SO_REUSEADDR before bind, as the article's fix does\n"
		   "  --hold         after the last round, stay until TIME_WAIT (2MSL = 60 s) is over\n"
		   "  --message TEXT what the client sends (default 'Hello, world')\n"
		   "  --wait MS      the client brings the link up, then waits MS before connecting\n");
	tool_common_usage(f);
}

static int start_round(struct app *a)
{
	struct ustack *st = a->net.st;
	a->lfd = ustack_socket(st, AF_INET, SOCK_STREAM, 0);
	int one = 1;
	if (a->reuse)
		ustack_setsockopt(st, a->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(a->port) };
	int r = ustack_bind(st, a->lfd, (struct sockaddr *)&sin, sizeof(sin));
	if (r == 0)
		r = ustack_listen(st, a->lfd, 1);
	if (r) {
		fprintf(stderr, "bind to port %u: %s%s\n", a->port, strerror(-r),
			r == -EADDRINUSE && !a->reuse
				? " (the last connection is in TIME_WAIT; --reuseaddr sets SO_REUSEADDR)"
				: "");
		ustack_close(st, a->lfd);
		return r;
	}
	printf("round %d: listening on %s:%u\n", a->round + 1, "0.0.0.0", a->port);
	fflush(stdout);
	a->phase = LISTENING;
	return 0;
}

/* Python's repr() of a bytes object, as the article's client prints it. */
static void print_bytes_repr(const char *prefix, const char *s, size_t n)
{
	printf("%sb'", prefix);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\'' || c == '\\')
			printf("\\%c", c);
		else if (c >= 32 && c < 127)
			putchar(c);
		else
			printf("\\x%02x", c);
	}
	printf("'\n");
	fflush(stdout);
}

static int server_step(struct app *a, ustack_time_t now)
{
	struct ustack *st = a->net.st;
	switch (a->phase) {
	case LISTENING: {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		a->fd = ustack_accept(st, a->lfd, (struct sockaddr *)&peer, &plen);
		if (a->fd < 0)
			return 0;
		char ip[16];
		printf("Connected by ('%s', %u)\n", tool_ip(ntohl(peer.sin_addr.s_addr), ip), ntohs(peer.sin_port));
		fflush(stdout);
		a->phase = CONNECTED;
		/* fall through: data may be here already */
	}
	/* fall through */
	case CONNECTED: {
		ssize_t n = ustack_recv(st, a->fd, a->buf, sizeof(a->buf), 0);
		if (n == -EAGAIN)
			return 0;
		if (n > 0) {
			print_bytes_repr("data: ", a->buf, (size_t)n);
			ustack_send(st, a->fd, a->buf, (size_t)n, 0);
		}
		/* The article's server closes as soon as it has answered:
		 * it closes first, so its side waits in TIME_WAIT. */
		printf("close\n");
		fflush(stdout);
		ustack_close(st, a->lfd);
		ustack_close(st, a->fd);
		a->fd = -1;
		a->phase = CLOSING;
		a->done_at = now;
		return 0;
	}
	case CLOSING:
		if (++a->round < a->rounds) {
			if (start_round(a))
				return 2;
			return 0;
		}
		a->phase = DONE;
		a->done_at = now;
		return 0;
	case DONE:
		break;
	}
	return 0;
}

static int client_step(struct app *a, ustack_time_t now)
{
	struct ustack *st = a->net.st;
	switch (a->phase) {
	case LISTENING: { /* connecting */
		if (a->fd < 0) {
			if (now < a->connect_at) {
				ustack_tun_wake_at(a->net.tun, a->connect_at);
				return 0;
			}
			a->fd = ustack_socket(st, AF_INET, SOCK_STREAM, 0);
			struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(a->port),
						   .sin_addr.s_addr = htonl(a->host) };
			int r = ustack_connect(st, a->fd, (struct sockaddr *)&sin, sizeof(sin));
			if (r != -EINPROGRESS) {
				fprintf(stderr, "connect: %s\n", strerror(-r));
				return 1;
			}
			return 0;
		}
		int ev = ustack_sock_poll(st, a->fd);
		if (ev & POLLERR) {
			int err = 0;
			socklen_t l = sizeof(err);
			ustack_getsockopt(st, a->fd, SOL_SOCKET, SO_ERROR, &err, &l);
			fprintf(stderr, "connect: %s\n", strerror(err));
			return 1;
		}
		if (!(ev & POLLOUT))
			return 0;
		ustack_send(st, a->fd, a->message, strlen(a->message), 0);
		a->phase = CONNECTED;
		return 0;
	}
	case CONNECTED: {
		ssize_t n = ustack_recv(st, a->fd, a->buf + a->len, sizeof(a->buf) - a->len, 0);
		if (n == -EAGAIN)
			return 0;
		if (n > 0) {
			a->len += (size_t)n;
			if (a->len < strlen(a->message))
				return 0;
		}
		if (n < 0 && n != -EAGAIN)
			fprintf(stderr, "recv: %s\n", strerror((int)-n));
		print_bytes_repr("Received ", a->buf, a->len);
		ustack_close(st, a->fd);
		a->phase = DONE;
		a->done_at = now;
		return 0;
	}
	default:
		return 0;
	}
}

static int step(void *ctx, ustack_time_t now)
{
	struct app *a = ctx;
	int r = a->server ? server_step(a, now) : client_step(a, now);
	if (r)
		return r;
	if (a->phase != DONE)
		return 0;
	/* Finish the closing handshake before the stack (and its state) goes
	 * away; with --hold, also wait out TIME_WAIT. */
	if (a->hold)
		return ustack_next_deadline(a->net.st) == USTACK_TIME_NEVER ? 1 : 0;
	return tool_may_exit(&a->net, a->done_at, now);
}

int main(int argc, char **argv)
{
	struct app a = { .port = 9999, .rounds = 1, .message = "Hello, world", .fd = -1, .lfd = -1 };
	struct tool_opts o;
	tool_opts_defaults(&o);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	a.server = !strcmp(argv[1], "server");
	if (!a.server && strcmp(argv[1], "client")) {
		usage(stderr);
		return 2;
	}
	int positional = 0;
	for (int i = 2; i < argc; i++) {
		int c = tool_parse_common(&i, argc, argv, &o);
		if (c < 0)
			return 2;
		if (c)
			continue;
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--reuseaddr")) {
			a.reuse = true;
		} else if (!strcmp(argv[i], "--hold")) {
			a.hold = true;
		} else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			a.port = (uint16_t)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			a.rounds = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--wait") && i + 1 < argc) {
			a.wait_ms = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--message") && i + 1 < argc) {
			a.message = argv[++i];
		} else if (!a.server && argv[i][0] != '-' && positional == 0) {
			if (tool_parse_addr(argv[i], &a.host, NULL)) {
				fprintf(stderr, "not an IPv4 address: %s\n", argv[i]);
				return 2;
			}
			positional++;
		} else if (!a.server && argv[i][0] != '-' && positional == 1) {
			a.port = (uint16_t)atoi(argv[i]);
			positional++;
		} else {
			fprintf(stderr, "unknown argument: %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (!a.server && !a.host) {
		usage(stderr);
		return 2;
	}
	o.host = a.server ? "server" : "client"; /* as the trace calls it */
	if (tool_net_open(&a.net, &o))
		return 1;
	int r;
	if (a.server) {
		r = start_round(&a);
	} else {
		a.connect_at = ustack_clock_now() + USTACK_MSEC(a.wait_ms);
		a.phase = LISTENING;
		r = 0;
	}
	if (r == 0)
		r = tool_net_run(&a.net, step, &a, NULL, 0);
	tool_net_close(&a.net);
	return r == 1 ? 0 : r == 0 ? 0 : r < 0 ? 1 : r;
}
