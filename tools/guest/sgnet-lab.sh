# sgnet-lab.sh: shell functions for the sgnet lab (lab.net), sourced by the
# dom0 init and by the domU init (busybox sh).  /etc/sgkit/net.conf says what
# to do, one line each:
#   link BACKEND FRONTEND DEVID        dom0 connects a pair (sgnet-connect.sh)
#   addr DOMAIN DEVID ADDR/PREFIX PEER  DOMAIN configures its link DEVID and
#                                       pings PEER over it
#   reload DOMAIN                       then DOMAIN unbinds its sgnet devices,
#                                       unloads and reloads sgnet, configures
#                                       and pings again
# DOMAIN is dom0 or a domU name; BACKEND and FRONTEND are names or 0.
# What the host reads from the consoles:
#   SGKIT-NET DOMAIN devid=N if=IF state=S carrier=C   an interface was set up
#   SGKIT-PING from=DOMAIN to=PEER if=IF rc=N          ping's exit status
#   SGKIT-NETSTAT DOMAIN if=IF key=value ...           the driver's counters
#   SGKIT-NET-AFTER DOMAIN if=IF carrier=C             dom0, after the domUs died
#   SGKIT-RELOAD DOMAIN unbind=N rmmod=N insmod=N      sgnet was reloaded
#   SGKIT-BURST from=DOMAIN to=PEER rc=N sent=N received=N   dom0's burst

SGNET_CONF=/etc/sgkit/net.conf
SGNET_WAIT=90	# seconds for an interface, its carrier, a first ping reply

# The sgnet interface of xenbus device DEVID: the frontend is vsg-DEVID, the
# backend vsg-FRONTEND-DEVID.
sgnet_if() {
	for d in /sys/class/net/*; do
		[ -e "$d/device/driver" ] || continue
		case "$(basename "$(readlink "$d/device/driver")")" in
		vsg | vsg-back) ;;
		*) continue ;;
		esac
		case "$(basename "$(readlink "$d/device")")" in
		*-"$1")
			echo "${d##*/}"
			return 0
			;;
		esac
	done
	return 1
}

sgnet_wait_if() {
	n=0
	while ! sgnet_if "$1" >/dev/null; do
		n=$((n + 1))
		[ $n -ge $SGNET_WAIT ] && return 1
		sleep 1
	done
	sgnet_if "$1"
}

sgnet_carrier() {
	cat "/sys/class/net/$1/carrier" 2>/dev/null || echo unknown
}

# Bring up DOMAIN's links (every addr line of DOMAIN).
sgnet_configure() {
	while read -r kind dom devid addr peer; do
		[ "$kind" = addr ] && [ "$dom" = "$1" ] || continue
		if ! ifc=$(sgnet_wait_if "$devid"); then
			echo "SGKIT-NET $1 devid=$devid if=none state=no-interface carrier=0"
			continue
		fi
		ip link set "$ifc" up
		ip addr add "$addr" dev "$ifc"
		n=0
		while [ "$(sgnet_carrier "$ifc")" != 1 ] && [ $n -lt $SGNET_WAIT ]; do
			n=$((n + 1))
			sleep 1
		done
		echo "SGKIT-NET $1 devid=$devid if=$ifc state=up carrier=$(sgnet_carrier "$ifc")"
	done <"$SGNET_CONF"
}

sgnet_ping_one() {
	n=0
	while :; do
		out=$(ping -c 1 -W 2 "$1" 2>&1) && break
		n=$((n + 2))
		[ $n -ge $SGNET_WAIT ] && break
		sleep 1
	done
	ping -c 5 -i 0.2 -W 2 "$1" 2>&1
}

# Ping every peer of DOMAIN; print the counters.
sgnet_ping() {
	while read -r kind dom devid addr peer; do
		[ "$kind" = addr ] && [ "$dom" = "$1" ] || continue
		ifc=$(sgnet_if "$devid") || ifc=none
		sgnet_ping_one "$peer"
		echo "SGKIT-PING from=$1 to=$peer if=$ifc rc=$?"
		sgnet_stats "$1" "$ifc"
	done <"$SGNET_CONF"
}

sgnet_stats() {
	[ -d "/sys/class/net/$2" ] || return 0
	if command -v ethtool >/dev/null 2>&1; then
		stats=$(ethtool -S "$2" | awk -F': *' 'NR > 1 { gsub(/ /, "", $1); printf " %s=%s", $1, $2 }')
	else
		stats=""
		for f in rx_packets tx_packets rx_errors tx_errors rx_dropped tx_dropped; do
			stats="$stats $f=$(cat "/sys/class/net/$2/statistics/$f")"
		done
		stats="$stats interrupts=$(awk -v i="$2" '$NF == i { s = 0; for (k = 2; k < NF - 2; k++) s += $k; print s }' /proc/interrupts)"
	fi
	echo "SGKIT-NETSTAT $1 if=$2$stats"
}

# dom0: connect every link, then configure and ping like a domU.
sgnet_lab_dom0() {
	while read -r kind be fe devid rest; do
		[ "$kind" = link ] || continue
		sh /lab/sgnet-connect.sh "$be" "$fe" "$devid"
		echo "SGKIT-STEP sgnet-connect-$be-$fe-$devid rc=$?"
	done <"$SGNET_CONF"
	sgnet_configure dom0
	sgnet_ping dom0
	sgnet_burst dom0
}

# A burst: many echo requests in flight at once (more than the peer has
# receive buffers), to exercise -EBUSY, the stopped queue and credit.
sgnet_burst() {
	while read -r kind dom devid addr peer; do
		[ "$kind" = addr ] && [ "$dom" = "$1" ] || continue
		ifc=$(sgnet_if "$devid") || ifc=none
		out=$(ping -q -l 128 -i 0.002 -c 512 -s 1400 -W 5 "$peer" 2>&1)
		rc=$?
		echo "$out"
		sent=$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p')
		received=$(echo "$out" | sed -n 's/.* \([0-9]*\) \(packets \)\{0,1\}received.*/\1/p')
		echo "SGKIT-BURST from=$1 to=$peer if=$ifc rc=$rc sent=${sent:-0} received=${received:-0}"
		sgnet_stats "$1" "$ifc"
	done <"$SGNET_CONF"
}

# dom0, after the domUs are destroyed: the links must have lost carrier.
sgnet_lab_after() {
	sleep 2
	while read -r kind dom devid addr peer; do
		[ "$kind" = addr ] && [ "$dom" = dom0 ] || continue
		ifc=$(sgnet_if "$devid") || ifc=none
		echo "SGKIT-NET-AFTER dom0 if=$ifc carrier=$(sgnet_carrier "$ifc")"
		sgnet_stats dom0-after "$ifc"
	done <"$SGNET_CONF"
	sgnet_unbind_all
	echo "SGKIT-STEP sgnet-unbind rc=$?"
}

# Unbind every sgnet device from its driver: xenbus holds a reference on the
# module while a device is bound, so this comes before rmmod.
sgnet_unbind_all() {
	rc=0
	for d in /sys/bus/xen/drivers/vsg/vsg-* /sys/bus/xen-backend/drivers/vsg-back/vsg-*; do
		[ -e "$d" ] || continue
		echo "${d##*/}" >"${d%/*}/unbind" || rc=1
	done
	return $rc
}

# DOMAIN KO: if net.conf says so, reload sgnet (from KO) and ping again.
sgnet_reload() {
	grep -q "^reload $1\$" "$SGNET_CONF" || return 0
	sgnet_unbind_all
	u=$?
	rmmod sgnet
	r=$?
	insmod "$2"
	i=$?
	echo "SGKIT-RELOAD $1 unbind=$u rmmod=$r insmod=$i"
	sgnet_configure "$1"
	sgnet_ping "$1"
}
