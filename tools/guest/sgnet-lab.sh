# sgnet-lab.sh: shell functions for the sgnet lab (lab.net), sourced by the
# dom0 init and by the domU init (busybox sh).  /etc/sgkit/net.conf says what
# to do, one line each:
#   link BACKEND FRONTEND DEVID        dom0 connects a pair (sgnet-connect.sh)
#   addr DOMAIN DEVID ADDR/PREFIX PEER  DOMAIN configures its link DEVID and
#                                       pings PEER over it
#   reload DOMAIN                       then DOMAIN unbinds its sgnet devices,
#                                       unloads and reloads sgnet, configures
#                                       and pings again
#   iperf DOMAIN ADDR                   DOMAIN runs an iperf3 server on ADDR;
#                                       dom0 runs TCP and UDP both ways, a UDP
#                                       flood (to fill DOMAIN's receive pool)
#                                       and, at the end, destroys DOMAIN in the
#                                       middle of a transfer
# DOMAIN is dom0 or a domU name; BACKEND and FRONTEND are names or 0.
# What the host reads from the consoles:
#   SGKIT-NET DOMAIN devid=N if=IF state=S carrier=C   an interface was set up
#   SGKIT-PING from=DOMAIN to=PEER if=IF rc=N tries=N  ping's exit status
#   SGKIT-NETSTAT DOMAIN if=IF key=value ...           the driver's counters
#   SGKIT-NET-AFTER DOMAIN if=IF carrier=C             dom0, after the domUs died
#   SGKIT-RELOAD DOMAIN unbind=N rmmod=N insmod=N      sgnet was reloaded
#   SGKIT-BURST from=DOMAIN to=PEER rc=N sent=N received=N   dom0's burst
#   SGKIT-IPERF test=T to=ADDR rc=N json=...          dom0's iperf3 -J, one line
#   SGKIT-NETSTAT dom0-preflood|dom0-postflood ...    counters around the flood
#   SGKIT-FLOOD-PING to=ADDR rc=N                     a ping after the flood
#   SGKIT-BUSY-DESTROY dom=D running=R destroy=N carrier=C client=S
#                                       D destroyed while an iperf3 ran to it

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

sgnet_wait_reply() {
	n=0
	while :; do
		out=$(ping -c 1 -W 2 "$1" 2>&1) && break
		n=$((n + 2))
		[ $n -ge $SGNET_WAIT ] && break
		sleep 1
	done
}

# Wait for a first reply, then five pings.  A peer that reloads sgnet (net.conf
# "reload") may be away during those five: then wait and ping once more
# (tries=2 in SGKIT-PING).
sgnet_ping_one() {
	tries=0
	while [ $tries -lt 2 ]; do
		tries=$((tries + 1))
		sgnet_wait_reply "$1"
		ping -c 5 -i 0.2 -W 2 "$1" 2>&1 && return 0
	done
	return 1
}

# Ping every peer of DOMAIN; print the counters.
sgnet_ping() {
	while read -r kind dom devid addr peer; do
		[ "$kind" = addr ] && [ "$dom" = "$1" ] || continue
		ifc=$(sgnet_if "$devid") || ifc=none
		sgnet_ping_one "$peer"
		echo "SGKIT-PING from=$1 to=$peer if=$ifc rc=$? tries=$tries"
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
	sgnet_iperf_client
}

# DOMAIN PEER: the devid of DOMAIN's link to PEER.
sgnet_devid_to() {
	while read -r kind dom devid addr peer; do
		[ "$kind" = addr ] && [ "$dom" = "$1" ] && [ "$peer" = "$2" ] && echo "$devid"
	done <"$SGNET_CONF"
}

# DOMAIN: start the iperf3 servers net.conf gives it.
sgnet_iperf_server() {
	while read -r kind dom addr rest; do
		[ "$kind" = iperf ] && [ "$dom" = "$1" ] || continue
		iperf3 -s -D -B "$addr"
		echo "SGKIT-STEP iperf3-server-$addr rc=$?"
	done <"$SGNET_CONF"
}

# dom0: one iperf3 client run, NAME ADDR ARGS...; retried while the server
# is not up yet, bounded by timeout(1) (a stalled link fails, not hangs).
sgnet_iperf_run() {
	name=$1
	addr=$2
	shift 2
	n=0
	while :; do
		timeout 60 iperf3 -c "$addr" -J -i 0 "$@" </dev/null >/tmp/iperf.json 2>/tmp/iperf.err
		rc=$?
		cat /tmp/iperf.err
		[ $rc = 0 ] && break
		n=$((n + 1))
		[ $n -ge 20 ] && break
		grep -q "unable to connect\|server is busy" /tmp/iperf.json || break
		sleep 3
	done
	echo "SGKIT-IPERF test=$name to=$addr rc=$rc json=$(tr -d '\n\t' </tmp/iperf.json | tr -s ' ')"
}

# dom0: TCP and UDP both ways to every iperf server, then a UDP flood
# without a rate limit toward it, the counters around the flood, and a
# ping that must still get through.
sgnet_iperf_client() {
	grep "^iperf " "$SGNET_CONF" | while read -r kind dom addr rest; do
		ifc=$(sgnet_if "$(sgnet_devid_to dom0 "$addr")") || ifc=none
		sgnet_iperf_run tcp "$addr" -t 4
		sgnet_iperf_run tcp-reverse "$addr" -t 4 -R
		sgnet_iperf_run udp "$addr" -t 4 -u -b 20M -l 1400
		sgnet_iperf_run udp-reverse "$addr" -t 4 -u -b 20M -l 1400 -R
		sgnet_stats dom0-preflood "$ifc"
		sgnet_iperf_run flood "$addr" -t 4 -u -b 0 -l 1400
		sgnet_stats dom0-postflood "$ifc"
		ping -c 3 -W 3 "$addr" </dev/null
		echo "SGKIT-FLOOD-PING to=$addr rc=$?"
	done
}

# dom0, once the domUs are done: destroy every iperf server's domain while
# a transfer to and from it runs (iperf3 --bidir); its sgnet link in dom0
# must lose carrier.  The caller destroys the rest and checks free memory.
sgnet_busy_destroy() {
	grep "^iperf " "$SGNET_CONF" | while read -r kind dom addr rest; do
		ifc=$(sgnet_if "$(sgnet_devid_to dom0 "$addr")") || ifc=none
		timeout 120 iperf3 -c "$addr" -t 60 -i 0 --bidir </dev/null >/tmp/busy.out 2>&1 &
		client=$!
		sleep 4
		running=0
		kill -0 $client 2>/dev/null && running=1
		sgnet_stats dom0-busy "$ifc"
		xl destroy "$dom" </dev/null
		destroy=$?
		n=0
		while [ "$(sgnet_carrier "$ifc")" != 0 ] && [ $n -lt 20 ]; do
			n=$((n + 1))
			sleep 1
		done
		sleep 2
		state=exited
		if kill -0 $client 2>/dev/null; then
			kill $client
			state=killed
		fi
		wait $client
		echo "SGKIT-BUSY-DESTROY dom=$dom running=$running destroy=$destroy" \
			"carrier=$(sgnet_carrier "$ifc") client=$state seconds=$n"
	done
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
