#!/bin/busybox sh
# /init of the lab's smoke dom0: a busybox initramfs that loads sgkit's test
# modules and powers off.  The host reads everything from the serial console:
#   SGKIT-INIT ...          init started (kernel release)
#   SGKIT-INSMOD m rc=N     a module was loaded (N is insmod's exit status)
#   SGKIT-DONE              all modules ran; the host may stop the machine
# The modules themselves print KTAP through printk.

. /lib/sgkit/lib.sh
sgkit_busybox_init

echo "SGKIT-INIT kernel=$(uname -r) domain=dom0"
# Let KERN_INFO through to the console: the KTAP lines are printed at that level.
echo 8 >/proc/sys/kernel/printk

sgkit_insmod_all /lib/sgkit

echo "SGKIT-DONE"
sync
poweroff -f
