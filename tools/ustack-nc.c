/*
 * ustack-nc: netcat on ustack over a TUN device. Standard input goes to the
 * connection, the connection to standard output, so a person can move a
 * file between the Linux kernel's TCP and ustack and compare the bytes.
 *
 *   ustack-nc [-N] HOST PORT           connect
 *   ustack-nc -l [-N] [-p] PORT        accept one connection
 *   ustack-nc -u [-w SECS] HOST PORT   UDP: each read of standard input is
 *   ustack-nc -u -l [-p] PORT          one datagram; the first datagram
 *                                      received names the peer
 *
 * As netcat-openbsd: -N shuts the connection's write side down when
 * standard input ends; without it, the connection ends when the other side
 * closes. The program exits once the other side has closed and everything
 * it sent has been written out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/tool.h"

#define CHUNK 65536

struct app {
	struct tool_net net;
	bool listen, shut_on_eof, udp;
	uint32_t host;
	uint16_t port;
	int lfd, fd;
	bool connected, stdin_eof, shut, net_eof;
	char in[CHUNK];
	size_t in_len, in_off;
	struct pollfd pfd[1];
	ustack_time_t end_at;
	uint64_t bytes_in, bytes_out;
	int wait_s;
	ustack_time_t last_rx;
	bool have_peer;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ustack-nc [-u] [-N] [-w SECS] HOST PORT\n"
		   "       ustack-nc -l [-u] [-N] [-p] PORT\n"
		   "netcat on ustack: standard input to the connection, the connection to standard output.\n"
		   "  -l      listen and accept one connection\n"
		   "  -p N    the port to listen on\n"
		   "  -N      shut down the write side when standard input ends (as netcat-openbsd)\n"
		   "  -u      UDP instead of TCP: one datagram per read of standard input\n"
		   "  -w SECS with UDP, once standard input has ended, exit after SECS without a\n"
		   "          datagram (default 2)\n");
	tool_common_usage(f);
}

static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(1, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			perror("ustack-nc: stdout");
			exit(1);
		}
		p += w;
		n -= (size_t)w;
	}
}

/*
 * UDP: datagrams to standard output as they come, standard input out one
 * read at a time. Listening, the first datagram's source becomes the peer
 * (connect() then filters out everyone else, as nc does).
 */
static int udp_step(struct app *a, ustack_time_t now)
{
	struct ustack *st = a->net.st;
	for (;;) {
		char buf[65536];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = ustack_recvfrom(st, a->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (n != -EAGAIN)
				fprintf(stderr, "ustack-nc: recv: %s\n", strerror((int)-n));
			break;
		}
		if (!a->have_peer) {
			ustack_connect(st, a->fd, (struct sockaddr *)&from, fl);
			a->have_peer = true;
		}
		write_all(buf, (size_t)n);
		a->bytes_out += (uint64_t)n;
		a->last_rx = now;
	}
	while (a->have_peer && !a->stdin_eof && (a->pfd[0].revents & (POLLIN | POLLHUP))) {
		ssize_t r = read(0, a->in, 1472); /* one datagram, unfragmented on a 1500 MTU */
		if (r > 0) {
			ssize_t n = ustack_send(st, a->fd, a->in, (size_t)r, 0);
			if (n < 0)
				fprintf(stderr, "ustack-nc: send: %s\n", strerror((int)-n));
			else
				a->bytes_in += (uint64_t)n;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			a->stdin_eof = true;
		a->pfd[0].revents = 0;
		break;
	}
	a->pfd[0].events = a->have_peer && !a->stdin_eof ? POLLIN : 0;
	if (!a->stdin_eof)
		return 0;
	if (!a->end_at)
		a->end_at = now; /* when standard input ended */
	ustack_time_t quiet = (a->last_rx > a->end_at ? a->last_rx : a->end_at) + USTACK_SEC(a->wait_s);
	if (now >= quiet)
		return 1;
	ustack_tun_wake_at(a->net.tun, quiet);
	return 0;
}

static int step(void *ctx, ustack_time_t now)
{
	struct app *a = ctx;
	struct ustack *st = a->net.st;
	if (a->udp)
		return udp_step(a, now);
	if (a->end_at)
		return tool_may_exit(&a->net, a->end_at, now);
	if (!a->connected) {
		if (a->listen) {
			a->fd = ustack_accept(st, a->lfd, NULL, NULL);
			if (a->fd < 0)
				return 0;
			ustack_close(st, a->lfd);
		} else {
			int ev = ustack_sock_poll(st, a->fd);
			if (ev & POLLERR) {
				int err = 0;
				socklen_t l = sizeof(err);
				ustack_getsockopt(st, a->fd, SOL_SOCKET, SO_ERROR, &err, &l);
				fprintf(stderr, "ustack-nc: connect: %s\n", strerror(err));
				return 1;
			}
			if (!(ev & POLLOUT))
				return 0;
		}
		a->connected = true;
	}
	/* Connection to standard output. */
	while (!a->net_eof) {
		char buf[CHUNK];
		ssize_t n = ustack_recv(st, a->fd, buf, sizeof(buf), 0);
		if (n > 0) {
			write_all(buf, (size_t)n);
			a->bytes_out += (uint64_t)n;
			continue;
		}
		if (n == 0) {
			a->net_eof = true;
		} else if (n != -EAGAIN) {
			fprintf(stderr, "ustack-nc: recv: %s\n", strerror((int)-n));
			a->net_eof = true;
		}
		break;
	}
	/* Standard input to the connection. */
	for (;;) {
		if (a->in_off < a->in_len) {
			ssize_t n = ustack_send(st, a->fd, a->in + a->in_off, a->in_len - a->in_off, 0);
			if (n > 0) {
				a->in_off += (size_t)n;
				a->bytes_in += (uint64_t)n;
				continue;
			}
			if (n != -EAGAIN) {
				a->stdin_eof = true; /* the connection will take no more */
				a->in_off = a->in_len = 0;
			}
			break;
		}
		if (a->stdin_eof || !(a->pfd[0].revents & (POLLIN | POLLHUP)))
			break;
		ssize_t r = read(0, a->in, sizeof(a->in));
		if (r > 0) {
			a->in_len = (size_t)r;
			a->in_off = 0;
			continue;
		}
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			a->stdin_eof = true;
		a->pfd[0].revents = 0;
		break;
	}
	/* Watch standard input only while the connection can take more. */
	a->pfd[0].events = (!a->stdin_eof && a->in_off == a->in_len) ? POLLIN : 0;
	if (a->stdin_eof && a->shut_on_eof && !a->shut && a->in_off == a->in_len) {
		ustack_shutdown(st, a->fd, SHUT_WR);
		a->shut = true;
	}
	if (a->net_eof) {
		ustack_close(st, a->fd);
		a->end_at = now;
		return tool_may_exit(&a->net, a->end_at, now);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct app a = { .fd = -1, .lfd = -1, .wait_s = 2 };
	struct tool_opts o;
	tool_opts_defaults(&o);
	int positional = 0;
	for (int i = 1; i < argc; i++) {
		int c = tool_parse_common(&i, argc, argv, &o);
		if (c < 0)
			return 2;
		if (c)
			continue;
		const char *s = argv[i];
		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(s, "-l")) {
			a.listen = true;
		} else if (!strcmp(s, "-N")) {
			a.shut_on_eof = true;
		} else if (!strcmp(s, "-u")) {
			a.udp = true;
		} else if (!strcmp(s, "-w") && i + 1 < argc) {
			a.wait_s = atoi(argv[++i]);
		} else if (!strcmp(s, "-p") && i + 1 < argc) {
			a.port = (uint16_t)atoi(argv[++i]);
		} else if (s[0] != '-' && !a.listen && positional == 0) {
			if (tool_parse_addr(s, &a.host, NULL)) {
				fprintf(stderr, "ustack-nc: not an IPv4 address: %s\n", s);
				return 2;
			}
			positional++;
		} else if (s[0] != '-' && (positional == 1 || a.listen)) {
			a.port = (uint16_t)atoi(s);
			positional++;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!a.port || (!a.listen && !a.host)) {
		usage(stderr);
		return 2;
	}
	if (tool_net_open(&a.net, &o))
		return 1;
	struct ustack *st = a.net.st;
	int r = 0;
	if (a.udp) {
		a.fd = ustack_socket(st, AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(a.port),
					   .sin_addr.s_addr = htonl(a.host) };
		if (a.listen) {
			sin.sin_addr.s_addr = 0;
			r = ustack_bind(st, a.fd, (struct sockaddr *)&sin, sizeof(sin));
		} else {
			r = ustack_connect(st, a.fd, (struct sockaddr *)&sin, sizeof(sin));
			a.have_peer = r == 0;
		}
	} else if (a.listen) {
		a.lfd = ustack_socket(st, AF_INET, SOCK_STREAM, 0);
		int one = 1;
		ustack_setsockopt(st, a.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(a.port) };
		r = ustack_bind(st, a.lfd, (struct sockaddr *)&sin, sizeof(sin));
		if (!r)
			r = ustack_listen(st, a.lfd, 1);
	} else {
		a.fd = ustack_socket(st, AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(a.port),
					   .sin_addr.s_addr = htonl(a.host) };
		r = ustack_connect(st, a.fd, (struct sockaddr *)&sin, sizeof(sin));
		if (r == -EINPROGRESS)
			r = 0;
	}
	if (r) {
		fprintf(stderr, "ustack-nc: %s: %s\n", a.listen ? "listen" : "connect", strerror(-r));
		tool_net_close(&a.net);
		return 1;
	}
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	a.pfd[0].fd = 0;
	a.pfd[0].events = POLLIN;
	r = tool_net_run(&a.net, step, &a, a.pfd, 1);
	if (o.stats)
		fprintf(stderr, "ustack-nc: %llu bytes sent, %llu received\n", (unsigned long long)a.bytes_in,
			(unsigned long long)a.bytes_out);
	tool_net_close(&a.net);
	return r < 0 ? 1 : 0;
}
