/*
 * Sockets: the BSD socket calls, on a ustack instance.
 *
 * Each call takes the stack first and otherwise mirrors its POSIX namesake,
 * with the same constants (AF_INET, SOCK_STREAM, SOCK_DGRAM, SOL_SOCKET,
 * SO_REUSEADDR, IPPROTO_TCP, TCP_NODELAY, SHUT_WR, MSG_PEEK, ...) and the
 * same errors, returned as a negative errno instead of through errno.
 *
 * SOCK_STREAM sockets are TCP, SOCK_DGRAM sockets UDP. On UDP, one send is
 * one datagram and one receive takes one whole datagram: what does not fit
 * the buffer is discarded, and MSG_TRUNC returns the datagram's real length,
 * as on Linux. A UDP socket takes SO_REUSEADDR, SO_BROADCAST, SO_RCVBUF,
 * SO_SNDBUF, SO_ERROR and SO_TYPE.
 *
 * Every socket is non-blocking: the core never waits. A call that would
 * block returns -EAGAIN (connect: -EINPROGRESS), and the caller waits for
 * readiness with ustack_sock_poll between calls to ustack_input and
 * ustack_poll. Calls act at the stack's current time (ustack_now).
 */
#ifndef USTACK_SOCKET_H
#define USTACK_SOCKET_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <ustack/ustack.h>

/* Linux's value; glibc declares it only under _GNU_SOURCE. */
#ifndef POLLRDHUP
#define POLLRDHUP 0x2000
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What getsockopt(IPPROTO_TCP, TCP_INFO) fills in: a connection's state and
 * the numbers behind its sending, in the spirit of Linux's struct tcp_info
 * but ustack's own layout. Windows and buffers are in bytes.
 */
struct ustack_tcp_info {
	uint8_t state;        /* enum ustack_tcp_state */
	uint8_t ca_state;     /* 0 open, 1 fast recovery, 2 loss (after a timeout) */
	uint8_t retransmits;  /* consecutive timeouts of the current segment */
	uint8_t probes;       /* zero-window or keepalive probes unanswered */
	uint8_t snd_wscale, rcv_wscale;
	uint32_t rto_us, srtt_us, rttvar_us;
	uint32_t snd_mss, rcv_mss;
	uint32_t cwnd, ssthresh; /* ssthresh UINT32_MAX until the first loss */
	uint32_t snd_wnd, rcv_wnd;
	uint32_t unacked;        /* bytes sent and not yet acknowledged */
	uint32_t sendq, recvq;   /* bytes queued */
	uint32_t total_retrans;  /* segments sent again */
	uint64_t bytes_sent, bytes_acked, bytes_received;
	char congestion[16];     /* "cubic" or "reno" */
	/* Loss recovery, as Linux's tcpi_sacked, _lost, _retrans (segments in
	 * flight so marked), tcpi_reordering and tcpi_min_rtt. */
	uint8_t sack_ok;         /* both sides use SACK */
	uint32_t sacked, lost, retrans_out;
	uint32_t reordering;     /* DupThresh, in segments */
	uint32_t min_rtt_us;     /* RACK's minimum RTT; 0 before a sample */
	uint32_t total_lost;     /* segments ever taken for lost */
	uint32_t pmtu;           /* the path MTU snd_mss comes from (Linux's tcpi_pmtu) */
};

USTACK_API int ustack_socket(struct ustack *st, int domain, int type, int protocol);
USTACK_API int ustack_bind(struct ustack *st, int fd, const struct sockaddr *addr, socklen_t len);
USTACK_API int ustack_listen(struct ustack *st, int fd, int backlog);
USTACK_API int ustack_accept(struct ustack *st, int fd, struct sockaddr *addr, socklen_t *len);
USTACK_API int ustack_connect(struct ustack *st, int fd, const struct sockaddr *addr, socklen_t len);
USTACK_API ssize_t ustack_send(struct ustack *st, int fd, const void *buf, size_t len, int flags);
USTACK_API ssize_t ustack_recv(struct ustack *st, int fd, void *buf, size_t len, int flags);
/* On TCP, as send and recv: the address is ignored, and recvfrom reports
 * none (length 0), as Linux does for a stream. */
USTACK_API ssize_t ustack_sendto(struct ustack *st, int fd, const void *buf, size_t len, int flags,
				 const struct sockaddr *addr, socklen_t addrlen);
USTACK_API ssize_t ustack_recvfrom(struct ustack *st, int fd, void *buf, size_t len, int flags,
				   struct sockaddr *addr, socklen_t *addrlen);
USTACK_API int ustack_shutdown(struct ustack *st, int fd, int how);
USTACK_API int ustack_close(struct ustack *st, int fd);
USTACK_API int ustack_getsockname(struct ustack *st, int fd, struct sockaddr *addr, socklen_t *len);
USTACK_API int ustack_getpeername(struct ustack *st, int fd, struct sockaddr *addr, socklen_t *len);
USTACK_API int ustack_setsockopt(struct ustack *st, int fd, int level, int name, const void *val, socklen_t len);
USTACK_API int ustack_getsockopt(struct ustack *st, int fd, int level, int name, void *val, socklen_t *len);

/*
 * Readiness, as poll(2) reports it: POLLIN (data, a FIN, or a connection to
 * accept), POLLOUT (room to send, or a connect that completed), POLLERR (a
 * pending error), POLLHUP (both directions closed) and POLLRDHUP (the peer
 * sent FIN). On UDP: POLLIN while a datagram waits, POLLOUT always,
 * POLLERR while an error waits. Returns the mask, or a negative errno for
 * a bad descriptor.
 */
USTACK_API int ustack_sock_poll(struct ustack *st, int fd);

/* The TCP state of a socket, or a negative errno. A UDP socket is
 * USTACK_TCP_ESTABLISHED while connected, else USTACK_TCP_CLOSED, as Linux
 * keeps its state. */
USTACK_API int ustack_sock_state(struct ustack *st, int fd);

#ifdef __cplusplus
}
#endif
#endif
