/*
 * ustack-http: a small HTTP/1.1 file server on ustack over a TUN device,
 * for curl and browsers. GET and HEAD of files under a root folder, one
 * request per connection (Connection: close), many connections at once.
 * Paths are confined to the root: no "..", no symbolic-link tricks beyond
 * what the root itself contains.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/tool.h"

#define MAX_CONNS 256
#define REQ_MAX 8192

struct conn {
	int fd;
	int file;
	char req[REQ_MAX];
	size_t req_len;
	char hdr[512];
	size_t hdr_len, hdr_off;
	off_t left;
	bool responding, done;
};

struct app {
	struct tool_net net;
	const char *root;
	uint16_t port;
	int lfd;
	long max_requests, served;
	ustack_time_t drain_start; /* when the last response was sent */
	struct conn c[MAX_CONNS];
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ustack-http [--root DIR] [--port N] [--requests N] [network options]\n"
		   "An HTTP/1.1 file server on ustack: GET and HEAD of files under DIR.\n"
		   "  --root DIR      what to serve (default: the current folder)\n"
		   "  --port N        default 80\n"
		   "  --requests N    exit after N responses (default: run until killed)\n");
	tool_common_usage(f);
}

static const char *content_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (!dot)
		return "application/octet-stream";
	if (!strcmp(dot, ".html") || !strcmp(dot, ".htm"))
		return "text/html; charset=utf-8";
	if (!strcmp(dot, ".txt"))
		return "text/plain; charset=utf-8";
	if (!strcmp(dot, ".svg"))
		return "image/svg+xml";
	if (!strcmp(dot, ".png"))
		return "image/png";
	if (!strcmp(dot, ".json"))
		return "application/json";
	return "application/octet-stream";
}

static void respond_status(struct conn *c, int code, const char *reason)
{
	char body[128];
	int bl = snprintf(body, sizeof(body), "%d %s\n", code, reason);
	c->hdr_len = (size_t)snprintf(c->hdr, sizeof(c->hdr),
				      "HTTP/1.1 %d %s\r\nServer: ustack-http\r\nContent-Type: text/plain\r\n"
				      "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
				      code, reason, bl, body);
	c->file = -1;
	c->left = 0;
	c->responding = true;
}

/* Opens the file the request path names under root; a negative errno if it
 * would leave the root or is not a regular file. */
static int open_under(const char *root, const char *path, struct stat *sb)
{
	if (path[0] != '/' || strstr(path, "/../") || !strcmp(path, "/..") ||
	    (strlen(path) >= 3 && !strcmp(path + strlen(path) - 3, "/..")))
		return -EACCES;
	char full[PATH_MAX];
	if (snprintf(full, sizeof(full), "%s%s", root, path) >= (int)sizeof(full))
		return -ENAMETOOLONG;
	if (stat(full, sb) == 0 && S_ISDIR(sb->st_mode)) {
		size_t n = strlen(full);
		if (snprintf(full + n, sizeof(full) - n, "%sindex.html", full[n - 1] == '/' ? "" : "/") >=
		    (int)(sizeof(full) - n))
			return -ENAMETOOLONG;
	}
	int fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, sb) || !S_ISREG(sb->st_mode)) {
		close(fd);
		return -EACCES;
	}
	return fd;
}

static void handle_request(struct app *a, struct conn *c)
{
	char method[16], path[4096], version[16];
	if (sscanf(c->req, "%15s %4095s %15s", method, path, version) != 3 || strncmp(version, "HTTP/1.", 7)) {
		respond_status(c, 400, "Bad Request");
		return;
	}
	bool head = !strcmp(method, "HEAD");
	if (!head && strcmp(method, "GET")) {
		respond_status(c, 405, "Method Not Allowed");
		return;
	}
	char *q = strchr(path, '?');
	if (q)
		*q = 0;
	struct stat sb;
	int fd = open_under(a->root, path, &sb);
	if (fd < 0) {
		respond_status(c, fd == -ENOENT ? 404 : 403, fd == -ENOENT ? "Not Found" : "Forbidden");
		return;
	}
	c->hdr_len = (size_t)snprintf(c->hdr, sizeof(c->hdr),
				      "HTTP/1.1 200 OK\r\nServer: ustack-http\r\nContent-Type: %s\r\n"
				      "Content-Length: %lld\r\nConnection: close\r\n\r\n",
				      content_type(path), (long long)sb.st_size);
	c->file = fd;
	c->left = head ? 0 : sb.st_size;
	c->responding = true;
}

/* Sends what the connection can take; returns true when all is sent. */
static bool pump(struct ustack *st, struct conn *c)
{
	while (c->hdr_off < c->hdr_len) {
		ssize_t n = ustack_send(st, c->fd, c->hdr + c->hdr_off, c->hdr_len - c->hdr_off, 0);
		if (n <= 0)
			return n != -EAGAIN;
		c->hdr_off += (size_t)n;
	}
	while (c->left > 0) {
		char buf[65536];
		size_t want = c->left < (off_t)sizeof(buf) ? (size_t)c->left : sizeof(buf);
		/* Read no more than the connection will take, so nothing read
		 * is ever held back: pread at the current offset. */
		int room = ustack_sock_poll(st, c->fd);
		if (!(room & POLLOUT))
			return false;
		off_t pos = lseek(c->file, 0, SEEK_CUR);
		ssize_t r = read(c->file, buf, want);
		if (r <= 0)
			return true;
		ssize_t n = ustack_send(st, c->fd, buf, (size_t)r, 0);
		if (n < 0) {
			if (n == -EAGAIN) {
				lseek(c->file, pos, SEEK_SET);
				return false;
			}
			return true;
		}
		if (n < r)
			lseek(c->file, pos + n, SEEK_SET);
		c->left -= n;
	}
	return true;
}

static int step(void *ctx, ustack_time_t now)
{
	struct app *a = ctx;
	struct ustack *st = a->net.st;
	for (;;) {
		int fd = ustack_accept(st, a->lfd, NULL, NULL);
		if (fd < 0)
			break;
		int i = 0;
		while (i < MAX_CONNS && a->c[i].fd >= 0)
			i++;
		if (i == MAX_CONNS) {
			ustack_close(st, fd);
			continue;
		}
		memset(&a->c[i], 0, sizeof(a->c[i]));
		a->c[i].fd = fd;
		a->c[i].file = -1;
	}
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &a->c[i];
		if (c->fd < 0)
			continue;
		if (!c->responding) {
			ssize_t n = ustack_recv(st, c->fd, c->req + c->req_len, sizeof(c->req) - 1 - c->req_len, 0);
			if (n > 0) {
				c->req_len += (size_t)n;
				c->req[c->req_len] = 0;
				if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n"))
					handle_request(a, c);
				else if (c->req_len >= sizeof(c->req) - 1)
					respond_status(c, 431, "Request Header Fields Too Large");
			} else if (n != -EAGAIN) {
				c->done = true;
			}
		}
		if (c->responding && !c->done && pump(st, c)) {
			c->done = true;
			a->served++;
		}
		if (c->done) {
			ustack_close(st, c->fd);
			if (c->file >= 0)
				close(c->file);
			c->fd = -1;
		}
	}
	if (a->max_requests && a->served >= a->max_requests) {
		/* Let the last responses drain and close before the stack goes. */
		int busy = 0;
		for (int i = 0; i < MAX_CONNS; i++)
			busy += a->c[i].fd >= 0;
		return busy ? 0 : 1;
	}
	return 0;
}

static int drain(void *ctx, ustack_time_t now)
{
	struct app *a = ctx;
	if (!a->drain_start)
		a->drain_start = now;
	return tool_may_exit(&a->net, a->drain_start, now);
}

int main(int argc, char **argv)
{
	struct app a = { .root = ".", .port = 80, .lfd = -1 };
	struct tool_opts o;
	tool_opts_defaults(&o);
	for (int i = 0; i < MAX_CONNS; i++)
		a.c[i].fd = -1;
	for (int i = 1; i < argc; i++) {
		int c = tool_parse_common(&i, argc, argv, &o);
		if (c < 0)
			return 2;
		if (c)
			continue;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--root") && i + 1 < argc) {
			a.root = argv[++i];
		} else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			a.port = (uint16_t)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--requests") && i + 1 < argc) {
			a.max_requests = atol(argv[++i]);
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (tool_net_open(&a.net, &o))
		return 1;
	struct ustack *st = a.net.st;
	a.lfd = ustack_socket(st, AF_INET, SOCK_STREAM, 0);
	int one = 1;
	ustack_setsockopt(st, a.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(a.port) };
	int r = ustack_bind(st, a.lfd, (struct sockaddr *)&sin, sizeof(sin));
	if (!r)
		r = ustack_listen(st, a.lfd, 128);
	if (r) {
		fprintf(stderr, "ustack-http: port %u: %s\n", a.port, strerror(-r));
		tool_net_close(&a.net);
		return 1;
	}
	char ip[16];
	printf("ustack-http: serving %s at http://%s:%u/\n", a.root, tool_ip(o.addr, ip), a.port);
	fflush(stdout);
	r = tool_net_run(&a.net, step, &a, NULL, 0);
	ustack_close(st, a.lfd);
	if (r > 0)
		r = tool_net_run(&a.net, drain, &a, NULL, 0);
	tool_net_close(&a.net);
	return r < 0 ? 1 : 0;
}
