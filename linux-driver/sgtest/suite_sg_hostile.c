// SPDX-License-Identifier: GPL-2.0
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/mmzone.h>
#include <linux/timekeeping.h>
#include <linux/vmalloc.h>

#include <xen/interface/grant_table.h>
#include <asm/xen/hypervisor.h>

#include "sgtest.h"

/*
 * The sg_hostile suite: what one domain can try on its own that sg_local
 * does not: frames that are not its own (MFN 0, MFNs past all of its
 * memory, its own page tables, Xen-heap pages shared with it), counters on
 * such frames, a batch long
 * enough to be preempted and continued, unregistering while a batch runs
 * on the registration, trigger storms, and every limit exactly at and one
 * past it.  Usage must be unchanged after every refused call.
 */

#define SGH_NOFRAME	BIT_ULL(40)
#define SGH_BATCH	8192		/* ops in the long batch */
#define SGH_XLEN	8		/* bytes per op */
#define SGH_REG_PAGES	16		/* SGH_BATCH * SGH_XLEN / PAGE_SIZE */
#define SGH_STORM	100000		/* triggers */

static_assert(SGH_BATCH * SGH_XLEN == SGH_REG_PAGES * PAGE_SIZE);

struct sgh_state {
	struct xen_sg_limits limits;
	bool privileged;
	u64 min_mfn, max_mfn;		/* of our memory (PV) */
};

static long __init sgh_register(const struct xen_sg_elem *e, unsigned int n,
				u16 access, u32 *id)
{
	return sgt_register(e, n, DOMID_SELF, access, 0, id);
}

static long __init sgh_unregister(u32 id)
{
	return sgt_id_op(XEN_SGOP_unregister, id);
}

static u64 __init sgh_global_continuations(void)
{
	struct xen_sg_global g = { };

	if (HYPERVISOR_sg_op(XEN_SGOP_query_global, &g))
		return 0;
	return g.transfer_continuations;
}

static int __init sgh_init(struct sgtest_ctx *ctx)
{
	struct sgh_state *st = ctx->priv;
	struct xen_sg_query q = { .domid = DOMID_SELF };
	struct xen_sg_global g = { };
	long rc = HYPERVISOR_sg_op(XEN_SGOP_query, &q);
	unsigned long pfn, end = 0;
	int nid;

	if (rc == -XEN_ENOSYS || (!rc && q.abi_version < 0x10002)) {
		ctx->skip_all = true;
		sgtest_set_reason(ctx, "sg_op 1.2 not available (rc=%ld)", rc);
		return 0;
	}
	if (rc)
		return -EIO;
	st->limits = q.limits;
	st->privileged = !HYPERVISOR_sg_op(XEN_SGOP_query_global, &g);

	/* The lowest and highest machine frame we own (PV). */
	st->min_mfn = ~0ULL;
	st->max_mfn = 0;
	if (xen_pv_domain()) {
		for_each_online_node(nid)
			end = max(end, node_end_pfn(nid));
		for (pfn = 0; pfn < min(end, xen_p2m_size); pfn++) {
			unsigned long mfn = __pfn_to_mfn(pfn);

			if (mfn == INVALID_P2M_ENTRY ||
			    (mfn & (FOREIGN_FRAME_BIT | IDENTITY_FRAME_BIT)))
				continue;
			st->min_mfn = min_t(u64, st->min_mfn, mfn);
			st->max_mfn = max_t(u64, st->max_mfn, mfn);
			if (!(pfn % 4096))
				cond_resched();
		}
		ktap_diag(ctx->ktap, "own mfns %#llx..%#llx", st->min_mfn,
			  st->max_mfn);
	}
	return 0;
}

/* Registrations naming frames that are not ours, and our page tables. */
static enum sgtest_result __init sgh_foreign_frames(struct sgtest_ctx *ctx)
{
	struct sgh_state *st = ctx->priv;
	struct xen_sg_usage before;
	struct xen_sg_elem e = { .offset = 0, .len = 64 };
	u64 frames[6];
	unsigned int i, n = 0;
	struct page *pg;
	bool ok = true;
	u64 pgd_mfn;
	u32 id;

	if (!xen_pv_domain()) {
		sgtest_set_reason(ctx, "frames are MFNs for PV guests only");
		return SGTEST_SKIP;
	}
	sgt_usage(&before);
	/*
	 * Xen's dom0 builder gives dom0 pages its p2m does not list (initial
	 * page tables, start info), so only a domU can be sure that the frames
	 * just past its own are someone else's.
	 */
	if (!st->privileged) {
		frames[n++] = st->max_mfn + 1;
		frames[n++] = st->max_mfn + 4096;
	}
	frames[n++] = SGH_NOFRAME;
	if (st->min_mfn > 0)
		frames[n++] = 0;
	if (st->min_mfn > 1)
		frames[n++] = st->min_mfn - 1;
	for (i = 0; i < n; i++) {
		e.frame = frames[i];
		ok &= sgt_rc(ctx, "register a frame that is not ours",
			     sgh_register(&e, 1, XEN_SG_ACCESS_READ |
					  XEN_SG_ACCESS_WRITE, &id), -XEN_EINVAL);
		ok &= sgt_rc(ctx, "register it read-only",
			     sgh_register(&e, 1, XEN_SG_ACCESS_READ, &id),
			     -XEN_EINVAL);
		if (!ok)
			ktap_diag(ctx->ktap, "frame %#llx", frames[i]);
	}

	ok &= sgt_usage_same(ctx, "after foreign frames", &before);
	if (!current->mm) {
		ktap_diag(ctx->ktap, "no mm: page table checks left out");
		return ok ? SGTEST_PASS : SGTEST_FAIL;
	}

	/* A page table of ours: Xen must not let anyone write it. */
	pgd_mfn = virt_to_mfn(current->mm->pgd);
	e.frame = pgd_mfn;
	ok &= sgt_rc(ctx, "register our pgd writable",
		     sgh_register(&e, 1, XEN_SG_ACCESS_WRITE, &id), -XEN_EINVAL);
	ok &= sgt_usage_same(ctx, "after refused registrations", &before);

	/* Read-only it is ours to share; a copy into it is refused. */
	ok &= sgt_rc(ctx, "register our pgd read-only",
		     sgh_register(&e, 1, XEN_SG_ACCESS_READ, &id), 0);
	pg = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (pg && id) {
		struct xen_sg_elem l = { .frame = pgd_mfn, .len = 8 };
		struct xen_sg_transfer op = {
			.local = (u64)(uintptr_t)&l,
			.nr_local = 1,
			.peer = DOMID_SELF,
			.dir = XEN_SG_TRANSFER_FROM_PEER,
			.reg_id = id,
			.length = 8,
		};

		ok &= sgt_rc(ctx, "copy into our pgd", sgt_batch(&op, 1), 0);
		ok &= sgt_rc(ctx, "copy into our pgd: status", op.status,
			     -XEN_EINVAL);
	}
	if (id)
		ok &= sgt_rc(ctx, "unregister", sgh_unregister(id), 0);
	if (pg)
		__free_page(pg);
	ok &= sgt_usage_same(ctx, "at the end", &before);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

/* Counters on frames that are not ours, misaligned, in page tables. */
static enum sgtest_result __init sgh_bad_counters(struct sgtest_ctx *ctx)
{
	struct sgh_state *st = ctx->priv;
	static const u32 offs[] = { 1, 2, 3, 4093, 4094, 4095, 4096, 0xfffffffc };
	struct xen_sg_usage before;
	struct xen_sg_bind b = { };
	struct page *pg;
	bool ok = true;
	unsigned int i;
	u32 port;

	pg = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!pg)
		return SGTEST_FAIL;
	sgt_usage(&before);
	ok &= sgt_rc(ctx, "alloc port", sgt_alloc_port(&port), 0);
	b.addr.owner = DOMID_SELF;
	b.addr.frame = xen_page_to_gfn(pg);
	b.addr.offset = 0;
	b.port = port;
	b.flags = XEN_SG_BIND_COUNTER;
	b.counter_frame = xen_page_to_gfn(pg);
	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		b.counter_offset = offs[i];
		ok &= sgt_rc(ctx, "misaligned or outside counter",
			     HYPERVISOR_sg_op(XEN_SGOP_bind, &b), -XEN_EINVAL);
	}
	b.counter_offset = 0;
	b.counter_frame = SGH_NOFRAME;
	ok &= sgt_rc(ctx, "counter in no frame",
		     HYPERVISOR_sg_op(XEN_SGOP_bind, &b), -XEN_EINVAL);
	if (xen_pv_domain()) {
		/* dom0 may own the frame past its p2m: see sgh_foreign_frames(). */
		b.counter_frame = st->privileged ? 0 : st->max_mfn + 1;
		ok &= sgt_rc(ctx, "counter in a foreign frame",
			     HYPERVISOR_sg_op(XEN_SGOP_bind, &b), -XEN_EINVAL);
		if (current->mm) {
			b.counter_frame = virt_to_mfn(current->mm->pgd);
			ok &= sgt_rc(ctx, "counter in our pgd",
				     HYPERVISOR_sg_op(XEN_SGOP_bind, &b),
				     -XEN_EINVAL);
		}
		/* Nor an address on a foreign frame. */
		b.flags = 0;
		b.counter_frame = 0;
		b.addr.frame = st->privileged ? 0 : st->max_mfn + 1;
		ok &= sgt_rc(ctx, "address on a foreign frame",
			     HYPERVISOR_sg_op(XEN_SGOP_bind, &b), -XEN_EINVAL);
	}
	ok &= sgt_usage_same(ctx, "after refused bindings", &before);
	sgt_close_port(port);
	__free_page(pg);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

/*
 * Pages Xen shares with us from its own heap, our shared info and a grant
 * table frame, are ours by ownership but Xen's structures: no registration
 * (read-only or writable), counter or bound address on them (issue 12,
 * finding 6).
 */
static enum sgtest_result __init sgh_xen_heap_frames(struct sgtest_ctx *ctx)
{
	static const char *const what[] = { "shared info", "grant table frame" };
	struct gnttab_setup_table setup = { .dom = DOMID_SELF, .nr_frames = 1 };
	struct xen_sg_elem e = { .offset = 0, .len = 64 };
	struct xen_sg_usage before;
	struct xen_sg_bind b = { };
	xen_pfn_t gframe = 0;
	unsigned int i, n = 0;
	struct page *pg;
	bool ok = true;
	u64 frames[2];
	u32 id, port;
	int rc;

	if (!xen_pv_domain()) {
		sgtest_set_reason(ctx, "frames are MFNs for PV guests only");
		return SGTEST_SKIP;
	}
	frames[n++] = xen_start_info->shared_info >> PAGE_SHIFT;
	set_xen_guest_handle(setup.frame_list, &gframe);
	rc = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &setup, 1);
	if (rc || setup.status != GNTST_okay) {
		ktap_diag(ctx->ktap, "GNTTABOP_setup_table: rc=%d status=%d",
			  rc, setup.status);
		return SGTEST_FAIL;
	}
	frames[n++] = gframe;

	pg = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!pg)
		return SGTEST_FAIL;
	sgt_usage(&before);
	ok &= sgt_rc(ctx, "alloc port", sgt_alloc_port(&port), 0);
	b.port = port;
	b.addr.owner = DOMID_SELF;
	for (i = 0; i < n; i++) {
		ktap_diag(ctx->ktap, "%s: frame %#llx", what[i], frames[i]);
		e.frame = frames[i];
		ok &= sgt_rc(ctx, "register it read-only",
			     sgh_register(&e, 1, XEN_SG_ACCESS_READ, &id),
			     -XEN_EINVAL);
		ok &= sgt_rc(ctx, "register it writable",
			     sgh_register(&e, 1, XEN_SG_ACCESS_READ |
					  XEN_SG_ACCESS_WRITE, &id), -XEN_EINVAL);
		b.flags = XEN_SG_BIND_COUNTER;
		b.addr.frame = xen_page_to_gfn(pg);
		b.counter_frame = frames[i];
		b.counter_offset = 64;
		ok &= sgt_rc(ctx, "a counter in it",
			     HYPERVISOR_sg_op(XEN_SGOP_bind, &b), -XEN_EINVAL);
		b.flags = 0;
		b.counter_frame = 0;
		b.counter_offset = 0;
		b.addr.frame = frames[i];
		ok &= sgt_rc(ctx, "an address in it",
			     HYPERVISOR_sg_op(XEN_SGOP_bind, &b), -XEN_EINVAL);
	}
	ok &= sgt_usage_same(ctx, "after Xen-heap frames", &before);
	sgt_close_port(port);
	__free_page(pg);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

/* A registration of SGH_REG_PAGES pages and a local page, for batches. */
struct sgh_bufs {
	struct page *reg[SGH_REG_PAGES];
	struct page *local;
	struct xen_sg_elem relems[SGH_REG_PAGES];
	struct xen_sg_elem lelem;
	struct xen_sg_transfer *ops;
	u32 id;
};

static void __init sgh_bufs_free(struct sgh_bufs *bf)
{
	unsigned int i;

	for (i = 0; i < SGH_REG_PAGES; i++)
		if (bf->reg[i])
			__free_page(bf->reg[i]);
	if (bf->local)
		__free_page(bf->local);
	vfree(bf->ops);
	kfree(bf);
}

static struct sgh_bufs *__init sgh_bufs_alloc(void)
{
	struct sgh_bufs *bf = kzalloc(sizeof(*bf), GFP_KERNEL);
	unsigned int i;
	u8 *lp;

	if (!bf)
		return NULL;
	bf->ops = vzalloc(array_size(SGH_BATCH, sizeof(*bf->ops)));
	bf->local = alloc_page(GFP_KERNEL | __GFP_ZERO);
	for (i = 0; i < SGH_REG_PAGES; i++) {
		bf->reg[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!bf->reg[i])
			break;
		bf->relems[i].frame = xen_page_to_gfn(bf->reg[i]);
		bf->relems[i].len = PAGE_SIZE;
	}
	if (!bf->ops || !bf->local || i < SGH_REG_PAGES) {
		sgh_bufs_free(bf);
		return NULL;
	}
	lp = page_address(bf->local);
	for (i = 0; i < PAGE_SIZE; i++)
		lp[i] = i * 13 + 5;
	bf->lelem.frame = xen_page_to_gfn(bf->local);
	bf->lelem.len = PAGE_SIZE;
	/* Op i copies 8 bytes of the local page to registration offset 8i. */
	for (i = 0; i < SGH_BATCH; i++) {
		struct xen_sg_transfer *op = &bf->ops[i];

		op->local = (u64)(uintptr_t)&bf->lelem;
		op->nr_local = 1;
		op->peer = DOMID_SELF;
		op->dir = XEN_SG_TRANSFER_TO_PEER;
		op->offset = (u64)i * SGH_XLEN;
		op->length = SGH_XLEN;
		op->status = 1;
	}
	return bf;
}

static void __init sgh_bufs_arm(struct sgh_bufs *bf, u32 id)
{
	unsigned int i;

	bf->id = id;
	for (i = 0; i < SGH_BATCH; i++) {
		bf->ops[i].reg_id = id;
		bf->ops[i].status = 1;
	}
}

struct sgh_port {
	atomic_t events;
	u32 port;
	int irq;
};

static irqreturn_t sgh_irq(int irq, void *dev_id)
{
	struct sgh_port *p = dev_id;

	atomic_inc(&p->events);
	return IRQ_HANDLED;
}

/* A port of our own with an irq handler counting its events. */
static bool __init sgh_port_open(struct sgh_port *p, const char *name)
{
	atomic_set(&p->events, 0);
	p->irq = -1;
	if (sgt_alloc_port(&p->port))
		return false;
	p->irq = bind_evtchn_to_irqhandler(p->port, sgh_irq, 0, name, p);
	if (p->irq < 0) {
		sgt_close_port(p->port);
		return false;
	}
	return true;
}

/* Closing the port also ends every binding of it. */
static void __init sgh_port_close(struct sgh_port *p)
{
	if (p->irq >= 0)
		unbind_from_irqhandler(p->irq, p);
	p->irq = -1;
}

/*
 * Thousands of small transfers in one batch: preempted and continued.
 *
 * Xen continues a batch when it sees other work for the caller: a softirq
 * or an event to deliver.  Whether a timer fires during the batch depends
 * on timing, so op 0 also triggers its own destination, bound (without a
 * counter) to a port of ours: from op 1 on an event is pending, and the
 * batch must be continued at least once, with the event delivered before
 * it completes.
 */
/*
 * The long batch needs one registration of SGH_REG_PAGES elements: with
 * smaller limits on Xen's command line it cannot run, which is no failure.
 */
static bool __init sgh_batch_fits(struct sgtest_ctx *ctx)
{
	const struct sgh_state *st = ctx->priv;

	if (st->limits.max_elems >= SGH_REG_PAGES &&
	    st->limits.max_pinned_pages >= SGH_REG_PAGES)
		return true;
	sgtest_set_reason(ctx, "needs max_elems and max_pinned_pages >= %u",
			  SGH_REG_PAGES);
	return false;
}

static enum sgtest_result __init sgh_long_batch(struct sgtest_ctx *ctx)
{
	struct sgh_state *st = ctx->priv;
	struct xen_sg_usage before;
	struct sgh_bufs *bf;
	unsigned int i, bad = 0;
	bool ok = true;
	struct sgh_port kick;
	struct xen_sg_addr a = { .owner = DOMID_SELF };
	u64 c0, c1, t0;
	u32 id;

	if (!sgh_batch_fits(ctx))
		return SGTEST_SKIP;
	bf = sgh_bufs_alloc();
	if (!bf)
		return SGTEST_FAIL;
	sgt_usage(&before);
	ok &= sgt_rc(ctx, "register", sgh_register(bf->relems, SGH_REG_PAGES,
						   XEN_SG_ACCESS_WRITE, &id), 0);
	sgh_bufs_arm(bf, id);
	if (!sgh_port_open(&kick, "sgtest-kick")) {
		ktap_diag(ctx->ktap, "no port for the kick");
		ok = false;
	} else {
		a.reg_id = id;
		ok &= sgt_rc(ctx, "bind the kick", sgt_bind(&a, kick.port, NULL, 0), 0);
	}
	bf->ops[0].flags = XEN_SG_TRANSFER_TRIGGER;
	c0 = sgh_global_continuations();
	t0 = ktime_get_ns();
	ok &= sgt_rc(ctx, "batch", sgt_batch(bf->ops, SGH_BATCH), 0);
	t0 = ktime_get_ns() - t0;
	c1 = sgh_global_continuations();
	for (i = 0; i < SGH_BATCH; i++) {
		const u8 *lp = page_address(bf->local);
		unsigned int off = i * SGH_XLEN;
		const u8 *rp = (u8 *)page_address(bf->reg[off / PAGE_SIZE]) +
			       off % PAGE_SIZE;

		if (bf->ops[i].status || memcmp(rp, lp, SGH_XLEN)) {
			if (!bad++)
				ktap_diag(ctx->ktap, "op %u: status %d", i,
					  bf->ops[i].status);
		}
	}
	ok &= !bad;
	ktap_diag(ctx->ktap,
		  "sgtest.hostile batch ops=%u us=%llu bad=%u continuations=%llu kick_events=%d",
		  SGH_BATCH, t0 / 1000, bad, c1 - c0, atomic_read(&kick.events));
	if (st->privileged && c1 == c0) {
		ktap_diag(ctx->ktap, "the batch was never preempted");
		ok = false;
	}
	if (!atomic_read(&kick.events)) {
		ktap_diag(ctx->ktap, "op 0's trigger sent no event");
		ok = false;
	}
	sgh_port_close(&kick);
	if (id)
		ok &= sgt_rc(ctx, "unregister", sgh_unregister(id), 0);
	ok &= sgt_usage_same(ctx, "after the batch", &before);
	sgh_bufs_free(bf);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

struct sgh_racer {
	struct completion done;
	atomic_t *started;
	u32 id;
	long rc;
};

static int sgh_racer_fn(void *arg)
{
	struct sgh_racer *r = arg;
	struct xen_sg_id a = { .id = r->id };

	while (!atomic_read(r->started))
		cond_resched();
	usleep_range(500, 600);
	r->rc = HYPERVISOR_sg_op(XEN_SGOP_unregister, &a);
	complete(&r->done);
	return 0;
}

/*
 * Start a thread, on the next CPU when there is one, that unregisters @id
 * soon after *@started is set; its result in r->rc once r->done completes.
 */
static int __init sgh_racer_start(struct sgh_racer *r, atomic_t *started,
				  u32 id, const char *name)
{
	struct task_struct *t;

	init_completion(&r->done);
	r->started = started;
	r->id = id;
	r->rc = 1;
	t = kthread_create(sgh_racer_fn, r, name);
	if (IS_ERR(t))
		return PTR_ERR(t);
	if (num_online_cpus() > 1)
		kthread_bind(t, (raw_smp_processor_id() + 1) % num_online_cpus());
	wake_up_process(t);
	return 0;
}

/* Unregister from another thread while a batch runs on the registration. */
static enum sgtest_result __init sgh_unregister_during_batch(struct sgtest_ctx *ctx)
{
	struct xen_sg_usage before;
	struct sgh_racer r;
	atomic_t started = ATOMIC_INIT(0);
	unsigned int i, nok = 0, nent = 0, other = 0, flips = 0;
	struct sgh_bufs *bf;
	bool ok = true;
	u32 id;

	if (!sgh_batch_fits(ctx))
		return SGTEST_SKIP;
	bf = sgh_bufs_alloc();
	if (!bf)
		return SGTEST_FAIL;
	sgt_usage(&before);
	ok &= sgt_rc(ctx, "register", sgh_register(bf->relems, SGH_REG_PAGES,
						   XEN_SG_ACCESS_WRITE, &id), 0);
	sgh_bufs_arm(bf, id);
	if (sgh_racer_start(&r, &started, id, "sgtest-racer")) {
		sgh_unregister(id);
		sgh_bufs_free(bf);
		return SGTEST_FAIL;
	}

	atomic_set(&started, 1);
	ok &= sgt_rc(ctx, "batch", sgt_batch(bf->ops, SGH_BATCH), 0);
	wait_for_completion(&r.done);
	ok &= sgt_rc(ctx, "unregister from the other thread", r.rc, 0);

	/* A run of successes, then only -ENOENT. */
	for (i = 0; i < SGH_BATCH; i++) {
		s32 s = bf->ops[i].status;

		if (i && !s != !bf->ops[i - 1].status)
			flips++;
		if (!s)
			nok++;
		else if (s == -XEN_ENOENT)
			nent++;
		else
			other++;
	}
	ktap_diag(ctx->ktap,
		  "sgtest.hostile race ok=%u enoent=%u other=%u interleaved=%s",
		  nok, nent, other, nent && nok ? "yes" : "no");
	if (other || flips > 1 || (flips == 1 && bf->ops[0].status)) {
		ktap_diag(ctx->ktap, "statuses are not successes then -ENOENT");
		ok = false;
	}
	ok &= sgt_rc(ctx, "unregister again", sgh_unregister(id), -XEN_ENOENT);
	ok &= sgt_usage_same(ctx, "after the race", &before);
	sgh_bufs_free(bf);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

/*
 * Maximal ops: one registration of up to SGH_BIG_PAGES whole pages, and two
 * local lists of as many pages.  Xen copies an op in holds of 16 pages and
 * may preempt it between holds (issue 12, finding 2b).
 */
#define SGH_BIG_PAGES	64
#define SGH_BIG_ROUNDS	32	/* at most, privileged: until preempted inside */
#define SGH_BIG_OPS	8	/* ops in the unregister race */
#define SGH_HOLD_BYTES	(16 * PAGE_SIZE)

struct sgh_big {
	struct page *reg[SGH_BIG_PAGES];
	struct page *loc[2][SGH_BIG_PAGES];
	struct xen_sg_elem relems[SGH_BIG_PAGES];
	struct xen_sg_elem lelems[2][SGH_BIG_PAGES];
	struct xen_sg_transfer ops[SGH_BIG_OPS];
	unsigned int n;			/* pages in each */
	u32 id;
};

static void __init sgh_big_free(struct sgh_big *bg)
{
	unsigned int i;

	for (i = 0; i < SGH_BIG_PAGES; i++) {
		if (bg->reg[i])
			__free_page(bg->reg[i]);
		if (bg->loc[0][i])
			__free_page(bg->loc[0][i]);
		if (bg->loc[1][i])
			__free_page(bg->loc[1][i]);
	}
	kfree(bg);
}

static struct sgh_big *__init sgh_big_alloc(const struct sgh_state *st)
{
	struct sgh_big *bg = kzalloc(sizeof(*bg), GFP_KERNEL);
	unsigned int i, k;

	if (!bg)
		return NULL;
	bg->n = min3(st->limits.max_elems, st->limits.max_pinned_pages,
		     (u32)SGH_BIG_PAGES);
	for (i = 0; i < bg->n; i++) {
		bg->reg[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		bg->loc[0][i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		bg->loc[1][i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!bg->reg[i] || !bg->loc[0][i] || !bg->loc[1][i]) {
			sgh_big_free(bg);
			return NULL;
		}
		bg->relems[i].frame = xen_page_to_gfn(bg->reg[i]);
		bg->relems[i].len = PAGE_SIZE;
		for (k = 0; k < 2; k++) {
			bg->lelems[k][i].frame = xen_page_to_gfn(bg->loc[k][i]);
			bg->lelems[k][i].len = PAGE_SIZE;
		}
	}
	return bg;
}

/* Fill local list @k with a pattern of @seed; zero it if @seed is 0. */
static void __init sgh_big_fill(struct sgh_big *bg, unsigned int k, u32 seed)
{
	unsigned int i, j;

	for (i = 0; i < bg->n; i++) {
		u32 *w = page_address(bg->loc[k][i]);

		for (j = 0; j < PAGE_SIZE / 4; j++)
			w[j] = seed ? seed * 0x9e3779b1U + i * 1024 + j : 0;
	}
}

/* The first byte at which @pg[] differs from local list @k, or @len. */
static u64 __init sgh_big_same(struct sgh_big *bg, struct page **pg,
			       unsigned int k, u64 from, u64 len)
{
	u64 off;

	for (off = from; off < len; off += PAGE_SIZE) {
		unsigned int i = off / PAGE_SIZE;

		if (memcmp(page_address(pg[i]), page_address(bg->loc[k][i]),
			   PAGE_SIZE))
			return off;
	}
	return len;
}

static void __init sgh_big_op(struct sgh_big *bg, unsigned int i,
			      unsigned int k, u8 dir)
{
	sgt_xfer(&bg->ops[i], DOMID_SELF, bg->id, dir, 0,
		 (u64)bg->n * PAGE_SIZE, bg->lelems[k], bg->n, 0);
}

static u32 __init sgh_global_inop(void)
{
	struct xen_sg_global g = { };

	if (HYPERVISOR_sg_op(XEN_SGOP_query_global, &g))
		return 0;
	return g.inop_continuations;
}

/* Triggers an address from another CPU until told to stop. */
struct sgh_kicker {
	struct xen_sg_addr addr;
	atomic_t stop;
	unsigned long kicks;
	struct completion done;
};

static int sgh_kicker_fn(void *arg)
{
	struct sgh_kicker *kk = arg;
	struct xen_sg_trigger t;

	while (!atomic_read(&kk->stop)) {
		t = (struct xen_sg_trigger){ .addr = kk->addr };
		if (!HYPERVISOR_sg_op(XEN_SGOP_trigger, &t))
			kk->kicks++;
		usleep_range(50, 100);
	}
	complete(&kk->done);
	return 0;
}

/*
 * Maximal ops, both ways, every byte checked: each round copies local list
 * 0 into the registration and the registration into local list 1, one
 * batch.  Xen copies each op in holds of 16 pages and checks for
 * preemption between them; a privileged domain (which can read the global
 * counters) repeats rounds until inop_continuations moved, at most
 * SGH_BIG_ROUNDS, with another CPU triggering an address bound to a port
 * of ours meanwhile, so that Xen has an event to deliver (a counted
 * property: the rounds stop at the first preemption inside an op).
 */
static enum sgtest_result __init sgh_maximal_ops(struct sgtest_ctx *ctx)
{
	struct sgh_state *st = ctx->priv;
	struct sgh_kicker kk = { };
	struct task_struct *t = NULL;
	struct xen_sg_usage before;
	struct sgh_port kick = { .irq = -1 };
	struct sgh_big *bg;
	unsigned int r, rounds = st->privileged ? SGH_BIG_ROUNDS : 2;
	u32 c0, c1 = 0;
	u64 len, bad = 0;
	bool ok = true, port = false, unseen = false;

	bg = sgh_big_alloc(st);
	if (!bg)
		return SGTEST_FAIL;
	len = (u64)bg->n * PAGE_SIZE;
	if (len <= SGH_HOLD_BYTES) {
		/* Xen's limits allow no op longer than one lock hold. */
		ktap_diag(ctx->ktap, "needs ops longer than %lu bytes, limits allow %llu",
			  SGH_HOLD_BYTES, len);
		sgh_big_free(bg);
		return SGTEST_SKIP;
	}
	sgt_usage(&before);
	ok &= sgt_rc(ctx, "register", sgt_register(bg->relems, bg->n, DOMID_SELF,
						   XEN_SG_ACCESS_READ |
						   XEN_SG_ACCESS_WRITE, 0,
						   &bg->id), 0);
	if (!ok)
		goto out;

	if (st->privileged && num_online_cpus() > 1 &&
	    sgh_port_open(&kick, "sgtest-bigkick")) {
		port = true;
		kk.addr.owner = DOMID_SELF;
		kk.addr.reg_id = bg->id;
		ok &= sgt_rc(ctx, "bind the kick", sgt_bind(&kk.addr, kick.port,
							    NULL, 0), 0);
		init_completion(&kk.done);
		t = kthread_create(sgh_kicker_fn, &kk, "sgtest-kicker");
		if (IS_ERR(t)) {
			t = NULL;
		} else {
			kthread_bind(t, 1);
			wake_up_process(t);
		}
	}

	/* The kick's port is bound to CPU 0: run the batches there. */
	if (t)
		set_cpus_allowed_ptr(current, cpumask_of(0));
	c0 = sgh_global_inop();
	for (r = 0; r < rounds; r++) {
		sgh_big_fill(bg, 0, r + 1);
		sgh_big_fill(bg, 1, 0);
		sgh_big_op(bg, 0, 0, XEN_SG_TRANSFER_TO_PEER);
		sgh_big_op(bg, 1, 1, XEN_SG_TRANSFER_FROM_PEER);
		ok &= sgt_rc(ctx, "batch", sgt_batch(bg->ops, 2), 0);
		ok &= sgt_rc(ctx, "op to the peer", bg->ops[0].status, 0);
		ok &= sgt_rc(ctx, "op from the peer", bg->ops[1].status, 0);
		if (sgh_big_same(bg, bg->reg, 0, 0, len) != len ||
		    sgh_big_same(bg, bg->loc[1], 0, 0, len) != len)
			bad++;
		c1 = sgh_global_inop();
		if (!ok || (st->privileged && c1 != c0))
			break;
	}
	if (t) {
		set_cpus_allowed_ptr(current, cpu_possible_mask);
		atomic_set(&kk.stop, 1);
		wait_for_completion(&kk.done);
	}
	ktap_diag(ctx->ktap,
		  "sgtest.hostile maximal bytes=%llu rounds=%u bad=%llu inop_continuations=%u kicks=%lu",
		  len, min(r + 1, rounds), bad, c1 - c0, kk.kicks);
	if (bad) {
		ktap_diag(ctx->ktap, "data differs after a maximal op");
		ok = false;
	}
	/*
	 * Whether Xen finds an event to deliver between two holds depends on
	 * the kicker's timing: an op not preempted is reported as a SKIP (the
	 * bytes were still checked), never as a pass.
	 */
	if (st->privileged && c1 == c0) {
		ktap_diag(ctx->ktap, "no op was preempted inside in %u rounds",
			  rounds);
		unseen = true;
	}
	if (port)
		sgh_port_close(&kick);
	ok &= sgt_rc(ctx, "unregister", sgh_unregister(bg->id), 0);
out:
	ok &= sgt_usage_same(ctx, "after the maximal ops", &before);
	sgh_big_free(bg);
	if (!ok)
		return SGTEST_FAIL;
	return unseen ? SGTEST_SKIP : SGTEST_PASS;
}

/*
 * Unregister from another CPU while maximal ops run on the registration:
 * ops complete (0), then one may stop inside (-ENOENT after some holds),
 * then only -ENOENT.  What is in the registration is the failed op's data
 * up to a hold boundary and the op before it's after: nothing torn.
 * Whether the unregister lands inside an op depends on timing: it is
 * reported (mid_op=), not required.
 */
static enum sgtest_result __init sgh_unregister_during_op(struct sgtest_ctx *ctx)
{
	struct sgh_state *st = ctx->priv;
	struct xen_sg_usage before;
	atomic_t started = ATOMIC_INIT(0);
	struct sgh_racer r;
	struct sgh_big *bg;
	unsigned int i, k = SGH_BIG_OPS, other = 0;
	u64 len, x = 0;
	bool ok = true;

	bg = sgh_big_alloc(st);
	if (!bg)
		return SGTEST_FAIL;
	len = (u64)bg->n * PAGE_SIZE;
	sgt_usage(&before);
	ok &= sgt_rc(ctx, "register", sgt_register(bg->relems, bg->n, DOMID_SELF,
						   XEN_SG_ACCESS_WRITE, 0,
						   &bg->id), 0);
	if (!ok)
		goto out;
	sgh_big_fill(bg, 0, 101);
	sgh_big_fill(bg, 1, 202);
	for (i = 0; i < SGH_BIG_OPS; i++)
		sgh_big_op(bg, i, i % 2, XEN_SG_TRANSFER_TO_PEER);

	if (sgh_racer_start(&r, &started, bg->id, "sgtest-opracer")) {
		sgh_unregister(bg->id);
		ok = false;
		goto out;
	}
	atomic_set(&started, 1);
	ok &= sgt_rc(ctx, "batch", sgt_batch(bg->ops, SGH_BIG_OPS), 0);
	wait_for_completion(&r.done);
	ok &= sgt_rc(ctx, "unregister from the other thread", r.rc, 0);

	/* k: the first op that did not complete. */
	for (i = 0; i < SGH_BIG_OPS; i++) {
		s32 s = bg->ops[i].status;

		if (s && s != -XEN_ENOENT)
			other++;
		if (s && k == SGH_BIG_OPS)
			k = i;
		if (!s && k < SGH_BIG_OPS)
			other++;	/* a success after a failure */
	}
	if (k < SGH_BIG_OPS) {
		/* Op k's data up to x, then op k - 1's (or zeros). */
		x = sgh_big_same(bg, bg->reg, k % 2, 0, len);
		if (x % SGH_HOLD_BYTES) {
			ktap_diag(ctx->ktap, "op %u stopped at %llu, not a hold boundary",
				  k, x);
			ok = false;
		}
		if (k && sgh_big_same(bg, bg->reg, (k - 1) % 2, x, len) != len) {
			ktap_diag(ctx->ktap, "after %llu: not op %u's data", x, k - 1);
			ok = false;
		}
	}
	ktap_diag(ctx->ktap,
		  "sgtest.hostile oprace completed=%u stopped_at=%llu of %llu mid_op=%s",
		  k, x, len, x && x < len ? "yes" : "no");
	if (other) {
		ktap_diag(ctx->ktap, "statuses are not successes then -ENOENT");
		ok = false;
	}
	ok &= sgt_rc(ctx, "unregister again", sgh_unregister(bg->id), -XEN_ENOENT);
out:
	ok &= sgt_usage_same(ctx, "after the race", &before);
	sgh_big_free(bg);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

/*
 * The sg_op heap a domain holds is charged and limited (max_heap; issue
 * 12, finding 4): registrations of max_pinned_pages / max_regs elements up
 * to max_regs, then bindings until one is refused.  The refusal must come
 * from the heap (usage.heap + one binding's cost > max_heap, bindings below
 * max_bindings), change nothing, and end once a registration is dropped.
 */
static enum sgtest_result __init sgh_heap_limit_exact(struct sgtest_ctx *ctx)
{
	struct sgh_state *st = ctx->priv;
	const struct xen_sg_limits *lim = &st->limits;
	unsigned int i, k, nregs = 0, nb = 0;
	struct xen_sg_usage before, u, full;
	struct xen_sg_bind b = { };
	struct xen_sg_elem *e = NULL;
	struct page *pg[2] = { };
	u32 *ids = NULL, port = 0, bcost = 0, rcost = 0;
	bool ok = true, hit = false;
	long rc;

	k = max(1U, min(lim->max_elems, lim->max_pinned_pages / lim->max_regs));
	pg[0] = alloc_page(GFP_KERNEL | __GFP_ZERO);
	pg[1] = alloc_page(GFP_KERNEL | __GFP_ZERO);
	e = kcalloc(k, sizeof(*e), GFP_KERNEL);
	ids = kcalloc(lim->max_regs, sizeof(*ids), GFP_KERNEL);
	if (!pg[0] || !pg[1] || !e || !ids || lim->max_bindings >= 2 * PAGE_SIZE) {
		ok = false;
		goto out;
	}
	for (i = 0; i < k; i++) {
		e[i].frame = xen_page_to_gfn(pg[0]);
		e[i].offset = (i * 4) % PAGE_SIZE;
		e[i].len = 4;
	}
	sgt_usage(&before);

	/* Registrations, as long as every limit allows. */
	while (nregs < lim->max_regs &&
	       (nregs + 1) * k <= lim->max_pinned_pages - before.pinned_pages) {
		sgt_usage(&u);
		rc = sgh_register(e, k, XEN_SG_ACCESS_READ, &ids[nregs]);
		if (rc == -XEN_ENOSPC)
			break;
		if (!sgt_rc(ctx, "register below the limits", rc, 0)) {
			ok = false;
			break;
		}
		if (!nregs) {
			sgt_usage(&full);
			rcost = full.heap - u.heap;
		}
		nregs++;
	}

	/* Then bindings of one port, each on its own address. */
	ok &= sgt_rc(ctx, "alloc port", sgt_alloc_port(&port), 0);
	b.addr.owner = DOMID_SELF;
	b.port = port;
	while (ok && before.bindings + nb < lim->max_bindings) {
		b.addr.frame = xen_page_to_gfn(pg[nb / PAGE_SIZE]);
		b.addr.offset = nb % PAGE_SIZE;
		sgt_usage(&u);
		rc = HYPERVISOR_sg_op(XEN_SGOP_bind, &b);
		if (rc == -XEN_ENOSPC) {
			hit = true;
			break;
		}
		if (!sgt_rc(ctx, "bind below the limits", rc, 0)) {
			ok = false;
			break;
		}
		if (!nb) {
			sgt_usage(&full);
			bcost = full.heap - u.heap;
		}
		nb++;
	}
	sgt_usage(&full);
	ktap_diag(ctx->ktap,
		  "sgtest.hostile heap max_heap=%u heap=%u reg_cost=%u (%u elems) bind_cost=%u regs=%u bindings=%u refused=%s",
		  lim->max_heap, full.heap, rcost, k, bcost, nregs, nb,
		  hit ? "yes" : "no");
	if (ok && !hit) {
		sgtest_set_reason(ctx, "max_heap %u not reached within the other limits",
				  lim->max_heap);
		sgt_close_port(port);
		port = 0;
		while (nregs)
			sgh_unregister(ids[--nregs]);
		kfree(ids);
		kfree(e);
		__free_page(pg[0]);
		__free_page(pg[1]);
		return SGTEST_SKIP;
	}
	if (hit) {
		/* Exactly at the limit: the next binding would pass it. */
		if (!bcost || full.heap > lim->max_heap ||
		    full.heap + bcost <= lim->max_heap) {
			ktap_diag(ctx->ktap, "refused at heap %u + %u, max_heap %u",
				  full.heap, bcost, lim->max_heap);
			ok = false;
		}
		ok &= sgt_rc(ctx, "refused again, usage unchanged",
			     HYPERVISOR_sg_op(XEN_SGOP_bind, &b), -XEN_ENOSPC);
		ok &= sgt_usage_same(ctx, "after the refusal", &full);
		/* A registration dropped makes room again. */
		if (nregs) {
			ok &= sgt_rc(ctx, "unregister one",
				     sgh_unregister(ids[--nregs]), 0);
			ok &= sgt_rc(ctx, "bind after unregistering",
				     HYPERVISOR_sg_op(XEN_SGOP_bind, &b), 0);
		}
	}
out:
	if (port)
		sgt_close_port(port);
	while (nregs)
		ok &= sgt_rc(ctx, "unregister", sgh_unregister(ids[--nregs]), 0);
	if (pg[0])
		ok &= sgt_usage_same(ctx, "after releasing all", &before);
	kfree(ids);
	kfree(e);
	if (pg[0])
		__free_page(pg[0]);
	if (pg[1])
		__free_page(pg[1]);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

/* max_binds_per_addr bindings with counters on one address, many triggers. */
static enum sgtest_result __init sgh_trigger_storm(struct sgtest_ctx *ctx)
{
	struct sgh_state *st = ctx->priv;
	unsigned int i, n = min(st->limits.max_binds_per_addr, 64U), bad = 0;
	struct xen_sg_usage before;
	struct xen_sg_trigger t = { };
	struct sgh_port *p;
	struct page *apg, *cpg;
	bool ok = true;
	s32 *cnt;
	u64 t0;

	p = kcalloc(n, sizeof(*p), GFP_KERNEL);
	apg = alloc_page(GFP_KERNEL | __GFP_ZERO);
	cpg = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!p || !apg || !cpg) {
		ok = false;
		goto out;
	}
	for (i = 0; i < n; i++)
		p[i].irq = -1;	/* not opened: nothing to close */
	cnt = page_address(cpg);
	sgt_usage(&before);
	t.addr.owner = DOMID_SELF;
	t.addr.frame = xen_page_to_gfn(apg);
	t.addr.offset = 100;
	for (i = 0; i < n; i++) {
		struct xen_sg_bind b = {
			.addr = t.addr,
			.flags = XEN_SG_BIND_COUNTER,
			.counter_frame = xen_page_to_gfn(cpg),
			.counter_offset = i * 4,
		};

		if (!sgh_port_open(&p[i], "sgtest-storm")) {
			ok = false;
			break;
		}
		/* Counter i reaches zero after 1000 * (i + 1) triggers. */
		WRITE_ONCE(cnt[i], 1000 * (i + 1));
		b.port = p[i].port;
		ok &= sgt_rc(ctx, "bind", HYPERVISOR_sg_op(XEN_SGOP_bind, &b), 0);
	}
	if (!ok)
		goto unbind;

	t0 = ktime_get_ns();
	for (i = 0; i < SGH_STORM; i++) {
		long rc = HYPERVISOR_sg_op(XEN_SGOP_trigger, &t);

		if ((rc || t.fired != n) && !bad++)
			ktap_diag(ctx->ktap, "trigger %u: rc=%ld fired=%u", i,
				  rc, t.fired);
		if (!(i % 1024))
			cond_resched();
	}
	t0 = ktime_get_ns() - t0;
	msleep(50);
	ok &= !bad;
	for (i = 0; i < n; i++) {
		s32 want = 1000 * (i + 1) - SGH_STORM;

		if (READ_ONCE(cnt[i]) != want) {
			ktap_diag(ctx->ktap, "counter %u: %d, expected %d", i,
				  READ_ONCE(cnt[i]), want);
			ok = false;
		}
		/* At least one event once the counter reached zero. */
		if (want <= 0 && !atomic_read(&p[i].events)) {
			ktap_diag(ctx->ktap, "port %u: no event", i);
			ok = false;
		}
	}
	ktap_diag(ctx->ktap, "sgtest.hostile storm triggers=%u bindings=%u ms=%llu events0=%d",
		  SGH_STORM, n, t0 / 1000000, atomic_read(&p[0].events));
unbind:
	for (i = 0; i < n; i++)
		sgh_port_close(&p[i]);
	ok &= sgt_usage_same(ctx, "after closing the ports", &before);
out:
	if (apg)
		__free_page(apg);
	if (cpg)
		__free_page(cpg);
	kfree(p);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

/* max_regs, max_pinned_pages, max_elems: exactly at the limit, then one past. */
static enum sgtest_result __init sgh_reg_limits_exact(struct sgtest_ctx *ctx)
{
	struct sgh_state *st = ctx->priv;
	const struct xen_sg_limits *lim = &st->limits;
	unsigned int i, nregs = 0, pinned = 0, me = lim->max_elems;
	struct xen_sg_usage before, full;
	struct xen_sg_elem *e;
	struct page *pg;
	bool ok = true;
	u32 *ids, id;

	pg = alloc_page(GFP_KERNEL | __GFP_ZERO);
	e = kcalloc(me + 1, sizeof(*e), GFP_KERNEL);
	ids = kcalloc(lim->max_regs + 1, sizeof(*ids), GFP_KERNEL);
	if (!pg || !e || !ids) {
		ok = false;
		goto out;
	}
	for (i = 0; i <= me; i++) {
		e[i].frame = xen_page_to_gfn(pg);
		e[i].offset = (i * 4) % PAGE_SIZE;
		e[i].len = 4;
	}
	sgt_usage(&before);

	/* max_elems exactly, then one more. */
	ok &= sgt_rc(ctx, "register max_elems", sgh_register(e, me,
		     XEN_SG_ACCESS_READ, &id), 0);
	if (id)
		sgh_unregister(id);
	ok &= sgt_rc(ctx, "register max_elems + 1", sgh_register(e, me + 1,
		     XEN_SG_ACCESS_READ, &id), -XEN_E2BIG);
	ok &= sgt_usage_same(ctx, "after max_elems", &before);

	/* Pin exactly max_pinned_pages (if max_regs allows), then one more. */
	while (pinned < lim->max_pinned_pages && nregs < lim->max_regs) {
		unsigned int k = min(me, lim->max_pinned_pages - pinned);

		if (sgh_register(e, k, XEN_SG_ACCESS_READ, &ids[nregs])) {
			ok &= sgt_rc(ctx, "register below max_pinned", -1, 0);
			break;
		}
		nregs++;
		pinned += k;
	}
	sgt_usage(&full);
	if (pinned == lim->max_pinned_pages) {
		ok &= sgt_rc(ctx, "pinned_pages at the limit",
			     full.pinned_pages, before.pinned_pages + pinned);
		ok &= sgt_rc(ctx, "one page past max_pinned_pages",
			     sgh_register(e, 1, XEN_SG_ACCESS_READ, &id),
			     -XEN_ENOSPC);
		ok &= sgt_usage_same(ctx, "after one page past", &full);
	} else {
		ktap_diag(ctx->ktap, "max_regs %u caps pinning below %u",
			  lim->max_regs, lim->max_pinned_pages);
	}
	while (nregs)
		ok &= sgt_rc(ctx, "unregister", sgh_unregister(ids[--nregs]), 0);
	ok &= sgt_usage_same(ctx, "after unpinning", &before);

	/* max_regs exactly, then one more. */
	while (nregs < lim->max_regs) {
		if (sgh_register(e, 1, XEN_SG_ACCESS_READ, &ids[nregs])) {
			ok &= sgt_rc(ctx, "register below max_regs", -1, 0);
			break;
		}
		nregs++;
	}
	sgt_usage(&full);
	ok &= sgt_rc(ctx, "regs at the limit", full.regs,
		     before.regs + lim->max_regs);
	ok &= sgt_rc(ctx, "register past max_regs",
		     sgh_register(e, 1, XEN_SG_ACCESS_READ, &id), -XEN_ENOSPC);
	ok &= sgt_usage_same(ctx, "after max_regs + 1", &full);
	while (nregs)
		ok &= sgt_rc(ctx, "unregister", sgh_unregister(ids[--nregs]), 0);
	ok &= sgt_usage_same(ctx, "after unregistering", &before);
out:
	kfree(ids);
	kfree(e);
	if (pg)
		__free_page(pg);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

/* max_bindings exactly, then one more; closing the port ends them all. */
static enum sgtest_result __init sgh_bind_limit_exact(struct sgtest_ctx *ctx)
{
	struct sgh_state *st = ctx->priv;
	unsigned int i, max = st->limits.max_bindings;
	struct xen_sg_usage before, full;
	struct page *pg[2] = { };
	struct xen_sg_bind b = { };
	bool ok = true;
	u32 port;

	pg[0] = alloc_page(GFP_KERNEL | __GFP_ZERO);
	pg[1] = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!pg[0] || !pg[1] || max >= 2 * PAGE_SIZE) {
		ok = false;
		goto out;
	}
	sgt_usage(&before);
	ok &= sgt_rc(ctx, "alloc port", sgt_alloc_port(&port), 0);
	b.addr.owner = DOMID_SELF;
	b.port = port;
	for (i = 0; i < max - before.bindings && ok; i++) {
		b.addr.frame = xen_page_to_gfn(pg[i / PAGE_SIZE]);
		b.addr.offset = i % PAGE_SIZE;
		ok &= sgt_rc(ctx, "bind below max_bindings",
			     HYPERVISOR_sg_op(XEN_SGOP_bind, &b), 0);
	}
	sgt_usage(&full);
	ok &= sgt_rc(ctx, "bindings at the limit", full.bindings, max);
	b.addr.frame = xen_page_to_gfn(pg[1]);
	b.addr.offset = PAGE_SIZE - 1;
	ok &= sgt_rc(ctx, "bind past max_bindings",
		     HYPERVISOR_sg_op(XEN_SGOP_bind, &b), -XEN_ENOSPC);
	ok &= sgt_usage_same(ctx, "after one past", &full);
	sgt_close_port(port);
	ok &= sgt_usage_same(ctx, "after closing the port", &before);
out:
	if (pg[0])
		__free_page(pg[0]);
	if (pg[1])
		__free_page(pg[1]);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

/*
 * The global query is the control domain's (XSM_PRIV), another domain's
 * usage its own or the control domain's (XSM_TARGET); the progress bits are
 * Xen's.
 */
static enum sgtest_result __init sgh_privilege_and_cmd_bits(struct sgtest_ctx *ctx)
{
	struct sgh_state *st = ctx->priv;
	struct xen_sg_transfer_batch b = { };
	struct xen_sg_query q = { .domid = 0 };
	struct xen_sg_global g = { };
	struct xen_sg_id a = { .id = 1 };
	struct xen_sg_elem e = { .len = 1 };
	struct xen_sg_transfer op;
	bool ok = true;

	ok &= sgt_rc(ctx, "query of domain 0", HYPERVISOR_sg_op(XEN_SGOP_query,
								 &q),
		     st->privileged ? 0 : -XEN_EPERM);
	ok &= sgt_rc(ctx, "query_global", HYPERVISOR_sg_op(XEN_SGOP_query_global,
							    &g),
		     st->privileged ? 0 : -XEN_EPERM);
	g.flags = 1;
	ok &= sgt_rc(ctx, "query_global with flags",
		     HYPERVISOR_sg_op(XEN_SGOP_query_global, &g), -XEN_EINVAL);
	g.flags = 0;
	g._pad0 = 1;
	ok &= sgt_rc(ctx, "query_global with padding",
		     HYPERVISOR_sg_op(XEN_SGOP_query_global, &g), -XEN_EINVAL);

	/* Progress past the batch is refused; at its end, nothing is done. */
	b.nr_ops = 0;
	ok &= sgt_rc(ctx, "transfer progress past nr_ops",
		     HYPERVISOR_sg_op(XEN_SGOP_transfer | (1U << XEN_SGOP_CMD_BITS),
				      &b), -XEN_EINVAL);
	b.nr_ops = XEN_SG_TRANSFER_MAX_OPS + 1;
	ok &= sgt_rc(ctx, "transfer nr_ops past the progress bits",
		     HYPERVISOR_sg_op(XEN_SGOP_transfer, &b), -XEN_EINVAL);
	/* Xen's resume bit with nothing kept for us: the op is lost. */
	sgt_xfer(&op, DOMID_SELF, 1, XEN_SG_TRANSFER_TO_PEER, 0, 1, &e, 1, 0);
	b.ops = (u64)(uintptr_t)&op;
	b.nr_ops = 1;
	ok &= sgt_rc(ctx, "forged resume",
		     HYPERVISOR_sg_op(XEN_SGOP_transfer | XEN_SGOP_TRANSFER_RESUME,
				      &b), 0);
	ok &= sgt_rc(ctx, "forged resume's op", op.status, -XEN_EAGAIN);
	ok &= sgt_rc(ctx, "forged resume at the end",
		     HYPERVISOR_sg_op(XEN_SGOP_transfer | XEN_SGOP_TRANSFER_RESUME |
				      (1U << XEN_SGOP_CMD_BITS), &b),
		     -XEN_EINVAL);
	ok &= sgt_rc(ctx, "unregister with high cmd bits",
		     HYPERVISOR_sg_op(XEN_SGOP_unregister |
				      (1U << XEN_SGOP_CMD_BITS), &a),
		     -XEN_EOPNOTSUPP);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

static const struct sgtest_case sgh_cases[] __initconst = {
	{ "foreign_frames_refused", sgh_foreign_frames },
	{ "bad_counters_refused", sgh_bad_counters },
	{ "xen_heap_frames_refused", sgh_xen_heap_frames },
	{ "long_batch_continues", sgh_long_batch },
	{ "unregister_during_batch", sgh_unregister_during_batch },
	{ "maximal_ops_preempted_inside", sgh_maximal_ops },
	{ "unregister_during_op", sgh_unregister_during_op },
	{ "trigger_storm_counters_exact", sgh_trigger_storm },
	{ "reg_limits_exact", sgh_reg_limits_exact },
	{ "bind_limit_exact", sgh_bind_limit_exact },
	{ "heap_limit_exact", sgh_heap_limit_exact },
	{ "privilege_and_cmd_bits", sgh_privilege_and_cmd_bits },
};

const struct sgtest_suite sgtest_suite_sg_hostile __initconst = {
	.name = "sg_hostile",
	.init = sgh_init,
	.priv_size = sizeof(struct sgh_state),
	.cases = sgh_cases,
	.num_cases = ARRAY_SIZE(sgh_cases),
};
