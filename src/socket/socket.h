/*
 * The descriptor table: small integers naming sockets, allocated lowest
 * first from 3 as POSIX does after stdio, so that scripts written against
 * Linux ("socket(...) = 3") see the same numbers. A descriptor names a TCP
 * control block or a UDP socket; both begin with struct us_node, whose
 * kind tells which, and every call dispatches on it.
 */
#ifndef US_SOCKET_SOCKET_H
#define US_SOCKET_SOCKET_H

#include <stdint.h>

struct us_node;

#define US_FD_FIRST 3

struct us_socktab {
	struct us_node **v; /* v[fd - US_FD_FIRST] */
	uint32_t cap;
	uint32_t used;
	uint32_t hint; /* no free slot below this index */
};

struct ustack;
int us_fd_alloc(struct ustack *st, struct us_node *n);
void us_fd_release(struct ustack *st, int fd);
void us_socktab_fini(struct ustack *st);

#endif
