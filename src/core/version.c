/* sio_version: the numbers of include/sioc.h as compiled into the library,
 * so a program can tell which build of libsioc.so.0 it runs against. */
#include "sioc.h"

unsigned sio_version(void)
{
    return SIOC_VERSION_HEX;
}

const char *sio_version_string(void)
{
    return SIOC_VERSION;
}
