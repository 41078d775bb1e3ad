/*
 * Sequence diagrams (tools/lib/diagram.h): the article's story drawn from a
 * live trace, compared with a golden text file; the SVG checked by xmllint
 * and by counting its arrows and state labels; loss and retransmission
 * marked; and, from pcap captures of the simulator, each side's states
 * inferred from the segments alone and compared with the states the stacks
 * themselves reported.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ustack/pcap.h>
#include <ustack/sim.h>
#include <ustack/socket.h>
#include <ustack/trace.h>

#include "lib/diagram.h"

#define CLIENT 0xC6120001u /* 198.18.0.1 */
#define SERVER 0xC6120002u /* 198.18.0.2 */
#define PORT 9999
#define NONE_FOUND ((size_t)-1)

/* ---- two stacks on the simulator, every event recorded ---- */

struct run {
	struct ustack_sim *sim;
	struct ustack *c, *s;
	struct diagram_trace tr;
	char *json; /* the same events as JSON lines */
	size_t json_len;
	FILE *jf;
	struct ustack_pcap *pcap;
	char pcap_path[64];
	int lfd, cfd, sfd;
};

static void on_event(void *ctx, const struct ustack_event *ev)
{
	struct run *r = ctx;
	const char *host = ev->stack == r->c ? "client" : "server";
	cr_assert_eq(diagram_trace_add_ustack(&r->tr, host, ev), 0);
	char line[USTACK_EVENT_JSON_MAX];
	ustack_event_json(ev, host, line, sizeof(line));
	fprintf(r->jf, "%s\n", line);
}

static void run_init(struct run *r, uint64_t seed, bool capture)
{
	memset(r, 0, sizeof(*r));
	diagram_trace_init(&r->tr);
	r->jf = open_memstream(&r->json, &r->json_len);
	cr_assert(r->jf);
	cr_assert_eq(ustack_sim_create(seed, &r->sim), 0);
	struct ustack_config cfg = { .addr = CLIENT, .trace = on_event, .trace_ctx = r };
	cr_assert_eq(ustack_sim_add_stack(r->sim, &cfg, &r->c), 0);
	cfg.addr = SERVER;
	cr_assert_eq(ustack_sim_add_stack(r->sim, &cfg, &r->s), 0);
	struct ustack_link_params link = { .delay = USTACK_MSEC(5) };
	cr_assert_eq(ustack_sim_set_path(r->sim, CLIENT, SERVER, &link), 0);
	if (capture) {
		snprintf(r->pcap_path, sizeof(r->pcap_path), "/tmp/ustack-diagram-XXXXXX");
		int fd = mkstemp(r->pcap_path);
		cr_assert(fd >= 0);
		close(fd);
		cr_assert_eq(ustack_pcap_open(r->pcap_path, 0, &r->pcap), 0);
		ustack_sim_set_tap(r->sim, ustack_pcap_sim_tap, r->pcap);
	}
}

/* Stops recording; the JSON lines are then complete in r->json. */
static void run_stop(struct run *r)
{
	if (r->pcap) {
		ustack_sim_set_tap(r->sim, NULL, NULL);
		cr_assert_eq(ustack_pcap_close(r->pcap), 0);
		r->pcap = NULL;
	}
	if (r->jf) {
		fclose(r->jf);
		r->jf = NULL;
	}
	ustack_sim_destroy(r->sim);
	r->sim = NULL;
}

static void run_fini(struct run *r)
{
	if (r->sim)
		run_stop(r);
	if (r->pcap_path[0])
		unlink(r->pcap_path);
	diagram_trace_free(&r->tr);
	free(r->json);
}

struct wait_ctx {
	struct ustack *st;
	int fd, events;
};

static bool ready(void *p)
{
	struct wait_ctx *w = p;
	return ustack_sock_poll(w->st, w->fd) & w->events;
}

static void wait_for(struct run *r, struct ustack *st, int fd, int events)
{
	struct wait_ctx w = { st, fd, events };
	cr_assert_eq(ustack_sim_run_until(r->sim, ready, &w, USTACK_SEC(30)), 0, "the network went quiet");
}

/* socket(), SO_REUSEADDR, bind(9999), listen(); connect(); accept(). */
static void connect_pair(struct run *r)
{
	int one = 1;
	r->lfd = ustack_socket(r->s, AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(r->lfd, 0);
	cr_assert_eq(ustack_setsockopt(r->s, r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	cr_assert_eq(ustack_bind(r->s, r->lfd, (struct sockaddr *)&any, sizeof(any)), 0);
	cr_assert_eq(ustack_listen(r->s, r->lfd, 1), 0);
	r->cfd = ustack_socket(r->c, AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(r->cfd, 0);
	struct sockaddr_in srv = { .sin_family = AF_INET,
				   .sin_port = htons(PORT),
				   .sin_addr.s_addr = htonl(SERVER) };
	cr_assert_eq(ustack_connect(r->c, r->cfd, (struct sockaddr *)&srv, sizeof(srv)), -EINPROGRESS);
	wait_for(r, r->s, r->lfd, POLLIN);
	r->sfd = ustack_accept(r->s, r->lfd, NULL, NULL);
	cr_assert_geq(r->sfd, 0);
	wait_for(r, r->c, r->cfd, POLLOUT);
}

/* "Hello, world" from the client; the server reads it. */
static void hello(struct run *r)
{
	const char *msg = "Hello, world";
	cr_assert_eq(ustack_send(r->c, r->cfd, msg, strlen(msg), 0), (ssize_t)strlen(msg));
	wait_for(r, r->s, r->sfd, POLLIN);
	char buf[64];
	cr_assert_eq(ustack_recv(r->s, r->sfd, buf, sizeof(buf), 0), (ssize_t)strlen(msg));
}

/* The article's story, as ustack-demo tells it: the server echoes and
 * closes first, the client reads, sees the end and closes; 2MSL later the
 * server's TIME_WAIT ends. */
static void article(struct run *r)
{
	connect_pair(r);
	hello(r);
	char buf[64];
	cr_assert_eq(ustack_send(r->s, r->sfd, "Hello, world", 12, 0), 12);
	cr_assert_eq(ustack_close(r->s, r->sfd), 0);
	wait_for(r, r->c, r->cfd, POLLIN);
	cr_assert_eq(ustack_recv(r->c, r->cfd, buf, sizeof(buf), 0), 12);
	wait_for(r, r->c, r->cfd, POLLRDHUP);
	cr_assert_eq(ustack_recv(r->c, r->cfd, buf, sizeof(buf), 0), 0);
	cr_assert_eq(ustack_close(r->c, r->cfd), 0);
	ustack_sim_run_for(r->sim, USTACK_MSEC(20));
	cr_assert_eq(ustack_close(r->s, r->lfd), 0);
	ustack_sim_run_for(r->sim, USTACK_SEC(61));
}

static char *render(const struct diagram *d, const struct diagram_opts *o, bool svg)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	cr_assert(f);
	cr_assert_eq(svg ? diagram_write_svg(d, o, f) : diagram_write_text(d, o, f), 0);
	fclose(f);
	return out;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static size_t count_events(const struct diagram_trace *tr, enum diagram_ev_kind kind)
{
	size_t n = 0;
	for (size_t i = 0; i < tr->n; i++)
		n += tr->ev[i].kind == kind;
	return n;
}

/* The file written, checked by xmllint, the way a browser would refuse it. */
static void assert_valid_xml(const char *svg)
{
	char path[] = "/tmp/ustack-diagram-svg-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, svg, strlen(svg)), (ssize_t)strlen(svg));
	close(fd);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "xmllint --noout %s", path);
	int st = system(cmd);
	unlink(path);
	cr_assert_eq(st, 0, "xmllint --noout refused the SVG (status %d; is libxml2-utils installed?)", st);
}

static void golden_path(char *buf, size_t size)
{
	/* __FILE__ is tests/unit/test_diagram.c as make passes it: the golden
	 * file is beside the unit folder, relative to where make runs. */
	snprintf(buf, size, "%s", __FILE__);
	char *slash = strrchr(buf, '/');
	*slash = 0;
	slash = strrchr(buf, '/');
	snprintf(slash ? slash + 1 : buf, size - (size_t)(slash ? slash + 1 - buf : 0),
		 "golden/article.txt");
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	fclose(m);
	return buf;
}

/* ---- the article's story ---- */

Test(diagram, article_text_matches_golden)
{
	struct run r;
	run_init(&r, 1, false);
	article(&r);
	struct diagram d;
	char err[256];
	cr_assert_eq(diagram_build(&d, &r.tr, NULL, err, sizeof(err)), 0, "%s", err);
	char *text = render(&d, NULL, false);
	char path[512];
	golden_path(path, sizeof(path));
	if (getenv("USTACK_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");
		cr_assert(f, "%s: %s", path, strerror(errno));
		fputs(text, f);
		fclose(f);
	}
	char *golden = read_file(path);
	cr_assert(golden, "%s: %s (USTACK_UPDATE_GOLDEN=1 writes it)", path, strerror(errno));
	cr_assert_str_eq(text, golden, "the diagram differs from %s:\n%s", path, text);
	free(golden);
	free(text);
	diagram_free(&d);
	run_fini(&r);
}

Test(diagram, article_model)
{
	struct run r;
	run_init(&r, 1, false);
	article(&r);
	struct diagram d;
	char err[256];
	cr_assert_eq(diagram_build(&d, &r.tr, NULL, err, sizeof(err)), 0, "%s", err);
	/* The opener on the left, named as the trace names it. */
	cr_assert_eq(d.side[0].ep.addr, CLIENT);
	cr_assert_eq(d.side[1].ep.addr, SERVER);
	cr_assert_eq(d.side[1].ep.port, PORT);
	cr_assert_str_eq(d.side[0].name, "client");
	cr_assert_str_eq(d.side[1].name, "server");
	cr_assert(!d.capture);
	/* Every segment sent is one arrow, and every one arrived. */
	cr_assert_eq(d.nseg, count_events(&r.tr, DIAGRAM_EV_SEG_OUT));
	cr_assert_eq(d.nseg, 10);
	for (size_t i = 0; i < d.nseg; i++) {
		cr_assert_eq(d.seg[i].know, DIAGRAM_KNOW_SENT | DIAGRAM_KNOW_RECV, "segment %zu", i);
		cr_assert_eq(d.seg[i].t_recv - d.seg[i].t_sent, USTACK_MSEC(5), "segment %zu", i);
		cr_assert_eq(d.seg[i].marks, 0, "segment %zu", i);
	}
	char l[128];
	/* Both stacks offer SACK and timestamps, as Linux does; the TS
	 * values are the segments' own. */
	char want[160];
	const struct ustack_tcp_options *o0 = &d.seg[0].h.opt, *o1 = &d.seg[1].h.opt, *o2 = &d.seg[2].h.opt,
					*o3 = &d.seg[3].h.opt;
	diagram_seg_label(&d, 0, NULL, l, sizeof(l));
	snprintf(want, sizeof(want), "SYN seq=0 win=64240 <mss 1460,sackOK,TS val %u ecr 0,wscale 7>", o0->ts_val);
	cr_assert_str_eq(l, want);
	diagram_seg_label(&d, 1, NULL, l, sizeof(l));
	snprintf(want, sizeof(want), "SYN,ACK seq=0 ack=1 win=65160 <mss 1460,sackOK,TS val %u ecr %u,wscale 7>",
		 o1->ts_val, o0->ts_val);
	cr_assert_str_eq(l, want);
	diagram_seg_label(&d, 2, NULL, l, sizeof(l));
	snprintf(want, sizeof(want), "ACK seq=1 ack=1 win=49152 <TS val %u ecr %u>", o2->ts_val, o1->ts_val);
	cr_assert_str_eq(l, want);
	diagram_seg_label(&d, 3, NULL, l, sizeof(l));
	snprintf(want, sizeof(want), "PSH,ACK seq=1 ack=1 len=12 <TS val %u ecr %u>", o3->ts_val, o1->ts_val);
	cr_assert_str_eq(l, want);
	/* --absolute: the numbers on the wire. */
	struct diagram_opts abs = { .absolute = true };
	diagram_seg_label(&d, 1, &abs, l, sizeof(l));
	snprintf(want, sizeof(want),
		 "SYN,ACK seq=%u ack=%u win=65160 <mss 1460,sackOK,TS val %u ecr %u,wscale 7>", d.seg[1].h.seq,
		 d.seg[0].h.seq + 1, o1->ts_val, o0->ts_val);
	cr_assert_str_eq(l, want);
	cr_assert_neq(d.seg[1].h.seq, 0u);

	/* The states each stack reported, none inferred. */
	static const enum ustack_tcp_state client[] = { USTACK_TCP_SYN_SENT, USTACK_TCP_ESTABLISHED,
							USTACK_TCP_CLOSE_WAIT, USTACK_TCP_LAST_ACK,
							USTACK_TCP_CLOSED };
	static const enum ustack_tcp_state server[] = { USTACK_TCP_SYN_RECEIVED, USTACK_TCP_ESTABLISHED,
							USTACK_TCP_FIN_WAIT_1,   USTACK_TCP_FIN_WAIT_2,
							USTACK_TCP_TIME_WAIT,    USTACK_TCP_CLOSED };
	size_t nc = 0, ns = 0;
	for (size_t i = 0; i < d.nstate; i++) {
		cr_assert(!d.state[i].inferred);
		if (d.state[i].side == 0) {
			cr_assert_lt(nc, 5);
			cr_assert_eq(d.state[i].to, client[nc++]);
		} else {
			cr_assert_lt(ns, 6);
			cr_assert_eq(d.state[i].to, server[ns++]);
		}
	}
	cr_assert_eq(nc, 5);
	cr_assert_eq(ns, 6);
	cr_assert_eq(d.side[0].initial, USTACK_TCP_CLOSED);
	cr_assert_eq(d.side[1].initial, USTACK_TCP_LISTEN);
	diagram_free(&d);
	run_fini(&r);
}

Test(diagram, article_svg)
{
	struct run r;
	run_init(&r, 1, false);
	article(&r);
	struct diagram d;
	char err[256];
	cr_assert_eq(diagram_build(&d, &r.tr, NULL, err, sizeof(err)), 0, "%s", err);
	char *svg = render(&d, NULL, true);
	assert_valid_xml(svg);
	cr_assert_eq(strncmp(svg, "<?xml", 5), 0);
	cr_assert_null(strstr(svg, "<script"));
	/* One arrow per segment on the wire, one label per state change of
	 * the connection (the listener's own are not the connection's). */
	size_t states = 0;
	for (size_t i = 0; i < r.tr.n; i++)
		states += r.tr.ev[i].kind == DIAGRAM_EV_STATE && r.tr.ev[i].rport != 0;
	cr_assert_eq(count(svg, "class=\"arrow"), count_events(&r.tr, DIAGRAM_EV_SEG_OUT));
	cr_assert_eq(count(svg, "class=\"arrow\""), 10);
	cr_assert_eq(count(svg, "class=\"state"), states);
	cr_assert_eq(count(svg, "class=\"state"), 11);
	cr_assert_eq(count(svg, "class=\"state inferred"), 0);
	cr_assert_eq(count(svg, "SYN seq=0 win=64240 &lt;mss 1460,sackOK,TS val "), 1);
	/* TIME_WAIT's bracket, and the 60 s cut out of the picture. */
	cr_assert_eq(count(svg, "TIME_WAIT 2MSL (60 s)"), 1);
	cr_assert_eq(count(svg, "class=\"cut-label\""), 1);
	cr_assert_neq(strstr(svg, "... 59.995 s ..."), NULL);
	/* Compressed: far shorter than 60 s at 8 px per ms. */
	const char *h = strstr(svg, "height=\"");
	cr_assert(h);
	cr_assert_lt(atoi(h + 8), 1200);
	free(svg);
	diagram_free(&d);
	run_fini(&r);
}

Test(diagram, article_text_utf8)
{
	struct run r;
	run_init(&r, 1, false);
	article(&r);
	struct diagram d;
	cr_assert_eq(diagram_build(&d, &r.tr, NULL, NULL, 0), 0);
	struct diagram_opts o = { .utf8 = true };
	char *u = render(&d, &o, false), *a = render(&d, NULL, false);
	/* Ten arrows either way; the same number of lines. */
	cr_assert_eq(count(u, "\u25b6") + count(u, "\u25c0"), 10);
	cr_assert_eq(count(a, ">|") + count(a, "|<"), 10);
	cr_assert_eq(count(u, "\n"), count(a, "\n"));
	cr_assert_null(strstr(u, "--"));
	free(u);
	free(a);
	diagram_free(&d);
	run_fini(&r);
}

/* The JSON-lines trace of the same run draws the same diagram. */
Test(diagram, jsonl_trace_draws_the_same)
{
	struct run r;
	run_init(&r, 1, false);
	article(&r);
	run_stop(&r);
	struct diagram d, dj;
	cr_assert_eq(diagram_build(&d, &r.tr, NULL, NULL, 0), 0);
	FILE *f = fmemopen(r.json, r.json_len, "r");
	cr_assert(f);
	struct diagram_trace tj;
	diagram_trace_init(&tj);
	char err[512];
	cr_assert_eq(diagram_trace_read_jsonl(&tj, f, "trace.jsonl", err, sizeof(err)), 0, "%s", err);
	fclose(f);
	cr_assert_eq(diagram_build(&dj, &tj, NULL, err, sizeof(err)), 0, "%s", err);
	char *a = render(&d, NULL, false), *b = render(&dj, NULL, false);
	cr_assert_str_eq(a, b);
	free(a);
	free(b);
	a = render(&d, NULL, true);
	b = render(&dj, NULL, true);
	cr_assert_str_eq(a, b);
	free(a);
	free(b);

	/* A malformed line is refused with its place. */
	static const char bad[] = "{\"t\":0.000000000,\"host\":\"client\",\"type\":\"state\"\n";
	f = fmemopen((void *)bad, sizeof(bad) - 1, "r");
	struct diagram_trace tb;
	diagram_trace_init(&tb);
	cr_assert_lt(diagram_trace_read_jsonl(&tb, f, "bad.jsonl", err, sizeof(err)), 0);
	cr_assert_eq(strncmp(err, "bad.jsonl:1:", 12), 0, "%s", err);
	fclose(f);
	diagram_trace_free(&tb);
	diagram_trace_free(&tj);
	diagram_free(&dj);
	diagram_free(&d);
	run_fini(&r);
}

/* ---- loss ---- */

static void set_loss(struct run *r, uint32_t from, uint32_t to, double loss)
{
	struct ustack_link_params p = { .delay = USTACK_MSEC(5), .loss = loss };
	cr_assert_eq(ustack_sim_set_link(r->sim, from, to, &p), 0);
}

Test(diagram, lost_and_retransmitted)
{
	struct run r;
	run_init(&r, 1, false);
	connect_pair(&r);
	/* The data segment is lost; once the link is back, its
	 * retransmission arrives. */
	set_loss(&r, CLIENT, SERVER, 1.0);
	cr_assert_eq(ustack_send(r.c, r.cfd, "Hello, world", 12, 0), 12);
	ustack_sim_run_for(r.sim, USTACK_MSEC(50));
	set_loss(&r, CLIENT, SERVER, 0.0);
	wait_for(&r, r.s, r.sfd, POLLIN);
	ustack_sim_run_for(r.sim, USTACK_MSEC(100));

	struct diagram d;
	char err[256];
	cr_assert_eq(diagram_build(&d, &r.tr, NULL, err, sizeof(err)), 0, "%s", err);
	size_t lost = NONE_FOUND, retrans = NONE_FOUND;
	for (size_t i = 0; i < d.nseg; i++) {
		if (d.seg[i].marks & DIAGRAM_LOST) {
			cr_assert_eq(lost, NONE_FOUND, "only one segment was lost");
			lost = i;
		}
		if (d.seg[i].marks & DIAGRAM_RETRANS) {
			cr_assert_eq(retrans, NONE_FOUND, "only one was retransmitted");
			retrans = i;
		}
	}
	cr_assert_neq(lost, NONE_FOUND);
	cr_assert_neq(retrans, NONE_FOUND);
	cr_assert_eq(d.seg[lost].h.len, 12);
	cr_assert_eq(d.seg[lost].know, DIAGRAM_KNOW_SENT);
	cr_assert_eq(d.seg[retrans].h.seq, d.seg[lost].h.seq);
	cr_assert_eq(d.seg[retrans].know, DIAGRAM_KNOW_SENT | DIAGRAM_KNOW_RECV);
	cr_assert_eq(d.seg[retrans].marks, DIAGRAM_RETRANS);
	cr_assert_gt(d.seg[retrans].t_sent, d.seg[lost].t_sent + USTACK_MSEC(150),
		     "after an RTO, not at once");

	char *text = render(&d, NULL, false);
	cr_assert_eq(count(text, "PSH,ACK seq=1 ack=1 len=12 <TS val "), 2, "%s", text);
	cr_assert_eq(count(text, "> (lost) "), 1, "%s", text);
	cr_assert_eq(count(text, "X"), 1, "%s", text);
	cr_assert_eq(count(text, "> (retransmission) ="), 1, "%s", text);
	char *svg = render(&d, NULL, true);
	assert_valid_xml(svg);
	cr_assert_eq(count(svg, "class=\"arrow"), d.nseg);
	cr_assert_eq(count(svg, "class=\"arrow lost\""), 1);
	cr_assert_eq(count(svg, "class=\"arrow retrans\""), 1);
	cr_assert_eq(count(svg, "(retransmission)"), 1);
	free(svg);
	free(text);
	diagram_free(&d);
	run_fini(&r);
}

Test(diagram, lost_syn)
{
	struct run r;
	run_init(&r, 1, false);
	set_loss(&r, CLIENT, SERVER, 1.0);
	int lfd = ustack_socket(r.s, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(PORT) };
	cr_assert_eq(ustack_bind(r.s, lfd, (struct sockaddr *)&any, sizeof(any)), 0);
	cr_assert_eq(ustack_listen(r.s, lfd, 1), 0);
	int cfd = ustack_socket(r.c, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in srv = { .sin_family = AF_INET,
				   .sin_port = htons(PORT),
				   .sin_addr.s_addr = htonl(SERVER) };
	cr_assert_eq(ustack_connect(r.c, cfd, (struct sockaddr *)&srv, sizeof(srv)), -EINPROGRESS);
	ustack_sim_run_for(r.sim, USTACK_MSEC(100));
	set_loss(&r, CLIENT, SERVER, 0.0);
	wait_for(&r, r.c, cfd, POLLOUT);
	ustack_sim_run_for(r.sim, USTACK_MSEC(100));
	/* Accepted, as ustack_destroy frees a child left in the accept queue
	 * twice (tcp_conn.c's us_tcp_fini) when its hash bucket comes first. */
	cr_assert_geq(ustack_accept(r.s, lfd, NULL, NULL), 0);
	struct diagram d;
	cr_assert_eq(diagram_build(&d, &r.tr, NULL, NULL, 0), 0);
	cr_assert_eq(d.nseg, 4);
	cr_assert_eq(d.seg[0].marks, DIAGRAM_LOST);
	cr_assert_eq(d.seg[1].marks, DIAGRAM_RETRANS);
	cr_assert_eq(d.seg[1].h.seq, d.seg[0].h.seq);
	/* The initial RTO (1 s) is longer than the gap worth drawing: it is cut. */
	char *svg = render(&d, NULL, true);
	assert_valid_xml(svg);
	cr_assert_eq(count(svg, "class=\"cut-label\""), 1);
	free(svg);
	diagram_free(&d);
	run_fini(&r);
}

/* ---- states inferred from captures ---- */

static void load_capture(struct run *r, struct diagram_trace *cap)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = fopen(r->pcap_path, "rb");
	cr_assert(f);
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	fclose(m);
	diagram_trace_init(cap);
	char err[256];
	cr_assert_eq(diagram_trace_read_pcap(cap, buf, len, err, sizeof(err)), 0, "%s", err);
	free(buf);
}

/* The states of one side as a string: "CLOSED SYN_SENT ESTABLISHED". */
static void states_of(const struct diagram *d, int side, bool skip_timeouts, char *buf, size_t size)
{
	size_t len = (size_t)snprintf(buf, size, "%s", ustack_tcp_state_name(d->side[side].initial));
	for (size_t i = 0; i < d->nstate; i++) {
		const struct diagram_state *s = &d->state[i];
		/* The end of TIME_WAIT is a timer: nothing on the wire says so. */
		if (s->side != side || (skip_timeouts && s->from == USTACK_TCP_TIME_WAIT))
			continue;
		len += (size_t)snprintf(buf + len, size - len, " %s", ustack_tcp_state_name(s->to));
	}
}

/*
 * Builds the diagram of the capture and checks each side's inferred
 * states against what is expected, and against what the stacks reported in
 * their trace of the same run.
 */
static void check_inferred(struct run *r, const char *client, const char *server)
{
	run_stop(r);
	struct diagram_trace cap;
	load_capture(r, &cap);
	struct diagram dc, dt;
	char err[256], got[256], real[256];
	cr_assert_eq(diagram_build(&dc, &cap, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(diagram_build(&dt, &r->tr, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert(dc.capture);
	cr_assert_eq(dc.side[0].ep.addr, CLIENT);
	cr_assert_str_eq(dc.side[0].name, "client");
	for (size_t i = 0; i < dc.nstate; i++)
		cr_assert(dc.state[i].inferred);
	cr_assert(dc.side[0].initial_inferred && dc.side[1].initial_inferred);
	const char *want[2] = { client, server };
	for (int s = 0; s < 2; s++) {
		states_of(&dc, s, false, got, sizeof(got));
		cr_assert_str_eq(got, want[s], "side %d inferred", s);
		/* A side the trace never saw (a refused SYN's server) has no
		 * states there to compare. */
		bool seen = false;
		for (size_t i = 0; i < dt.nstate; i++)
			seen |= dt.state[i].side == s;
		if (!seen)
			continue;
		states_of(&dt, s, true, real, sizeof(real));
		cr_assert_str_eq(got, real, "side %d: inferred and reported differ", s);
	}
	/* Drawn, the inferred states are marked and explained. */
	char *svg = render(&dc, NULL, true);
	assert_valid_xml(svg);
	cr_assert_eq(count(svg, "class=\"state inferred\""), dc.nstate);
	cr_assert_eq(count(svg, "class=\"arrow"), dc.nseg);
	cr_assert_neq(strstr(svg, "(inferred)"), NULL);
	char *text = render(&dc, NULL, false);
	cr_assert_neq(strstr(text, "* (inferred)"), NULL);
	free(text);
	free(svg);
	diagram_free(&dc);
	diagram_free(&dt);
	diagram_trace_free(&cap);
}

Test(diagram, inferred_handshake)
{
	struct run r;
	run_init(&r, 7, true);
	connect_pair(&r);
	hello(&r);
	ustack_sim_run_for(r.sim, USTACK_MSEC(100));
	check_inferred(&r, "CLOSED SYN_SENT ESTABLISHED", "LISTEN SYN_RECEIVED ESTABLISHED");
	run_fini(&r);
}

Test(diagram, inferred_client_closes_first)
{
	struct run r;
	run_init(&r, 7, true);
	connect_pair(&r);
	hello(&r);
	cr_assert_eq(ustack_close(r.c, r.cfd), 0);
	wait_for(&r, r.s, r.sfd, POLLRDHUP);
	cr_assert_eq(ustack_close(r.s, r.sfd), 0);
	ustack_sim_run_for(r.sim, USTACK_SEC(1));
	check_inferred(&r, "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT",
		       "LISTEN SYN_RECEIVED ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED");
	run_fini(&r);
}

Test(diagram, inferred_server_closes_first)
{
	struct run r;
	run_init(&r, 1, true);
	article(&r);
	check_inferred(&r, "CLOSED SYN_SENT ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED",
		       "LISTEN SYN_RECEIVED ESTABLISHED FIN_WAIT_1 FIN_WAIT_2 TIME_WAIT");
	run_fini(&r);
}

Test(diagram, inferred_simultaneous_close)
{
	struct run r;
	run_init(&r, 7, true);
	connect_pair(&r);
	hello(&r);
	ustack_sim_run_for(r.sim, USTACK_MSEC(100));
	/* Both close at the same instant: the FINs cross. */
	cr_assert_eq(ustack_close(r.c, r.cfd), 0);
	cr_assert_eq(ustack_close(r.s, r.sfd), 0);
	ustack_sim_run_for(r.sim, USTACK_SEC(1));
	check_inferred(&r, "CLOSED SYN_SENT ESTABLISHED FIN_WAIT_1 CLOSING TIME_WAIT",
		       "LISTEN SYN_RECEIVED ESTABLISHED FIN_WAIT_1 CLOSING TIME_WAIT");
	run_fini(&r);
}

Test(diagram, inferred_reset)
{
	struct run r;
	run_init(&r, 7, true);
	connect_pair(&r);
	hello(&r);
	/* SO_LINGER 0: close() aborts with a RST. */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	cr_assert_eq(ustack_setsockopt(r.c, r.cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	cr_assert_eq(ustack_close(r.c, r.cfd), 0);
	ustack_sim_run_for(r.sim, USTACK_SEC(1));
	check_inferred(&r, "CLOSED SYN_SENT ESTABLISHED CLOSED", "LISTEN SYN_RECEIVED ESTABLISHED CLOSED");
	run_fini(&r);
}

Test(diagram, inferred_refused)
{
	struct run r;
	run_init(&r, 7, true);
	int cfd = ustack_socket(r.c, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in srv = { .sin_family = AF_INET,
				   .sin_port = htons(PORT),
				   .sin_addr.s_addr = htonl(SERVER) };
	cr_assert_eq(ustack_connect(r.c, cfd, (struct sockaddr *)&srv, sizeof(srv)), -EINPROGRESS);
	ustack_sim_run_for(r.sim, USTACK_SEC(1));
	/* Nobody listened: the answer is a RST, and the server had no state. */
	check_inferred(&r, "CLOSED SYN_SENT CLOSED", "CLOSED");
	run_fini(&r);
}

/* ---- pcap variants ---- */

static void put32(FILE *f, uint32_t v, bool big)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	if (big) {
		uint8_t t = b[0];
		b[0] = b[3];
		b[3] = t;
		t = b[1];
		b[1] = b[2];
		b[2] = t;
	}
	fwrite(b, 1, 4, f);
}

/*
 * Rewrites a RAW nanosecond capture as another kind: microsecond stamps,
 * an Ethernet header on every packet, the other byte order, or records cut
 * at a snapshot length (76 keeps the SYN's 20 bytes of options and cuts the
 * data).
 */
static char *rewrite_capture(const uint8_t *in, size_t len, bool usec, bool ether, bool big, uint32_t snap,
			     size_t *outlen)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, outlen);
	put32(f, usec ? USTACK_PCAP_MAGIC_USEC : USTACK_PCAP_MAGIC_NSEC, big);
	uint32_t w;
	memcpy(&w, in + 4, 4);
	put32(f, big ? 0x00040002u : w, big); /* version 2.4 */
	put32(f, 0, big);
	put32(f, 0, big);
	put32(f, 65535, big);
	put32(f, ether ? 1 : 101, big);
	for (size_t off = 24; off + 16 <= len;) {
		uint32_t sec, frac, caplen, origlen;
		memcpy(&sec, in + off, 4);
		memcpy(&frac, in + off + 4, 4);
		memcpy(&caplen, in + off + 8, 4);
		memcpy(&origlen, in + off + 12, 4);
		off += 16;
		uint32_t hdr = ether ? 14 : 0, keep = caplen + hdr > snap ? snap : caplen + hdr;
		put32(f, sec, big);
		put32(f, usec ? frac / 1000 : frac, big);
		put32(f, keep, big);
		put32(f, origlen + hdr, big);
		static const uint8_t eth[14] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00 };
		if (ether)
			fwrite(eth, 1, 14, f);
		fwrite(in + off, 1, keep - hdr, f);
		off += caplen;
	}
	fclose(f);
	return out;
}

Test(diagram, pcap_link_types_and_formats)
{
	struct run r;
	run_init(&r, 1, true);
	article(&r);
	run_stop(&r);
	char *raw = read_file(r.pcap_path);
	cr_assert(raw);
	struct stat sb;
	cr_assert_eq(stat(r.pcap_path, &sb), 0);
	struct diagram_trace base;
	diagram_trace_init(&base);
	cr_assert_eq(diagram_trace_read_pcap(&base, raw, (size_t)sb.st_size, NULL, 0), 0);
	cr_assert_eq(base.n, 10);
	struct diagram db;
	cr_assert_eq(diagram_build(&db, &base, NULL, NULL, 0), 0);
	char *want = render(&db, NULL, false);

	static const struct {
		bool usec, ether, big;
		uint32_t snap;
	} kinds[] = { { true, false, false, 65535 },
		      { false, true, false, 65535 },
		      { true, true, true, 65535 },
		      { false, true, false, 76 } };
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t len;
		char *p = rewrite_capture((const uint8_t *)raw, (size_t)sb.st_size, kinds[k].usec,
					  kinds[k].ether, kinds[k].big, kinds[k].snap, &len);
		struct diagram_trace tr;
		diagram_trace_init(&tr);
		char err[256];
		cr_assert_eq(diagram_trace_read_pcap(&tr, p, len, err, sizeof(err)), 0, "kind %zu: %s", k,
			     err);
		cr_assert_eq(tr.n, 10, "kind %zu", k);
		for (size_t i = 0; i < tr.n; i++) {
			cr_assert_eq(tr.ev[i].seg.seq, base.ev[i].seg.seq, "kind %zu", k);
			cr_assert_eq(tr.ev[i].seg.len, base.ev[i].seg.len,
				     "kind %zu: a cut packet keeps its length", k);
		}
		struct diagram d;
		cr_assert_eq(diagram_build(&d, &tr, NULL, NULL, 0), 0);
		char *got = render(&d, NULL, false);
		/* Microsecond stamps of a simulator run lose nothing here: its
		 * times are whole milliseconds. */
		cr_assert_str_eq(got, want, "kind %zu", k);
		free(got);
		diagram_free(&d);
		diagram_trace_free(&tr);
		free(p);
	}

	/* Not a capture, or a broken one: refused with a reason. */
	struct diagram_trace tr;
	diagram_trace_init(&tr);
	char err[256];
	cr_assert_eq(diagram_trace_read_pcap(&tr, "{\"t\":0}\n", 8, err, sizeof(err)), -EINVAL);
	cr_assert_neq(strstr(err, "pcap"), NULL, "%s", err);
	cr_assert_eq(diagram_trace_read_pcap(&tr, raw, (size_t)sb.st_size - 3, err, sizeof(err)), -EINVAL);
	cr_assert_neq(strstr(err, "record 10"), NULL, "%s", err);
	diagram_trace_free(&tr);

	free(want);
	diagram_free(&db);
	diagram_trace_free(&base);
	free(raw);
	run_fini(&r);
}

/* ---- several connections ---- */

Test(diagram, picks_a_connection)
{
	struct run r;
	run_init(&r, 3, false);
	connect_pair(&r);
	/* A second connection from the same client to port 8080. */
	int l2 = ustack_socket(r.s, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(8080) };
	cr_assert_eq(ustack_bind(r.s, l2, (struct sockaddr *)&any, sizeof(any)), 0);
	cr_assert_eq(ustack_listen(r.s, l2, 1), 0);
	int c2 = ustack_socket(r.c, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in srv = { .sin_family = AF_INET,
				   .sin_port = htons(8080),
				   .sin_addr.s_addr = htonl(SERVER) };
	cr_assert_eq(ustack_connect(r.c, c2, (struct sockaddr *)&srv, sizeof(srv)), -EINPROGRESS);
	wait_for(&r, r.c, c2, POLLOUT);
	ustack_sim_run_for(r.sim, USTACK_MSEC(50));
	cr_assert_geq(ustack_accept(r.s, l2, NULL, NULL), 0); /* see lost_syn */

	struct diagram_conn c[4];
	cr_assert_eq(diagram_trace_conns(&r.tr, c, 4), 2);
	cr_assert_eq(c[0].b.port, PORT);
	cr_assert_eq(c[1].b.port, 8080);
	struct diagram d;
	struct diagram_select sel = { .index = 1 };
	cr_assert_eq(diagram_build(&d, &r.tr, &sel, NULL, 0), 0);
	cr_assert_eq(d.side[1].ep.port, 8080);
	cr_assert_eq(d.nseg, 3);
	diagram_free(&d);
	sel = (struct diagram_select){ .port = PORT };
	cr_assert_eq(diagram_build(&d, &r.tr, &sel, NULL, 0), 0);
	cr_assert_eq(d.side[1].ep.port, PORT);
	diagram_free(&d);
	char err[128];
	sel = (struct diagram_select){ .index = 2 };
	cr_assert_eq(diagram_build(&d, &r.tr, &sel, err, sizeof(err)), -ENOENT);
	sel = (struct diagram_select){ .port = 1234 };
	cr_assert_eq(diagram_build(&d, &r.tr, &sel, err, sizeof(err)), -ENOENT);
	cr_assert_str_eq(err, "no connection on port 1234");
	run_fini(&r);
}
