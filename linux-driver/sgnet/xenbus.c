// SPDX-License-Identifier: GPL-2.0
/*
 * sgnet: the xenbus side both ends share (publishing and reading the
 * xenstore keys of sgnetif.h, connecting, disconnecting, probe and remove),
 * the reboot notifier and the module sgnet.ko, which holds it and the
 * datapath and exports them to the two drivers: sgnet-front.ko
 * (frontend.c) and sgnet-back.ko (backend.c), as netfront and netback are
 * drivers of their own.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/random.h>
#include <linux/reboot.h>
#include <linux/rtnetlink.h>
#include <linux/slab.h>
#include <linux/string.h>

#include <xen/xen.h>
#include <xen/xenbus.h>

#include "compat.h"
#include "sgnet.h"

/* Every device, so that a kexec leaves no registration behind. */
static LIST_HEAD(sgnet_devices);
static DEFINE_MUTEX(sgnet_devices_lock);

/* --- connection ------------------------------------------------------------ */

/* Publish our receive buffers and control registration in our directory. */
int sgnet_publish(struct sgnet_info *info)
{
	struct xenbus_device *xbdev = info->xbdev;
	struct xenbus_transaction xbt;
	size_t size = SGNET_NR_RX * 11 + 1, used = 0;
	/* GSO frames need room for the largest frame. */
	int gso = sgnet_rx_gso_offered(info);
	unsigned int i;
	char *ids;
	int err;

	ids = kzalloc(size, GFP_KERNEL);
	if (!ids)
		return -ENOMEM;
	for (i = 0; i < info->nr_rx; i++)
		used += scnprintf(ids + used, size - used, "%s%u", i ? " " : "",
				  info->rx[i].id);
again:
	err = xenbus_transaction_start(&xbt);
	if (err)
		goto out;
	err = xenbus_printf(xbt, xbdev->nodename, "protocol", "%s",
			    SGNET_PROTOCOL);
	if (!err)
		err = xenbus_printf(xbt, xbdev->nodename, "rx-buffers", "%u",
				    info->nr_rx);
	if (!err)
		err = xenbus_printf(xbt, xbdev->nodename, "rx-buffer-size",
				    "%lu", info->rx_pages * PAGE_SIZE);
	/* Checksums are only ever copied, so the peer may leave them to us. */
	if (!err)
		err = xenbus_write(xbt, xbdev->nodename, "feature-csum", "1");
	if (!err)
		err = xenbus_printf(xbt, xbdev->nodename, "feature-gso-tcpv4",
				    "%d", gso);
	if (!err)
		err = xenbus_printf(xbt, xbdev->nodename, "feature-gso-tcpv6",
				    "%d", gso);
	if (!err)
		err = xenbus_write(xbt, xbdev->nodename, "rx-ids", ids);
	if (!err)
		err = xenbus_printf(xbt, xbdev->nodename, "ctrl-id", "%u",
				    info->ctrl_id);
	if (!err)
		err = xenbus_printf(xbt, xbdev->nodename,
				    info->backend ? "session" : "backend-session",
				    "%u", info->session);
	if (err) {
		xenbus_transaction_end(xbt, 1);
		goto out;
	}
	err = xenbus_transaction_end(xbt, 0);
	if (err == -EAGAIN)
		goto again;
out:
	if (err)
		xenbus_dev_fatal(xbdev, err, "publishing sgnet details");
	kfree(ids);
	return err;
}

/* Read the peer's receive buffers, control registration and features. */
int sgnet_read_peer(struct sgnet_info *info)
{
	struct xenbus_device *xbdev = info->xbdev;
	const char *other = xbdev->otherend;
	unsigned int n = 0, size, i;
	bool csum, gso4, gso6;
	char *ids, *p, *tok;
	int err = 0;
	u32 id;

	p = xenbus_read(XBT_NIL, other, "protocol", NULL);
	if (IS_ERR(p)) {
		err = PTR_ERR(p);
		goto out;
	}
	if (strcmp(p, SGNET_PROTOCOL))
		err = -EPROTO;
	kfree(p);
	if (err)
		goto out;
	ids = xenbus_read(XBT_NIL, other, "rx-ids", NULL);
	if (IS_ERR(ids)) {
		err = PTR_ERR(ids);
		goto out;
	}
	p = ids;
	while ((tok = strsep(&p, " ")) != NULL) {
		if (!*tok)
			continue;
		if (n == SGNET_NR_RX || kstrtou32(tok, 10, &id) || !id) {
			err = -EINVAL;
			break;
		}
		info->peer_rx[n++] = id;
	}
	kfree(ids);
	id = xenbus_read_unsigned(other, "ctrl-id", 0);
	size = xenbus_read_unsigned(other, "rx-buffer-size", 0);
	csum = xenbus_read_unsigned(other, "feature-csum", 0);
	gso4 = csum && xenbus_read_unsigned(other, "feature-gso-tcpv4", 0);
	gso6 = csum && xenbus_read_unsigned(other, "feature-gso-tcpv6", 0);
	if (!info->backend)
		info->session = xenbus_read_unsigned(other, "session", 0);
	if (!err && (!n || !id || size < SGNET_HDR_LEN + ETH_FRAME_LEN))
		err = -EINVAL;
out:
	if (err) {
		xenbus_dev_fatal(xbdev, err, "reading %s (protocol %s)", other,
				 SGNET_PROTOCOL);
		return err;
	}
	netif_tx_lock_bh(info->dev);
	info->nr_peer_rx = n;
	info->peer_ctrl = id;
	info->peer_max_frame = min_t(unsigned int, size - SGNET_HDR_LEN,
				     SGNET_MAX_FRAME);
	info->peer_known = true;
	info->peer_csum = csum;
	info->peer_gso_tcpv4 = gso4;
	info->peer_gso_tcpv6 = gso6;
	info->tx_next = 0;
	for (i = 0; i < SGNET_NR_RX; i++)
		atomic_set(&info->peer_out[i], 0);
	info->tx_stalled = false;
	info->tx_stall_clock = false;
	info->tx_timed_out = false;
	info->peer_gone = false;
	netif_tx_unlock_bh(info->dev);
	return 0;
}
EXPORT_SYMBOL_GPL(sgnet_read_peer);

/*
 * The offloads the peer takes and the MTU its buffers hold come first (a
 * peer that reconnects with smaller buffers clamps the MTU), then frames
 * may go.
 */
void sgnet_set_connected(struct sgnet_info *info)
{
	struct net_device *dev = info->dev;
	unsigned int max_mtu = min_t(unsigned int, ETH_MAX_MTU,
				     info->peer_max_frame - VLAN_ETH_HLEN);
	int err;

	rtnl_lock();
	dev->max_mtu = max_mtu;
	if (dev->mtu > max_mtu) {
		err = dev_set_mtu(dev, max_mtu);
		netdev_info(dev, "MTU %u for domain %u's buffers: %d\n",
			    max_mtu, info->peer, err);
	}
	/* The stack's watchdog only backs sgnet's own up (sgnet_tx_timeout). */
	dev->watchdog_timeo = 2 * sgnet_stall_jiffies();
	netdev_update_features(dev);
	rtnl_unlock();
	netif_tx_lock_bh(dev);
	info->connected = true;
	netif_tx_unlock_bh(dev);
	netif_carrier_on(dev);
	if (netif_running(dev))
		netif_wake_queue(dev);
	schedule_delayed_work(&info->watchdog, sgnet_stall_jiffies() / 4 + 1);
	netdev_info(dev, "connected to domain %u (%u peer buffers)\n",
		    info->peer, info->nr_peer_rx);
}
EXPORT_SYMBOL_GPL(sgnet_set_connected);

/* Forget the peer and release the local resources. */
void sgnet_disconnect(struct sgnet_info *info)
{
	struct net_device *dev = info->dev;
	bool was = info->connected;

	netif_carrier_off(dev);
	netif_tx_lock_bh(dev);
	info->connected = false;
	info->peer_known = false;
	info->peer_ctrl = 0;
	info->nr_peer_rx = 0;
	sgnet_tx_drop_queued(info);
	netif_tx_unlock_bh(dev);
	hrtimer_cancel(&info->tx_timer);
	cancel_delayed_work_sync(&info->watchdog);
	/* RTNL keeps open/close off NAPI; the unregisters come after it. */
	rtnl_lock();
	if (netif_running(dev))
		napi_disable(&info->napi);
	sgnet_stop_local(info);
	if (netif_running(dev))
		napi_enable(&info->napi);
	rtnl_unlock();
	sgnet_free_local(info);
	if (was)
		netdev_info(dev, "disconnected from domain %u\n", info->peer);
}
EXPORT_SYMBOL_GPL(sgnet_disconnect);

/* Set up the local side and publish it (backend: with a new session). */
int sgnet_prepare(struct sgnet_info *info)
{
	int err = info->shut ? -ESHUTDOWN : sgnet_setup_local(info);
	u32 old = info->session;

	if (err) {
		xenbus_dev_fatal(info->xbdev, err, "setting up sgnet buffers");
		return err;
	}
	if (info->backend) {
		do {
			info->session = get_random_u32();
		} while (!info->session || info->session == old);
	} else {
		/* The frontend publishes what it read from this backend. */
		err = sgnet_read_peer(info);
		if (err)
			return err;
	}
	return sgnet_publish(info);
}
EXPORT_SYMBOL_GPL(sgnet_prepare);

/* --- xenbus: both ends ---------------------------------------------------- */

int sgnet_probe_common(struct xenbus_device *xbdev, bool backend)
{
	struct net_device *dev;
	struct sgnet_info *info;
	int err;

	dev = alloc_netdev(sizeof(*info), "sgnet%d", NET_NAME_ENUM,
			   ether_setup);
	if (!dev)
		return -ENOMEM;
	info = netdev_priv(dev);
	info->dev = dev;
	info->xbdev = xbdev;
	info->backend = backend;
	info->peer = xbdev->otherend_id;
	info->want_nr_rx = SGNET_NR_RX;
	info->want_rx_pages = sgnet_max_rx_pages();
	u64_stats_init(&info->tx_syncp);
	u64_stats_init(&info->rx_syncp);
	atomic_long_set(&info->interrupts, 0);
	atomic_long_set(&info->rx_spurious, 0);
	atomic_long_set(&info->pages_leaked, 0);
	INIT_WORK(&info->reconfig, sgnet_reconfigure);
	hrtimer_setup(&info->tx_timer, sgnet_tx_timer, CLOCK_MONOTONIC,
		      HRTIMER_MODE_REL_SOFT);
	hrtimer_setup(&info->rx_lend_timer, sgnet_rx_lend_timer,
		      CLOCK_MONOTONIC, HRTIMER_MODE_REL_SOFT);
	INIT_DELAYED_WORK(&info->watchdog, sgnet_watchdog);
	mutex_init(&info->lock);
	netif_napi_add(dev, &info->napi, sgnet_poll);
	dev->netdev_ops = &sgnet_netdev_ops;
	dev->ethtool_ops = &sgnet_ethtool_ops;
	dev->hw_features = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM |
			   NETIF_F_TSO | NETIF_F_TSO6 | NETIF_F_RXCSUM;
	dev->features = dev->hw_features;
	dev->vlan_features = dev->hw_features & ~NETIF_F_RXCSUM;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = ETH_MAX_MTU;
	eth_hw_addr_random(dev);
	SET_NETDEV_DEV(dev, &xbdev->dev);
	netif_carrier_off(dev);

	err = register_netdev(dev);
	if (err) {
		netif_napi_del(&info->napi);
		free_netdev(dev);
		return err;
	}
	dev_set_drvdata(&xbdev->dev, info);
	sgnet_debugfs_add(info);
	mutex_lock(&sgnet_devices_lock);
	list_add(&info->list, &sgnet_devices);
	mutex_unlock(&sgnet_devices_lock);
	return 0;
}
EXPORT_SYMBOL_GPL(sgnet_probe_common);

void sgnet_remove(struct xenbus_device *xbdev)
{
	struct sgnet_info *info = dev_get_drvdata(&xbdev->dev);

	mutex_lock(&sgnet_devices_lock);
	list_del(&info->list);
	mutex_unlock(&sgnet_devices_lock);
	debugfs_remove_recursive(info->debugfs);
	cancel_work_sync(&info->reconfig);
	/* A frontend going away tells its backend (which does not wait). */
	mutex_lock(&info->lock);
	if (!info->backend)
		xenbus_switch_state(xbdev, XenbusStateClosing);
	sgnet_disconnect(info);
	if (!info->backend)
		xenbus_switch_state(xbdev, XenbusStateClosed);
	mutex_unlock(&info->lock);
	unregister_netdev(info->dev);
	hrtimer_cancel(&info->tx_timer);
	hrtimer_cancel(&info->rx_lend_timer);
	netif_napi_del(&info->napi);
	dev_set_drvdata(&xbdev->dev, NULL);
	free_netdev(info->dev);
}
EXPORT_SYMBOL_GPL(sgnet_remove);

/*
 * ethtool -G on a connected link: set up again with the new buffers.  The
 * backend publishes a new session and waits (InitWait), which the frontend
 * takes as a reloaded backend; the frontend goes back to Initialising,
 * which the backend takes as a restarted frontend.  Either way the peer
 * reads the new details and both ends connect again.
 */
void sgnet_reconfigure(struct work_struct *work)
{
	struct sgnet_info *info = container_of(work, struct sgnet_info,
					       reconfig);
	struct xenbus_device *xbdev = info->xbdev;

	mutex_lock(&info->lock);
	if (xbdev->state != XenbusStateConnected || info->shut)
		goto out;
	netdev_info(info->dev, "new receive buffers: reconnecting\n");
	sgnet_disconnect(info);
	if (info->backend) {
		if (!sgnet_prepare(info))
			xenbus_switch_state(xbdev, XenbusStateInitWait);
	} else {
		info->session = 0;
		xenbus_switch_state(xbdev, XenbusStateInitialising);
	}
out:
	mutex_unlock(&info->lock);
}

/*
 * Restart, halt, power-off and kexec: drop every registration and binding,
 * so that a kexec'd kernel does not find the peer still writing into pages
 * it reuses.  xenbus drivers have no .shutdown of their own.
 */
static int sgnet_reboot(struct notifier_block *nb, unsigned long code,
			void *unused)
{
	struct sgnet_info *info;

	mutex_lock(&sgnet_devices_lock);
	list_for_each_entry(info, &sgnet_devices, list) {
		mutex_lock(&info->lock);
		info->shut = true;
		sgnet_disconnect(info);
		netdev_info(info->dev, "released for shutdown\n");
		mutex_unlock(&info->lock);
	}
	mutex_unlock(&sgnet_devices_lock);
	return NOTIFY_DONE;
}

static struct notifier_block sgnet_reboot_nb = {
	.notifier_call = sgnet_reboot,
};

static int __init sgnet_init(void)
{
	int err;

	if (!xen_domain())
		return -ENODEV;
	err = sgnet_datapath_init();
	if (err)
		return err;
	sgnet_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
	err = register_reboot_notifier(&sgnet_reboot_nb);
	if (err)
		debugfs_remove_recursive(sgnet_debugfs_root);
	return err;
}
module_init(sgnet_init);

static void __exit sgnet_exit(void)
{
	unregister_reboot_notifier(&sgnet_reboot_nb);
	debugfs_remove_recursive(sgnet_debugfs_root);
}
module_exit(sgnet_exit);

MODULE_DESCRIPTION("sgnet: network link over Xen sg_op transfers, the part both ends share");
MODULE_LICENSE("GPL");
MODULE_ALIAS("xen-backend:vsg");
