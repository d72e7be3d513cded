#!/bin/sh
# sgnet-cmd.sh: what dom0 asks a lab.net domU to do for the lifecycle cases
# (sgnet_lifecycle in sgnet-lab.sh): one command line on stdin (every
# lab.net domU serves it on TCP port SGNET_CMD_PORT with busybox nc -ll -e),
# the output goes back to dom0, which reports it:
#   configure DEVID bring up this domain's sgnet link DEVID (sgnet_configure):
#                   a backend here gets a new interface when its frontend's
#                   domain was restored under a new domid, which the
#                   toolstack's hotplug script would configure; rc 0 once
#                   it has carrier
#   ping ADDR       wait for a reply from ADDR, then five pings
#   iperf ADDR ARGS iperf3 -c ADDR -J -i 0 ARGS; "json=" and the JSON on one line
#   stats           sgnet's counters of every sgnet interface, "if=IF k=v ..."
# The last line is "rc=N".
. /lib/sgkit/sgnet-lab.sh
read -r cmd addr args
domain=unknown
for word in $(cat /proc/cmdline); do
	case "$word" in sgkit.domain=*) domain="${word#sgkit.domain=}" ;; esac
done
case "$cmd" in
configure)
	link_id=$addr # (sgnet_configure reads net.conf into devid and addr)
	sgnet_configure "$domain" "$link_id"
	rc=1
	ifc=$(sgnet_if "$link_id") && [ "$(sgnet_carrier "$ifc")" = 1 ] && rc=0
	;;
ping)
	sgnet_wait_reply "$addr"
	ping -c 5 -i 0.2 -W 2 "$addr" </dev/null >/dev/null 2>&1
	rc=$?
	;;
iperf)
	timeout 60 iperf3 -c "$addr" -J -i 0 $args </dev/null >/tmp/cmd-iperf.json 2>&1
	rc=$?
	echo "json=$(tr -d '\n\t' </tmp/cmd-iperf.json | tr -s ' ')"
	;;
stats)
	rc=0
	for d in /sys/class/net/*; do
		[ -e "$d/device/driver" ] || continue
		case "$(basename "$(readlink "$d/device/driver")")" in
		vsg | vsg-back) sgnet_stats x "${d##*/}" | cut -d' ' -f3- ;;
		esac
	done
	;;
*)
	rc=2
	;;
esac
echo "rc=$rc"
