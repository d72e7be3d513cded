# sgnet-lab.sh: shell functions for the sgnet lab (lab.net), sourced by the
# dom0 init and by the domU init (busybox sh).  /etc/sgkit/net.conf says what
# to do, one line each:
#   link BACKEND FRONTEND DEVID        dom0 connects a pair (sgnet-connect.sh)
#   addr DOMAIN DEVID ADDR/PREFIX PEER  DOMAIN configures its link DEVID and
#                                       pings PEER over it
#   mtu DEVID MTU                       both ends set link DEVID's MTU and,
#                                       after the pings, ping once with the
#                                       largest payload that MTU carries
#   reload DOMAIN                       then DOMAIN unbinds its sgnet devices,
#                                       unloads and reloads sgnet (sgnet.ko,
#                                       sgnet-front.ko, sgnet-back.ko), configures
#                                       and pings again
#   iperf DOMAIN ADDR                   DOMAIN runs an iperf3 server on ADDR
#                                       and a counter service (bench-snap.sh on
#                                       TCP port $SGNET_SNAP_PORT); dom0 runs TCP
#                                       and UDP both ways, a UDP flood, a ping
#                                       burst while its own receiver is paused
#                                       (DOMAIN's replies fill dom0's pool),
#                                       reloads its own sgnet (the backend)
#                                       under DOMAIN's Connected frontend and
#                                       pings again, and, at the end, destroys
#                                       DOMAIN in the middle of a transfer
#   vif DOMAIN ADDR/PREFIX              DOMAIN has a vif: it loads netfront
#                                       and configures eth0 with ADDR
#   bridge DOMAIN ADDR                  dom0 bridges DOMAIN's vif with its
#                                       own sgnet link to ADDR, and DOMAIN
#                                       runs iperf3 --bidir to ADDR across it
#   life DOMAIN                         dom0 saves and restores DOMAIN (its
#                                       frontends live), re-creating its vsg
#                                       nodes, then shuts it down with xl
# DOMAIN is dom0 or a domU name; BACKEND and FRONTEND are names or 0.
# What the host reads from the consoles:
#   SGKIT-NET DOMAIN devid=N if=IF state=S carrier=C mtu=M  an interface was set up
#   SGKIT-BIGPING from=DOMAIN to=PEER if=IF size=N rc=N  the largest ping
#   SGKIT-PING from=DOMAIN to=PEER if=IF rc=N tries=N  ping's exit status
#   SGKIT-NETSTAT DOMAIN if=IF key=value ...           the driver's counters
#   SGKIT-NET-AFTER DOMAIN if=IF carrier=C             dom0, after the domUs died
#   SGKIT-RELOAD DOMAIN unbind=N rmmod=N insmod=N      sgnet was reloaded
#   SGKIT-BURST from=DOMAIN to=PEER rc=N sent=N received=N   dom0's burst,
#                                       between SGKIT-NETSTAT dom0-preburst and -postburst
#   SGKIT-IPERF test=T to=ADDR rc=N json=...          dom0's iperf3 -J, one line
#   SGKIT-NETSTAT dom0-preflood|dom0-postflood ...    counters around the flood
#   SGKIT-NETSTAT dom0-pretcp|dom0-posttcp|dom0-posttcprev ...  and the TCP runs
#   SGKIT-ETHTOOL-K if=IF off=N tso=S tx=S on=N       offloads off for one
#                                       TCP run (tcp-nooffload, between the
#                                       dom0-preoff and dom0-postoff counters)
#   SGKIT-TCPEXT pretcp|posttcp key=value ...        dom0's TCP reordering counters
#   SGKIT-FLOOD-PING to=ADDR rc=N                     a ping after the flood
#   SGKIT-PAUSED-BURST to=ADDR pause=N full=F seconds=N resume=N rc=N sent=N received=N
#                                       the burst with dom0's rx_paused on;
#                                       counters dom0-prepause, dom0-paused,
#                                       dom0-resumed and DOMAIN's domu-prepause,
#                                       domu-resumed (SGKIT-NETSTAT)
#   SGKIT-HC dom0-paused|dom0-resumed hypercalls T= N v0 v1 ...
#                                       Xen's hypercall counters (xenperf -f,
#                                       every domain) around resuming
#   SGKIT-PAUSED-ONEWAY to=ADDR frames=N pause=N sent=N stalled=S seconds=N
#                                       N frames one way into DOMAIN's paused
#                                       receiver; counters dom0-preoneway,
#                                       dom0-oneway-paused, dom0-oneway-resumed,
#                                       domu-preoneway, domu-oneway-resumed and
#                                       SGKIT-HC dom0-oneway-paused|-resumed
#   SGKIT-BACKEND-RELOAD dom=D to=ADDR unbind=N rmmod=N fe_state=S insmod=N rc=N
#                                       dom0 reloaded sgnet while D's frontend
#                                       showed state S (4: Connected), ping rc
#   SGKIT-BUSY-DESTROY dom=D running=R destroy=N carrier=C client=S
#                                       D destroyed while an iperf3 ran to it
#   SGKIT-HOSTILE case=C reply=N off=O off_after=N stall_ms=N back=B ping=N seconds=N cpu_dom0_ms=N cpu_domu_ms=N [sghostile: ...]
#                                       DOMAIN played a hostile peer (case C:
#                                       stall, credit, storm, badhdr, race, die), then behaved;
#                                       counters dom0-prehostile-C and
#                                       dom0-posthostile-C (SGKIT-NETSTAT)
#   SGKIT-BRIDGE dom=D to=ADDR vif=V sgnet=IF bridge=N rc=N json=...
#                                       D's iperf3 --bidir across dom0's bridge
#                                       of V and IF (counters dom0-prebridge,
#                                       dom0-postbridge)
#   SGKIT-SGOP when=W scope=global|domN key=value ...  Xen's sg_op totals, or
#                                       domain N's usage (sgtest's sg_op suite)
#   SGKIT-RESTORE dom=D old=N new=N save=N gone=N restore=N connect=N unpause=N seconds=N
#                                       D saved and restored (xl save, restore -p)
#   SGKIT-RELINK dom=D be=B devid=N if=IF configure=N ping=N
#                                       B's end of D's link DEVID after the restore
#                                       (counters B-restored, D-restored)
#   SGKIT-SHUTDOWN dom=D rc=N state=S seconds=N carrier=C be_state=S
#                                       xl shutdown of D; dom0's end of its link

SGNET_CONF=/etc/sgkit/net.conf
SGNET_WAIT=90	# seconds for an interface, its carrier, a first ping reply
SGNET_SNAP_PORT=5300	# an iperf domain's counter service
SGNET_HOSTILE_PORT=5302	# ... and its hostile-peer service (sgnet-hostile.sh)
SGNET_HOSTILE_STALL_MS=3000	# dom0's stall_timeout_ms during the hostile cases
SGNET_ONEWAY_FRAMES=128	# frames dom0 sends into the iperf domain's paused receiver
SGNET_ONEWAY_PAUSE=20	# seconds that receiver stays paused (10 ran out once while bash still wrote)
SGNET_CMD_PORT=5304	# every domU's command service (sgnet-cmd.sh)
SGNET_BRIDGE=sgbr0	# dom0's bridge of a vif and an sgnet link (sgnet_bridge)

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

# The MTU net.conf gives link DEVID (nothing if none).
sgnet_mtu() {
	while read -r kind devid mtu; do
		[ "$kind" = mtu ] && [ "$devid" = "$1" ] && echo "$mtu"
	done <"$SGNET_CONF"
}

# Bring up DOMAIN's links (every addr line of DOMAIN; only link DEVID if given).
sgnet_configure() {
	while read -r kind dom devid addr peer; do
		[ "$kind" = addr ] && [ "$dom" = "$1" ] || continue
		[ -z "${2:-}" ] || [ "$devid" = "$2" ] || continue
		if ! ifc=$(sgnet_wait_if "$devid"); then
			echo "SGKIT-NET $1 devid=$devid if=none state=no-interface carrier=0"
			continue
		fi
		ip link set "$ifc" up
		ip addr add "$addr" dev "$ifc"
		# Serve iperf3 on it at once, not after the other links' carriers.
		sgnet_iperf_server "$1" "${addr%/*}"
		n=0
		while [ "$(sgnet_carrier "$ifc")" != 1 ] && [ $n -lt $SGNET_WAIT ]; do
			n=$((n + 1))
			sleep 1
		done
		mtu=$(sgnet_mtu "$devid")
		[ -n "$mtu" ] && ip link set "$ifc" mtu "$mtu"
		echo "SGKIT-NET $1 devid=$devid if=$ifc state=up carrier=$(sgnet_carrier "$ifc")" \
			"mtu=$(cat "/sys/class/net/$ifc/mtu")"
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

# PEER SIZE: three pings of SIZE bytes, tried twice like sgnet_ping_one (the
# peer may be reloading sgnet meanwhile).
sgnet_bigping_one() {
	tries=0
	while [ $tries -lt 2 ]; do
		tries=$((tries + 1))
		sgnet_wait_reply "$1"
		ping -c 3 -W 5 -s "$2" "$1" </dev/null && return 0
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
		mtu=$(sgnet_mtu "$devid")
		if [ -n "$mtu" ]; then
			# 20 bytes of IP and 8 of ICMP header: one frame of MTU bytes.
			size=$((mtu - 28))
			sgnet_bigping_one "$peer" "$size"
			echo "SGKIT-BIGPING from=$1 to=$peer if=$ifc size=$size rc=$?"
		fi
		sgnet_stats "$1" "$ifc"
	done <"$SGNET_CONF"
}

# dom0's TCP reordering counters (/proc/net/netstat TcpExt), as a line:
#   SGKIT-TCPEXT WHEN key=value ...
sgnet_tcpext() {
	awk -v when="$1" '$1 == "TcpExt:" { if (!n++) { split($0, k); next }
		line = "SGKIT-TCPEXT " when
		for (i = 2; i <= NF; i++)
			if (k[i] ~ /^(TCPOFOQueue|TCPSACKReorder|TCPTSReorder|TCPRenoReorder|TCPDSACKRecv|TCPLostRetransmit)$/)
				line = line " " k[i] "=" $i
		print line }' /proc/net/netstat
}

# The standard counters (ip -s link) of interface $1, as " key=value"s.
sgnet_std_stats() {
	for f in tx_packets tx_bytes tx_errors tx_dropped rx_packets rx_bytes \
		rx_errors rx_dropped rx_missed_errors; do
		printf ' %s=%s' "$f" "$(cat "/sys/class/net/$1/statistics/$f")"
	done
}

# TAG IF: a line of IF's counters, the standard ones and sgnet's own
# (ethtool -S carries only what the standard ones do not).
sgnet_stats() {
	[ -d "/sys/class/net/$2" ] || return 0
	stats=$(sgnet_std_stats "$2")
	if command -v ethtool >/dev/null 2>&1; then
		stats="$stats$(ethtool -S "$2" | awk -F': *' 'NR > 1 { gsub(/ /, "", $1); printf " %s=%s", $1, $2 }')"
	else
		stats="$stats interrupts=$(awk -v i="$2" '$NF == i { s = 0; for (k = 2; k < NF - 2; k++) s += $k; print s }' /proc/interrupts)"
	fi
	echo "SGKIT-NETSTAT $1 if=$2$stats"
}

# IF N NS: the kernel's NAPI deferral of interface IF: napi_defer_hard_irqs N,
# gro_flush_timeout NS (docs/driver.md, Interrupt mitigation).
sgnet_napi_defer() {
	echo "$2" >"/sys/class/net/$1/napi_defer_hard_irqs" &&
		echo "$3" >"/sys/class/net/$1/gro_flush_timeout"
	echo "SGKIT-STEP napi-defer-$1-$2-$3 rc=$?"
}

# IF 1|0: sgnet's debugfs switch rx_paused for interface IF (a test-only
# switch: the receive poll leaves the buffers full while it is 1).
sgnet_rx_paused() {
	dbg=/sys/kernel/debug
	[ -d "$dbg/sgnet" ] || mount -t debugfs debugfs "$dbg" 2>/dev/null
	dev=$(basename "$(readlink "/sys/class/net/$1/device")")
	echo "$2" >"$dbg/sgnet/$dev/rx_paused"
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

# DOMAIN ADDR: start the iperf3 server (and the counter service) net.conf
# gives DOMAIN on ADDR, once: sgnet_configure calls it as soon as ADDR is
# up, before it waits for the carrier of this and the other links (a link
# to a domU that boots late can take SGNET_WAIT seconds).
sgnet_iperf_server() {
	while read -r kind dom addr rest; do
		[ "$kind" = iperf ] && [ "$dom" = "$1" ] && [ "$addr" = "$2" ] || continue
		[ -e "/tmp/iperf-server-$addr" ] && continue
		: >"/tmp/iperf-server-$addr"
		iperf3 -s -D -B "$addr"
		echo "SGKIT-STEP iperf3-server-$addr rc=$?"
		nc -ll -p $SGNET_SNAP_PORT -e /lib/sgkit/bench-snap.sh &
		if [ -x /lib/sgkit/sgnet-hostile.sh ]; then
			nc -ll -p $SGNET_HOSTILE_PORT -e /lib/sgkit/sgnet-hostile.sh &
		fi
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
		sgnet_stats dom0-pretcp "$ifc"
		sgnet_tcpext pretcp
		sgnet_iperf_run tcp "$addr" -t 4
		sgnet_stats dom0-posttcp "$ifc"
		sgnet_iperf_run tcp-reverse "$addr" -t 4 -R
		sgnet_stats dom0-posttcprev "$ifc"
		sgnet_tcpext posttcp
		sgnet_offload_off "$ifc" "$addr"
		sgnet_iperf_run udp "$addr" -t 4 -u -b 20M -l 1400
		# dom0 receives: with the kernel's NAPI deferral on its end
		sgnet_napi_defer "$ifc" 2 2000000
		sgnet_stats dom0-predefer "$ifc"
		sgnet_iperf_run udp-reverse "$addr" -t 4 -u -b 20M -l 1400 -R
		sgnet_stats dom0-postdefer "$ifc"
		sgnet_napi_defer "$ifc" 0 0
		sgnet_stats dom0-preflood "$ifc"
		sgnet_iperf_run flood "$addr" -t 4 -u -b 0 -l 1400
		sgnet_stats dom0-postflood "$ifc"
		ping -c 3 -W 3 "$addr" </dev/null
		echo "SGKIT-FLOOD-PING to=$addr rc=$?"
		sgnet_paused_burst "$ifc" "$addr"
		sgnet_paused_oneway "$ifc" "$addr"
		sgnet_hostile "$ifc" "$addr" "$dom"
		sgnet_ringparam "$ifc" "$addr"
		sgnet_backend_reload "$dom" "$addr"
	done
}

# NODE VALUE: wait (at most SGNET_WAIT seconds) until xenstore NODE reads VALUE.
sgnet_wait_xs() {
	n=0
	while [ "$(xenstore-read "$1" 2>/dev/null)" != "$2" ] && [ $n -lt $SGNET_WAIT ]; do
		n=$((n + 1))
		sleep 1
	done
}

# dom0: IF ADDR: ethtool -G on dom0's end of a connected link: 32 receive
# buffers of 8192 bytes.  The link sets up again with them (the peer
# reconnects by itself); ethtool -g and dom0's xenstore details must show
# them, and ADDR must answer.  Then back to 64 of 69632, and a ping again.
sgnet_ringparam() {
	dir=$(readlink "/sys/class/net/$1/device")
	node=$(cat "/sys/bus/xen-backend/devices/$(basename "$dir")/nodename" 2>/dev/null)
	ethtool -G "$1" rx 32 rx-buf-len 8192
	set_rc=$?
	shown=$(ethtool -g "$1" | sed -n '/^Current/,$p')
	rx=$(echo "$shown" | sed -n 's/^RX:[[:space:]]*\([0-9]*\).*/\1/p')
	len=$(echo "$shown" | sed -n 's/^RX Buf Len:[[:space:]]*\([0-9]*\).*/\1/p')
	sgnet_wait_xs "$node/rx-buffers" 32
	sgnet_wait_reply "$2"
	ping -c 3 -W 2 "$2" </dev/null
	rc=$?
	xs_rx=$(xenstore-read "$node/rx-buffers" 2>/dev/null)
	xs_len=$(xenstore-read "$node/rx-buffer-size" 2>/dev/null)
	ethtool -G "$1" rx 64 rx-buf-len 69632
	back_rc=$?
	sgnet_wait_xs "$node/rx-buffers" 64
	sgnet_wait_reply "$2"
	ping -c 3 -W 2 "$2" </dev/null
	back_ping=$?
	echo "SGKIT-RINGPARAM if=$1 set=$set_rc rx=${rx:-?} buf_len=${len:-?}" \
		"xs_rx=${xs_rx:-?} xs_len=${xs_len:-?} ping=$rc back=$back_rc" \
		"back_ping=$back_ping xs_back=$(xenstore-read "$node/rx-buffers" 2>/dev/null)"
}

# dom0: DOMAIN ADDR: unload and reload sgnet in dom0, the backend of
# DOMAIN's link, while DOMAIN's frontend stays Connected (an unbound
# backend leaves the xenstore state as it is); the new backend publishes a
# new session, the frontend must reconnect by itself, and ADDR must answer
# over dom0's new interface.
sgnet_backend_reload() {
	devid=$(sgnet_devid_to dom0 "$2")
	fe="/local/domain/$(xl domid "$1")/device/vsg/$devid/state"
	sgnet_unbind_all
	u=$?
	sgnet_unload
	r=$?
	state=$(xenstore-read "$fe")
	sgnet_load /lab
	i=$?
	sgnet_configure dom0
	sgnet_wait_reply "$2"
	ping -c 5 -i 0.2 -W 2 "$2" </dev/null
	rc=$?
	echo "SGKIT-BACKEND-RELOAD dom=$1 to=$2 unbind=$u rmmod=$r fe_state=${state:-?}" \
		"insmod=$i rc=$rc"
	sgnet_stats dom0-reloaded "$(sgnet_if "$(sgnet_devid_to dom0 "$2")")"
}

# TAG ADDR: the counters of ADDR's domain, from its counter service.
sgnet_peer_stats() {
	busybox nc "$2" $SGNET_SNAP_PORT </dev/null | while read -r line; do
		echo "SGKIT-NETSTAT $1 $line"
	done
}

# IF KEY: one counter, standard (sysfs) or sgnet's own (ethtool -S).
sgnet_counter() {
	if [ -f "/sys/class/net/$1/statistics/$2" ]; then
		cat "/sys/class/net/$1/statistics/$2"
		return
	fi
	ethtool -S "$1" | awk -F': *' -v k="$2" '{ gsub(/ /, "", $1) } $1 == k { print $2 }'
}

# N: sgnet's tx_pack in this domain (the most small frames the sender
# packs into one of the peer's receive buffers); prints the old value.
# The cases that fill the peer's 64 buffers with a counted number of small
# frames (paused burst and one-way, hostile stall and credit) set 1, one
# frame per buffer: packed, 64 buffers take up to 1024 small frames, more
# than the sending socket's send buffer lets queue.
sgnet_tx_pack() {
	cat /sys/module/sgnet/parameters/tx_pack
	echo "$1" >/sys/module/sgnet/parameters/tx_pack
}

# dom0: IF ADDR: 128 echo requests at once while dom0's receiver is paused.
# The replies fill dom0's 64 receive buffers whatever the scheduling: the
# domU's sender gets -EBUSY, stalls and asks for credit.  dom0 waits for
# that request (credit_requests_received), resumes, and every reply must
# then come up through dom0's sgnet (the domU queued them meanwhile;
# ping's socket may still miss some, see docs/driver.md).  Small echoes:
# with 200 of 1000 bytes some replies never reached the domU's sgnet.
sgnet_paused_burst() {
	# The replies' sender is the domU: one frame per buffer there.
	domu_pack=$(echo "pack 1" | busybox nc "$2" $SGNET_HOSTILE_PORT |
		sed -n 's/^old=\([0-9]*\)$/\1/p')
	ping -c 1 -W 5 "$2" >/dev/null </dev/null # a fresh neighbour entry
	sgnet_peer_stats domu-prepause "$2"
	sgnet_stats dom0-prepause "$1"
	before=$(sgnet_counter "$1" credit_requests_received)
	txsent=$(sgnet_counter "$1" tx_packets)
	sgnet_rx_paused "$1" 1
	pause=$?
	ping -q -l 128 -c 128 -W 120 "$2" </dev/null >/tmp/paused.out 2>&1 &
	pid=$!
	n=0
	full=0
	while [ $n -lt 60 ]; do
		now=$(sgnet_counter "$1" credit_requests_received)
		[ "${now:-0}" -gt "${before:-0}" ] && full=1 && break
		n=$((n + 1))
		sleep 1
	done
	# ... and until every request is out (under TCG ping takes seconds
	# over its preload), so that all 128 replies wait when dom0 resumes.
	while [ $n -lt 90 ]; do
		now=$(sgnet_counter "$1" tx_packets)
		[ $((${now:-0} - ${txsent:-0})) -ge 128 ] && break
		n=$((n + 1))
		sleep 1
	done
	sgnet_stats dom0-paused "$1"
	echo "SGKIT-HC dom0-paused $(xenperf -f 2>/dev/null | grep '^hypercalls ')"
	sgnet_rx_paused "$1" 0
	resume=$?
	wait $pid
	rc=$?
	sgnet_stats dom0-resumed "$1"
	echo "SGKIT-HC dom0-resumed $(xenperf -f 2>/dev/null | grep '^hypercalls ')"
	cat /tmp/paused.out
	sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' /tmp/paused.out)
	received=$(sed -n 's/.* \([0-9]*\) \(packets \)\{0,1\}received.*/\1/p' /tmp/paused.out)
	sgnet_peer_stats domu-resumed "$2"
	echo "pack ${domu_pack:-16}" | busybox nc "$2" $SGNET_HOSTILE_PORT >/dev/null
	echo "SGKIT-PAUSED-BURST to=$2 pause=$pause full=$full seconds=$n resume=$resume" \
		"rc=$rc sent=${sent:-0} received=${received:-0}"
}

# dom0: IF ADDR: SGNET_ONEWAY_FRAMES frames one way into a paused receiver
# (issue 9's counted check, resume_hypercalls).  ADDR's domain pauses its
# receiver for SGNET_ONEWAY_PAUSE s (its hostile-peer service's "stall":
# debugfs rx_paused, answered at once); dom0 sends the frames as UDP datagrams to
# an address nobody has, through a permanent neighbour entry with a MAC
# nobody has, so the peer's stack drops them and nothing answers.  The
# first ones fill the peer's 64 buffers, then dom0's sender stalls and the
# rest queue in dom0.  dom0 reads its counters once it has stalled
# (dom0-oneway-paused) and again once every frame went through; the peer's
# come from its counter service before the pause and after.
sgnet_paused_oneway() {
	dst="${2%.*}.99"
	ip neigh replace "$dst" lladdr 02:00:00:00:00:99 dev "$1" nud permanent
	ping -c 1 -W 5 "$2" >/dev/null </dev/null # a fresh neighbour entry
	sgnet_peer_stats domu-preoneway "$2"
	out=$(echo "stall $SGNET_ONEWAY_PAUSE" | busybox nc "$2" $SGNET_HOSTILE_PORT)
	pause=$(echo "$out" | sed -n 's/^rc=\(-\{0,1\}[0-9]*\)$/\1/p' | tail -n 1)
	# The peer answered after pausing: from here on every frame dom0 sends
	# (the pause command's last ones too) waits, in its buffers or in dom0.
	sgnet_stats dom0-preoneway "$1"
	pack=$(sgnet_tx_pack 1)
	tx0=$(sgnet_counter "$1" tx_packets)
	stalls=$(sgnet_counter "$1" tx_stalls)
	# bash: one write, one datagram (/dev/udp); the frames queue once stalled.
	bash -c 'exec 3>"/dev/udp/$0/9" || exit 1
		i=0
		while [ $i -lt "$1" ]; do echo x >&3 || exit 1; i=$((i + 1)); done' \
		"$dst" $SGNET_ONEWAY_FRAMES </dev/null
	sent=$?
	stalled=0
	[ "$(sgnet_counter "$1" tx_stalls)" -gt "${stalls:-0}" ] && stalled=1
	sgnet_stats dom0-oneway-paused "$1"
	echo "SGKIT-HC dom0-oneway-paused $(xenperf -f 2>/dev/null | grep '^hypercalls ')"
	n=0
	while [ $(($(sgnet_counter "$1" tx_packets) - ${tx0:-0})) -lt $SGNET_ONEWAY_FRAMES ] &&
		[ $n -lt 60 ]; do
		n=$((n + 1))
		sleep 1
	done
	sleep 1 # what the pause command left queued goes too, and is counted
	sgnet_stats dom0-oneway-resumed "$1"
	sgnet_tx_pack "$pack" >/dev/null
	echo "SGKIT-HC dom0-oneway-resumed $(xenperf -f 2>/dev/null | grep '^hypercalls ')"
	ip neigh del "$dst" dev "$1"
	sgnet_peer_stats domu-oneway-resumed "$2"
	echo "SGKIT-PAUSED-ONEWAY to=$2 frames=$SGNET_ONEWAY_FRAMES pause=${pause:--1}" \
		"sent=$sent stalled=$stalled seconds=$n"
}

# DOMAIN's CPU time in ms (xl list: seconds with one decimal).
sgnet_cpu_ms() {
	xl list "$1" 2>/dev/null | awk 'NR == 2 { printf "%d\n", $6 * 1000 }'
}

# dom0: IF ADDR DOMAIN: DOMAIN plays a hostile peer of dom0's link IF
# (issue 13) through its hostile-peer service, one case after the other,
# with dom0's stall watchdog at SGNET_HOSTILE_STALL_MS: a peer that keeps
# our frames and grants no credit (stall), one that keeps them and grants
# credit every millisecond without re-arming (credit), a trigger storm (storm), frames
# with headers never offered (badhdr), a peer whose end goes away in the
# middle of our transfers and comes back (die).  After each, the peer
# behaves again and the link must carry a ping.
sgnet_hostile() {
	param=/sys/module/sgnet/parameters/stall_timeout_ms
	old=$(cat $param)
	echo $SGNET_HOSTILE_STALL_MS >$param
	pack=$(sgnet_tx_pack 1)
	sgnet_hostile_case stall "$1" "$2" "$3" "stall 20"
	sgnet_hostile_case credit "$1" "$2" "$3" "credit 12"
	sgnet_tx_pack "$pack" >/dev/null
	sgnet_hostile_case storm "$1" "$2" "$3" "storm 100"
	sgnet_hostile_case badhdr "$1" "$2" "$3" "badhdr"
	sgnet_hostile_case race "$1" "$2" "$3" "race 5"
	sgnet_hostile_case die "$1" "$2" "$3" "die 5"
	echo "$old" >$param
}

# dom0: CASE IF ADDR DOMAIN COMMAND: send COMMAND to DOMAIN's hostile-peer
# service; for stall and credit, send echo requests into the paused peer
# and wait for the watchdog to take the carrier (off=1, off_after: the
# one-second waits until then), for die, send them while the peer goes away
# and wait for the carrier to go; then wait for the carrier (back=1) and a
# ping (the peer behaves again).  Reports dom0's and DOMAIN's CPU time over
# the case.
sgnet_hostile_case() {
	ping -c 1 -W 5 "$3" >/dev/null </dev/null # a fresh neighbour entry
	sgnet_stats "dom0-prehostile-$1" "$2"
	c0=$(sgnet_cpu_ms Domain-0)
	cu=$(sgnet_cpu_ms "$4")
	start=$(date +%s)
	out=$(echo "$5" | busybox nc "$3" $SGNET_HOSTILE_PORT)
	echo "$out"
	reply=$(echo "$out" | sed -n 's/^rc=\(-\{0,1\}[0-9]*\)$/\1/p' | tail -n 1)
	info=$(echo "$out" | sed -n 's/.*\(sghostile: mode=.*\)/\1/p' | tail -n 1)
	off=0
	n=0
	if [ "$1" = stall ] || [ "$1" = credit ] || [ "$1" = die ]; then
		if [ "$1" != die ]; then
			# 100 at once (more than the peer's buffers), for 10 s at
			# most: with the carrier off, ping would go on retrying.
			ping -q -l 100 -c 100 -W 1 -w 10 "$3" </dev/null >/dev/null 2>&1 &
		else
			ping -q -i 0.05 -c 200 -W 1 "$3" </dev/null >/dev/null 2>&1 &
		fi
		pid=$!
		while [ "$(sgnet_carrier "$2")" != 0 ] && [ $n -lt 60 ]; do
			n=$((n + 1))
			sleep 1
		done
		[ "$(sgnet_carrier "$2")" = 0 ] && off=1
		wait $pid
	fi
	off_after=$n
	n=0
	while [ "$(sgnet_carrier "$2")" != 1 ] && [ $n -lt 90 ]; do
		n=$((n + 1))
		sleep 1
	done
	back=0
	[ "$(sgnet_carrier "$2")" = 1 ] && back=1
	sgnet_wait_reply "$3"
	ping -c 3 -W 2 "$3" </dev/null
	rc=$?
	seconds=$(($(date +%s) - start))
	c0=$(($(sgnet_cpu_ms Domain-0) - c0))
	cu=$(($(sgnet_cpu_ms "$4") - cu))
	sgnet_stats "dom0-posthostile-$1" "$2"
	[ "$1" = credit ] && info=$(echo last | busybox nc "$3" $SGNET_HOSTILE_PORT |
		sed -n 's/.*\(sghostile: mode=.*\)/\1/p' | tail -n 1)
	echo "SGKIT-HOSTILE case=$1 reply=${reply:--1} off=$off off_after=$off_after" \
		"stall_ms=$SGNET_HOSTILE_STALL_MS back=$back ping=$rc seconds=$seconds" \
		"cpu_dom0_ms=$c0 cpu_domu_ms=$cu $info"
}

# dom0: IF ADDR: checksum and TSO off with ethtool -K for one TCP run, then
# on again.
sgnet_offload_off() {
	ethtool -K "$1" tso off tx off
	off=$?
	shown=$(ethtool -k "$1")
	tso=$(echo "$shown" | sed -n 's/^tcp-segmentation-offload: \([a-z]*\).*/\1/p')
	tx=$(echo "$shown" | sed -n 's/^tx-checksumming: \([a-z]*\).*/\1/p')
	sgnet_stats dom0-preoff "$1"
	sgnet_iperf_run tcp-nooffload "$2" -t 2
	sgnet_stats dom0-postoff "$1"
	ethtool -K "$1" tso on tx on
	echo "SGKIT-ETHTOOL-K if=$1 off=$off tso=${tso:-?} tx=${tx:-?} on=$?"
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
		sgnet_stats "$1-preburst" "$ifc"
		out=$(ping -q -l 128 -i 0.002 -c 512 -s 1400 -W 5 "$peer" 2>&1)
		rc=$?
		echo "$out"
		sent=$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p')
		received=$(echo "$out" | sed -n 's/.* \([0-9]*\) \(packets \)\{0,1\}received.*/\1/p')
		echo "SGKIT-BURST from=$1 to=$peer if=$ifc rc=$rc sent=${sent:-0} received=${received:-0}"
		sgnet_stats "$1-postburst" "$ifc"
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

# The sgnet modules in load order: the part both ends share, then the
# frontend and the backend drivers, which use what it exports.
SGNET_MODULES="sgnet sgnet-front sgnet-back"

# DIR: insmod DIR/M.ko for each of SGNET_MODULES; 0 if all loaded.
sgnet_load() {
	sgnet_load_rc=0
	for sgnet_load_m in $SGNET_MODULES; do
		insmod "$1/$sgnet_load_m.ko" || sgnet_load_rc=1
	done
	return $sgnet_load_rc
}

# rmmod the sgnet modules, the drivers before the part they use; 0 if all went.
sgnet_unload() {
	sgnet_load_rc=0
	for sgnet_load_m in sgnet_front sgnet_back sgnet; do
		rmmod "$sgnet_load_m" || sgnet_load_rc=1
	done
	return $sgnet_load_rc
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

# DOMAIN DIR: if net.conf says so, reload sgnet (its modules from DIR) and
# ping again.
sgnet_reload() {
	grep -q "^reload $1\$" "$SGNET_CONF" || return 0
	sgnet_unbind_all
	u=$?
	sgnet_unload
	r=$?
	sgnet_load "$2"
	i=$?
	echo "SGKIT-RELOAD $1 unbind=$u rmmod=$r insmod=$i"
	sgnet_configure "$1"
	sgnet_ping "$1"
}

# domU: serve dom0's commands (sgnet-cmd.sh) on every address.
sgnet_cmd_server() {
	nc -ll -p $SGNET_CMD_PORT -e /lib/sgkit/sgnet-cmd.sh &
}

# domU: DOMAIN: if net.conf gives DOMAIN a vif, netfront on eth0 with its address.
sgnet_vif() {
	while read -r kind dom addr rest; do
		[ "$kind" = vif ] && [ "$dom" = "$1" ] || continue
		insmod /lib/sgkit/xen-netfront.ko
		echo "SGKIT-STEP insmod-xen-netfront rc=$?"
		n=0
		while [ ! -d /sys/class/net/eth0 ] && [ $n -lt $SGNET_WAIT ]; do
			n=$((n + 1))
			sleep 1
		done
		ip link set eth0 up && ip addr add "$addr" dev eth0
		echo "SGKIT-STEP vif-eth0 rc=$?"
	done <"$SGNET_CONF"
}

# dom0: ADDR COMMAND...: ask the command service of the domU at ADDR.
sgnet_cmd() {
	addr=$1
	shift
	echo "$*" | timeout 180 busybox nc "$addr" $SGNET_CMD_PORT
}

# The status of a command's output (its rc= line; -1 if none).
sgnet_cmd_rc() {
	rc=$(echo "$1" | sed -n 's/^rc=\(-\{0,1\}[0-9]*\)$/\1/p' | tail -n 1)
	echo "${rc:--1}"
}

# DOMAIN DEVID addr|peer: from DOMAIN's addr line for link DEVID, its own
# address (with its prefix) or the address it pings over the link (its peer's).
sgnet_addr_field() {
	while read -r kind dom devid addr peer; do
		[ "$kind" = addr ] && [ "$dom" = "$1" ] && [ "$devid" = "$2" ] || continue
		if [ "$3" = peer ]; then echo "$peer"; else echo "$addr"; fi
	done <"$SGNET_CONF"
}

# dom0: DOMAIN: the address dom0 reaches DOMAIN at (over their sgnet link).
sgnet_addr_from_dom0() {
	while read -r kind be fe devid; do
		[ "$kind" = link ] && [ "$be" = 0 ] && [ "$fe" = "$1" ] && sgnet_addr_field dom0 "$devid" peer
	done <"$SGNET_CONF"
}

# dom0: FRONTEND: "BACKEND DEVID" of every link whose frontend is FRONTEND.
sgnet_links_of() {
	while read -r kind be fe devid; do
		[ "$kind" = link ] && [ "$fe" = "$1" ] && echo "$be $devid"
	done <"$SGNET_CONF"
}

sgnet_domid() {
	case "$1" in
	0 | dom0) echo 0 ;;
	*) xl domid "$1" ;;
	esac
}

# dom0: WHEN [DOMID]: Xen's sg_op totals (query_global) and, with DOMID, that
# domain's usage, from sgtest's sg_op suite (its KTAP stays in dmesg).
sgnet_sgop() {
	level=$(cut -f1 /proc/sys/kernel/printk)
	echo 4 >/proc/sys/kernel/printk
	if [ -n "${2:-}" ]; then
		insmod /lab/sgtest.ko suites=sg_op usage_of="$2"
	else
		insmod /lab/sgtest.ko suites=sg_op
	fi
	rmmod sgtest
	echo "$level" >/proc/sys/kernel/printk
	echo "SGKIT-SGOP when=$1 scope=global" \
		"$(dmesg | sed -n 's/.*# sgtest\.global \(.*\)/\1/p' | tail -n 1)"
	[ -n "${2:-}" ] && echo "SGKIT-SGOP when=$1 scope=dom$2" \
		"$(dmesg | sed -n "s/.*# sgtest\.usage domid=$2 \(.*\)/\1/p" | tail -n 1)"
	return 0
}

# dom0: the lifecycle cases net.conf names (bridge, life), in that order.
sgnet_lifecycle() {
	grep "^bridge " "$SGNET_CONF" | while read -r kind dom addr; do
		sgnet_bridge "$dom" "$addr" </dev/null
	done
	grep "^life " "$SGNET_CONF" | while read -r kind dom; do
		sgnet_save_restore "$dom" </dev/null
		sgnet_shutdown "$dom" </dev/null
	done
}

# dom0: DOMAIN ADDR: one bridge of DOMAIN's vif (netback) and dom0's sgnet
# link to ADDR, holding dom0's address of that link; DOMAIN (netfront,
# addressed on the same subnet) runs iperf3 --bidir to ADDR (an sgnet domain)
# across it.  What DOMAIN sends reaches dom0's sgnet with netback's
# grant-mapped pages: sgnet must send copies (tx_foreign_copies).  Then the
# bridge goes and the address comes back to the sgnet link.
sgnet_bridge() {
	devid=$(sgnet_devid_to dom0 "$2")
	ifc=$(sgnet_if "$devid") || ifc=none
	mine=$(sgnet_addr_field dom0 "$devid" addr)
	vifaddr=$(grep "^vif $1 " "$SGNET_CONF" | cut -d' ' -f3)
	vif=vif$(xl domid "$1").0
	# The bridge's modules come in lab.net's overlay, not in dom0's base root.
	depmod -a
	modprobe bridge
	ip link add $SGNET_BRIDGE type bridge stp_state 0 forward_delay 0 &&
		ip addr del "$mine" dev "$ifc" &&
		ip link set "$ifc" master $SGNET_BRIDGE &&
		ip link set "$vif" master $SGNET_BRIDGE &&
		ip link set "$vif" up &&
		ip link set $SGNET_BRIDGE up &&
		ip addr add "$mine" dev $SGNET_BRIDGE
	br=$?
	sgnet_wait_reply "${vifaddr%/*}"
	sgnet_stats dom0-prebridge "$ifc"
	out=$(sgnet_cmd "${vifaddr%/*}" iperf "$2" --bidir -t 4)
	rc=$(sgnet_cmd_rc "$out")
	json=$(echo "$out" | sed -n 's/^json=//p')
	sgnet_stats dom0-postbridge "$ifc"
	ip link del $SGNET_BRIDGE
	ip addr add "$mine" dev "$ifc"
	[ -n "$json" ] || json='{}'
	echo "SGKIT-BRIDGE dom=$1 to=$2 vif=$vif sgnet=$ifc bridge=$br rc=$rc json=$json"
}

# dom0: DOMAIN: xl save and xl restore of DOMAIN with its sgnet links live.
# xl does not know vsg devices, so dom0 plays the toolstack's part: it
# removes the backend nodes of the old domid (each backend drops its device
# for the dead domain), restores DOMAIN paused, writes the nodes for the new
# domid (sgnet-connect.sh) and unpauses it; DOMAIN's frontends must rebuild
# their links (.resume).  Each backend's new interface is configured (dom0's
# here, a domU's through its command service, as a hotplug script would) and
# pings DOMAIN over it.  Xen's totals must come back as they were
# (SGKIT-SGOP presave, restored): nothing of the old domain left behind.
sgnet_save_restore() {
	old=$(xl domid "$1")
	links=$(sgnet_links_of "$1")
	sgnet_sgop presave
	start=$(date +%s)
	xl save "$1" "/tmp/$1.save"
	s=$?
	echo "$links" | while read -r be devid; do
		bedom=$(sgnet_domid "$be")
		xenstore-rm "/local/domain/$bedom/backend/vsg/$old/$devid"
		xenstore-rm "/local/domain/$bedom/backend/vsg/$old" 2>/dev/null
	done
	# dom0's own devices for the old domid must go.
	gone=0
	n=0
	while [ $n -lt 30 ]; do
		ls -d /sys/bus/xen-backend/devices/vsg-"$old"-* >/dev/null 2>&1 || gone=1
		[ $gone = 1 ] && break
		n=$((n + 1))
		sleep 1
	done
	xl restore -p "/tmp/$1.save"
	r=$?
	rm -f "/tmp/$1.save"
	new=$(xl domid "$1")
	c=0
	for be_devid in $(echo "$links" | tr ' ' ':'); do
		sh /lab/sgnet-connect.sh "${be_devid%:*}" "$new" "${be_devid#*:}" || c=1
	done
	xl unpause "$1"
	u=$?
	echo "SGKIT-RESTORE dom=$1 old=$old new=$new save=$s gone=$gone restore=$r" \
		"connect=$c unpause=$u seconds=$(($(date +%s) - start))"
	# (The helpers below read net.conf into kind, dom, devid, addr and peer.)
	echo "$links" | while read -r rl_be rl_dev; do
		rl_peer=$(sgnet_addr_field "$(sgnet_domain_name "$rl_be")" "$rl_dev" peer)
		if [ "$rl_be" = 0 ]; then
			sgnet_configure dom0 "$rl_dev"
			ifc=$(sgnet_if "$rl_dev") || ifc=none
			conf=0
			[ "$(sgnet_carrier "$ifc")" = 1 ] || conf=1
			sgnet_wait_reply "$rl_peer"
			ping -c 5 -i 0.2 -W 2 "$rl_peer" </dev/null >/dev/null
			p=$?
			sgnet_stats dom0-restored "$ifc"
		else
			rl_at=$(sgnet_addr_from_dom0 "$rl_be")
			out=$(sgnet_cmd "$rl_at" configure "$rl_dev")
			conf=$(sgnet_cmd_rc "$out")
			ifc=$(echo "$out" | sed -n "s/^SGKIT-NET $rl_be devid=$rl_dev if=\([^ ]*\) .*/\1/p" | tail -n 1)
			out=$(sgnet_cmd "$rl_at" ping "$rl_peer")
			p=$(sgnet_cmd_rc "$out")
			sgnet_cmd "$rl_at" stats | grep "^if=" | while read -r line; do
				echo "SGKIT-NETSTAT $rl_be-restored $line"
			done
		fi
		echo "SGKIT-RELINK dom=$1 be=$(sgnet_domain_name "$rl_be") devid=$rl_dev" \
			"if=${ifc:-none} configure=$conf ping=$p"
	done
	sgnet_cmd "$(sgnet_addr_from_dom0 "$1")" stats | grep "^if=" | while read -r line; do
		echo "SGKIT-NETSTAT $1-restored $line"
	done
	sgnet_sgop restored
}

sgnet_domain_name() {
	case "$1" in
	0) echo dom0 ;;
	*) echo "$1" ;;
	esac
}

# dom0: DOMAIN: xl shutdown of DOMAIN with its links live.  Its xl config
# keeps a shut-down domain ("preserve") until xl destroy, so Xen still
# holds whatever DOMAIN did not release: sgnet's reboot notifier must have
# dropped every registration and binding before the kernel powered off
# (usage before and after: SGKIT-SGOP preshutdown, shutdown).  dom0's end of
# each link must see the frontend close (carrier off, backend Closed).
sgnet_shutdown() {
	dom=$(xl domid "$1")
	sgnet_sgop preshutdown "$dom"
	xl shutdown "$1"
	rc=$?
	n=0
	state=?
	while [ $n -lt 60 ]; do
		state=$(xl list "$1" 2>/dev/null | awk 'NR == 2 { print $5 }')
		case "$state" in *s*) break ;; esac
		n=$((n + 1))
		sleep 1
	done
	sgnet_sgop shutdown "$dom"
	sgnet_links_of "$1" | while read -r be devid; do
		[ "$be" = 0 ] || continue
		ifc=$(sgnet_if "$devid") || ifc=none
		k=0
		while [ "$(sgnet_carrier "$ifc")" != 0 ] && [ $k -lt 20 ]; do
			k=$((k + 1))
			sleep 1
		done
		be_state=$(xenstore-read "/local/domain/0/backend/vsg/$dom/$devid/state")
		echo "SGKIT-SHUTDOWN dom=$1 rc=$rc state=${state:-?} seconds=$n" \
			"carrier=$(sgnet_carrier "$ifc") be_state=${be_state:-?}"
	done
}
