#!/bin/sh
# bench-set.sh: set sgnet's module parameters in this domain from one line
# "name=value ..." on stdin (bench.net's variants: the domU serves it on TCP
# port BENCH_PORT + 1 with busybox nc -ll -e, dom0 sends the line over the
# vif).  Prints "name=value" as read back, one a line.
read -r line
for kv in $line; do
	name=${kv%%=*}
	echo "${kv#*=}" >"/sys/module/sgnet/parameters/$name"
	echo "$name=$(cat "/sys/module/sgnet/parameters/$name") rc=$?"
done
