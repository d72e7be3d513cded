// SPDX-License-Identifier: GPL-2.0
#include "sgtest.h"

#include <linux/jiffies.h>
#include <linux/timekeeping.h>
#include <xen/xenbus.h>
#include <xen/interface/sched.h>
#include <xen/interface/version.h>

/*
 * The sg_cross suite: sg_op across the lab's three domains, dom0, sg-a and
 * sg-b, each running this suite at about the same time.  Every domain runs
 * the same cases and reports its own view; they meet in xenstore, under
 * /sgtest, which the lab's dom0 creates writable by every domain and where
 * it writes each domain's domid (/sgtest/domid/NAME).  A domain learns its
 * role from the cross_self parameter and its own domid from xenstore
 * ("domid").  Every wait polls xenstore and gives up after cross_timeout_s
 * seconds (2 seconds once a wait has failed) with a diagnostic naming the
 * key and the domain that should have written it.
 *
 * Keys (values are decimal u32; NAME, O, P name domains):
 *	domid/NAME		written by dom0's init after xl create
 *	up/NAME			NAME joined
 *	xfer/O/P, xfer-done/O/P	O's registration for P; P is done with it
 *	rights/O, rights-done/O	O's registration naming the next domain; the
 *				third domain is done trying it
 *	nway/reg/P, nway/bound/NAME, nway/step/S, nway/reset/R/NAME,
 *	nway/end/NAME		N-way triggering on one page of dom0
 *	tot/O, tot-sent/O	trigger-on-transfer into O's registration
 *	hold/NAME/{reg,port}	dom0's and sg-b's registrations and sg-b's
 *				port, left for the destroy test
 *	after/{reg,port,bdomid,breg}
 *				what dom0 left for sg_cross_after
 *	lim/reg, lim/full, lim/dom0, lim/done
 *				dom0's registration for sg-a, filled by sg-a
 *	flood/go, flood/full/NAME
 *				dom0 measured its quiet triggers; NAME made
 *				that many bindings in the flooded chain
 *
 * xenstored deletes the nodes a domain owns (and everything below them)
 * when the domain dies, so what dom0 must read after sg-b's death is under
 * after/, a directory only dom0 writes.
 *
 * The sg_cross_after suite runs in dom0 after the lab destroyed the domUs:
 * it checks that what dom0 held through sg-b is gone and releases what dom0
 * left for it.
 *
 * The sg_xsm suite (keys xsm/...) runs the cross-domain cases whose outcome
 * depends on the XSM policy Xen enforces, which cross_xsm names: "silo" or
 * "flask" (sgkit's enforcing policy, xen-hypervisor/flask/sg_op.te): domUs
 * may not reach each other, refused with -EPERM or -EACCES; anything else:
 * they may.  It works under them, where most of sg_cross cannot.
 *	xsm/named		dom0 named sg-a and sg-b as peers
 *	xsm/reg/NAME		dom0's registration of one page for NAME
 *	xsm/bound, xsm/fired, xsm/checked, xsm/dom0-fired, xsm/end
 *				sg-b bound, sg-a triggered, sg-b looked,
 *				dom0 triggered, sg-b is done
 *
 * The sg_reset suite (an HVM domU) and sg_reset_after (dom0, after the
 * domUs are done) test the soft reset; see there.
 *	reset/reg/NAME		NAME's registration for dom0, left for the reset
 */

#define SGX_DIR		"/sgtest"
#define SGX_NDOM	3
#define SGX_DOM0	0
#define SGX_B		2
#define SGX_PAGES	8
#define SGX_N		3	/* the counters' N */
#define SGX_ROUNDS	2

/* Registration layout of the transfer case: two elements, 7680 bytes. */
#define SGX_E0_OFF	512
#define SGX_E0_LEN	(PAGE_SIZE - SGX_E0_OFF)
#define SGX_REG_LEN	(SGX_E0_LEN + PAGE_SIZE)

static char *cross_self = "";
module_param(cross_self, charp, 0444);
MODULE_PARM_DESC(cross_self,
		 "sg_cross: this domain's role in the lab: dom0, sg-a or sg-b");

static unsigned int cross_timeout_s = 60;
module_param(cross_timeout_s, uint, 0444);
MODULE_PARM_DESC(cross_timeout_s,
		 "sg_cross: seconds to wait for another domain at each step");

/*
 * The domains reach the suite at times that differ by as much as the suites
 * before it take (sg_fuzz, sg_hostile: minutes apart under a loaded TCG
 * host), so the rendezvous waits longer than the steps after it.
 */
static unsigned int cross_rendezvous_s = 300;
module_param(cross_rendezvous_s, uint, 0444);
MODULE_PARM_DESC(cross_rendezvous_s,
		 "sg_cross: seconds to wait for the other domains to join");

/*
 * The bucket flood leaves every binding sg-a and sg-b may make in place until
 * they are destroyed; a run that needs their bindings afterwards (deploy's
 * sgnet link in sg-a) passes cross_flood=0 to every domain's sgtest.
 */
static bool cross_flood = true;
module_param(cross_flood, bool, 0444);
MODULE_PARM_DESC(cross_flood,
		 "sg_cross: run the bucket flood (0: skip it in every domain)");

static char *cross_xsm = "dummy";
module_param(cross_xsm, charp, 0444);
MODULE_PARM_DESC(cross_xsm,
		 "sg_xsm: the XSM policy Xen enforces: silo, flask (sgkit's enforcing policy), or dummy (domUs may reach each other)");

static const char *const sgx_names[SGX_NDOM] = { "dom0", "sg-a", "sg-b" };

struct sgx_state {
	int self;			/* index in sgx_names */
	u32 domid[SGX_NDOM];
	bool ready;			/* every domain joined */
	bool timed_out;			/* a wait failed: fail fast */
	bool joining;			/* waiting at the rendezvous */
	struct page *pg[SGX_PAGES];	/* zeroed pages for each case */
	atomic_t irqs;			/* events seen by sgx_irq() */
};

/* Events on the binding sg-b leaves in place; it outlives the suite. */
static atomic_t sgx_hold_irqs = ATOMIC_INIT(0);

static irqreturn_t sgx_irq(int irq, void *dev_id)
{
	atomic_t *count = dev_id;

	atomic_inc(count);
	return IRQ_HANDLED;
}

#define sgx_diag(ctx, fmt, ...) ktap_diag((ctx)->ktap, fmt, ##__VA_ARGS__)

static const char *__init sgx_name(int i)
{
	return sgx_names[i];
}

/* Xenstore */

static __printf(3, 4) bool __init sgx_put(struct sgtest_ctx *ctx, u32 val,
					  const char *fmt, ...)
{
	char key[64];
	va_list args;
	int rc;

	va_start(args, fmt);
	vscnprintf(key, sizeof(key), fmt, args);
	va_end(args);
	rc = xenbus_printf(XBT_NIL, SGX_DIR, key, "%u", val);
	if (rc)
		sgx_diag(ctx, "xenstore write %s/%s: %d", SGX_DIR, key, rc);
	return !rc;
}

/* Wait for @writer's key; its value in @val. */
static __printf(4, 5) bool __init sgx_wait(struct sgtest_ctx *ctx, u32 *val,
					   int writer, const char *fmt, ...)
{
	struct sgx_state *st = ctx->priv;
	unsigned int secs = st->timed_out ? 2 :
			    st->joining ? cross_rendezvous_s : cross_timeout_s;
	unsigned long end = jiffies + secs * HZ;
	char key[64];
	va_list args;

	va_start(args, fmt);
	vscnprintf(key, sizeof(key), fmt, args);
	va_end(args);
	for (;;) {
		if (xenbus_scanf(XBT_NIL, SGX_DIR, key, "%u", val) == 1)
			return true;
		if (time_after(jiffies, end))
			break;
		msleep(100);
	}
	st->timed_out = true;
	sgx_diag(ctx, "waited %us for %s/%s from %s (domid %u): not written",
		 secs, SGX_DIR, key, sgx_name(writer), st->domid[writer]);
	return false;
}

/* Hypercall helpers */

static bool __init sgx_rc(struct sgtest_ctx *ctx, const char *what,
			  int peer, long rc, long expected)
{
	struct sgx_state *st = ctx->priv;

	if (rc == expected)
		return true;
	sgx_diag(ctx, "%s (peer %s, domid %u): expected rc=%ld, got rc=%ld",
		 what, sgx_name(peer), st->domid[peer], expected, rc);
	return false;
}

static void __init sgx_elem(struct xen_sg_elem *e, struct page *pg, u32 off,
			    u32 len)
{
	e->frame = xen_page_to_gfn(pg);
	e->offset = off;
	e->len = len;
}

static long __init sgx_register(const struct xen_sg_elem *e, unsigned int n,
				domid_t peer, u16 access, u32 *id)
{
	return sgt_register(e, n, peer, access, 0, id);
}

static long __init sgx_unregister(u32 id)
{
	return sgt_id_op(XEN_SGOP_unregister, id);
}

static long __init sgx_xfer1(domid_t owner, u32 id, u8 dir, u64 off, u64 len,
			     const struct xen_sg_elem *local, u32 flags)
{
	struct xen_sg_transfer op;
	long rc;

	sgt_xfer(&op, owner, id, dir, off, len, local, 1, flags);
	rc = sgt_batch(&op, 1);
	return rc ? rc : op.status;
}

static void __init sgx_addr(struct xen_sg_addr *a, domid_t owner, u32 id,
			    u64 off)
{
	memset(a, 0, sizeof(*a));
	a->owner = owner;
	a->reg_id = id;
	a->offset = off;
}

/* A port of ours with sgx_irq() counting in @count; its irq or an error. */
static int __init sgx_port_irq(struct sgtest_ctx *ctx, u32 *port,
			       atomic_t *count)
{
	int irq;

	if (sgt_alloc_port(port)) {
		sgx_diag(ctx, "EVTCHNOP_alloc_unbound failed");
		return -EIO;
	}
	irq = bind_evtchn_to_irqhandler(*port, sgx_irq, 0, "sgtest-cross",
					count);
	if (irq < 0) {
		sgx_diag(ctx, "bind_evtchn_to_irqhandler: %d", irq);
		sgt_close_port(*port);
	}
	return irq;
}

/* Wait (up to 10 s) until @count reaches @want; then is it exactly that? */
static bool __init sgx_events_are(struct sgtest_ctx *ctx, atomic_t *count,
				  int want, const char *what)
{
	unsigned long end = jiffies + 10 * HZ;

	while (atomic_read(count) < want && time_before(jiffies, end))
		usleep_range(5000, 6000);
	if (atomic_read(count) >= want) {
		msleep(50);	/* and no event beyond it */
		if (atomic_read(count) == want)
			return true;
	}
	sgx_diag(ctx, "%s: expected %d events, saw %d", what, want,
		 atomic_read(count));
	return false;
}

/* Per-case pages */

static bool __init sgx_get(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;
	unsigned int i;

	for (i = 0; i < SGX_PAGES; i++) {
		st->pg[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!st->pg[i]) {
			sgx_diag(ctx, "alloc_page failed");
			return false;
		}
	}
	atomic_set(&st->irqs, 0);
	return true;
}

static enum sgtest_result __init sgx_result(struct sgtest_ctx *ctx, bool ok)
{
	struct sgx_state *st = ctx->priv;
	unsigned int i;

	for (i = 0; i < SGX_PAGES; i++) {
		if (st->pg[i])
			__free_page(st->pg[i]);
		st->pg[i] = NULL;
	}
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

static u8 *__init sgx_va(struct sgx_state *st, int i)
{
	return page_address(st->pg[i]);
}

/* Setup */

static int __init sgx_role(void)
{
	int i;

	for (i = 0; i < SGX_NDOM; i++)
		if (!strcmp(cross_self, sgx_names[i]))
			return i;
	return -1;
}

/* sg_op present with our ABI?  Otherwise skip every case. */
static bool __init sgx_available(struct sgtest_ctx *ctx)
{
	struct xen_sg_query q = { .domid = DOMID_SELF };
	long rc = HYPERVISOR_sg_op(XEN_SGOP_query, &q);

	if (rc) {
		ctx->skip_all = true;
		sgtest_set_reason(ctx, "sg_op not available (rc=%ld)", rc);
		return false;
	}
	if ((q.abi_version >> 16) != XEN_SGOP_ABI_MAJOR ||
	    q.abi_version < XEN_SGOP_ABI_VERSION) {
		ctx->skip_all = true;
		sgtest_set_reason(ctx, "sg_op ABI %u.%u, need %d.%d",
				  q.abi_version >> 16, q.abi_version & 0xffff,
				  XEN_SGOP_ABI_MAJOR, XEN_SGOP_ABI_MINOR);
		return false;
	}
	return true;
}

static int __init sgx_init(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;

	if (!sgx_available(ctx))
		return 0;
	st->self = sgx_role();
	if (st->self < 0) {
		ctx->skip_all = true;
		sgtest_set_reason(ctx, "cross_self=\"%s\": not in the lab",
				  cross_self);
	}
	return 0;
}

static bool __init sgx_ready(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;

	if (!st->ready)
		sgx_diag(ctx, "the domains never met (see rendezvous)");
	return st->ready;
}

/* Cases */

/* Learn every domain's domid, say we are here, wait for the others. */
static enum sgtest_result __init sgx_rendezvous(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;
	u32 self_domid, up;
	bool ok = true;
	int i;

	if (xenbus_scanf(XBT_NIL, "domid", "", "%u", &self_domid) != 1) {
		sgx_diag(ctx, "cannot read our own xenstore domid");
		return SGTEST_FAIL;
	}
	for (i = 0; i < SGX_NDOM && ok; i++)
		ok &= sgx_wait(ctx, &st->domid[i], SGX_DOM0, "domid/%s",
			       sgx_name(i));
	if (!ok)
		return SGTEST_FAIL;
	if (st->domid[st->self] != self_domid) {
		sgx_diag(ctx, "we are %s with domid %u, but %s/domid/%s is %u",
			 cross_self, self_domid, SGX_DIR, cross_self,
			 st->domid[st->self]);
		return SGTEST_FAIL;
	}
	sgx_diag(ctx, "sgtest.cross self=%s domid=%u dom0=%u sg-a=%u sg-b=%u",
		 cross_self, self_domid, st->domid[0], st->domid[1],
		 st->domid[2]);
	ok = sgx_put(ctx, 1, "up/%s", cross_self);
	st->joining = true;
	for (i = 0; i < SGX_NDOM && ok; i++)
		ok &= sgx_wait(ctx, &up, i, "up/%s", sgx_name(i));
	st->joining = false;
	st->ready = ok;
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

/* The byte at registration offset @i: first @o's, then @p's pattern. */
static u8 __init sgx_pat(int o, int p, int phase, unsigned int i)
{
	return phase ? (u8)(i * 29 + o * 3 + p * 53 + 5)
		     : (u8)(i * 13 + o * 41 + p * 7 + 1);
}

static u8 *__init sgx_reg_byte(struct sgx_state *st, int p, unsigned int i)
{
	if (i < SGX_E0_LEN)
		return sgx_va(st, 2 * p) + SGX_E0_OFF + i;
	return sgx_va(st, 2 * p + 1) + i - SGX_E0_LEN;
}

/*
 * Every domain registers two pages for each peer (pages 2p, 2p + 1), the
 * peer reads and writes them with a batch of four ops, and the registrant
 * checks what changed.  The peer's own two pages (6, 7) are its local list.
 */
static bool __init sgx_use_peer_reg(struct sgtest_ctx *ctx, int o)
{
	struct sgx_state *st = ctx->priv;
	const long want[4] = { 0, 0, -XEN_ERANGE, -XEN_ENOENT };
	struct xen_sg_transfer ops[4];
	struct xen_sg_elem l0, l1[2];
	u8 *in = sgx_va(st, 6), *out = sgx_va(st, 7);
	domid_t od = st->domid[o];
	bool ok = true;
	unsigned int i;
	u32 id;

	if (!sgx_wait(ctx, &id, o, "xfer/%s/%s", sgx_name(o), cross_self))
		return false;
	memset(in, 0, PAGE_SIZE);
	for (i = 0; i < 2000; i++)
		out[i < 500 ? 1000 + i : 2048 + i - 500] =
			sgx_pat(o, st->self, 1, 5000 + i);
	/* Out of 3000..4499, across the registration's two elements. */
	sgx_elem(&l0, st->pg[6], 0, 1500);
	sgt_xfer(&ops[0], od, id, XEN_SG_TRANSFER_FROM_PEER, 3000, 1500,
		 &l0, 1, 0);
	/* Into 5000..6999, from two local elements. */
	sgx_elem(&l1[0], st->pg[7], 1000, 500);
	sgx_elem(&l1[1], st->pg[7], 2048, 1500);
	sgt_xfer(&ops[1], od, id, XEN_SG_TRANSFER_TO_PEER, 5000, 2000, l1, 2,
		 0);
	/* Past the end, and an ID that is not there: no bytes move. */
	sgt_xfer(&ops[2], od, id, XEN_SG_TRANSFER_TO_PEER, SGX_REG_LEN - 10, 20,
		 l1, 2, 0);
	sgt_xfer(&ops[3], od, id + 1000, XEN_SG_TRANSFER_TO_PEER, 0, 64, l1, 2,
		 0);
	ok &= sgx_rc(ctx, "batch", o, sgt_batch(ops, 4), 0);
	for (i = 0; i < 4; i++)
		ok &= sgx_rc(ctx, "op status", o, ops[i].status, want[i]);
	for (i = 0; i < 1500; i++) {
		if (in[i] != sgx_pat(o, st->self, 0, 3000 + i)) {
			sgx_diag(ctx,
				 "copied out of %s's registration %u: byte %u is %u, expected %u",
				 sgx_name(o), id, 3000 + i, in[i],
				 sgx_pat(o, st->self, 0, 3000 + i));
			ok = false;
			break;
		}
	}
	ok &= sgx_put(ctx, 1, "xfer-done/%s/%s", sgx_name(o), cross_self);
	return ok;
}

static bool __init sgx_check_own_reg(struct sgtest_ctx *ctx, int p, u32 id)
{
	struct sgx_state *st = ctx->priv;
	unsigned int i;
	u32 done;

	if (!sgx_wait(ctx, &done, p, "xfer-done/%s/%s", cross_self,
		      sgx_name(p)))
		return false;
	for (i = 0; i < SGX_REG_LEN; i++) {
		int phase = i >= 5000 && i < 7000;
		u8 want = sgx_pat(st->self, p, phase, i);
		u8 got = *sgx_reg_byte(st, p, i);

		if (got != want) {
			sgx_diag(ctx,
				 "registration %u for %s (domid %u): byte %u is %u, expected %u (%s)",
				 id, sgx_name(p), st->domid[p], i, got, want,
				 phase ? "the peer's pattern" : "untouched");
			return false;
		}
	}
	return true;
}

static enum sgtest_result __init sgx_transfers(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;
	u32 ids[SGX_NDOM] = { };
	struct xen_sg_elem e[2];
	bool ok = true;
	unsigned int i;
	int p;

	if (!sgx_ready(ctx) || !sgx_get(ctx))
		return sgx_result(ctx, false);
	for (p = 0; p < SGX_NDOM; p++) {
		if (p == st->self)
			continue;
		for (i = 0; i < SGX_REG_LEN; i++)
			*sgx_reg_byte(st, p, i) = sgx_pat(st->self, p, 0, i);
		sgx_elem(&e[0], st->pg[2 * p], SGX_E0_OFF, SGX_E0_LEN);
		sgx_elem(&e[1], st->pg[2 * p + 1], 0, PAGE_SIZE);
		ok &= sgx_rc(ctx, "register", p,
			     sgx_register(e, 2, st->domid[p], XEN_SG_ACCESS_READ |
					  XEN_SG_ACCESS_WRITE, &ids[p]), 0);
		if (ids[p])
			ok &= sgx_put(ctx, ids[p], "xfer/%s/%s", cross_self,
				      sgx_name(p));
	}
	for (p = 0; p < SGX_NDOM; p++)
		if (p != st->self)
			ok &= sgx_use_peer_reg(ctx, p);
	for (p = 0; p < SGX_NDOM; p++) {
		if (p == st->self || !ids[p])
			continue;
		ok &= sgx_check_own_reg(ctx, p, ids[p]);
		ok &= sgx_rc(ctx, "unregister", p, sgx_unregister(ids[p]), 0);
	}
	return sgx_result(ctx, ok);
}

/*
 * Each domain O registers a page naming the next domain; the third one,
 * not named, tries to use it and gets -ENOENT, the answer for an ID that
 * does not exist (ABI 1.3: it cannot tell the two apart); O checks nothing
 * moved.
 */
static enum sgtest_result __init sgx_unnamed_refused(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;
	int named = (st->self + 1) % SGX_NDOM, o = (st->self + 1) % SGX_NDOM;
	struct xen_sg_elem e, l;
	struct xen_sg_addr a;
	u8 *reg, *local;
	u32 id = 0, oid, done, port, fired;
	bool ok = true;
	unsigned int i;

	if (!sgx_ready(ctx) || !sgx_get(ctx))
		return sgx_result(ctx, false);
	reg = sgx_va(st, 0);
	local = sgx_va(st, 1);
	memset(reg, 0xa5, PAGE_SIZE);
	sgx_elem(&e, st->pg[0], 0, PAGE_SIZE);
	ok &= sgx_rc(ctx, "register", named,
		     sgx_register(&e, 1, st->domid[named], XEN_SG_ACCESS_READ |
				  XEN_SG_ACCESS_WRITE, &id), 0);
	if (id)
		ok &= sgx_put(ctx, id, "rights/%s", cross_self);

	/* We are the third domain for the next domain's registration. */
	if (sgx_wait(ctx, &oid, o, "rights/%s", sgx_name(o))) {
		domid_t od = st->domid[o];

		memset(local, 0x5a, PAGE_SIZE);
		sgx_elem(&l, st->pg[1], 0, PAGE_SIZE);
		ok &= sgx_rc(ctx, "copy into a registration naming another domain",
			     o, sgx_xfer1(od, oid, XEN_SG_TRANSFER_TO_PEER, 0,
					  64, &l, 0), -XEN_ENOENT);
		ok &= sgx_rc(ctx, "copy out of a registration naming another domain",
			     o, sgx_xfer1(od, oid, XEN_SG_TRANSFER_FROM_PEER, 0,
					  64, &l, 0), -XEN_ENOENT);
		ok &= sgx_rc(ctx, "copy out of an ID that does not exist",
			     o, sgx_xfer1(od, oid + 1000,
					  XEN_SG_TRANSFER_FROM_PEER, 0, 64, &l,
					  0), -XEN_ENOENT);
		if (memchr_inv(local, 0x5a, PAGE_SIZE)) {
			sgx_diag(ctx, "refused copy out of %s's registration changed our page",
				 sgx_name(o));
			ok = false;
		}
		sgx_addr(&a, od, oid, 0);
		ok &= sgx_rc(ctx, "trigger in a registration naming another domain",
			     o, sgt_trigger(&a, &fired), -XEN_ENOENT);
		if (!sgt_alloc_port(&port)) {
			ok &= sgx_rc(ctx, "bind in a registration naming another domain",
				     o, sgt_bind(&a, port, NULL, 0),
				     -XEN_ENOENT);
			sgt_close_port(port);
		}
		sgx_addr(&a, od, oid + 1000, 0);
		ok &= sgx_rc(ctx, "trigger in an ID that does not exist",
			     o, sgt_trigger(&a, &fired), -XEN_ENOENT);
		ok &= sgx_put(ctx, 1, "rights-done/%s", sgx_name(o));
	} else {
		ok = false;
	}

	/* The domain before us tried ours. */
	if (id) {
		int third = (st->self + 2) % SGX_NDOM;

		ok &= sgx_wait(ctx, &done, third, "rights-done/%s", cross_self);
		for (i = 0; i < PAGE_SIZE; i++) {
			if (reg[i] != 0xa5) {
				sgx_diag(ctx,
					 "%s (domid %u), not named, changed byte %u of registration %u",
					 sgx_name(third), st->domid[third], i,
					 id);
				ok = false;
				break;
			}
		}
		ok &= sgx_rc(ctx, "unregister", named, sgx_unregister(id), 0);
	}
	return sgx_result(ctx, ok);
}

/*
 * dom0 registers page 0 twice, for sg-a and for sg-b: one address at byte
 * 256, which dom0 binds by frame and the domUs through their registration.
 * Each binding has a counter of N.  In each round every domain triggers
 * once, in turn (fired is 1: only the caller's own binding is counted);
 * every domain sees its counter reach zero exactly once.
 */
static enum sgtest_result __init sgx_nway(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;
	u32 ids[SGX_NDOM] = { }, id = 0, port, fired, v;
	int self = st->self, i, r, k, irq;
	struct xen_sg_addr a;
	struct xen_sg_elem e;
	bool ok = true;
	s32 *counter;

	if (!sgx_ready(ctx) || !sgx_get(ctx))
		return sgx_result(ctx, false);
	counter = (s32 *)(sgx_va(st, 1) + 64);
	if (self == SGX_DOM0) {
		sgx_elem(&e, st->pg[0], 0, PAGE_SIZE);
		for (i = 1; i < SGX_NDOM; i++) {
			ok &= sgx_rc(ctx, "register", i,
				     sgx_register(&e, 1, st->domid[i],
						  XEN_SG_ACCESS_READ, &ids[i]),
				     0);
			ok &= sgx_put(ctx, ids[i], "nway/reg/%s", sgx_name(i));
		}
		memset(&a, 0, sizeof(a));
		a.owner = DOMID_SELF;
		a.frame = xen_page_to_gfn(st->pg[0]);
		a.offset = 256;
	} else {
		ok &= sgx_wait(ctx, &id, SGX_DOM0, "nway/reg/%s", cross_self);
		sgx_addr(&a, st->domid[SGX_DOM0], id, 256);
	}
	if (!ok)
		goto out_unreg;
	irq = sgx_port_irq(ctx, &port, &st->irqs);
	if (irq < 0) {
		ok = false;
		goto out_unreg;
	}
	WRITE_ONCE(*counter, SGX_N);
	ok &= sgx_rc(ctx, "bind with a counter", SGX_DOM0,
		     sgt_bind(&a, port, st->pg[1], 64), 0);
	ok &= sgx_put(ctx, 1, "nway/bound/%s", cross_self);

	for (r = 0; r < SGX_ROUNDS && ok; r++) {
		for (k = 0; k < SGX_NDOM && ok; k++) {
			int s = r * SGX_NDOM + k, t = (k + r) % SGX_NDOM;

			if (t != self)
				continue;
			for (i = 0; i < SGX_NDOM && k == 0; i++)
				ok &= r ? sgx_wait(ctx, &v, i, "nway/reset/%d/%s",
						   r - 1, sgx_name(i))
					: sgx_wait(ctx, &v, i, "nway/bound/%s",
						   sgx_name(i));
			if (k)
				ok &= sgx_wait(ctx, &v, (k - 1 + r) % SGX_NDOM,
					       "nway/step/%d", s - 1);
			if (!ok)
				break;
			/* k triggers so far this round: no event yet. */
			if (READ_ONCE(*counter) != SGX_N - k ||
			    atomic_read(&st->irqs) != r) {
				sgx_diag(ctx,
					 "before trigger %d: counter %d, events %d; expected %d, %d",
					 s, READ_ONCE(*counter),
					 atomic_read(&st->irqs), SGX_N - k, r);
				ok = false;
			}
			ok &= sgx_rc(ctx, "trigger", SGX_DOM0,
				     sgt_trigger(&a, &fired), 0);
			if (fired != 1) {
				sgx_diag(ctx, "trigger %d fired %u of our bindings, expected 1",
					 s, fired);
				ok = false;
			}
			ok &= sgx_put(ctx, 1, "nway/step/%d", s);
		}
		if (!ok)
			break;
		/* The round's last trigger, by (2 + r) % 3. */
		ok &= sgx_wait(ctx, &v, (2 + r) % SGX_NDOM, "nway/step/%d",
			       r * SGX_NDOM + 2);
		ok &= sgx_events_are(ctx, &st->irqs, r + 1,
				     "after a round of triggers from dom0, sg-a and sg-b");
		if (READ_ONCE(*counter) != 0) {
			sgx_diag(ctx, "round %d: counter is %d, expected 0", r,
				 READ_ONCE(*counter));
			ok = false;
		}
		WRITE_ONCE(*counter, SGX_N);
		ok &= sgx_put(ctx, 1, "nway/reset/%d/%s", r, cross_self);
	}
	if (ok)
		sgx_diag(ctx, "%d rounds of %d triggers: %d events, one per round",
			 SGX_ROUNDS, SGX_NDOM, atomic_read(&st->irqs));
	unbind_from_irqhandler(irq, &st->irqs);
	ok &= sgx_put(ctx, 1, "nway/end/%s", cross_self);
out_unreg:
	if (self == SGX_DOM0) {
		for (i = 1; i < SGX_NDOM; i++) {
			ok &= sgx_wait(ctx, &v, i, "nway/end/%s", sgx_name(i));
			if (ids[i])
				ok &= sgx_rc(ctx, "unregister", i,
					     sgx_unregister(ids[i]), 0);
		}
	}
	return sgx_result(ctx, ok);
}

/*
 * Each domain O registers a page for the next domain and binds byte 64 of
 * it; the next domain copies in with XEN_SG_TRANSFER_TRIGGER, then without.
 */
static enum sgtest_result __init sgx_trigger_on_transfer(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;
	int peer = (st->self + 1) % SGX_NDOM, o = (st->self + 2) % SGX_NDOM;
	u32 id = 0, oid, port, v;
	struct xen_sg_elem e, l;
	struct xen_sg_addr a;
	bool ok = true;
	int irq = -1;
	u8 *reg, *src;

	if (!sgx_ready(ctx) || !sgx_get(ctx))
		return sgx_result(ctx, false);
	reg = sgx_va(st, 0);
	src = sgx_va(st, 1);
	sgx_elem(&e, st->pg[0], 0, PAGE_SIZE);
	ok &= sgx_rc(ctx, "register", peer,
		     sgx_register(&e, 1, st->domid[peer], XEN_SG_ACCESS_WRITE,
				  &id), 0);
	if (id) {
		irq = sgx_port_irq(ctx, &port, &st->irqs);
		sgx_addr(&a, DOMID_SELF, id, 64);
		if (irq >= 0)
			ok &= sgx_rc(ctx, "bind", peer,
				     sgt_bind(&a, port, NULL, 0), 0);
		else
			ok = false;
		ok &= sgx_put(ctx, id, "tot/%s", cross_self);
	}

	/* Copy into the registration of the domain before us. */
	if (sgx_wait(ctx, &oid, o, "tot/%s", sgx_name(o))) {
		memset(src, 0xc0 + st->self, 64);
		sgx_elem(&l, st->pg[1], 0, 32);
		ok &= sgx_rc(ctx, "transfer with trigger", o,
			     sgx_xfer1(st->domid[o], oid,
				       XEN_SG_TRANSFER_TO_PEER, 64, 32, &l,
				       XEN_SG_TRANSFER_TRIGGER), 0);
		ok &= sgx_rc(ctx, "transfer without trigger", o,
			     sgx_xfer1(st->domid[o], oid,
				       XEN_SG_TRANSFER_TO_PEER, 128, 32, &l,
				       0), 0);
		ok &= sgx_put(ctx, 1, "tot-sent/%s", sgx_name(o));
	} else {
		ok = false;
	}

	if (id && sgx_wait(ctx, &v, peer, "tot-sent/%s", cross_self)) {
		u8 want = 0xc0 + peer;

		ok &= sgx_events_are(ctx, &st->irqs, 1,
				     "a transfer with trigger from the next domain");
		if (memchr_inv(reg + 64, want, 32) ||
		    memchr_inv(reg + 128, want, 32)) {
			sgx_diag(ctx, "bytes from %s (domid %u) not in registration %u",
				 sgx_name(peer), st->domid[peer], id);
			ok = false;
		}
	} else {
		ok = false;
	}
	if (irq >= 0)
		unbind_from_irqhandler(irq, &st->irqs);
	if (id)
		ok &= sgx_rc(ctx, "unregister", peer, sgx_unregister(id), 0);
	return sgx_result(ctx, ok);
}

/*
 * max_binds_per_addr is per domain (ABI 1.3): dom0 registers a page for
 * sg-a, which binds that many ports of its own to byte 0 (then -ENOSPC);
 * dom0 can still bind its own port there, and each side's trigger counts
 * only its own bindings.  sg-b sits this one out.
 */
#define SGX_LIM_PORTS_MAX	64

static enum sgtest_result __init sgx_addr_limit_per_domain(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;
	struct xen_sg_query q = { .domid = DOMID_SELF };
	u32 id = 0, n = 0, v, fired, port, ports[SGX_LIM_PORTS_MAX + 1];
	struct xen_sg_addr a;
	struct xen_sg_elem e;
	bool ok = true;
	unsigned int i, max;

	if (st->self == SGX_B) {
		sgtest_set_reason(ctx, "only dom0 and sg-a take part");
		return SGTEST_SKIP;
	}
	if (!sgx_ready(ctx) || !sgx_get(ctx))
		return sgx_result(ctx, false);
	if (!sgx_rc(ctx, "query", SGX_DOM0,
		    HYPERVISOR_sg_op(XEN_SGOP_query, &q), 0))
		return sgx_result(ctx, false);
	max = q.limits.max_binds_per_addr;
	if (max > SGX_LIM_PORTS_MAX) {
		sgtest_set_reason(ctx, "max_binds_per_addr %u > %d", max,
				  SGX_LIM_PORTS_MAX);
		sgx_result(ctx, true);
		return SGTEST_SKIP;
	}

	if (st->self == SGX_DOM0) {
		sgx_elem(&e, st->pg[0], 0, PAGE_SIZE);
		ok &= sgx_rc(ctx, "register", 1,
			     sgx_register(&e, 1, st->domid[1],
					  XEN_SG_ACCESS_READ, &id), 0);
		ok &= id && sgx_put(ctx, id, "lim/reg");
		ok &= ok && sgx_wait(ctx, &n, 1, "lim/full");
		ok &= ok && sgx_rc(ctx, "alloc port", 1, sgt_alloc_port(&port), 0);
		sgx_addr(&a, DOMID_SELF, id, 0);
		if (ok) {
			/* sg-a's full quota on the byte does not count for us. */
			ok &= sgx_rc(ctx, "bind where sg-a holds max_binds_per_addr",
				     1, sgt_bind(&a, port, NULL, 0), 0);
			ok &= sgx_rc(ctx, "trigger", 1, sgt_trigger(&a, &fired), 0);
			if (fired != 1) {
				sgx_diag(ctx, "trigger fired %u of our bindings, expected 1 (sg-a holds %u there)",
					 fired, n);
				ok = false;
			}
			ok &= sgx_put(ctx, 1, "lim/dom0");
			ok &= sgx_wait(ctx, &v, 1, "lim/done");
			sgt_close_port(port);
		}
		if (id)
			ok &= sgx_rc(ctx, "unregister", 1, sgx_unregister(id), 0);
		return sgx_result(ctx, ok);
	}

	/* sg-a */
	if (!sgx_wait(ctx, &id, SGX_DOM0, "lim/reg"))
		return sgx_result(ctx, false);
	sgx_addr(&a, st->domid[SGX_DOM0], id, 0);
	for (i = 0; i <= max && ok; i++) {
		ok &= sgx_rc(ctx, "alloc port", SGX_DOM0,
			     sgt_alloc_port(&ports[i]), 0);
		if (ok)
			n = i + 1;
		ok &= ok && sgx_rc(ctx, i < max ? "bind" : "bind past max_binds_per_addr",
				   SGX_DOM0, sgt_bind(&a, ports[i], NULL, 0),
				   i < max ? 0 : -XEN_ENOSPC);
	}
	ok &= sgx_put(ctx, max, "lim/full");
	ok &= sgx_wait(ctx, &v, SGX_DOM0, "lim/dom0");
	ok &= sgx_rc(ctx, "trigger", SGX_DOM0, sgt_trigger(&a, &fired), 0);
	if (fired != max) {
		sgx_diag(ctx, "trigger fired %u of our bindings, expected %u (dom0's not counted)",
			 fired, max);
		ok = false;
	}
	for (i = 0; i < n; i++)
		sgt_close_port(ports[i]);
	ok &= sgx_put(ctx, 1, "lim/done");
	return sgx_result(ctx, ok);
}

/*
 * Left in place for the lab to destroy sg-b with: sg-b holds a
 * registration naming dom0 and a binding on dom0's registration; dom0
 * holds that registration and a binding on sg-b's.  sg_cross_after checks
 * in dom0 what is left once sg-b is gone.  The pages stay allocated.
 */
static enum sgtest_result __init sgx_hold_for_destroy(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;
	u32 id = 0, peer_id, port = 0, v, fired;
	int other = st->self == SGX_B ? SGX_DOM0 : SGX_B;
	domid_t od = st->domid[other];
	struct xen_sg_usage u;
	struct xen_sg_addr a;
	struct xen_sg_elem e;
	struct page *pg[2];
	bool ok = true;
	int irq;

	if (st->self != SGX_DOM0 && st->self != SGX_B) {
		sgtest_set_reason(ctx, "only dom0 and sg-b take part");
		return SGTEST_SKIP;
	}
	if (!sgx_ready(ctx))
		return SGTEST_FAIL;
	pg[0] = alloc_page(GFP_KERNEL | __GFP_ZERO);
	pg[1] = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!pg[0] || !pg[1]) {
		sgx_diag(ctx, "alloc_page failed");
		return SGTEST_FAIL;
	}
	sgx_elem(&e, pg[0], 0, PAGE_SIZE);
	ok &= sgx_rc(ctx, "register", other,
		     sgx_register(&e, 1, od, XEN_SG_ACCESS_READ |
				  XEN_SG_ACCESS_WRITE, &id), 0);
	ok &= id && sgx_put(ctx, id, "hold/%s/reg", cross_self);
	ok &= sgx_wait(ctx, &peer_id, other, "hold/%s/reg", sgx_name(other));
	if (!ok)
		return SGTEST_FAIL;
	sgx_addr(&a, od, peer_id, 0);

	if (st->self == SGX_B) {
		irq = sgx_port_irq(ctx, &port, &sgx_hold_irqs);
		if (irq < 0)
			return SGTEST_FAIL;
		*(s32 *)page_address(pg[1]) = 1;
		ok &= sgx_rc(ctx, "bind on dom0's registration", other,
			     sgt_bind(&a, port, pg[1], 0), 0);
		ok &= sgx_put(ctx, port, "hold/%s/port", cross_self);
		sgt_usage(&u);
		sgx_diag(ctx,
			 "left in place on purpose for xl destroy: registration %u naming dom0, port %u bound on dom0's registration %u (usage regs=%u pinned=%u bindings=%u)",
			 id, port, peer_id, u.regs, u.pinned_pages,
			 u.bindings);
		return ok ? SGTEST_PASS : SGTEST_FAIL;
	}

	/* dom0: a bare port (no handler: it may outlive this module). */
	__free_page(pg[1]);
	ok &= sgx_rc(ctx, "alloc port", other, sgt_alloc_port(&port), 0);
	ok &= sgx_rc(ctx, "bind on sg-b's registration", other,
		     sgt_bind(&a, port, NULL, 0), 0);
	ok &= sgx_wait(ctx, &v, other, "hold/%s/port", sgx_name(other));
	sgx_addr(&a, DOMID_SELF, id, 0);
	ok &= sgx_rc(ctx, "trigger our registration", other,
		     sgt_trigger(&a, &fired), 0);
	/* sg-b's binding fires, but fired counts only ours: none here. */
	if (fired) {
		sgx_diag(ctx, "trigger fired %u of our bindings, expected 0",
			 fired);
		ok = false;
	}
	ok &= sgx_put(ctx, id, "after/reg");
	ok &= sgx_put(ctx, port, "after/port");
	ok &= sgx_put(ctx, od, "after/bdomid");
	ok &= sgx_put(ctx, peer_id, "after/breg");
	sgt_usage(&u);
	sgx_diag(ctx,
		 "left in place for sg_cross_after: registration %u naming sg-b (domid %u), port %u bound on sg-b's registration %u (usage regs=%u pinned=%u bindings=%u)",
		 id, od, port, peer_id, u.regs, u.pinned_pages, u.bindings);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

/*
 * A bucket flood: sg-a and sg-b, unprivileged, bind one port of theirs to
 * as many addresses as max_bindings lets them, every address aimed at one
 * chain of the binding table as it was hashed up to ABI 1.2: byte o of
 * machine frame m went to chain (m * 31 + o) % 256, and a PV guest knows
 * its frames, so 16 offsets of each of its pages land in chain SGX_CHAIN.
 * dom0 binds a byte of its own page in that chain, with a counter, and
 * triggers it SGX_FLOOD_TRIGGERS times before the flood and as many during
 * it: every trigger must fire its one binding, and the counter must reach
 * zero with exactly one event.  The attackers leave their bindings in
 * place for the lab's xl destroy, which must finish (the host checks
 * no_domain_left, free memory and the global counters).  dom0 prints the
 * time per trigger in both phases as a figure, not a check.
 */
#define SGX_CHAIN		0x5a
#define SGX_FLOOD_PAGES		128
#define SGX_FLOOD_TRIGGERS	1000

/* The first offset of frame @frame in chain SGX_CHAIN; the others add 256. */
static u32 __init sgx_chain_offset(u64 frame)
{
	return (SGX_CHAIN + 256 - (u32)((frame * 31) % 256)) % 256;
}

/* Bind @port to byte @off of our own @pg; a failure's rc. */
static long __init sgx_bind_raw(struct page *pg, u32 off, u32 port,
				struct page *cpg)
{
	struct xen_sg_addr a = { .owner = DOMID_SELF };

	a.frame = xen_page_to_gfn(pg);
	a.offset = off;
	return sgt_bind(&a, port, cpg, 0);
}

static bool __init sgx_flood_attack(struct sgtest_ctx *ctx)
{
	struct xen_sg_query q = { .domid = DOMID_SELF };
	struct page *pg;
	u32 port, go, bound = 0;
	unsigned int i, k;
	long rc = 0;

	if (!sgx_rc(ctx, "query", SGX_DOM0, HYPERVISOR_sg_op(XEN_SGOP_query, &q), 0) ||
	    !sgx_rc(ctx, "alloc port", SGX_DOM0, sgt_alloc_port(&port), 0) ||
	    !sgx_wait(ctx, &go, SGX_DOM0, "flood/go"))
		return false;
	/* The pages and the port stay ours until xl destroy. */
	for (i = 0; i < SGX_FLOOD_PAGES && !rc; i++) {
		pg = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!pg) {
			sgx_diag(ctx, "alloc_page failed");
			return false;
		}
		for (k = 0; k < PAGE_SIZE / 256 && !rc; k++) {
			rc = sgx_bind_raw(pg, sgx_chain_offset(xen_page_to_gfn(pg)) +
					  256 * k, port, NULL);
			bound += !rc;
		}
	}
	sgx_diag(ctx,
		 "sgtest.flood self=%s bound=%u then rc=%ld (held before %u, max_bindings %u)",
		 cross_self, bound, rc, q.usage.bindings, q.limits.max_bindings);
	if (!sgx_put(ctx, bound, "flood/full/%s", cross_self))
		return false;
	/* Every binding it may make, and then the limit. */
	return sgx_rc(ctx, "bind past max_bindings", SGX_DOM0, rc, -XEN_ENOSPC) &&
	       q.usage.bindings + bound == q.limits.max_bindings;
}

/* @n triggers of @a, each firing one binding; the time they took in @ns. */
static bool __init sgx_flood_triggers(struct sgtest_ctx *ctx,
				      const struct xen_sg_addr *a,
				      s32 *counter, u64 *ns)
{
	struct sgx_state *st = ctx->priv;
	unsigned int i, bad = 0;
	u32 fired;
	u64 t0;

	atomic_set(&st->irqs, 0);
	WRITE_ONCE(*counter, SGX_FLOOD_TRIGGERS);
	t0 = ktime_get_ns();
	for (i = 0; i < SGX_FLOOD_TRIGGERS; i++) {
		long rc = sgt_trigger(a, &fired);

		if ((rc || fired != 1) && !bad++)
			sgx_diag(ctx, "trigger %u: rc=%ld fired=%u, expected 0 and 1",
				 i, rc, fired);
	}
	*ns = ktime_get_ns() - t0;
	if (READ_ONCE(*counter)) {
		sgx_diag(ctx, "counter is %d after %d triggers, expected 0",
			 READ_ONCE(*counter), SGX_FLOOD_TRIGGERS);
		bad++;
	}
	return sgx_events_are(ctx, &st->irqs, 1, "a counter reaching zero") &&
	       !bad;
}

static enum sgtest_result __init sgx_bucket_flood(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;
	struct xen_sg_global g = { };
	struct xen_sg_addr a = { .owner = DOMID_SELF };
	u32 port, full[SGX_NDOM] = { };
	u64 quiet_ns = 0, flood_ns = 0;
	bool ok = true;
	s32 *counter;
	int irq, i;

	if (!cross_flood) {
		sgtest_set_reason(ctx, "cross_flood=0: the domUs' bindings are needed later");
		return SGTEST_SKIP;
	}
	if (!sgx_ready(ctx))
		return SGTEST_FAIL;
	if (st->self != SGX_DOM0)
		return sgx_flood_attack(ctx) ? SGTEST_PASS : SGTEST_FAIL;

	if (!sgx_get(ctx))
		return sgx_result(ctx, false);
	counter = (s32 *)sgx_va(st, 1);
	a.frame = xen_page_to_gfn(st->pg[0]);
	a.offset = sgx_chain_offset(a.frame) + 256 * 7;
	irq = sgx_port_irq(ctx, &port, &st->irqs);
	if (irq < 0)
		return sgx_result(ctx, false);
	ok &= sgx_rc(ctx, "bind in the chain", SGX_DOM0,
		     sgx_bind_raw(st->pg[0], a.offset, port, st->pg[1]), 0);
	ok &= ok && sgx_flood_triggers(ctx, &a, counter, &quiet_ns);
	ok &= sgx_put(ctx, 1, "flood/go");
	for (i = 1; i < SGX_NDOM; i++)
		ok &= sgx_wait(ctx, &full[i], i, "flood/full/%s", sgx_name(i));
	ok &= ok && sgx_flood_triggers(ctx, &a, counter, &flood_ns);
	HYPERVISOR_sg_op(XEN_SGOP_query_global, &g);
	sgx_diag(ctx,
		 "sgtest.flood chain=%u sg-a=%u sg-b=%u bindings=%u addrs=%u triggers=%u quiet_ns_per_trigger=%llu flooded_ns_per_trigger=%llu",
		 SGX_CHAIN, full[1], full[2], g.bindings, g.addrs,
		 SGX_FLOOD_TRIGGERS, quiet_ns / SGX_FLOOD_TRIGGERS,
		 flood_ns / SGX_FLOOD_TRIGGERS);
	unbind_from_irqhandler(irq, &st->irqs);
	return sgx_result(ctx, ok);
}

static const struct sgtest_case sgx_cases[] __initconst = {
	{ "rendezvous", sgx_rendezvous },
	{ "transfers_both_ways_batch_offsets", sgx_transfers },
	{ "unnamed_domain_refused", sgx_unnamed_refused },
	{ "nway_trigger_counters", sgx_nway },
	{ "trigger_on_transfer", sgx_trigger_on_transfer },
	{ "addr_limit_per_domain", sgx_addr_limit_per_domain },
	{ "hold_for_destroy", sgx_hold_for_destroy },
	{ "bucket_flood_triggers_and_destroy", sgx_bucket_flood },
};

const struct sgtest_suite sgtest_suite_sg_cross __initconst = {
	.name = "sg_cross",
	.init = sgx_init,
	.priv_size = sizeof(struct sgx_state),
	.cases = sgx_cases,
	.num_cases = ARRAY_SIZE(sgx_cases),
};

/* sg_cross_after: dom0, once the lab has destroyed sg-b. */

static int __init sgx_after_init(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;

	if (!sgx_available(ctx))
		return 0;
	st->self = sgx_role();
	if (st->self != SGX_DOM0) {
		ctx->skip_all = true;
		sgtest_set_reason(ctx, "runs in dom0 only (cross_self=\"%s\")",
				  cross_self);
	}
	st->timed_out = true;	/* everything is written already */
	return 0;
}

static enum sgtest_result __init sgx_destroyed(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;
	u32 id, port, bdomid, breg, fired, p2;
	struct xen_sg_global g = { };
	struct xen_sg_usage u;
	struct xen_sg_addr a;
	struct xen_sg_elem l;
	bool ok = true;

	st->domid[SGX_B] = DOMID_INVALID;
	if (!sgx_wait(ctx, &id, SGX_DOM0, "after/reg") ||
	    !sgx_wait(ctx, &port, SGX_DOM0, "after/port") ||
	    !sgx_wait(ctx, &bdomid, SGX_DOM0, "after/bdomid") ||
	    !sgx_wait(ctx, &breg, SGX_DOM0, "after/breg"))
		return SGTEST_FAIL;
	st->domid[SGX_B] = bdomid;

	/* dom0's binding through sg-b's memory ended with sg-b. */
	sgt_usage(&u);
	if (u.regs != 1 || u.pinned_pages != 1 || u.bindings != 0) {
		sgx_diag(ctx,
			 "usage regs=%u pinned=%u bindings=%u, expected 1/1/0 (our registration %u only)",
			 u.regs, u.pinned_pages, u.bindings, id);
		ok = false;
	}
	/*
	 * sg-b's binding on our registration too: fired counts only ours
	 * (ABI 1.3), so the system-wide count shows it, with only dom0 left.
	 */
	sgx_addr(&a, DOMID_SELF, id, 0);
	ok &= sgx_rc(ctx, "trigger our registration", SGX_B,
		     sgt_trigger(&a, &fired), 0);
	ok &= sgx_rc(ctx, "query_global", SGX_B,
		     HYPERVISOR_sg_op(XEN_SGOP_query_global, &g), 0);
	if (fired || g.bindings || g.addrs) {
		sgx_diag(ctx,
			 "trigger fired %u of ours; bindings=%u addrs=%u in Xen, expected 0: sg-b's should be gone",
			 fired, g.bindings, g.addrs);
		ok = false;
	}
	/* sg-b's registration is unreachable. */
	if (!sgx_get(ctx))
		return sgx_result(ctx, false);
	sgx_elem(&l, st->pg[0], 0, 64);
	ok &= sgx_rc(ctx, "copy out of the destroyed domain's registration",
		     SGX_B, sgx_xfer1(bdomid, breg, XEN_SG_TRANSFER_FROM_PEER,
				      0, 64, &l, 0), -XEN_ESRCH);
	ok &= sgx_rc(ctx, "copy into the destroyed domain's registration",
		     SGX_B, sgx_xfer1(bdomid, breg, XEN_SG_TRANSFER_TO_PEER,
				      0, 64, &l, 0), -XEN_ESRCH);
	sgx_addr(&a, bdomid, breg, 0);
	ok &= sgx_rc(ctx, "trigger in the destroyed domain's registration",
		     SGX_B, sgt_trigger(&a, &fired), -XEN_ESRCH);
	if (!sgt_alloc_port(&p2)) {
		ok &= sgx_rc(ctx, "bind in the destroyed domain's registration",
			     SGX_B, sgt_bind(&a, p2, NULL, 0), -XEN_ESRCH);
		sgt_close_port(p2);
	}

	/* Release what the first run left. */
	ok &= sgx_rc(ctx, "unregister what sg_cross left", SGX_B,
		     sgx_unregister(id), 0);
	sgt_close_port(port);
	sgt_usage(&u);
	if (u.regs || u.pinned_pages || u.bindings) {
		sgx_diag(ctx, "usage after cleanup regs=%u pinned=%u bindings=%u, expected 0",
			 u.regs, u.pinned_pages, u.bindings);
		ok = false;
	}
	return sgx_result(ctx, ok);
}

static const struct sgtest_case sgx_after_cases[] __initconst = {
	{ "destroyed_domain_state_released", sgx_destroyed },
};

const struct sgtest_suite sgtest_suite_sg_cross_after __initconst = {
	.name = "sg_cross_after",
	.init = sgx_after_init,
	.priv_size = sizeof(struct sgx_state),
	.cases = sgx_after_cases,
	.num_cases = ARRAY_SIZE(sgx_after_cases),
};

/*
 * sg_reset: an HVM (PVH) domU leaves state for dom0's soft reset of it.
 * sg_reset_after: dom0, once the domUs are done, soft-resets each domU that
 * left it (issue 12, finding 3).
 *
 * The domU registers one page for dom0 (read access) holding, at byte 0, the
 * counter of a binding of one of its ports to byte 64 of that registration,
 * and publishes the ID as reset/reg/NAME.  It also registers SGX_RESET_BULK
 * lists of max_elems elements (the same page each time) for dom0, enough
 * page references that Xen drops them in several restartable steps.  It
 * keeps everything: the page is never freed, the domain dies with it.
 *
 * dom0 reads the counter through the registration, triggers byte 64 and
 * sees the counter go down (the trigger reached the binding), then shuts
 * the domU down for a soft reset (SCHEDOP_remote_shutdown,
 * SHUTDOWN_soft_reset: the lab's xl config says on_soft_reset="preserve",
 * so xl leaves the reset to dom0; docs/abi.md says why xl's own does not
 * serve here), pauses it and soft-resets it (XEN_DOMCTL_pausedomain,
 * XEN_DOMCTL_soft_reset: what libxl's soft reset does), then unpauses it.
 * After that the domU is the same domain and holds nothing: its count of
 * continued soft reset steps went up by at least one per
 * SGX_RESET_STEP_PAGES page references it held beyond the first step; no
 * registration, pin, binding or heap; a copy out of its old registration
 * and a trigger of the old address get -ENOENT; the system-wide counts
 * lost exactly what it held.  Soft reset is refused for PV domains ("HVM
 * domains only"), so a PV domU and dom0 skip sg_reset.
 */
#define SGX_RESET_COUNTER	1000
#define SGX_RESET_ADDR		64
#define SGX_RESET_BULK		16	/* registrations of max_elems elements */
#define SGX_RESET_STEP_PAGES	256	/* page references per step at most (Xen) */
#define SGX_RESET_TRIES		100	/* soft reset attempts, 50 ms apart */

static int __init sgx_reset_init(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;

	if (!sgx_available(ctx))
		return 0;
	st->self = sgx_role();
	if (st->self <= SGX_DOM0 || !xen_hvm_domain()) {
		ctx->skip_all = true;
		sgtest_set_reason(ctx, "an HVM domU only: PV domains cannot be soft-reset (cross_self=\"%s\")",
				  cross_self);
	}
	return 0;
}

/* SGX_RESET_BULK registrations of max_elems pieces of @pg for dom0. */
static bool __init sgx_reset_bulk(struct sgtest_ctx *ctx, struct page *pg)
{
	struct xen_sg_query q = { .domid = DOMID_SELF };
	struct xen_sg_elem *e;
	unsigned int i, n;
	bool ok = true;
	u32 id;

	if (HYPERVISOR_sg_op(XEN_SGOP_query, &q))
		return false;
	n = q.limits.max_elems;
	e = kcalloc(n, sizeof(*e), GFP_KERNEL);
	if (!e)
		return false;
	for (i = 0; i < n; i++)
		sgx_elem(&e[i], pg, 0, PAGE_SIZE);
	for (i = 0; ok && i < SGX_RESET_BULK; i++)
		ok &= sgx_rc(ctx, "register max_elems pieces for dom0", SGX_DOM0,
			     sgx_register(e, n, 0, XEN_SG_ACCESS_READ, &id), 0);
	kfree(e);
	return ok;
}

static enum sgtest_result __init sgx_reset_prepare(struct sgtest_ctx *ctx)
{
	struct xen_sg_elem e;
	struct xen_sg_addr a;
	struct page *pg;
	u32 id, port;
	bool ok = true;

	/* Never freed: Xen holds it until the soft reset, the guest until death. */
	pg = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!pg)
		return SGTEST_FAIL;
	*(u32 *)page_address(pg) = SGX_RESET_COUNTER;
	sgx_elem(&e, pg, 0, PAGE_SIZE);
	ok &= sgx_rc(ctx, "register a page for dom0", SGX_DOM0,
		     sgx_register(&e, 1, 0, XEN_SG_ACCESS_READ, &id), 0);
	ok &= sgx_rc(ctx, "alloc port", SGX_DOM0, sgt_alloc_port(&port), 0);
	if (!ok)
		return SGTEST_FAIL;
	sgx_addr(&a, DOMID_SELF, id, SGX_RESET_ADDR);
	ok &= sgx_rc(ctx, "bind with the counter in the registration", SGX_DOM0,
		     sgt_bind(&a, port, pg, 0), 0);
	ok &= sgx_reset_bulk(ctx, pg);
	ok &= sgx_put(ctx, id, "reset/reg/%s", cross_self);
	sgx_diag(ctx, "sgtest.reset left reg=%u port=%u and %u more registrations for dom0's soft reset",
		 id, port, SGX_RESET_BULK);
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

static const struct sgtest_case sgx_reset_cases[] __initconst = {
	{ "prepare_for_soft_reset", sgx_reset_prepare },
};

const struct sgtest_suite sgtest_suite_sg_reset __initconst = {
	.name = "sg_reset",
	.init = sgx_reset_init,
	.priv_size = sizeof(struct sgx_state),
	.cases = sgx_reset_cases,
	.num_cases = ARRAY_SIZE(sgx_reset_cases),
};

static long __init sgx_query_of(domid_t domid, struct xen_sg_query *q)
{
	long rc;

	memset(q, 0, sizeof(*q));
	q->domid = domid;
	rc = HYPERVISOR_sg_op(XEN_SGOP_query, q);
	if (rc)
		memset(&q->usage, 0xff, sizeof(q->usage));
	return rc;
}

/* The counter at byte 0 of @domid's registration @id, through it. */
static long __init sgx_reset_counter(struct sgx_state *st, domid_t domid,
				     u32 id, u32 *val)
{
	struct xen_sg_elem l;
	long rc;

	sgx_elem(&l, st->pg[0], 0, sizeof(*val));
	rc = sgx_xfer1(domid, id, XEN_SG_TRANSFER_FROM_PEER, 0, sizeof(*val),
		       &l, 0);
	*val = *(u32 *)sgx_va(st, 0);
	return rc;
}

static bool __init sgx_usage_empty(const struct xen_sg_usage *u)
{
	return !u->regs && !u->pinned_pages && !u->bindings && !u->heap;
}

/* The domctl's header; the soft reset uses none of its union. */
struct sgx_domctl {
	u32 cmd;
	u32 interface_version;
	u16 domain;
	u16 pad[3];
	u8 u[128];
};

#define SGX_DOMCTL_pausedomain	3
#define SGX_DOMCTL_unpausedomain 4
#define SGX_DOMCTL_soft_reset	79

/* XEN_DOMCTL_INTERFACE_VERSION of the Xen we run on, or 0 if unknown. */
static u32 __init sgx_domctl_version(void)
{
	int v = HYPERVISOR_xen_version(XENVER_version, NULL);

	return v == ((4 << 16) | 17) ? 0x15 : 0;
}

static long __init sgx_domctl(u32 cmd, u32 version, domid_t domid)
{
	struct sgx_domctl dc = {
		.cmd = cmd,
		.interface_version = version,
		.domain = domid,
	};

	return _hypercall1(long, domctl, &dc);
}

/*
 * As libxl does: the domain shut down for a soft reset, paused by its
 * controller (evtchn_reset() wants that from another domain), reset (Xen
 * continues the domctl itself: XEN_DOMCTL_soft_reset_cont), unpaused.  The
 * attempts it took in @tries.
 */
static bool __init sgx_reset_by_dom0(struct sgtest_ctx *ctx, int t,
				     u32 version, domid_t domid,
				     unsigned int *tries)
{
	struct sched_remote_shutdown sd = {
		.domain_id = domid,
		.reason = SHUTDOWN_soft_reset,
	};
	bool ok = true;
	long rc;

	ok &= sgx_rc(ctx, "remote shutdown for a soft reset", t,
		     HYPERVISOR_sched_op(SCHEDOP_remote_shutdown, &sd), 0);
	ok &= sgx_rc(ctx, "XEN_DOMCTL_pausedomain", t,
		     sgx_domctl(SGX_DOMCTL_pausedomain, version, domid), 0);
	for (*tries = 1;; ++*tries) {
		rc = sgx_domctl(SGX_DOMCTL_soft_reset, version, domid);
		/* -EINVAL until every vCPU is paused for the shutdown. */
		if (rc != -XEN_EINVAL || *tries == SGX_RESET_TRIES)
			break;
		msleep(50);
	}
	ok &= sgx_rc(ctx, "XEN_DOMCTL_soft_reset", t, rc, 0);
	ok &= sgx_rc(ctx, "XEN_DOMCTL_unpausedomain", t,
		     sgx_domctl(SGX_DOMCTL_unpausedomain, version, domid), 0);
	return ok;
}

static enum sgtest_result __init sgx_reset_one(struct sgtest_ctx *ctx, int t,
					       u32 version)
{
	struct sgx_state *st = ctx->priv;
	struct xen_sg_global g0 = { }, g1 = { };
	struct xen_sg_query q0, q1;
	struct xen_sg_usage *u0 = &q0.usage, *u1 = &q1.usage;
	struct xen_sg_addr a;
	u32 id, domid, v0 = 0, v1 = 0, fired, steps, min_steps;
	unsigned int tries = 0;
	bool ok = true;
	char key[32];

	/* Only a domU that ran sg_reset (an HVM one) left its ID. */
	scnprintf(key, sizeof(key), "reset/reg/%s", sgx_name(t));
	if (xenbus_scanf(XBT_NIL, SGX_DIR, key, "%u", &id) != 1)
		return SGTEST_SKIP;
	if (!sgx_wait(ctx, &domid, SGX_DOM0, "domid/%s", sgx_name(t)))
		return SGTEST_FAIL;
	st->domid[t] = domid;

	/* Before: the registration and the binding are there and work. */
	ok &= sgx_rc(ctx, "query", t, sgx_query_of(domid, &q0), 0);
	ok &= sgx_rc(ctx, "query_global", t,
		     HYPERVISOR_sg_op(XEN_SGOP_query_global, &g0), 0);
	ok &= sgx_rc(ctx, "read the counter", t,
		     sgx_reset_counter(st, domid, id, &v0), 0);
	sgx_addr(&a, domid, id, SGX_RESET_ADDR);
	ok &= sgx_rc(ctx, "trigger the bound byte", t, sgt_trigger(&a, &fired), 0);
	ok &= sgx_rc(ctx, "read the counter again", t,
		     sgx_reset_counter(st, domid, id, &v1), 0);
	if (u0->regs < 1 + SGX_RESET_BULK || u0->bindings < 1 || v1 != v0 - 1) {
		sgx_diag(ctx,
			 "before the reset: regs=%u bindings=%u counter %u then %u: expected %u registrations and the binding to count down",
			 u0->regs, u0->bindings, v0, v1, 1 + SGX_RESET_BULK);
		ok = false;
	}

	ok &= sgx_reset_by_dom0(ctx, t, version, domid, &tries);
	ok &= sgx_rc(ctx, "query after", t, sgx_query_of(domid, &q1), 0);

	/* After: nothing of it is left, and its old ID names nothing. */
	ok &= sgx_rc(ctx, "query_global after", t,
		     HYPERVISOR_sg_op(XEN_SGOP_query_global, &g1), 0);
	ok &= sgx_rc(ctx, "copy out of the old registration", t,
		     sgx_reset_counter(st, domid, id, &v1), -XEN_ENOENT);
	ok &= sgx_rc(ctx, "trigger the old address", t,
		     sgt_trigger(&a, &fired), -XEN_ENOENT);
	steps = q1.reset_continuations - q0.reset_continuations;
	min_steps = max_t(u32, 1, DIV_ROUND_UP(u0->pinned_pages,
					       SGX_RESET_STEP_PAGES) - 1);
	sgx_diag(ctx,
		 "sgtest.reset %s domid=%u tries=%u continuations=%u min=%u before regs=%u pinned=%u bindings=%u heap=%u after regs=%u pinned=%u bindings=%u heap=%u global_regs=%u->%u global_bindings=%u->%u",
		 sgx_name(t), domid, tries, steps, min_steps, u0->regs,
		 u0->pinned_pages, u0->bindings, u0->heap, u1->regs,
		 u1->pinned_pages, u1->bindings, u1->heap, g0.regs, g1.regs,
		 g0.bindings, g1.bindings);
	if (!sgx_usage_empty(u1)) {
		sgx_diag(ctx, "the soft-reset domain still holds state");
		ok = false;
	}
	if (steps < min_steps) {
		sgx_diag(ctx, "the soft reset took %u continued steps: expected at least %u for %u pinned pages",
			 steps, min_steps, u0->pinned_pages);
		ok = false;
	}
	if (g1.regs != g0.regs - u0->regs ||
	    g1.pinned_pages != g0.pinned_pages - u0->pinned_pages ||
	    g1.bindings != g0.bindings - u0->bindings) {
		sgx_diag(ctx, "the system-wide counts did not lose exactly what it held");
		ok = false;
	}
	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

static enum sgtest_result __init sgx_reset_domus(struct sgtest_ctx *ctx)
{
	enum sgtest_result res = SGTEST_SKIP, r;
	u32 version = sgx_domctl_version();
	int t;

	if (!version) {
		sgtest_set_reason(ctx, "XEN_DOMCTL_INTERFACE_VERSION of this Xen unknown");
		return SGTEST_SKIP;
	}
	if (!sgx_get(ctx))
		return sgx_result(ctx, false);
	for (t = SGX_DOM0 + 1; t < SGX_NDOM; t++) {
		r = sgx_reset_one(ctx, t, version);
		if (r == SGTEST_FAIL || (r == SGTEST_PASS && res == SGTEST_SKIP))
			res = r;
	}
	if (res == SGTEST_SKIP)
		sgtest_set_reason(ctx, "no domU left state for a soft reset");
	sgx_result(ctx, true);
	return res;
}

static const struct sgtest_case sgx_reset_after_cases[] __initconst = {
	{ "soft_reset_drops_state", sgx_reset_domus },
};

const struct sgtest_suite sgtest_suite_sg_reset_after __initconst = {
	.name = "sg_reset_after",
	.init = sgx_after_init,
	.priv_size = sizeof(struct sgx_state),
	.cases = sgx_reset_after_cases,
	.num_cases = ARRAY_SIZE(sgx_reset_after_cases),
};

/*
 * sg_xsm: dom0, sg-a and sg-b, under the policy cross_xsm names.
 *
 * dom0 registers one page for sg-a and for sg-b: byte 128 is one address,
 * which sg-b binds through its registration with a counter of 1.  sg-a
 * triggers it through its own registration.  The memory is dom0's, so
 * (sg-a, dom0) passes every policy; the binding is sg-b's, so (sg-a, sg-b)
 * is checked too (issue 12, finding 8): under a policy that keeps domUs
 * apart sg-a's trigger does not reach sg-b (counter 1, no event), otherwise
 * it does (counter 0, one event).  Then dom0 triggers the byte by frame,
 * which every policy lets dom0 do: the binding is live, one more decrement
 * and event.  sg-a first checks that the policy is the one cross_xsm names:
 * its registration naming sg-b is refused (-EPERM under SILO, -EACCES under
 * FLASK) or not.
 */

/* How the policy cross_xsm names refuses domU to domU: 0 if it does not. */
static long __init sgx_refusal(void)
{
	if (!strcmp(cross_xsm, "silo"))
		return -XEN_EPERM;
	if (!strcmp(cross_xsm, "flask"))
		return -XEN_EACCES;
	return 0;
}

static enum sgtest_result __init sgx_fire_needs_binder_pair(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;
	long refusal = sgx_refusal();
	bool apart = refusal != 0, ok = true;
	u32 ids[SGX_NDOM] = { }, id = 0, port, fired, v;
	int self = st->self, i, irq;
	struct xen_sg_addr a;
	struct xen_sg_elem e;
	s32 *counter;

	if (!sgx_ready(ctx) || !sgx_get(ctx))
		return sgx_result(ctx, false);
	sgx_elem(&e, st->pg[0], 0, PAGE_SIZE);
	counter = (s32 *)(sgx_va(st, 1) + 64);

	if (self == SGX_DOM0) {
		for (i = 1; i < SGX_NDOM; i++) {
			ok &= sgx_rc(ctx, "register", i,
				     sgx_register(&e, 1, st->domid[i],
						  XEN_SG_ACCESS_READ, &ids[i]),
				     0);
			ok &= sgx_put(ctx, ids[i], "xsm/reg/%s", sgx_name(i));
		}
		memset(&a, 0, sizeof(a));
		a.owner = DOMID_SELF;
		a.frame = xen_page_to_gfn(st->pg[0]);
		a.offset = 128;
		if (ok && sgx_wait(ctx, &v, SGX_B, "xsm/checked")) {
			ok &= sgx_rc(ctx, "trigger by frame", SGX_B,
				     sgt_trigger(&a, &fired), 0);
			ok &= sgx_rc(ctx, "fired (none of ours)", SGX_B,
				     fired, 0);
			ok &= sgx_put(ctx, 1, "xsm/dom0-fired");
		} else {
			ok = false;
		}
		ok &= sgx_wait(ctx, &v, SGX_B, "xsm/end");
		for (i = 1; i < SGX_NDOM; i++)
			if (ids[i])
				ok &= sgx_rc(ctx, "unregister", i,
					     sgx_unregister(ids[i]), 0);
		return sgx_result(ctx, ok);
	}

	if (!sgx_wait(ctx, &id, SGX_DOM0, "xsm/reg/%s", cross_self))
		return sgx_result(ctx, false);
	sgx_addr(&a, st->domid[SGX_DOM0], id, 128);

	if (self != SGX_B) {
		u32 bid = 0;

		/* Is the policy the one we were told? */
		ok &= sgx_rc(ctx, apart ? "register naming sg-b (refused)"
					: "register naming sg-b", SGX_B,
			     sgx_register(&e, 1, st->domid[SGX_B],
					  XEN_SG_ACCESS_READ, &bid), refusal);
		if (bid)
			ok &= sgx_rc(ctx, "unregister", SGX_B,
				     sgx_unregister(bid), 0);
		if (!sgx_wait(ctx, &v, SGX_B, "xsm/bound"))
			return sgx_result(ctx, false);
		/* Ours to reach (dom0's memory); the binding is not ours. */
		ok &= sgx_rc(ctx, "trigger dom0's registration", SGX_DOM0,
			     sgt_trigger(&a, &fired), 0);
		ok &= sgx_rc(ctx, "fired (none of ours)", SGX_B, fired, 0);
		ok &= sgx_put(ctx, 1, "xsm/fired");
		return sgx_result(ctx, ok);
	}

	irq = sgx_port_irq(ctx, &port, &st->irqs);
	if (irq < 0)
		return sgx_result(ctx, false);
	WRITE_ONCE(*counter, 1);
	ok &= sgx_rc(ctx, "bind with a counter", SGX_DOM0,
		     sgt_bind(&a, port, st->pg[1], 64), 0);
	ok &= sgx_put(ctx, 1, "xsm/bound");
	if (ok && sgx_wait(ctx, &v, 1, "xsm/fired")) {
		ok &= sgx_events_are(ctx, &st->irqs, apart ? 0 : 1,
				     apart ? "sg-a's trigger (refused)"
					   : "sg-a's trigger");
		ok &= sgx_rc(ctx, "counter after sg-a's trigger", 1,
			     READ_ONCE(*counter), apart ? 1 : 0);
		ok &= sgx_put(ctx, 1, "xsm/checked");
		ok &= sgx_wait(ctx, &v, SGX_DOM0, "xsm/dom0-fired");
		ok &= sgx_events_are(ctx, &st->irqs, apart ? 1 : 2,
				     "dom0's trigger");
		ok &= sgx_rc(ctx, "counter after dom0's trigger", SGX_DOM0,
			     READ_ONCE(*counter), apart ? 0 : -1);
	} else {
		ok = false;
	}
	if (ok)
		sgx_diag(ctx, "sgtest.xsm policy=%s sg-a's trigger %s sg-b's binding",
			 cross_xsm, apart ? "did not reach" : "reached");
	unbind_from_irqhandler(irq, &st->irqs);
	ok &= sgx_put(ctx, 1, "xsm/end");
	return sgx_result(ctx, ok);
}

/*
 * Naming a domain as peer allocates nothing in it (issue 12, finding 4):
 * dom0 registers a page for sg-a, reads how many domains have sg_op state,
 * registers one for sg-b and reads again: the same.  The domUs make no
 * sg_op call that needs state of their own until dom0 is done (with only
 * sg_op's queries before sg_xsm, sg-b has none, so an allocation would
 * show); they wait for xsm/named.
 */
static enum sgtest_result __init sgx_naming_allocates_nothing(struct sgtest_ctx *ctx)
{
	struct sgx_state *st = ctx->priv;
	struct xen_sg_global g1 = { }, g2 = { };
	u32 ids[SGX_NDOM] = { }, v;
	struct xen_sg_elem e;
	bool ok = true;
	int i;

	if (!sgx_ready(ctx))
		return SGTEST_FAIL;
	if (st->self != SGX_DOM0)
		return sgx_wait(ctx, &v, SGX_DOM0, "xsm/named") ? SGTEST_PASS
								: SGTEST_FAIL;
	if (!sgx_get(ctx))
		return sgx_result(ctx, false);
	sgx_elem(&e, st->pg[0], 0, PAGE_SIZE);
	for (i = 1; i < SGX_NDOM; i++) {
		struct xen_sg_global *g = i == 1 ? &g1 : &g2;

		ok &= sgx_rc(ctx, "register", i,
			     sgx_register(&e, 1, st->domid[i],
					  XEN_SG_ACCESS_READ, &ids[i]), 0);
		ok &= sgx_rc(ctx, "query_global", i,
			     HYPERVISOR_sg_op(XEN_SGOP_query_global, g), 0);
	}
	if (ok && g2.domains != g1.domains) {
		sgx_diag(ctx,
			 "registering for sg-b took domains from %u to %u: state was allocated in sg-b",
			 g1.domains, g2.domains);
		ok = false;
	}
	for (i = 1; i < SGX_NDOM; i++)
		if (ids[i])
			ok &= sgx_rc(ctx, "unregister", i,
				     sgx_unregister(ids[i]), 0);
	ok &= sgx_put(ctx, 1, "xsm/named");
	return sgx_result(ctx, ok);
}

static const struct sgtest_case sgx_xsm_cases[] __initconst = {
	{ "rendezvous", sgx_rendezvous },
	{ "naming_allocates_nothing", sgx_naming_allocates_nothing },
	{ "fire_needs_binder_pair", sgx_fire_needs_binder_pair },
};

const struct sgtest_suite sgtest_suite_sg_xsm __initconst = {
	.name = "sg_xsm",
	.init = sgx_init,
	.priv_size = sizeof(struct sgx_state),
	.cases = sgx_xsm_cases,
	.num_cases = ARRAY_SIZE(sgx_xsm_cases),
};
