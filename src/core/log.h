/* Logging: the library's debug lines, by category and level.
 *
 * SIO_LOG(category, level, fmt, ...) costs one load and compare when the
 * category is off (the default): nothing is formatted and no argument is
 * evaluated past the check. When on, the line is formatted into a stack
 * buffer (truncated at SIO_LOG_LINE_MAX) and handed to the program's
 * sio_log_cb, or written to stderr in the format of Node's `debug` package
 * (`<ISO time> sioc:<category> <message>`). The categories on by default
 * come from the DEBUG environment variable, read when the first loop is
 * created unless sio_log_set() was called first (see sioc.h). */
#ifndef SIO_CORE_LOG_H
#define SIO_CORE_LOG_H

#include <stdint.h>

#include "sioc.h"

#define SIO_LOG_LINE_MAX 512

/* Categories on (SIO_LOG_* bits) and the highest level logged. */
extern unsigned sio__log_categories;
extern int sio__log_level;

#define SIO_LOG_ON(cat, level) ((sio__log_categories & (cat)) && (level) <= sio__log_level)

#define SIO_LOG(cat, level, ...)                                                                   \
    do {                                                                                           \
        if (SIO_LOG_ON(cat, level))                                                                \
            sio__log(cat, level, __VA_ARGS__);                                                     \
    } while (0)

/* Formats and emits one line (use SIO_LOG, which checks first). */
void sio__log(unsigned cat, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reads DEBUG once, unless the program configured logging itself. */
void sio__log_init_from_env(void);

/* The wall clock (ms since the epoch) that stamps the stderr lines. Core
 * reads no clock itself (the sans-I/O rule): the net layer installs its own
 * when it creates a loop; until then, or with NULL, lines are stamped 0
 * (1970-01-01T00:00:00.000Z). Process-wide, as the logger is. */
void sio__log_set_clock(int64_t (*wall_ms)(void));

/* "sioc:engine" for SIO_LOG_ENGINE, etc. */
const char *sio__log_category_name(unsigned cat);

#endif
