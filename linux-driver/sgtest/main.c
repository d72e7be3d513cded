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
 * write its cases in a file of its own (suite_NAME.c, declared in sgtest.h,
 * listed in Kbuild) and add it to sgtest_suites[] below; the "suites"
 * parameter picks the suites to run.
 */

#include "sgtest.h"

static char *suites = "sg_op";
module_param(suites, charp, 0444);
MODULE_PARM_DESC(suites,
		 "Comma-separated suites to run (default: sg_op), run in the order the module lists them");

/* Every suite, in the order they run. */
static const struct sgtest_suite *const sgtest_suites[] __initconst = {
	&sgtest_suite_sg_op,
	&sgtest_suite_sg_local,
	&sgtest_suite_sg_fuzz,
	&sgtest_suite_sg_hostile,
	&sgtest_suite_sg_xsm,	/* before sg_cross's flood fills sg-b */
	&sgtest_suite_sg_cross,
	&sgtest_suite_sg_cross_after,
	&sgtest_suite_sg_reset,
	&sgtest_suite_sg_reset_after,
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
		const struct sgtest_suite *suite = sgtest_suites[i];

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
		count += sgtest_selected(sgtest_suites[i]);

	ktap_start(&top, 0, NULL, count);
	for (i = 0; i < ARRAY_SIZE(sgtest_suites); i++)
		if (sgtest_selected(sgtest_suites[i]))
			sgtest_run_suite(&top, sgtest_suites[i]);

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
