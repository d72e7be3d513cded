// SPDX-License-Identifier: GPL-2.0
#include "sgtest.h"

/*
 * The sg_local suite: sg_op within one domain.  The domain registers its
 * own pages naming itself as peer, copies both ways, binds event channels
 * to addresses and triggers them, and checks every limit and error.  Each
 * test checks with XEN_SGOP_query that usage is back where it started.
 */

#define SGL_PAGES	3
#define SGL_WAIT_MS	200

static_assert(sizeof(struct xen_sg_elem) == 16);
static_assert(sizeof(struct xen_sg_register) == 32);
static_assert(sizeof(struct xen_sg_transfer) == 48);
static_assert(sizeof(struct xen_sg_transfer_batch) == 16);
static_assert(sizeof(struct xen_sg_addr) == 24);
static_assert(sizeof(struct xen_sg_bind) == 48);
static_assert(sizeof(struct xen_sg_trigger) == 32);

struct sgl_state {
	struct xen_sg_limits limits;
	struct page *pg[SGL_PAGES];	/* zeroed pages for each test */
	atomic_t irqs;			/* events seen by sgl_irq() */
};

static irqreturn_t sgl_irq(int irq, void *dev_id)
{
	struct sgl_state *st = dev_id;

	atomic_inc(&st->irqs);
	return IRQ_HANDLED;
}

static u64 sgl_frame(struct page *pg)
{
	return xen_page_to_gfn(pg);
}

static void sgl_elem(struct xen_sg_elem *e, struct page *pg, u32 off, u32 len)
{
	e->frame = sgl_frame(pg);
	e->offset = off;
	e->len = len;
}

static long __init sgl_register(const struct xen_sg_elem *e, unsigned int n,
				u16 access, u32 flags, u32 *id)
{
	return sgt_register(e, n, DOMID_SELF, access, flags, id);
}

static void __init sgl_xfer(struct xen_sg_transfer *op, u8 dir, u32 id,
			    u64 off, u64 len, const struct xen_sg_elem *local,
			    u32 nr, u32 flags)
{
	sgt_xfer(op, DOMID_SELF, id, dir, off, len, local, nr, flags);
}

/* One transfer: its status, or the batch's error. */
static long __init sgl_xfer1(u8 dir, u32 id, u64 off, u64 len,
			     const struct xen_sg_elem *local, u32 nr, u32 flags)
{
	struct xen_sg_transfer op;
	long rc;

	sgl_xfer(&op, dir, id, off, len, local, nr, flags);
	rc = sgt_batch(&op, 1);
	return rc ? rc : op.status;
}

static void __init sgl_addr_reg(struct xen_sg_addr *a, u32 id, u64 off)
{
	memset(a, 0, sizeof(*a));
	a->owner = DOMID_SELF;
	a->reg_id = id;
	a->offset = off;
}

static void __init sgl_addr_frame(struct xen_sg_addr *a, struct page *pg,
				  u64 off)
{
	memset(a, 0, sizeof(*a));
	a->owner = DOMID_SELF;
	a->frame = sgl_frame(pg);
	a->offset = off;
}

/* Wait until sgl_irq() has run @want times in all; is that the count? */
static bool __init sgl_irqs_are(struct sgtest_ctx *ctx,
				struct sgl_state *st, int want,
				const char *what)
{
	unsigned int waited = 0;

	while (atomic_read(&st->irqs) < want && waited < SGL_WAIT_MS) {
		usleep_range(5000, 6000);
		waited += 5;
	}
	if (atomic_read(&st->irqs) < want)
		goto bad;
	/* And no event beyond it. */
	usleep_range(10000, 11000);
	if (atomic_read(&st->irqs) == want)
		return true;
bad:
	ktap_diag(ctx->ktap, "%s: expected %d events, saw %d", what, want,
		  atomic_read(&st->irqs));
	return false;
}

static int __init sgl_init(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	struct xen_sg_query q = { .domid = DOMID_SELF };
	long rc = HYPERVISOR_sg_op(XEN_SGOP_query, &q);

	if (rc == -XEN_ENOSYS) {
		ctx->skip_all = true;
		sgtest_set_reason(ctx, "sg_op not available (rc=%ld)", rc);
		return 0;
	}
	if (rc)
		return -EIO;
	if ((q.abi_version >> 16) != XEN_SGOP_ABI_MAJOR ||
	    q.abi_version < XEN_SGOP_ABI_VERSION) {
		ctx->skip_all = true;
		sgtest_set_reason(ctx, "sg_op ABI %u.%u, need %d.%d",
				  q.abi_version >> 16, q.abi_version & 0xffff,
				  XEN_SGOP_ABI_MAJOR, XEN_SGOP_ABI_MINOR);
		return 0;
	}
	st->limits = q.limits;
	return 0;
}

/* Fresh zeroed pages for one test; sgl_put() frees them. */
static bool __init sgl_get(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	unsigned int i;

	for (i = 0; i < SGL_PAGES; i++) {
		st->pg[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!st->pg[i]) {
			ktap_diag(ctx->ktap, "alloc_page failed");
			return false;
		}
	}
	atomic_set(&st->irqs, 0);
	return true;
}

static void __init sgl_put(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	unsigned int i;

	for (i = 0; i < SGL_PAGES; i++) {
		if (st->pg[i])
			__free_page(st->pg[i]);
		st->pg[i] = NULL;
	}
}

static enum sgtest_result __init sgl_result(struct sgtest_ctx *ctx, bool ok)
{
	sgl_put(ctx);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

static enum sgtest_result __init sgl_register_unregister(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	struct xen_sg_usage before, u;
	struct xen_sg_elem e[2];
	bool ok = true;
	u32 id;

	if (!sgl_get(ctx))
		return sgl_result(ctx, false);
	sgt_usage(&before);
	sgl_elem(&e[0], st->pg[0], 100, 1000);
	sgl_elem(&e[1], st->pg[1], 0, PAGE_SIZE);
	ok &= sgt_rc(ctx, "register", sgl_register(e, 2, XEN_SG_ACCESS_READ |
						   XEN_SG_ACCESS_WRITE, 0, &id), 0);
	sgt_usage(&u);
	if (u.regs != before.regs + 1 ||
	    u.pinned_pages != before.pinned_pages + 2) {
		ktap_diag(ctx->ktap, "usage after register: regs=%u pinned=%u",
			  u.regs, u.pinned_pages);
		ok = false;
	}
	ok &= sgt_rc(ctx, "unregister", sgt_id_op(XEN_SGOP_unregister, id), 0);
	ok &= sgt_usage_same(ctx, "after unregister", &before);
	ok &= sgt_rc(ctx, "unregister twice",
		     sgt_id_op(XEN_SGOP_unregister, id), -XEN_ENOENT);
	return sgl_result(ctx, ok);
}

static enum sgtest_result __init sgl_transfer_both_ways(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	struct xen_sg_elem e[2], l[2];
	struct xen_sg_usage before;
	u8 *r0, *r1, *lp;
	bool ok = true;
	unsigned int i;
	u32 id;

	if (!sgl_get(ctx))
		return sgl_result(ctx, false);
	sgt_usage(&before);
	r0 = page_address(st->pg[0]);
	r1 = page_address(st->pg[1]);
	lp = page_address(st->pg[2]);
	for (i = 0; i < 512; i++)
		lp[i] = i * 7 + 1;

	/* 1000 bytes at 100 in page 0, then all of page 1. */
	sgl_elem(&e[0], st->pg[0], 100, 1000);
	sgl_elem(&e[1], st->pg[1], 0, PAGE_SIZE);
	ok &= sgt_rc(ctx, "register", sgl_register(e, 2, XEN_SG_ACCESS_READ |
						   XEN_SG_ACCESS_WRITE, 0, &id), 0);

	/* 300 bytes to registration offset 900: across both elements. */
	sgl_elem(&l[0], st->pg[2], 0, 200);
	sgl_elem(&l[1], st->pg[2], 200, 312);
	ok &= sgt_rc(ctx, "to peer", sgl_xfer1(XEN_SG_TRANSFER_TO_PEER, id,
					       900, 300, l, 2, 0), 0);
	if (memcmp(r0 + 1000, lp, 100) || memcmp(r1, lp + 100, 200) ||
	    r0[999] || r1[200]) {
		ktap_diag(ctx->ktap, "to peer: registration bytes wrong");
		ok = false;
	}

	/* And back, to local offset 2048. */
	sgl_elem(&l[0], st->pg[2], 2048, 300);
	ok &= sgt_rc(ctx, "from peer", sgl_xfer1(XEN_SG_TRANSFER_FROM_PEER, id,
						 900, 300, l, 1, 0), 0);
	if (memcmp(lp + 2048, lp, 300)) {
		ktap_diag(ctx->ktap, "from peer: local bytes wrong");
		ok = false;
	}

	ok &= sgt_rc(ctx, "unregister", sgt_id_op(XEN_SGOP_unregister, id), 0);
	ok &= sgt_usage_same(ctx, "after unregister", &before);
	return sgl_result(ctx, ok);
}

static enum sgtest_result __init sgl_batch_status(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	struct xen_sg_transfer ops[5];
	struct xen_sg_usage before;
	struct xen_sg_elem e, l;
	const long want[5] = { 0, -XEN_ENOENT, -XEN_ERANGE, -XEN_EINVAL, 0 };
	bool ok = true;
	unsigned int i;
	u32 id;

	if (!sgl_get(ctx))
		return sgl_result(ctx, false);
	sgt_usage(&before);
	sgl_elem(&e, st->pg[0], 0, PAGE_SIZE);
	sgl_elem(&l, st->pg[1], 0, PAGE_SIZE);
	ok &= sgt_rc(ctx, "register", sgl_register(&e, 1, XEN_SG_ACCESS_READ |
						   XEN_SG_ACCESS_WRITE, 0, &id), 0);
	sgl_xfer(&ops[0], XEN_SG_TRANSFER_TO_PEER, id, 0, 64, &l, 1, 0);
	sgl_xfer(&ops[1], XEN_SG_TRANSFER_TO_PEER, id + 1000, 0, 64, &l, 1, 0);
	sgl_xfer(&ops[2], XEN_SG_TRANSFER_TO_PEER, id, PAGE_SIZE - 8, 64, &l,
		 1, 0);
	sgl_xfer(&ops[3], XEN_SG_TRANSFER_FROM_PEER, id, 0, 64, &l, 1, 0);
	ops[3]._pad0 = 1;
	sgl_xfer(&ops[4], XEN_SG_TRANSFER_FROM_PEER, id, 0, 64, &l, 1, 0);
	ok &= sgt_rc(ctx, "batch", sgt_batch(ops, 5), 0);
	for (i = 0; i < 5; i++)
		ok &= sgt_rc(ctx, "op status", ops[i].status, want[i]);

	ok &= sgt_rc(ctx, "unregister", sgt_id_op(XEN_SGOP_unregister, id), 0);
	ok &= sgt_usage_same(ctx, "after unregister", &before);
	return sgl_result(ctx, ok);
}

static enum sgtest_result __init sgl_access_and_bounds(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	struct xen_sg_elem e, l[2];
	struct xen_sg_usage before;
	bool ok = true;
	u32 id, bad;

	if (!sgl_get(ctx))
		return sgl_result(ctx, false);
	sgt_usage(&before);
	sgl_elem(&e, st->pg[0], 0, 512);
	sgl_elem(&l[0], st->pg[1], 0, 512);
	ok &= sgt_rc(ctx, "register read-only",
		     sgl_register(&e, 1, XEN_SG_ACCESS_READ, 0, &id), 0);
	ok &= sgt_rc(ctx, "write to read-only",
		     sgl_xfer1(XEN_SG_TRANSFER_TO_PEER, id, 0, 8, l, 1, 0),
		     -XEN_EACCES);
	ok &= sgt_rc(ctx, "read from read-only",
		     sgl_xfer1(XEN_SG_TRANSFER_FROM_PEER, id, 0, 8, l, 1, 0), 0);
	ok &= sgt_rc(ctx, "offset at end",
		     sgl_xfer1(XEN_SG_TRANSFER_FROM_PEER, id, 512, 1, l, 1, 0),
		     -XEN_ERANGE);
	ok &= sgt_rc(ctx, "offset + length past end",
		     sgl_xfer1(XEN_SG_TRANSFER_FROM_PEER, id, 500, 13, l, 1, 0),
		     -XEN_ERANGE);
	ok &= sgt_rc(ctx, "offset + length overflowing",
		     sgl_xfer1(XEN_SG_TRANSFER_FROM_PEER, id, ~0ULL - 3, 8, l,
			       1, 0), -XEN_ERANGE);
	ok &= sgt_rc(ctx, "length beyond the local list",
		     sgl_xfer1(XEN_SG_TRANSFER_FROM_PEER, id, 0, 513, l, 1, 0),
		     -XEN_EINVAL);
	ok &= sgt_rc(ctx, "huge length",
		     sgl_xfer1(XEN_SG_TRANSFER_FROM_PEER, id, 0, ~0ULL, l, 1, 0),
		     -XEN_EINVAL);
	sgl_elem(&l[1], st->pg[1], 4000, 100);
	ok &= sgt_rc(ctx, "local element past its page",
		     sgl_xfer1(XEN_SG_TRANSFER_FROM_PEER, id, 0, 8, l, 2, 0),
		     -XEN_EINVAL);
	ok &= sgt_rc(ctx, "zero local elements",
		     sgl_xfer1(XEN_SG_TRANSFER_FROM_PEER, id, 0, 8, l, 0, 0),
		     -XEN_EINVAL);
	ok &= sgt_rc(ctx, "unknown transfer flag",
		     sgl_xfer1(XEN_SG_TRANSFER_FROM_PEER, id, 0, 8, l, 1, 2),
		     -XEN_EINVAL);
	ok &= sgt_rc(ctx, "bad direction",
		     sgl_xfer1(2, id, 0, 8, l, 1, 0), -XEN_EINVAL);
	ok &= sgt_rc(ctx, "unregister", sgt_id_op(XEN_SGOP_unregister, id), 0);

	/* Registrations that are refused take nothing. */
	sgl_elem(&e, st->pg[0], 4000, 100);
	ok &= sgt_rc(ctx, "register element past its page",
		     sgl_register(&e, 1, XEN_SG_ACCESS_READ, 0, &bad),
		     -XEN_EINVAL);
	sgl_elem(&e, st->pg[0], 0, 0);
	ok &= sgt_rc(ctx, "register empty element",
		     sgl_register(&e, 1, XEN_SG_ACCESS_READ, 0, &bad),
		     -XEN_EINVAL);
	sgl_elem(&e, st->pg[0], 0, 8);
	ok &= sgt_rc(ctx, "register without access",
		     sgl_register(&e, 1, 0, 0, &bad), -XEN_EINVAL);
	ok &= sgt_rc(ctx, "register unknown flag",
		     sgl_register(&e, 1, XEN_SG_ACCESS_READ, 2, &bad),
		     -XEN_EINVAL);
	e.frame = ~0ULL >> 12;
	ok &= sgt_rc(ctx, "register a frame that is not ours",
		     sgl_register(&e, 1, XEN_SG_ACCESS_READ, 0, &bad),
		     -XEN_EINVAL);
	ok &= sgt_usage_same(ctx, "after refused registrations", &before);
	return sgl_result(ctx, ok);
}

static enum sgtest_result __init sgl_bad_ids(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	struct xen_sg_usage before;
	struct xen_sg_addr a;
	struct xen_sg_elem l;
	bool ok = true;
	u32 fired;

	if (!sgl_get(ctx))
		return sgl_result(ctx, false);
	sgt_usage(&before);
	sgl_elem(&l, st->pg[0], 0, 64);
	ok &= sgt_rc(ctx, "unregister unknown id",
		     sgt_id_op(XEN_SGOP_unregister, 0xdead), -XEN_ENOENT);
	ok &= sgt_rc(ctx, "rearm unknown id",
		     sgt_id_op(XEN_SGOP_rearm, 0xdead), -XEN_ENOENT);
	ok &= sgt_rc(ctx, "transfer to unknown id",
		     sgl_xfer1(XEN_SG_TRANSFER_TO_PEER, 0xdead, 0, 8, &l, 1, 0),
		     -XEN_ENOENT);
	sgl_addr_reg(&a, 0xdead, 0);
	ok &= sgt_rc(ctx, "trigger unknown id", sgt_trigger(&a, &fired),
		     -XEN_ENOENT);
	a.owner = 0x7f00;
	ok &= sgt_rc(ctx, "trigger in no domain", sgt_trigger(&a, &fired),
		     -XEN_ESRCH);
	ok &= sgt_usage_same(ctx, "after bad ids", &before);
	return sgl_result(ctx, ok);
}

/*
 * IDs are never reused (ABI 1.3): 2 * max_regs registrations made and
 * dropped one after another (more than the domain could hold at once) all
 * get distinct IDs, and the first stays unknown.
 */
static enum sgtest_result __init sgl_ids_not_reused(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	unsigned int i, j, n = 2 * st->limits.max_regs;
	struct xen_sg_usage before;
	struct xen_sg_elem e, l;
	bool ok = true;
	u32 *ids;

	ids = kcalloc(n, sizeof(*ids), GFP_KERNEL);
	if (!ids || !sgl_get(ctx)) {
		kfree(ids);
		return sgl_result(ctx, false);
	}
	sgt_usage(&before);
	sgl_elem(&e, st->pg[0], 0, 64);
	sgl_elem(&l, st->pg[1], 0, 64);
	for (i = 0; i < n && ok; i++) {
		ok &= sgt_rc(ctx, "register",
			     sgl_register(&e, 1, XEN_SG_ACCESS_READ, 0, &ids[i]),
			     0);
		for (j = 0; j < i && ok; j++) {
			if (ids[j] == ids[i]) {
				ktap_diag(ctx->ktap,
					  "registration %u got ID %u again (first given to registration %u)",
					  i, ids[i], j);
				ok = false;
			}
		}
		ok &= sgt_rc(ctx, "unregister",
			     sgt_id_op(XEN_SGOP_unregister, ids[i]), 0);
	}
	ok &= sgt_rc(ctx, "transfer from the first, unregistered ID",
		     sgl_xfer1(XEN_SG_TRANSFER_FROM_PEER, ids[0], 0, 8, &l, 1, 0),
		     -XEN_ENOENT);
	ok &= sgt_usage_same(ctx, "after the registrations", &before);
	kfree(ids);
	return sgl_result(ctx, ok);
}

static enum sgtest_result __init sgl_oneshot_rearm(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	struct xen_sg_usage before;
	struct xen_sg_elem e, l;
	bool ok = true;
	u32 id;

	if (!sgl_get(ctx))
		return sgl_result(ctx, false);
	sgt_usage(&before);
	sgl_elem(&e, st->pg[0], 0, 256);
	sgl_elem(&l, st->pg[1], 0, 256);
	ok &= sgt_rc(ctx, "register one-shot",
		     sgl_register(&e, 1, XEN_SG_ACCESS_WRITE,
				  XEN_SG_REG_ONESHOT, &id), 0);
	ok &= sgt_rc(ctx, "first transfer",
		     sgl_xfer1(XEN_SG_TRANSFER_TO_PEER, id, 0, 16, &l, 1, 0), 0);
	ok &= sgt_rc(ctx, "second transfer",
		     sgl_xfer1(XEN_SG_TRANSFER_TO_PEER, id, 0, 16, &l, 1, 0),
		     -XEN_EBUSY);
	ok &= sgt_rc(ctx, "rearm", sgt_id_op(XEN_SGOP_rearm, id), 0);
	ok &= sgt_rc(ctx, "transfer after rearm",
		     sgl_xfer1(XEN_SG_TRANSFER_TO_PEER, id, 0, 16, &l, 1, 0), 0);
	ok &= sgt_rc(ctx, "unregister", sgt_id_op(XEN_SGOP_unregister, id), 0);
	ok &= sgt_usage_same(ctx, "after unregister", &before);
	return sgl_result(ctx, ok);
}

static enum sgtest_result __init sgl_limits(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	const struct xen_sg_limits *lim = &st->limits;
	unsigned int i, n_elems = lim->max_elems, nregs = 0;
	struct xen_sg_usage before, full;
	struct xen_sg_elem *e;
	bool ok = true;
	u32 *ids, id;

	if (!sgl_get(ctx))
		return sgl_result(ctx, false);
	e = kcalloc(n_elems + 1, sizeof(*e), GFP_KERNEL);
	ids = kcalloc(lim->max_regs + 1, sizeof(*ids), GFP_KERNEL);
	if (!e || !ids) {
		ok = false;
		goto out;
	}
	sgt_usage(&before);
	for (i = 0; i <= n_elems; i++)
		sgl_elem(&e[i], st->pg[0], (i * 8) % PAGE_SIZE, 8);

	ok &= sgt_rc(ctx, "register max_elems + 1",
		     sgl_register(e, n_elems + 1, XEN_SG_ACCESS_READ, 0, &id),
		     -XEN_E2BIG);
	ok &= sgt_usage_same(ctx, "after max_elems + 1", &before);

	/* Pinned pages: registrations of max_elems elements until refused. */
	while (nregs < lim->max_regs) {
		long rc = sgl_register(e, n_elems, XEN_SG_ACCESS_READ, 0,
				       &ids[nregs]);

		if (rc) {
			ok &= sgt_rc(ctx, "register past max_pinned_pages", rc,
				     -XEN_ENOSPC);
			break;
		}
		nregs++;
	}
	sgt_usage(&full);
	if (full.pinned_pages > lim->max_pinned_pages ||
	    full.pinned_pages + n_elems <= lim->max_pinned_pages) {
		ktap_diag(ctx->ktap, "pinned_pages=%u of %u after %u regs",
			  full.pinned_pages, lim->max_pinned_pages, nregs);
		ok = false;
	}
	ok &= sgt_usage_same(ctx, "after refused pinning", &full);
	while (nregs)
		ok &= sgt_rc(ctx, "unregister",
			     sgt_id_op(XEN_SGOP_unregister, ids[--nregs]), 0);
	ok &= sgt_usage_same(ctx, "after unpinning", &before);

	/* Registrations: one-element ones until max_regs. */
	while (nregs < lim->max_regs) {
		if (sgl_register(e, 1, XEN_SG_ACCESS_READ, 0, &ids[nregs])) {
			ok &= sgt_rc(ctx, "register below max_regs", -1, 0);
			break;
		}
		nregs++;
	}
	sgt_usage(&full);
	ok &= sgt_rc(ctx, "register past max_regs",
		     sgl_register(e, 1, XEN_SG_ACCESS_READ, 0, &id),
		     full.regs >= lim->max_regs ? -XEN_ENOSPC : 0);
	ok &= sgt_usage_same(ctx, "after refused registration", &full);

	while (nregs)
		ok &= sgt_rc(ctx, "unregister",
			     sgt_id_op(XEN_SGOP_unregister, ids[--nregs]), 0);
	ok &= sgt_usage_same(ctx, "after unregistering all", &before);
out:
	kfree(ids);
	kfree(e);
	return sgl_result(ctx, ok);
}

static enum sgtest_result __init sgl_binding_limits(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	const struct xen_sg_limits *lim = &st->limits;
	unsigned int i, nports = lim->max_binds_per_addr + 1, nbound = 0;
	struct xen_sg_usage before, full;
	struct xen_sg_addr a;
	bool ok = true;
	u32 *ports;

	if (!sgl_get(ctx))
		return sgl_result(ctx, false);
	ports = kcalloc(nports, sizeof(*ports), GFP_KERNEL);
	if (!ports)
		return sgl_result(ctx, false);
	sgt_usage(&before);
	for (i = 0; i < nports; i++)
		ok &= sgt_rc(ctx, "alloc port", sgt_alloc_port(&ports[i]), 0);

	/* max_binds_per_addr ports on one address, then one more. */
	sgl_addr_frame(&a, st->pg[0], 64);
	for (i = 0; i + 1 < nports; i++)
		ok &= sgt_rc(ctx, "bind", sgt_bind(&a, ports[i], NULL, 0), 0);
	ok &= sgt_rc(ctx, "bind the same port twice",
		     sgt_bind(&a, ports[0], NULL, 0), -XEN_EEXIST);
	ok &= sgt_rc(ctx, "bind past max_binds_per_addr",
		     sgt_bind(&a, ports[nports - 1], NULL, 0), -XEN_ENOSPC);
	for (i = 0; i + 1 < nports; i++)
		ok &= sgt_rc(ctx, "unbind", HYPERVISOR_sg_op(XEN_SGOP_unbind,
			     &(struct xen_sg_unbind){ .addr = a,
						      .port = ports[i] }), 0);
	ok &= sgt_usage_same(ctx, "after unbinding", &before);

	/* max_bindings: one port on many addresses of our own pages. */
	while (nbound < lim->max_bindings) {
		sgl_addr_frame(&a, st->pg[nbound / PAGE_SIZE % SGL_PAGES],
			       nbound % PAGE_SIZE);
		if (sgt_bind(&a, ports[0], NULL, 0)) {
			ok &= sgt_rc(ctx, "bind below max_bindings", -1, 0);
			break;
		}
		nbound++;
	}
	sgt_usage(&full);
	sgl_addr_frame(&a, st->pg[2], PAGE_SIZE - 1);
	ok &= sgt_rc(ctx, "bind past max_bindings",
		     sgt_bind(&a, ports[1], NULL, 0),
		     full.bindings >= lim->max_bindings ? -XEN_ENOSPC : 0);
	ok &= sgt_usage_same(ctx, "after refused binding", &full);

	/* Closing the port ends every binding of it. */
	for (i = 0; i < nports; i++)
		sgt_close_port(ports[i]);
	ok &= sgt_usage_same(ctx, "after closing the ports", &before);
	kfree(ports);
	return sgl_result(ctx, ok);
}

static enum sgtest_result __init sgl_bind_errors(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	struct xen_sg_usage before;
	struct xen_sg_addr a;
	struct xen_sg_elem e;
	bool ok = true;
	u32 port, id;

	if (!sgl_get(ctx))
		return sgl_result(ctx, false);
	sgt_usage(&before);
	ok &= sgt_rc(ctx, "alloc port", sgt_alloc_port(&port), 0);
	sgl_elem(&e, st->pg[0], 0, 128);
	ok &= sgt_rc(ctx, "register",
		     sgl_register(&e, 1, XEN_SG_ACCESS_READ, 0, &id), 0);

	sgl_addr_reg(&a, id, 0);
	ok &= sgt_rc(ctx, "misaligned counter",
		     sgt_bind(&a, port, st->pg[1], 2), -XEN_EINVAL);
	ok &= sgt_rc(ctx, "counter past its page",
		     sgt_bind(&a, port, st->pg[1], PAGE_SIZE), -XEN_EINVAL);
	sgl_addr_reg(&a, id, 128);
	ok &= sgt_rc(ctx, "address past the registration",
		     sgt_bind(&a, port, NULL, 0), -XEN_ERANGE);
	sgl_addr_frame(&a, st->pg[1], PAGE_SIZE);
	ok &= sgt_rc(ctx, "address past the frame",
		     sgt_bind(&a, port, NULL, 0), -XEN_ERANGE);
	sgl_addr_reg(&a, id, 0);
	a.frame = 1;
	ok &= sgt_rc(ctx, "frame with a registration",
		     sgt_bind(&a, port, NULL, 0), -XEN_EINVAL);
	sgl_addr_reg(&a, id, 0);
	ok &= sgt_rc(ctx, "port that is not ours",
		     sgt_bind(&a, 0x7ffffff, NULL, 0), -XEN_EINVAL);
	ok &= sgt_rc(ctx, "unbind what is not bound",
		     HYPERVISOR_sg_op(XEN_SGOP_unbind,
				      &(struct xen_sg_unbind){ .addr = a,
							       .port = port }),
		     -XEN_ENOENT);

	/* Unregistering ends the bindings made through the registration. */
	ok &= sgt_rc(ctx, "bind", sgt_bind(&a, port, st->pg[1], 0), 0);
	ok &= sgt_rc(ctx, "unregister", sgt_id_op(XEN_SGOP_unregister, id), 0);
	ok &= sgt_usage_same(ctx, "after unregister", &before);
	sgt_close_port(port);
	return sgl_result(ctx, ok);
}

/* A counter of N fires the port once per N triggers. */
static enum sgtest_result __init sgl_counter(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	struct xen_sg_usage before;
	struct xen_sg_addr a;
	int irq, round, i, want = 0;
	bool ok = true;
	u32 port, fired;
	s32 *counter;

	if (!sgl_get(ctx))
		return sgl_result(ctx, false);
	sgt_usage(&before);
	counter = (s32 *)((u8 *)page_address(st->pg[1]) + 64);
	ok &= sgt_rc(ctx, "alloc port", sgt_alloc_port(&port), 0);
	irq = bind_evtchn_to_irqhandler(port, sgl_irq, 0, "sgtest", st);
	if (irq < 0) {
		ktap_diag(ctx->ktap, "bind_evtchn_to_irqhandler: %d", irq);
		sgt_close_port(port);
		return sgl_result(ctx, false);
	}

	sgl_addr_frame(&a, st->pg[0], 16);
	WRITE_ONCE(*counter, 3);
	ok &= sgt_rc(ctx, "bind with counter",
		     sgt_bind(&a, port, st->pg[1], 64), 0);
	for (round = 0; round < 3 && ok; round++) {
		WRITE_ONCE(*counter, 3);
		for (i = 0; i < 3; i++) {
			ok &= sgt_rc(ctx, "trigger", sgt_trigger(&a, &fired), 0);
			ok &= sgt_rc(ctx, "bindings fired", fired, 1);
			if (i == 2)
				want++;
			ok &= sgl_irqs_are(ctx, st, want, "counter of 3");
		}
		ok &= sgt_rc(ctx, "counter after 3 triggers",
			     READ_ONCE(*counter), 0);
	}
	/* At or below zero, every trigger fires. */
	ok &= sgt_rc(ctx, "trigger", sgt_trigger(&a, &fired), 0);
	ok &= sgl_irqs_are(ctx, st, ++want, "counter below zero");
	ok &= sgt_rc(ctx, "counter", READ_ONCE(*counter), -1);

	/* Closing the port ends the binding. */
	unbind_from_irqhandler(irq, st);
	ok &= sgt_usage_same(ctx, "after closing the port", &before);
	return sgl_result(ctx, ok);
}

/* A transfer triggers its destination; one address, two names. */
static enum sgtest_result __init sgl_trigger_on_transfer(struct sgtest_ctx *ctx)
{
	struct sgl_state *st = ctx->priv;
	struct xen_sg_addr a, raw;
	struct xen_sg_usage before;
	struct xen_sg_elem e, l;
	bool ok = true;
	u32 port, id, fired;
	int irq;

	if (!sgl_get(ctx))
		return sgl_result(ctx, false);
	sgt_usage(&before);
	sgl_elem(&e, st->pg[0], 256, 512);
	sgl_elem(&l, st->pg[1], 0, 64);
	ok &= sgt_rc(ctx, "register", sgl_register(&e, 1, XEN_SG_ACCESS_READ |
						   XEN_SG_ACCESS_WRITE, 0, &id), 0);
	ok &= sgt_rc(ctx, "alloc port", sgt_alloc_port(&port), 0);
	irq = bind_evtchn_to_irqhandler(port, sgl_irq, 0, "sgtest", st);
	if (irq < 0) {
		ktap_diag(ctx->ktap, "bind_evtchn_to_irqhandler: %d", irq);
		sgt_close_port(port);
		sgt_id_op(XEN_SGOP_unregister, id);
		return sgl_result(ctx, false);
	}

	sgl_addr_reg(&a, id, 8);
	ok &= sgt_rc(ctx, "bind", sgt_bind(&a, port, NULL, 0), 0);
	ok &= sgt_rc(ctx, "transfer with trigger",
		     sgl_xfer1(XEN_SG_TRANSFER_TO_PEER, id, 8, 32, &l, 1,
			       XEN_SG_TRANSFER_TRIGGER), 0);
	ok &= sgl_irqs_are(ctx, st, 1, "transfer to peer with trigger");
	ok &= sgt_rc(ctx, "transfer without trigger",
		     sgl_xfer1(XEN_SG_TRANSFER_TO_PEER, id, 8, 32, &l, 1, 0), 0);
	ok &= sgl_irqs_are(ctx, st, 1, "transfer without trigger");
	ok &= sgt_rc(ctx, "transfer from peer with trigger",
		     sgl_xfer1(XEN_SG_TRANSFER_FROM_PEER, id, 8, 32, &l, 1,
			       XEN_SG_TRANSFER_TRIGGER), 0);
	ok &= sgl_irqs_are(ctx, st, 2, "transfer from peer with trigger");

	/* The byte at registration offset 8 is page 0 byte 264. */
	sgl_addr_frame(&raw, st->pg[0], 264);
	ok &= sgt_rc(ctx, "trigger by frame", sgt_trigger(&raw, &fired), 0);
	ok &= sgt_rc(ctx, "bindings fired by frame", fired, 1);
	ok &= sgl_irqs_are(ctx, st, 3, "trigger by frame");
	sgl_addr_frame(&raw, st->pg[0], 265);
	ok &= sgt_rc(ctx, "trigger next byte", sgt_trigger(&raw, &fired), 0);
	ok &= sgt_rc(ctx, "bindings fired on next byte", fired, 0);

	ok &= sgt_rc(ctx, "unregister", sgt_id_op(XEN_SGOP_unregister, id), 0);
	ok &= sgt_rc(ctx, "trigger after unregister", sgt_trigger(&a, &fired),
		     -XEN_ENOENT);
	sgl_addr_frame(&raw, st->pg[0], 264);
	ok &= sgt_rc(ctx, "trigger frame after unregister",
		     sgt_trigger(&raw, &fired), 0);
	ok &= sgt_rc(ctx, "bindings left after unregister", fired, 0);
	unbind_from_irqhandler(irq, st);
	ok &= sgt_usage_same(ctx, "after unregister", &before);
	return sgl_result(ctx, ok);
}

static const struct sgtest_case sgl_cases[] __initconst = {
	{ "register_unregister", sgl_register_unregister },
	{ "transfer_both_ways_offsets", sgl_transfer_both_ways },
	{ "batch_per_op_status", sgl_batch_status },
	{ "access_and_bounds", sgl_access_and_bounds },
	{ "bad_ids", sgl_bad_ids },
	{ "ids_not_reused", sgl_ids_not_reused },
	{ "oneshot_rearm", sgl_oneshot_rearm },
	{ "limits_regs_elems_pinned", sgl_limits },
	{ "limits_bindings", sgl_binding_limits },
	{ "bind_errors", sgl_bind_errors },
	{ "counter_once_per_n", sgl_counter },
	{ "trigger_on_transfer", sgl_trigger_on_transfer },
};

const struct sgtest_suite sgtest_suite_sg_local __initconst = {
	.name = "sg_local",
	.init = sgl_init,
	.priv_size = sizeof(struct sgl_state),
	.cases = sgl_cases,
	.num_cases = ARRAY_SIZE(sgl_cases),
};
