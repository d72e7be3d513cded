#!/bin/busybox sh
# /init of a lab domU (a PV or PVH guest created by the lab's dom0 with xl): a busybox
# initramfs that loads sgkit's test modules, says so, and then idles until dom0
# destroys the domain.  Its console is the guest's hvc0, which xenconsoled in
# dom0 writes to /var/log/xen/guest-NAME.log; dom0 copies that log to the
# serial console for the host.
#   SGKIT-INIT ...          init started (kernel release, domain name, guest type)
#   SGKIT-INSMOD m rc=N     a module was loaded (N is insmod's exit status)
#   SGKIT-DONE              all modules ran
# The modules themselves print KTAP through printk.

. /lib/sgkit/lib.sh
sgkit_busybox_init

domain=unknown
for word in $(cat /proc/cmdline); do
	case "$word" in sgkit.domain=*) domain="${word#sgkit.domain=}" ;; esac
done
guest=$(cat /sys/hypervisor/guest_type 2>/dev/null || echo unknown)
echo "SGKIT-INIT kernel=$(uname -r) domain=$domain guest=$guest"
# Let KERN_INFO through to the console: the KTAP lines are printed at that level.
echo 8 >/proc/sys/kernel/printk

# sgtest's sg_cross learns its role in the lab from cross_self.
sgkit_insmod_all /lib/sgkit "cross_self=$domain"

# lab.net: configure this domain's sgnet links and ping the peers.
if [ -f /etc/sgkit/net.conf ]; then
	. /lib/sgkit/sgnet-lab.sh
	# xl shutdown: the kernel runs poweroff_cmd, and this initramfs has no
	# /sbin/poweroff (busybox's applets are in /bin).
	echo "/bin/busybox poweroff -f" >/proc/sys/kernel/poweroff_cmd
	sgnet_vif "$domain"       # netfront on eth0, if net.conf gives this domain a vif
	sgnet_cmd_server          # dom0's commands (sgnet-cmd.sh)
	sgnet_configure "$domain" # and the iperf3 server, if any
	sgnet_ping "$domain"
	sgnet_reload "$domain" /lib/sgkit
fi
# bench.net: netfront next to sgnet, an iperf3 server and a counter service.
if [ -f /etc/sgkit/bench.conf ]; then
	. /lib/sgkit/bench-net.sh
	bench_net_domu
fi

echo "SGKIT-DONE"
# Stay up: dom0 destroys this domain (with sgtest still loaded) when it has
# collected the log.
while :; do
	sleep 3600
done
