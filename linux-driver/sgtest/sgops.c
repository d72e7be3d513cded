// SPDX-License-Identifier: GPL-2.0
/*
 * Thin wrappers around sg_op and event-channel hypercalls that every suite
 * uses.  They return Xen's result unchanged: the suites decide what is an
 * error.
 */

#include "sgtest.h"

/* Register @n elements of our own memory for @peer; *@id is 0 on failure. */
long __init sgt_register(const struct xen_sg_elem *e, unsigned int n,
			 domid_t peer, u16 access, u32 flags, u32 *id)
{
	struct xen_sg_register r = {
		.elems = (u64)(uintptr_t)e,
		.nr_elems = n,
		.peer = peer,
		.access = access,
		.flags = flags,
	};
	long rc = HYPERVISOR_sg_op(XEN_SGOP_register, &r);

	*id = rc ? 0 : r.id;
	return rc;
}

/* XEN_SGOP_unregister or XEN_SGOP_rearm of registration @id. */
long __init sgt_id_op(unsigned int cmd, u32 id)
{
	struct xen_sg_id a = { .id = id };

	return HYPERVISOR_sg_op(cmd, &a);
}

/* Bind @port to @a; with @cpg, count down the u32 at @coff in that page. */
long __init sgt_bind(const struct xen_sg_addr *a, u32 port,
		     struct page *cpg, u32 coff)
{
	struct xen_sg_bind b = { .addr = *a, .port = port };

	if (cpg) {
		b.flags = XEN_SG_BIND_COUNTER;
		b.counter_frame = xen_page_to_gfn(cpg);
		b.counter_offset = coff;
	}
	return HYPERVISOR_sg_op(XEN_SGOP_bind, &b);
}

/* Trigger @a; *@fired is how many bindings Xen fired. */
long __init sgt_trigger(const struct xen_sg_addr *a, u32 *fired)
{
	struct xen_sg_trigger t = { .addr = *a };
	long rc = HYPERVISOR_sg_op(XEN_SGOP_trigger, &t);

	*fired = t.fired;
	return rc;
}

/* A new unbound port of our own; *@port is 0 on failure. */
long __init sgt_alloc_port(u32 *port)
{
	struct evtchn_alloc_unbound alloc = {
		.dom = DOMID_SELF,
		.remote_dom = DOMID_SELF,
	};
	long rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &alloc);

	*port = rc ? 0 : alloc.port;
	return rc;
}

void __init sgt_close_port(u32 port)
{
	struct evtchn_close close = { .port = port };

	HYPERVISOR_event_channel_op(EVTCHNOP_close, &close);
}

/* This domain's usage, or all ones if the query fails. */
void __init sgt_usage(struct xen_sg_usage *u)
{
	struct xen_sg_query q = { .domid = DOMID_SELF };

	memset(u, 0xff, sizeof(*u));
	if (!HYPERVISOR_sg_op(XEN_SGOP_query, &q))
		*u = q.usage;
}

/* Is usage what it was in @before?  If not, say so in a diagnostic. */
bool __init sgt_usage_same(struct sgtest_ctx *ctx, const char *what,
			   const struct xen_sg_usage *before)
{
	struct xen_sg_usage u;

	sgt_usage(&u);
	if (!memcmp(&u, before, sizeof(u)))
		return true;
	ktap_diag(ctx->ktap,
		  "%s: usage regs=%u pinned=%u bindings=%u, expected %u/%u/%u",
		  what, u.regs, u.pinned_pages, u.bindings, before->regs,
		  before->pinned_pages, before->bindings);
	return false;
}

/* Did a call return @expected?  If not, say so in a diagnostic. */
bool __init sgt_rc(struct sgtest_ctx *ctx, const char *what, long rc,
		   long expected)
{
	if (rc == expected)
		return true;
	ktap_diag(ctx->ktap, "%s: expected rc=%ld, got rc=%ld", what, expected,
		  rc);
	return false;
}

/* Fill @op: @len bytes at @off of @owner's registration @id. */
void __init sgt_xfer(struct xen_sg_transfer *op, domid_t owner, u32 id, u8 dir,
		     u64 off, u64 len, const struct xen_sg_elem *local, u32 nr,
		     u32 flags)
{
	memset(op, 0, sizeof(*op));
	op->local = (u64)(uintptr_t)local;
	op->nr_local = nr;
	op->peer = owner;
	op->dir = dir;
	op->reg_id = id;
	op->flags = flags;
	op->offset = off;
	op->length = len;
	op->status = 1;
}

long __init sgt_batch(struct xen_sg_transfer *ops, u32 n)
{
	struct xen_sg_transfer_batch b = {
		.ops = (u64)(uintptr_t)ops,
		.nr_ops = n,
	};

	return HYPERVISOR_sg_op(XEN_SGOP_transfer, &b);
}
