/* Error codes shared by every layer.
 *
 * The public values live in include/sioc.h (SIO_E*); this header only
 * re-exports them to internal modules so that core code does not need the
 * whole public API. Every fallible function returns 0 (or a length) on
 * success and one of these negative codes on failure; errno is never used to
 * carry an error across a module boundary. */
#ifndef SIO_CORE_ERROR_H
#define SIO_CORE_ERROR_H

#include "sioc.h"

#endif
