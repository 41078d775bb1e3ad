/*
 * The formatters' bounded buffer: see buf.h.
 */
#include "trace/buf.h"

#include <stdarg.h>
#include <stdio.h>

void us_buf_put(struct us_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = b->len < b->size ? b->size - b->len : 0;
	int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n;
}
