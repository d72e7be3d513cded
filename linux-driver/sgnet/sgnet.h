/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sgnet: what the frontend (frontend.c, sgnet-front.ko), the backend
 * (backend.c, sgnet-back.ko), their shared xenbus side (xenbus.c) and the
 * datapath (datapath.c; both in sgnet.ko) share.  The
 * protocol itself is in sgnetif.h; docs/driver.md in sgkit describes it.
 */
#ifndef SGNET_H
#define SGNET_H

#include <linux/atomic.h>
#include <linux/hrtimer.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/u64_stats_sync.h>
#include <linux/virtio_net.h>
#include <linux/workqueue.h>

#include <xen/xenbus.h>
#include <xen/interface/xen.h>
#include <xen/interface/event_channel.h>

#include "sg_hypercall.h"
#include "sgnetif.h"

#define SGNET_HDR_LEN		sizeof(struct sgnet_hdr)
/* The largest frame: a GSO packet or an ETH_MAX_MTU one, with a VLAN tag. */
#define SGNET_MAX_FRAME		(GSO_LEGACY_MAX_SIZE + VLAN_ETH_HLEN)
/* Pages of a receive buffer that holds the header and the largest frame. */
#define SGNET_RX_MAX_PAGES	DIV_ROUND_UP(sizeof(struct sgnet_hdr) + \
					     SGNET_MAX_FRAME, PAGE_SIZE)
#define SGNET_TX_BATCH		16	/* transfer ops per hypercall */
#define SGNET_MAX_ELEMS		64	/* the ABI's default max_elems */
#define SGNET_RX_COPY		1536	/* frames up to this size: one linear skb */
#define SGNET_RX_HEAD		128	/* else this much linear, the rest in pages */
/*
 * Names a peer may owe for one of its buffers (sgnet_rx_names): the frame
 * in it not yet consumed, the name it holds for the buffer (one bit), and
 * names in frames on their way, each after another fill of ours.
 */
#define SGNET_PEER_OUT_MAX	4

static_assert(sizeof(struct sgnet_hdr) == 32);
/* sgnet_hdr.returned: one bit per receive buffer. */
static_assert(SGNET_NR_RX <= 64);

struct sgnet_rxbuf {
	struct page *pages[SGNET_RX_MAX_PAGES];
	u32 id;			/* registration id */
	s32 *counter;		/* in the control page (struct sgnet_ctrl) */
	/*
	 * NAPI only.  lent: pages 0..lent-1 went up the stack as fragments
	 * (one reference each); the buffer is not re-armed until the stack
	 * has dropped them.  held: consumed and due back, but still lent.
	 */
	u8 lent;
	bool held;
};

/*
 * The control page: its first SGNET_CTRL_LEN bytes are registered for the
 * peer (the addresses it triggers); the rest is ours alone and holds the
 * counters Xen decrements on each trigger.  They live here, in a page of
 * our own, and not in netdev_priv, which may be vmalloc'd: Xen is given
 * their frame (virt_to_page() is only right for the direct map).
 */
struct sgnet_ctrl {
	u8 peer[SGNET_CTRL_LEN];	/* registered, writable by the peer */
	s32 rx_counter[SGNET_NR_RX];	/* one per receive buffer, byte 0 */
	s32 request_counter;		/* SGNET_CTRL_REQUEST fired */
	s32 grant_counter;		/* SGNET_CTRL_GRANT fired */
};

static_assert(sizeof(struct sgnet_ctrl) <= PAGE_SIZE);

/*
 * Counters of the transmit path, written under the netdev tx lock.  The
 * first four are the standard ones (ndo_get_stats64); ethtool -S shows the
 * rest.
 */
enum sgnet_tx_stat {
	SGNET_TX_PACKETS,
	SGNET_TX_BYTES,
	SGNET_TX_ERRORS,
	SGNET_TX_DROPPED,
	SGNET_TX_HYPERCALLS,
	SGNET_TX_BUSY,
	SGNET_TX_STALLS,
	SGNET_TX_GSO,
	SGNET_TX_CSUM,
	SGNET_CREDIT_REQUESTS,
	SGNET_TX_TIMEOUTS,
	SGNET_TX_FOREIGN,
	SGNET_TX_COALESCED,
	SGNET_TX_RETURNED_INBAND,	/* ethtool: rx_returned_inband */
	SGNET_TX_RETURN_INBAND_ERRORS,	/* ethtool: rx_return_inband_errors */
	SGNET_TX_PACKED,		/* frames after another in one buffer */
	SGNET_NR_TX_STATS,
};

#define SGNET_TX_FIRST_PRIVATE	SGNET_TX_HYPERCALLS

/*
 * Counters of the receive path, written in NAPI.  The first five are the
 * standard ones (rx_missed_errors: buffers the watchdog skipped).
 */
enum sgnet_rx_stat {
	SGNET_RX_PACKETS,
	SGNET_RX_BYTES,
	SGNET_RX_ERRORS,
	SGNET_RX_DROPPED,
	SGNET_RX_GAPS,
	SGNET_RX_HYPERCALLS,
	SGNET_RX_GSO,
	SGNET_RX_CSUM,
	SGNET_CREDIT_GRANTS,
	SGNET_CREDIT_REQUESTS_RECEIVED,
	SGNET_RX_RETURNED,
	SGNET_RX_RETURN_CALLS,
	SGNET_RX_RETURN_ERRORS,
	SGNET_RX_HDR_CHANGED,
	SGNET_CREDIT_REARMS,
	SGNET_RX_POLLS,
	SGNET_RX_RECHECKS,
	SGNET_RX_PEER_RETURNED,
	SGNET_RX_PEER_RETURN_INVALID,
	SGNET_RX_LENT,
	SGNET_RX_COPIED,
	SGNET_RX_LEND_FULL,
	SGNET_RX_HELD,
	SGNET_RX_GRANTS_HELD,
	SGNET_RX_LEND_RESETS,
	SGNET_RX_POLLS_DEFERRED,
	SGNET_RX_BUFFERS,		/* filled buffers taken */
	SGNET_RX_PACKED,		/* frames after another in one buffer */
	SGNET_NR_RX_STATS,
};

#define SGNET_RX_FIRST_PRIVATE	SGNET_RX_HYPERCALLS

/*
 * One vsg device, either end.  Locks, outermost first:
 *   lock           the device's mutex: xenbus state changes, set-up and
 *                  release of the local resources, remove, resume, the
 *                  reboot notifier, reconfiguration; taken before RTNL;
 *   RTNL           open/close (NAPI enable/disable), MTU and features;
 *   the tx lock    netif_tx_lock(): the transmit state and the peer's
 *                  details (the stack holds it around ndo_start_xmit);
 *   NAPI           the receive state is the poll's alone (one poll at a
 *                  time; release disables NAPI before it frees).
 */
struct sgnet_info {
	/* Set at probe, constant. */
	struct net_device *dev;
	struct xenbus_device *xbdev;
	struct napi_struct napi;
	bool backend;
	domid_t peer;			/* also set at resume, under lock */
	struct dentry *debugfs;

	/*
	 * lock.  The backend's set-up, published as "session"; the frontend
	 * echoes the one it read as "backend-session".
	 */
	u32 session;
	bool shut;			/* lock: rebooting, no more set-up */
	bool restored;			/* lock: resume, our ids name nothing of ours */
	struct list_head list;		/* sgnet_devices_lock */
	struct mutex lock;
	struct work_struct reconfig;	/* ethtool -G on a connected link */

	/*
	 * ethtool -G: the buffers of the next set-up.  Written under RTNL,
	 * read (READ_ONCE) at set-up under lock.
	 */
	unsigned int want_nr_rx;
	unsigned int want_rx_pages;

	/*
	 * Local resources: set up and released under lock.  The poll uses
	 * them only while local_ready (store-release at set-up, load-acquire
	 * in the poll); release clears it and closes the port with NAPI
	 * disabled before it unregisters and frees.
	 */
	bool local_ready;
	unsigned int nr_rx;		/* receive buffers */
	unsigned int rx_pages;		/* pages per receive buffer */
	struct sgnet_rxbuf rx[SGNET_NR_RX];
	struct multicall_entry *rx_mc;	/* nr_rx rearms ... */
	struct xen_sg_id *rx_ret_id;	/* ... and their arguments */
	struct page *ctrl_page;		/* struct sgnet_ctrl */
	u32 ctrl_id;
	s32 *request_counter;		/* in the control page */
	s32 *grant_counter;		/* in the control page */
	evtchn_port_t port;
	int irq;
	bool lateeoi;			/* irq bound with late EOI */
	bool plain;			/* rx_counters off: trailers, no counters */
	struct page *tx_hdr_page;	/* one sgnet_hdr per queued op */

	/*
	 * NAPI only (set-up resets them under lock before local_ready).  The
	 * watchdog reads rx_scan with READ_ONCE to look for a gap.
	 */
	unsigned int rx_scan;		/* where the next poll starts */
	bool rx_gap_seen;		/* rx_scan's buffer empty, a later full */
	unsigned int rx_gap_at;		/* ... at this rx_scan */
	unsigned long rx_gap_since;	/* ... since (jiffies) */
	bool request_seen;		/* a credit request waits for a grant */
	unsigned int rx_lent;		/* buffers with pages up the stack */
	unsigned int rx_held;		/* ... of them due back (held set) */
	bool grant_held;		/* a grant waits for rx_scan's lent buffer */
	unsigned long grant_held_since;	/* ... since (jiffies) */
	struct hrtimer rx_lend_timer;	/* polls again while a grant waits */
	/* NAPI writes (WRITE_ONCE), the transmit path reads: polls with work. */
	unsigned long rx_seq;

	/*
	 * Buffer return (sgnet_hdr.returned), any context, atomic; bit i is
	 * ring index i.  rx_ret_ready: our buffers consumed and not yet
	 * re-armed (NAPI sets them; NAPI's out-of-band return or the transmit
	 * path's in-band one takes them, whichever comes first).  rx_ret_news:
	 * re-armed out-of-band, not yet named to the peer in a header.
	 * Set-up resets them.  peer_out[i]: how often we handed out the
	 * peer's buffer i (a frame or a filler assigned to it) more than the
	 * peer named it returned (the transmit path adds, NAPI takes);
	 * sgnet_read_peer resets them.
	 */
	atomic64_t rx_ret_ready;
	atomic64_t rx_ret_news;
	atomic_t peer_out[SGNET_NR_RX];
	u64 rx_names_free;		/* NAPI: peer buffers named, none out */

	/* Any context, READ_ONCE/WRITE_ONCE: debugfs rx_paused. */
	bool rx_paused;			/* the poll leaves the buffers full */

	/*
	 * The peer's details, from xenstore: written under lock and the tx
	 * lock, read under the tx lock (the poll reads peer_ctrl without it:
	 * it changes only while the link is down).  peer_known is read by
	 * ndo_fix_features under RTNL.
	 */
	bool connected;
	u32 peer_rx[SGNET_NR_RX];
	unsigned int nr_peer_rx;
	u32 peer_ctrl;
	unsigned int peer_max_frame;	/* what the peer's buffers hold */
	bool peer_known;		/* the peer_* below were read */
	bool peer_csum;			/* takes VIRTIO_NET_HDR_F_NEEDS_CSUM */
	bool peer_gso_tcpv4;		/* takes VIRTIO_NET_HDR_GSO_TCPV4 */
	bool peer_gso_tcpv6;		/* takes VIRTIO_NET_HDR_GSO_TCPV6 */

	/*
	 * The tx lock.  Queued ops (tx_n), one per peer buffer, and their
	 * frames (tx_frames slots, each op's consecutive from tx_op_first;
	 * a filler has one slot, its skb NULL; a slot freed by a filler stays
	 * unused until the next flush moves the later ones down).  Frame f's
	 * header is in tx_hdr_page (sgnet_tx_hdr), its element in its op's
	 * list is tx_hdr_elem[f].
	 */
	unsigned int tx_next;		/* the peer buffer of the next op */
	bool tx_stalled;		/* waiting for a credit grant */
	bool tx_stall_clock;		/* no op accepted since the queue stopped */
	unsigned long tx_stalled_at;	/* jiffies: ... when it stopped */
	bool tx_timed_out;		/* the watchdog turned the carrier off */
	bool peer_gone;			/* -ESRCH/-ENOENT: off until reconnected */
	unsigned int tx_n;		/* queued ops */
	unsigned int tx_frames;		/* frame slots used */
	struct sk_buff *tx_skb[SGNET_TX_BATCH];		/* per frame */
	u8 tx_hdr_elem[SGNET_TX_BATCH];			/* per frame */
	u8 tx_op_first[SGNET_TX_BATCH];	/* per op: its first frame */
	u8 tx_op_nf[SGNET_TX_BATCH];	/* per op: its frames (records) */
	u8 tx_peer_idx[SGNET_TX_BATCH];	/* per op: the peer buffer's ring index */
	/* In-band return: rearms, then the transfer batch, in one multicall. */
	struct multicall_entry tx_mc[SGNET_NR_RX + 1];
	struct xen_sg_id tx_ret_id[SGNET_NR_RX];
	struct xen_sg_transfer tx_op[SGNET_TX_BATCH];
	struct xen_sg_elem tx_elem[SGNET_TX_BATCH][SGNET_MAX_ELEMS];
	struct hrtimer tx_timer;	/* sends a batch that waited tx_delay_us */
	ktime_t tx_flushed_at;		/* the last transfer hypercall */
	unsigned long tx_rx_seq;	/* rx_seq at that flush */
	struct delayed_work watchdog;	/* runs while connected */

	/* Written under the tx lock (tx_syncp) and in NAPI (rx_syncp). */
	u64_stats_t tx_stats[SGNET_NR_TX_STATS];
	struct u64_stats_sync tx_syncp;
	u64_stats_t rx_stats[SGNET_NR_RX_STATS];
	struct u64_stats_sync rx_syncp;
	/* Any context. */
	atomic_long_t interrupts;	/* upcalls of the port */
	atomic_long_t rx_spurious;	/* upcalls for which nothing fired */
	atomic_long_t pages_leaked;	/* not freed: unregistering failed */
};

/* Under the tx lock. */
static inline void sgnet_tx_count(struct sgnet_info *info,
				  enum sgnet_tx_stat s, u64 n)
{
	u64_stats_update_begin(&info->tx_syncp);
	u64_stats_add(&info->tx_stats[s], n);
	u64_stats_update_end(&info->tx_syncp);
}

/* In NAPI. */
static inline void sgnet_rx_count(struct sgnet_info *info,
				  enum sgnet_rx_stat s, u64 n)
{
	u64_stats_update_begin(&info->rx_syncp);
	u64_stats_add(&info->rx_stats[s], n);
	u64_stats_update_end(&info->rx_syncp);
}

/* datapath.c */
extern const struct net_device_ops sgnet_netdev_ops;
extern const struct ethtool_ops sgnet_ethtool_ops;
extern struct dentry *sgnet_debugfs_root;
int sgnet_datapath_init(void);
void sgnet_debugfs_add(struct sgnet_info *info);
unsigned int sgnet_max_rx_pages(void);
bool sgnet_unregister(struct sgnet_info *info, u32 id, unsigned int nr_pages);
void sgnet_stop_local(struct sgnet_info *info);
void sgnet_free_local(struct sgnet_info *info);
int sgnet_setup_local(struct sgnet_info *info);
void sgnet_tx_drop_queued(struct sgnet_info *info);
enum hrtimer_restart sgnet_tx_timer(struct hrtimer *timer);
enum hrtimer_restart sgnet_rx_lend_timer(struct hrtimer *timer);
bool sgnet_rx_gso_offered(const struct sgnet_info *info);
unsigned long sgnet_stall_jiffies(void);
void sgnet_watchdog(struct work_struct *work);
int sgnet_poll(struct napi_struct *napi, int budget);

/* xenbus.c: what both ends do (exported by sgnet.ko to the two drivers) */
int sgnet_publish(struct sgnet_info *info);
int sgnet_read_peer(struct sgnet_info *info);
void sgnet_set_connected(struct sgnet_info *info);
void sgnet_disconnect(struct sgnet_info *info);
int sgnet_prepare(struct sgnet_info *info);
int sgnet_probe_common(struct xenbus_device *xbdev, bool backend);
void sgnet_remove(struct xenbus_device *xbdev);
void sgnet_reconfigure(struct work_struct *work);

#endif /* SGNET_H */
