/* Metrics: the counters and gauges of sio_metrics (sioc.h), kept twice:
 * in the set of the server that counts them (each HTTP, Engine.IO and
 * Socket.IO server holds one, and sio_server_metrics sums its stack's
 * three) and in the process's totals (sio_metrics_get). Each is an add on
 * the loop thread: no lock, no atomic. A layer counts only its own fields,
 * so the three sets of one stack never count the same thing twice. A core
 * driven by a unit test without a server passes NULL: the process's
 * totals only. */
#ifndef SIO_CORE_METRICS_H
#define SIO_CORE_METRICS_H

#include "sioc.h"

extern sio_metrics sio__metrics;

#define SIO_METRIC_ADD(m, field, n)                                                                \
    do {                                                                                           \
        sio_metrics *m_ = (m);                                                                     \
        uint64_t n_ = (uint64_t)(n);                                                               \
        if (m_ != NULL)                                                                            \
            m_->field += n_;                                                                       \
        sio__metrics.field += n_;                                                                  \
    } while (0)
#define SIO_METRIC_INC(m, field) SIO_METRIC_ADD(m, field, 1)
/* Counts one of two outcomes. */
#define SIO_METRIC_INC_IF(m, cond, yes, no)                                                        \
    do {                                                                                           \
        if (cond)                                                                                  \
            SIO_METRIC_INC(m, yes);                                                                \
        else                                                                                       \
            SIO_METRIC_INC(m, no);                                                                 \
    } while (0)
/* Gauges never go below zero, whatever the order of events. */
#define SIO_METRIC_SUB(m, field, n)                                                                \
    do {                                                                                           \
        sio_metrics *m_ = (m);                                                                     \
        uint64_t n_ = (uint64_t)(n);                                                               \
        if (m_ != NULL)                                                                            \
            m_->field -= n_ < m_->field ? n_ : m_->field;                                          \
        sio__metrics.field -= n_ < sio__metrics.field ? n_ : sio__metrics.field;                   \
    } while (0)
#define SIO_METRIC_DEC(m, field) SIO_METRIC_SUB(m, field, 1)

/* Adds every field of add to sum (the sets of one server's layers). */
void sio__metrics_sum(sio_metrics *sum, const sio_metrics *add);

#endif
