/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sg_private.h: state shared by sg_op.c, sg_reg.c, sg_copy.c and sg_event.c.
 *
 * Lock hierarchy: take in this order, release in the reverse order.
 *
 * L1  sgd->lock (rwlock)      One domain's registrations: its list, counts
 *                             and ID allocator.  Write to add, remove or
 *                             re-arm a registration or to release the
 *                             domain; read to use one (a transfer, resolving
 *                             an address).  A transfer holds it for at most
 *                             SG_HOLD_PIECES page pieces at a time (sg_copy.c)
 *                             and finds the registration again by ID after
 *                             re-taking it.  At most one domain's L1 is held.
 * L2  d->event_lock           Xen's.  Held for read by XEN_SGOP_bind while it
 *                             checks the port and inserts the binding, held
 *                             for write by evtchn_close() when it calls
 *                             sg_evtchn_close() (which takes L3 only).
 * L3  sg_bind_lock (spin)     Every binding: the address tree (one node per
 *                             bound address, O(log n) to find), each domain's
 *                             binding list and count, each registration's
 *                             list of bindings made through it.
 * L4  evtchn->lock (read)     A bound port while it is set pending.
 *
 * Guest pages are acquired (get_page_from_gfn: the p2m lock) before any of
 * these is taken; page references are dropped under L1 or L3 at most.
 *
 * Teardown (sg_domain_release() from domain_kill(), sg_domain_soft_reset()
 * from domain_soft_reset()) is done in bounded steps that return -ERESTART:
 * each takes what it drops off the lists under L1 (registrations) or L3
 * (bindings) first, then drops it with no lock held but L3 for the
 * bindings made through a registration.
 *
 * A registration holds a page reference (and a writable type reference if
 * its peer may write) on each element's page: only its owner's pages.  A
 * binding holds references on its counter's page and, when it is bound to a
 * raw own frame, on that page: only its binder's pages.  Nothing here holds
 * a reference on another domain's page, so no domain is kept a zombie:
 * sg_domain_release(), from domain_kill(), drops all of them.
 */
#ifndef __XEN_COMMON_SG_PRIVATE_H__
#define __XEN_COMMON_SG_PRIVATE_H__

#include <xen/list.h>
#include <xen/mm.h>
#include <xen/rwlock.h>
#include <xen/sched.h>
#include <xen/sg_op.h>
#include <xen/spinlock.h>

#include <public/sg_op.h>

#define LOCKING_L1_read(sgd)    rw_is_locked((rwlock_t *)&(sgd)->lock)
#define LOCKING_L1_write(sgd)   rw_is_write_locked((rwlock_t *)&(sgd)->lock)
#define LOCKING_L3()            spin_is_locked(&sg_bind_lock)

extern spinlock_t sg_bind_lock;

/* One element of a registration or of a transfer's local list. */
struct sg_page {
    struct page_info *page;       /* referenced */
    unsigned int offset;
    unsigned int len;
};

/* sg_reg.state bits */
#define SG_REG_CONSUMED         0

struct sg_reg {
    struct list_head node;        /* owner's sgd->regs: L1 */
    struct list_head bindings;    /* bindings made through it: L3 */
    struct domain *owner;
    uint32_t id;
    domid_t peer;
    uint16_t access;              /* XEN_SG_ACCESS_* */
    uint32_t flags;               /* XEN_SG_REG_* */
    uint64_t peer_gen;            /* the peer's d->sg_gen when registered */
    unsigned long state;          /* SG_REG_*: atomic bit ops */
    uint64_t length;
    unsigned int nr_elems;
    bool writable;                /* pages hold a writable type reference */
    struct sg_page elems[];
};

struct sg_cont;

/*
 * What sg_op allocates from Xen's heap on a domain's behalf and keeps past
 * a call is charged to it (sgd->heap, against max_heap): each registration
 * with its elements, each binding with an address node, each op kept for a
 * continuation.  The sg_domain itself (one per domain, with one pointer per
 * vCPU) and arrays that live for one call only (a register's or a
 * transfer's fetched list, at most max_elems) are not.
 */
struct sg_domain {
    rwlock_t lock;                /* L1 */
    struct list_head regs;        /* L1 */
    unsigned int nr_regs;         /* L1 */
    unsigned int pinned_pages;    /* L1 */
    uint32_t next_id;             /* L1: never reused; 0: all used */
    bool dead;                    /* L1: released, takes nothing new */
    bool resetting;               /* L1: a soft reset is under way ... */
    uint32_t reset_last;          /* L1: ... and drops IDs up to this */
    uint32_t reset_continuations; /* L1: soft reset steps that restarted */
    struct list_head bindings;    /* L3 */
    unsigned int nr_bindings;     /* L3 */
    unsigned long heap;           /* bytes charged: sg_heap_charge() */
    unsigned int nr_conts;        /* d->max_vcpus */
    struct sg_cont **conts;       /* per vCPU: sg_copy.c, xchg() */
};

/* sg_op.c */
void sg_limits(struct xen_sg_limits *l);

/*
 * System-wide totals for XEN_SGOP_query_global.  Each counter is kept where
 * its object lives, under that object's lock or atomically.
 */

/* sg_reg.c */
struct sg_domain *sg_domain_get(struct domain *d);
uint64_t sg_domain_gen(struct domain *d);
bool sg_heap_charge(struct sg_domain *sgd, unsigned long bytes);
void sg_heap_uncharge(struct sg_domain *sgd, unsigned long bytes);
int sg_get_own_page(struct domain *d, uint64_t frame, bool writable,
                    struct page_info **pagep);
void sg_put_own_page(struct page_info *page, bool writable);
int sg_check_elem(const struct xen_sg_elem *e);
struct sg_reg *sg_find_reg(const struct sg_domain *sgd, uint32_t id);
bool sg_reg_names(const struct sg_reg *reg, const struct domain *d);
void sg_reg_locate(const struct sg_reg *reg, uint64_t offset,
                   unsigned int *elem, unsigned int *elem_off);
void sg_domain_usage(const struct domain *d, struct xen_sg_usage *u);
uint32_t sg_domain_reset_continuations(const struct domain *d);
long sg_register(XEN_GUEST_HANDLE_PARAM(xen_sg_register_t) uarg);
long sg_unregister(XEN_GUEST_HANDLE_PARAM(xen_sg_id_t) uarg);
long sg_rearm(XEN_GUEST_HANDLE_PARAM(xen_sg_id_t) uarg);
long sg_query_global(XEN_GUEST_HANDLE_PARAM(xen_sg_global_t) uarg);

/* sg_copy.c */
long sg_transfer(XEN_GUEST_HANDLE_PARAM(xen_sg_transfer_batch_t) uarg,
                 unsigned int progress);
void sg_copy_global(struct xen_sg_global *g);
void sg_cont_drop_all(struct domain *d);

/* sg_event.c */
unsigned int sg_fire(mfn_t mfn, unsigned int offset, struct domain *d);
void sg_event_reg_gone(struct sg_reg *reg);
bool sg_event_domain_gone(struct domain *d, unsigned int max);
unsigned int sg_event_usage(const struct domain *d);
void sg_event_global(struct xen_sg_global *g);
long sg_bind(XEN_GUEST_HANDLE_PARAM(xen_sg_bind_t) uarg);
long sg_unbind(XEN_GUEST_HANDLE_PARAM(xen_sg_unbind_t) uarg);
long sg_trigger(XEN_GUEST_HANDLE_PARAM(xen_sg_trigger_t) uarg);

#endif /* __XEN_COMMON_SG_PRIVATE_H__ */

/*
 * Local variables:
 * mode: C
 * c-file-style: "BSD"
 * c-basic-offset: 4
 * tab-width: 4
 * indent-tabs-mode: nil
 * End:
 */
