/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sg_reg.c: per-domain sg_op state and scatter-gather registrations.
 *
 * A domain's state (struct sg_domain, d->sg_domain) is allocated the first
 * time it registers or binds, never because another domain names
 * it as peer; released from domain_kill() and freed from _domain_destroy().
 * The lock hierarchy is in sg_private.h.
 */

#include <xen/atomic.h>
#include <xen/errno.h>
#include <xen/event.h>
#include <xen/guest_access.h>
#include <xen/lib.h>
#include <xen/mm.h>
#include <xen/nospec.h>
#include <xen/sched.h>
#include <xen/xmalloc.h>
#include <xsm/xsm.h>
#include <asm/p2m.h>

#include "sg_private.h"

static atomic_t sg_live_regs = ATOMIC_INIT(0);       /* all domains */
static atomic_t sg_live_pinned = ATOMIC_INIT(0);     /* their elements */
static atomic_t sg_live_domains = ATOMIC_INIT(0);    /* sg_domain structs */
static uint64_t sg_next_gen = 1;                    /* sg_gen_lock */
static DEFINE_SPINLOCK(sg_gen_lock);

/*
 * d's generation, unique for the life of Xen: a registration records its
 * peer's, so a later domain reusing the peer's domid is not the peer.  It
 * is a field of struct domain, given on first need, so naming a domain as
 * peer allocates nothing in it (issue 12, finding 4).
 */
uint64_t sg_domain_gen(struct domain *d)
{
    uint64_t gen = ACCESS_ONCE(d->sg_gen);

    if ( gen )
        return gen;

    spin_lock(&sg_gen_lock);
    if ( !d->sg_gen )
        d->sg_gen = sg_next_gen++;
    gen = d->sg_gen;
    spin_unlock(&sg_gen_lock);

    return gen;
}

/*
 * Charge bytes of Xen heap to sgd's domain; false (nothing charged) if that
 * would take it past max_heap.  Lock-free: charges and uncharges come from
 * under L1, L3 or no lock at all.
 */
bool sg_heap_charge(struct sg_domain *sgd, unsigned long bytes)
{
    struct xen_sg_limits lim;
    unsigned long old, cur = ACCESS_ONCE(sgd->heap);

    sg_limits(&lim);
    do {
        old = cur;
        if ( bytes > lim.max_heap || old > lim.max_heap - bytes )
            return false;
        cur = cmpxchg(&sgd->heap, old, old + bytes);
    } while ( cur != old );

    return true;
}

void sg_heap_uncharge(struct sg_domain *sgd, unsigned long bytes)
{
    unsigned long old, cur = ACCESS_ONCE(sgd->heap);

    do {
        old = cur;
        ASSERT(old >= bytes);
        cur = cmpxchg(&sgd->heap, old, old - bytes);
    } while ( cur != old );
}

/* A registration of nr elements. */
static unsigned long sg_reg_heap(unsigned int nr)
{
    return sizeof(struct sg_reg) + nr * sizeof(struct sg_page);
}

/*
 * d's state, allocated on first use.  NULL when d is dying (or on -ENOMEM):
 * a dying domain takes nothing new.
 */
struct sg_domain *sg_domain_get(struct domain *d)
{
    struct sg_domain *sgd = ACCESS_ONCE(d->sg_domain);

    if ( sgd )
        return sgd;

    if ( d->is_dying )
        return NULL;

    sgd = xzalloc(struct sg_domain);
    if ( !sgd )
        return NULL;
    sgd->conts = xzalloc_array(struct sg_cont *, d->max_vcpus);
    if ( !sgd->conts )
    {
        xfree(sgd);
        return NULL;
    }

    rwlock_init(&sgd->lock);
    INIT_LIST_HEAD(&sgd->regs);
    INIT_LIST_HEAD(&sgd->bindings);
    sgd->next_id = 1;
    sgd->nr_conts = d->max_vcpus;

    if ( cmpxchg(&d->sg_domain, NULL, sgd) != NULL )
    {
        xfree(sgd->conts);
        xfree(sgd);
        sgd = d->sg_domain;
    }
    else
        atomic_inc(&sg_live_domains);

    /*
     * If d started dying meanwhile, domain_kill() may have released before
     * sgd was installed: it is empty, and sg_domain_free() frees it.
     */
    return sgd;
}

/*
 * Take a reference on a page of d's own RAM named by the frame d uses (MFN
 * for PV, GFN for HVM), and a writable type reference if asked.
 */
int sg_get_own_page(struct domain *d, uint64_t frame, bool writable,
                    struct page_info **pagep)
{
    struct page_info *page;
    p2m_type_t p2mt;
    int rc;

    if ( frame != (unsigned long)frame )
        return -EINVAL;

    rc = check_get_page_from_gfn(d, _gfn(frame), !writable, &p2mt, &page);
    if ( rc )
        return rc == -EAGAIN ? -EAGAIN : -EINVAL;

    /*
     * A Xen-heap page shared with the guest (shared info, grant table
     * frames) is owned by it but is Xen's structure: never a registration,
     * a counter, an address or a copy's page (issue 12, finding 6).
     */
    if ( !mfn_valid(page_to_mfn(page)) || is_xen_heap_page(page) ||
#ifdef CONFIG_X86
         (p2mt != p2m_ram_rw && p2mt != p2m_ram_logdirty)
#else
         p2mt != p2m_ram_rw
#endif
       )
    {
        put_page(page);
        return -EINVAL;
    }

    if ( writable && !get_page_type(page, PGT_writable_page) )
    {
        put_page(page);
        return -EINVAL;
    }

    *pagep = page;
    return 0;
}

void sg_put_own_page(struct page_info *page, bool writable)
{
    if ( writable )
        put_page_and_type(page);
    else
        put_page(page);
}

/* An element lies within one page and is not empty. */
int sg_check_elem(const struct xen_sg_elem *e)
{
    if ( !e->len || e->offset >= PAGE_SIZE || e->len > PAGE_SIZE - e->offset )
        return -EINVAL;
    return 0;
}

struct sg_reg *sg_find_reg(const struct sg_domain *sgd, uint32_t id)
{
    struct sg_reg *reg;

    ASSERT(LOCKING_L1_read(sgd));

    list_for_each_entry ( reg, &sgd->regs, node )
        if ( reg->id == id )
            return reg;

    return NULL;
}

/*
 * Does reg name d as its peer?  The peer's generation tells a domain from a
 * later one that reuses its domid.
 */
bool sg_reg_names(const struct sg_reg *reg, const struct domain *d)
{
    return reg->peer == d->domain_id &&
           ACCESS_ONCE(d->sg_gen) == reg->peer_gen;
}

/* The element holding byte offset of reg, and the offset within it. */
void sg_reg_locate(const struct sg_reg *reg, uint64_t offset,
                   unsigned int *elem, unsigned int *elem_off)
{
    unsigned int i;

    ASSERT(offset < reg->length);

    for ( i = 0; offset >= reg->elems[i].len; i++ )
        offset -= reg->elems[i].len;

    *elem = i;
    *elem_off = offset;
}

/* How many steps of d's soft resets were continued (XEN_SGOP_query). */
uint32_t sg_domain_reset_continuations(const struct domain *d)
{
    struct sg_domain *sgd = ACCESS_ONCE(d->sg_domain);
    uint32_t n;

    if ( !sgd )
        return 0;

    read_lock(&sgd->lock);
    n = sgd->reset_continuations;
    read_unlock(&sgd->lock);

    return n;
}

void sg_domain_usage(const struct domain *d, struct xen_sg_usage *u)
{
    struct sg_domain *sgd = ACCESS_ONCE(d->sg_domain);

    u->regs = 0;
    u->pinned_pages = 0;
    u->bindings = 0;
    u->heap = 0;

    if ( !sgd )
        return;

    read_lock(&sgd->lock);
    u->regs = sgd->nr_regs;
    u->pinned_pages = sgd->pinned_pages;
    read_unlock(&sgd->lock);
    u->heap = min_t(unsigned long, ACCESS_ONCE(sgd->heap), UINT32_MAX);

    u->bindings = sg_event_usage(d);
}

static void sg_reg_free(struct sg_reg *reg)
{
    unsigned int i;

    for ( i = 0; i < reg->nr_elems; i++ )
        sg_put_own_page(reg->elems[i].page, reg->writable);

    atomic_dec(&sg_live_regs);
    atomic_sub(reg->nr_elems, &sg_live_pinned);
    sg_heap_uncharge(reg->owner->sg_domain, sg_reg_heap(reg->nr_elems));
    xfree(reg);
}

/*
 * Would one more registration of nr pages exceed a limit?  IDs are never
 * reused (see sg_register()): once the domain has used all 2^32 - 1, it
 * registers nothing more.
 */
static bool sg_reg_fits(const struct sg_domain *sgd, unsigned int nr,
                        const struct xen_sg_limits *lim)
{
    ASSERT(LOCKING_L1_read(sgd));

    return sgd->next_id && sgd->nr_regs < lim->max_regs &&
           nr <= lim->max_pinned_pages &&
           sgd->pinned_pages <= lim->max_pinned_pages - nr;
}

long sg_register(XEN_GUEST_HANDLE_PARAM(xen_sg_register_t) uarg)
{
    struct domain *d = current->domain, *pd;
    XEN_GUEST_HANDLE_PARAM(xen_sg_elem_t) eh;
    struct sg_domain *sgd;
    struct xen_sg_limits lim;
    struct xen_sg_register r;
    struct xen_sg_elem *elems;
    struct sg_reg *reg;
    unsigned int i, got = 0;
    uint64_t peer_gen = 0, length = 0;
    uint32_t id;
    long rc;

    if ( copy_from_guest(&r, uarg, 1) )
        return -EFAULT;

    if ( (r.flags & ~XEN_SG_REG_ONESHOT) || !r.access ||
         (r.access & ~(XEN_SG_ACCESS_READ | XEN_SG_ACCESS_WRITE)) ||
         !r.nr_elems )
        return -EINVAL;

    sg_limits(&lim);
    if ( r.nr_elems > lim.max_elems )
        return -E2BIG;

    pd = rcu_lock_domain_by_any_id(r.peer);
    if ( !pd )
        return -ESRCH;

    rc = xsm_sg_register(XSM_HOOK, d, pd);
    /* The peer's generation, read while the RCU lock keeps pd. */
    if ( !rc && pd->is_dying )
        rc = -ESRCH;
    if ( !rc )
        peer_gen = sg_domain_gen(pd);
    r.peer = pd->domain_id;
    rcu_unlock_domain(pd);
    if ( rc )
        return rc;

    sgd = sg_domain_get(d);
    if ( !sgd )
        return -ENOMEM;

    /* Every limit and element is checked before any page is taken. */
    read_lock(&sgd->lock);
    rc = sgd->dead ? -ESRCH : sg_reg_fits(sgd, r.nr_elems, &lim) ? 0 : -ENOSPC;
    read_unlock(&sgd->lock);
    if ( rc )
        return rc;

    /* The registration is charged to d's sg_op heap while it lives. */
    if ( !sg_heap_charge(sgd, sg_reg_heap(r.nr_elems)) )
        return -ENOSPC;

    elems = xmalloc_array(struct xen_sg_elem, r.nr_elems);
    reg = xzalloc_flex_struct(struct sg_reg, elems, r.nr_elems);
    if ( !elems || !reg )
    {
        rc = -ENOMEM;
        goto out;
    }

    eh = guest_handle_from_ptr((unsigned long)r.elems, xen_sg_elem_t);
    if ( r.elems != (unsigned long)r.elems ||
         copy_from_guest(elems, eh, r.nr_elems) )
    {
        rc = -EFAULT;
        goto out;
    }

    INIT_LIST_HEAD(&reg->bindings);
    reg->owner = d;
    reg->peer = r.peer;
    reg->peer_gen = peer_gen;
    reg->access = r.access;
    reg->flags = r.flags;
    reg->writable = r.access & XEN_SG_ACCESS_WRITE;
    reg->nr_elems = r.nr_elems;

    for ( i = 0; i < r.nr_elems; i++ )
    {
        rc = sg_check_elem(&elems[i]);
        if ( rc )
            goto out;
        length += elems[i].len;
    }
    reg->length = length;

    for ( got = 0; got < r.nr_elems; got++ )
    {
        rc = sg_get_own_page(d, elems[got].frame, reg->writable,
                             &reg->elems[got].page);
        if ( rc )
            goto out;
        reg->elems[got].offset = elems[got].offset;
        reg->elems[got].len = elems[got].len;
    }

    write_lock(&sgd->lock);
    rc = sgd->dead ? -ESRCH : sg_reg_fits(sgd, r.nr_elems, &lim) ? 0 : -ENOSPC;
    if ( !rc )
    {
        /*
         * IDs count up from 1 and never wrap, so an ID a peer kept from an
         * unregistered registration never names a later one (no alias, no
         * search for a free ID).  next_id reaches 0 after 2^32 - 1.
         */
        id = sgd->next_id++;
        reg->id = id;
        list_add_tail(&reg->node, &sgd->regs);
        sgd->nr_regs++;
        sgd->pinned_pages += r.nr_elems;
        atomic_inc(&sg_live_regs);
        atomic_add(r.nr_elems, &sg_live_pinned);
    }
    write_unlock(&sgd->lock);
    if ( rc )
        goto out;

    xfree(elems);

    /*
     * reg is published: another vCPU may unregister and free it from here
     * on, so only locals are read (and reg compared, under L1, below).
     */
    r.id = id;
    r.length = length;
    if ( __copy_field_to_guest(uarg, &r, id) ||
         __copy_field_to_guest(uarg, &r, length) )
    {
        /* The caller cannot know the ID: take the registration back. */
        xen_sg_id_t gone = { .id = id };

        write_lock(&sgd->lock);
        if ( sg_find_reg(sgd, gone.id) == reg )
        {
            list_del(&reg->node);
            sgd->nr_regs--;
            sgd->pinned_pages -= reg->nr_elems;
        }
        else
            reg = NULL;
        write_unlock(&sgd->lock);
        if ( reg )
        {
            sg_event_reg_gone(reg);
            sg_reg_free(reg);
        }
        return -EFAULT;
    }

    return 0;

 out:
    if ( reg )
    {
        while ( got-- )
            sg_put_own_page(reg->elems[got].page, reg->writable);
        xfree(reg);
    }
    xfree(elems);
    sg_heap_uncharge(sgd, sg_reg_heap(r.nr_elems));
    return rc;
}

long sg_unregister(XEN_GUEST_HANDLE_PARAM(xen_sg_id_t) uarg)
{
    struct domain *d = current->domain;
    struct sg_domain *sgd = ACCESS_ONCE(d->sg_domain);
    struct sg_reg *reg;
    xen_sg_id_t a;

    if ( copy_from_guest(&a, uarg, 1) )
        return -EFAULT;
    if ( a.flags )
        return -EINVAL;
    if ( !sgd )
        return -ENOENT;

    /* Transfers and address lookups on reg hold L1 for read: wait for them. */
    write_lock(&sgd->lock);
    reg = sg_find_reg(sgd, a.id);
    if ( reg )
    {
        list_del(&reg->node);
        sgd->nr_regs--;
        sgd->pinned_pages -= reg->nr_elems;
    }
    write_unlock(&sgd->lock);

    if ( !reg )
        return -ENOENT;

    sg_event_reg_gone(reg);
    sg_reg_free(reg);

    return 0;
}

long sg_rearm(XEN_GUEST_HANDLE_PARAM(xen_sg_id_t) uarg)
{
    struct domain *d = current->domain;
    struct sg_domain *sgd = ACCESS_ONCE(d->sg_domain);
    struct sg_reg *reg;
    xen_sg_id_t a;

    if ( copy_from_guest(&a, uarg, 1) )
        return -EFAULT;
    if ( a.flags )
        return -EINVAL;
    if ( !sgd )
        return -ENOENT;

    write_lock(&sgd->lock);
    reg = sg_find_reg(sgd, a.id);
    if ( reg )
        clear_bit(SG_REG_CONSUMED, &reg->state);
    write_unlock(&sgd->lock);

    return reg ? 0 : -ENOENT;
}

/*
 * Drop every registration of d and every binding d holds, in one go: only
 * for a domain that never got as far as domain_kill() (sg_domain_free()).
 */
static void sg_domain_drop_all(struct domain *d)
{
    struct sg_domain *sgd = ACCESS_ONCE(d->sg_domain);
    struct sg_reg *reg, *next;
    LIST_HEAD(gone);

    if ( !sgd )
        return;

    write_lock(&sgd->lock);
    sgd->dead = true;
    list_splice_init(&sgd->regs, &gone);
    sgd->nr_regs = 0;
    sgd->pinned_pages = 0;
    write_unlock(&sgd->lock);

    sg_event_domain_gone(d, 0);
    sg_cont_drop_all(d);

    list_for_each_entry_safe ( reg, next, &gone, node )
    {
        list_del(&reg->node);
        sg_event_reg_gone(reg);
        sg_reg_free(reg);
    }
}

/*
 * The work one call of a restartable teardown does at most: a batch of the
 * domain's own bindings, then registrations up to this many page references
 * (at least one registration, so at most this plus max_elems - 1).
 */
#define SG_RELEASE_BINDINGS     256
#define SG_RELEASE_PAGES        256

/*
 * One step of a teardown (domain_kill() or a soft reset): drop a batch of
 * d's own bindings, or registrations with an ID up to last (each with the
 * bindings made through it and its page references) until SG_RELEASE_PAGES
 * page references are dropped or preemption is due.  -ERESTART when there
 * is more to do, 0 when none is left.  Whatever is dropped is first taken
 * off d's lists under its lock, so a step never drops anything twice and the
 * next step starts where this one stopped; the counts (nr_regs,
 * pinned_pages, nr_bindings, heap) always match what is still on the lists.
 */
static int sg_domain_drop_some(struct domain *d, struct sg_domain *sgd,
                               uint32_t last)
{
    unsigned int pages = 0;
    struct sg_reg *reg;

    sg_cont_drop_all(d);

    if ( sg_event_domain_gone(d, SG_RELEASE_BINDINGS) )
        goto restart;

    for ( ; ; )
    {
        write_lock(&sgd->lock);
        reg = list_first_entry_or_null(&sgd->regs, struct sg_reg, node);
        /* IDs only grow and new registrations go last: the list is in order. */
        if ( reg && reg->id > last )
            reg = NULL;
        if ( reg && pages &&
             (reg->nr_elems > SG_RELEASE_PAGES - pages ||
              hypercall_preempt_check()) )
        {
            write_unlock(&sgd->lock);
            goto restart;
        }
        if ( reg )
        {
            list_del(&reg->node);
            sgd->nr_regs--;
            sgd->pinned_pages -= reg->nr_elems;
        }
        write_unlock(&sgd->lock);

        if ( !reg )
            return 0;

        pages += reg->nr_elems;
        sg_event_reg_gone(reg);
        sg_reg_free(reg);
    }

 restart:
    return -ERESTART;
}

/*
 * From domain_kill(), restartable: the first call marks d dead (it takes
 * nothing new), each call drops a bounded part of what d holds
 * (sg_domain_drop_some()) and returns -ERESTART until nothing is left.
 */
int sg_domain_release(struct domain *d)
{
    struct sg_domain *sgd = ACCESS_ONCE(d->sg_domain);

    if ( !sgd )
        return 0;

    write_lock(&sgd->lock);
    sgd->dead = true;
    write_unlock(&sgd->lock);

    return sg_domain_drop_some(d, sgd, UINT32_MAX);
}

/*
 * After a soft reset (kexec) the old kernel's registrations must not let a
 * peer reach frames the new kernel reuses, and its bindings would fire
 * ports the new kernel never bound: drop them all, as argo_soft_reset()
 * drops the rings.  Every vCPU of d is paused for the shutdown, so d makes
 * no sg_op call meanwhile.  Registrations of other domains that name d are
 * theirs, and keep naming d (as grants to d survive a soft reset).
 *
 * Restartable, as evtchn_reset() is: sgd->resetting and sgd->reset_last
 * (the last ID given when the reset began) say a reset is under way and
 * what it drops, so a continuation goes on where the last step stopped and
 * drops nothing twice (sg_domain_drop_some()).  domain_soft_reset() runs
 * this stage first and the continuation of any stage comes back with
 * *resuming set; when this stage finishes in a continuation of its own,
 * *resuming is cleared, so that evtchn_reset() starts afresh rather than
 * resume a reset it never began.
 */
int sg_domain_soft_reset(struct domain *d, bool *resuming)
{
    struct sg_domain *sgd = ACCESS_ONCE(d->sg_domain);
    bool own, going;
    uint32_t last;
    int rc;

    if ( !sgd )
        return 0;

    write_lock(&sgd->lock);
    own = sgd->resetting;
    if ( !own && !*resuming )
    {
        sgd->resetting = true;
        sgd->reset_last = sgd->next_id - 1; /* all 2^32 - 1 if next_id is 0 */
    }
    going = sgd->resetting;
    last = sgd->reset_last;
    write_unlock(&sgd->lock);

    /* A continuation of a later stage: this one finished before it. */
    if ( !going )
        return 0;

    rc = sg_domain_drop_some(d, sgd, last);
    if ( rc )
    {
        write_lock(&sgd->lock);
        sgd->reset_continuations++;
        write_unlock(&sgd->lock);
        return rc;
    }

    write_lock(&sgd->lock);
    sgd->resetting = false;
    write_unlock(&sgd->lock);

    if ( own )
        *resuming = false;

    return 0;
}

void sg_domain_free(struct domain *d)
{
    /* Normally empty by now (domain_kill()); not if creation failed. */
    sg_domain_drop_all(d);
    if ( d->sg_domain )
    {
        atomic_dec(&sg_live_domains);
        xfree(d->sg_domain->conts);
    }
    xfree(d->sg_domain);
    d->sg_domain = NULL;
}

long sg_query_global(XEN_GUEST_HANDLE_PARAM(xen_sg_global_t) uarg)
{
    struct xen_sg_global g;
    int rc;

    if ( copy_from_guest(&g, uarg, 1) )
        return -EFAULT;
    if ( g.flags || g._pad0 )
        return -EINVAL;
    rc = xsm_sg_query_global(XSM_PRIV, current->domain);
    if ( rc )
        return rc;

    g.regs = atomic_read(&sg_live_regs);
    g.pinned_pages = atomic_read(&sg_live_pinned);
    g.domains = atomic_read(&sg_live_domains);
    sg_event_global(&g);
    sg_copy_global(&g);

    return __copy_to_guest(uarg, &g, 1) ? -EFAULT : 0;
}

/*
 * Local variables:
 * mode: C
 * c-file-style: "BSD"
 * c-basic-offset: 4
 * tab-width: 4
 * indent-tabs-mode: nil
 * End:
 */
