/*
 * A bounded text buffer for the formatters: appends never write past the
 * end, and len keeps counting what would have been written, as snprintf
 * does, so a caller learns the size it needed.
 */
#ifndef US_TRACE_BUF_H
#define US_TRACE_BUF_H

#include <stddef.h>

struct us_buf {
	char *p;
	size_t size, len;
};

__attribute__((format(printf, 2, 3))) void us_buf_put(struct us_buf *b, const char *fmt, ...);

#endif
