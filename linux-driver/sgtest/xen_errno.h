/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Xen's error numbers (xen/include/public/errno.h), for which Linux has no
 * header: what sg_op and the event channel hypercalls return, negated.  They
 * have the values of Linux's on x86, but are spelt as Xen spells them to
 * make clear whose codes are compared.  XEN_ENOSYS is what Xen returns for
 * a hypercall it does not implement.
 */
#ifndef SGTEST_XEN_ERRNO_H
#define SGTEST_XEN_ERRNO_H

#define XEN_EPERM	1
#define XEN_ENOENT	2
#define XEN_ESRCH	3
#define XEN_EAGAIN	11
#define XEN_E2BIG	7
#define XEN_ENOMEM	12
#define XEN_EACCES	13
#define XEN_EFAULT	14
#define XEN_EBUSY	16
#define XEN_EEXIST	17
#define XEN_EINVAL	22
#define XEN_ENOSPC	28
#define XEN_ERANGE	34
#define XEN_ENOSYS	38
#define XEN_EOPNOTSUPP	95

#endif /* SGTEST_XEN_ERRNO_H */
