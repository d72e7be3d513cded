#!/bin/sh
# sgnet-hostile.sh: this domU plays a hostile sgnet peer against dom0 for
# lab.net (issue 13), when dom0 asks: one command line on stdin (the domU
# serves it on TCP port SGNET_SNAP_PORT + 2 with busybox nc -ll -e), the
# output goes back to dom0, which reports it:
#   stall SECONDS   keep dom0's frames in our receive buffers for SECONDS
#                   (sgnet's debugfs rx_paused on the link to dom0: no buffer is returned,
#                   no credit granted); answers at once
#   storm ROUNDS    sghostile.ko mode=storm: ROUNDS x 66 triggers of dom0's
#                   receive buffers and credit addresses
#   badhdr          sghostile.ko mode=badhdr: a frame in every dom0 buffer,
#                   each with a header sgnet never offered
#   race ROUNDS     sghostile.ko mode=race: ROUNDS x (trigger every dom0
#                   buffer, then write a header and frame into each): the
#                   header and length change while dom0 copies them
#   credit SECONDS  a receiver that grants credit and re-arms nothing:
#                   rx_paused on the link to dom0 (its buffers stay full),
#                   and from 1 s on, sghostile.ko mode=credit: a trigger of
#                   dom0's credit grant address every millisecond for
#                   SECONDS, then rx_paused off; answers at once
#   last            sghostile's last summary line (after credit)
#   pack N          sgnet's tx_pack here (1: one frame per dom0 buffer);
#                   answers "old=M", the value before
#   die SECONDS     in 2 s (dom0 is sending by then), our end of the link
#                   to dom0 goes away (unbind vsg-0: its buffers are
#                   unregistered under dom0's transfers), and SECONDS later
#                   comes back (bind, configure); answers at once
# The last line is "rc=N"; sghostile's summary line comes before it.
. /lib/sgkit/sgnet-lab.sh
read -r cmd arg
ifc=$(sgnet_if 0) || ifc=none
case "$cmd" in
stall)
	sgnet_rx_paused "$ifc" 1
	rc=$?
	(
		sleep "$arg"
		sgnet_rx_paused "$ifc" 0
	) </dev/null >/dev/null 2>&1 &
	;;
credit)
	sgnet_rx_paused "$ifc" 1
	rc=$?
	(
		sleep 1
		insmod /lib/sgkit/hostile/sghostile.ko mode=credit rounds=$((arg * 1000)) devid=0
		rmmod sghostile
		sgnet_rx_paused "$ifc" 0
	) </dev/null >/dev/null 2>&1 &
	;;
pack)
	echo "old=$(cat /sys/module/sgnet/parameters/tx_pack)"
	echo "$arg" >/sys/module/sgnet/parameters/tx_pack
	rc=$?
	;;
last)
	dmesg | sed -n 's/.*\(sghostile: mode=.*\)/\1/p' | tail -n 1
	rc=0
	;;
storm | badhdr | race)
	insmod /lib/sgkit/hostile/sghostile.ko mode="$cmd" rounds="${arg:-100}" devid=0
	rc=$?
	dmesg | sed -n 's/.*\(sghostile: mode=.*\)/\1/p' | tail -n 1
	rmmod sghostile
	;;
die)
	domain=unknown
	for word in $(cat /proc/cmdline); do
		case "$word" in sgkit.domain=*) domain="${word#sgkit.domain=}" ;; esac
	done
	drv=/sys/bus/xen/drivers/vsg
	[ -e "$drv/vsg-0" ]
	rc=$?
	(
		sleep 2
		echo vsg-0 >"$drv/unbind"
		sleep "$arg"
		echo vsg-0 >"$drv/bind"
		sgnet_configure "$domain"
	) </dev/null >/dev/null 2>&1 &
	;;
*)
	rc=2
	;;
esac
echo "rc=$rc"
