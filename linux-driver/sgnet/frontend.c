// SPDX-License-Identifier: GPL-2.0
/*
 * sgnet frontend, the module sgnet-front.ko: the end in the guest that has
 * device/vsg/<devid>.  Its xenbus state machine; the datapath and the
 * xenbus side both ends share are sgnet.ko's (datapath.c, xenbus.c), the
 * xenstore keys sgnetif.h.
 */

#include <linux/module.h>
#include <linux/netdevice.h>

#include <xen/xen.h>
#include <xen/xenbus.h>

#include "sgnet.h"

/*
 * Frontend: Initialising -> (backend InitWait) -> Initialised -> (backend
 * Connected) -> Connected.
 */
static int sgnet_front_probe(struct xenbus_device *xbdev,
			     const struct xenbus_device_id *id)
{
	int err = sgnet_probe_common(xbdev, false);

	if (!err)
		xenbus_switch_state(xbdev, XenbusStateInitialising);
	return err;
}

static void sgnet_backend_changed_locked(struct sgnet_info *info,
					 enum xenbus_state backend_state)
{
	struct xenbus_device *xbdev = info->xbdev;
	u32 session;

	switch (backend_state) {
	case XenbusStateInitWait:
		/*
		 * A backend waiting for us: a first one, or one that was
		 * reloaded (a new session) while we were Initialised or even
		 * Connected to its predecessor, whose buffers are gone.
		 */
		session = xenbus_read_unsigned(xbdev->otherend, "session", 0);
		if ((xbdev->state == XenbusStateInitialised ||
		     xbdev->state == XenbusStateConnected) &&
		    session == info->session)
			break;
		if (xbdev->state == XenbusStateInitialised ||
		    xbdev->state == XenbusStateConnected) {
			netdev_info(info->dev, "the backend was reloaded: reconnecting\n");
			sgnet_disconnect(info);
		}
		if (sgnet_prepare(info))
			break;
		xenbus_switch_state(xbdev, XenbusStateInitialised);
		break;
	case XenbusStateConnected:
		if (xbdev->state == XenbusStateInitialised)
			xenbus_switch_state(xbdev, XenbusStateConnected);
		if (xbdev->state == XenbusStateConnected && !info->connected)
			sgnet_set_connected(info);
		break;
	case XenbusStateClosing:
		sgnet_disconnect(info);
		xenbus_frontend_closed(xbdev);
		break;
	case XenbusStateClosed:
	case XenbusStateUnknown:
		/* Before we connected, a Closed backend is one not yet up. */
		if (xbdev->state == XenbusStateInitialising ||
		    xbdev->state == XenbusStateClosed)
			break;
		sgnet_disconnect(info);
		xenbus_frontend_closed(xbdev);
		break;
	default:
		break;
	}
}

static void sgnet_backend_changed(struct xenbus_device *xbdev,
				  enum xenbus_state backend_state)
{
	struct sgnet_info *info = dev_get_drvdata(&xbdev->dev);

	mutex_lock(&info->lock);
	sgnet_backend_changed_locked(info, backend_state);
	mutex_unlock(&info->lock);
}

/*
 * After a restore the domain is a new one: it holds none of its
 * registrations and no port, and its registration ids start again at 1.
 * Forget the old ids without unregistering them (another device of ours
 * may already hold the same numbers for its new buffers), free the pages,
 * and start over from Initialising, as netfront_resume does.  The backend
 * may be another one (the toolstack made the nodes for the new domain).
 */
static int sgnet_front_resume(struct xenbus_device *xbdev)
{
	struct sgnet_info *info = dev_get_drvdata(&xbdev->dev);
	int err;

	mutex_lock(&info->lock);
	info->restored = true;
	sgnet_disconnect(info);
	info->restored = false;
	info->peer = xbdev->otherend_id;
	info->session = 0;
	/* xenbus set Initialising without writing it: make the node say so. */
	xbdev->state = XenbusStateUnknown;
	err = xenbus_switch_state(xbdev, XenbusStateInitialising);
	mutex_unlock(&info->lock);
	return err;
}

static const struct xenbus_device_id sgnet_front_ids[] = {
	{ "vsg" },
	{ "" }
};

static struct xenbus_driver sgnet_front_driver = {
	.name = "vsg",
	.ids = sgnet_front_ids,
	.probe = sgnet_front_probe,
	.remove = sgnet_remove,
	.resume = sgnet_front_resume,
	.otherend_changed = sgnet_backend_changed,
	.not_essential = true,
};

static int __init sgnet_front_init(void)
{
	if (!xen_domain())
		return -ENODEV;
	return xenbus_register_frontend(&sgnet_front_driver);
}
module_init(sgnet_front_init);

static void __exit sgnet_front_exit(void)
{
	xenbus_unregister_driver(&sgnet_front_driver);
}
module_exit(sgnet_front_exit);

MODULE_DESCRIPTION("sgnet frontend: the guest end of an sgnet link (device/vsg)");
MODULE_LICENSE("GPL");
MODULE_ALIAS("xen:vsg");
