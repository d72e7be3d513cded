// SPDX-License-Identifier: GPL-2.0
/*
 * The sg_op suite: XEN_SGOP_query, the ABI version and the limits.
 */

#include "sgtest.h"

/* A domain whose usage the sg_op suite also prints (lab.net, from dom0). */
static int usage_of = -1;
module_param(usage_of, int, 0444);
MODULE_PARM_DESC(usage_of,
		 "sg_op: also print the usage of this domain (sgtest.usage; the control domain may ask)");

struct sgo_state {
	long query_rc;			/* the first XEN_SGOP_query */
	struct xen_sg_query query;	/* and what it returned */
};

static void __init sgo_query_prepare(struct xen_sg_query *q)
{
	memset(q, 0, sizeof(*q));
	q->domid = DOMID_SELF;
}

/* Call sg_op and fail, with a diagnostic, unless it returns @expected. */
static bool __init sgo_expect(struct sgtest_ctx *ctx, const char *what,
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
 * The system-wide totals (XEN_SGOP_query_global, ABI 1.2), on a line of
 * their own for the host's leak check; only the control domain may ask, so
 * other domains print nothing.
 */
static void __init sgo_print_global(struct sgtest_ctx *ctx)
{
	struct xen_sg_global g = { };
	long rc = HYPERVISOR_sg_op(XEN_SGOP_query_global, &g);

	if (rc)
		return;
	ktap_diag(ctx->ktap,
		  "sgtest.global regs=%u pinned_pages=%u bindings=%u addrs=%u domains=%u continuations=%llu inop_continuations=%u",
		  g.regs, g.pinned_pages, g.bindings, g.addrs, g.domains,
		  (unsigned long long)g.transfer_continuations,
		  g.inop_continuations);
}

/* Another domain's usage, on a line of its own, when usage_of names one. */
static void __init sgo_print_usage(struct sgtest_ctx *ctx)
{
	struct xen_sg_query q;
	long rc;

	if (usage_of < 0 || usage_of >= DOMID_FIRST_RESERVED)
		return;
	sgo_query_prepare(&q);
	q.domid = usage_of;
	rc = HYPERVISOR_sg_op(XEN_SGOP_query, &q);
	ktap_diag(ctx->ktap,
		  "sgtest.usage domid=%d rc=%ld regs=%u pinned_pages=%u bindings=%u",
		  usage_of, rc, q.usage.regs, q.usage.pinned_pages,
		  q.usage.bindings);
}

/*
 * Query our own domain once, print what came back on the line the host
 * parses, and skip the suite if the hypervisor has no sg_op at all.
 */
static int __init sgo_init(struct sgtest_ctx *ctx)
{
	struct sgo_state *st = ctx->priv;
	const struct xen_sg_query *q = &st->query;

	sgo_query_prepare(&st->query);
	st->query_rc = HYPERVISOR_sg_op(XEN_SGOP_query, &st->query);

	ktap_diag(ctx->ktap,
		  "sgtest.query rc=%ld abi_version=%u max_regs=%u max_elems=%u max_pinned_pages=%u max_bindings=%u max_binds_per_addr=%u max_heap=%u regs=%u pinned_pages=%u bindings=%u heap=%u",
		  st->query_rc, q->abi_version,
		  q->limits.max_regs, q->limits.max_elems,
		  q->limits.max_pinned_pages, q->limits.max_bindings,
		  q->limits.max_binds_per_addr, q->limits.max_heap,
		  q->usage.regs, q->usage.pinned_pages, q->usage.bindings,
		  q->usage.heap);

	sgo_print_global(ctx);
	sgo_print_usage(ctx);

	if (st->query_rc == -XEN_ENOSYS) {
		ctx->skip_all = true;
		sgtest_set_reason(ctx, "sg_op not available (rc=%ld)",
				  st->query_rc);
	}
	return 0;
}

/* The query made by sgo_init(): DOMID_SELF, no flags, zero padding. */
static enum sgtest_result __init
sgo_query_returns_abi_version(struct sgtest_ctx *ctx)
{
	const struct sgo_state *st = ctx->priv;
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
sgo_query_reports_limits(struct sgtest_ctx *ctx)
{
	const struct sgo_state *st = ctx->priv;
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
sgo_query_rejects_nonzero_padding(struct sgtest_ctx *ctx)
{
	struct xen_sg_query q;
	bool ok = true;

	sgo_query_prepare(&q);
	q._pad0 = 1;
	ok &= sgo_expect(ctx, "query with _pad0=1", XEN_SGOP_query, &q,
			   -XEN_EINVAL);

	sgo_query_prepare(&q);
	q.flags = 1;
	ok &= sgo_expect(ctx, "query with flags=1", XEN_SGOP_query, &q,
			   -XEN_EINVAL);

	return ok ? SGTEST_PASS : SGTEST_FAIL;
}

static enum sgtest_result __init
sgo_unknown_subop_is_eopnotsupp(struct sgtest_ctx *ctx)
{
	struct xen_sg_query q;

	/* A valid buffer, in case the hypervisor looks at it anyway. */
	sgo_query_prepare(&q);
	if (!sgo_expect(ctx, "cmd 0x7fff", 0x7fff, &q, -XEN_EOPNOTSUPP))
		return SGTEST_FAIL;
	return SGTEST_PASS;
}

static const struct sgtest_case sgo_cases[] __initconst = {
	{ "query_returns_abi_version", sgo_query_returns_abi_version },
	{ "query_reports_limits", sgo_query_reports_limits },
	{ "query_rejects_nonzero_padding", sgo_query_rejects_nonzero_padding },
	{ "unknown_subop_is_eopnotsupp", sgo_unknown_subop_is_eopnotsupp },
};

const struct sgtest_suite sgtest_suite_sg_op __initconst = {
	.name = "sg_op",
	.init = sgo_init,
	.priv_size = sizeof(struct sgo_state),
	.cases = sgo_cases,
	.num_cases = ARRAY_SIZE(sgo_cases),
};
