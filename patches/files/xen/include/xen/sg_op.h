/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xen/sg_op.h: what the rest of Xen calls in sg_op (common/sg_*.c).
 */
#ifndef __XEN_SG_OP_H__
#define __XEN_SG_OP_H__

#include <xen/types.h>

struct domain;

#ifdef CONFIG_SG_OP

/*
 * domain_kill(): drop every registration and binding of d; -ERESTART when
 * preempted (call again), 0 when done.  Idempotent.
 */
int sg_domain_release(struct domain *d);

/* _domain_destroy(): release, then free d's sg_op state. */
void sg_domain_free(struct domain *d);

/*
 * domain_soft_reset(), before evtchn_reset(): drop every registration and
 * binding of d, as sg_domain_release() does, but leave d able to make new
 * ones.  -ERESTART when preempted (the continuation calls again with
 * *resuming true), 0 when done; clears *resuming when it finished a
 * continuation of its own, so the stages after it start afresh.
 */
int sg_domain_soft_reset(struct domain *d, bool *resuming);

/* evtchn_close(), with d->event_lock held: drop d's bindings of port. */
void sg_evtchn_close(struct domain *d, unsigned int port);

#else

static inline int sg_domain_release(struct domain *d) { return 0; }
static inline void sg_domain_free(struct domain *d) {}
static inline int sg_domain_soft_reset(struct domain *d, bool *resuming)
{
    return 0;
}
static inline void sg_evtchn_close(struct domain *d, unsigned int port) {}

#endif

#endif /* __XEN_SG_OP_H__ */

/*
 * Local variables:
 * mode: C
 * c-file-style: "BSD"
 * c-basic-offset: 4
 * tab-width: 4
 * indent-tabs-mode: nil
 * End:
 */
