#!/bin/sh
# /init of the lab's dom0: Debian (debootstrap minbase) with Xen's own
# toolstack.  It starts xenstored and xenconsoled, creates the lab's PV domUs
# with xl, loads sgtest in dom0, waits for every domU to finish, copies their
# console logs to the serial console, destroys them, and powers off.
#
# The host reads everything from the one serial console:
#   SGKIT-INIT ...                      init started
#   SGKIT-STEP what rc=N                a setup step and its exit status
#   SGKIT-INSMOD m rc=N                 a module was loaded in dom0
#   SGKIT-DOMU name state=S seconds=N   a domU's end: done | timeout | gone | create-failed
#   SGKIT-GUEST-LOG-BEGIN name          the domU's console log follows ...
#   SGKIT-GUEST-LOG-END name            ... up to here
#   SGKIT-DOM0-BEFORE-BEGIN / -END      sgtest's counter suites in dom0 before any domU exists
#   SGKIT-DOM0-AFTER-BEGIN / -END       the same after the domUs are gone
#   SGKIT-XL-DMESG-BEGIN / -END         `xl dmesg`
#   SGKIT-FREE-MEMORY before=N after=N  `xl info` free_memory (MB) before create, after destroy
#   SGKIT-DOMAINS-LEFT count=N ...      domains other than dom0 still in `xl list` then
#   SGKIT-LAB-DONE                      the end; the host may stop the machine
#   SGKIT-NET*, SGKIT-PING, SGKIT-IPERF lab.net only: see sgnet-lab.sh
# dom0's own sgtest KTAP is the unprefixed KTAP outside those sections: the
# run while the domUs live and, with CROSS_AFTER_ARGS, a run after they were
# destroyed (sg_cross_after).
#
# sg_cross rendezvous: /sgtest in xenstore, created here writable by every
# domain (owner dom0, others read/write); /sgtest/domid/NAME holds each
# domain's domid, written here after each xl create.
# (The domUs print SGKIT-DONE in their logs, hence a different final marker.)
# Settings come from /etc/sgkit/lab.conf (written by the host).

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1

# Defaults; lab.conf overrides them.
DOMUS="sg-a sg-b"
DOMU_MEMORY=128
DOMU_TIMEOUT=300
SGTEST_ARGS="suites=sg_op"
COUNTER_ARGS=""
CROSS_AFTER_ARGS=""
RESET_AFTER_ARGS=""	# sg_reset_after: soft-reset the HVM domUs that left state for it
DOMU_CFG_EXTRA=""	# more lines for every domU's xl config (bench.net: a vif)
DOMU_PVH=""		# domUs booted as PVH (an HVM container, no device model) instead of PV
DOMU_VIF=""		# domUs with a vif (netback in dom0, its hotplug a no-op: dom0 configures vifN.0)
[ -f /etc/sgkit/lab.conf ] && . /etc/sgkit/lab.conf

. /lab/lib.sh
step() { sgkit_step "$@"; }

free_memory() {
	xl info 2>/dev/null | awk -F: '$1 ~ /^free_memory/ { gsub(/ /, "", $2); print $2 }'
}

finish() {
	echo "SGKIT-LAB-DONE"
	sync
	busybox poweroff -f
	echo o >/proc/sysrq-trigger
	sleep 60
}

echo "SGKIT-INIT kernel=$(uname -r) domain=dom0 lab=multi domus=\"$DOMUS\""
# Let KERN_INFO through to the console: the KTAP lines are printed at that level.
echo 8 >/proc/sys/kernel/printk

# xl needs /var/run/xen (/var/run is /run) and these directories.
mkdir -p /run/xen /run/lock /var/log/xen /var/lib/xen /var/lib/xenstored
XENBIN=$(ls -d /usr/lib/xen-*/bin | head -n 1)
export PATH="$XENBIN:$PATH"

for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-netback xen-blkback; do
	step "modprobe-$m" modprobe "$m"
done
step mount-xenfs mount -t xenfs xenfs /proc/xen
step xenstored xenstored --pid-file /run/xen/xenstored.pid
step xen-init-dom0 xen-init-dom0
step xenconsoled xenconsoled --pid-file=/run/xen/xenconsoled.pid --log=guest --log-dir=/var/log/xen

# The rendezvous directory of sg_cross.  Nodes a domU creates under it
# inherit these permissions (with the domU as owner), so every domain can
# read every other's.
step sgtest-dir xenstore-write /sgtest/domid/dom0 0
step sgtest-dir-chmod xenstore-chmod -r /sgtest b0
xenstore-ls -p /sgtest

# sgtest's counters before any domU exists.  dom0's own sg_op state lives
# as long as dom0, so it is made first (sg_local, which leaves nothing else
# behind): then the counters after the domUs must equal these exactly.
if [ -n "$COUNTER_ARGS" ]; then
	echo "SGKIT-DOM0-BEFORE-BEGIN"
	for args in "suites=sg_local" "$COUNTER_ARGS"; do
		insmod /lab/sgtest.ko $args
		echo "SGKIT-INSMOD sgtest rc=$?"
		rmmod sgtest
	done
	echo "SGKIT-DOM0-BEFORE-END"
fi

before=$(free_memory)
echo "SGKIT-FREE-MEMORY-BEFORE $before"

for name in $DOMUS; do
	type=pv
	case " $DOMU_PVH " in *" $name "*) type=pvh ;; esac
	vif=""
	case " $DOMU_VIF " in *" $name "*) vif='vif = [ "script=/bin/true" ]' ;; esac
	cat >"/run/xen/$name.cfg" <<-EOF
		name = "$name"
		type = "$type"
		kernel = "/lab/vmlinuz"
		ramdisk = "/lab/domU.cpio.gz"
		extra = "console=hvc0 quiet rdinit=/init sgkit.domain=$name"
		memory = $DOMU_MEMORY
		maxmem = $DOMU_MEMORY
		vcpus = 1
		on_crash = "preserve"
		on_soft_reset = "preserve"
		$vif
		$DOMU_CFG_EXTRA
	EOF
	xl create "/run/xen/$name.cfg"
	echo "SGKIT-STEP xl-create-$name rc=$?"
	step "sgtest-domid-$name" xenstore-write "/sgtest/domid/$name" "$(xl domid "$name")"
done

# dom0's own sgtest run, while the domUs boot.
sgkit_insmod_all /lab

# lab.net: connect the sgnet links, configure dom0's end and ping (see
# sgnet-lab.sh; lab.test has no net.conf).
if [ -f /etc/sgkit/net.conf ]; then
	. /lab/sgnet-lab.sh
	sgnet_lab_dom0
fi
# bench.net: sgnet against netfront/netback over the same pair (bench-net.sh).
if [ -f /etc/sgkit/bench.conf ]; then
	. /lab/bench-net.sh
	bench_net_dom0
fi

# Wait for each domU's done marker (bounded: DOMU_TIMEOUT seconds in all).
sgkit_wait_domus /var/log/xen

# lab.net: a netfront domU bridged to an sgnet one, save/restore and a
# clean shutdown of a domU with live links, before the logs are copied
# (the restored domain's console goes on in the same log).
[ -f /etc/sgkit/net.conf ] && sgnet_lifecycle

xl list
for name in $DOMUS; do
	echo "SGKIT-GUEST-LOG-BEGIN $name"
	[ -f "/var/log/xen/guest-$name.log" ] && tr -d '\r' <"/var/log/xen/guest-$name.log"
	echo
	echo "SGKIT-GUEST-LOG-END $name"
done

# sg_reset_after: dom0 soft-resets each HVM domU that ran sg_reset (xl
# leaves it to dom0: on_soft_reset="preserve"), after its log is copied.
# dom0's sgtest is reloaded for it; its KTAP is dom0's.
if [ -n "$RESET_AFTER_ARGS" ]; then
	rmmod sgtest
	insmod /lab/sgtest.ko $RESET_AFTER_ARGS
	echo "SGKIT-INSMOD sgtest rc=$?"
fi

# lab.net: a domU destroyed in the middle of a transfer first.
[ -f /etc/sgkit/net.conf ] && sgnet_busy_destroy
for name in $DOMUS; do
	xl domid "$name" >/dev/null 2>&1 || continue
	xl destroy "$name"
	echo "SGKIT-STEP xl-destroy-$name rc=$?"
done
# Domain teardown can finish just after xl returns: wait (bounded) for the
# memory to come back before reading it.
after=$(free_memory)
tries=0
while [ "$after" != "$before" ] && [ $tries -lt 20 ]; do
	sleep 1
	tries=$((tries + 1))
	after=$(free_memory)
done
echo "SGKIT-FREE-MEMORY before=$before after=$after"
# Every domU must be gone, not left dying.
sgkit_domains_left
[ -f /etc/sgkit/net.conf ] && sgnet_lab_after

# dom0's modules stay loaded until here; remove them, last loaded first (sgnet's
# drivers use what sgnet exports).
for module in $(awk '$1 !~ /^(#|$)/ { m[++n] = $1 } END { while (n) print m[n--] }' \
	/etc/sgkit/modules); do
	module=$(echo "$module" | tr - _)
	grep -q "^$module " /proc/modules && rmmod "$module"
done

# sg_cross_after: what dom0 held through sg-b is gone; release what
# sg_cross left in dom0 for this check.
if [ -n "$CROSS_AFTER_ARGS" ]; then
	xenstore-ls -p /sgtest
	insmod /lab/sgtest.ko $CROSS_AFTER_ARGS
	echo "SGKIT-INSMOD sgtest rc=$?"
	rmmod sgtest
fi

# After the domUs are gone: lab.test reads sg_op's counters with sgtest
# (COUNTER_ARGS); lab.net loads dom0's modules again, to show they load
# cleanly once their peers died.
echo "SGKIT-DOM0-AFTER-BEGIN"
if [ -n "$COUNTER_ARGS" ]; then
	insmod /lab/sgtest.ko $COUNTER_ARGS
	echo "SGKIT-INSMOD sgtest rc=$?"
	rmmod sgtest
else
	sgkit_insmod_all /lab
fi
echo "SGKIT-DOM0-AFTER-END"

echo "SGKIT-XL-DMESG-BEGIN"
xl dmesg
echo "SGKIT-XL-DMESG-END"

finish
