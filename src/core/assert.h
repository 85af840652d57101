/* Assertions on invariants, in the manner of SQLite's assert(): checked in
 * debug and sanitizer builds (NDEBUG unset, or SIO_DEBUG defined), compiled
 * out of release builds, where they cost nothing.
 *
 * An assertion states what the code relies on (a table's load factor, a
 * buffer holding at most one frame), never what input may do: bad input
 * gets an error code, not an assertion. A failed assertion is a bug in
 * sioc, so it stops the program where the invariant broke, with the
 * expression and its place, which is what a fuzzer or a sanitizer run
 * wants to see. */
#ifndef SIO_CORE_ASSERT_H
#define SIO_CORE_ASSERT_H

#if !defined(NDEBUG) || defined(SIO_DEBUG)
#define SIO_ASSERT_ON 1
/* Reports the failed expression and traps (debug builds only). */
void sio__assert_fail(const char *expr, const char *file, int line);
#define SIO_ASSERT(x) ((x) ? (void)0 : sio__assert_fail(#x, __FILE__, __LINE__))
#else
#define SIO_ASSERT_ON 0
#define SIO_ASSERT(x) ((void)0)
#endif

#endif
