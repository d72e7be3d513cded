#!/bin/sh
# bench-snap.sh [IF...]: this domain's counters for bench.net, one line per
# network interface (all but lo without arguments):
#   if=IF tx_packets=N rx_packets=N irq=N irq_all=N [sgnet: tx_dropped, ethtool -S counters]
# irq sums the /proc/interrupts lines whose name starts with IF (sgnet0,
# vif1.0-q0-rx, ...; netfront's eth0: vif0-q) over every CPU; irq_all sums
# every numbered line (the whole domain: timers and IPIs too, the same on
# each interface's line), so that a driver that trades its own upcalls for
# timer-driven polls (NAPI deferral) is seen doing so.  The domU serves it on a
# TCP port (busybox nc -ll -e) for dom0 to read.
ifs="$*"
if [ -z "$ifs" ]; then
	for d in /sys/class/net/*; do
		[ "${d##*/}" = lo ] || ifs="$ifs ${d##*/}"
	done
fi
irq_all=$(awk 'NR == 1 { n = NF; next }
	$1 ~ /^[0-9]+:$/ { for (k = 2; k <= n + 1; k++) s += $k }
	END { print s + 0 }' /proc/interrupts)
for i in $ifs; do
	[ -d "/sys/class/net/$i" ] || continue
	# netfront names its irqs after the xenbus device (vif0-q0-tx for vif-0),
	# not the interface; netback after the interface (vif1.0-q0-tx).
	pfx=$i
	dev=$(basename "$(readlink "/sys/class/net/$i/device" 2>/dev/null)")
	case "$dev" in
	vif-*-*) ;;
	vif-*) pfx="vif${dev#vif-}-q" ;;
	esac
	irq=$(awk -v i="$pfx" 'NR == 1 { n = NF; next }
		index($NF, i) == 1 { for (k = 2; k <= n + 1; k++) s += $k }
		END { print s + 0 }' /proc/interrupts)
	extra=""
	if command -v ethtool >/dev/null 2>&1; then
		extra=$(ethtool -S "$i" 2>/dev/null |
			awk -F': *' 'NR > 1 && $1 ~ /hypercalls|busy|stalls|credit|interrupts|dropped|return|polls|rechecks|coalesced|spurious|lent|copied|held|lend|packed|buffers/ {
				gsub(/ /, "", $1); printf " %s=%s", $1, $2 }')
		# sgnet's ethtool -S has no standard counter: tx_dropped from sysfs
		case "$extra" in
		*=*) extra=" tx_dropped=$(cat "/sys/class/net/$i/statistics/tx_dropped")$extra" ;;
		esac
	fi
	echo "if=$i tx_packets=$(cat "/sys/class/net/$i/statistics/tx_packets")" \
		"rx_packets=$(cat "/sys/class/net/$i/statistics/rx_packets") irq=$irq" \
		"irq_all=$irq_all$extra"
done
