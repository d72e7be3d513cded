/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The sg_op hypercall (sgkit's docs/abi.md) and the Xen error numbers its
 * callers compare results with, in one header of their own: sg_op.h is
 * Xen's public interface (rendered), this is the Linux side's call.
 */
#ifndef SG_HYPERCALL_H
#define SG_HYPERCALL_H

#include <asm/xen/hypercall.h>

#include "sg_op.h"

/*
 * Xen's error numbers (xen/include/public/errno.h), negated in results.
 * They equal Linux's on x86 but are spelt as Xen spells them, to make
 * clear whose codes are compared.
 */
#define XEN_ENOENT	2
#define XEN_ESRCH	3
#define XEN_EBUSY	16

static inline long HYPERVISOR_sg_op(unsigned int cmd, void *arg)
{
	return _hypercall2(long, sg_op, cmd, arg);
}

#endif /* SG_HYPERCALL_H */
