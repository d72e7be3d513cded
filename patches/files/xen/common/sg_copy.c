/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sg_copy.c: XEN_SGOP_transfer, batched copies between a caller's own
 * memory and registrations that name it as peer.
 *
 * Each op is checked whole (its local list, the registration, the access,
 * the range) before a byte is copied.  The local pages are referenced for
 * the op only, before the owner's L1 is taken; the registration's pages are
 * referenced by the registration, which the owner's L1 (read) keeps alive
 * for the copy.  A batch is preempted between ops and continued with the
 * progress in the high bits of cmd, as XENMEM_* ops do.
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

/* Batches preempted and continued, since boot. */
static atomic_t sg_continuations = ATOMIC_INIT(0);

uint64_t sg_copy_continuations(void)
{
    return (unsigned int)atomic_read(&sg_continuations);
}

static void sg_mark_dirty(struct domain *d, struct page_info *page)
{
#ifdef CONFIG_X86
    paging_mark_dirty(d, page_to_mfn(page));
#endif
}

/* Copy len bytes between the pieces; both lists are long enough. */
static void sg_copy(const struct sg_reg *reg, unsigned int ri,
                    unsigned int roff, struct sg_page *local, uint64_t len,
                    bool to_peer, struct domain *d)
{
    unsigned int li = 0, loff = 0;

    while ( len )
    {
        const struct sg_page *r = &reg->elems[ri];
        const struct sg_page *l = &local[li];
        unsigned int chunk = min(r->len - roff, l->len - loff);
        uint8_t *rva, *lva;

        if ( chunk > len )
            chunk = len;

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

        len -= chunk;
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
}

static int sg_transfer_one(struct domain *d, const struct xen_sg_transfer *op)
{
    XEN_GUEST_HANDLE_PARAM(xen_sg_elem_t) lh;
    struct xen_sg_elem *elems = NULL;
    struct sg_page *local = NULL;
    struct xen_sg_limits lim;
    struct sg_domain *osgd;
    struct domain *owner;
    struct sg_reg *reg;
    unsigned int i, got = 0, ri, roff;
    bool to_peer = op->dir == XEN_SG_TRANSFER_TO_PEER;
    uint64_t total = 0;
    int rc;

    if ( op->_pad0 || op->_pad1 || (op->flags & ~XEN_SG_TRANSFER_TRIGGER) ||
         op->dir > XEN_SG_TRANSFER_FROM_PEER || !op->nr_local || !op->length )
        return -EINVAL;

    sg_limits(&lim);
    if ( op->nr_local > lim.max_elems )
        return -E2BIG;

    elems = xmalloc_array(struct xen_sg_elem, op->nr_local);
    local = xmalloc_array(struct sg_page, op->nr_local);
    if ( !elems || !local )
    {
        rc = -ENOMEM;
        goto out_free;
    }

    lh = guest_handle_from_ptr((unsigned long)op->local, xen_sg_elem_t);
    if ( op->local != (unsigned long)op->local ||
         copy_from_guest(elems, lh, op->nr_local) )
    {
        rc = -EFAULT;
        goto out_free;
    }

    for ( i = 0; i < op->nr_local; i++ )
    {
        rc = sg_check_elem(&elems[i]);
        if ( rc )
            goto out_free;
        total += elems[i].len;
    }
    if ( total < op->length )
    {
        rc = -EINVAL;
        goto out_free;
    }

    owner = rcu_lock_domain_by_any_id(op->peer);
    if ( !owner )
    {
        rc = -ESRCH;
        goto out_free;
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
        rc = sg_get_own_page(d, elems[got].frame, !to_peer, &local[got].page);
        if ( rc )
            goto out_put;
        local[got].offset = elems[got].offset;
        local[got].len = elems[got].len;
        total += elems[got].len;
    }

    osgd = ACCESS_ONCE(owner->sg_domain);
    if ( !osgd )
    {
        rc = -ENOENT;
        goto out_put;
    }

    read_lock(&osgd->lock);

    reg = osgd->dead ? NULL : sg_find_reg(osgd, op->reg_id);
    /* Not there, or not naming d: the same answer (d cannot tell). */
    if ( !reg || !sg_reg_names(reg, d) )
        rc = -ENOENT;
    else if ( !(reg->access & (to_peer ? XEN_SG_ACCESS_WRITE
                                       : XEN_SG_ACCESS_READ)) )
        rc = -EACCES;
    else if ( op->offset >= reg->length ||
              op->length > reg->length - op->offset )
        rc = -ERANGE;
    else if ( (reg->flags & XEN_SG_REG_ONESHOT) &&
              test_and_set_bit(SG_REG_CONSUMED, &reg->state) )
        rc = -EBUSY;

    if ( !rc )
    {
        /* Every check is done: no copy starts on a mispredicted path. */
        block_speculation();

        sg_reg_locate(reg, op->offset, &ri, &roff);
        sg_copy(reg, ri, roff, local, op->length, to_peer, d);

        if ( op->flags & XEN_SG_TRANSFER_TRIGGER )
            sg_fire(page_to_mfn(reg->elems[ri].page),
                    reg->elems[ri].offset + roff, d);
    }

    read_unlock(&osgd->lock);

 out_put:
    while ( got-- )
        sg_put_own_page(local[got].page, !to_peer);
 out_unlock_domain:
    rcu_unlock_domain(owner);
 out_free:
    xfree(local);
    xfree(elems);
    return rc;
}

long sg_transfer(XEN_GUEST_HANDLE_PARAM(xen_sg_transfer_batch_t) uarg,
                 unsigned int progress)
{
    struct domain *d = current->domain;
    XEN_GUEST_HANDLE_PARAM(xen_sg_transfer_t) ops;
    struct xen_sg_transfer_batch b;
    struct xen_sg_transfer op;
    unsigned int i;

    if ( copy_from_guest(&b, uarg, 1) )
        return -EFAULT;

    if ( b.flags || b.nr_ops > (UINT_MAX >> XEN_SGOP_CMD_BITS) ||
         progress > b.nr_ops )
        return -EINVAL;

    if ( b.ops != (unsigned long)b.ops )
        return -EFAULT;
    ops = guest_handle_from_ptr((unsigned long)b.ops, xen_sg_transfer_t);

    for ( i = progress; i < b.nr_ops; i++ )
    {
        if ( i > progress && hypercall_preempt_check() )
        {
            atomic_inc(&sg_continuations);
            return hypercall_create_continuation(
                __HYPERVISOR_sg_op, "ih",
                XEN_SGOP_transfer | (i << XEN_SGOP_CMD_BITS), uarg);
        }

        if ( copy_from_guest_offset(&op, ops, i, 1) )
            return -EFAULT;

        op.status = sg_transfer_one(d, &op);

        if ( copy_to_guest_offset(ops, i, &op, 1) )
            return -EFAULT;
    }

    return 0;
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
