/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sg_copy.c: XEN_SGOP_transfer, batched copies between a caller's own
 * memory and registrations that name it as peer.
 *
 * Each op is checked whole (its local list, the registration, the access,
 * the range) before a byte is copied.  The local pages are referenced for
 * the op only, before the owner's L1 is taken; the registration's pages are
 * referenced by the registration, which the owner's L1 (read) keeps alive
 * while it is held.
 *
 * L1 is held for at most SG_HOLD_PIECES page pieces (64 KiB) at a time:
 * between holds it is dropped, preemption is checked, and the registration
 * is looked up again by its ID (never reused by its owner) before the next
 * hold, so an unregister or a writer waits for one hold at most, and a
 * registration that went away ends the op with -ENOENT.
 *
 * Preemption: a batch is preempted between ops and continued with the index
 * of the next op in the high bits of cmd, as XENMEM_* ops do.  A large op
 * is also preempted between holds: the op and its local list, fetched once,
 * and the bytes done are kept in Xen for the vCPU (struct sg_cont, charged
 * to the caller's sg_op heap), and the continuation carries the op's index
 * with XEN_SGOP_TRANSFER_RESUME; the resumed op re-checks its owner (domain
 * ID and generation), the XSM hooks and the registration (ID) and copies
 * on from where it stopped.  Nothing the guest can change meanwhile is read
 * again.
 *
 * Triggers (XEN_SG_TRANSFER_TRIGGER) are deferred: an op that completes
 * keeps its address (the registration's page, referenced, and the offset)
 * and the batch fires them in op order once it has no op left to copy,
 * before each preemption, and before an op when SG_FIRE_DEFER are kept (an
 * op whose page reference cannot be had fires at once).  A receiver
 * whose vCPU runs while a batch is copied is then woken once, when the
 * batch's frames have all landed, rather than at the first op's.
 */

#include <xen/atomic.h>
#include <xen/errno.h>
#include <xen/event.h>
#include <xen/guest_access.h>
#include <xen/hypercall.h>
#include <xen/lib.h>
#include <xen/mm.h>
#include <xen/nospec.h>
#include <xen/sched.h>
#include <xen/xmalloc.h>
#include <xsm/xsm.h>
#ifdef CONFIG_X86
#include <asm/paging.h>
#endif

#include "sg_private.h"

/* Page pieces (each within one page on either side) copied per L1 hold. */
#define SG_HOLD_PIECES          16

/* Triggers of completed ops a batch keeps until it stops copying. */
#define SG_FIRE_DEFER           16

struct sg_fires {
    unsigned int nr;
    struct {
        struct page_info *page;   /* referenced until fired */
        unsigned int offset;
    } a[SG_FIRE_DEFER];
};

/* Fire what f keeps, in op order, as d; the page references are dropped. */
static void sg_fires_flush(struct sg_fires *f, struct domain *d)
{
    unsigned int i;

    for ( i = 0; i < f->nr; i++ )
    {
        sg_fire(page_to_mfn(f->a[i].page), f->a[i].offset, d);
        put_page(f->a[i].page);
    }
    f->nr = 0;
}

/* Batches preempted and continued, since boot (in-op ones included). */
static atomic_t sg_continuations = ATOMIC_INIT(0);
/* Of those, preemptions inside one op, since boot. */
static atomic_t sg_inop_continuations = ATOMIC_INIT(0);

void sg_copy_global(struct xen_sg_global *g)
{
    g->transfer_continuations = (unsigned int)atomic_read(&sg_continuations);
    g->inop_continuations = atomic_read(&sg_inop_continuations);
}

/* One op being carried out: what was fetched from the guest, once. */
struct sg_xfer {
    struct xen_sg_transfer op;
    struct xen_sg_elem *elems;    /* op.nr_local, checked */
    uint64_t done;                /* bytes copied */
    uint64_t owner_gen;           /* the owner's generation, once checked */
};

/*
 * A vCPU's op preempted inside: its batch (address and header, to match
 * the continuation) and the op.  Only that vCPU takes or puts it, with
 * xchg(), as does the domain's release.
 */
struct sg_cont {
    uint64_t uarg;
    struct xen_sg_transfer_batch b;
    unsigned int idx;
    unsigned int charge;          /* bytes charged to the sg_op heap */
    struct sg_xfer x;
};

static void sg_cont_free(struct sg_domain *sgd, struct sg_cont *c)
{
    if ( !c )
        return;
    sg_heap_uncharge(sgd, c->charge);
    xfree(c->x.elems);
    xfree(c);
}

/* Free every vCPU's saved op (release, soft reset, destruction). */
void sg_cont_drop_all(struct domain *d)
{
    struct sg_domain *sgd = d->sg_domain;
    unsigned int i;

    if ( !sgd || !sgd->conts )
        return;

    for ( i = 0; i < sgd->nr_conts; i++ )
        sg_cont_free(sgd, xchg(&sgd->conts[i], NULL));
}

/*
 * Keep x for current, to be continued.  False (x untouched) when there is
 * no room: the op then goes on without preemption.
 */
static bool sg_cont_save(struct domain *d, uint64_t uarg,
                         const struct xen_sg_transfer_batch *b,
                         unsigned int idx, struct sg_xfer *x)
{
    struct sg_domain *sgd = sg_domain_get(d);
    unsigned int vid = current->vcpu_id;
    unsigned int charge;
    struct sg_cont *c;

    if ( !sgd || vid >= sgd->nr_conts )
        return false;

    charge = sizeof(*c) + x->op.nr_local * sizeof(*x->elems);
    if ( !sg_heap_charge(sgd, charge) )
        return false;

    c = xmalloc(struct sg_cont);
    if ( !c )
    {
        sg_heap_uncharge(sgd, charge);
        return false;
    }

    c->uarg = uarg;
    c->b = *b;
    c->idx = idx;
    c->charge = charge;
    c->x = *x;
    x->elems = NULL;

    /* A saved op of this vCPU that was never continued is lost. */
    sg_cont_free(sgd, xchg(&sgd->conts[vid], c));

    return true;
}

/* Take current's saved op, if any. */
static struct sg_cont *sg_cont_take(struct domain *d)
{
    struct sg_domain *sgd = ACCESS_ONCE(d->sg_domain);
    unsigned int vid = current->vcpu_id;

    if ( !sgd || vid >= sgd->nr_conts )
        return NULL;

    return xchg(&sgd->conts[vid], NULL);
}

static void sg_mark_dirty(struct domain *d, struct page_info *page)
{
#ifdef CONFIG_X86
    paging_mark_dirty(d, page_to_mfn(page));
#endif
}

/* The piece of list l holding byte offset, and the offset within it. */
static void sg_list_locate(const struct sg_page *l, uint64_t offset,
                           unsigned int *elem, unsigned int *elem_off)
{
    unsigned int i;

    for ( i = 0; offset >= l[i].len; i++ )
        offset -= l[i].len;

    *elem = i;
    *elem_off = offset;
}

/*
 * Copy up to len bytes, at most SG_HOLD_PIECES pieces, between reg from
 * byte roffset and local from byte loffset; both are long enough.  Returns
 * the bytes copied.
 */
static uint64_t sg_copy(const struct sg_reg *reg, uint64_t roffset,
                        const struct sg_page *local, uint64_t loffset,
                        uint64_t len, bool to_peer, struct domain *d)
{
    unsigned int ri, roff, li, loff, pieces;
    uint64_t copied = 0;

    sg_reg_locate(reg, roffset, &ri, &roff);
    sg_list_locate(local, loffset, &li, &loff);

    for ( pieces = 0; copied < len && pieces < SG_HOLD_PIECES; pieces++ )
    {
        const struct sg_page *r = &reg->elems[ri];
        const struct sg_page *l = &local[li];
        unsigned int chunk = min(r->len - roff, l->len - loff);
        uint8_t *rva, *lva;

        if ( chunk > len - copied )
            chunk = len - copied;

        rva = map_domain_page(page_to_mfn(r->page));
        lva = map_domain_page(page_to_mfn(l->page));
        if ( to_peer )
            memcpy(rva + r->offset + roff, lva + l->offset + loff, chunk);
        else
            memcpy(lva + l->offset + loff, rva + r->offset + roff, chunk);
        unmap_domain_page(lva);
        unmap_domain_page(rva);

        if ( to_peer )
            sg_mark_dirty(reg->owner, r->page);
        else
            sg_mark_dirty(d, l->page);

        copied += chunk;
        roff += chunk;
        loff += chunk;
        if ( roff == r->len )
        {
            ri++;
            roff = 0;
        }
        if ( loff == l->len )
        {
            li++;
            loff = 0;
        }
    }

    return copied;
}

/* Fetch and check op's local list (a new op only). */
static int sg_xfer_fetch(struct sg_xfer *x)
{
    const struct xen_sg_transfer *op = &x->op;
    XEN_GUEST_HANDLE_PARAM(xen_sg_elem_t) lh;
    struct xen_sg_limits lim;
    uint64_t total = 0;
    unsigned int i;

    if ( op->_pad0 || op->_pad1 || (op->flags & ~XEN_SG_TRANSFER_TRIGGER) ||
         op->dir > XEN_SG_TRANSFER_FROM_PEER || !op->nr_local || !op->length )
        return -EINVAL;

    sg_limits(&lim);
    if ( op->nr_local > lim.max_elems )
        return -E2BIG;

    x->elems = xmalloc_array(struct xen_sg_elem, op->nr_local);
    if ( !x->elems )
        return -ENOMEM;

    lh = guest_handle_from_ptr((unsigned long)op->local, xen_sg_elem_t);
    if ( op->local != (unsigned long)op->local ||
         copy_from_guest(x->elems, lh, op->nr_local) )
        return -EFAULT;

    for ( i = 0; i < op->nr_local; i++ )
    {
        int rc = sg_check_elem(&x->elems[i]);

        if ( rc )
            return rc;
        total += x->elems[i].len;
    }

    return total < op->length ? -EINVAL : 0;
}

/*
 * Carry out op x from x->done on.  0 or an error: the op's status.
 * -ERESTART: preempted between holds (only if preemptible), with x->done
 * the bytes copied so far; continue it with resumed set.  A completed op's
 * trigger is kept in f if there is room (fired by the caller), else fired.
 */
static int sg_transfer_one(struct domain *d, struct sg_xfer *x, bool resumed,
                           bool preemptible, struct sg_fires *f)
{
    const struct xen_sg_transfer *op = &x->op;
    struct sg_page *local;
    struct sg_domain *osgd;
    struct domain *owner;
    struct sg_reg *reg;
    unsigned int got = 0;
    bool to_peer = op->dir == XEN_SG_TRANSFER_TO_PEER;
    bool first = !resumed;
    uint64_t total;
    int rc;

    if ( !resumed )
    {
        rc = sg_xfer_fetch(x);
        if ( rc )
            return rc;
    }

    local = xmalloc_array(struct sg_page, op->nr_local);
    if ( !local )
        return -ENOMEM;

    owner = rcu_lock_domain_by_any_id(op->peer);
    if ( !owner )
    {
        /* A resumed op's owner died: its registration is gone. */
        rc = resumed ? -ENOENT : -ESRCH;
        goto out_free;
    }

    /*
     * The generation tells the owner that was checked from a later domain
     * reusing its domid (whose registration IDs start again from 1).
     */
    if ( !resumed )
        x->owner_gen = sg_domain_gen(owner);
    else if ( ACCESS_ONCE(owner->sg_gen) != x->owner_gen )
    {
        rc = -ENOENT;
        goto out_unlock_domain;
    }

    rc = xsm_sg_transfer(XSM_HOOK, d, owner);
    /* A copy that triggers is a trigger too: both or neither. */
    if ( !rc && (op->flags & XEN_SG_TRANSFER_TRIGGER) )
        rc = xsm_sg_event(XSM_HOOK, d, owner, XEN_SGOP_trigger);
    if ( rc )
        goto out_unlock_domain;

    /* The local pages the copy reaches, before L1. */
    for ( total = 0; total < op->length; got++ )
    {
        rc = sg_get_own_page(d, x->elems[got].frame, !to_peer,
                             &local[got].page);
        if ( rc )
            goto out_put;
        local[got].offset = x->elems[got].offset;
        local[got].len = x->elems[got].len;
        total += x->elems[got].len;
    }

    osgd = ACCESS_ONCE(owner->sg_domain);
    if ( !osgd )
    {
        rc = -ENOENT;
        goto out_put;
    }

    for ( ; ; )
    {
        read_lock(&osgd->lock);

        /*
         * Not there, or not naming d: the same answer (d cannot tell).  IDs
         * are never reused, so the ID found again is the same registration.
         */
        reg = osgd->dead ? NULL : sg_find_reg(osgd, op->reg_id);
        if ( !reg || !sg_reg_names(reg, d) )
            rc = -ENOENT;
        else if ( !(reg->access & (to_peer ? XEN_SG_ACCESS_WRITE
                                           : XEN_SG_ACCESS_READ)) )
            rc = -EACCES;
        else if ( op->offset >= reg->length ||
                  op->length > reg->length - op->offset )
            rc = -ERANGE;
        /* The op's first hold consumes a one-shot registration. */
        else if ( first && (reg->flags & XEN_SG_REG_ONESHOT) &&
                  test_and_set_bit(SG_REG_CONSUMED, &reg->state) )
            rc = -EBUSY;

        if ( rc )
        {
            read_unlock(&osgd->lock);
            break;
        }
        first = false;

        /* Every check is done: no copy starts on a mispredicted path. */
        block_speculation();

        x->done += sg_copy(reg, op->offset + x->done, local, x->done,
                           op->length - x->done, to_peer, d);

        if ( x->done == op->length )
        {
            if ( op->flags & XEN_SG_TRANSFER_TRIGGER )
            {
                struct page_info *pg;
                unsigned int ri, roff;

                sg_reg_locate(reg, op->offset, &ri, &roff);
                pg = reg->elems[ri].page;
                roff += reg->elems[ri].offset;
                /* The reference keeps the address from being reused. */
                if ( f->nr < SG_FIRE_DEFER && get_page(pg, owner) )
                {
                    f->a[f->nr].page = pg;
                    f->a[f->nr++].offset = roff;
                }
                else
                    sg_fire(page_to_mfn(pg), roff, d);
            }
            read_unlock(&osgd->lock);
            break;
        }

        read_unlock(&osgd->lock);

        if ( preemptible && hypercall_preempt_check() )
        {
            rc = -ERESTART;
            break;
        }
    }

 out_put:
    while ( got-- )
        sg_put_own_page(local[got].page, !to_peer);
 out_unlock_domain:
    rcu_unlock_domain(owner);
 out_free:
    xfree(local);
    return rc;
}

/* Write op idx's status, and nothing else of it, back to the guest. */
static int sg_put_status(XEN_GUEST_HANDLE_PARAM(xen_sg_transfer_t) ops,
                         unsigned int idx, int status)
{
    struct xen_sg_transfer op = { .status = status };

    guest_handle_add_offset(ops, idx);
    return copy_field_to_guest(ops, &op, status) ? -EFAULT : 0;
}

long sg_transfer(XEN_GUEST_HANDLE_PARAM(xen_sg_transfer_batch_t) uarg,
                 unsigned int progress)
{
    struct domain *d = current->domain;
    XEN_GUEST_HANDLE_PARAM(xen_sg_transfer_t) ops;
    struct xen_sg_transfer_batch b;
    bool resume = progress & (XEN_SGOP_TRANSFER_RESUME >> XEN_SGOP_CMD_BITS);
    uint64_t uaddr = (unsigned long)uarg.p;
    struct sg_cont *c = NULL;
    struct sg_fires f = { .nr = 0 };
    struct sg_xfer x;
    unsigned int i;
    int status;

    progress &= XEN_SG_TRANSFER_MAX_OPS;

    /* The saved op is taken first: whatever follows, it is not kept. */
    if ( resume )
        c = sg_cont_take(d);

    if ( copy_from_guest(&b, uarg, 1) )
    {
        status = -EFAULT;
        goto out_batch;
    }

    if ( b.flags || b.nr_ops > XEN_SG_TRANSFER_MAX_OPS ||
         progress > b.nr_ops || (resume && progress == b.nr_ops) )
    {
        status = -EINVAL;
        goto out_batch;
    }

    if ( b.ops != (unsigned long)b.ops )
    {
        status = -EFAULT;
        goto out_batch;
    }
    ops = guest_handle_from_ptr((unsigned long)b.ops, xen_sg_transfer_t);

    for ( i = progress; i < b.nr_ops; i++ )
    {
        bool resumed = false;

        if ( resume && i == progress )
        {
            /*
             * Xen's continuation of op i preempted inside.  Without this
             * vCPU's saved op for it (a later preempted op of the same
             * vCPU took its place, or the guest forged the bit) the op is
             * lost: part of it may have been copied.
             */
            if ( c && c->uarg == uaddr && c->idx == i &&
                 !memcmp(&c->b, &b, sizeof(b)) )
            {
                x = c->x;
                c->x.elems = NULL;
                resumed = true;
                status = 0;
            }
            else
                status = -EAGAIN;
            sg_cont_free(d->sg_domain, c);
            c = NULL;
            if ( status )
                goto put;
        }
        else if ( i > progress && hypercall_preempt_check() )
        {
            sg_fires_flush(&f, d);
            atomic_inc(&sg_continuations);
            return hypercall_create_continuation(
                __HYPERVISOR_sg_op, "ih",
                XEN_SGOP_transfer | (i << XEN_SGOP_CMD_BITS), uarg);
        }
        else
        {
            memset(&x, 0, sizeof(x));
            /* Room for this op's trigger, in op order. */
            if ( f.nr == SG_FIRE_DEFER )
                sg_fires_flush(&f, d);
            if ( copy_from_guest_offset(&x.op, ops, i, 1) )
            {
                sg_fires_flush(&f, d);
                return -EFAULT;
            }
        }

        status = sg_transfer_one(d, &x, resumed, true, &f);
        if ( status == -ERESTART )
        {
            if ( sg_cont_save(d, uaddr, &b, i, &x) )
            {
                sg_fires_flush(&f, d);
                atomic_inc(&sg_continuations);
                atomic_inc(&sg_inop_continuations);
                return hypercall_create_continuation(
                    __HYPERVISOR_sg_op, "ih",
                    XEN_SGOP_transfer | XEN_SGOP_TRANSFER_RESUME |
                    (i << XEN_SGOP_CMD_BITS), uarg);
            }
            /* No room to keep it: go on unpreempted (holds stay short). */
            status = sg_transfer_one(d, &x, true, false, &f);
        }
        xfree(x.elems);

 put:
        if ( sg_put_status(ops, i, status) )
        {
            sg_fires_flush(&f, d);
            return -EFAULT;
        }
    }

    sg_fires_flush(&f, d);

    return 0;

 out_batch:
    if ( c )
        sg_cont_free(d->sg_domain, c);
    return status;
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
