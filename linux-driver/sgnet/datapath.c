// SPDX-License-Identifier: GPL-2.0
/*
 * sgnet datapath, the same at both ends: the receive buffers, their
 * registrations and the event channel; transmit (transfers into the peer's
 * buffers, in batches); receive (NAPI: copy each filled buffer, validate,
 * re-arm); credit; the stall watchdog; the net_device and ethtool.
 *
 * Each side keeps a pool of receive buffers big enough for a 64 KiB frame,
 * each registered once with XEN_SGOP_register for the peer (one element per
 * page; WRITE, ONESHOT) and re-armed when recycled.  Every buffer's first
 * byte is bound to the side's one event channel with a counter in struct
 * sgnet_ctrl; the interrupt schedules NAPI, which takes the buffers whose
 * counter is <= 0 in ring order.  The sender copies a small header (the
 * length and a struct virtio_net_hdr for checksum and GSO) and the packet,
 * its fragments as they are, into the peer's next buffer with one
 * XEN_SGOP_transfer op carrying XEN_SG_TRANSFER_TRIGGER; small frames of
 * one batch share a buffer as consecutive records (sgnet-4, tx_pack), one
 * op and one trigger for them all.  A small control
 * registration carries credit: a sender that finds the peer's buffer busy
 * triggers the peer's "request" address, and the peer, once it has drained
 * its buffers, triggers the sender's "grant" address.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/etherdevice.h>
#include <linux/ethtool.h>
#include <linux/if_vlan.h>
#include <linux/interrupt.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <net/sch_generic.h>

#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/page.h>
#include <asm/xen/hypercall.h>

#include "compat.h"
#include "sgnet.h"

static unsigned int rx_return = 32;
module_param(rx_return, uint, 0644);
MODULE_PARM_DESC(rx_return,
		 "consumed receive buffers returned per hypercall (1: a rearm each; up to 64: a multicall of rearms)");

static bool rx_return_inband = true;
module_param(rx_return_inband, bool, 0644);
MODULE_PARM_DESC(rx_return_inband,
		 "re-arm consumed receive buffers inside the next transfer hypercall to the peer and name them in its frame's header (else only out-of-band: every rx_return buffers and before a credit grant)");

static unsigned int tx_batch = SGNET_TX_BATCH;
module_param(tx_batch, uint, 0644);
MODULE_PARM_DESC(tx_batch, "frames per transfer hypercall, at most (1-16)");

static unsigned int tx_pack = SGNET_TX_BATCH;
module_param(tx_pack, uint, 0644);
MODULE_PARM_DESC(tx_pack,
		 "frames of at most 1536 bytes, never GSO ones, that share one of the peer's receive buffers as records, at most (0 or 1: one frame per buffer; up to 16: the frames of one transfer hypercall; never with rx_counters off)");

static unsigned int tx_delay_us = 200;
module_param(tx_delay_us, uint, 0644);
MODULE_PARM_DESC(tx_delay_us,
		 "microseconds queued frames may wait for the ones the qdisc still holds (0: send at once unless xmit_more)");

static unsigned int tx_coalesce_us = 2000;
module_param(tx_coalesce_us, uint, 0644);
MODULE_PARM_DESC(tx_coalesce_us,
		 "one-way stream: a frame sent within this many microseconds of the last transfer, with nothing received since, waits at most this long for more to share a transfer (0: off; up to 10000)");

static bool fused_trigger = true;
module_param(fused_trigger, bool, 0644);
MODULE_PARM_DESC(fused_trigger,
		 "trigger the peer in the transfer (else one XEN_SGOP_trigger per frame after it)");

static unsigned int stall_timeout_ms = 60000;
module_param(stall_timeout_ms, uint, 0644);
MODULE_PARM_DESC(stall_timeout_ms,
		 "milliseconds the peer accepts no frame after our queue stopped (grants or not), or with a gap in the receive ring, before the watchdog acts (as netback's rx_stall_timeout)");

static bool irq_lateeoi = true;
module_param(irq_lateeoi, bool, 0644);
MODULE_PARM_DESC(irq_lateeoi,
		 "no upcalls while NAPI polls (the port stays masked until a late EOI), spurious events EOI'd as such (taken at set-up)");

static bool rx_recheck = true;
module_param(rx_recheck, bool, 0644);
MODULE_PARM_DESC(rx_recheck,
		 "with late EOI, a poll clears its port's pending bit and rechecks its counters before completing (else the unmask may find it pending for events the poll served)");

/*
 * Off by default: measured against the copy in one boot, it did not pay
 * (docs/driver.md, One copy); 32 is what was measured.
 */
static unsigned int rx_lend;
module_param(rx_lend, uint, 0644);
MODULE_PARM_DESC(rx_lend,
		 "one copy: frames over 1536 bytes go up the stack as fragments of their receive buffer, with at most this many buffers lent at once (then copied; 0, the default: copy every frame)");

/* How long a credit grant may wait for a lent buffer before the link resets. */
#define SGNET_LEND_WAIT_MS	1000

static bool rx_counters = true;
module_param(rx_counters, bool, 0644);
MODULE_PARM_DESC(rx_counters,
		 "receive buffers bound with a counter each, by which the poll finds them filled (0, for the benchmark's ablation: bound without, so every trigger sets the port pending as a plain event does, and the sender copies a trailer word after each frame by which the poll finds it; both ends must agree; taken at set-up)");

/*
 * rx_counters off: the word after a frame's last byte, SGNET_TRAILER ^
 * length (little-endian), copied after every byte before it.
 */
#define SGNET_TRAILER		0x53474e54u
#define SGNET_TRAILER_LEN	sizeof(__le32)
/* ... in the transmit header page, one word per op after the headers. */
#define SGNET_TX_TRAILER_OFF	(PAGE_SIZE / 2)
/*
 * The transmit header page holds one header per frame slot, each after
 * zeroes that pad the record before it to SGNET_REC_ALIGN: the padding
 * and the header are one element of the op's list.
 */
#define SGNET_TX_HDR_STRIDE	64
static_assert(SGNET_TX_HDR_STRIDE - SGNET_HDR_LEN >= SGNET_REC_ALIGN - 1);
static_assert(SGNET_TX_BATCH * SGNET_TX_HDR_STRIDE <= SGNET_TX_TRAILER_OFF);
/* A buffer's records are the frames of one batch. */
static_assert(SGNET_TX_BATCH <= SGNET_MAX_RECORDS);

/* ethtool -S: what the standard counters do not carry. */
static const char sgnet_tx_stat_names[][ETH_GSTRING_LEN] = {
	"tx_hypercalls", "tx_busy", "tx_stalls", "tx_gso_packets",
	"tx_csum_partial", "credit_requests", "tx_timeouts",
	"tx_foreign_copies", "tx_coalesced", "rx_returned_inband",
	"rx_return_inband_errors", "tx_frames_packed",
};

static_assert(ARRAY_SIZE(sgnet_tx_stat_names) ==
	      SGNET_NR_TX_STATS - SGNET_TX_FIRST_PRIVATE);

static const char sgnet_rx_stat_names[][ETH_GSTRING_LEN] = {
	"rx_hypercalls", "rx_gso_packets", "rx_csum_partial", "credit_grants",
	"credit_requests_received", "rx_returned", "rx_return_calls",
	"rx_return_errors", "rx_hdr_changed", "credit_rearms", "rx_polls",
	"rx_rechecks", "peer_returned", "peer_return_invalid",
	"rx_frames_lent", "rx_frames_copied", "rx_lend_full", "rx_held",
	"rx_grants_held", "rx_lend_resets", "rx_polls_deferred", "rx_buffers",
	"rx_frames_packed",
};

static_assert(ARRAY_SIZE(sgnet_rx_stat_names) ==
	      SGNET_NR_RX_STATS - SGNET_RX_FIRST_PRIVATE);

static const char sgnet_other_stat_names[][ETH_GSTRING_LEN] = {
	"interrupts", "rx_spurious", "pages_leaked",
};

#define SGNET_NR_ETHTOOL_STATS	(ARRAY_SIZE(sgnet_tx_stat_names) + \
				 ARRAY_SIZE(sgnet_rx_stat_names) + \
				 ARRAY_SIZE(sgnet_other_stat_names))

struct dentry *sgnet_debugfs_root;

/* Elements in a local list: the hypervisor's max_elems, at most 64. */
static unsigned int sgnet_max_elems = SGNET_MAX_ELEMS;

static u64 sgnet_frame(const void *va)
{
	return xen_page_to_gfn(virt_to_page(va));
}

static long sgnet_id_op(unsigned int cmd, u32 id)
{
	struct xen_sg_id a = { .id = id };

	return HYPERVISOR_sg_op(cmd, &a);
}

/* Trigger byte @offset of the peer's control registration. */
static long sgnet_trigger_peer(struct sgnet_info *info, u64 offset)
{
	struct xen_sg_trigger t = {
		.addr = {
			.owner = info->peer,
			.reg_id = info->peer_ctrl,
			.offset = offset,
		},
	};

	return HYPERVISOR_sg_op(XEN_SGOP_trigger, &t);
}

/* --- local resources: buffers, registrations, event channel -------------- */

/* Register @nr pages, @len bytes from the first, writable by the peer. */
static long sgnet_register(struct sgnet_info *info, struct page **pages,
			   unsigned int nr, u32 len, u32 flags, u32 *id)
{
	struct xen_sg_elem e[SGNET_RX_MAX_PAGES];
	struct xen_sg_register r = {
		.elems = (u64)(uintptr_t)e,
		.nr_elems = nr,
		.peer = info->peer,
		.access = XEN_SG_ACCESS_WRITE,
		.flags = flags,
	};
	unsigned int i;
	long rc;

	for (i = 0; i < nr; i++) {
		e[i].frame = xen_page_to_gfn(pages[i]);
		e[i].offset = 0;
		e[i].len = min_t(u32, len, PAGE_SIZE);
		len -= e[i].len;
	}
	rc = HYPERVISOR_sg_op(XEN_SGOP_register, &r);
	*id = rc ? 0 : r.id;
	return rc;
}

/*
 * Bind our port to byte @offset of our registration @id, counting in @ctr
 * (NULL: no counter, every trigger sets the port pending).
 */
static long sgnet_bind(struct sgnet_info *info, u32 id, u64 offset, s32 *ctr)
{
	struct xen_sg_bind b = {
		.addr = {
			.owner = DOMID_SELF,
			.reg_id = id,
			.offset = offset,
		},
		.port = info->port,
	};

	if (ctr) {
		b.flags = XEN_SG_BIND_COUNTER;
		b.counter_frame = sgnet_frame(ctr);
		b.counter_offset = offset_in_page(ctr);
		WRITE_ONCE(*ctr, 1);
	}
	return HYPERVISOR_sg_op(XEN_SGOP_bind, &b);
}

/* Byte @off of receive buffer @buf. */
static u8 *sgnet_rx_byte(const struct sgnet_rxbuf *buf, unsigned int off)
{
	return (u8 *)page_address(buf->pages[off >> PAGE_SHIFT]) +
	       offset_in_page(off);
}

/*
 * rx_counters off: is the frame in @buf all there?  The header's length
 * says where its trailer is; the trailer is copied after the frame (its
 * own element, so its own copy in Xen), and the receiver clears it when it
 * consumes the buffer.
 */
static bool sgnet_rx_trailer_ok(const struct sgnet_info *info,
				const struct sgnet_rxbuf *buf)
{
	const struct sgnet_hdr *shared = page_address(buf->pages[0]);
	u32 len = le32_to_cpu(READ_ONCE(shared->len));
	unsigned int off = SGNET_HDR_LEN + len, i;
	u32 word = 0;

	if (len > info->rx_pages * PAGE_SIZE - SGNET_HDR_LEN -
		  SGNET_TRAILER_LEN)
		return false;
	for (i = 0; i < SGNET_TRAILER_LEN; i++)
		word |= (u32)READ_ONCE(*sgnet_rx_byte(buf, off + i)) << (8 * i);
	return word == (SGNET_TRAILER ^ len);
}

/* Is receive buffer @buf filled: its counter fired, or its trailer is there? */
static bool sgnet_rx_full(const struct sgnet_info *info,
			  const struct sgnet_rxbuf *buf)
{
	if (info->plain)
		return sgnet_rx_trailer_ok(info, buf);
	return READ_ONCE(*buf->counter) <= 0;
}

/*
 * Receive buffer @buf, whose header said @len, is consumed: its counter
 * back to 1, or its trailer and the word where a length-0 frame's would
 * be cleared; its length 0 and its returned names none (a bare trigger of
 * it reads an empty frame, not this one's names again).
 */
static void sgnet_rx_reset(const struct sgnet_info *info,
			   struct sgnet_rxbuf *buf, u32 len)
{
	struct sgnet_hdr *shared = page_address(buf->pages[0]);
	unsigned int i;

	if (info->plain) {
		len = min_t(u32, len, info->rx_pages * PAGE_SIZE -
				      SGNET_HDR_LEN - SGNET_TRAILER_LEN);
		for (i = 0; i < SGNET_TRAILER_LEN; i++) {
			WRITE_ONCE(*sgnet_rx_byte(buf, SGNET_HDR_LEN + len + i), 0);
			WRITE_ONCE(*sgnet_rx_byte(buf, SGNET_HDR_LEN + i), 0);
		}
	}
	WRITE_ONCE(shared->len, 0);
	WRITE_ONCE(shared->returned, 0);
	if (!info->plain)
		WRITE_ONCE(*buf->counter, 1);
}

/* Has anything fired: a receive buffer filled, a credit request or grant? */
static bool sgnet_fired(struct sgnet_info *info)
{
	unsigned int i;

	if (READ_ONCE(*info->request_counter) <= 0 ||
	    READ_ONCE(*info->grant_counter) <= 0)
		return true;
	for (i = 0; i < info->nr_rx; i++)
		if (sgnet_rx_full(info, &info->rx[i]))
			return true;
	return false;
}

/*
 * With late EOI the port stays masked from here until the poll completes
 * (sgnet_poll), so the peer's triggers meanwhile raise no upcall; an event
 * for which nothing fired (the poll already took it) is EOI'd as spurious.
 */
static irqreturn_t sgnet_interrupt(int irq, void *dev_id)
{
	struct sgnet_info *info = dev_id;

	atomic_long_inc(&info->interrupts);
	if (info->lateeoi && !sgnet_fired(info)) {
		atomic_long_inc(&info->rx_spurious);
		xen_irq_lateeoi(irq, XEN_EOI_FLAG_SPURIOUS);
		return IRQ_HANDLED;
	}
	napi_schedule(&info->napi);
	return IRQ_HANDLED;
}

/*
 * Unregister @id: may its pages be freed?  Xen answers -ENOENT for a
 * registration it does not hold (never made).  After a restore nothing is
 * asked: the new domain's ids may name another device's new buffers.  Any
 * other failure may leave the pages pinned and writable by the peer: they
 * are leaked instead, as gnttab_end_foreign_access() does since XSA-396.
 */
bool sgnet_unregister(struct sgnet_info *info, u32 id, unsigned int nr_pages)
{
	long rc;

	if (!id || info->restored)
		return true;
	rc = sgnet_id_op(XEN_SGOP_unregister, id);
	if (!rc || rc == -XEN_ENOENT)
		return true;
	netdev_warn(info->dev, "unregistering %u failed (%ld): %u pages leaked\n",
		    id, rc, nr_pages);
	atomic_long_add(nr_pages, &info->pages_leaked);
	return false;
}

/*
 * Stop using the local resources: no poll takes a buffer after this, and
 * closing the port ends every binding of it (NAPI disabled or the
 * resources never ready).
 */
void sgnet_stop_local(struct sgnet_info *info)
{
	WRITE_ONCE(info->local_ready, false);
	hrtimer_cancel(&info->rx_lend_timer);
	if (info->irq > 0)
		unbind_from_irqhandler(info->irq, info);
	info->irq = 0;
	info->port = 0;
}

/*
 * Unregister and free the local resources, after sgnet_stop_local(): 65
 * hypercalls, made with no lock held (a poll sees local_ready false and
 * does nothing; the transmit path runs only while connected).  A page the
 * stack still holds (rx_lend) loses only our reference here and is freed
 * with its last skb: unregistered, the peer can no longer write it.
 */
void sgnet_free_local(struct sgnet_info *info)
{
	unsigned int i;

	sgnet_stop_local(info);
	for (i = 0; i < SGNET_NR_RX; i++) {
		struct sgnet_rxbuf *buf = &info->rx[i];
		bool free = sgnet_unregister(info, buf->id, info->rx_pages);
		unsigned int p;

		buf->id = 0;
		buf->counter = NULL;
		buf->lent = 0;
		buf->held = false;
		for (p = 0; p < SGNET_RX_MAX_PAGES; p++) {
			if (buf->pages[p] && free)
				__free_page(buf->pages[p]);
			buf->pages[p] = NULL;
		}
	}
	/* The counters in it are unbound: the port is closed. */
	if (info->ctrl_page && sgnet_unregister(info, info->ctrl_id, 1))
		__free_page(info->ctrl_page);
	info->ctrl_id = 0;
	info->ctrl_page = NULL;
	info->request_counter = NULL;
	info->grant_counter = NULL;
	if (info->tx_hdr_page)
		__free_page(info->tx_hdr_page);
	info->tx_hdr_page = NULL;
	kfree(info->rx_mc);
	info->rx_mc = NULL;
	kfree(info->rx_ret_id);
	info->rx_ret_id = NULL;
}

int sgnet_setup_local(struct sgnet_info *info)
{
	struct evtchn_alloc_unbound alloc = {
		.dom = DOMID_SELF,
		.remote_dom = DOMID_SELF,
	};
	struct sgnet_ctrl *ctrl;
	unsigned int i;
	long rc;
	int irq;

	if (info->local_ready)
		return 0;
	/* ethtool -G: the buffers the next set-up makes (checked there). */
	info->nr_rx = READ_ONCE(info->want_nr_rx);
	info->rx_pages = READ_ONCE(info->want_rx_pages);
	info->tx_hdr_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	info->ctrl_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	info->rx_mc = kcalloc(SGNET_NR_RX, sizeof(*info->rx_mc), GFP_KERNEL);
	info->rx_ret_id = kcalloc(SGNET_NR_RX, sizeof(*info->rx_ret_id),
				  GFP_KERNEL);
	if (!info->tx_hdr_page || !info->ctrl_page || !info->rx_mc ||
	    !info->rx_ret_id)
		goto nomem;
	ctrl = page_address(info->ctrl_page);
	info->request_counter = &ctrl->request_counter;
	info->grant_counter = &ctrl->grant_counter;
	for (i = 0; i < info->nr_rx; i++)
		info->rx[i].counter = &ctrl->rx_counter[i];
	rc = sgnet_register(info, &info->ctrl_page, 1, SGNET_CTRL_LEN, 0,
			    &info->ctrl_id);
	if (rc)
		goto fail;
	for (i = 0; i < info->nr_rx; i++) {
		struct sgnet_rxbuf *buf = &info->rx[i];
		unsigned int p;

		for (p = 0; p < info->rx_pages; p++) {
			buf->pages[p] = alloc_page(GFP_KERNEL | __GFP_ZERO);
			if (!buf->pages[p])
				goto nomem;
		}
		rc = sgnet_register(info, buf->pages, info->rx_pages,
				    info->rx_pages * PAGE_SIZE,
				    XEN_SG_REG_ONESHOT, &buf->id);
		if (rc)
			goto fail;
	}

	rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &alloc);
	if (rc)
		goto fail;
	info->port = alloc.port;
	info->lateeoi = READ_ONCE(irq_lateeoi);
	info->plain = !READ_ONCE(rx_counters);
	if (info->lateeoi)
		irq = bind_evtchn_to_irqhandler_lateeoi(info->port,
							sgnet_interrupt, 0,
							info->dev->name, info);
	else
		irq = bind_evtchn_to_irqhandler(info->port, sgnet_interrupt,
						0, info->dev->name, info);
	if (irq < 0) {
		struct evtchn_close close = { .port = info->port };

		HYPERVISOR_event_channel_op(EVTCHNOP_close, &close);
		info->port = 0;
		rc = irq;
		goto fail;
	}
	info->irq = irq;

	for (i = 0; i < info->nr_rx; i++) {
		rc = sgnet_bind(info, info->rx[i].id, 0,
				info->plain ? NULL : info->rx[i].counter);
		if (rc)
			goto fail;
	}
	rc = sgnet_bind(info, info->ctrl_id, SGNET_CTRL_REQUEST,
			info->request_counter);
	if (!rc)
		rc = sgnet_bind(info, info->ctrl_id, SGNET_CTRL_GRANT,
				info->grant_counter);
	if (rc)
		goto fail;
	info->rx_scan = 0;
	atomic64_set(&info->rx_ret_ready, 0);
	atomic64_set(&info->rx_ret_news, 0);
	info->rx_gap_seen = false;
	info->request_seen = false;
	info->rx_lent = 0;
	info->rx_held = 0;
	info->grant_held = false;
	/* The poll reads what was set up above after it sees this. */
	smp_store_release(&info->local_ready, true);
	return 0;

nomem:
	rc = -ENOMEM;
fail:
	netdev_err(info->dev, "setting up the receive pool failed: %ld\n", rc);
	sgnet_free_local(info);
	return rc < 0 ? (int)rc : -EIO;
}

/* --- transmit ------------------------------------------------------------- */

/* Append the bytes at @off of @page (may run over pages) to @e[@n..]. */
static int sgnet_add_elems(struct xen_sg_elem *e, int n, struct page *page,
			   unsigned int off, unsigned int len)
{
	while (len) {
		struct page *pg = nth_page(page, off >> PAGE_SHIFT);
		unsigned int o = off & ~PAGE_MASK;
		unsigned int chunk = min_t(unsigned int, len, PAGE_SIZE - o);

		if (n >= sgnet_max_elems)
			return -E2BIG;
		e[n].frame = xen_page_to_gfn(pg);
		e[n].offset = o;
		e[n].len = chunk;
		n++;
		off += chunk;
		len -= chunk;
	}
	return n;
}

/* Where frame slot @f's header is in the transmit header page. */
static unsigned int sgnet_tx_hdr_off(unsigned int f)
{
	return (f + 1) * SGNET_TX_HDR_STRIDE - SGNET_HDR_LEN;
}

static struct sgnet_hdr *sgnet_tx_hdr(struct sgnet_info *info, unsigned int f)
{
	return page_address(info->tx_hdr_page) + sgnet_tx_hdr_off(f);
}

/*
 * rx_counters off: append op @slot's trailer (for the length in its
 * header: one record, no packing) to its local list @e[@n..] and to the
 * op's length.
 */
static int sgnet_tx_trailer(struct sgnet_info *info, unsigned int slot,
			    struct xen_sg_elem *e, int n)
{
	struct sgnet_hdr *hdr = sgnet_tx_hdr(info, info->tx_op_first[slot]);
	unsigned int off = SGNET_TX_TRAILER_OFF + slot * SGNET_TRAILER_LEN;
	__le32 *word = page_address(info->tx_hdr_page) + off;

	*word = cpu_to_le32(SGNET_TRAILER ^ le32_to_cpu(hdr->len));
	n = sgnet_add_elems(e, n, info->tx_hdr_page, off, SGNET_TRAILER_LEN);
	if (n >= 0)
		info->tx_op[slot].length += SGNET_TRAILER_LEN;
	return n;
}

/*
 * Describe @skb, frame slot @f, in the local list of op @slot: its header,
 * then its data.  @pack: as a record after the op's last one (at the next
 * SGNET_REC_ALIGN, the padding in the header's element), else as the op's
 * first.  On failure the op is as it was.
 */
static int sgnet_tx_fill(struct sgnet_info *info, unsigned int slot,
			 unsigned int f, struct sk_buff *skb, bool pack)
{
	struct sgnet_hdr *hdr = sgnet_tx_hdr(info, f);
	struct xen_sg_elem *e = info->tx_elem[slot];
	struct xen_sg_transfer *op = &info->tx_op[slot];
	unsigned int i, at = 0, pad = 0;
	int n = 0;

	if (pack) {
		at = ALIGN(op->length, SGNET_REC_ALIGN);
		pad = at - op->length;
		n = op->nr_local;
	}
	memset(hdr, 0, sizeof(*hdr));
	hdr->len = cpu_to_le32(skb->len);
	if (virtio_net_hdr_from_skb(skb, &hdr->vnet, true, true, 0))
		return -EPROTO;
	info->tx_hdr_elem[f] = n;
	n = sgnet_add_elems(e, n, info->tx_hdr_page,
			    sgnet_tx_hdr_off(f) - pad, pad + SGNET_HDR_LEN);
	if (n >= 0)
		n = sgnet_add_elems(e, n, virt_to_page(skb->data),
				    offset_in_page(skb->data), skb_headlen(skb));
	for (i = 0; n >= 0 && i < skb_shinfo(skb)->nr_frags; i++) {
		const skb_frag_t *frag = &skb_shinfo(skb)->frags[i];

		n = sgnet_add_elems(e, n, skb_frag_page(frag),
				    skb_frag_off(frag), skb_frag_size(frag));
	}
	if (n < 0)
		return n;
	info->tx_skb[f] = skb;
	if (pack) {
		/* The op's last record so far is the slot before. */
		sgnet_tx_hdr(info, f - 1)->flags |= cpu_to_le32(SGNET_HDR_F_MORE);
		op->nr_local = n;
		op->length = at + SGNET_HDR_LEN + skb->len;
		info->tx_op_nf[slot]++;
		return 0;
	}

	memset(op, 0, sizeof(*op));
	op->local = (u64)(uintptr_t)e;
	op->nr_local = n;
	op->peer = info->peer;
	op->dir = XEN_SG_TRANSFER_TO_PEER;
	op->flags = READ_ONCE(fused_trigger) ? XEN_SG_TRANSFER_TRIGGER : 0;
	op->offset = 0;
	op->length = SGNET_HDR_LEN + skb->len;
	info->tx_op_first[slot] = f;
	info->tx_op_nf[slot] = 1;
	if (info->plain) {
		n = sgnet_tx_trailer(info, slot, e, n);
		if (n < 0) {
			info->tx_skb[f] = NULL;
			return n;
		}
		op->nr_local = n;
	}
	return 0;
}

/* A frame sgnet packs: one the receiver copies anyway (sgnet_rx_one). */
static bool sgnet_tx_small(const struct sk_buff *skb)
{
	return skb->len <= SGNET_RX_COPY && !skb_is_gso(skb);
}

/*
 * May @skb go into the last queued op's buffer, after its records (tx
 * lock held)?  Only small frames after small frames, within tx_pack
 * records and the peer's buffer (the elements are checked as they are
 * added); never into a filler, never with rx_counters off.
 */
static bool sgnet_tx_can_pack(struct sgnet_info *info,
			      const struct sk_buff *skb)
{
	unsigned int max = min_t(unsigned int, READ_ONCE(tx_pack),
				 SGNET_MAX_RECORDS);
	unsigned int slot, first, nf;
	const struct sk_buff *head;

	if (info->plain || !info->tx_n || !sgnet_tx_small(skb))
		return false;
	slot = info->tx_n - 1;
	first = info->tx_op_first[slot];
	nf = info->tx_op_nf[slot];
	head = info->tx_skb[first];
	return nf < max && first + nf == info->tx_frames && head &&
	       sgnet_tx_small(head) &&
	       ALIGN(info->tx_op[slot].length, SGNET_REC_ALIGN) +
	       SGNET_HDR_LEN + skb->len <= SGNET_HDR_LEN + info->peer_max_frame;
}

/*
 * Move queued op @from to slot @to (an op that must be retried), its
 * frames to the slots from *@kept on (*@kept: the frame slots taken by
 * the ops kept before it; it grows by this op's).  @to <= @from and the
 * new frame slots are at most the old ones: ops and frames move down, in
 * order, so none is overwritten before it has moved.
 */
static void sgnet_tx_move(struct sgnet_info *info, unsigned int from,
			  unsigned int to, unsigned int *kept)
{
	unsigned int first = info->tx_op_first[from];
	unsigned int nf = info->tx_op_nf[from], dst0 = *kept, k;
	struct xen_sg_transfer *op = &info->tx_op[to];

	*kept += nf;
	if (from != to) {
		memcpy(info->tx_elem[to], info->tx_elem[from],
		       info->tx_op[from].nr_local * sizeof(struct xen_sg_elem));
		*op = info->tx_op[from];
		op->local = (u64)(uintptr_t)info->tx_elem[to];
		info->tx_peer_idx[to] = info->tx_peer_idx[from];
	}
	info->tx_op_first[to] = dst0;
	info->tx_op_nf[to] = nf;
	for (k = 0; k < nf; k++) {
		unsigned int src = first + k, dst = dst0 + k, pad;
		struct xen_sg_elem *e;

		if (src == dst)
			continue;
		/* The header's element starts with its padding. */
		e = &info->tx_elem[to][info->tx_hdr_elem[src]];
		pad = sgnet_tx_hdr_off(src) - e->offset;
		*sgnet_tx_hdr(info, dst) = *sgnet_tx_hdr(info, src);
		e->offset = sgnet_tx_hdr_off(dst) - pad;
		info->tx_hdr_elem[dst] = info->tx_hdr_elem[src];
		info->tx_skb[dst] = info->tx_skb[src];
		info->tx_skb[src] = NULL;
	}
	if (info->plain && from != to) {
		/* The last element is the trailer: @to's word. */
		op->nr_local--;
		op->length -= SGNET_TRAILER_LEN;
		op->nr_local = sgnet_tx_trailer(info, to, info->tx_elem[to],
						op->nr_local);
	}
}

/*
 * Turn queued op @slot into a header-only frame of length 0 (its frames
 * freed by the caller): one record, its first slot's.
 */
static void sgnet_tx_make_filler(struct sgnet_info *info, unsigned int slot)
{
	unsigned int first = info->tx_op_first[slot], k;
	struct xen_sg_transfer *op = &info->tx_op[slot];

	memset(sgnet_tx_hdr(info, first), 0, SGNET_HDR_LEN);
	op->nr_local = 1;		/* element 0 is the header, unpadded */
	op->length = SGNET_HDR_LEN;
	if (info->plain)
		op->nr_local = sgnet_tx_trailer(info, slot, info->tx_elem[slot],
						1);
	for (k = 0; k < info->tx_op_nf[slot]; k++)
		info->tx_skb[first + k] = NULL;
	info->tx_op_nf[slot] = 1;
}

/* Free the frames of queued op @slot; returns how many there were. */
static unsigned int sgnet_tx_free_op(struct sgnet_info *info,
				     unsigned int slot)
{
	unsigned int first = info->tx_op_first[slot], k, n = 0;

	for (k = 0; k < info->tx_op_nf[slot]; k++) {
		if (!info->tx_skb[first + k])
			continue;
		dev_kfree_skb_any(info->tx_skb[first + k]);
		info->tx_skb[first + k] = NULL;
		n++;
	}
	return n;
}

void sgnet_tx_drop_queued(struct sgnet_info *info)
{
	unsigned int i, n = 0;

	for (i = 0; i < info->tx_n; i++)
		n += sgnet_tx_free_op(info, i);
	sgnet_tx_count(info, SGNET_TX_DROPPED, n);
	info->tx_n = 0;
	info->tx_frames = 0;
}

/*
 * Free the queued frames, keeping their ops as fillers: each was assigned
 * a peer buffer, and the peer delivers its buffers in ring order.
 */
static void sgnet_tx_drop_skbs(struct sgnet_info *info)
{
	unsigned int i;

	for (i = 0; i < info->tx_n; i++) {
		unsigned int n = sgnet_tx_free_op(info, i);

		if (!n)
			continue;
		sgnet_tx_count(info, SGNET_TX_DROPPED, n);
		sgnet_tx_make_filler(info, i);
	}
}

/* Credit again: the carrier back if the watchdog took it, the queue going. */
static void sgnet_tx_resume(struct sgnet_info *info)
{
	struct net_device *dev = info->dev;

	if (info->tx_timed_out && !info->peer_gone) {
		info->tx_timed_out = false;
		netif_carrier_on(dev);
		netdev_info(dev, "credit from domain %u again: carrier on\n",
			    info->peer);
	}
	if (netif_running(dev))
		netif_wake_queue(dev);
}

/*
 * All peer buffers are busy: stop and ask the peer for credit.  The stall
 * clock starts here unless it runs already: a grant that leads only to
 * another -EBUSY is no progress, and only an op the peer accepts stops
 * the clock (sgnet_tx_flush), as only a consumed slot resets netback's
 * rx_stall_timeout.
 */
static void sgnet_tx_stall(struct sgnet_info *info)
{
	info->tx_stalled = true;
	if (!info->tx_stall_clock) {
		info->tx_stall_clock = true;
		info->tx_stalled_at = jiffies;
	}
	netif_stop_queue(info->dev);
	sgnet_tx_count(info, SGNET_TX_STALLS, 1);
	sgnet_tx_count(info, SGNET_CREDIT_REQUESTS, 1);
	sgnet_tx_count(info, SGNET_TX_HYPERCALLS, 1);
	if (sgnet_trigger_peer(info, SGNET_CTRL_REQUEST))
		sgnet_tx_count(info, SGNET_TX_ERRORS, 1);
}

/* fused_trigger off: fire the peer's buffer @reg_id after its transfer. */
static void sgnet_tx_trigger(struct sgnet_info *info, u32 reg_id)
{
	struct xen_sg_trigger t = {
		.addr = {
			.owner = info->peer,
			.reg_id = reg_id,
			.offset = 0,
		},
	};

	sgnet_tx_count(info, SGNET_TX_HYPERCALLS, 1);
	if (HYPERVISOR_sg_op(XEN_SGOP_trigger, &t))
		sgnet_tx_count(info, SGNET_TX_ERRORS, 1);
}

/*
 * Fill @mc with one XEN_SGOP_rearm call per receive buffer of ours in @bits
 * (ring indices), their IDs in @ids: the out-of-band return's multicall and
 * the in-band one's first part.  Returns how many.
 */
static unsigned int sgnet_rearm_calls(const struct sgnet_info *info, u64 bits,
				      struct multicall_entry *mc,
				      struct xen_sg_id *ids)
{
	unsigned int i, n = 0;

	for (i = 0; i < info->nr_rx; i++) {
		if (!(bits & BIT_ULL(i)))
			continue;
		ids[n].id = info->rx[i].id;
		ids[n].flags = 0;
		mc[n].op = __HYPERVISOR_sg_op;
		mc[n].result = 0;
		mc[n].args[0] = XEN_SGOP_rearm;
		mc[n].args[1] = (xen_ulong_t)(uintptr_t)&ids[n];
		n++;
	}
	return n;
}

/*
 * In-band buffer return (tx lock held): the rearms of our receive buffers
 * consumed since the last return go in one multicall with the transfer
 * batch, before it, and op 0's header names them (sgnet_hdr.returned),
 * with those re-armed out-of-band since a header last named any.  Xen runs
 * a multicall's calls in order, so the buffers are armed before the peer
 * can read their names; a transfer preempted inside the multicall goes on
 * in Xen's continuation of it.  The rearms cost no hypercall of their own:
 * the frame goes anyway.  @news: what op 0's header names.  Returns the
 * batch's result.
 */
static long sgnet_tx_call(struct sgnet_info *info,
			  struct xen_sg_transfer_batch *batch, u64 *news)
{
	struct sgnet_hdr *hdr = sgnet_tx_hdr(info, info->tx_op_first[0]);
	struct multicall_entry *mc;
	unsigned int n, i, errors = 0;
	u64 ready = 0;
	long rc;

	*news = 0;
	/* Pairs with sgnet_setup_local(): our buffers are set up. */
	if (smp_load_acquire(&info->local_ready) &&
	    READ_ONCE(rx_return_inband)) {
		ready = atomic64_xchg(&info->rx_ret_ready, 0);
		*news = ready | atomic64_xchg(&info->rx_ret_news, 0);
	}
	hdr->returned = cpu_to_le64(*news);
	if (!ready)
		return HYPERVISOR_sg_op(XEN_SGOP_transfer, batch);
	n = sgnet_rearm_calls(info, ready, info->tx_mc, info->tx_ret_id);
	mc = &info->tx_mc[n];
	mc->op = __HYPERVISOR_sg_op;
	mc->result = 0;
	mc->args[0] = XEN_SGOP_transfer;
	mc->args[1] = (xen_ulong_t)(uintptr_t)batch;
	rc = HYPERVISOR_multicall(info->tx_mc, n + 1);
	if (rc) {
		/*
		 * Some rearms may have run, and a second one could re-arm a
		 * buffer the peer has filled since: count them all as failed.
		 * A buffer left consumed comes back with the credit rearm.
		 */
		sgnet_tx_count(info, SGNET_TX_RETURN_INBAND_ERRORS, n);
		*news = 0;
		return rc;
	}
	for (i = 0; i < n; i++)
		if (info->tx_mc[i].result)
			errors++;
	if (errors) {
		netdev_warn_once(info->dev, "returning buffers in-band: %ld\n",
				 (long)info->tx_mc[0].result);
		sgnet_tx_count(info, SGNET_TX_RETURN_INBAND_ERRORS, errors);
	}
	sgnet_tx_count(info, SGNET_TX_RETURNED_INBAND, n);
	return info->tx_mc[n].result;
}

/*
 * Send the queued ops, one hypercall per round (tx lock held).  At most two
 * rounds of at most SGNET_TX_BATCH ops: after the first, only ops answered
 * -EBUSY (then the sender stalls and stops) or fillers are left, and a
 * filler that fails is dropped.
 */
static void sgnet_tx_flush(struct sgnet_info *info)
{
	while (info->tx_n && !info->tx_stalled) {
		struct xen_sg_transfer_batch batch = {
			.ops = (u64)(uintptr_t)info->tx_op,
			.nr_ops = info->tx_n,
		};
		unsigned int i, keep = 0, kept = 0;
		bool busy = false;
		u64 news;
		long rc;

		for (i = 0; i < info->tx_n; i++)
			info->tx_op[i].status = 1;
		rc = sgnet_tx_call(info, &batch, &news);
		sgnet_tx_count(info, SGNET_TX_HYPERCALLS, 1);
		/*
		 * Names the peer did not get go with the next header; an op
		 * retried never repeats them.
		 */
		if (news && (rc || info->tx_op[0].status))
			atomic64_or(news, &info->rx_ret_news);
		sgnet_tx_hdr(info, info->tx_op_first[0])->returned = 0;
		info->tx_flushed_at = ktime_get();
		info->tx_rx_seq = READ_ONCE(info->rx_seq);
		if (rc) {
			/* Buffers assigned to these ops would stay empty. */
			netdev_warn_once(info->dev, "transfer batch: %ld\n", rc);
			sgnet_tx_count(info, SGNET_TX_ERRORS, info->tx_frames);
			sgnet_tx_drop_queued(info);
			info->peer_gone = true;
			netif_carrier_off(info->dev);
			return;
		}
		for (i = 0; i < info->tx_n; i++) {
			unsigned int first = info->tx_op_first[i], k;
			unsigned int nf = info->tx_op_nf[i];
			struct sk_buff *skb = info->tx_skb[first];
			s32 status = info->tx_op[i].status;

			if (status == -XEN_EBUSY) {
				/* Retried into the same buffer: order holds. */
				busy = true;
				sgnet_tx_count(info, SGNET_TX_BUSY, 1);
				sgnet_tx_move(info, i, keep++, &kept);
				continue;
			}
			if (status) {
				netdev_warn_once(info->dev, "transfer: %d\n",
						 status);
				sgnet_tx_count(info, SGNET_TX_ERRORS, nf);
				sgnet_tx_free_op(info, i);
				/* The peer died, or dropped its buffers. */
				if (status == -XEN_ESRCH ||
				    status == -XEN_ENOENT || !skb) {
					info->peer_gone = true;
					netif_carrier_off(info->dev);
					continue;
				}
				/*
				 * The receiver waits for this buffer before
				 * the ones after it: fill it with an empty
				 * frame, which it counts as an error.
				 */
				sgnet_tx_make_filler(info, i);
				sgnet_tx_move(info, i, keep++, &kept);
				continue;
			}
			/* The peer had this buffer armed: real progress. */
			info->tx_stall_clock = false;
			if (!(info->tx_op[i].flags & XEN_SG_TRANSFER_TRIGGER))
				sgnet_tx_trigger(info, info->tx_op[i].reg_id);
			if (!skb)
				continue;	/* a filler went through */
			if (nf > 1)
				sgnet_tx_count(info, SGNET_TX_PACKED, nf - 1);
			for (k = 0; k < nf; k++) {
				skb = info->tx_skb[first + k];
				info->tx_skb[first + k] = NULL;
				sgnet_tx_count(info, SGNET_TX_PACKETS, 1);
				sgnet_tx_count(info, SGNET_TX_BYTES, skb->len);
				if (skb_is_gso(skb))
					sgnet_tx_count(info, SGNET_TX_GSO, 1);
				if (skb->ip_summed == CHECKSUM_PARTIAL)
					sgnet_tx_count(info, SGNET_TX_CSUM, 1);
				dev_consume_skb_any(skb);
			}
		}
		info->tx_n = keep;
		info->tx_frames = kept;
		/*
		 * The receiver drains its buffers in order, so the one asked
		 * for is the oldest it holds: wait for its credit grant.
		 */
		if (busy)
			sgnet_tx_stall(info);
	}
}

/* Can the peer take @skb as it is (features change after connecting)? */
static bool sgnet_tx_fits(struct sgnet_info *info, struct sk_buff *skb)
{
	unsigned int gso = skb_shinfo(skb)->gso_type;

	if (skb->len + (info->plain ? SGNET_TRAILER_LEN : 0) >
	    info->peer_max_frame)
		return false;
	if (!skb_is_gso(skb))
		return true;
	return ((gso & SKB_GSO_TCPV4) && info->peer_gso_tcpv4) ||
	       ((gso & SKB_GSO_TCPV6) && info->peer_gso_tcpv6);
}

/* Has the qdisc more frames for us (it calls again at once)? */
static bool sgnet_tx_backlog(struct net_device *dev)
{
	struct Qdisc *q = rcu_dereference_bh(netdev_get_tx_queue(dev, 0)->qdisc);

	return q && qdisc_qlen_sum(q) > 0;
}

/*
 * Does @skb hold pages of another domain?  netback grant-maps all but the
 * head of a frame from a netfront guest, and a bridge or a route in this
 * domain may forward it to us; a transfer's local list names only our
 * own memory (Xen refuses a foreign frame).
 */
static bool sgnet_skb_foreign(struct sk_buff *skb)
{
	unsigned int i;

	if (xen_page_foreign(virt_to_page(skb->data)))
		return true;
	for (i = 0; i < skb_shinfo(skb)->nr_frags; i++)
		if (xen_page_foreign(skb_frag_page(&skb_shinfo(skb)->frags[i])))
			return true;
	return false;
}

/*
 * Is this frame part of a one-way stream, to be held for the ones after
 * it (tx lock held)?  Only with tx_coalesce_us set, for a frame that is not
 * a GSO one (a 64 KiB frame already makes its transfer worth it), sent
 * within tx_coalesce_us of the last transfer hypercall, with no frame
 * received since: a lone frame, and a request or a reply in a
 * request/response exchange, go at once.
 */
static bool sgnet_tx_streaming(struct sgnet_info *info, struct sk_buff *skb,
			       unsigned int coalesce)
{
	if (!coalesce || skb_is_gso(skb))
		return false;
	if (READ_ONCE(info->rx_seq) != info->tx_rx_seq)
		return false;
	return ktime_before(ktime_get(), ktime_add_us(info->tx_flushed_at,
						      coalesce));
}

static netdev_tx_t sgnet_start_xmit(struct sk_buff *skb,
				    struct net_device *dev)
{
	struct sgnet_info *info = netdev_priv(dev);
	unsigned int slot = info->tx_n, f = info->tx_frames, delay, coalesce;
	bool more, backlog, stream;
	int err;

	if (unlikely(!info->connected || f >= SGNET_TX_BATCH ||
		     !sgnet_tx_fits(info, skb)))
		goto drop;
	/* Another domain's pages: send a copy in our own memory instead. */
	if (unlikely(sgnet_skb_foreign(skb))) {
		struct sk_buff *copy = skb_copy(skb, GFP_ATOMIC);

		if (!copy)
			goto drop;
		sgnet_tx_count(info, SGNET_TX_FOREIGN, 1);
		dev_consume_skb_any(skb);
		skb = copy;
	}
	if (skb->ip_summed == CHECKSUM_PARTIAL && !info->peer_csum &&
	    skb_checksum_help(skb))
		goto drop;
	/* Small after small: a record in the last op's buffer. */
	if (sgnet_tx_can_pack(info, skb) &&
	    !sgnet_tx_fill(info, slot - 1, f, skb, true))
		goto queued;
	err = sgnet_tx_fill(info, slot, f, skb, false);
	if (err == -E2BIG) {
		/* Too many pieces: a linear skb needs one per page. */
		if (skb_linearize(skb))
			goto drop;
		err = sgnet_tx_fill(info, slot, f, skb, false);
	}
	if (err)
		goto drop;
	/*
	 * Frames fill the peer's buffers in ring order, which it drains.  The
	 * buffer is handed out from here (sgnet_rx_names): counted before
	 * the transfer, so that the peer's name for it cannot come first.
	 */
	info->tx_op[slot].reg_id = info->peer_rx[info->tx_next];
	info->tx_peer_idx[slot] = info->tx_next;
	atomic_add_unless(&info->peer_out[info->tx_next], 1,
			  SGNET_PEER_OUT_MAX);
	info->tx_next = (info->tx_next + 1) % info->nr_peer_rx;
	info->tx_n++;
queued:
	skb_tx_timestamp(skb);
	info->tx_frames++;
	/*
	 * Send when the batch is full; else wait while the stack has more:
	 * xmit_more, or frames in the qdisc (which, without BQL, hands them
	 * over one by one: a backlog, the queue woken after a stall), then
	 * for at most tx_delay_us; or, in a one-way stream (the application
	 * hands frames over one at a time, the qdisc stays empty), for at
	 * most tx_coalesce_us.  A lone frame goes at once.
	 */
	delay = min(READ_ONCE(tx_delay_us), 10000U);
	coalesce = min(READ_ONCE(tx_coalesce_us), 10000U);
	more = netdev_xmit_more();
	backlog = !more && delay && sgnet_tx_backlog(dev);
	stream = !more && !backlog && sgnet_tx_streaming(info, skb, coalesce);
	if (info->tx_frames >= clamp_t(unsigned int, READ_ONCE(tx_batch), 1,
				       SGNET_TX_BATCH) ||
	    netif_queue_stopped(dev) || (!more && !backlog && !stream)) {
		sgnet_tx_flush(info);
	} else if (stream) {
		/*
		 * The frame waits here, not in the socket: release its
		 * send-buffer charge, or a sender with a small one (ping's
		 * is about one frame) finds it full and stops sending.
		 */
		skb_orphan(skb);
		sgnet_tx_count(info, SGNET_TX_COALESCED, 1);
		if (!hrtimer_is_queued(&info->tx_timer))
			hrtimer_start(&info->tx_timer,
				      ns_to_ktime(coalesce * NSEC_PER_USEC),
				      HRTIMER_MODE_REL_SOFT);
	} else if (backlog && !hrtimer_is_queued(&info->tx_timer)) {
		hrtimer_start(&info->tx_timer, ns_to_ktime(delay * NSEC_PER_USEC),
			      HRTIMER_MODE_REL_SOFT);
	}
	return NETDEV_TX_OK;

drop:
	sgnet_tx_count(info, SGNET_TX_DROPPED, 1);
	dev_kfree_skb_any(skb);
	return NETDEV_TX_OK;
}

/* The batch waited tx_delay_us: send it (softirq). */
enum hrtimer_restart sgnet_tx_timer(struct hrtimer *timer)
{
	struct sgnet_info *info = container_of(timer, struct sgnet_info,
					       tx_timer);

	netif_tx_lock(info->dev);
	if (info->connected)
		sgnet_tx_flush(info);
	netif_tx_unlock(info->dev);
	return HRTIMER_NORESTART;
}

/* The peer re-armed buffers: send what waits, then let the stack go on. */
static void sgnet_credit_granted(struct sgnet_info *info)
{
	struct net_device *dev = info->dev;

	netif_tx_lock(dev);
	if (info->connected) {
		info->tx_stalled = false;
		sgnet_tx_flush(info);
		if (!info->tx_stalled)
			sgnet_tx_resume(info);
	}
	netif_tx_unlock(dev);
}

/*
 * The stall watchdog, transmit side (tx lock held): the peer has accepted
 * no op for stall_timeout_ms since the queue stopped, whatever it granted
 * (a peer that triggers our grant address without re-arming its buffers
 * makes us retry and ask again, but that is no progress).  The first
 * time, free the queued frames (their ops stay queued as fillers, so that
 * the peer's ring keeps its order) and turn the carrier off, so that the
 * stack stops queueing for a peer that does not take anything.  Then, and
 * at every later timeout, probe: retry the queued ops (a peer may have
 * re-armed its buffers without a grant) and ask for credit again.  The
 * carrier comes back with the first grant or probe that goes through.
 */
static void sgnet_tx_stall_expired(struct sgnet_info *info)
{
	struct net_device *dev = info->dev;

	if (!info->tx_timed_out) {
		info->tx_timed_out = true;
		sgnet_tx_count(info, SGNET_TX_TIMEOUTS, 1);
		sgnet_tx_drop_skbs(info);
		netif_carrier_off(dev);
		netdev_warn(dev, "no credit from domain %u for %u ms: carrier off\n",
			    info->peer, READ_ONCE(stall_timeout_ms));
	}
	/* The next probe one timeout from now, unless an op goes through. */
	info->tx_stalled_at = jiffies;
	info->tx_stalled = false;
	sgnet_tx_flush(info);
	if (!info->tx_stalled)
		sgnet_tx_resume(info);
}

/*
 * ndo_tx_timeout: the stack's watchdog saw the queue stopped for twice
 * stall_timeout_ms with the carrier on (tx lock held).  sgnet's own
 * watchdog acts at stall_timeout_ms and turns the carrier off, so this is
 * a backstop only: the stack's watchdog WARNs first, and a peer must not be
 * able to raise a WARN (panic_on_warn) by keeping its buffers.
 */
static void sgnet_tx_timeout(struct net_device *dev, unsigned int txqueue)
{
	struct sgnet_info *info = netdev_priv(dev);

	if (info->connected && info->tx_stalled)
		sgnet_tx_stall_expired(info);
}

/* --- receive -------------------------------------------------------------- */

/* Copy @len bytes at @off of receive buffer @buf to @to. */
static void sgnet_rx_copy(const struct sgnet_rxbuf *buf, unsigned int off,
			  void *to, unsigned int len)
{
	while (len) {
		unsigned int o = offset_in_page(off);
		unsigned int chunk = min_t(unsigned int, len, PAGE_SIZE - o);

		memcpy(to, page_address(buf->pages[off >> PAGE_SHIFT]) + o,
		       chunk);
		to += chunk;
		off += chunk;
		len -= chunk;
	}
}

/*
 * A copy of the frame at @off in @buf: small frames in one linear skb,
 * larger ones with their headers linear and the rest in page fragments.
 */
static struct sk_buff *sgnet_rx_skb(struct sgnet_info *info,
				    const struct sgnet_rxbuf *buf,
				    unsigned int off, unsigned int len)
{
	unsigned int head = len <= SGNET_RX_COPY ? len : SGNET_RX_HEAD;
	struct sk_buff *skb;
	int nr = 0;

	skb = napi_alloc_skb(&info->napi, head);
	if (!skb)
		return NULL;
	sgnet_rx_copy(buf, off, skb_put(skb, head), head);
	off += head;
	len -= head;
	while (len) {
		unsigned int chunk = min_t(unsigned int, len, PAGE_SIZE);
		struct page *page = dev_alloc_page();

		if (!page) {
			kfree_skb(skb);
			return NULL;
		}
		sgnet_rx_copy(buf, off, page_address(page), chunk);
		skb_add_rx_frag(skb, nr++, page, 0, chunk, PAGE_SIZE);
		off += chunk;
		len -= chunk;
	}
	return skb;
}

/*
 * One copy (rx_lend): the frame in @buf goes up as it lies.  Its first
 * SGNET_RX_HEAD bytes are copied into the skb's linear part, so the headers
 * the stack parses are a copy of our own (GRO reads a fragment's headers in
 * place only when nothing is linear); the rest is page fragments of the
 * buffer itself, one page reference each.  The buffer goes back to the
 * peer only once the stack has dropped them all (sgnet_rx_done): until
 * then the peer cannot write those pages, its registration is consumed
 * (ONESHOT).  NULL: copy it instead.
 */
static struct sk_buff *sgnet_rx_lend(struct sgnet_info *info,
				     struct sgnet_rxbuf *buf, unsigned int len)
{
	unsigned int off = SGNET_HDR_LEN + SGNET_RX_HEAD;
	unsigned int end = SGNET_HDR_LEN + len;
	struct sk_buff *skb;
	int nr = 0;

	if (PFN_UP(end) - (off >> PAGE_SHIFT) > MAX_SKB_FRAGS)
		return NULL;
	skb = napi_alloc_skb(&info->napi, SGNET_RX_HEAD);
	if (!skb)
		return NULL;
	sgnet_rx_copy(buf, SGNET_HDR_LEN, skb_put(skb, SGNET_RX_HEAD),
		      SGNET_RX_HEAD);
	while (off < end) {
		unsigned int o = offset_in_page(off);
		unsigned int chunk = min_t(unsigned int, end - off, PAGE_SIZE - o);
		struct page *page = buf->pages[off >> PAGE_SHIFT];

		get_page(page);
		skb_add_rx_frag(skb, nr++, page, o, chunk, PAGE_SIZE);
		off += chunk;
	}
	buf->lent = PFN_UP(end);
	info->rx_lent++;
	return skb;
}

/*
 * Has the stack dropped every page of @buf we lent it?  Each page is ours
 * alone but for those references (Xen's pin is not a struct page
 * reference), so a count of 1 is our own.
 */
static bool sgnet_rx_buf_back(const struct sgnet_rxbuf *buf)
{
	unsigned int p;

	for (p = 0; p < buf->lent; p++)
		if (page_ref_count(buf->pages[p]) != 1)
			return false;
	return true;
}

/* Does this side take GSO frames (sgnet_publish: feature-gso-tcpv4/6)? */
bool sgnet_rx_gso_offered(const struct sgnet_info *info)
{
	return info->rx_pages * PAGE_SIZE >= SGNET_HDR_LEN + SGNET_MAX_FRAME;
}

/*
 * A frame's header (our copy of it) may say only what this side offered in
 * xenstore: checksums left to us (feature-csum), TCPv4/v6 GSO if the
 * buffers hold the largest frame, no ECN or UDP GSO, no flags but
 * SGNET_HDR_F_MORE (none with rx_counters off), no reserved bits, offsets
 * within the frame.  virtio_net_hdr_to_skb() checks the
 * rest against the packet itself.
 */
static bool sgnet_rx_hdr_ok(const struct sgnet_info *info,
			    const struct sgnet_hdr *hdr, u32 len)
{
	const struct virtio_net_hdr *v = &hdr->vnet;
	u16 hdr_len = __virtio16_to_cpu(true, v->hdr_len);
	u16 gso_size = __virtio16_to_cpu(true, v->gso_size);
	u16 csum_start = __virtio16_to_cpu(true, v->csum_start);
	u16 csum_offset = __virtio16_to_cpu(true, v->csum_offset);

	if ((hdr->flags & ~cpu_to_le32(SGNET_HDR_F_MORE)) ||
	    (info->plain && hdr->flags) || hdr->reserved[0] ||
	    hdr->reserved[1] || hdr->reserved[2])
		return false;
	if (v->flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM |
			 VIRTIO_NET_HDR_F_DATA_VALID))
		return false;
	if (v->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (v->flags & VIRTIO_NET_HDR_F_DATA_VALID ||
		    (u32)csum_start + csum_offset + sizeof(__sum16) > len)
			return false;
	} else if (csum_start || csum_offset) {
		return false;
	}
	switch (v->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return !gso_size && !hdr_len;
	case VIRTIO_NET_HDR_GSO_TCPV4:
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return sgnet_rx_gso_offered(info) &&
		       (v->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		       gso_size && gso_size <= len && hdr_len <= len;
	default:
		return false;
	}
}

/*
 * The peer names in a frame's header the buffers of its own it re-armed
 * (sgnet_hdr.returned; NAPI).  A name counts only for a buffer in range
 * that we handed out more often than the peer named it, counting at most
 * SGNET_PEER_OUT_MAX unnamed (a peer that merged names owes fewer than we
 * handed out, so that a liar cannot spend them): never handed out, or named
 * twice for one frame, is a lie.  Lies are counted and ignored; they cost
 * us nothing, as Xen's ONESHOT, not the name, decides whether our next
 * transfer goes in.  A buffer named with none of our frames left in it is
 * free: a sender stalled on it may go on (sgnet_rx_names_credit).
 */
static void sgnet_rx_names(struct sgnet_info *info, u64 names)
{
	unsigned int nr = READ_ONCE(info->nr_peer_rx), i, ok = 0;
	bool bad = false;

	for (i = 0; names; i++, names >>= 1) {
		if (!(names & 1))
			continue;
		if (i >= nr || atomic_dec_if_positive(&info->peer_out[i]) < 0) {
			bad = true;
			continue;
		}
		ok++;
		if (!atomic_read(&info->peer_out[i]))
			info->rx_names_free |= BIT_ULL(i);
	}
	if (ok)
		sgnet_rx_count(info, SGNET_RX_PEER_RETURNED, ok);
	if (bad) {
		sgnet_rx_count(info, SGNET_RX_PEER_RETURN_INVALID, 1);
		net_warn_ratelimited("%s: domain %u returned buffers it was not given\n",
				     info->dev->name, info->peer);
	}
}

/*
 * The transmit queue stalled on a peer buffer (op 0's) that the peer has
 * now named returned: go on as for a credit grant, which still follows
 * our request (NAPI).
 */
static void sgnet_rx_names_credit(struct sgnet_info *info)
{
	u64 free = info->rx_names_free;
	struct net_device *dev = info->dev;

	info->rx_names_free = 0;
	if (!free || !READ_ONCE(info->tx_stalled))
		return;
	netif_tx_lock(dev);
	if (info->connected && info->tx_stalled && info->tx_n &&
	    (free & BIT_ULL(info->tx_peer_idx[0]))) {
		info->tx_stalled = false;
		sgnet_tx_flush(info);
		if (!info->tx_stalled)
			sgnet_tx_resume(info);
	}
	netif_tx_unlock(dev);
}

/*
 * Buffer @i is consumed (its counter and length reset): it goes back with
 * the next return, in-band (sgnet_tx_call) or out-of-band (sgnet_rx_return),
 * whichever comes first, from any context.  Only once nobody but us reads
 * its pages any more: from here on the peer may write them again.
 */
static void sgnet_rx_consumed(struct sgnet_info *info, unsigned int i)
{
	smp_mb__before_atomic(); /* the resets before any rearm */
	atomic64_or(BIT_ULL(i), &info->rx_ret_ready);
}

/*
 * @buf is consumed: it goes back now (sgnet_rx_consumed), or, while the
 * stack holds pages of it we lent, it is held until the stack lets them go
 * (sgnet_rx_reclaim).  (The header's bytes are in no fragment of a lent
 * buffer: fragments start after the linear copy, so resetting its length
 * above is ours to do.)
 */
static void sgnet_rx_done(struct sgnet_info *info, struct sgnet_rxbuf *buf)
{
	if (buf->lent && !sgnet_rx_buf_back(buf)) {
		buf->held = true;
		info->rx_held++;
		sgnet_rx_count(info, SGNET_RX_HELD, 1);
		return;
	}
	if (buf->lent) {
		buf->lent = 0;
		info->rx_lent--;
	}
	sgnet_rx_consumed(info, buf - info->rx);
}

/*
 * The held buffers the stack has let go of go back to the peer (NAPI).
 * Our reading of a page's count (1: the stack made its last put_page, a
 * fully ordered atomic, after its last read) comes before the rearm:
 * sgnet_rx_consumed() orders it before the buffer is marked ready.
 */
static void sgnet_rx_reclaim(struct sgnet_info *info)
{
	unsigned int i;

	for (i = 0; info->rx_held && i < info->nr_rx; i++) {
		struct sgnet_rxbuf *buf = &info->rx[i];

		if (!buf->held || !sgnet_rx_buf_back(buf))
			continue;
		buf->held = false;
		info->rx_held--;
		buf->lent = 0;
		info->rx_lent--;
		sgnet_rx_consumed(info, i);
	}
}

/* Consumed buffers not yet returned. */
static unsigned int sgnet_rx_pending(struct sgnet_info *info)
{
	return hweight64(atomic64_read(&info->rx_ret_ready));
}

/*
 * Deliver the frame of the record whose header is @hdr (our copy, checked),
 * @len bytes at @off in @buf.  @single: the buffer's only record, which
 * may be lent (rx_lend); a packed one is always copied.  False: the peer's
 * header did not fit the frame (counted), the buffer's records end here.
 */
static bool sgnet_rx_frame(struct sgnet_info *info, struct sgnet_rxbuf *buf,
			   struct sgnet_hdr *hdr, unsigned int off, u32 len,
			   bool single)
{
	unsigned int lend = READ_ONCE(rx_lend);
	struct sk_buff *skb = NULL;

	if (single && len > SGNET_RX_COPY && lend) {
		if (info->rx_lent < min(lend, info->nr_rx))
			skb = sgnet_rx_lend(info, buf, len);
		else
			sgnet_rx_count(info, SGNET_RX_LEND_FULL, 1);
	}
	if (skb) {
		sgnet_rx_count(info, SGNET_RX_LENT, 1);
	} else {
		skb = sgnet_rx_skb(info, buf, off, len);
		if (!skb) {
			sgnet_rx_count(info, SGNET_RX_DROPPED, 1);
			return true;
		}
		sgnet_rx_count(info, SGNET_RX_COPIED, 1);
	}
	if ((hdr->vnet.flags & VIRTIO_NET_HDR_F_DATA_VALID) &&
	    (info->dev->features & NETIF_F_RXCSUM))
		skb->ip_summed = CHECKSUM_UNNECESSARY;
	if (virtio_net_hdr_to_skb(skb, &hdr->vnet, true)) {
		net_warn_ratelimited("%s: bad checksum/GSO header from the peer\n",
				     info->dev->name);
		sgnet_rx_count(info, SGNET_RX_ERRORS, 1);
		kfree_skb(skb);
		return false;
	}
	skb->protocol = eth_type_trans(skb, info->dev);
	sgnet_rx_count(info, SGNET_RX_PACKETS, 1);
	sgnet_rx_count(info, SGNET_RX_BYTES, len);
	if (skb_is_gso(skb))
		sgnet_rx_count(info, SGNET_RX_GSO, 1);
	if (skb->ip_summed == CHECKSUM_PARTIAL)
		sgnet_rx_count(info, SGNET_RX_CSUM, 1);
	napi_gro_receive(&info->napi, skb);
	return true;
}

/*
 * Is record @nr (from 0) of a buffer of @size bytes, at @off, with header
 * @hdr (our copy; it lies within the buffer) and frame length @len, one we
 * take?  NULL if so, else what is wrong with it.
 */
static const char *sgnet_rx_record_bad(const struct sgnet_info *info,
				       const struct sgnet_hdr *hdr,
				       unsigned int size, unsigned int off,
				       unsigned int nr, u32 len)
{
	if (len < ETH_HLEN || len > SGNET_MAX_FRAME)
		return "frame length";
	if (len > size - off - SGNET_HDR_LEN)
		return "record past the buffer's end";
	if (!sgnet_rx_hdr_ok(info, hdr, len))
		return "header not offered";
	/* Only the first header names buffers returned. */
	if (nr && hdr->returned)
		return "names returned after the first record";
	return NULL;
}

/*
 * Take filled buffer @buf: its records in order, each checked (our copy of
 * its header) and its frame delivered, until the last or the first one
 * refused; then reset and return the buffer.  Returns the frames
 * delivered, at least 1 (the poll's work).
 */
static unsigned int sgnet_rx_one(struct sgnet_info *info,
				 struct sgnet_rxbuf *buf)
{
	struct sgnet_hdr *shared = page_address(buf->pages[0]);
	unsigned int size = info->rx_pages * PAGE_SIZE, off = 0, nr = 0;
	struct sgnet_hdr first, hdr;
	const char *bad;
	u32 len;

	/*
	 * One copy of each header, and only the copy is used: the peer cannot
	 * transfer into a consumed buffer, but it can trigger byte 0 (which
	 * makes the buffer look full) while a transfer of its own still
	 * writes it, so the shared header may change under us.  The barrier
	 * keeps the compiler from reading the shared one again.
	 */
	memcpy(&first, shared, sizeof(first));
	barrier();
	sgnet_rx_count(info, SGNET_RX_BUFFERS, 1);
	sgnet_rx_names(info, le64_to_cpu(first.returned));
	hdr = first;
	for (;;) {
		bool more = hdr.flags & cpu_to_le32(SGNET_HDR_F_MORE);

		len = le32_to_cpu(hdr.len);
		bad = sgnet_rx_record_bad(info, &hdr, size, off, nr, len);
		if (bad) {
			net_warn_ratelimited("%s: %s (%u) in record %u from domain %u\n",
					     info->dev->name, bad, len, nr,
					     info->peer);
			sgnet_rx_count(info, SGNET_RX_ERRORS, 1);
			break;
		}
		if (!sgnet_rx_frame(info, buf, &hdr, off + SGNET_HDR_LEN, len,
				    !nr && !more))
			break;
		nr++;
		if (!more)
			break;
		/* The next header, wholly within the buffer, or none. */
		off = ALIGN(off + SGNET_HDR_LEN + len, SGNET_REC_ALIGN);
		if (nr >= SGNET_MAX_RECORDS || off + SGNET_HDR_LEN > size) {
			net_warn_ratelimited("%s: record %u past the buffer's end or the %u records from domain %u\n",
					     info->dev->name, nr,
					     SGNET_MAX_RECORDS, info->peer);
			sgnet_rx_count(info, SGNET_RX_ERRORS, 1);
			break;
		}
		sgnet_rx_copy(buf, off, &hdr, sizeof(hdr));
		barrier();
	}
	if (nr > 1)
		sgnet_rx_count(info, SGNET_RX_PACKED, nr - 1);
	/*
	 * Counted only, never used: did the peer write the first header while
	 * we copied the frames?  A peer that keeps to the protocol cannot
	 * (its transfer consumed the buffer before it triggered); one that
	 * triggers first and transfers after can.
	 */
	if (memcmp(shared, &first, sizeof(first)))
		sgnet_rx_count(info, SGNET_RX_HDR_CHANGED, 1);
	/*
	 * Consumed: reset the counter and the first length now and return the
	 * buffer with the next batch.  No transfer can fill it before the
	 * rearm; a bare trigger of byte 0 (a hostile peer) makes it look full
	 * when the poll comes round to it, and length 0 is then an error, not
	 * these frames again (the records after the first are reached only
	 * through it).
	 */
	sgnet_rx_reset(info, buf, le32_to_cpu(first.len));
	sgnet_rx_done(info, buf);
	return max(nr, 1U);
}

/*
 * Re-arm our receive buffers @bits (ring indices) with one rearm, or one
 * multicall of rearms for all of them: an out-of-band return.
 */
static void sgnet_rx_rearm_bits(struct sgnet_info *info, u64 bits)
{
	unsigned int n, i, errors = 0;
	long rc;

	if (!bits)
		return;
	n = sgnet_rearm_calls(info, bits, info->rx_mc, info->rx_ret_id);
	sgnet_rx_count(info, SGNET_RX_HYPERCALLS, 1);
	sgnet_rx_count(info, SGNET_RX_RETURN_CALLS, 1);
	sgnet_rx_count(info, SGNET_RX_RETURNED, n);
	if (n == 1) {
		if (sgnet_id_op(XEN_SGOP_rearm, info->rx_ret_id[0].id))
			sgnet_rx_count(info, SGNET_RX_RETURN_ERRORS, 1);
		return;
	}
	rc = HYPERVISOR_multicall(info->rx_mc, n);
	for (i = 0; i < n; i++)
		if (rc || info->rx_mc[i].result)
			errors++;
	if (errors) {
		netdev_warn_once(info->dev, "returning buffers: %ld/%ld\n",
				 rc, (long)info->rx_mc[0].result);
		sgnet_rx_count(info, SGNET_RX_RETURN_ERRORS, errors);
	}
}

/*
 * Return the consumed buffers to the peer out-of-band, now: those the
 * transmit path has not taken in-band.  The next frame we send names them
 * (sgnet_hdr.returned).
 */
static void sgnet_rx_return(struct sgnet_info *info)
{
	u64 bits = atomic64_xchg(&info->rx_ret_ready, 0);

	if (!bits)
		return;
	sgnet_rx_rearm_bits(info, bits);
	if (READ_ONCE(rx_return_inband))
		atomic64_or(bits, &info->rx_ret_news);
}

/*
 * A credit request while the buffer the sender waits for (rx_scan's: the
 * ring came round to it) is still lent: the grant waits for the stack to
 * let it go, polling every millisecond (the stack says nothing when it
 * drops a page).  The request counter is reset meanwhile, so that the
 * poll's recheck does not spin on it; grant_held remembers it.  A socket
 * that keeps the pages (its reader stopped) would stop the link for good:
 * after SGNET_LEND_WAIT_MS the link sets up again with new buffers
 * (sgnet_reconfigure), and the old pages go with their last skb.
 */
static void sgnet_rx_grant_wait(struct sgnet_info *info)
{
	WRITE_ONCE(*info->request_counter, 1);
	if (!info->grant_held) {
		info->grant_held = true;
		info->grant_held_since = jiffies;
		sgnet_rx_count(info, SGNET_RX_GRANTS_HELD, 1);
	} else if (time_after(jiffies, info->grant_held_since +
			      msecs_to_jiffies(SGNET_LEND_WAIT_MS)) &&
		   schedule_work(&info->reconfig)) {
		sgnet_rx_count(info, SGNET_RX_LEND_RESETS, 1);
		net_warn_ratelimited("%s: a received frame held for %u ms stops domain %u: new buffers\n",
				     info->dev->name, SGNET_LEND_WAIT_MS,
				     info->peer);
	}
	hrtimer_start(&info->rx_lend_timer, ms_to_ktime(1),
		      HRTIMER_MODE_REL_SOFT);
}

/* A grant waits for a lent buffer: poll again (softirq). */
enum hrtimer_restart sgnet_rx_lend_timer(struct hrtimer *timer)
{
	struct sgnet_info *info = container_of(timer, struct sgnet_info,
					       rx_lend_timer);

	napi_schedule(&info->napi);
	return HRTIMER_NORESTART;
}

/*
 * A credit request with nothing consumed and nothing to return: the peer
 * found busy the buffer we wait for (rx_scan), which we hold armed.  A
 * peer that transfers without a trigger, out of turn, consumes a buffer
 * we never see filled; its sender would then ask for credit, get it and
 * find the buffer busy again, forever, and both domains spin.  Re-arm
 * that buffer (a rearm of an armed one does nothing); what the peer wrote
 * into it is overwritten by its retry.
 */
static void sgnet_rx_rearm_scan(struct sgnet_info *info)
{
	/* Never one whose pages the stack may still read. */
	if (info->rx[info->rx_scan].lent)
		return;
	sgnet_rx_count(info, SGNET_RX_HYPERCALLS, 1);
	sgnet_rx_count(info, SGNET_CREDIT_REARMS, 1);
	if (sgnet_id_op(XEN_SGOP_rearm, info->rx[info->rx_scan].id))
		sgnet_rx_count(info, SGNET_RX_RETURN_ERRORS, 1);
}

unsigned long sgnet_stall_jiffies(void)
{
	return max(msecs_to_jiffies(READ_ONCE(stall_timeout_ms)), 1UL);
}

/*
 * How far after rx_scan the first full buffer is, if rx_scan's is empty
 * (0: none).  Read racily by the watchdog, for certain in NAPI.
 */
static unsigned int sgnet_rx_gap(struct sgnet_info *info)
{
	unsigned int scan = READ_ONCE(info->rx_scan), i;

	if (sgnet_rx_full(info, &info->rx[scan]))
		return 0;
	for (i = 1; i < info->nr_rx; i++)
		if (sgnet_rx_full(info, &info->rx[(scan + i) % info->nr_rx]))
			return i;
	return 0;
}

/*
 * The stall watchdog, receive side (NAPI): the buffer at rx_scan is empty
 * while a later one is full.  For a moment that is normal (the peer got
 * -EBUSY for it and retries after our grant); a peer whose transfer failed
 * (a failed batch, an -ENOENT without a filler) never fills it, and would
 * stop delivery for good.  Once the same gap has lasted stall_timeout_ms,
 * skip the empty buffers (rx_gaps counts them), re-arm them and go on.
 * Whatever the peer writes there later comes up on the next round of the
 * ring.
 */
static bool sgnet_rx_skip_gap(struct sgnet_info *info)
{
	unsigned int n = sgnet_rx_gap(info), i;
	u64 skipped = 0;

	if (!n) {
		info->rx_gap_seen = false;
		return false;
	}
	if (!info->rx_gap_seen || info->rx_gap_at != info->rx_scan) {
		info->rx_gap_seen = true;
		info->rx_gap_at = info->rx_scan;
		info->rx_gap_since = jiffies;
		return false;
	}
	if (time_before(jiffies, info->rx_gap_since + sgnet_stall_jiffies()))
		return false;
	/* A lent buffer is never re-armed here: see sgnet_rx_reclaim(). */
	for (i = 0; i < n; i++)
		if (info->rx[(info->rx_scan + i) % info->nr_rx].lent)
			return false;
	/*
	 * The consumed buffers before rx_scan go back before it moves; the
	 * skipped ones are taken as consumed and go back at once (a peer may
	 * have filled one without a trigger: a rearm of an armed buffer does
	 * nothing).
	 */
	sgnet_rx_return(info);
	for (i = 0; i < n; i++) {
		struct sgnet_rxbuf *buf = &info->rx[info->rx_scan];
		struct sgnet_hdr *hdr = page_address(buf->pages[0]);

		sgnet_rx_reset(info, buf, le32_to_cpu(READ_ONCE(hdr->len)));
		skipped |= BIT_ULL(info->rx_scan);
		info->rx_scan = (info->rx_scan + 1) % info->nr_rx;
	}
	/* Not consumed: re-armed, but never named to the peer. */
	smp_mb(); /* the resets before the rearms */
	sgnet_rx_rearm_bits(info, skipped);
	info->rx_gap_seen = false;
	sgnet_rx_count(info, SGNET_RX_GAPS, n);
	net_warn_ratelimited("%s: %u receive buffers left empty by domain %u: skipped\n",
			     info->dev->name, n, info->peer);
	return true;
}

/*
 * Every quarter of stall_timeout_ms while connected: a transmit queue
 * stalled for too long (sgnet_tx_stall_expired), a gap in the receive ring
 * (a poll, which decides: sgnet_rx_skip_gap).
 */
void sgnet_watchdog(struct work_struct *work)
{
	struct sgnet_info *info = container_of(to_delayed_work(work),
					       struct sgnet_info, watchdog);
	struct net_device *dev = info->dev;
	unsigned long timeout = sgnet_stall_jiffies();
	bool connected;

	netif_tx_lock_bh(dev);
	connected = info->connected;
	if (connected && info->tx_stalled &&
	    time_after_eq(jiffies, info->tx_stalled_at + timeout))
		sgnet_tx_stall_expired(info);
	netif_tx_unlock_bh(dev);
	if (!connected)
		return;
	if (!READ_ONCE(info->rx_paused) && sgnet_rx_gap(info)) {
		local_bh_disable();
		napi_schedule(&info->napi);
		local_bh_enable();
	}
	schedule_delayed_work(&info->watchdog, max(timeout / 4, 1UL));
}

/* Rounds a poll makes for what fired after it looked, before it yields. */
#define SGNET_POLL_RECHECKS	4

/* Has what a poll serves fired: the buffer it waits for, a grant, a request? */
static bool sgnet_poll_more(const struct sgnet_info *info)
{
	return sgnet_rx_full(info, &info->rx[info->rx_scan]) ||
	       READ_ONCE(*info->grant_counter) <= 0 ||
	       (info->peer_ctrl && READ_ONCE(*info->request_counter) <= 0);
}

int sgnet_poll(struct napi_struct *napi, int budget)
{
	struct sgnet_info *info = container_of(napi, struct sgnet_info, napi);
	bool paused = READ_ONCE(info->rx_paused);
	unsigned int scanned, batch, rechecks = 0;
	int work = 0;

	/* Pairs with sgnet_setup_local(): the buffers are set up. */
	if (!smp_load_acquire(&info->local_ready)) {
		napi_complete_done(napi, 0);
		return 0;
	}
	batch = clamp_t(unsigned int, READ_ONCE(rx_return), 1, info->nr_rx);
	sgnet_rx_count(info, SGNET_RX_POLLS, 1);
	sgnet_rx_reclaim(info);
recheck:
	if (READ_ONCE(*info->grant_counter) <= 0) {
		WRITE_ONCE(*info->grant_counter, 1);
		sgnet_credit_granted(info);
	}
again:
	for (scanned = 0; !paused && scanned < info->nr_rx && work < budget;
	     scanned++) {
		struct sgnet_rxbuf *buf = &info->rx[info->rx_scan];

		/*
		 * The peer fills the buffers in ring order: until this one
		 * is full, a later one (an op that overtook a retried one)
		 * waits, so frames come up in the order they were sent.
		 */
		if (!sgnet_rx_full(info, buf))
			break;
		/*
		 * Still lent (the ring came round to it): the peer cannot have
		 * filled it, its registration is consumed until we re-arm it.
		 * A bare trigger of it is ignored, and the counter is ready
		 * for the fill after the rearm.
		 */
		if (buf->lent) {
			if (!info->plain)
				WRITE_ONCE(*buf->counter, 1);
			break;
		}
		/*
		 * Xen copied the data before it counted the trigger (or, with
		 * rx_counters off, before the trailer).
		 */
		virt_rmb();
		info->rx_scan = (info->rx_scan + 1) % info->nr_rx;
		work += sgnet_rx_one(info, buf);
		if (sgnet_rx_pending(info) >= batch)
			sgnet_rx_return(info);
	}
	sgnet_rx_names_credit(info);
	if (work)
		WRITE_ONCE(info->rx_seq, info->rx_seq + 1);
	if (work >= budget)
		return budget;
	if (paused)
		info->rx_gap_seen = false;
	else if (sgnet_rx_skip_gap(info))
		goto again;

	if ((READ_ONCE(*info->request_counter) <= 0 || info->grant_held) &&
	    info->peer_ctrl) {
		bool drained = !work && !sgnet_rx_pending(info) &&
			       !info->grant_held;

		if (!info->request_seen) {
			info->request_seen = true;
			sgnet_rx_count(info, SGNET_CREDIT_REQUESTS_RECEIVED, 1);
		}
		/* Every buffer drained (unless paused): return them, grant. */
		if (!paused) {
			sgnet_rx_reclaim(info);
			sgnet_rx_return(info);
		}
		if (!paused && info->rx[info->rx_scan].held) {
			sgnet_rx_grant_wait(info);
		} else if (!paused) {
			if (drained)
				sgnet_rx_rearm_scan(info);
			WRITE_ONCE(*info->request_counter, 1);
			info->request_seen = false;
			info->grant_held = false;
			sgnet_rx_count(info, SGNET_CREDIT_GRANTS, 1);
			sgnet_rx_count(info, SGNET_RX_HYPERCALLS, 1);
			if (sgnet_trigger_peer(info, SGNET_CTRL_GRANT))
				sgnet_rx_count(info, SGNET_RX_ERRORS, 1);
		}
	}
	/*
	 * The port is masked (late EOI): what fired since the interrupt set
	 * it pending, and this poll took that.  Clear it, then look at the
	 * counters again (virtio's enable_cb, then recheck): one that fired
	 * before the clear is taken now, one after it sets the port pending
	 * again and raises an upcall at the unmask.  So the unmask finds the
	 * port pending only for a new event: no EVTCHNOP_unmask and no
	 * spurious upcall for events this poll already served.  Only the
	 * buffer the poll waits for counts: a later one (a gap) it cannot
	 * take; the watchdog polls while it sees one.
	 */
	if (info->lateeoi && !paused && READ_ONCE(rx_recheck)) {
		xen_clear_irq_pending(info->irq);
		smp_mb(); /* the clear before the counters are read */
		if (sgnet_poll_more(info)) {
			sgnet_rx_count(info, SGNET_RX_RECHECKS, 1);
			if (++rechecks < SGNET_POLL_RECHECKS)
				goto recheck;
			/* A peer that keeps firing: poll again, not here. */
			return budget;
		}
	}
	/*
	 * Unmask: triggers since the clear raise an upcall now.  Unless the
	 * kernel defers it (napi_defer_hard_irqs and gro_flush_timeout of the
	 * interface, or a schedule missed meanwhile): it polls again from its
	 * timer and the port stays masked, so a peer's triggers meanwhile
	 * raise no upcall; the poll that completes unmasks it.
	 */
	if (napi_complete_done(napi, work)) {
		if (info->lateeoi)
			xen_irq_lateeoi(info->irq, 0);
	} else {
		sgnet_rx_count(info, SGNET_RX_POLLS_DEFERRED, 1);
	}
	return work;
}

/* --- net_device ------------------------------------------------------------ */

static int sgnet_open(struct net_device *dev)
{
	struct sgnet_info *info = netdev_priv(dev);

	napi_enable(&info->napi);
	/* A stalled sender's queue starts with the credit grant. */
	netif_tx_lock_bh(dev);
	if (info->tx_stalled)
		netif_stop_queue(dev);
	else
		netif_start_queue(dev);
	netif_tx_unlock_bh(dev);
	/* Pick up what arrived while the interface was down. */
	local_bh_disable();
	napi_schedule(&info->napi);
	local_bh_enable();
	return 0;
}

static int sgnet_close(struct net_device *dev)
{
	struct sgnet_info *info = netdev_priv(dev);

	netif_tx_disable(dev);
	napi_disable(&info->napi);
	return 0;
}

static void sgnet_get_stats64(struct net_device *dev,
			      struct rtnl_link_stats64 *s)
{
	struct sgnet_info *info = netdev_priv(dev);
	unsigned int start;

	do {
		start = u64_stats_fetch_begin(&info->tx_syncp);
		s->tx_packets = u64_stats_read(&info->tx_stats[SGNET_TX_PACKETS]);
		s->tx_bytes = u64_stats_read(&info->tx_stats[SGNET_TX_BYTES]);
		s->tx_errors = u64_stats_read(&info->tx_stats[SGNET_TX_ERRORS]);
		s->tx_dropped = u64_stats_read(&info->tx_stats[SGNET_TX_DROPPED]);
	} while (u64_stats_fetch_retry(&info->tx_syncp, start));
	do {
		start = u64_stats_fetch_begin(&info->rx_syncp);
		s->rx_packets = u64_stats_read(&info->rx_stats[SGNET_RX_PACKETS]);
		s->rx_bytes = u64_stats_read(&info->rx_stats[SGNET_RX_BYTES]);
		s->rx_errors = u64_stats_read(&info->rx_stats[SGNET_RX_ERRORS]);
		s->rx_dropped = u64_stats_read(&info->rx_stats[SGNET_RX_DROPPED]);
		s->rx_missed_errors =
			u64_stats_read(&info->rx_stats[SGNET_RX_GAPS]);
	} while (u64_stats_fetch_retry(&info->rx_syncp, start));
}

/* Offload only what the peer takes (all of it until we know the peer). */
static netdev_features_t sgnet_fix_features(struct net_device *dev,
					    netdev_features_t features)
{
	struct sgnet_info *info = netdev_priv(dev);

	if (!info->peer_known)
		return features;
	if (!info->peer_csum)
		features &= ~(NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM);
	if (!info->peer_gso_tcpv4)
		features &= ~NETIF_F_TSO;
	if (!info->peer_gso_tcpv6)
		features &= ~NETIF_F_TSO6;
	return features;
}

const struct net_device_ops sgnet_netdev_ops = {
	.ndo_open = sgnet_open,
	.ndo_stop = sgnet_close,
	.ndo_start_xmit = sgnet_start_xmit,
	.ndo_tx_timeout = sgnet_tx_timeout,
	.ndo_get_stats64 = sgnet_get_stats64,
	.ndo_fix_features = sgnet_fix_features,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
};

/* ethtool -S: what ip -s link does not show. */
static int sgnet_get_sset_count(struct net_device *dev, int sset)
{
	if (sset == ETH_SS_STATS)
		return SGNET_NR_ETHTOOL_STATS;
	return -EOPNOTSUPP;
}

static void sgnet_get_strings(struct net_device *dev, u32 sset, u8 *data)
{
	if (sset != ETH_SS_STATS)
		return;
	memcpy(data, sgnet_tx_stat_names, sizeof(sgnet_tx_stat_names));
	data += sizeof(sgnet_tx_stat_names);
	memcpy(data, sgnet_rx_stat_names, sizeof(sgnet_rx_stat_names));
	data += sizeof(sgnet_rx_stat_names);
	memcpy(data, sgnet_other_stat_names, sizeof(sgnet_other_stat_names));
}

static void sgnet_get_ethtool_stats(struct net_device *dev,
				    struct ethtool_stats *stats, u64 *data)
{
	struct sgnet_info *info = netdev_priv(dev);
	unsigned int start, i;

	do {
		start = u64_stats_fetch_begin(&info->tx_syncp);
		for (i = SGNET_TX_FIRST_PRIVATE; i < SGNET_NR_TX_STATS; i++)
			data[i - SGNET_TX_FIRST_PRIVATE] =
				u64_stats_read(&info->tx_stats[i]);
	} while (u64_stats_fetch_retry(&info->tx_syncp, start));
	data += ARRAY_SIZE(sgnet_tx_stat_names);
	do {
		start = u64_stats_fetch_begin(&info->rx_syncp);
		for (i = SGNET_RX_FIRST_PRIVATE; i < SGNET_NR_RX_STATS; i++)
			data[i - SGNET_RX_FIRST_PRIVATE] =
				u64_stats_read(&info->rx_stats[i]);
	} while (u64_stats_fetch_retry(&info->rx_syncp, start));
	data += ARRAY_SIZE(sgnet_rx_stat_names);
	data[0] = atomic_long_read(&info->interrupts);
	data[1] = atomic_long_read(&info->rx_spurious);
	data[2] = atomic_long_read(&info->pages_leaked);
}

static void sgnet_get_drvinfo(struct net_device *dev,
			      struct ethtool_drvinfo *drvinfo)
{
	struct sgnet_info *info = netdev_priv(dev);

	strscpy(drvinfo->driver, KBUILD_MODNAME, sizeof(drvinfo->driver));
	strscpy(drvinfo->bus_info, dev_name(&info->xbdev->dev),
		sizeof(drvinfo->bus_info));
}

/* The pages a receive buffer may have: a 64 KiB frame, max_elems. */
unsigned int sgnet_max_rx_pages(void)
{
	return min_t(unsigned int, SGNET_RX_MAX_PAGES, sgnet_max_elems);
}

/*
 * ethtool -g: rx is the number of receive buffers, rx-buf-len the bytes
 * of each (the 32-byte header and the frame), as the next set-up makes
 * them (RTNL held).
 */
static void sgnet_get_ringparam(struct net_device *dev,
				struct ethtool_ringparam *ring,
				struct kernel_ethtool_ringparam *kring,
				struct netlink_ext_ack *extack)
{
	struct sgnet_info *info = netdev_priv(dev);

	ring->rx_max_pending = SGNET_NR_RX;
	ring->rx_pending = info->want_nr_rx;
	kring->rx_buf_len = info->want_rx_pages * PAGE_SIZE;
}

/*
 * ethtool -G rx N rx-buf-len BYTES (RTNL held): 1 to 64 buffers of whole
 * pages, from one (no GSO offered: a 64 KiB frame does not fit) to what
 * holds a 64 KiB frame.  A connected link sets up again at once with the
 * new buffers (sgnet_reconfigure: the peer sees the new details and
 * reconnects); otherwise they come with the next set-up.
 */
static int sgnet_set_ringparam(struct net_device *dev,
			       struct ethtool_ringparam *ring,
			       struct kernel_ethtool_ringparam *kring,
			       struct netlink_ext_ack *extack)
{
	struct sgnet_info *info = netdev_priv(dev);
	unsigned int len = kring->rx_buf_len, pages = info->want_rx_pages;

	if (!ring->rx_pending) {
		NL_SET_ERR_MSG_MOD(extack, "rx: at least one receive buffer");
		return -EINVAL;
	}
	if (len) {
		if (len % PAGE_SIZE ||
		    len / PAGE_SIZE > sgnet_max_rx_pages()) {
			NL_SET_ERR_MSG_MOD(extack,
					   "rx-buf-len: whole pages, at most what holds a 64 KiB frame (17 pages)");
			return -EINVAL;
		}
		pages = len / PAGE_SIZE;
	}
	if (ring->rx_pending == info->want_nr_rx &&
	    pages == info->want_rx_pages)
		return 0;
	WRITE_ONCE(info->want_nr_rx, ring->rx_pending);
	WRITE_ONCE(info->want_rx_pages, pages);
	schedule_work(&info->reconfig);
	return 0;
}

const struct ethtool_ops sgnet_ethtool_ops = {
	.supported_ring_params = ETHTOOL_RING_USE_RX_BUF_LEN,
	.get_drvinfo = sgnet_get_drvinfo,
	.get_link = ethtool_op_get_link,
	.get_sset_count = sgnet_get_sset_count,
	.get_strings = sgnet_get_strings,
	.get_ethtool_stats = sgnet_get_ethtool_stats,
	.get_ringparam = sgnet_get_ringparam,
	.set_ringparam = sgnet_set_ringparam,
};

/*
 * debugfs: <debugfs>/sgnet/<xenbus device>/rx_paused, a switch for tests.
 * 1 stops the receive poll from consuming buffers, so that a peer that
 * keeps sending fills them, stalls and asks for credit
 * (credit_requests_received); 0 drains them and grants.
 */
static int sgnet_rx_paused_get(void *data, u64 *val)
{
	struct sgnet_info *info = data;

	*val = READ_ONCE(info->rx_paused);
	return 0;
}

static int sgnet_rx_paused_set(void *data, u64 val)
{
	struct sgnet_info *info = data;

	if (val > 1)
		return -EINVAL;
	WRITE_ONCE(info->rx_paused, val);
	if (!val && netif_running(info->dev)) {
		local_bh_disable();
		napi_schedule(&info->napi);
		local_bh_enable();
	}
	return 0;
}

DEFINE_DEBUGFS_ATTRIBUTE(sgnet_rx_paused_fops, sgnet_rx_paused_get,
			 sgnet_rx_paused_set, "%llu\n");

void sgnet_debugfs_add(struct sgnet_info *info)
{
	info->debugfs = debugfs_create_dir(dev_name(&info->xbdev->dev),
					   sgnet_debugfs_root);
	debugfs_create_file_unsafe("rx_paused", 0600, info->debugfs, info,
				   &sgnet_rx_paused_fops);
}

/* At module load: does the hypervisor speak sg_op, and in which limits? */
int sgnet_datapath_init(void)
{
	struct xen_sg_query q = { .domid = DOMID_SELF };
	long rc;

	rc = HYPERVISOR_sg_op(XEN_SGOP_query, &q);
	if (rc) {
		pr_err("sg_op is not available: %ld\n", rc);
		return -ENODEV;
	}
	if ((q.abi_version >> 16) != XEN_SGOP_ABI_MAJOR) {
		pr_err("sg_op ABI %u.%u, need %d.x\n", q.abi_version >> 16,
		       q.abi_version & 0xffff, XEN_SGOP_ABI_MAJOR);
		return -ENODEV;
	}
	sgnet_max_elems = min_t(u32, q.limits.max_elems, SGNET_MAX_ELEMS);
	return 0;
}
