/*
 * The capture fixture: see tcapture.h.
 */
#include "tcapture.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ustack/socket.h>

static void tap(void *ctx, ustack_time_t t, const void *pkt, size_t len)
{
	struct tcap *c = ctx;
	c->delivered++;
	if (ustack_pcap_write(c->pcap, t, pkt, len))
		c->failed = true;
}

static void on_event(void *ctx, const struct ustack_event *ev)
{
	struct tcap *c = ctx;
	const char *host = ev->stack == c->client ? "client" : "server";
	char line[USTACK_EVENT_JSON_MAX];
	int n = ustack_event_json(ev, host, line, sizeof(line));
	if (c->json && (n < 0 || (size_t)n >= sizeof(line) || fprintf(c->json, "%s\n", line) < 0))
		c->failed = true;
	if (c->nev == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 256;
		struct tcap_event *p = realloc(c->ev, ncap * sizeof(*p));
		if (!p)
			abort();
		c->ev = p;
		c->cap = ncap;
	}
	struct tcap_event *e = &c->ev[c->nev++];
	memset(e, 0, sizeof(*e));
	e->ev = *ev;
	e->host = host;
	if (ev->seg) {
		e->seg = *ev->seg;
		e->ev.seg = &e->seg;
	}
	if (ev->cause) {
		snprintf(e->cause, sizeof(e->cause), "%s", ev->cause);
		e->ev.cause = e->cause;
	}
}

static void temp_path(char *buf, size_t size, const char *suffix)
{
	snprintf(buf, size, "/tmp/ustack-test-XXXXXX%s", suffix);
	int fd = mkstemps(buf, (int)strlen(suffix));
	if (fd < 0)
		abort();
	close(fd);
}

void tcap_init(struct tcap *c, uint64_t seed, const struct ustack_link_params *link, unsigned pcap_flags)
{
	memset(c, 0, sizeof(*c));
	temp_path(c->pcap_path, sizeof(c->pcap_path), ".pcap");
	temp_path(c->json_path, sizeof(c->json_path), ".jsonl");
	if (ustack_pcap_open(c->pcap_path, pcap_flags, &c->pcap) || !(c->json = fopen(c->json_path, "w")))
		abort();
	if (ustack_sim_create(seed, &c->sim))
		abort();
	struct ustack_config cfg = { .addr = TCAP_CLIENT, .trace = on_event, .trace_ctx = c };
	if (ustack_sim_add_stack(c->sim, &cfg, &c->client))
		abort();
	cfg.addr = TCAP_SERVER;
	if (ustack_sim_add_stack(c->sim, &cfg, &c->server))
		abort();
	if (link && ustack_sim_set_path(c->sim, TCAP_CLIENT, TCAP_SERVER, link))
		abort();
	if (link)
		c->link = *link;
	ustack_sim_set_tap(c->sim, tap, c);
}

static struct sockaddr_in sin_of(uint32_t addr, uint16_t port)
{
	struct sockaddr_in s = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(addr) };
	return s;
}

int tcap_story(struct tcap *c, size_t up, size_t down, ustack_time_t limit, char *why, size_t whysize)
{
	struct ustack *cl = c->client, *sv = c->server;
	ustack_time_t start = ustack_sim_now(c->sim), end = start + limit;
	int blackout = c->blackout_for ? 0 : 2; /* 0 before, 1 during, 2 after */
	int lfd = ustack_socket(sv, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = sin_of(0, TCAP_PORT);
	if (lfd < 0 || ustack_bind(sv, lfd, (struct sockaddr *)&a, sizeof(a)) || ustack_listen(sv, lfd, 4)) {
		snprintf(why, whysize, "server socket");
		return -1;
	}
	int cfd = ustack_socket(cl, AF_INET, SOCK_STREAM, 0);
	a = sin_of(TCAP_SERVER, TCAP_PORT);
	if (cfd < 0 || ustack_connect(cl, cfd, (struct sockaddr *)&a, sizeof(a)) != -EINPROGRESS) {
		snprintf(why, whysize, "connect");
		return -1;
	}
	int sfd = -1;
	size_t sent_up = 0, got_up = 0, sent_down = 0, got_down = 0;
	bool client_closed = false, server_closed = false;
	static uint8_t buf[65536];
	while (ustack_sim_now(c->sim) < end) {
		ustack_time_t now = ustack_sim_now(c->sim);
		if (blackout == 0 && now >= start + c->blackout_at) {
			struct ustack_link_params dead = c->link;
			dead.loss = 1;
			ustack_sim_set_link(c->sim, TCAP_SERVER, TCAP_CLIENT, &dead);
			blackout = 1;
		} else if (blackout == 1 && now >= start + c->blackout_at + c->blackout_for) {
			ustack_sim_set_link(c->sim, TCAP_SERVER, TCAP_CLIENT, &c->link);
			blackout = 2;
		}
		if (sfd < 0 && (sfd = ustack_accept(sv, lfd, NULL, NULL)) >= 0)
			ustack_close(sv, lfd);
		/* Bytes carry their offset, so a misplaced one would show. */
		while (!client_closed && sent_up < up && (ustack_sock_poll(cl, cfd) & POLLOUT)) {
			size_t n = up - sent_up < sizeof(buf) ? up - sent_up : sizeof(buf);
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)(sent_up + i);
			ssize_t r = ustack_send(cl, cfd, buf, n, 0);
			if (r <= 0)
				break;
			sent_up += (size_t)r;
		}
		if (sfd >= 0 && !server_closed) {
			ssize_t r;
			while ((r = ustack_recv(sv, sfd, buf, sizeof(buf), 0)) > 0)
				got_up += (size_t)r;
			while (got_up == up && sent_down < down) {
				size_t n = down - sent_down < sizeof(buf) ? down - sent_down : sizeof(buf);
				memset(buf, 'd', n);
				r = ustack_send(sv, sfd, buf, n, 0);
				if (r <= 0)
					break;
				sent_down += (size_t)r;
			}
			if (got_up == up && sent_down == down) {
				ustack_close(sv, sfd); /* the server closes first */
				server_closed = true;
			}
		}
		if (!client_closed) {
			ssize_t r;
			while ((r = ustack_recv(cl, cfd, buf, sizeof(buf), 0)) > 0)
				got_down += (size_t)r;
			if (r == 0 && got_down == down) {
				ustack_close(cl, cfd);
				client_closed = true;
			}
		}
		if (!ustack_sim_step(c->sim))
			break;
	}
	if (!client_closed || !server_closed) {
		snprintf(why, whysize, "story unfinished: up %zu/%zu, down %zu/%zu", got_up, up, got_down,
			 down);
		return -1;
	}
	return 0;
}

int tcap_finish(struct tcap *c)
{
	int err = 0;
	ustack_sim_set_tap(c->sim, NULL, NULL);
	if (c->pcap)
		err = ustack_pcap_close(c->pcap);
	c->pcap = NULL;
	if (c->json && fclose(c->json) && !err)
		err = -EIO;
	c->json = NULL;
	if (c->failed && !err)
		err = -EIO;
	return err;
}

void tcap_fini(struct tcap *c)
{
	tcap_finish(c);
	/* Destroying the stacks may still trace; nothing records it now. */
	ustack_sim_destroy(c->sim);
	unlink(c->pcap_path);
	unlink(c->json_path);
	free(c->ev);
}
