// SPDX-License-Identifier: GPL-2.0
#include <linux/prandom.h>
#include <linux/random.h>
#include <linux/sched.h>
#include <linux/timekeeping.h>

#include "sgtest.h"

/*
 * The sg_fuzz suite: fuzz_calls (default 100000) sg_op and event channel
 * calls, mostly with random or invalid arguments, interleaved with valid
 * ones so that some registrations, bindings, transfers and triggers
 * succeed.  The sequence is a function of the seed alone: the suite's init
 * prints "# sgtest.fuzz seed=N calls=N" and "suites=sg_fuzz seed=N" replays
 * it.  The fuzzer keeps a model of what it holds (registrations, bindings)
 * and checks it against XEN_SGOP_query regularly; at the end it releases
 * everything and checks that usage (and, in the control domain, the
 * hypervisor's global totals) is back where it started.
 *
 * Random frames are only ever given to Xen where Xen reads them or merely
 * references them: memory Xen may write (a registration the fuzzer's own
 * transfers may copy into, a transfer's local list when copying from the
 * peer, a counter) is either one of the fuzzer's own pages or a frame
 * number no machine has (>= 2^40).
 */

static ulong seed;
module_param(seed, ulong, 0444);
MODULE_PARM_DESC(seed, "sg_fuzz: PRNG seed (0: pick one)");

static uint fuzz_calls = 100000;
module_param(fuzz_calls, uint, 0444);
MODULE_PARM_DESC(fuzz_calls, "sg_fuzz: number of calls (default 100000)");

#define SGF_PAGES	8		/* data pages: registrations, local lists */
#define SGF_PORTS	6		/* own unbound ports, with irq handlers */
#define SGF_REGS	32		/* registrations tracked */
#define SGF_BINDS	48		/* bindings tracked */
#define SGF_OPS		16		/* ops in one transfer batch, at most */
#define SGF_OP_ELEMS	6		/* local elements per op, at most */
#define SGF_NOFRAME	BIT_ULL(40)	/* no machine has this frame */
#define SGF_BIGID	0x10000000U	/* never a live registration ID */
#define SGF_CHECK_EVERY	4096		/* calls between model checks */
#define SGF_MAX_RCS	12
#define SGF_REG_ELEMS	64		/* elements of a tracked registration */

enum sgf_kind {
	SGF_QUERY, SGF_REGISTER, SGF_UNREGISTER, SGF_REARM, SGF_TRANSFER,
	SGF_BIND, SGF_UNBIND, SGF_TRIGGER, SGF_GLOBAL, SGF_BADCMD, SGF_EVTCHN,
	SGF_XFER_OP, SGF_NKINDS
};

static const char *const sgf_kind_name[SGF_NKINDS] = {
	"query", "register", "unregister", "rearm", "transfer", "bind",
	"unbind", "trigger", "query_global", "bad_cmd", "evtchn", "xfer_op",
};

struct sgf_rc {
	long rc;
	u32 n;
};

struct sgf_reg {
	u32 id;
	u32 n;
	u64 len;
	struct xen_sg_elem e[SGF_REG_ELEMS];
};

struct sgf_bind {
	struct xen_sg_addr a;
	u32 port;
	u32 via;			/* own registration bound through, or 0 */
	u64 key_frame;			/* the byte it names */
	u64 key_off;
};

struct sgf_state {
	struct rnd_state rnd;
	u64 seed;
	domid_t self;
	bool privileged;
	struct xen_sg_limits lim;
	struct page *pg[SGF_PAGES];
	u64 frame[SGF_PAGES];
	struct page *cpg;		/* counters */
	u32 port[SGF_PORTS];
	int irq[SGF_PORTS];
	atomic_t events;
	struct sgf_reg regs[SGF_REGS];
	unsigned int nregs;
	struct sgf_bind binds[SGF_BINDS];
	unsigned int nbinds;
	struct xen_sg_elem *elems;	/* max_elems + 4 */
	struct xen_sg_transfer ops[SGF_OPS];
	struct xen_sg_elem op_elems[SGF_OPS][SGF_OP_ELEMS];
	struct sgf_rc rcs[SGF_NKINDS][SGF_MAX_RCS];
	u64 other_rcs[SGF_NKINDS];
	struct xen_sg_usage before;
	struct xen_sg_global gbefore;
	bool have_global;
	u32 calls;
	u32 successes[SGF_NKINDS];
	u32 violations;
	u32 model_errors;
	u32 cleanup_errors;
	u32 unsafe_dropped;
	u64 ns;
	bool ran;
};

static u32 sgf_u32(struct sgf_state *st)
{
	return prandom_u32_state(&st->rnd);
}

static u64 sgf_u64(struct sgf_state *st)
{
	return ((u64)sgf_u32(st) << 32) | sgf_u32(st);
}

static u32 sgf_below(struct sgf_state *st, u32 n)
{
	return n ? sgf_u32(st) % n : 0;
}

/* True with probability @pct percent. */
static bool sgf_pct(struct sgf_state *st, u32 pct)
{
	return sgf_below(st, 100) < pct;
}

static void __init sgf_count(struct sgf_state *st, enum sgf_kind k, long rc)
{
	struct sgf_rc *r = st->rcs[k];
	unsigned int i;

	if (!rc)
		st->successes[k]++;
	for (i = 0; i < SGF_MAX_RCS; i++) {
		if (r[i].n && r[i].rc == rc) {
			r[i].n++;
			return;
		}
		if (!r[i].n) {
			r[i].rc = rc;
			r[i].n = 1;
			return;
		}
	}
	st->other_rcs[k]++;
}

static void __init sgf_violation(struct sgtest_ctx *ctx, const char *what,
				long rc)
{
	struct sgf_state *st = ctx->priv;

	if (st->violations++ < 10)
		ktap_diag(ctx->ktap, "call %u: %s returned %ld", st->calls,
			  what, rc);
}

static long __init sgf_op(struct sgf_state *st, enum sgf_kind k,
			 unsigned int cmd, void *arg)
{
	long rc = HYPERVISOR_sg_op(cmd, arg);

	st->calls++;
	sgf_count(st, k, rc);
	return rc;
}

/* Frames */

static u64 __init sgf_own_frame(struct sgf_state *st)
{
	return st->frame[sgf_below(st, SGF_PAGES)];
}

/* A frame Xen may write: ours, or one that does not exist. */
static u64 __init sgf_wframe(struct sgf_state *st, bool *valid)
{
	*valid = sgf_pct(st, 85);
	if (*valid)
		return sgf_own_frame(st);
	return SGF_NOFRAME | sgf_u64(st);
}

/* A frame Xen only reads or references: anything. */
static u64 __init sgf_rframe(struct sgf_state *st, bool *ours)
{
	*ours = false;
	switch (sgf_below(st, 8)) {
	case 0:
		return sgf_u64(st);
	case 1:
		return SGF_NOFRAME | sgf_u64(st);
	case 2:
		return sgf_own_frame(st) + 1 + sgf_below(st, 64);
	case 3:
		return sgf_own_frame(st) - 1 - sgf_below(st, 64);
	case 4:
		return sgf_below(st, 4);
	default:
		*ours = true;
		return sgf_own_frame(st);
	}
}

static u32 __init sgf_offset(struct sgf_state *st)
{
	switch (sgf_below(st, 8)) {
	case 0:
		return sgf_u32(st);
	case 1:
		return PAGE_SIZE - sgf_below(st, 4);
	default:
		return sgf_below(st, PAGE_SIZE);
	}
}

/* Fill @e; returns its geometry is wrong (0: it may be right). */
static bool __init sgf_elem(struct sgf_state *st, struct xen_sg_elem *e,
			   bool written)
{
	bool ok;

	if (written)
		e->frame = sgf_wframe(st, &ok);
	else
		e->frame = sgf_rframe(st, &ok);
	if (ok && sgf_pct(st, 90)) {
		e->offset = sgf_below(st, PAGE_SIZE);
		e->len = 1 + sgf_below(st, PAGE_SIZE - e->offset);
		return false;
	}
	e->offset = sgf_offset(st);
	e->len = sgf_pct(st, 50) ? sgf_u32(st) : sgf_below(st, PAGE_SIZE + 2);
	return !e->len || e->offset >= PAGE_SIZE ||
	       e->len > PAGE_SIZE - e->offset;
}

static bool __init sgf_is_own_frame(struct sgf_state *st, u64 frame)
{
	unsigned int i;

	for (i = 0; i < SGF_PAGES; i++)
		if (st->frame[i] == frame)
			return true;
	return false;
}

static domid_t __init sgf_peer(struct sgf_state *st)
{
	switch (sgf_below(st, 8)) {
	case 0:
		return sgf_u32(st);
	case 1:
		return 0x7ff0 + sgf_below(st, 16);	/* DOMID_FIRST_RESERVED.. */
	case 2:
		return st->self;
	default:
		return DOMID_SELF;
	}
}

static bool __init sgf_is_self(struct sgf_state *st, domid_t d)
{
	return d == DOMID_SELF || d == st->self;
}

static struct sgf_reg *__init sgf_find_reg(struct sgf_state *st, u32 id)
{
	unsigned int i;

	for (i = 0; i < st->nregs; i++)
		if (st->regs[i].id == id)
			return &st->regs[i];
	return NULL;
}

static u32 __init sgf_reg_id(struct sgf_state *st)
{
	if (st->nregs && sgf_pct(st, 70))
		return st->regs[sgf_below(st, st->nregs)].id;
	switch (sgf_below(st, 3)) {
	case 0:
		return 0;
	case 1:
		return sgf_below(st, 4096);
	default:
		return SGF_BIGID | sgf_u32(st);
	}
}

static u32 __init sgf_port(struct sgf_state *st)
{
	if (sgf_pct(st, 85))
		return st->port[sgf_below(st, SGF_PORTS)];
	return sgf_pct(st, 50) ? sgf_below(st, 4096) : sgf_u32(st);
}

/* The model */

static void __init sgf_forget_binds(struct sgf_state *st, u32 via, u32 port,
				   bool by_port)
{
	unsigned int i = 0;

	while (i < st->nbinds) {
		struct sgf_bind *b = &st->binds[i];

		if (by_port ? b->port == port : (via && b->via == via))
			*b = st->binds[--st->nbinds];
		else
			i++;
	}
}

static void __init sgf_forget_reg(struct sgf_state *st, u32 id)
{
	struct sgf_reg *r = sgf_find_reg(st, id);

	if (r)
		*r = st->regs[--st->nregs];
	sgf_forget_binds(st, id, 0, false);
}

static void __init sgf_check_model(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	struct xen_sg_usage u;

	sgt_usage(&u);
	if (u.regs == st->before.regs + st->nregs &&
	    u.bindings == st->before.bindings + st->nbinds)
		return;
	if (st->model_errors++ < 5)
		ktap_diag(ctx->ktap,
			  "call %u: usage regs=%u bindings=%u, model %u/%u",
			  st->calls, u.regs, u.bindings,
			  st->before.regs + st->nregs,
			  st->before.bindings + st->nbinds);
}

/* Sub-op generators */

static void __init sgf_query(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	struct xen_sg_query q = { .domid = sgf_peer(st) };
	bool bad = false;
	long rc;

	if (sgf_pct(st, 20)) {
		q.flags = sgf_u32(st);
		bad |= q.flags != 0;
	}
	if (sgf_pct(st, 10)) {
		q._pad0 = sgf_u32(st);
		bad |= q._pad0 != 0;
	}
	rc = sgf_op(st, SGF_QUERY, XEN_SGOP_query, &q);
	if (bad && !rc)
		sgf_violation(ctx, "query with flags/padding", rc);
}

static void __init sgf_query_global(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	struct xen_sg_global g = { };
	long rc;

	if (sgf_pct(st, 30))
		g.flags = sgf_u32(st) | 1;
	rc = sgf_op(st, SGF_GLOBAL, XEN_SGOP_query_global, &g);
	if (rc == 0 && (g.flags || !st->privileged))
		sgf_violation(ctx, "query_global", rc);
	if (!st->privileged && !g.flags && rc != -XEN_EPERM)
		sgf_violation(ctx, "query_global unprivileged", rc);
}

static void __init sgf_register(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	struct xen_sg_register r = { };
	bool valid = true, safe = true, nonexistent = false, bad;
	unsigned int i, n, max = st->lim.max_elems;
	struct xen_sg_id gone = { };
	long rc;

	r.access = sgf_pct(st, 90) ? 1 + sgf_below(st, 3) : sgf_u32(st);
	valid &= r.access && !(r.access & ~3U);
	r.flags = sgf_pct(st, 85) ? sgf_below(st, 2) : sgf_u32(st);
	valid &= !(r.flags & ~XEN_SG_REG_ONESHOT);
	r.peer = sgf_pct(st, 90) ? DOMID_SELF : sgf_peer(st);

	if (sgf_pct(st, 85))
		n = 1 + sgf_below(st, min(4U, max));
	else if (sgf_pct(st, 50))
		n = max - 1 + sgf_below(st, 5);	/* around the limit */
	else
		n = sgf_pct(st, 50) ? 0 : sgf_u32(st);
	r.nr_elems = n;
	valid &= n && n <= max;

	n = min(n, max + 4);
	for (i = 0; i < n; i++) {
		bad = sgf_elem(st, &st->elems[i],
			      r.access & XEN_SG_ACCESS_WRITE);
		valid &= !bad;
		safe &= sgf_is_own_frame(st, st->elems[i].frame);
		nonexistent |= st->elems[i].frame >= SGF_NOFRAME;
	}
	r.elems = (u64)(uintptr_t)st->elems;
	if (sgf_pct(st, 3)) {
		static const u64 bad_ptrs[] = {
			0, 8, 0x8000000000000000ULL, 0xffff800000000000ULL,
			~0ULL,
		};

		r.elems = bad_ptrs[sgf_below(st, ARRAY_SIZE(bad_ptrs))];
		valid = false;
		nonexistent = true;	/* unreadable: must fail */
	}

	rc = sgf_op(st, SGF_REGISTER, XEN_SGOP_register, &r);
	if (rc)
		return;
	if (!valid || nonexistent)
		sgf_violation(ctx, "register with invalid input", rc);
	if (safe && st->nregs < SGF_REGS && r.nr_elems <= SGF_REG_ELEMS) {
		struct sgf_reg *t = &st->regs[st->nregs++];

		t->id = r.id;
		t->len = r.length;
		t->n = r.nr_elems;
		memcpy(t->e, st->elems, r.nr_elems * sizeof(t->e[0]));
		return;
	}
	/* Not only our pages, or no room to track it: give it back now. */
	gone.id = r.id;
	st->unsafe_dropped++;
	if (sgf_op(st, SGF_UNREGISTER, XEN_SGOP_unregister, &gone))
		sgf_violation(ctx, "unregister of a fresh registration", -1);
}

static void __init sgf_id_op(struct sgtest_ctx *ctx, enum sgf_kind k)
{
	struct sgf_state *st = ctx->priv;
	struct xen_sg_id a = { .id = sgf_reg_id(st) };
	bool known = sgf_find_reg(st, a.id);
	long rc;

	if (sgf_pct(st, 5))
		a.flags = sgf_u32(st) | 1;
	rc = sgf_op(st, k, k == SGF_UNREGISTER ? XEN_SGOP_unregister :
					       XEN_SGOP_rearm, &a);
	if (!rc && (!known || a.flags))
		sgf_violation(ctx, sgf_kind_name[k], rc);
	if (known && !a.flags && rc)
		sgf_violation(ctx, "id op on a live registration", rc);
	if (!rc && k == SGF_UNREGISTER)
		sgf_forget_reg(st, a.id);
}

/* Fill one transfer op; returns whether it must fail. */
static bool __init sgf_xfer_op(struct sgf_state *st, unsigned int i)
{
	struct xen_sg_transfer *op = &st->ops[i];
	struct xen_sg_elem *l = st->op_elems[i];
	struct sgf_reg *r = NULL;
	bool must_fail = false, to_peer;
	unsigned int j, n;
	u64 total = 0;

	memset(op, 0, sizeof(*op));
	op->dir = sgf_pct(st, 95) ? sgf_below(st, 2) : sgf_u32(st) & 0xff;
	must_fail |= op->dir > XEN_SG_TRANSFER_FROM_PEER;
	to_peer = op->dir == XEN_SG_TRANSFER_TO_PEER;
	op->peer = sgf_pct(st, 90) ? DOMID_SELF : sgf_peer(st);
	op->reg_id = sgf_reg_id(st);
	if (!sgf_is_self(st, op->peer) && op->reg_id < SGF_BIGID)
		op->reg_id |= SGF_BIGID;		/* never another's real ID */
	if (sgf_is_self(st, op->peer)) {
		r = sgf_find_reg(st, op->reg_id);
		must_fail |= !r;
	}
	op->flags = sgf_pct(st, 90) ? sgf_below(st, 2) : sgf_u32(st);
	must_fail |= op->flags & ~XEN_SG_TRANSFER_TRIGGER;

	if (r && sgf_pct(st, 50)) {
		/* A valid op: own pages, in range. */
		n = 1 + sgf_below(st, SGF_OP_ELEMS);
		for (j = 0; j < n; j++) {
			l[j].frame = sgf_own_frame(st);
			l[j].offset = sgf_below(st, PAGE_SIZE);
			l[j].len = 1 + sgf_below(st, PAGE_SIZE - l[j].offset);
			total += l[j].len;
		}
		op->local = (u64)(uintptr_t)l;
		op->nr_local = n;
		op->offset = sgf_below(st, r->len);
		op->length = 1 + sgf_below(st, min_t(u64, total,
						   r->len - op->offset));
		op->status = 0x55555555;
		return must_fail;
	}
	n = sgf_pct(st, 95) ? 1 + sgf_below(st, SGF_OP_ELEMS) :
			    sgf_below(st, SGF_OP_ELEMS + 1);
	for (j = 0; j < n; j++) {
		/* Copying from the peer writes the local list. */
		must_fail |= sgf_elem(st, &l[j], !to_peer);
		if (!j)
			must_fail |= l[j].frame >= SGF_NOFRAME;
		total += l[j].len;
	}
	op->local = (u64)(uintptr_t)l;
	op->nr_local = n;
	must_fail |= !n;
	if (sgf_pct(st, 85) && r) {
		op->offset = sgf_below(st, r->len);
		op->length = 1 + sgf_below(st, min_t(u64, total ? total : 1,
						   r->len - op->offset));
	} else {
		op->offset = sgf_pct(st, 50) ? sgf_u64(st) : sgf_below(st, 2 * PAGE_SIZE);
		op->length = sgf_pct(st, 50) ? sgf_u64(st) : sgf_below(st, 2 * PAGE_SIZE);
		if (r && (op->offset >= r->len ||
			  op->length > r->len - op->offset))
			must_fail = true;
	}
	must_fail |= !op->length || op->length > total;
	if (sgf_pct(st, 3)) {
		op->_pad0 = 1 + sgf_below(st, 255);
		must_fail = true;
	}
	if (sgf_pct(st, 3)) {
		op->_pad1 = sgf_u32(st) | 1;
		must_fail = true;
	}
	op->status = 0x55555555;
	return must_fail;
}

static void __init sgf_transfer(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	struct xen_sg_transfer_batch b = { };
	bool must_fail[SGF_OPS];
	unsigned int i, n, progress = 0;
	bool batch_bad = false;
	long rc;

	n = sgf_pct(st, 95) ? 1 + sgf_below(st, SGF_OPS) : 0;
	for (i = 0; i < n; i++)
		must_fail[i] = sgf_xfer_op(st, i);
	b.ops = (u64)(uintptr_t)st->ops;
	b.nr_ops = n;
	if (sgf_pct(st, 2)) {
		b.nr_ops = (UINT_MAX >> XEN_SGOP_CMD_BITS) + 1 + sgf_below(st, 1000);
		batch_bad = true;
	}
	if (sgf_pct(st, 2)) {
		b.flags = sgf_u32(st) | 1;
		batch_bad = true;
	}
	if (sgf_pct(st, 2)) {
		/* Progress past nr_ops: refused. */
		progress = n + 1 + sgf_below(st, 1000);
		batch_bad = true;
	}
	if (sgf_pct(st, 1) && n) {
		b.ops = sgf_pct(st, 50) ? 0 : 0xffff800000000000ULL;
		batch_bad = true;
	}
	rc = sgf_op(st, SGF_TRANSFER,
		   XEN_SGOP_transfer | (progress << XEN_SGOP_CMD_BITS), &b);
	if (batch_bad) {
		if (!rc)
			sgf_violation(ctx, "transfer batch with invalid input", rc);
		return;
	}
	if (rc) {
		sgf_violation(ctx, "valid transfer batch", rc);
		return;
	}
	for (i = 0; i < n; i++) {
		long s = st->ops[i].status;

		sgf_count(st, SGF_XFER_OP, s);
		if (s == 0x55555555)
			sgf_violation(ctx, "transfer op without status", s);
		else if (!s && must_fail[i])
			sgf_violation(ctx, "transfer op with invalid input", s);
	}
}

/* The byte a tracked registration's @off names. */
static void __init sgf_reg_byte(const struct sgf_reg *r, u64 off, u64 *frame,
			       u64 *boff)
{
	unsigned int i;

	for (i = 0; i < r->n && off >= r->e[i].len; i++)
		off -= r->e[i].len;
	*frame = r->e[i].frame;
	*boff = r->e[i].offset + off;
}

static void __init sgf_addr(struct sgf_state *st, struct xen_sg_addr *a,
			   bool *must_fail, u32 *via)
{
	bool ours;

	memset(a, 0, sizeof(*a));
	*via = 0;
	a->owner = sgf_pct(st, 90) ? DOMID_SELF : sgf_peer(st);
	if (sgf_pct(st, 50)) {
		struct sgf_reg *r;

		a->reg_id = sgf_reg_id(st);
		if (!a->reg_id)
			a->reg_id = 1;
		if (!sgf_is_self(st, a->owner) && a->reg_id < SGF_BIGID)
			a->reg_id |= SGF_BIGID;
		r = sgf_is_self(st, a->owner) ? sgf_find_reg(st, a->reg_id) : NULL;
		if (!r)
			*must_fail = true;
		if (r && sgf_pct(st, 90))
			a->offset = sgf_below(st, r->len);
		else
			a->offset = sgf_pct(st, 50) ? sgf_u64(st) : sgf_below(st, 3 * PAGE_SIZE);
		if (r && a->offset >= r->len)
			*must_fail = true;
		if (sgf_pct(st, 3)) {
			a->frame = sgf_u64(st) | 1;
			*must_fail = true;
		}
		if (r)
			*via = r->id;
	} else {
		a->frame = sgf_rframe(st, &ours);
		a->offset = sgf_pct(st, 90) ? sgf_below(st, PAGE_SIZE) : sgf_u64(st);
		if (a->frame >= SGF_NOFRAME || a->offset >= PAGE_SIZE)
			*must_fail = true;
		if (!sgf_is_self(st, a->owner))
			*must_fail = true;
	}
	if (sgf_pct(st, 2)) {
		a->_pad = 1 + sgf_below(st, 0xfffe);
		*must_fail = true;
	}
}

/* The byte an address that Xen accepted names. */
static void __init sgf_key(struct sgf_state *st, const struct xen_sg_addr *a,
			  u64 *frame, u64 *off)
{
	const struct sgf_reg *r = a->reg_id ? sgf_find_reg(st, a->reg_id) : NULL;

	if (r) {
		sgf_reg_byte(r, a->offset, frame, off);
	} else {
		*frame = a->frame;
		*off = a->offset;
	}
}

static void __init sgf_bind(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	struct xen_sg_bind b = { };
	struct xen_sg_unbind u = { };
	bool must_fail = false, ok;
	u32 via;
	long rc;

	sgf_addr(st, &b.addr, &must_fail, &via);
	b.port = sgf_port(st);
	b.flags = sgf_pct(st, 95) ? sgf_below(st, 2) : sgf_u32(st);
	must_fail |= b.flags & ~XEN_SG_BIND_COUNTER;
	if (b.flags & XEN_SG_BIND_COUNTER) {
		if (sgf_pct(st, 85)) {
			b.counter_frame = xen_page_to_gfn(st->cpg);
			ok = true;
		} else {
			b.counter_frame = sgf_wframe(st, &ok);
		}
		must_fail |= b.counter_frame >= SGF_NOFRAME;
		b.counter_offset = sgf_pct(st, 80) ? 4 * sgf_below(st, PAGE_SIZE / 4) :
						   sgf_offset(st);
		must_fail |= (b.counter_offset & 3) ||
			     b.counter_offset >= PAGE_SIZE;
	} else if (sgf_pct(st, 3)) {
		b.counter_frame = sgf_u64(st) | 1;
		must_fail = true;
	}
	if (sgf_pct(st, 2)) {
		b._pad = sgf_u32(st) | 1;
		must_fail = true;
	}
	rc = sgf_op(st, SGF_BIND, XEN_SGOP_bind, &b);
	if (rc)
		return;
	if (must_fail)
		sgf_violation(ctx, "bind with invalid input", rc);
	if (st->nbinds < SGF_BINDS) {
		struct sgf_bind *t = &st->binds[st->nbinds++];

		t->a = b.addr;
		t->port = b.port;
		t->via = via;
		sgf_key(st, &b.addr, &t->key_frame, &t->key_off);
		return;
	}
	u.addr = b.addr;
	u.port = b.port;
	if (sgf_op(st, SGF_UNBIND, XEN_SGOP_unbind, &u))
		sgf_violation(ctx, "unbind of a fresh binding", -1);
}

static void __init sgf_unbind(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	struct xen_sg_unbind u = { };
	bool must_fail = false;
	int idx = -1;
	u64 kf, ko;
	u32 via;
	long rc;

	if (st->nbinds && sgf_pct(st, 60)) {
		idx = sgf_below(st, st->nbinds);
		u.addr = st->binds[idx].a;
		u.port = st->binds[idx].port;
	} else {
		sgf_addr(st, &u.addr, &must_fail, &via);
		u.port = sgf_port(st);
	}
	if (sgf_pct(st, 3)) {
		u.flags = sgf_u32(st) | 1;
		must_fail = true;
	}
	rc = sgf_op(st, SGF_UNBIND, XEN_SGOP_unbind, &u);
	if (!rc && must_fail)
		sgf_violation(ctx, "unbind with invalid input", rc);
	if (idx >= 0 && !u.flags && rc)
		sgf_violation(ctx, "unbind of a live binding", rc);
	if (!rc) {
		unsigned int i;

		/* The tracked binding: that one, or the same byte and port. */
		if (idx >= 0) {
			st->binds[idx] = st->binds[--st->nbinds];
			return;
		}
		sgf_key(st, &u.addr, &kf, &ko);
		for (i = 0; i < st->nbinds; i++) {
			if (st->binds[i].port == u.port &&
			    st->binds[i].key_frame == kf &&
			    st->binds[i].key_off == ko) {
				st->binds[i] = st->binds[--st->nbinds];
				return;
			}
		}
		if (st->model_errors++ < 5)
			ktap_diag(ctx->ktap, "call %u: unbind of an untracked binding",
				  st->calls);
	}
}

static void __init sgf_trigger(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	struct xen_sg_trigger t = { };
	bool must_fail = false;
	u32 via;
	long rc;

	if (st->nbinds && sgf_pct(st, 40))
		t.addr = st->binds[sgf_below(st, st->nbinds)].a;
	else
		sgf_addr(st, &t.addr, &must_fail, &via);
	if (sgf_pct(st, 3)) {
		t.flags = sgf_u32(st) | 1;
		must_fail = true;
	}
	rc = sgf_op(st, SGF_TRIGGER, XEN_SGOP_trigger, &t);
	if (!rc && must_fail)
		sgf_violation(ctx, "trigger with invalid input", rc);
}

static void __init sgf_bad_cmd(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	u64 scratch[8] = { };
	unsigned int cmd;
	long rc;

	do {
		cmd = sgf_pct(st, 50) ? sgf_u32(st) : 9 + sgf_below(st, 247);
	} while ((cmd & XEN_SGOP_CMD_MASK) == XEN_SGOP_transfer ||
		 cmd <= XEN_SGOP_query_global);
	rc = sgf_op(st, SGF_BADCMD, cmd, scratch);
	if (!rc)
		sgf_violation(ctx, "unknown cmd", rc);
}

static irqreturn_t sgf_irq(int irq, void *dev_id)
{
	struct sgf_state *st = dev_id;

	atomic_inc(&st->events);
	return IRQ_HANDLED;
}

static int __init sgf_open_port(struct sgf_state *st, unsigned int i)
{
	struct evtchn_alloc_unbound alloc = {
		.dom = DOMID_SELF,
		.remote_dom = DOMID_SELF,
	};
	int rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &alloc);

	st->irq[i] = -1;
	if (rc)
		return rc;
	st->port[i] = alloc.port;
	rc = bind_evtchn_to_irqhandler(alloc.port, sgf_irq, 0, "sgtest-fuzz",
				       st);
	if (rc < 0) {
		struct evtchn_close close = { .port = alloc.port };

		HYPERVISOR_event_channel_op(EVTCHNOP_close, &close);
		return rc;
	}
	st->irq[i] = rc;
	return 0;
}

static void __init sgf_close_port(struct sgf_state *st, unsigned int i)
{
	if (st->irq[i] >= 0)
		unbind_from_irqhandler(st->irq[i], st);
	st->irq[i] = -1;
	sgf_forget_binds(st, 0, st->port[i], true);
}

/* Close one of our ports (its bindings end) and open a new one. */
static void __init sgf_evtchn(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	unsigned int i = sgf_below(st, SGF_PORTS);
	int rc;

	sgf_close_port(st, i);
	rc = sgf_open_port(st, i);
	st->calls += 2;
	sgf_count(st, SGF_EVTCHN, rc);
	if (rc)
		st->port[i] = 0;
}

static void __init sgf_one(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	u32 p = sgf_below(st, 1000);

	if (p < 40)
		sgf_query(ctx);
	else if (p < 190)
		sgf_register(ctx);
	else if (p < 260)
		sgf_id_op(ctx, SGF_UNREGISTER);
	else if (p < 290)
		sgf_id_op(ctx, SGF_REARM);
	else if (p < 560)
		sgf_transfer(ctx);
	else if (p < 720)
		sgf_bind(ctx);
	else if (p < 800)
		sgf_unbind(ctx);
	else if (p < 960)
		sgf_trigger(ctx);
	else if (p < 975)
		sgf_query_global(ctx);
	else if (p < 990)
		sgf_bad_cmd(ctx);
	else
		sgf_evtchn(ctx);
}

static void __init sgf_global(struct xen_sg_global *g)
{
	memset(g, 0, sizeof(*g));
	if (HYPERVISOR_sg_op(XEN_SGOP_query_global, g))
		memset(g, 0xff, sizeof(*g));
}

/* Release every binding and registration the model holds. */
static void __init sgf_cleanup(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;

	while (st->nbinds) {
		struct xen_sg_unbind u = {
			.addr = st->binds[st->nbinds - 1].a,
			.port = st->binds[st->nbinds - 1].port,
		};

		if (HYPERVISOR_sg_op(XEN_SGOP_unbind, &u))
			st->cleanup_errors++;
		st->nbinds--;
	}
	while (st->nregs) {
		struct xen_sg_id a = { .id = st->regs[st->nregs - 1].id };

		if (HYPERVISOR_sg_op(XEN_SGOP_unregister, &a))
			st->cleanup_errors++;
		st->nregs--;
	}
}

static void __init sgf_print_rcs(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	unsigned int k, i;
	char line[200];

	for (k = 0; k < SGF_NKINDS; k++) {
		int len = 0;

		if (!st->rcs[k][0].n)
			continue;
		for (i = 0; i < SGF_MAX_RCS && st->rcs[k][i].n; i++)
			len += scnprintf(line + len, sizeof(line) - len, " %ld=%u",
					 st->rcs[k][i].rc, st->rcs[k][i].n);
		if (st->other_rcs[k])
			scnprintf(line + len, sizeof(line) - len, " other=%llu",
				  st->other_rcs[k]);
		ktap_diag(ctx->ktap, "sgtest.fuzz.rc %s%s", sgf_kind_name[k],
			  line);
	}
}

/*
 * Xen allocates a domain's sg_op state on its first registration (and keeps
 * it until the domain is destroyed): make sure ours exists before the
 * global totals are read, so that "domains" cannot move because of us.  A
 * registration naming ourselves as peer with an empty element allocates
 * the state and is refused.
 */
static void __init sgf_ensure_state(struct sgf_state *st)
{
	struct xen_sg_elem e = { .frame = st->frame[0] };
	struct xen_sg_register r = {
		.elems = (u64)(uintptr_t)&e,
		.nr_elems = 1,
		.peer = DOMID_SELF,
		.access = XEN_SG_ACCESS_READ,
	};

	HYPERVISOR_sg_op(XEN_SGOP_register, &r);
}

/* Close the ports and free the pages (Xen holds none of them by now). */
static void __init sgf_free(struct sgf_state *st)
{
	unsigned int i;

	for (i = 0; i < SGF_PORTS; i++)
		sgf_close_port(st, i);
	for (i = 0; i < SGF_PAGES; i++) {
		if (st->pg[i])
			__free_page(st->pg[i]);
		st->pg[i] = NULL;
	}
	if (st->cpg)
		__free_page(st->cpg);
	st->cpg = NULL;
	kfree(st->elems);
	st->elems = NULL;
}

static int __init sgf_init(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	struct xen_sg_query q = { .domid = DOMID_SELF };
	long rc = HYPERVISOR_sg_op(XEN_SGOP_query, &q);
	unsigned int i;
	int err = 0;
	u64 t0;

	st->seed = seed ? seed : get_random_u64();
	ktap_diag(ctx->ktap, "sgtest.fuzz seed=%llu calls=%u", st->seed,
		  fuzz_calls);
	if (rc == -XEN_ENOSYS || (!rc && q.abi_version < 0x10002)) {
		ctx->skip_all = true;
		sgtest_set_reason(ctx, "sg_op 1.2 not available (rc=%ld)", rc);
		return 0;
	}
	if (rc)
		return -EIO;
	st->lim = q.limits;
	prandom_seed_state(&st->rnd, st->seed);

	/*
	 * Our own domain ID: the lowest one query answers for (any, for the
	 * control domain, which is domain 0 in the lab).
	 */
	st->self = DOMID_SELF;
	for (i = 0; i < 64 && st->self == DOMID_SELF; i++) {
		struct xen_sg_query q2 = { .domid = i };

		if (!HYPERVISOR_sg_op(XEN_SGOP_query, &q2))
			st->self = i;
	}

	for (i = 0; i < SGF_PORTS; i++)
		st->irq[i] = -1;
	st->elems = kcalloc(st->lim.max_elems + 4, sizeof(*st->elems),
			    GFP_KERNEL);
	st->cpg = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!st->elems || !st->cpg)
		err = -ENOMEM;
	for (i = 0; i < SGF_PAGES && !err; i++) {
		st->pg[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!st->pg[i])
			err = -ENOMEM;
		else
			st->frame[i] = xen_page_to_gfn(st->pg[i]);
	}
	for (i = 0; i < SGF_PORTS && !err; i++)
		err = sgf_open_port(st, i);
	if (err) {
		sgf_free(st);
		return err;
	}

	sgf_ensure_state(st);
	sgt_usage(&st->before);
	st->privileged = !HYPERVISOR_sg_op(XEN_SGOP_query_global, &st->gbefore);
	if (!st->privileged)
		memset(&st->gbefore, 0, sizeof(st->gbefore));

	t0 = ktime_get_ns();
	while (st->calls < fuzz_calls) {
		sgf_one(ctx);
		if (!(st->calls % 256))
			cond_resched();
		if (!(st->calls % SGF_CHECK_EVERY))
			sgf_check_model(ctx);
	}
	sgf_check_model(ctx);
	st->ns = ktime_get_ns() - t0;
	sgf_cleanup(ctx);
	sgf_free(st);
	st->ran = true;

	ktap_diag(ctx->ktap,
		  "sgtest.fuzz done calls=%u ms=%llu violations=%u model_errors=%u cleanup_errors=%u dropped=%u events=%d",
		  st->calls, st->ns / 1000000, st->violations,
		  st->model_errors, st->cleanup_errors, st->unsafe_dropped,
		  atomic_read(&st->events));
	sgf_print_rcs(ctx);
	return 0;
}

static enum sgtest_result __init sgf_calls_complete(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;

	if (!st->ran || st->calls < fuzz_calls) {
		ktap_diag(ctx->ktap, "ran %u of %u calls", st->calls,
			  fuzz_calls);
		return SGTEST_FAIL;
	}
	return SGTEST_PASS;
}

static enum sgtest_result __init sgf_no_unexpected_success(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;

	if (st->violations) {
		ktap_diag(ctx->ktap, "%u calls answered against the ABI",
			  st->violations);
		return SGTEST_FAIL;
	}
	return SGTEST_PASS;
}

static enum sgtest_result __init sgf_model_matches(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;

	if (st->model_errors || st->cleanup_errors) {
		ktap_diag(ctx->ktap, "model errors %u, cleanup errors %u",
			  st->model_errors, st->cleanup_errors);
		return SGTEST_FAIL;
	}
	return SGTEST_PASS;
}

static enum sgtest_result __init sgf_some_succeeded(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	static const enum sgf_kind need[] = {
		SGF_REGISTER, SGF_UNREGISTER, SGF_XFER_OP, SGF_BIND, SGF_UNBIND,
		SGF_TRIGGER,
	};
	enum sgtest_result res = SGTEST_PASS;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(need); i++) {
		if (st->successes[need[i]])
			continue;
		ktap_diag(ctx->ktap, "no %s succeeded", sgf_kind_name[need[i]]);
		res = SGTEST_FAIL;
	}
	return res;
}

static enum sgtest_result __init sgf_usage_returns(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	struct xen_sg_usage u;

	sgt_usage(&u);
	ktap_diag(ctx->ktap, "usage regs=%u pinned_pages=%u bindings=%u",
		  u.regs, u.pinned_pages, u.bindings);
	if (memcmp(&u, &st->before, sizeof(u)) || u.regs || u.pinned_pages ||
	    u.bindings) {
		ktap_diag(ctx->ktap, "expected %u/%u/%u and zero",
			  st->before.regs, st->before.pinned_pages,
			  st->before.bindings);
		return SGTEST_FAIL;
	}
	return SGTEST_PASS;
}

/* Are there domains besides us?  (The control domain may query any.) */
static bool __init sgf_others_exist(void)
{
	unsigned int i;

	for (i = 1; i < 64; i++) {
		struct xen_sg_query q = { .domid = i };

		if (!HYPERVISOR_sg_op(XEN_SGOP_query, &q))
			return true;
	}
	return false;
}

static bool __init sgf_global_same(const struct xen_sg_global *a,
				  const struct xen_sg_global *b)
{
	return a->regs == b->regs && a->pinned_pages == b->pinned_pages &&
	       a->bindings == b->bindings && a->addrs == b->addrs &&
	       a->domains == b->domains;
}

static enum sgtest_result __init sgf_global_unchanged(struct sgtest_ctx *ctx)
{
	struct sgf_state *st = ctx->priv;
	const struct xen_sg_global *b = &st->gbefore;
	struct xen_sg_global g;
	unsigned int tries;

	if (!st->privileged) {
		sgtest_set_reason(ctx, "query_global is for the control domain");
		return SGTEST_SKIP;
	}
	for (tries = 0; tries < 20; tries++) {
		sgf_global(&g);
		if (sgf_global_same(&g, b))
			return SGTEST_PASS;
		msleep(100);
	}
	ktap_diag(ctx->ktap,
		  "global regs=%u pinned=%u bindings=%u addrs=%u domains=%u, before %u/%u/%u/%u/%u",
		  g.regs, g.pinned_pages, g.bindings, g.addrs, g.domains,
		  b->regs, b->pinned_pages, b->bindings, b->addrs, b->domains);
	if (sgf_others_exist()) {
		sgtest_set_reason(ctx, "other domains use sg_op meanwhile");
		return SGTEST_SKIP;
	}
	return SGTEST_FAIL;
}

static const struct sgtest_case sgf_cases[] __initconst = {
	{ "fuzz_calls_complete", sgf_calls_complete },
	{ "no_unexpected_success", sgf_no_unexpected_success },
	{ "model_matches_usage", sgf_model_matches },
	{ "valid_calls_succeeded", sgf_some_succeeded },
	{ "usage_returns_to_zero", sgf_usage_returns },
	{ "global_counters_unchanged", sgf_global_unchanged },
};

const struct sgtest_suite sgtest_suite_sg_fuzz __initconst = {
	.name = "sg_fuzz",
	.init = sgf_init,
	.priv_size = sizeof(struct sgf_state),
	.cases = sgf_cases,
	.num_cases = ARRAY_SIZE(sgf_cases),
};
