// SPDX-License-Identifier: GPL-2.0
/*
 * sghostile: an sgnet peer gone bad, for sgkit's lab.net (issue 13).
 *
 * Loaded in a domU whose sgnet frontend is connected (device/vsg/<devid>),
 * it reads the receive buffers and the control registration the backend
 * published for it and, in its init, attacks them with what the peer of an
 * sgnet link is allowed to do:
 *
 *   mode=storm   @rounds times, XEN_SGOP_trigger of byte 0 of every receive
 *                buffer and of the credit request and grant addresses
 *                (an interrupt storm with buffers that look full but hold
 *                no frame);
 *   mode=badhdr  one transfer (with its trigger) into every receive buffer,
 *                each frame with a header sgnet never offered: lengths out
 *                of range, flags and reserved bits, unknown or unoffered
 *                virtio_net_hdr flags and GSO types, offsets past the frame;
 *                and (sgnet-4) a record chain: a valid 8160-byte first
 *                record whose SGNET_HDR_F_MORE leads to a second record
 *                running 8 bytes past the end of the victim's buffer
 *                (rx-buffer-size).
 *   mode=race    @rounds times, buffer by buffer: trigger byte 0 (the
 *                buffer looks full: the victim starts copying it), then
 *                transfer a whole buffer into it (17 pages, no trigger),
 *                so that the header and length change while the victim
 *                copies them: a 1400-byte frame, a length past the buffer
 *                or one shorter than Ethernet's header, in turn.
 *   mode=credit  @rounds times, one a millisecond: XEN_SGOP_trigger of the
 *                victim's credit grant address, while the buffers the
 *                victim waits for stay un-armed (the real frontend's
 *                receiver paused by the caller: debugfs rx_paused).  A
 *                receiver that grants credit without re-arming: the victim
 *                retries, finds them busy and asks again at every grant,
 *                and its stall watchdog must still fire.
 *
 * It prints one line, "sghostile: mode=M key=value ...", and stays loaded
 * until rmmod.  Nothing here is a driver: it is a test tool.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/virtio_net.h>

#include <xen/page.h>
#include <xen/xen.h>
#include <xen/xenbus.h>

#include "sg_hypercall.h"
#include "sgnetif.h"

#define HOSTILE_FRAME		60
/* The chain's second record: at 8192, after a first of 8160 bytes. */
#define CHAIN_NEXT		(2 * PAGE_SIZE)

static char *mode = "storm";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "storm, badhdr, race or credit");

static unsigned int rounds = 100;
module_param(rounds, uint, 0444);
MODULE_PARM_DESC(rounds,
		 "storm: rounds of triggers (66 each); race: rounds; credit: grants, one a millisecond");

static unsigned int devid;
module_param(devid, uint, 0444);
MODULE_PARM_DESC(devid, "the vsg device whose backend is attacked");

static domid_t victim;
static u32 victim_rx[SGNET_NR_RX];
static unsigned int nr_victim_rx;
static u32 victim_ctrl;
static u32 victim_size;		/* rx-buffer-size */

/* The backend's details, from device/vsg/<devid>/backend. */
static int hostile_read_victim(void)
{
	char node[32], *backend, *ids, *p, *tok;
	int err = 0;

	snprintf(node, sizeof(node), "device/vsg/%u", devid);
	backend = xenbus_read(XBT_NIL, node, "backend", NULL);
	if (IS_ERR(backend))
		return PTR_ERR(backend);
	victim = xenbus_read_unsigned(node, "backend-id", 0);
	victim_ctrl = xenbus_read_unsigned(backend, "ctrl-id", 0);
	victim_size = xenbus_read_unsigned(backend, "rx-buffer-size", 0);
	ids = xenbus_read(XBT_NIL, backend, "rx-ids", NULL);
	if (IS_ERR(ids)) {
		err = PTR_ERR(ids);
		goto out;
	}
	p = ids;
	while ((tok = strsep(&p, " ")) && nr_victim_rx < SGNET_NR_RX) {
		if (*tok && !kstrtou32(tok, 10, &victim_rx[nr_victim_rx]))
			nr_victim_rx++;
	}
	kfree(ids);
	if (!nr_victim_rx || !victim_ctrl)
		err = -ENOENT;
out:
	kfree(backend);
	return err;
}

static long hostile_trigger(u32 reg_id, u64 offset)
{
	struct xen_sg_trigger t = {
		.addr = { .owner = victim, .reg_id = reg_id, .offset = offset },
	};

	return HYPERVISOR_sg_op(XEN_SGOP_trigger, &t);
}

static void hostile_storm(void)
{
	unsigned long triggers = 0, failed = 0;
	unsigned int r, i;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < nr_victim_rx; i++, triggers++)
			failed += !!hostile_trigger(victim_rx[i], 0);
		failed += !!hostile_trigger(victim_ctrl, SGNET_CTRL_REQUEST);
		failed += !!hostile_trigger(victim_ctrl, SGNET_CTRL_GRANT);
		triggers += 2;
		cond_resched();
	}
	pr_info("mode=storm victim=%u rounds=%u triggers=%lu failed=%lu\n",
		victim, rounds, triggers, failed);
}

/* Header number @kind of the ones sgnet must refuse. */
static void hostile_bad_hdr(struct sgnet_hdr *h, unsigned int kind)
{
	memset(h, 0, sizeof(*h));
	h->len = cpu_to_le32(HOSTILE_FRAME);
	/* And returns every buffer of ours, given or not (sgnet-3). */
	h->returned = cpu_to_le64(~0ULL);
	switch (kind) {
	case 0:
		h->len = 0;
		break;
	case 1:
		h->len = cpu_to_le32(10);		/* shorter than ETH_HLEN */
		break;
	case 2:
		h->len = cpu_to_le32(0x7fffffff);	/* past the buffer */
		break;
	case 3:
		h->flags = cpu_to_le32(2);		/* no such flag */
		break;
	case 4:
		h->reserved[1] = cpu_to_le16(1);
		break;
	case 5:
		h->vnet.flags = 0x80;			/* no such flag */
		break;
	case 6:
		h->vnet.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM |
				VIRTIO_NET_HDR_F_DATA_VALID;
		h->vnet.csum_start = __cpu_to_virtio16(true, 14);
		h->vnet.csum_offset = __cpu_to_virtio16(true, 16);
		break;
	case 7:
		h->vnet.gso_type = VIRTIO_NET_HDR_GSO_UDP;	/* not offered */
		h->vnet.gso_size = __cpu_to_virtio16(true, 20);
		break;
	case 8:
		h->vnet.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->vnet.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 |
				   VIRTIO_NET_HDR_GSO_ECN;	/* not offered */
		h->vnet.gso_size = __cpu_to_virtio16(true, 20);
		h->vnet.csum_start = __cpu_to_virtio16(true, 34);
		h->vnet.csum_offset = __cpu_to_virtio16(true, 16);
		break;
	case 9:
		h->vnet.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->vnet.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;	/* no gso_size */
		h->vnet.csum_start = __cpu_to_virtio16(true, 34);
		h->vnet.csum_offset = __cpu_to_virtio16(true, 16);
		break;
	case 10:
		h->vnet.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->vnet.csum_start = __cpu_to_virtio16(true, 1000);	/* past the frame */
		h->vnet.csum_offset = __cpu_to_virtio16(true, 16);
		break;
	case 11:
		h->vnet.gso_size = __cpu_to_virtio16(true, 100);	/* without a GSO type */
		break;
	case 12:
		h->vnet.gso_type = 5;			/* VIRTIO_NET_HDR_GSO_UDP_L4 */
		h->vnet.gso_size = __cpu_to_virtio16(true, 20);
		break;
	default:					/* HOSTILE_CHAIN */
		h->len = cpu_to_le32(CHAIN_NEXT - sizeof(*h));
		h->flags = cpu_to_le32(SGNET_HDR_F_MORE);
		break;
	}
}

#define HOSTILE_KINDS	14
#define HOSTILE_CHAIN	13		/* the record chain, a transfer of its own */

/* What became of the one-op transfers into the victim's buffers. */
struct hostile_tally {
	unsigned int sent, busy, failed;
};

/* Transfer @op to the victim, alone in its batch, and tally the outcome. */
static void hostile_send(struct xen_sg_transfer *op, struct hostile_tally *t)
{
	struct xen_sg_transfer_batch b = {
		.ops = (u64)(uintptr_t)op,
		.nr_ops = 1,
	};
	long rc = HYPERVISOR_sg_op(XEN_SGOP_transfer, &b);

	if (!rc && !op->status)
		t->sent++;
	else if (!rc && op->status == -XEN_EBUSY)
		t->busy++;
	else
		t->failed++;
}

static int hostile_badhdr(void)
{
	struct page *page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	struct page *zero = alloc_page(GFP_KERNEL | __GFP_ZERO);
	struct page *next = alloc_page(GFP_KERNEL | __GFP_ZERO);
	struct hostile_tally t = { };
	unsigned int i, chained = 0;
	struct sgnet_hdr *h2;
	struct xen_sg_elem e[3];
	u8 *va;

	if (!page || !zero || !next)
		goto out;
	va = page_address(page);
	/* A broadcast frame of our own: only its header is wrong. */
	memset(va + sizeof(struct sgnet_hdr), 0xff, ETH_ALEN);
	e[0].frame = xen_page_to_gfn(page);
	e[0].offset = 0;
	e[0].len = sizeof(struct sgnet_hdr) + HOSTILE_FRAME;
	/*
	 * The chain: the first record's frame runs on through a page of
	 * zeroes to CHAIN_NEXT, where the second header says a length that
	 * ends 8 bytes past the victim's buffer.
	 */
	e[1].frame = xen_page_to_gfn(zero);
	e[1].offset = 0;
	e[1].len = PAGE_SIZE;
	e[2].frame = xen_page_to_gfn(next);
	e[2].offset = 0;
	e[2].len = sizeof(struct sgnet_hdr);
	h2 = page_address(next);
	h2->len = cpu_to_le32(victim_size > CHAIN_NEXT + sizeof(*h2) ?
			      victim_size - CHAIN_NEXT - sizeof(*h2) + 8 :
			      HOSTILE_FRAME);
	for (i = 0; i < nr_victim_rx; i++) {
		bool chain = i % HOSTILE_KINDS == HOSTILE_CHAIN;
		unsigned int sent = t.sent;
		struct xen_sg_transfer op = {
			.local = (u64)(uintptr_t)e,
			.nr_local = 1,
			.peer = victim,
			.dir = XEN_SG_TRANSFER_TO_PEER,
			.reg_id = victim_rx[i],
			.flags = XEN_SG_TRANSFER_TRIGGER,
			.length = e[0].len,
			.status = 1,
		};

		hostile_bad_hdr((struct sgnet_hdr *)va, i % HOSTILE_KINDS);
		if (chain) {
			e[0].len = PAGE_SIZE;
			op.nr_local = 3;
			op.length = CHAIN_NEXT + sizeof(*h2);
		}
		hostile_send(&op, &t);
		if (chain) {
			e[0].len = sizeof(struct sgnet_hdr) + HOSTILE_FRAME;
			chained += t.sent - sent;
		}
	}
	pr_info("mode=badhdr victim=%u kinds=%u sent=%u busy=%u failed=%u chained=%u\n",
		victim, HOSTILE_KINDS, t.sent, t.busy, t.failed, chained);
out:
	if (page)
		__free_page(page);
	if (zero)
		__free_page(zero);
	if (next)
		__free_page(next);
	return page && zero && next ? 0 : -ENOMEM;
}

#define RACE_PAGES	17		/* a whole 64 KiB buffer */

/*
 * The header of buffer @i in round @r of the race: a frame the victim
 * takes (1400 bytes), a length past the buffer, one too short.
 */
static void race_hdr(struct sgnet_hdr *h, unsigned int r, unsigned int i)
{
	static const u32 lens[] = { 1400, 0x7fffffff, 10 };

	memset(h, 0, sizeof(*h));
	h->len = cpu_to_le32(lens[(r + i) % ARRAY_SIZE(lens)]);
}

/*
 * Buffer by buffer: trigger byte 0 (the buffer looks full: the victim
 * starts reading it), then transfer a header and a whole buffer's worth
 * of frame into it, without a trigger, so that Xen writes the header and
 * the frame while the victim copies them.
 */
static int hostile_race(void)
{
	unsigned int r, i, p, triggers = 0;
	struct hostile_tally t = { };
	struct xen_sg_elem e[RACE_PAGES];
	struct page *hdr, *data;
	int err = -ENOMEM;

	hdr = alloc_page(GFP_KERNEL);
	data = alloc_page(GFP_KERNEL);
	if (!hdr || !data)
		goto out;
	memset(page_address(hdr), 0xff, PAGE_SIZE);
	memset(page_address(data), 0xff, PAGE_SIZE);
	for (p = 0; p < RACE_PAGES; p++) {
		e[p].frame = xen_page_to_gfn(p ? data : hdr);
		e[p].offset = 0;
		e[p].len = PAGE_SIZE;
	}
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < nr_victim_rx; i++) {
			struct xen_sg_transfer op = {
				.local = (u64)(uintptr_t)e,
				.nr_local = RACE_PAGES,
				.peer = victim,
				.dir = XEN_SG_TRANSFER_TO_PEER,
				.reg_id = victim_rx[i],
				.length = RACE_PAGES * PAGE_SIZE,
				.status = 1,
			};

			race_hdr(page_address(hdr), r, i);
			hostile_trigger(victim_rx[i], 0);
			triggers++;
			hostile_send(&op, &t);
		}
		/* The victim consumes and returns its buffers meanwhile. */
		msleep(100);
	}
	err = 0;
	pr_info("mode=race victim=%u rounds=%u triggers=%u sent=%u busy=%u failed=%u\n",
		victim, rounds, triggers, t.sent, t.busy, t.failed);
out:
	if (hdr)
		__free_page(hdr);
	if (data)
		__free_page(data);
	return err;
}

/*
 * A receiver that grants credit and re-arms nothing: trigger the victim's
 * grant address once a millisecond.  Each grant makes the victim retry the
 * frames it queued for our (full) buffers and ask for credit again.
 */
static void hostile_credit(void)
{
	unsigned int r, failed = 0;
	unsigned long start = jiffies;

	for (r = 0; r < rounds; r++) {
		failed += !!hostile_trigger(victim_ctrl, SGNET_CTRL_GRANT);
		usleep_range(1000, 1100);
	}
	pr_info("mode=credit victim=%u grants=%u failed=%u ms=%u\n", victim,
		rounds, failed, jiffies_to_msecs(jiffies - start));
}

static int __init hostile_init(void)
{
	int err;

	if (!xen_domain())
		return -ENODEV;
	err = hostile_read_victim();
	if (err) {
		pr_err("reading device/vsg/%u: %d\n", devid, err);
		return err;
	}
	if (!strcmp(mode, "storm")) {
		hostile_storm();
		return 0;
	}
	if (!strcmp(mode, "badhdr"))
		return hostile_badhdr();
	if (!strcmp(mode, "race"))
		return hostile_race();
	if (!strcmp(mode, "credit")) {
		hostile_credit();
		return 0;
	}
	pr_err("mode=%s: storm, badhdr, race or credit\n", mode);
	return -EINVAL;
}
module_init(hostile_init);

static void __exit hostile_exit(void)
{
}
module_exit(hostile_exit);

MODULE_DESCRIPTION("sghostile: a hostile sgnet peer, for sgkit's lab");
MODULE_LICENSE("GPL");
