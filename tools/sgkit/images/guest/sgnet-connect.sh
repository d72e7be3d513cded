#!/bin/sh
# sgnet-connect.sh BACKEND FRONTEND [DEVID]
#
# Connect an sgnet link ("vsg" device) between two domains, the way libxl
# writes a vif's nodes (xl does not know this device type).  BACKEND and
# FRONTEND are domain names or IDs; DEVID (default 0) is the device's number
# in the frontend.  Both domains must have sgnet's modules loaded (sgnet.ko
# and the backend's sgnet-back.ko or the frontend's sgnet-front.ko), or load
# them later: the drivers probe when the nodes appear or when they register.
#
#   /local/domain/BE/backend/vsg/FE/DEVID/{frontend,frontend-id,online,state}
#       owned by BE, readable by FE
#   /local/domain/FE/device/vsg/DEVID/{backend,backend-id,state}
#       owned by FE, readable by BE
#
# The state nodes (1, Initialising) are written last and together, after the
# permissions are set: xenbus probes a device only when its state is
# Initialising.  Run in dom0.  "sgnet-connect.sh -d BE FE [DEVID]" removes
# the nodes again (the drivers see the peer go away).
set -e

remove=0
if [ "$1" = "-d" ]; then
	remove=1
	shift
fi
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: $0 [-d] BACKEND FRONTEND [DEVID]" >&2
	exit 2
fi

domid() {
	case "$1" in
	'' | *[!0-9]*) xl domid "$1" ;;
	*) echo "$1" ;;
	esac
}

be=$(domid "$1")
fe=$(domid "$2")
devid=${3:-0}
if [ "$be" = "$fe" ]; then
	echo "$0: backend and frontend are the same domain ($be)" >&2
	exit 2
fi
bepath=/local/domain/$be/backend/vsg/$fe/$devid
fepath=/local/domain/$fe/device/vsg/$devid

if [ "$remove" = 1 ]; then
	xenstore-write "$bepath/online" 0 "$fepath/state" 5 || true
	xenstore-rm "$fepath" || true
	xenstore-rm "$bepath" || true
	exit 0
fi

xenstore-rm "$fepath" 2>/dev/null || true
xenstore-rm "$bepath" 2>/dev/null || true

# Everything but the states, in one transaction.
xenstore-write \
	"$fepath/backend" "$bepath" \
	"$fepath/backend-id" "$be" \
	"$bepath/frontend" "$fepath" \
	"$bepath/frontend-id" "$fe" \
	"$bepath/online" 1

# A backend in a domU owns its backend/vsg tree (the nodes this script
# created under it); a frontend owns its device/vsg directory.
if [ "$be" != 0 ]; then
	xenstore-chmod "/local/domain/$be/backend" "n$be"
	xenstore-chmod "/local/domain/$be/backend/vsg" "n$be"
	xenstore-chmod "/local/domain/$be/backend/vsg/$fe" "n$be"
fi
xenstore-chmod "/local/domain/$fe/device/vsg" "n$fe"
xenstore-chmod -r "$bepath" "n$be" "r$fe"
xenstore-chmod -r "$fepath" "n$fe" "r$be"

# The states last: new nodes take their directory's permissions.
xenstore-write "$bepath/state" 1 "$fepath/state" 1
echo "sgnet-connect: vsg $devid: backend dom$be $bepath <-> frontend dom$fe $fepath"
