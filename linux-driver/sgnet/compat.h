/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sgnet builds against Debian 12's Linux 6.1, Debian 13's 6.12 and the
 * newest kernel of Debian unstable (compile-only).  What the kernel changed
 * between those, kept here so that the driver reads the same on all of them.
 */
#ifndef SGNET_COMPAT_H
#define SGNET_COMPAT_H

#include <linux/hrtimer.h>
#include <linux/mm.h>

/*
 * Linux 6.18 removed nth_page(): the struct pages of a compound page are
 * now always contiguous in the memmap, so the n-th page is page + n.  It
 * was a macro, so its absence is the test (not LINUX_VERSION_CODE, which
 * a distribution's backport would fool).
 */
#ifndef nth_page
#define nth_page(page, n) ((page) + (n))
#endif

/*
 * Linux 6.13 added hrtimer_setup() (timer and callback in one call) and
 * later kernels removed hrtimer_init().  sgnet/Kbuild defines
 * SGNET_HAVE_HRTIMER_SETUP when the headers declare it.
 */
#ifndef SGNET_HAVE_HRTIMER_SETUP
static inline void hrtimer_setup(struct hrtimer *timer,
				 enum hrtimer_restart (*function)(struct hrtimer *),
				 clockid_t clock_id, enum hrtimer_mode mode)
{
	hrtimer_init(timer, clock_id, mode);
	timer->function = function;
}
#endif

#endif /* SGNET_COMPAT_H */
