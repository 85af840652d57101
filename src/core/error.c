/* sio_strerror: one line per code, kept in the order of the enum. */
#include "sioc.h"

const char *sio_strerror(int err)
{
    switch (err) {
    case SIO_OK:
        return "success";
    case SIO_ENOMEM:
        return "out of memory";
    case SIO_EINVAL:
        return "invalid argument";
    case SIO_EPROTO:
        return "protocol error";
    case SIO_ELIMIT:
        return "limit exceeded";
    case SIO_EAGAIN:
        return "resource temporarily unavailable";
    case SIO_ECLOSED:
        return "closed";
    case SIO_ENOTFOUND:
        return "not found";
    case SIO_EIO:
        return "i/o error";
    case SIO_ETIMEDOUT:
        return "timed out";
    case SIO_EBUSY:
        return "busy";
    case SIO_EADDRINUSE:
        return "address already in use";
    case SIO_EEXIST:
        return "already exists";
    case SIO_EACCES:
        return "access denied";
    case SIO_ENOTSUP:
        return "not supported";
    default:
        return "unknown error";
    }
}
