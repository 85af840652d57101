/* The system as the sans-I/O cores see it, built by the composition root.
 *
 * eio_attach.c (the Engine.IO core) and sio_attach.c (the Socket.IO core
 * and its adapters) both give their core the same sio__env: the loop's
 * timer wheel, its monotonic clock, the wall clock and the kernel's random
 * bytes (core/random). The first one built in the process also keys
 * core/map's hash (sio__map_seed), before any server made a map. Only this
 * layer reaches core/random. */
#ifndef SIO_SERVER_ENV_H
#define SIO_SERVER_ENV_H

#include "core/env.h"
#include "sioc.h"

/* Fills env for a core running on loop (which must outlive the core). */
void sio__server_env(sio_loop *loop, sio__env *env);

#endif
