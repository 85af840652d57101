/* The failure path of SIO_ASSERT: see assert.h. */
#include "core/assert.h"

#include <stdio.h>

#if SIO_ASSERT_ON
void sio__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "sioc: assertion failed: %s (%s:%d)\n", expr, file, line);
    __builtin_trap();
}
#endif
