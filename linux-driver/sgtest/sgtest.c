// SPDX-License-Identifier: GPL-2.0
/*
 * sgtest - in-guest tests for the sg_op hypercall added by sgkit
 *
 * The tests run when the module is loaded.  Results go to the kernel log in
 * KTAP version 1 (Documentation/dev-tools/ktap.rst), one suite per nested
 * test, for the host to collect from the guest's console:
 *
 *	KTAP version 1
 *	1..1
 *	    KTAP version 1
 *	    # Subtest: sg_op
 *	    1..4
 *	    # sgtest.query rc=0 abi_version=65536 max_regs=256 ...
 *	    ok 1 query_returns_abi_version
 *	    ...
 *	ok 1 sg_op
 *
 * The module then stays loaded, doing nothing, until it is removed.
 *
 * A suite is a table of test cases plus an optional init hook that runs
 * after the suite's plan line; it may print diagnostics, fill the suite's
 * private data for its tests, or mark the whole suite skipped.  To add one,
 * write its cases and add it to sgtest_suites[]; the "suites" parameter
 * picks the suites to run.
 */

/*
 * KTAP lines must reach the log bare, so there is no KBUILD_MODNAME prefix
 * here; the few other messages spell it out.
 */
#define pr_fmt(fmt) fmt

#include <linux/build_bug.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/stddef.h>
#include <linux/string.h>
#include <linux/types.h>

#include <xen/xen.h>
#include <xen/interface/xen.h>
#include <asm/xen/hypercall.h>

#include "sg_op.h"

static char *suites = "sg_op";
module_param(suites, charp, 0444);
MODULE_PARM_DESC(suites,
		 "Comma-separated suites to run (default: sg_op), run in the order the module lists them");

/*
 * Hypercalls return Xen's error numbers (xen/include/public/errno.h), for
 * which Linux has no header.  They have the values of Linux's on x86, but
 * are spelt as Xen spells them to make clear whose codes are compared.
 * XEN_ENOSYS is what Xen returns for a hypercall it does not implement.
 */
#define XEN_EINVAL	22
#define XEN_ENOSYS	38
#define XEN_EOPNOTSUPP	95

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

static __printf(2, 3) void __init ktap_print(const struct ktap *k,
					     const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	pr_info("%*s%pV\n", k->indent, "", &vaf);
	va_end(args);
}

static void __init ktap_start(struct ktap *k, int indent, const char *name,
			      unsigned int count)
{
	k->indent = indent;
	k->next = 1;
	k->failed = false;

	ktap_print(k, "KTAP version 1");
	if (name)
		ktap_print(k, "# Subtest: %s", name);
	ktap_print(k, "1..%u", count);
}

/* Start the output of @sub, a suite nested in @parent. */
static void __init ktap_suite_start(const struct ktap *parent,
				    struct ktap *sub, const char *name,
				    unsigned int count)
{
	ktap_start(sub, parent->indent + KTAP_INDENT, name, count);
}

static void __init ktap_test(struct ktap *k, bool ok, const char *name)
{
	ktap_print(k, "%s %u %s", ok ? "ok" : "not ok", k->next++, name);
	if (!ok)
		k->failed = true;
}

/* Report in @parent the result of @sub, a suite nested in it. */
static void __init ktap_suite_end(struct ktap *parent, const struct ktap *sub,
				  const char *name)
{
	ktap_test(parent, !sub->failed, name);
}

static void __init ktap_skip(struct ktap *k, const char *name,
			     const char *reason)
{
	ktap_print(k, "ok %u %s # SKIP %s", k->next++, name, reason);
}

static __printf(2, 3) void __init ktap_diag(const struct ktap *k,
					    const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	ktap_print(k, "# %pV", &vaf);
	va_end(args);
}

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

static __printf(2, 3) void __init sgtest_set_reason(struct sgtest_ctx *ctx,
						    const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vscnprintf(ctx->reason, sizeof(ctx->reason), fmt, args);
	va_end(args);
}

/* The sg_op suite */

struct sg_op_state {
	long query_rc;			/* the first XEN_SGOP_query */
	struct xen_sg_query query;	/* and what it returned */
};

static void __init sg_op_query_prepare(struct xen_sg_query *q)
{
	memset(q, 0, sizeof(*q));
	q->domid = DOMID_SELF;
}

/* Call sg_op and fail, with a diagnostic, unless it returns @expected. */
static bool __init sg_op_expect(struct sgtest_ctx *ctx, const char *what,
				unsigned int cmd, void *arg, long expected)
{
	long rc = HYPERVISOR_sg_op(cmd, arg);

	if (rc == expected)
		return true;

	ktap_diag(ctx->ktap, "%s: expected rc=%ld, got rc=%ld",
		  what, expected, rc);
	return false;
}

/*
 * Query our own domain once, print what came back on the line the host
 * parses, and skip the suite if the hypervisor has no sg_op at all.
 */
static int __init sg_op_init(struct sgtest_ctx *ctx)
{
	struct sg_op_state *st = ctx->priv;
	const struct xen_sg_query *q = &st->query;

	sg_op_query_prepare(&st->query);
	st->query_rc = HYPERVISOR_sg_op(XEN_SGOP_query, &st->query);

	ktap_diag(ctx->ktap,
		  "sgtest.query rc=%ld abi_version=%u max_regs=%u max_elems=%u max_pinned_pages=%u max_bindings=%u max_binds_per_addr=%u regs=%u pinned_pages=%u bindings=%u",
		  st->query_rc, q->abi_version,
		  q->limits.max_regs, q->limits.max_elems,
		  q->limits.max_pinned_pages, q->limits.max_bindings,
		  q->limits.max_binds_per_addr,
		  q->usage.regs, q->usage.pinned_pages, q->usage.bindings);

	if (st->query_rc == -XEN_ENOSYS) {
		ctx->skip_all = true;
		sgtest_set_reason(ctx, "sg_op not available (rc=%ld)",
				  st->query_rc);
	}
	return 0;
}

/* The query made by sg_op_init(): DOMID_SELF, no flags, zero padding. */
static enum sgtest_result __init
sg_op_query_returns_abi_version(struct sgtest_ctx *ctx)
{
	const struct sg_op_state *st = ctx->priv;
	u32 abi = st->query.abi_version;
	u32 major = abi >> 16;
	u32 minor = abi & 0xffff;

	if (st->query_rc) {
		ktap_diag(ctx->ktap, "query: expected rc=0, got rc=%ld",
			  st->query_rc);
		return SGTEST_FAIL;
	}

	/* The same major number, and a minor number no lower than ours. */
	if (major != XEN_SGOP_ABI_MAJOR || abi < XEN_SGOP_ABI_VERSION) {
		ktap_diag(ctx->ktap,
			  "abi_version: expected %d.%d or a later %d.x, got %u.%u (%u)",
			  XEN_SGOP_ABI_MAJOR, XEN_SGOP_ABI_MINOR,
			  XEN_SGOP_ABI_MAJOR, major, minor, abi);
		return SGTEST_FAIL;
	}
	return SGTEST_PASS;
}

static enum sgtest_result __init
sg_op_query_reports_limits(struct sgtest_ctx *ctx)
{
	const struct sg_op_state *st = ctx->priv;
	const struct xen_sg_limits *l = &st->query.limits;
	const struct {
		const char *name;
		u32 value;
	} limits[] = {
		{ "max_regs", l->max_regs },
		{ "max_elems", l->max_elems },
		{ "max_pinned_pages", l->max_pinned_pages },
		{ "max_bindings", l->max_bindings },
		{ "max_binds_per_addr", l->max_binds_per_addr },
	};
	enum sgtest_result res = SGTEST_PASS;
	unsigned int i;

	if (st->query_rc) {
		ktap_diag(ctx->ktap, "query: expected rc=0, got rc=%ld",
			  st->query_rc);
		return SGTEST_FAIL;
	}

	for (i = 0; i < ARRAY_SIZE(limits); i++) {
		if (limits[i].value)
			continue;
		ktap_diag(ctx->ktap, "limits.%s: expected non-zero, got 0",
			  limits[i].name);
		res = SGTEST_FAIL;
	}
	return res;
}

static enum sgtest_result __init
sg_op_query_rejects_nonzero_padding(struct sgtest_ctx *ctx)
{
	struct xen_sg_query q;
	bool ok = true;

	sg_op_query_prepare(&q);
	q._pad0 = 1;
	ok &= sg_op_expect(ctx, "query with _pad0=1", XEN_SGOP_query, &q,
			   -XEN_EINVAL);

	sg_op_query_prepare(&q);
	q.flags = 1;
	ok &= sg_op_expect(ctx, "query with flags=1", XEN_SGOP_query, &q,
			   -XEN_EINVAL);

	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

static enum sgtest_result __init
sg_op_unknown_subop_is_eopnotsupp(struct sgtest_ctx *ctx)
{
	struct xen_sg_query q;

	/* A valid buffer, in case the hypervisor looks at it anyway. */
	sg_op_query_prepare(&q);
	if (!sg_op_expect(ctx, "cmd 0x7fff", 0x7fff, &q, -XEN_EOPNOTSUPP))
		return SGTEST_FAIL;
	return SGTEST_PASS;
}

static const struct sgtest_case sg_op_cases[] __initconst = {
	{ "query_returns_abi_version", sg_op_query_returns_abi_version },
	{ "query_reports_limits", sg_op_query_reports_limits },
	{ "query_rejects_nonzero_padding", sg_op_query_rejects_nonzero_padding },
	{ "unknown_subop_is_eopnotsupp", sg_op_unknown_subop_is_eopnotsupp },
};

/* Every suite, in the order they run. */
static const struct sgtest_suite sgtest_suites[] __initconst = {
	{
		.name = "sg_op",
		.init = sg_op_init,
		.priv_size = sizeof(struct sg_op_state),
		.cases = sg_op_cases,
		.num_cases = ARRAY_SIZE(sg_op_cases),
	},
};

/* Running the suites */

static void __init sgtest_run_suite(struct ktap *top,
				    const struct sgtest_suite *suite)
{
	struct sgtest_ctx ctx = { };
	struct ktap k;
	unsigned int i;
	int err = 0;

	ktap_suite_start(top, &k, suite->name, suite->num_cases);
	ctx.ktap = &k;

	if (suite->priv_size) {
		ctx.priv = kzalloc(suite->priv_size, GFP_KERNEL);
		if (!ctx.priv)
			err = -ENOMEM;
	}
	if (!err && suite->init)
		err = suite->init(&ctx);

	for (i = 0; i < suite->num_cases; i++) {
		const struct sgtest_case *c = &suite->cases[i];
		enum sgtest_result res;

		if (err) {
			ktap_diag(&k, "suite setup failed: %d", err);
			res = SGTEST_FAIL;
		} else if (ctx.skip_all) {
			res = SGTEST_SKIP;
		} else {
			ctx.reason[0] = '\0';
			res = c->run(&ctx);
		}

		if (res == SGTEST_SKIP)
			ktap_skip(&k, c->name, ctx.reason);
		else
			ktap_test(&k, res == SGTEST_PASS, c->name);
	}

	kfree(ctx.priv);
	ktap_suite_end(top, &k, suite->name);
}

/* Is the @len characters long @name one of the comma-separated @list? */
static bool __init sgtest_in_list(const char *list, const char *name,
				  size_t len)
{
	while (*list) {
		size_t n = strcspn(list, ",");

		if (n == len && !strncmp(list, name, len))
			return true;
		list += n;
		if (*list)
			list++;
	}
	return false;
}

static bool __init sgtest_selected(const struct sgtest_suite *suite)
{
	return sgtest_in_list(suites, suite->name, strlen(suite->name));
}

static const struct sgtest_suite * __init
sgtest_find_suite(const char *name, size_t len)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(sgtest_suites); i++) {
		const struct sgtest_suite *suite = &sgtest_suites[i];

		if (strlen(suite->name) == len && !strncmp(suite->name, name, len))
			return suite;
	}
	return NULL;
}

/* Refuse names in the "suites" parameter that are no suite's. */
static int __init sgtest_check_suites(void)
{
	const char *p = suites;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n && !sgtest_find_suite(p, n)) {
			pr_err(KBUILD_MODNAME ": suites: no suite named \"%.*s\"\n",
			       (int)n, p);
			return -EINVAL;
		}
		p += n;
		if (*p)
			p++;
	}
	return 0;
}

static int __init sgtest_init(void)
{
	unsigned int i, count = 0;
	struct ktap top;
	int err;

	if (!xen_domain()) {
		pr_err(KBUILD_MODNAME ": not running on Xen\n");
		return -ENODEV;
	}

	err = sgtest_check_suites();
	if (err)
		return err;

	for (i = 0; i < ARRAY_SIZE(sgtest_suites); i++)
		count += sgtest_selected(&sgtest_suites[i]);

	ktap_start(&top, 0, NULL, count);
	for (i = 0; i < ARRAY_SIZE(sgtest_suites); i++)
		if (sgtest_selected(&sgtest_suites[i]))
			sgtest_run_suite(&top, &sgtest_suites[i]);

	return 0;
}
module_init(sgtest_init);

/* Nothing to undo, but without an exit function the module cannot be removed. */
static void __exit sgtest_exit(void)
{
}
module_exit(sgtest_exit);

MODULE_DESCRIPTION("sgkit: KTAP tests of the sg_op hypercall, run at load");
MODULE_LICENSE("GPL");
