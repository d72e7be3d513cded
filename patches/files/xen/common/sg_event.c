/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sg_event.c: event channels bound to an address.
 *
 * A domain binds one of its own unbound event channel ports (allocated with
 * EVTCHNOP_alloc_unbound for itself) to an address: a byte of its own memory
 * or of a registration it owns or is the peer of.  Xen resolves the address
 * to the machine page and offset it names and keys the binding by them, so
 * the same byte named by two domains is one address.  Triggering an address
 * fires every binding on it, of every domain: each binding's counter, a
 * 32-bit integer in its binder's memory, is decremented, and the port is set
 * pending when the result is <= 0 (or at once, for a binding without one).
 * The trigger's caller learns how many of its own bindings fired, nothing
 * about other domains' bindings; a domain may hold max_binds_per_addr
 * bindings on one address, whatever other domains hold there.
 *
 * A registration that does not name the caller looks like one that does not
 * exist (-ENOENT): a domain cannot tell another domain's IDs apart.
 *
 * A binding ends on XEN_SGOP_unbind; when its port is closed (evtchn_close()
 * calls sg_evtchn_close()); when the registration it was made through is
 * unregistered; when its binder dies.  A port that is no longer an unbound
 * port of its binder for itself (rebound in some other way) is not set
 * pending.
 *
 * Each address with a binding is one node (struct sg_addr) of a red-black
 * tree keyed by (MFN, offset), holding that address's bindings and their
 * count.  Finding an address costs O(log addresses) whatever the guests
 * choose, and its list holds at most max_binds_per_addr bindings of each
 * domain that can name the address (its owner and the peers it registered
 * it for), so bind, unbind and trigger never walk other addresses'
 * bindings, and dropping a binding is O(log addresses).  (Up to ABI 1.2 a hash of 256 chains, which a PV
 * guest could aim at one chain, was walked instead.)
 */

#include <xen/atomic.h>
#include <xen/errno.h>
#include <xen/event.h>
#include <xen/guest_access.h>
#include <xen/lib.h>
#include <xen/mm.h>
#include <xen/nospec.h>
#include <xen/rbtree.h>
#include <xen/sched.h>
#include <xen/xmalloc.h>
#include <xsm/xsm.h>
#ifdef CONFIG_X86
#include <asm/paging.h>
#endif

#include "sg_private.h"

DEFINE_SPINLOCK(sg_bind_lock);

/* One address (machine page and offset) with at least one binding. */
struct sg_addr {
    struct rb_node node;          /* sg_addrs: L3 */
    mfn_t mfn;
    unsigned int offset;
    unsigned int nr;              /* entries in bindings: L3 */
    struct list_head bindings;    /* L3 */
};

static struct rb_root sg_addrs = RB_ROOT;   /* L3: every struct sg_addr */
static unsigned int sg_live_bindings;       /* L3 */
static unsigned int sg_live_addrs;          /* L3: nodes in sg_addrs */

struct sg_binding {
    struct list_head addr_node;   /* addr->bindings: L3 */
    struct list_head dom_node;    /* binder's sgd->bindings: L3 */
    struct list_head reg_node;    /* via->bindings, if via: L3 */
    struct domain *d;             /* the binder */
    struct sg_reg *via;           /* bound through this registration */
    struct page_info *addr_page;  /* bound to a raw own frame: referenced */
    struct sg_addr *addr;         /* the address */
    evtchn_port_t port;
    struct page_info *counter_page;  /* writable reference, or NULL */
    unsigned int counter_offset;
};

/*
 * What a binding costs in its binder's sg_op heap: itself and, as if it were
 * the first on its address, the address's node (so the charge does not
 * depend on other domains' bindings).
 */
#define SG_BINDING_HEAP (sizeof(struct sg_binding) + sizeof(struct sg_addr))

/* An address resolved for one operation. */
struct sg_resolved {
    struct domain *owner;         /* RCU-locked, when via a registration */
    struct sg_domain *osgd;       /* its L1, read-locked */
    struct sg_reg *reg;           /* NULL: a raw own frame */
    struct page_info *page;       /* raw own frame: referenced */
    mfn_t mfn;
    unsigned int offset;
};

static int sg_addr_cmp(mfn_t mfn, unsigned int offset, const struct sg_addr *a)
{
    if ( !mfn_eq(mfn, a->mfn) )
        return mfn_x(mfn) < mfn_x(a->mfn) ? -1 : 1;
    if ( offset != a->offset )
        return offset < a->offset ? -1 : 1;
    return 0;
}

static struct sg_addr *sg_addr_find(mfn_t mfn, unsigned int offset)
{
    struct rb_node *n = sg_addrs.rb_node;

    ASSERT(LOCKING_L3());

    while ( n )
    {
        struct sg_addr *a = rb_entry(n, struct sg_addr, node);
        int c = sg_addr_cmp(mfn, offset, a);

        if ( !c )
            return a;
        n = c < 0 ? n->rb_left : n->rb_right;
    }

    return NULL;
}

/* Insert a, whose address is not in the tree yet. */
static void sg_addr_insert(struct sg_addr *a)
{
    struct rb_node **link = &sg_addrs.rb_node, *parent = NULL;

    ASSERT(LOCKING_L3());

    while ( *link )
    {
        parent = *link;
        link = sg_addr_cmp(a->mfn, a->offset,
                           rb_entry(parent, struct sg_addr, node)) < 0
               ? &parent->rb_left : &parent->rb_right;
    }

    rb_link_node(&a->node, parent, link);
    rb_insert_color(&a->node, &sg_addrs);
    sg_live_addrs++;
}

/*
 * Resolve a for d's sub-op cmd (bind, unbind or trigger), which XSM checks
 * against the address's owner: d itself for a raw own frame.  The owner's L1
 * stays read-locked (or the raw frame's page referenced) until
 * sg_unresolve(); for a raw frame the page is taken here, so the caller
 * holds no lock.
 */
static int sg_resolve(struct domain *d, const struct xen_sg_addr *a,
                      unsigned int cmd, struct sg_resolved *r)
{
    unsigned int ei, eoff;
    int rc;

    memset(r, 0, sizeof(*r));

    if ( a->_pad )
        return -EINVAL;

    if ( !a->reg_id )
    {
        if ( a->owner != DOMID_SELF && a->owner != d->domain_id )
            return -EINVAL;
        if ( a->offset >= PAGE_SIZE )
            return -ERANGE;
        rc = xsm_sg_event(XSM_HOOK, d, d, cmd);
        if ( rc )
            return rc;
        rc = sg_get_own_page(d, a->frame, false, &r->page);
        if ( rc )
            return rc;
        r->mfn = page_to_mfn(r->page);
        r->offset = a->offset;
        return 0;
    }

    if ( a->frame )
        return -EINVAL;

    r->owner = rcu_lock_domain_by_any_id(a->owner);
    if ( !r->owner )
        return -ESRCH;

    rc = xsm_sg_event(XSM_HOOK, d, r->owner, cmd);
    if ( rc )
        goto fail;

    r->osgd = ACCESS_ONCE(r->owner->sg_domain);
    if ( !r->osgd )
    {
        rc = -ENOENT;
        goto fail;
    }

    read_lock(&r->osgd->lock);
    r->reg = r->osgd->dead ? NULL : sg_find_reg(r->osgd, a->reg_id);
    /* Not there, or not the caller's to name: the same answer. */
    if ( !r->reg || (r->owner != d && !sg_reg_names(r->reg, d)) )
        rc = -ENOENT;
    else if ( a->offset >= r->reg->length )
        rc = -ERANGE;
    if ( rc )
    {
        read_unlock(&r->osgd->lock);
        goto fail;
    }

    block_speculation();

    sg_reg_locate(r->reg, a->offset, &ei, &eoff);
    ASSERT(LOCKING_L1_read(r->osgd));
    r->mfn = page_to_mfn(r->reg->elems[ei].page);
    r->offset = r->reg->elems[ei].offset + eoff;
    return 0;

 fail:
    rcu_unlock_domain(r->owner);
    r->owner = NULL;
    return rc;
}

static void sg_unresolve(struct sg_resolved *r)
{
    if ( r->reg )
    {
        read_unlock(&r->osgd->lock);
        rcu_unlock_domain(r->owner);
    }
    if ( r->page )
        put_page(r->page);
}

static void sg_send(struct domain *d, evtchn_port_t port)
{
    struct evtchn *chn;

    if ( !port_is_valid(d, port) )
        return;

    chn = evtchn_from_port(d, port);
    evtchn_read_lock(chn);
    if ( chn->state == ECS_UNBOUND && !chn->xen_consumer &&
         chn->u.unbound.remote_domid == d->domain_id )
        evtchn_port_set_pending(d, chn->notify_vcpu_id, chn);
    evtchn_read_unlock(chn);
}

static void sg_binding_fire(struct sg_binding *b)
{
    ASSERT(LOCKING_L3());

    if ( b->counter_page )
    {
        uint8_t *va = map_domain_page(page_to_mfn(b->counter_page));
        int val = atomic_dec_return((atomic_t *)(va + b->counter_offset));

        unmap_domain_page(va);
#ifdef CONFIG_X86
        paging_mark_dirty(b->d, page_to_mfn(b->counter_page));
#endif
        if ( val > 0 )
            return;
    }

    sg_send(b->d, b->port);
}

/*
 * Fire every binding on (mfn, offset) that XSM lets d reach; returns how many
 * of them were d's: other domains' bindings are not d's business.
 *
 * Reaching the memory (checked against its owner) is not enough: firing a
 * binding sets its binder's port pending and decrements its binder's
 * counter, a channel from d to the binder, so the pair (d, binder) is
 * checked too.  Bytes the control domain registered for two domUs are one
 * address; under SILO neither domU fires the other's bindings there.  A
 * binding the policy refuses is skipped, not reported: d learns nothing
 * about it.
 */
unsigned int sg_fire(mfn_t mfn, unsigned int offset, struct domain *d)
{
    struct sg_binding *b;
    struct sg_addr *a;
    unsigned int n = 0;

    spin_lock(&sg_bind_lock);
    a = sg_addr_find(mfn, offset);
    if ( a )
        list_for_each_entry ( b, &a->bindings, addr_node )
        {
            if ( b->d != d &&
                 xsm_sg_event(XSM_HOOK, d, b->d, XEN_SGOP_trigger) )
                continue;
            sg_binding_fire(b);
            n += b->d == d;
        }
    spin_unlock(&sg_bind_lock);

    return n;
}

static void sg_binding_drop(struct sg_binding *b)
{
    struct sg_domain *sgd = b->d->sg_domain;
    struct sg_addr *a = b->addr;

    ASSERT(LOCKING_L3());

    list_del(&b->addr_node);
    list_del(&b->dom_node);
    if ( b->via )
        list_del(&b->reg_node);
    sgd->nr_bindings--;
    sg_live_bindings--;
    if ( !--a->nr )
    {
        rb_erase(&a->node, &sg_addrs);
        sg_live_addrs--;
        xfree(a);
    }

    if ( b->addr_page )
        put_page(b->addr_page);
    if ( b->counter_page )
        put_page_and_type(b->counter_page);
    sg_heap_uncharge(sgd, SG_BINDING_HEAP);
    xfree(b);
}

void sg_event_reg_gone(struct sg_reg *reg)
{
    struct sg_binding *b, *next;

    spin_lock(&sg_bind_lock);
    list_for_each_entry_safe ( b, next, &reg->bindings, reg_node )
        sg_binding_drop(b);
    spin_unlock(&sg_bind_lock);
}

/*
 * Drop up to max of d's own bindings (0: all); are any left?  Each drop is
 * O(log addresses) under L3, and L3 is dropped between batches.
 */
bool sg_event_domain_gone(struct domain *d, unsigned int max)
{
    struct sg_domain *sgd = d->sg_domain;
    struct sg_binding *b, *next;
    unsigned int n = 0;
    bool left;

    spin_lock(&sg_bind_lock);
    list_for_each_entry_safe ( b, next, &sgd->bindings, dom_node )
    {
        if ( max && n++ == max )
            break;
        sg_binding_drop(b);
    }
    left = !list_empty(&sgd->bindings);
    spin_unlock(&sg_bind_lock);

    return left;
}

void sg_evtchn_close(struct domain *d, unsigned int port)
{
    struct sg_domain *sgd = ACCESS_ONCE(d->sg_domain);
    struct sg_binding *b, *next;

    ASSERT(rw_is_write_locked(&d->event_lock));

    if ( !sgd )
        return;

    spin_lock(&sg_bind_lock);
    list_for_each_entry_safe ( b, next, &sgd->bindings, dom_node )
        if ( b->port == port )
            sg_binding_drop(b);
    spin_unlock(&sg_bind_lock);
}

unsigned int sg_event_usage(const struct domain *d)
{
    const struct sg_domain *sgd = ACCESS_ONCE(d->sg_domain);
    unsigned int n;

    if ( !sgd )
        return 0;

    spin_lock(&sg_bind_lock);
    n = sgd->nr_bindings;
    spin_unlock(&sg_bind_lock);

    return n;
}

void sg_event_global(struct xen_sg_global *g)
{
    spin_lock(&sg_bind_lock);
    g->bindings = sg_live_bindings;
    g->addrs = sg_live_addrs;
    spin_unlock(&sg_bind_lock);
}

/*
 * d's binding of port on address a (NULL: no address), if any; with nr,
 * also how many bindings d has on a.
 */
static struct sg_binding *sg_find_binding(const struct sg_addr *a,
                                          const struct domain *d,
                                          evtchn_port_t port,
                                          unsigned int *nr)
{
    struct sg_binding *b, *found = NULL;
    unsigned int n = 0;

    ASSERT(LOCKING_L3());

    if ( a )
        list_for_each_entry ( b, &a->bindings, addr_node )
        {
            if ( b->d != d )
                continue;
            n++;
            if ( b->port == port )
            {
                found = b;
                if ( !nr )
                    break;
            }
        }

    if ( nr )
        *nr = n;

    return found;
}

long sg_bind(XEN_GUEST_HANDLE_PARAM(xen_sg_bind_t) uarg)
{
    struct domain *d = current->domain;
    struct xen_sg_limits lim;
    struct sg_resolved r;
    struct sg_domain *sgd;
    struct sg_addr *addr, *new_addr;
    struct sg_binding *b;
    struct xen_sg_bind a;
    struct evtchn *chn;
    unsigned int mine;
    long rc;

    if ( copy_from_guest(&a, uarg, 1) )
        return -EFAULT;

    if ( a._pad || (a.flags & ~XEN_SG_BIND_COUNTER) )
        return -EINVAL;
    if ( !(a.flags & XEN_SG_BIND_COUNTER) &&
         (a.counter_frame || a.counter_offset) )
        return -EINVAL;
    if ( (a.flags & XEN_SG_BIND_COUNTER) &&
         (a.counter_offset >= PAGE_SIZE || (a.counter_offset & 3)) )
        return -EINVAL;

    sgd = sg_domain_get(d);
    if ( !sgd )
        return -ENOMEM;

    /* Charged to d's sg_op heap while the binding lives. */
    if ( !sg_heap_charge(sgd, SG_BINDING_HEAP) )
        return -ENOSPC;

    /* Allocated before L3: the address's node, if this is its first. */
    b = xzalloc(struct sg_binding);
    new_addr = xzalloc(struct sg_addr);
    if ( !b || !new_addr )
    {
        rc = -ENOMEM;
        goto out_free;
    }

    b->d = d;
    b->port = a.port;
    b->counter_offset = a.counter_offset;

    /* Pages first: the p2m lock comes before every sg_op lock. */
    if ( a.flags & XEN_SG_BIND_COUNTER )
    {
        rc = sg_get_own_page(d, a.counter_frame, true, &b->counter_page);
        if ( rc )
            goto out_free;
    }

    rc = sg_resolve(d, &a.addr, XEN_SGOP_bind, &r);   /* L1, if via a reg */
    if ( rc )
        goto out_put;

    read_lock(&d->event_lock);                        /* L2 */

    chn = port_is_valid(d, a.port) ? evtchn_from_port(d, a.port) : NULL;
    if ( !chn || chn->state != ECS_UNBOUND || chn->xen_consumer ||
         chn->u.unbound.remote_domid != d->domain_id )
    {
        rc = -EINVAL;
        goto out_l2;
    }

    b->via = r.reg;

    sg_limits(&lim);

    spin_lock(&sg_bind_lock);                         /* L3 */
    addr = sg_addr_find(r.mfn, r.offset);
    /* Both answers depend on d's own bindings only. */
    if ( sg_find_binding(addr, d, a.port, &mine) )
        rc = -EEXIST;
    else if ( sgd->nr_bindings >= lim.max_bindings ||
              mine >= lim.max_binds_per_addr )
        rc = -ENOSPC;
    else
    {
        if ( !addr )
        {
            addr = new_addr;
            new_addr = NULL;
            addr->mfn = r.mfn;
            addr->offset = r.offset;
            INIT_LIST_HEAD(&addr->bindings);
            sg_addr_insert(addr);
        }
        b->addr = addr;
        list_add_tail(&b->addr_node, &addr->bindings);
        addr->nr++;
        list_add_tail(&b->dom_node, &sgd->bindings);
        if ( r.reg )
            list_add_tail(&b->reg_node, &r.reg->bindings);
        else
        {
            /* The binding keeps the reference on the raw frame. */
            b->addr_page = r.page;
            r.page = NULL;
        }
        sgd->nr_bindings++;
        sg_live_bindings++;
    }
    spin_unlock(&sg_bind_lock);

 out_l2:
    read_unlock(&d->event_lock);
    sg_unresolve(&r);
    if ( !rc )
    {
        xfree(new_addr);
        return 0;
    }
 out_put:
    if ( b->counter_page )
        put_page_and_type(b->counter_page);
 out_free:
    xfree(new_addr);
    xfree(b);
    sg_heap_uncharge(sgd, SG_BINDING_HEAP);
    return rc;
}

long sg_unbind(XEN_GUEST_HANDLE_PARAM(xen_sg_unbind_t) uarg)
{
    struct domain *d = current->domain;
    struct sg_domain *sgd = ACCESS_ONCE(d->sg_domain);
    struct xen_sg_unbind a;
    struct sg_resolved r;
    struct sg_binding *b;
    long rc;

    if ( copy_from_guest(&a, uarg, 1) )
        return -EFAULT;
    if ( a.flags )
        return -EINVAL;

    rc = sg_resolve(d, &a.addr, XEN_SGOP_unbind, &r);
    if ( rc )
        return rc;

    rc = -ENOENT;
    if ( sgd )
    {
        spin_lock(&sg_bind_lock);
        b = sg_find_binding(sg_addr_find(r.mfn, r.offset), d, a.port, NULL);
        if ( b )
        {
            sg_binding_drop(b);
            rc = 0;
        }
        spin_unlock(&sg_bind_lock);
    }

    sg_unresolve(&r);

    return rc;
}

long sg_trigger(XEN_GUEST_HANDLE_PARAM(xen_sg_trigger_t) uarg)
{
    struct domain *d = current->domain;
    struct xen_sg_trigger a;
    struct sg_resolved r;
    long rc;

    if ( copy_from_guest(&a, uarg, 1) )
        return -EFAULT;
    if ( a.flags )
        return -EINVAL;

    rc = sg_resolve(d, &a.addr, XEN_SGOP_trigger, &r);
    if ( rc )
        return rc;

    a.fired = sg_fire(r.mfn, r.offset, d);

    sg_unresolve(&r);

    return __copy_field_to_guest(uarg, &a, fired) ? -EFAULT : 0;
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
