#!/bin/sh
# bench-set.sh: set sgnet's module parameters in this domain from one line
# "name=value ..." on stdin (bench.net's variants: the domU serves it on TCP
# port BENCH_PORT + 1 with busybox nc -ll -e, dom0 sends the line over the
# vif).  napi_defer_hard_irqs and gro_flush_timeout are the kernel's, per
# interface: they go to every sgnet interface's /sys/class/net/IF/.  Prints
# "name=value" as read back, one a line (IF:name=value for an interface's).
read -r line
for kv in $line; do
	name=${kv%%=*}
	case $name in
	napi_defer_hard_irqs | gro_flush_timeout)
		for d in /sys/class/net/*; do
			case "$(basename "$(readlink "$d/device/driver" 2>/dev/null)")" in
			vsg | vsg-back) ;;
			*) continue ;;
			esac
			echo "${kv#*=}" >"$d/$name"
			echo "${d##*/}:$name=$(cat "$d/$name") rc=$?"
		done
		;;
	*)
		echo "${kv#*=}" >"/sys/module/sgnet/parameters/$name"
		echo "$name=$(cat "/sys/module/sgnet/parameters/$name") rc=$?"
		;;
	esac
done
