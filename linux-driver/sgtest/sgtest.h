/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the parts of the sgtest module share: KTAP output, the
 * suite and case types, the hypercall wrapper.  Xen's error numbers are in
 * xen_errno.h.
 */
#ifndef SGTEST_H
#define SGTEST_H

/* KTAP lines must reach the log bare: no KBUILD_MODNAME prefix. */
#define pr_fmt(fmt) fmt

#include <linux/atomic.h>
#include <linux/build_bug.h>
#include <linux/delay.h>
#include <linux/gfp.h>
#include <linux/init.h>
#include <linux/interrupt.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/stddef.h>
#include <linux/string.h>
#include <linux/types.h>

#include <xen/events.h>
#include <xen/page.h>
#include <xen/xen.h>
#include <xen/interface/event_channel.h>
#include <xen/interface/xen.h>
#include <asm/xen/hypercall.h>

#include "sg_op.h"
#include "xen_errno.h"

/* The layout of struct xen_sg_query must not depend on the word size. */
static_assert(offsetof(struct xen_sg_query, abi_version) == 8);
static_assert(offsetof(struct xen_sg_query, limits) == 16);
static_assert(offsetof(struct xen_sg_query, usage) == 40);
static_assert(sizeof(struct xen_sg_limits) == 24);
static_assert(sizeof(struct xen_sg_usage) == 16);

static inline long HYPERVISOR_sg_op(unsigned int cmd, void *arg)
{
	return _hypercall2(long, sg_op, cmd, arg);
}

/* KTAP output */

#define KTAP_INDENT	4

struct ktap {
	int indent;		/* spaces before each line */
	unsigned int next;	/* number of the next result line */
	bool failed;		/* a test at this level failed */
};

void ktap_start(struct ktap *k, int indent, const char *name,
		unsigned int count);
void ktap_suite_start(const struct ktap *parent, struct ktap *sub,
		      const char *name, unsigned int count);
void ktap_test(struct ktap *k, bool ok, const char *name);
void ktap_suite_end(struct ktap *parent, const struct ktap *sub,
		    const char *name);
void ktap_skip(struct ktap *k, const char *name, const char *reason);
__printf(2, 3) void ktap_diag(const struct ktap *k, const char *fmt, ...);

/* Suites and test cases */

enum sgtest_result {
	SGTEST_PASS,
	SGTEST_FAIL,
	SGTEST_SKIP,
};

struct sgtest_ctx {
	struct ktap *ktap;	/* the suite's output, for diagnostics */
	void *priv;		/* the suite's private data, zeroed */
	bool skip_all;		/* set by the suite's init: skip every case */
	char reason[80];	/* why the case or the suite is skipped */
};

struct sgtest_case {
	const char *name;
	/* Print "# " diagnostics through ctx->ktap; on SGTEST_SKIP, set reason. */
	enum sgtest_result (*run)(struct sgtest_ctx *ctx);
};

struct sgtest_suite {
	const char *name;
	/* Optional; runs after the plan line.  An error fails every case. */
	int (*init)(struct sgtest_ctx *ctx);
	size_t priv_size;
	const struct sgtest_case *cases;
	unsigned int num_cases;
};

__printf(2, 3) void sgtest_set_reason(struct sgtest_ctx *ctx,
				      const char *fmt, ...);

/* sgops.c: thin hypercall wrappers the suites share. */
long sgt_register(const struct xen_sg_elem *e, unsigned int n, domid_t peer,
		  u16 access, u32 flags, u32 *id);
long sgt_id_op(unsigned int cmd, u32 id);
long sgt_bind(const struct xen_sg_addr *a, u32 port, struct page *cpg,
	      u32 coff);
long sgt_trigger(const struct xen_sg_addr *a, u32 *fired);
long sgt_alloc_port(u32 *port);
void sgt_close_port(u32 port);
void sgt_usage(struct xen_sg_usage *u);
bool sgt_usage_same(struct sgtest_ctx *ctx, const char *what,
		    const struct xen_sg_usage *before);
bool sgt_rc(struct sgtest_ctx *ctx, const char *what, long rc, long expected);
void sgt_xfer(struct xen_sg_transfer *op, domid_t owner, u32 id, u8 dir,
	      u64 off, u64 len, const struct xen_sg_elem *local, u32 nr,
	      u32 flags);
long sgt_batch(struct xen_sg_transfer *ops, u32 n);

/*
 * The suites, each in its own file, suite_NAME.c (sg_cross_after, sg_xsm,
 * sg_reset and sg_reset_after live with sg_cross).  A suite's own names (its static functions, types and
 * macros) carry one prefix, sg and a letter of its name: sgo_ (sg_op), sgl_
 * (sg_local), sgf_ (sg_fuzz), sgh_ (sg_hostile), sgx_ (the cross-domain
 * suites), SGF_ and the like for macros.  What the module shares is sgtest_
 * (the framework), sgt_ (the wrappers in sgops.c) and ktap_.
 */
extern const struct sgtest_suite sgtest_suite_sg_op;
extern const struct sgtest_suite sgtest_suite_sg_local;
extern const struct sgtest_suite sgtest_suite_sg_fuzz;
extern const struct sgtest_suite sgtest_suite_sg_hostile;
extern const struct sgtest_suite sgtest_suite_sg_cross;
extern const struct sgtest_suite sgtest_suite_sg_cross_after;
extern const struct sgtest_suite sgtest_suite_sg_xsm;
extern const struct sgtest_suite sgtest_suite_sg_reset;
extern const struct sgtest_suite sgtest_suite_sg_reset_after;

#endif /* SGTEST_H */
