/*
 * ustack-demo: the story of the article in ../shared/seed, told by two
 * ustack instances on the simulator. The server listens on 9999; the client
 * connects (three segments), sends "Hello, world"; the server echoes it and
 * closes first (four segments); the server's side waits in TIME_WAIT; a new
 * server cannot bind 9999 until it asks for SO_REUSEADDR.
 *
 * Everything runs on virtual time: the 60 s of TIME_WAIT take microseconds.
 *
 * With --out DIR (what `make demo` passes) the story is also written down:
 * DIR/demo.pcap, every packet as delivered (the simulator's tap), for
 * tshark or Wireshark; DIR/trace.jsonl, every event of both stacks in the
 * format of docs/TRACE-FORMAT.md; and DIR/handshake.svg and .txt, the
 * sequence diagram drawn from those events. Times in the files count from
 * the start of the story, as the printed ones do, so that a packet in the
 * capture and its events in the trace carry the same time.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ustack/pcap.h>
#include <ustack/sim.h>
#include <ustack/socket.h>
#include <ustack/trace.h>

#include "lib/diagram.h"

#define CLIENT_ADDR 0xC6120001u /* 198.18.0.1 */
#define SERVER_ADDR 0xC6120002u /* 198.18.0.2 */
#define PORT 9999

struct demo {
	struct ustack_sim *sim;
	struct ustack *client, *server;
	unsigned fmt;
	bool all;
	ustack_time_t t0;
	/* --out: the capture, the JSON trace and the events for the diagram */
	const char *out;
	struct ustack_pcap *pcap;
	FILE *json;
	unsigned long events;
	bool write_failed;
	struct diagram_trace dtr;
};

struct host {
	const char *name;
	struct ustack *st;
};

/* Every event goes to the files, whatever is printed. */
static void record_event(struct demo *d, const struct ustack_event *ev, const char *host)
{
	if (d->json) {
		struct ustack_event e = *ev;
		e.time -= d->t0;
		char line[USTACK_EVENT_JSON_MAX];
		ustack_event_json(&e, host, line, sizeof(line));
		if (fprintf(d->json, "%s\n", line) < 0)
			d->write_failed = true;
		d->events++;
	}
	if (d->out && diagram_trace_add_ustack(&d->dtr, host, ev))
		d->write_failed = true;
}

static void on_packet(void *ctx, ustack_time_t t, const void *pkt, size_t len)
{
	struct demo *d = ctx;
	if (ustack_pcap_write(d->pcap, t - d->t0, pkt, len))
		d->write_failed = true;
}

static void on_event(void *ctx, const struct ustack_event *ev)
{
	struct demo *d = ctx;
	record_event(d, ev, ev->stack == d->client ? "client" : "server");
	if (!d->all && (ev->type == USTACK_EV_SEG_IN || ev->type == USTACK_EV_DROP))
		return; /* every segment out is the other side's segment in */
	char line[512];
	ustack_event_format(ev, d->fmt | USTACK_FMT_NO_TIME, line, sizeof(line));
	printf("  %9.3f ms  %-6s %s\n", (double)(ev->time - d->t0) / 1e6, ev->stack == d->client ? "client" : "server",
	       line);
}

static void step(const char *title)
{
	printf("\n%s\n", title);
}

static void check(int r, const char *what)
{
	if (r < 0 && r != -EINPROGRESS && r != -EAGAIN) {
		fprintf(stderr, "ustack-demo: %s: %s\n", what, strerror(-r));
		exit(1);
	}
}

struct wait_ctx {
	struct ustack *st;
	int fd;
	int events;
};

static bool ready(void *p)
{
	struct wait_ctx *w = p;
	return ustack_sock_poll(w->st, w->fd) & w->events;
}

/* The blocking call of the article's Python program: run the network
 * until the socket is ready. */
static void wait_for(struct demo *d, struct ustack *st, int fd, int events)
{
	struct wait_ctx w = { st, fd, events };
	if (ustack_sim_run_until(d->sim, ready, &w, USTACK_SEC(10)) != 0) {
		fprintf(stderr, "ustack-demo: the network went quiet\n");
		exit(1);
	}
}

static int print_conn(void *ctx, const struct ustack_conn_info *ci)
{
	char l[32], r[32];
	snprintf(l, sizeof(l), "%u.%u.%u.%u:%u", ci->laddr >> 24, (ci->laddr >> 16) & 255, (ci->laddr >> 8) & 255,
		 ci->laddr & 255, ci->lport);
	snprintf(r, sizeof(r), "%u.%u.%u.%u:%u", ci->raddr >> 24, (ci->raddr >> 16) & 255, (ci->raddr >> 8) & 255,
		 ci->raddr & 255, ci->rport);
	if (ci->rport == 0)
		snprintf(r, sizeof(r), "*:*");
	const struct host *h = ctx;
	printf("    %-6s %-12s %-22s %-22s", h->name, ustack_tcp_state_name(ci->state), l, r);
	if (ci->state == USTACK_TCP_TIME_WAIT)
		printf(" expires in %.3f s", (double)(ci->timer - ustack_now(h->st)) / 1e9);
	printf("\n");
	return 0;
}

static void table(struct demo *d)
{
	printf("    %-6s %-12s %-22s %-22s\n", "host", "state", "local", "remote");
	struct host c = { "client", d->client }, s = { "server", d->server };
	ustack_tcp_foreach(d->client, print_conn, &c);
	ustack_tcp_foreach(d->server, print_conn, &s);
}

static int bind_server(struct demo *d, bool reuse)
{
	int fd = ustack_socket(d->server, AF_INET, SOCK_STREAM, 0);
	check(fd, "socket");
	int one = 1;
	if (reuse)
		check(ustack_setsockopt(d->server, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), "setsockopt");
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	int r = ustack_bind(d->server, fd, (struct sockaddr *)&sin, sizeof(sin));
	printf("    bind(0.0.0.0:%d)%s = %s\n", PORT, reuse ? " with SO_REUSEADDR" : "",
	       r == 0 ? "0" : r == -EADDRINUSE ? "-EADDRINUSE (Address already in use)" : strerror(-r));
	return r == 0 ? fd : (ustack_close(d->server, fd), r);
}

static void usage(void)
{
	printf("usage: ustack-demo [--all] [--absolute] [--seed N] [--out DIR]\n"
	       "  Runs the article's echo story between two ustack instances on the simulator.\n"
	       "  --all       also print segments as received, and drops\n"
	       "  --absolute  absolute sequence numbers instead of relative ones\n"
	       "  --seed N    the simulator's seed (ISNs and ports follow from it)\n"
	       "  --out DIR   also write DIR/demo.pcap (every packet), DIR/trace.jsonl (every\n"
	       "              event, docs/TRACE-FORMAT.md) and DIR/handshake.svg and .txt\n");
}

static void out_path(char *buf, size_t size, const char *dir, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

/* Creates DIR and opens the capture and the trace in it. */
static void open_outputs(struct demo *d)
{
	char path[4096];
	if (mkdir(d->out, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "ustack-demo: %s: %s\n", d->out, strerror(errno));
		exit(1);
	}
	out_path(path, sizeof(path), d->out, "demo.pcap");
	int err = ustack_pcap_open(path, 0, &d->pcap);
	if (err) {
		fprintf(stderr, "ustack-demo: %s: %s\n", path, strerror(-err));
		exit(1);
	}
	ustack_sim_set_tap(d->sim, on_packet, d);
	out_path(path, sizeof(path), d->out, "trace.jsonl");
	d->json = fopen(path, "w");
	if (!d->json) {
		fprintf(stderr, "ustack-demo: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	diagram_trace_init(&d->dtr);
}

/*
 * The sequence diagram of the connection, from the events recorded: the
 * SVG for a browser, the text for a terminal (tools/lib/diagram.h).
 */
static void write_diagrams(struct demo *d)
{
	static const char *const names[] = { "handshake.svg", "handshake.txt" };
	struct diagram_opts opts = { .absolute = d->fmt & USTACK_FMT_ABSOLUTE };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[4096], err[256];
		out_path(path, sizeof(path), d->out, names[i]);
		if (diagram_save(&d->dtr, path, &opts, err, sizeof(err))) {
			fprintf(stderr, "ustack-demo: %s: %s\n", path, err);
			d->write_failed = true;
		}
	}
}

/* Closes the files and says where they are. */
static int close_outputs(struct demo *d)
{
	unsigned long long packets = ustack_pcap_count(d->pcap);
	ustack_sim_set_tap(d->sim, NULL, NULL);
	if (ustack_pcap_close(d->pcap))
		d->write_failed = true;
	if (fclose(d->json))
		d->write_failed = true;
	write_diagrams(d);
	diagram_trace_free(&d->dtr);
	if (d->write_failed) {
		fprintf(stderr, "ustack-demo: could not write everything to %s\n", d->out);
		return 1;
	}
	char pk[64], ev[64];
	snprintf(pk, sizeof(pk), "%llu packets as delivered", packets);
	snprintf(ev, sizeof(ev), "%lu events of both stacks", d->events);
	printf("\nwritten to %s/:\n"
	       "  demo.pcap      %-30s tshark -r %s/demo.pcap, or Wireshark\n"
	       "  trace.jsonl    %-30s docs/TRACE-FORMAT.md\n"
	       "  handshake.svg  %-30s open it in a browser\n"
	       "  handshake.txt  %-30s cat it\n",
	       d->out, pk, d->out, ev, "the sequence diagram", "the same, as text");
	return 0;
}

int main(int argc, char **argv)
{
	struct demo d = { 0 };
	uint64_t seed = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--all"))
			d.all = true;
		else if (!strcmp(argv[i], "--absolute"))
			d.fmt |= USTACK_FMT_ABSOLUTE;
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			d.out = argv[++i];
		else {
			usage();
			return strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	check(ustack_sim_create(seed, &d.sim), "sim");
	struct ustack_config cfg = { .addr = CLIENT_ADDR, .trace = on_event, .trace_ctx = &d };
	check(ustack_sim_add_stack(d.sim, &cfg, &d.client), "client stack");
	cfg.addr = SERVER_ADDR;
	check(ustack_sim_add_stack(d.sim, &cfg, &d.server), "server stack");
	struct ustack_link_params link = { .delay = USTACK_MSEC(5) };
	ustack_sim_set_path(d.sim, CLIENT_ADDR, SERVER_ADDR, &link);
	d.t0 = ustack_sim_now(d.sim);
	if (d.out)
		open_outputs(&d);

	printf("ustack-demo: the article's echo server and client, on a simulated network\n"
	       "client 198.18.0.1, server 198.18.0.2, 5 ms each way; times are virtual; "
	       "seq and ack are relative to each side's ISN\n");

	step("1. The server: socket(), setsockopt(SO_REUSEADDR), bind(9999), listen()");
	int lfd = bind_server(&d, true);
	check(ustack_listen(d.server, lfd, 1), "listen");

	step("2. The client connects: the three-way handshake (SYN seq=x; SYN,ACK seq=y ack=x+1; ACK ack=y+1)");
	int cfd = ustack_socket(d.client, AF_INET, SOCK_STREAM, 0);
	check(cfd, "socket");
	struct sockaddr_in srv = { .sin_family = AF_INET, .sin_port = htons(PORT),
				   .sin_addr.s_addr = htonl(SERVER_ADDR) };
	check(ustack_connect(d.client, cfd, (struct sockaddr *)&srv, sizeof(srv)), "connect");
	wait_for(&d, d.server, lfd, POLLIN);
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	int sfd = ustack_accept(d.server, lfd, (struct sockaddr *)&peer, &plen);
	check(sfd, "accept");
	wait_for(&d, d.client, cfd, POLLOUT);
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
	printf("    server: Connected by ('%s', %u)\n", ip, ntohs(peer.sin_port));

	step("3. The client sends \"Hello, world\"; the server's TCP acknowledges it");
	const char *msg = "Hello, world";
	check((int)ustack_send(d.client, cfd, msg, strlen(msg), 0), "send");
	wait_for(&d, d.server, sfd, POLLIN);
	char buf[1024];
	ssize_t n = ustack_recv(d.server, sfd, buf, sizeof(buf), 0);
	check((int)n, "recv");
	printf("    server: received %zd bytes: %.*s\n", n, (int)n, buf);

	step("4. The server echoes it and closes first: the four-way teardown (FIN; ACK; FIN; ACK)");
	check((int)ustack_send(d.server, sfd, buf, (size_t)n, 0), "send");
	check(ustack_close(d.server, sfd), "close");
	wait_for(&d, d.client, cfd, POLLIN);
	n = ustack_recv(d.client, cfd, buf, sizeof(buf), 0);
	check((int)n, "recv");
	printf("    client: Received %.*s\n", (int)n, buf);
	wait_for(&d, d.client, cfd, POLLRDHUP);
	n = ustack_recv(d.client, cfd, buf, sizeof(buf), 0);
	printf("    client: recv() = %zd: the server has closed; the client closes too\n", n);
	check(ustack_close(d.client, cfd), "close");
	ustack_sim_run_for(d.sim, USTACK_MSEC(20));

	step("5. The side that closed first waits in TIME_WAIT for 2MSL (netstat -an | grep 9999)");
	check(ustack_close(d.server, lfd), "close");
	table(&d);

	step("6. The server restarts while TIME_WAIT holds port 9999");
	bind_server(&d, false);
	int fd2 = bind_server(&d, true);
	printf("    (as on Linux, SO_REUSEADDR works here because the old socket had it set too)\n");
	if (fd2 >= 0)
		ustack_close(d.server, fd2);

	step("7. 2MSL (60 s) later the TIME_WAIT record expires and the port is free");
	ustack_sim_run_for(d.sim, USTACK_SEC(61));
	table(&d);
	int fd3 = bind_server(&d, false);
	if (fd3 >= 0)
		ustack_close(d.server, fd3);

	printf("\nvirtual time elapsed: %.3f s\n", (double)(ustack_sim_now(d.sim) - d.t0) / 1e9);
	int status = d.out ? close_outputs(&d) : 0;
	ustack_sim_destroy(d.sim);
	return status;
}
