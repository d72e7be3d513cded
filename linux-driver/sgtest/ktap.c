// SPDX-License-Identifier: GPL-2.0
/*
 * KTAP version 1 output (Documentation/dev-tools/ktap.rst) for sgtest.
 */

#include "sgtest.h"

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

void __init ktap_start(struct ktap *k, int indent, const char *name,
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
void __init ktap_suite_start(const struct ktap *parent,
			     struct ktap *sub, const char *name,
			     unsigned int count)
{
	ktap_start(sub, parent->indent + KTAP_INDENT, name, count);
}

void __init ktap_test(struct ktap *k, bool ok, const char *name)
{
	ktap_print(k, "%s %u %s", ok ? "ok" : "not ok", k->next++, name);
	if (!ok)
		k->failed = true;
}

/* Report in @parent the result of @sub, a suite nested in it. */
void __init ktap_suite_end(struct ktap *parent, const struct ktap *sub,
			   const char *name)
{
	ktap_test(parent, !sub->failed, name);
}

void __init ktap_skip(struct ktap *k, const char *name,
		      const char *reason)
{
	ktap_print(k, "ok %u %s # SKIP %s", k->next++, name, reason);
}

__printf(2, 3) void __init ktap_diag(const struct ktap *k,
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

__printf(2, 3) void __init sgtest_set_reason(struct sgtest_ctx *ctx,
					     const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	vscnprintf(ctx->reason, sizeof(ctx->reason), fmt, args);
	va_end(args);
}
