#!/bin/sh
# Run on a Xen lab host's dom0 by `invoke deploy --run SUITES` when a suite
# needs domUs (sg_cross): the same order of events as the emulated lab's
# dom0-lab-init.sh, on a host that is already up with its own toolstack.
#
#   deploy-domus.sh WORK     WORK holds domus.conf and domU.cpio.gz
#
# It creates the PV domUs with `xl create -c` under `script`, so each guest's
# console is in WORK/console/guest-NAME.log from its first line on (the
# host's xenconsoled keeps its own logging settings); loads sgtest in dom0
# (cross_self=dom0) while the domUs run theirs; waits for every domU's
# SGKIT-DONE; destroys them; runs sg_cross_after in dom0; and leaves
# WORK/dom0-dmesg.log and WORK/xl-dmesg.log.  With SGNET set (deploy --run
# ...,sgnet) it also connects an sgnet link dom0<->sg-a from WORK/net.conf
# (sgnet-connect.sh), configures and pings it from both ends (sgnet-lab.sh;
# the domU does its side from its own net.conf) and checks that dom0's end
# loses carrier when sg-a is destroyed.  Every domU it created is destroyed
# on the way out, whatever happens (trap), its sgnet link removed and sgnet
# unloaded again, and /sgtest is removed from xenstore.  Lines for the
# deploying machine (and sgnet-lab.sh's SGKIT-NET, -PING, -NET-AFTER):
#   SGKIT-STEP what rc=N                a step and its exit status
#   SGKIT-INSMOD sgtest rc=N            sgtest loaded in dom0
#   SGKIT-DOMU name state=S seconds=N   a domU's end: done | timeout | gone
#   SGKIT-DOMAINS-LEFT count=N ...      domains other than dom0 left afterwards
#   SGKIT-DOMUS-DONE                    the end

set -u
WORK=$1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Set by domus.conf: DOMUS DOMU_MEMORY DOMU_TIMEOUT KERNEL SGTEST SGTEST_ARGS
# CROSS_AFTER_ARGS SGNET MARKER
. "$WORK/domus.conf"
. "$WORK/lib.sh"
: "${SGNET:=}"
mkdir -p "$WORK/console"
: >"$WORK/created"
: >"$WORK/links"
if [ -n "$SGNET" ]; then
	. "$WORK/sgnet-lab.sh"
	SGNET_CONF="$WORK/net.conf"
	if ! command -v ping >/dev/null && command -v busybox >/dev/null; then
		ping() { busybox ping "$@"; } # a minimal dom0 without iputils-ping
	fi
fi

cleanup() {
	for name in $(cat "$WORK/created"); do
		xl domid "$name" >/dev/null 2>&1 && xl destroy "$name"
	done
	xenstore-rm /sgtest 2>/dev/null
	rmmod sgtest 2>/dev/null
	if [ -n "$SGNET" ] && grep -q "^sgnet " /proc/modules; then
		sgnet_unbind_all
		while read -r path; do
			xenstore-rm "$path" 2>/dev/null
		done <"$WORK/links"
		sgnet_unload
	fi
	wait
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

domid_of() {
	case "$1" in
	'' | *[!0-9]*) xl domid "$1" ;;
	*) echo "$1" ;;
	esac
}

step() { sgkit_step "$@"; }

for name in $DOMUS; do
	if xl domid "$name" >/dev/null 2>&1; then
		echo "SGKIT-STEP no-domain-named-$name rc=1"
		exit 1
	fi
done
if [ -n "$SGNET" ] && grep -q "^sgnet " /proc/modules; then
	echo "SGKIT-STEP sgnet-not-loaded-yet rc=1"
	SGNET="" # somebody else's: leave it alone
	exit 1
fi
rmmod sgtest 2>/dev/null
echo "$MARKER" >/dev/kmsg
# The rendezvous directory of sg_cross (docs/lab.md): owner dom0, every
# domain may read and write.
xenstore-rm /sgtest 2>/dev/null
step sgtest-dir xenstore-write /sgtest/domid/dom0 0
step sgtest-dir-chmod xenstore-chmod -r /sgtest b0

for name in $DOMUS; do
	cat >"$WORK/$name.cfg" <<-EOF
		name = "$name"
		type = "pv"
		kernel = "$KERNEL"
		ramdisk = "$WORK/domU.cpio.gz"
		extra = "console=hvc0 quiet rdinit=/init sgkit.domain=$name"
		memory = $DOMU_MEMORY
		maxmem = $DOMU_MEMORY
		vcpus = 1
		on_crash = "preserve"
	EOF
	echo "$name" >>"$WORK/created"
	# xl create -c attaches the console before the domain first runs; script
	# gives the console client the terminal it wants and writes the log.
	script -qfec "xl create -c $WORK/$name.cfg" "$WORK/console/guest-$name.log" \
		</dev/null >/dev/null 2>&1 &
	tries=0
	while ! xl domid "$name" >/dev/null 2>&1 && [ $tries -lt 120 ]; do
		sleep 1
		tries=$((tries + 1))
	done
	xl domid "$name" >/dev/null 2>&1
	echo "SGKIT-STEP xl-create-$name rc=$?"
	step "sgtest-domid-$name" xenstore-write "/sgtest/domid/$name" "$(xl domid "$name")"
done

# dom0's own run, while the domUs run theirs; it stays loaded (sg_cross's
# registrations are held) until the domUs are gone.
if [ -n "$SGTEST_ARGS" ]; then
	insmod "$SGTEST" $SGTEST_ARGS
	echo "SGKIT-INSMOD sgtest rc=$?"
fi

# sgnet: dom0 is the backend of each link; sgnet-lab.sh configures and pings.
if [ -n "$SGNET" ]; then
	# SGNET is sgnet.ko; its frontend and backend drivers are beside it.
	sgnet_load "${SGNET%/*}"
	echo "SGKIT-INSMOD sgnet rc=$?"
	while read -r kind be fe devid rest; do
		[ "$kind" = link ] || continue
		echo "/local/domain/$(domid_of "$be")/backend/vsg/$(domid_of "$fe")" >>"$WORK/links"
		echo "/local/domain/$(domid_of "$fe")/device/vsg/$devid" >>"$WORK/links"
		sh "$WORK/sgnet-connect.sh" "$be" "$fe" "$devid"
		echo "SGKIT-STEP sgnet-connect-$be-$fe-$devid rc=$?"
	done <"$SGNET_CONF"
	sgnet_configure dom0
	sgnet_ping dom0
fi

sgkit_wait_domus "$WORK/console"

xl list
for name in $DOMUS; do
	xl domid "$name" >/dev/null 2>&1 || continue
	xl destroy "$name"
	echo "SGKIT-STEP xl-destroy-$name rc=$?"
done
wait # the console clients end with their domains
if [ -n "$SGNET" ]; then
	sgnet_lab_after # dom0's ends must have lost carrier; unbinds them
	while read -r path; do
		xenstore-rm "$path" 2>/dev/null
		dir=${path%/*}
		[ -z "$(xenstore-list "$dir" 2>/dev/null)" ] && xenstore-rm "$dir" 2>/dev/null
	done <"$WORK/links"
	sgnet_unload
	echo "SGKIT-STEP rmmod-sgnet rc=$?"
fi
[ -n "$SGTEST_ARGS" ] && rmmod sgtest
if [ -n "$CROSS_AFTER_ARGS" ]; then
	insmod "$SGTEST" $CROSS_AFTER_ARGS
	echo "SGKIT-INSMOD sgtest rc=$?"
	rmmod sgtest
fi
sgkit_domains_left
dmesg | sed -n "/$MARKER/,\$p" >"$WORK/dom0-dmesg.log"
xl dmesg >"$WORK/xl-dmesg.log"
echo "SGKIT-DOMUS-DONE"
