/*
 * The pcap writer: the file format byte by byte, then whole runs on the
 * simulator read back by tshark, which must decode every packet (no
 * malformed ones, good checksums), agree one for one with the JSON trace of
 * the same run on flags, sequence and acknowledgment numbers, lengths and
 * time stamps, and recognise retransmissions on a lossy link.
 *
 * tshark is a test dependency (tests/deps.sh installs it); without it the
 * tests that need it fail and say so, never skip.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ustack/pcap.h>

#include "lib/jsonl.h"
#include "tcapture.h"

/* ---- the format ---- */

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot read %s", path);
	size_t cap = 1 << 16, n = 0;
	uint8_t *b = malloc(cap);
	size_t r;
	while ((r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap)
			b = realloc(b, cap *= 2);
	}
	fclose(f);
	*len = n;
	return b;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static char path[64];

static void temp_file(void)
{
	snprintf(path, sizeof(path), "/tmp/ustack-pcap-XXXXXX");
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
}

static void remove_file(void)
{
	unlink(path);
}

TestSuite(pcap_format, .init = temp_file, .fini = remove_file);

Test(pcap_format, header_nanoseconds)
{
	struct ustack_pcap *w;
	cr_assert_eq(ustack_pcap_open(path, 0, &w), 0);
	cr_assert_eq(ustack_pcap_close(w), 0);
	size_t len;
	uint8_t *b = slurp(path, &len);
	cr_assert_eq(len, 24, "an empty capture is the 24-byte header");
	cr_expect_eq(le32(b), 0xa1b23c4du);
	cr_expect_eq(le16(b + 4), 2);
	cr_expect_eq(le16(b + 6), 4);
	cr_expect_eq(le32(b + 8), 0);
	cr_expect_eq(le32(b + 12), 0);
	cr_expect_eq(le32(b + 16), 65535);
	cr_expect_eq(le32(b + 20), 101, "LINKTYPE_RAW");
	free(b);
}

Test(pcap_format, records_nanoseconds)
{
	struct ustack_pcap *w;
	cr_assert_eq(ustack_pcap_open(path, 0, &w), 0);
	const uint8_t pkt[] = { 0x45, 0, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	cr_assert_eq(ustack_pcap_write(w, USTACK_SEC(3) + 123456789, pkt, sizeof(pkt)), 0);
	cr_assert_eq(ustack_pcap_write(w, USTACK_SEC(4), pkt, 7), 0);
	cr_expect_eq(ustack_pcap_count(w), 2);
	cr_assert_eq(ustack_pcap_close(w), 0);
	size_t len;
	uint8_t *b = slurp(path, &len);
	cr_assert_eq(len, 24 + 16 + sizeof(pkt) + 16 + 7);
	const uint8_t *r = b + 24;
	cr_expect_eq(le32(r), 3);
	cr_expect_eq(le32(r + 4), 123456789, "nanoseconds as they are");
	cr_expect_eq(le32(r + 8), sizeof(pkt));
	cr_expect_eq(le32(r + 12), sizeof(pkt));
	cr_expect_arr_eq(r + 16, pkt, sizeof(pkt));
	r += 16 + sizeof(pkt);
	cr_expect_eq(le32(r), 4);
	cr_expect_eq(le32(r + 4), 0);
	cr_expect_eq(le32(r + 8), 7);
	cr_expect_arr_eq(r + 16, pkt, 7);
	free(b);
}

Test(pcap_format, microseconds_on_request)
{
	struct ustack_pcap *w;
	cr_assert_eq(ustack_pcap_open(path, USTACK_PCAP_USEC, &w), 0);
	uint8_t pkt[20] = { 0x45 };
	cr_assert_eq(ustack_pcap_write(w, USTACK_SEC(7) + 999999999, pkt, sizeof(pkt)), 0);
	cr_assert_eq(ustack_pcap_close(w), 0);
	size_t len;
	uint8_t *b = slurp(path, &len);
	cr_assert_eq(len, 24 + 16 + 20);
	cr_expect_eq(le32(b), 0xa1b2c3d4u);
	cr_expect_eq(le32(b + 24), 7);
	cr_expect_eq(le32(b + 28), 999999,
		     "truncated to the microsecond, never rounded into the next second");
	free(b);
}

Test(pcap_format, gather_list_is_one_packet)
{
	struct ustack_pcap *w;
	cr_assert_eq(ustack_pcap_open(path, 0, &w), 0);
	uint8_t pkt[100];
	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7);
	struct iovec iov[3] = { { pkt, 40 }, { pkt + 40, 0 }, { pkt + 40, 60 } };
	cr_assert_eq(ustack_pcap_write_iov(w, 5, iov, 3), 0);
	cr_assert_eq(ustack_pcap_write(w, 5, pkt, sizeof(pkt)), 0);
	cr_assert_eq(ustack_pcap_close(w), 0);
	size_t len;
	uint8_t *b = slurp(path, &len);
	cr_assert_eq(len, 24 + 2 * (16 + 100));
	cr_expect_arr_eq(b + 24, b + 24 + 116, 116, "pieces or not, the same record");
	cr_expect_arr_eq(b + 40, pkt, 100);
	free(b);
}

Test(pcap_format, snaplen_cuts_but_keeps_the_length)
{
	struct ustack_pcap *w;
	cr_assert_eq(ustack_pcap_open(path, 0, &w), 0);
	size_t big = 70000;
	uint8_t *pkt = calloc(1, big);
	pkt[65534] = 0xAB;
	pkt[65535] = 0xCD;
	cr_assert_eq(ustack_pcap_write(w, 1, pkt, big), 0);
	cr_assert_eq(ustack_pcap_write(w, 2, pkt, 1), 0);
	cr_assert_eq(ustack_pcap_close(w), 0);
	size_t len;
	uint8_t *b = slurp(path, &len);
	cr_assert_eq(len, 24 + 16 + 65535 + 16 + 1);
	cr_expect_eq(le32(b + 24 + 8), 65535, "captured length: the snapshot length");
	cr_expect_eq(le32(b + 24 + 12), 70000, "original length");
	cr_expect_eq(b[24 + 16 + 65534], 0xAB);
	cr_expect_eq(le32(b + 24 + 16 + 65535), 0, "the next record follows the cut");
	cr_expect_eq(le32(b + 24 + 16 + 65535 + 4), 2);
	free(pkt);
	free(b);
}

Test(pcap_format, many_records_cross_the_buffer)
{
	/* More than the writer's buffer holds: flushed in whole records. */
	struct ustack_pcap *w;
	cr_assert_eq(ustack_pcap_open(path, 0, &w), 0);
	uint8_t pkt[1500];
	int n = 2000;
	for (int i = 0; i < n; i++) {
		memset(pkt, i, sizeof(pkt));
		cr_assert_eq(ustack_pcap_write(w, (ustack_time_t)i, pkt, sizeof(pkt)), 0);
	}
	cr_assert_eq(ustack_pcap_close(w), 0);
	size_t len;
	uint8_t *b = slurp(path, &len);
	cr_assert_eq(len, 24 + (size_t)n * (16 + sizeof(pkt)));
	for (int i = 0; i < n; i++) {
		const uint8_t *r = b + 24 + (size_t)i * (16 + sizeof(pkt));
		cr_assert_eq(le32(r + 4), (uint32_t)i);
		cr_assert_eq(r[16], (uint8_t)i);
		cr_assert_eq(r[16 + 1499], (uint8_t)i);
	}
	free(b);
}

Test(pcap_format, errors)
{
	struct ustack_pcap *w = NULL;
	cr_expect_eq(ustack_pcap_open("/nonexistent-dir/x.pcap", 0, &w), -ENOENT);
	cr_expect_eq(ustack_pcap_open(path, 0x80, &w), -EINVAL, "unknown flags");
	cr_expect_null(w);
	/* A full disk is reported, not ignored: at once for the header. */
	if (access("/dev/full", W_OK) == 0)
		cr_expect_eq(ustack_pcap_open("/dev/full", 0, &w), -ENOSPC);
	cr_expect_eq(ustack_pcap_close(NULL), 0);
}

/* ---- read back by tshark ---- */

static void need_tshark(void)
{
	cr_assert_eq(system("command -v tshark >/dev/null 2>&1"), 0,
		     "tshark is not installed: `make deps` (tests/deps.sh) installs it as root, "
		     "or apt-get install tshark");
}

/* Runs a shell command and returns its standard output. */
static char *run(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	cr_assert(p, "popen %s", cmd);
	size_t cap = 1 << 16, n = 0;
	char *out = malloc(cap);
	size_t r;
	while ((r = fread(out + n, 1, cap - n - 1, p)) > 0) {
		n += r;
		if (n + 1 == cap)
			out = realloc(out, cap *= 2);
	}
	out[n] = 0;
	int st = pclose(p);
	cr_assert_eq(st, 0, "`%s` failed (status %d)", cmd, st);
	return out;
}

/* A packet as tshark decodes it. */
struct decoded {
	ustack_time_t t;
	uint32_t src, dst;
	uint16_t sport, dport;
	unsigned flags;
	uint32_t seq, ack, len, win;
	bool retrans, ooo, malformed; /* retrans: plain, fast or spurious */
	int tcp_csum, ip_csum;        /* 1 good, 0 bad, 2 unverified */
};

static uint32_t ip_of(const char *s)
{
	unsigned a, b, c, d;
	cr_assert_eq(sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d), 4, "address %s", s);
	return a << 24 | b << 16 | c << 8 | d;
}

/* "12.345678901" seconds to nanoseconds, exactly. */
static ustack_time_t ns_of(const char *s)
{
	unsigned long long sec = 0, frac = 0;
	int digits = 0;
	const char *dot = strchr(s, '.');
	sec = strtoull(s, NULL, 10);
	if (dot)
		for (const char *p = dot + 1; *p >= '0' && *p <= '9'; p++, digits++)
			frac = frac * 10 + (unsigned)(*p - '0');
	for (; digits < 9; digits++)
		frac *= 10;
	return sec * 1000000000ull + frac;
}

static size_t tshark_decode(const char *pcap, struct decoded **out)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "tshark -n -r %s -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE "
		 "-T fields -E separator=/t -E occurrence=f -e frame.time_epoch -e ip.src -e ip.dst "
		 "-e tcp.srcport -e tcp.dstport -e tcp.flags -e tcp.seq_raw -e tcp.ack_raw -e tcp.len "
		 "-e tcp.window_size_value -e tcp.analysis.retransmission "
		 "-e tcp.analysis.fast_retransmission -e tcp.analysis.spurious_retransmission "
		 "-e tcp.analysis.out_of_order -e _ws.malformed -e tcp.checksum.status "
		 "-e ip.checksum.status 2>/dev/null",
		 pcap);
	char *text = run(cmd);
	size_t n = 0, cap = 64;
	struct decoded *d = malloc(cap * sizeof(*d));
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[17];
		int nf = 0;
		for (char *p = line; nf < 17; nf++) {
			f[nf] = p;
			char *tab = strchr(p, '\t');
			if (!tab) {
				nf++;
				break;
			}
			*tab = 0;
			p = tab + 1;
		}
		cr_assert_eq(nf, 17, "tshark gave %d fields: %s", nf, line);
		if (n == cap)
			d = realloc(d, (cap *= 2) * sizeof(*d));
		struct decoded *x = &d[n++];
		x->t = ns_of(f[0]);
		x->src = ip_of(f[1]);
		x->dst = ip_of(f[2]);
		x->sport = (uint16_t)atoi(f[3]);
		x->dport = (uint16_t)atoi(f[4]);
		x->flags = (unsigned)strtoul(f[5], NULL, 16);
		x->seq = (uint32_t)strtoul(f[6], NULL, 10);
		x->ack = (uint32_t)strtoul(f[7], NULL, 10);
		x->len = (uint32_t)strtoul(f[8], NULL, 10);
		x->win = (uint32_t)strtoul(f[9], NULL, 10);
		x->retrans = f[10][0] || f[11][0] || f[12][0];
		x->ooo = f[13][0] != 0;
		x->malformed = f[14][0] != 0;
		x->tcp_csum = f[15][0] ? atoi(f[15]) : -1;
		x->ip_csum = f[16][0] ? atoi(f[16]) : -1;
	}
	free(text);
	*out = d;
	return n;
}

/* The delivered segments according to the JSON trace: each delivered
 * packet is one seg_in event at its receiver (nothing in these runs is
 * dropped before TCP has parsed it). */
static size_t trace_arrivals(const char *json, struct jsonl_event **out)
{
	struct jsonl_reader r;
	cr_assert_eq(jsonl_open(&r, json), 0, "%s", r.err);
	size_t n = 0, cap = 64;
	struct jsonl_event *ev = malloc(cap * sizeof(*ev)), e;
	int got;
	while ((got = jsonl_next(&r, &e)) > 0) {
		if (e.type != USTACK_EV_SEG_IN)
			continue;
		if (n == cap)
			ev = realloc(ev, (cap *= 2) * sizeof(*ev));
		ev[n++] = e;
	}
	cr_assert_eq(got, 0, "the trace did not read back: %s", r.err);
	jsonl_close(&r);
	*out = ev;
	return n;
}

static void no_malformed(const char *pcap)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "tshark -n -r %s -Y _ws.malformed 2>/dev/null", pcap);
	char *out = run(cmd);
	cr_expect_str_empty(out, "tshark found malformed packets:\n%s", out);
	free(out);
}

/* Holds tshark's reading against the trace, packet by packet. */
static void compare(const struct decoded *d, size_t nd, const struct jsonl_event *ev, size_t nev)
{
	cr_assert_eq(nd, nev, "tshark decoded %zu packets, the trace has %zu arrivals", nd, nev);
	for (size_t i = 0; i < nd; i++) {
		const struct ustack_tcp_segment *s = &ev[i].seg;
		cr_assert_eq(d[i].t, ev[i].t, "packet %zu: time %llu in the capture, %llu in the trace",
			     i + 1, (unsigned long long)d[i].t, (unsigned long long)ev[i].t);
		cr_assert_eq(d[i].src, s->saddr, "packet %zu: source", i + 1);
		cr_assert_eq(d[i].dst, s->daddr, "packet %zu: destination", i + 1);
		cr_assert_eq(d[i].sport, s->sport, "packet %zu: source port", i + 1);
		cr_assert_eq(d[i].dport, s->dport, "packet %zu: destination port", i + 1);
		cr_assert_eq(d[i].flags, s->flags, "packet %zu: flags %#x decoded, %#x traced", i + 1,
			     d[i].flags, s->flags);
		cr_assert_eq(d[i].seq, s->seq, "packet %zu: seq %u decoded, %u traced", i + 1, d[i].seq,
			     s->seq);
		if (s->flags & USTACK_TCP_ACK)
			cr_assert_eq(d[i].ack, s->ack, "packet %zu: ack %u decoded, %u traced", i + 1,
				     d[i].ack, s->ack);
		cr_assert_eq(d[i].len, s->len, "packet %zu: len", i + 1);
		cr_assert_eq(d[i].win, s->window, "packet %zu: window", i + 1);
		cr_assert_not(d[i].malformed, "packet %zu: malformed", i + 1);
		cr_assert_eq(d[i].tcp_csum, 1, "packet %zu: TCP checksum status %d (1 is good)", i + 1,
			     d[i].tcp_csum);
		cr_assert_eq(d[i].ip_csum, 1, "packet %zu: IP checksum status %d (1 is good)", i + 1,
			     d[i].ip_csum);
	}
}

Test(pcap_tshark, clean_run_matches_the_trace)
{
	need_tshark();
	struct tcap c;
	struct ustack_link_params link = { .delay = USTACK_MSEC(5) };
	tcap_init(&c, 7, &link, 0);
	char why[128];
	cr_assert_eq(tcap_story(&c, 20000, 5000, USTACK_SEC(120), why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(tcap_finish(&c), 0);
	struct decoded *d;
	struct jsonl_event *ev;
	size_t nd = tshark_decode(c.pcap_path, &d);
	size_t nev = trace_arrivals(c.json_path, &ev);
	cr_assert_gt(nd, 20, "the story has more than 20 packets, got %zu", nd);
	cr_expect_eq(nd, c.delivered, "every delivered packet is in the capture");
	compare(d, nd, ev, nev);
	/* The story's shape as tshark sees it: SYN, SYN-ACK first; FINs in. */
	cr_expect_eq(d[0].flags, USTACK_TCP_SYN);
	cr_expect_eq(d[1].flags, USTACK_TCP_SYN | USTACK_TCP_ACK);
	int fins = 0, retrans = 0;
	for (size_t i = 0; i < nd; i++) {
		fins += (d[i].flags & USTACK_TCP_FIN) != 0;
		retrans += d[i].retrans;
	}
	cr_expect_eq(fins, 2);
	cr_expect_eq(retrans, 0, "a perfect link has no retransmissions");
	no_malformed(c.pcap_path);
	free(d);
	free(ev);
	tcap_fini(&c);
}

Test(pcap_tshark, microsecond_capture_reads_too)
{
	need_tshark();
	struct tcap c;
	struct ustack_link_params link = { .delay = USTACK_USEC(1500) };
	tcap_init(&c, 3, &link, USTACK_PCAP_USEC);
	char why[128];
	cr_assert_eq(tcap_story(&c, 3000, 100, USTACK_SEC(120), why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(tcap_finish(&c), 0);
	struct decoded *d;
	struct jsonl_event *ev;
	size_t nd = tshark_decode(c.pcap_path, &d);
	size_t nev = trace_arrivals(c.json_path, &ev);
	cr_assert_eq(nd, nev);
	for (size_t i = 0; i < nd; i++)
		cr_assert_eq(d[i].t, ev[i].t / 1000 * 1000, "packet %zu: the time to the microsecond",
			     i + 1);
	no_malformed(c.pcap_path);
	free(d);
	free(ev);
	tcap_fini(&c);
}

/* Sequence space a segment occupies: payload, plus one each for SYN, FIN. */
static uint32_t span(const struct ustack_tcp_segment *s)
{
	return s->len + !!(s->flags & USTACK_TCP_SYN) + !!(s->flags & USTACK_TCP_FIN);
}

/*
 * A lossy link, plus a blackout of the server's packets early on that makes
 * the client resend data the server already has. tshark sees the capture
 * as taken at the receivers, and is held to what it can know from there:
 *
 * - a segment whose sequence space was all delivered before (the blackout's
 *   resends) is a retransmission, and tshark must say so;
 * - a segment that fills a gap (a resend of a lost one: nothing on the link
 *   reorders) must be flagged a retransmission or, when it comes within a
 *   round trip of newer data, out-of-order: tshark's own rule;
 * - nothing tshark calls a retransmission may be a segment its sender sent
 *   only once.
 */
Test(pcap_tshark, lossy_run_shows_retransmissions)
{
	need_tshark();
	struct tcap c;
	struct ustack_link_params link = { .delay = USTACK_MSEC(10), .loss = 0.1 };
	tcap_init(&c, 11, &link, 0);
	c.blackout_at = USTACK_MSEC(40);
	c.blackout_for = USTACK_MSEC(1500);
	char why[128];
	cr_assert_eq(tcap_story(&c, 60000, 20000, USTACK_SEC(900), why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(tcap_finish(&c), 0);
	struct decoded *d;
	struct jsonl_event *ev;
	size_t nd = tshark_decode(c.pcap_path, &d);
	size_t nev = trace_arrivals(c.json_path, &ev);
	compare(d, nd, ev, nev);
	no_malformed(c.pcap_path);

	size_t again = 0, gaps = 0, flagged = 0;
	for (size_t i = 0; i < nd; i++) {
		const struct ustack_tcp_segment *s = &ev[i].seg;
		uint32_t n = span(s);
		bool seen_all = false, below_top = false;
		for (size_t j = 0; j < i && n; j++) {
			const struct ustack_tcp_segment *o = &ev[j].seg;
			uint32_t on = span(o);
			if (o->saddr != s->saddr || o->sport != s->sport || !on)
				continue;
			if ((uint32_t)(s->seq - o->seq) < on && (uint32_t)(s->seq + n - o->seq) <= on)
				seen_all = true;
			if ((int32_t)(s->seq - (o->seq + on)) < 0)
				below_top = true;
		}
		if (seen_all) {
			again++;
			cr_expect(d[i].retrans,
				  "packet %zu (seq %u len %u) was delivered before, yet is not a "
				  "retransmission to tshark",
				  i + 1, s->seq, s->len);
		} else if (below_top) {
			gaps++;
			cr_expect(d[i].retrans || d[i].ooo,
				  "packet %zu (seq %u len %u) fills a gap, yet tshark "
				  "takes it for new data",
				  i + 1, s->seq, s->len);
		}
		if (d[i].retrans) {
			flagged++;
			int sends = 0;
			for (size_t k = 0; k < c.nev; k++) {
				const struct tcap_event *e = &c.ev[k];
				const struct ustack_tcp_segment *o = &e->seg;
				if (e->ev.type == USTACK_EV_SEG_OUT && span(o) && o->saddr == s->saddr &&
				    o->sport == s->sport && o->seq == s->seq)
					sends++;
			}
			cr_expect_gt(sends, 1,
				     "packet %zu (seq %u) called a retransmission, but sent %d time(s)",
				     i + 1, s->seq, sends);
		}
	}
	cr_expect_gt(again, 0, "the blackout makes the client resend what the server has");
	cr_expect_gt(gaps, 0, "10%% loss leaves gaps that resends fill");
	cr_expect_geq(flagged, again);
	cr_expect_gt(ustack_stat(c.client, USTACK_STAT_TCP_RETRANS_SEGS), 0);
	free(d);
	free(ev);
	tcap_fini(&c);
}
