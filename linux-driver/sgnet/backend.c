// SPDX-License-Identifier: GPL-2.0
/*
 * sgnet backend, the module sgnet-back.ko: the end in the driver domain,
 * backend/vsg/<domid>/<devid>.  Its xenbus state machine; the datapath and
 * the xenbus side both ends share are sgnet.ko's (datapath.c, xenbus.c),
 * the xenstore keys sgnetif.h.
 */

#include <linux/module.h>
#include <linux/netdevice.h>

#include <xen/xen.h>
#include <xen/xenbus.h>

#include "sgnet.h"

/* Backend: InitWait -> (frontend Initialised, our session) -> Connected. */
static int sgnet_back_probe(struct xenbus_device *xbdev,
			    const struct xenbus_device_id *id)
{
	struct sgnet_info *info;
	int err = sgnet_probe_common(xbdev, true);

	if (err)
		return err;
	info = dev_get_drvdata(&xbdev->dev);
	mutex_lock(&info->lock);
	err = sgnet_prepare(info);
	if (!err)
		xenbus_switch_state(xbdev, XenbusStateInitWait);
	mutex_unlock(&info->lock);
	if (err) {
		sgnet_remove(xbdev);
		return -EIO;
	}
	return 0;
}

/* Returns whether the device is to go (Closed and not online). */
static bool sgnet_frontend_changed_locked(struct sgnet_info *info,
					  enum xenbus_state frontend_state)
{
	struct xenbus_device *xbdev = info->xbdev;

	switch (frontend_state) {
	case XenbusStateInitialising:
		/*
		 * A frontend (re)starting: offer fresh buffers.  Closing: a
		 * removed frontend (Closing, then Closed) reloaded before we
		 * saw its Closed.
		 */
		if (xbdev->state != XenbusStateClosed &&
		    xbdev->state != XenbusStateClosing &&
		    xbdev->state != XenbusStateConnected)
			break;
		sgnet_disconnect(info);
		if (sgnet_prepare(info))
			break;
		xenbus_switch_state(xbdev, XenbusStateInitWait);
		break;
	case XenbusStateInitialised:
	case XenbusStateConnected:
		/*
		 * Only a frontend that read this set-up: a Connected one seen
		 * just after a reload still holds our predecessor's details.
		 */
		if (xbdev->state != XenbusStateInitWait ||
		    xenbus_read_unsigned(xbdev->otherend, "backend-session", 0) !=
		    info->session)
			break;
		if (sgnet_read_peer(info))
			break;
		xenbus_switch_state(xbdev, XenbusStateConnected);
		sgnet_set_connected(info);
		break;
	case XenbusStateClosing:
		if (xbdev->state == XenbusStateInitWait)
			break;
		sgnet_disconnect(info);
		xenbus_switch_state(xbdev, XenbusStateClosing);
		break;
	case XenbusStateClosed:
	case XenbusStateUnknown:
		/* A Closed frontend seen while we wait is an old one. */
		if (xbdev->state == XenbusStateInitWait ||
		    xbdev->state == XenbusStateClosed)
			break;
		sgnet_disconnect(info);
		xenbus_switch_state(xbdev, XenbusStateClosed);
		return !xenbus_dev_is_online(xbdev);
	default:
		break;
	}
	return false;
}

static void sgnet_frontend_changed(struct xenbus_device *xbdev,
				   enum xenbus_state frontend_state)
{
	struct sgnet_info *info = dev_get_drvdata(&xbdev->dev);
	bool gone;

	mutex_lock(&info->lock);
	gone = sgnet_frontend_changed_locked(info, frontend_state);
	mutex_unlock(&info->lock);
	if (gone)
		device_unregister(&xbdev->dev);
}

static const struct xenbus_device_id sgnet_back_ids[] = {
	{ "vsg" },
	{ "" }
};

static struct xenbus_driver sgnet_back_driver = {
	.name = "vsg-back",
	.ids = sgnet_back_ids,
	.probe = sgnet_back_probe,
	.remove = sgnet_remove,
	.otherend_changed = sgnet_frontend_changed,
	/* Unbinding leaves the state: a rebound backend reconnects. */
	.allow_rebind = true,
};

static int __init sgnet_back_init(void)
{
	if (!xen_domain())
		return -ENODEV;
	return xenbus_register_backend(&sgnet_back_driver);
}
module_init(sgnet_back_init);

static void __exit sgnet_back_exit(void)
{
	xenbus_unregister_driver(&sgnet_back_driver);
}
module_exit(sgnet_back_exit);

MODULE_DESCRIPTION("sgnet backend: the driver domain's end of an sgnet link (backend/vsg)");
MODULE_LICENSE("GPL");
MODULE_ALIAS("xen-backend:vsg");
