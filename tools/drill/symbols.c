/*
 * The names a script may use, with Linux's values (the stack takes the same
 * constants as POSIX on Linux, so these are the C library's own), and the
 * lists of what this runner can and cannot do.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include <ustack/socket.h>

#include "drill.h"

struct sym {
	const char *name;
	int64_t val;
};

#define S(x)                     \
	{                        \
#x, (int64_t)(x) \
	}

static const struct sym errnos[] = {
	S(EPERM),	    S(ENOENT),		S(EINTR),	 S(EIO),	  S(EBADF),
	S(EAGAIN),	    S(EWOULDBLOCK),	S(ENOMEM),	 S(EACCES),	  S(EFAULT),
	S(EBUSY),	    S(EEXIST),		S(ENODEV),	 S(EINVAL),	  S(ENFILE),
	S(EMFILE),	    S(ENOSPC),		S(EPIPE),	 S(ERANGE),	  S(ENOSYS),
	S(ENOTSOCK),	    S(EDESTADDRREQ),	S(EMSGSIZE),	 S(EPROTOTYPE),	  S(ENOPROTOOPT),
	S(EPROTONOSUPPORT), S(ESOCKTNOSUPPORT), S(EOPNOTSUPP),	 S(EPFNOSUPPORT), S(EAFNOSUPPORT),
	S(EADDRINUSE),	    S(EADDRNOTAVAIL),	S(ENETDOWN),	 S(ENETUNREACH),  S(ENETRESET),
	S(ECONNABORTED),    S(ECONNRESET),	S(ENOBUFS),	 S(EISCONN),	  S(ENOTCONN),
	S(ESHUTDOWN),	    S(ETIMEDOUT),	S(ECONNREFUSED), S(EHOSTDOWN),	  S(EHOSTUNREACH),
	S(EALREADY),	    S(EINPROGRESS),	S(ENOTSUP),	 S(EPROTO),	  S(ENODATA),
	S(ENOTTY),
};

static const struct sym consts[] = {
	S(AF_INET),
	S(AF_UNSPEC),
	S(AF_INET6),
	S(PF_INET),
	S(SOCK_STREAM),
	S(SOCK_DGRAM),
	S(SOCK_RAW),
	S(SOCK_NONBLOCK),
	S(SOCK_CLOEXEC),
	S(IPPROTO_IP),
	S(IPPROTO_TCP),
	S(IPPROTO_UDP),
	S(IPPROTO_ICMP),
	{ "SOL_TCP", IPPROTO_TCP },
	{ "SOL_UDP", IPPROTO_UDP },
	{ "SOL_IP", IPPROTO_IP },
	S(SOL_SOCKET),
	S(SHUT_RD),
	S(SHUT_WR),
	S(SHUT_RDWR),
	S(F_GETFL),
	S(F_SETFL),
	S(F_GETFD),
	S(F_SETFD),
	S(FD_CLOEXEC),
	S(O_RDONLY),
	S(O_WRONLY),
	S(O_RDWR),
	S(O_NONBLOCK),
	S(POLLIN),
	S(POLLPRI),
	S(POLLOUT),
	S(POLLERR),
	S(POLLHUP),
	S(POLLNVAL),
	S(POLLRDHUP),
	S(POLLRDNORM),
	S(POLLRDBAND),
	S(POLLWRNORM),
	S(POLLWRBAND),
	S(MSG_PEEK),
	S(MSG_DONTWAIT),
	S(MSG_WAITALL),
	S(MSG_TRUNC),
	S(MSG_MORE),
	S(MSG_OOB),
	S(MSG_NOSIGNAL),
	S(MSG_EOR),
	S(INADDR_ANY),
	S(SO_REUSEADDR),
	S(SO_LINGER),
	S(SO_KEEPALIVE),
	S(SO_RCVBUF),
	S(SO_SNDBUF),
	S(SO_ERROR),
	S(SO_TYPE),
	S(SO_ACCEPTCONN),
	S(SO_BROADCAST),
	S(TCP_NODELAY),
	S(TCP_MAXSEG),
	S(TCP_KEEPIDLE),
	S(TCP_KEEPINTVL),
	S(TCP_KEEPCNT),
	S(TCP_CONGESTION),
	{ "NULL", 0 },
};

/* Linux options a script may set that ustack does not have: running the
 * script would test the runner, not the stack. */
static const char *const unsupported_sockopts[] = {
	"SO_REUSEPORT",
	"SO_RCVLOWAT",
	"SO_SNDLOWAT",
	"SO_RCVTIMEO",
	"SO_SNDTIMEO",
	"SO_PRIORITY",
	"SO_MARK",
	"SO_ZEROCOPY",
	"SO_TIMESTAMP",
	"SO_TIMESTAMPNS",
	"SO_TIMESTAMPING",
	"SO_OOBINLINE",
	"SO_MAX_PACING_RATE",
	"SO_INCOMING_CPU",
	"SO_BINDTODEVICE",
	"SO_DEBUG",
	"SO_DONTROUTE",
	"SO_RCVBUFFORCE",
	"SO_SNDBUFFORCE",
	"SO_PEEK_OFF",
	"SO_BUSY_POLL",
	"SO_TXTIME",
	"TCP_CORK",
	"TCP_QUICKACK",
	"TCP_DEFER_ACCEPT",
	"TCP_USER_TIMEOUT",
	"TCP_FASTOPEN",
	"TCP_FASTOPEN_CONNECT",
	"TCP_FASTOPEN_KEY",
	"TCP_FASTOPEN_NO_COOKIE",
	"TCP_NOTSENT_LOWAT",
	"TCP_INQ",
	"TCP_INFO",
	"TCP_CC_INFO",
	"TCP_SAVE_SYN",
	"TCP_SAVED_SYN",
	"TCP_WINDOW_CLAMP",
	"TCP_LINGER2",
	"TCP_SYNCNT",
	"TCP_MD5SIG",
	"TCP_MD5SIG_EXT",
	"TCP_THIN_LINEAR_TIMEOUTS",
	"TCP_THIN_DUPACK",
	"TCP_REPAIR",
	"TCP_REPAIR_QUEUE",
	"TCP_QUEUE_SEQ",
	"TCP_REPAIR_OPTIONS",
	"TCP_TIMESTAMP",
	"TCP_ULP",
	"TCP_ZEROCOPY_RECEIVE",
	"TCP_TX_DELAY",
	"TCP_AO_ADD_KEY",
	"IP_TOS",
	"IP_TTL",
	"IP_RECVERR",
	"IP_MTU_DISCOVER",
	"IP_MTU",
	"IP_PKTINFO",
	"IP_RECVTOS",
	"IP_FREEBIND",
	"IP_TRANSPARENT",
	"IP_BIND_ADDRESS_NO_PORT",
	"IP_LOCAL_PORT_RANGE",
	"IPV6_V6ONLY",
	"IPV6_TCLASS",
	"IPV6_RECVERR",
	"UDP_CORK",
	"UDP_SEGMENT",
	"UDP_GRO",
	"SO_TXREHASH",
	"SO_RESERVE_MEM",
	"TCP_MAXSEG_SET",
};

/* The system calls run.c performs. */
static const char *const syscalls[] = {
	"socket", "bind",     "listen", "accept",   "connect",	  "read",	"write", "send", "recv",
	"sendto", "recvfrom", "close",	"shutdown", "setsockopt", "getsockopt", "fcntl", "poll",
};

bool sym_lookup(const char *name, int64_t *val)
{
	for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++) {
		if (strcmp(consts[i].name, name) == 0) {
			*val = consts[i].val;
			return true;
		}
	}
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
		if (strcmp(errnos[i].name, name) == 0) {
			*val = errnos[i].val;
			return true;
		}
	}
	return false;
}

const char *errno_name(int err)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (errnos[i].val == err)
			return errnos[i].name;
	return NULL;
}

bool sym_unsupported_sockopt(const char *name)
{
	for (size_t i = 0; i < sizeof(unsupported_sockopts) / sizeof(unsupported_sockopts[0]); i++)
		if (strcmp(unsupported_sockopts[i], name) == 0)
			return true;
	return false;
}

bool sym_supported_syscall(const char *name)
{
	for (size_t i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++)
		if (strcmp(syscalls[i], name) == 0)
			return true;
	return false;
}
