#!/bin/busybox sh
# /init of the lab's smoke dom0: a busybox initramfs that loads sgkit's test
# modules and powers off.  The host reads everything from the serial console:
#   SGKIT-INIT ...          init started (kernel release)
#   SGKIT-INSMOD m rc=N     a module was loaded (N is insmod's exit status)
#   SGKIT-DONE              all modules ran; the host may stop the machine
# The modules themselves print KTAP through printk.

/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

echo "SGKIT-INIT kernel=$(uname -r) domain=dom0"
# Let KERN_INFO through to the console: the KTAP lines are printed at that level.
echo 8 >/proc/sys/kernel/printk

while read -r module args; do
	case "$module" in ''|'#'*) continue ;; esac
	insmod "/lib/sgkit/$module.ko" $args
	echo "SGKIT-INSMOD $module rc=$?"
done </etc/sgkit/modules

echo "SGKIT-DONE"
sync
poweroff -f
