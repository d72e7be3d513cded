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
