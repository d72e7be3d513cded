# bench-net.sh: shell functions of `invoke bench net`, sourced by the dom0 init
# and the domU init (busybox sh) of the sgnet lab.  /etc/sgkit/bench.conf sets:
#   BENCH_DOMU          the domU (its xl config has a vif with a no-op script)
#   BENCH_SGNET_DOMU    the domU's sgnet address (link devid 0 to dom0)
#   BENCH_VIF_DOM0      dom0's address on the vif (netback)
#   BENCH_VIF_DOMU      the domU's address on eth0 (netfront)
#   BENCH_SECONDS       length of each iperf3 run
#   BENCH_PORT          TCP port of the domU's counter service
#   BENCH_REPEAT        rounds (default 1)
#   BENCH_PIN           1: dom0's vCPUs on CPU 0, the domU's on CPU 1
# /etc/sgkit/bench-variants names what runs in each round, in order, one a
# line: "netfront", or an sgnet variant and its module parameters
# ("sgnet rx_return=16 ...", "sgnet-before rx_return=1 ..."), set in dom0
# and in the domU (bench-set.sh) before its runs; a change of irq_lateeoi or
# rx_counters (taken at set-up) rebinds dom0's backend, which makes the link
# reconnect.
# In each round dom0 runs, against an iperf3 server in the domU: TCP each
# way, UDP without a rate limit with 64- and 1500-byte IP packets, and a
# ping; each of them over every variant back to back, in the file's order
# in odd rounds (sgnet ... netfront) and the reverse in even ones.  Around each run
# it reads the counters of both ends (bench-snap.sh; the domU's over the
# *other* driver's link, so the reading does not add to the measured
# interfaces), Xen's hypercall counters (xenperf -f, Xen-wide) and every
# domain's CPU time (xl list, seconds).  What the host reads:
#   SGKIT-BENCH-SNAP drv=D round=R test=T when=before|after side=dom0|domU if=IF k=v...
#   SGKIT-BENCH-HC drv=D round=R test=T when=W hypercalls T= N v0 v1 ...   (xenperf)
#   SGKIT-BENCH-CPU drv=D round=R test=T when=W NAME=SECONDS ...   (xl list)
#   SGKIT-BENCH-RUN drv=D round=R test=T rc=N json=...      iperf3 -J, one line
#   SGKIT-BENCH-PING drv=D round=R rc=N rtt=min/avg/max/mdev
#   SGKIT-BENCH-VARIANT NAME round=R if=IF k=v ...  an sgnet variant set up
#   SGKIT-BENCH-END

BENCH_CONF=/etc/sgkit/bench.conf

# domU: netfront up on eth0, an iperf3 server, the counter service.
bench_net_domu() {
	. "$BENCH_CONF"
	insmod /lib/sgkit/xen-netfront.ko
	echo "SGKIT-INSMOD xen-netfront rc=$?"
	n=0
	while [ ! -d /sys/class/net/eth0 ] && [ $n -lt 60 ]; do
		n=$((n + 1))
		sleep 1
	done
	ip link set eth0 up
	ip addr add "$BENCH_VIF_DOMU/24" dev eth0
	iperf3 -s -D
	echo "SGKIT-BENCH-DOMU iperf3=$?"
	nc -ll -p "$BENCH_PORT" -e /lib/sgkit/bench-snap.sh &
	nc -ll -p $((BENCH_PORT + 1)) -e /lib/sgkit/bench-set.sh &
	echo "SGKIT-BENCH-DOMU ready eth0=$(cat /sys/class/net/eth0/carrier 2>/dev/null)"
}

# DRV TEST WHEN: Xen's hypercall counters and every domain's CPU time.
bench_xen() {
	tag="drv=$1 round=$round test=$2 when=$3"
	echo "SGKIT-BENCH-HC $tag $(xenperf -f | grep '^hypercalls ')"
	echo "SGKIT-BENCH-CPU $tag$(xl list | awk 'NR > 1 { printf " %s=%s", $1, $NF }')"
}

# DRV TEST WHEN DOM0_IF SNAP_ADDR: both ends' counters and Xen's.
bench_snap() {
	pre="SGKIT-BENCH-SNAP drv=$1 round=$round test=$2 when=$3"
	if [ "$3" = before ]; then
		busybox nc "$5" "$BENCH_PORT" </dev/null | while read -r line; do
			echo "$pre side=domU $line"
		done
		sh /lab/bench-snap.sh "$4" | while read -r line; do echo "$pre side=dom0 $line"; done
		bench_xen "$1" "$2" "$3"
	else
		bench_xen "$1" "$2" "$3"
		sh /lab/bench-snap.sh "$4" | while read -r line; do echo "$pre side=dom0 $line"; done
		busybox nc "$5" "$BENCH_PORT" </dev/null | while read -r line; do
			echo "$pre side=domU $line"
		done
	fi
}

# DRV TEST DOM0_IF ADDR SNAP_ADDR: one test over one driver (round $round).
bench_test() {
	t=$2
	case $t in
	tcp) args="" ;;
	tcp-reverse) args="-R" ;;
	udp64) args="-u -b 0 -l 36" ;;     # 36 + 8 UDP + 20 IP = 64 bytes
	udp1500) args="-u -b 0 -l 1472" ;; # 1472 + 28 = 1500 bytes
	esac
	bench_snap "$1" $t before "$3" "$5"
	if [ $t = ping ]; then
		out=$(ping -c 20 -i 0.2 -W 2 "$4" 2>&1)
		rc=$?
		rtt=$(echo "$out" | sed -n 's/.*= \([0-9.]*\/[0-9.]*\/[0-9.]*\/[0-9.]*\) ms.*/\1/p')
	else
		timeout 90 iperf3 -c "$4" -J -i 0 -t "$BENCH_SECONDS" $args \
			</dev/null >/tmp/bench.json 2>/tmp/bench.err
		rc=$?
		cat /tmp/bench.err
	fi
	bench_snap "$1" $t after "$3" "$5"
	if [ $t = ping ]; then
		echo "SGKIT-BENCH-PING drv=$1 round=$round rc=$rc rtt=$rtt"
	else
		echo "SGKIT-BENCH-RUN drv=$1 round=$round test=$t rc=$rc" \
			"json=$(tr -d '\n\t' </tmp/bench.json | tr -s ' ')"
	fi
}

# dom0: NAME "k=v ...": sgnet's module parameters in dom0 and in the domU;
# if irq_lateeoi or rx_counters changed, rebind dom0's backend (the link
# reconnects: a new interface in dom0, $sgif; both ends set up again).  The
# kernel's per-interface NAPI deferral (napi_defer_hard_irqs,
# gro_flush_timeout) goes to $sgif after that, and to the domU's sgnet
# interfaces (bench-set.sh).
bench_variant() {
	p=/sys/module/sgnet/parameters
	old=$(cat $p/irq_lateeoi $p/rx_counters)
	ifset=
	for kv in $2; do
		case ${kv%%=*} in
		napi_defer_hard_irqs | gro_flush_timeout) ifset="$ifset $kv" ;;
		*) echo "${kv#*=}" >"$p/${kv%%=*}" ;;
		esac
	done
	echo "$2" | busybox nc "$BENCH_VIF_DOMU" $((BENCH_PORT + 1)) |
		while read -r line; do echo "SGKIT-BENCH-SET $1 domU $line"; done
	if [ "$(cat $p/irq_lateeoi $p/rx_counters)" != "$old" ]; then
		dev=$(basename "$(readlink "/sys/class/net/$sgif/device")")
		echo "$dev" >/sys/bus/xen-backend/drivers/vsg-back/unbind
		echo "$dev" >/sys/bus/xen-backend/drivers/vsg-back/bind
		sgnet_configure dom0
		sgnet_wait_reply "$BENCH_SGNET_DOMU"
		sgif=$(sgnet_if 0) || sgif=none
	fi
	for kv in $ifset; do
		echo "${kv#*=}" >"/sys/class/net/$sgif/${kv%%=*}"
	done
	echo "SGKIT-BENCH-VARIANT $1 round=$round if=$sgif" \
		"$(cd $p && for f in *; do printf '%s=%s ' "$f" "$(cat "$f")"; done)" \
		"$(cd "/sys/class/net/$sgif" 2>/dev/null &&
			for f in napi_defer_hard_irqs gro_flush_timeout; do
				printf '%s=%s ' "$f" "$(cat "$f")"
			done)"
}

# dom0: VARIANTS_FILE: BENCH_REPEAT rounds.  Each test runs over every
# variant back to back (the drivers' runs of one test seconds apart, not a
# whole driver's tests apart), in the file's order in odd rounds and the
# reverse in even ones (A B, B A); an sgnet variant is set up only when it
# is not the one set up last.
bench_rounds() {
	order=${TMPDIR:-/tmp}/bench-order
	grep -v '^#' "$1" | grep . >"$order"
	sed '1!G;h;$!d' "$order" >"$order-reversed"
	cur=
	round=1
	while [ $round -le "${BENCH_REPEAT:-1}" ]; do
		file=$order
		[ $((round % 2)) = 0 ] && file=$order-reversed
		for t in tcp tcp-reverse udp64 udp1500 ping; do
			while read -r name params <&3; do
				case $name in
				netfront)
					bench_test netfront $t "$vif" "$BENCH_VIF_DOMU" \
						"$BENCH_SGNET_DOMU"
					;;
				*)
					if [ "$name" != "$cur" ]; then
						bench_variant "$name" "$params" </dev/null
						cur=$name
					fi
					bench_test "$name" $t "$sgif" "$BENCH_SGNET_DOMU" \
						"$BENCH_VIF_DOMU"
					;;
				esac
			done 3<"$file"
		done
		round=$((round + 1))
	done
}

# dom0: the vif up, both links answering, then the tests.
bench_net_dom0() {
	. "$BENCH_CONF"
	vif="vif$(xl domid "$BENCH_DOMU").0"
	n=0
	while [ ! -d "/sys/class/net/$vif" ] && [ $n -lt 60 ]; do
		n=$((n + 1))
		sleep 1
	done
	ip link set "$vif" up
	ip addr add "$BENCH_VIF_DOM0/24" dev "$vif"
	echo "SGKIT-STEP bench-vif-$vif rc=$?"
	sgnet_wait_reply "$BENCH_VIF_DOMU"
	sgnet_wait_reply "$BENCH_SGNET_DOMU"
	n=0
	while ! busybox nc "$BENCH_VIF_DOMU" "$BENCH_PORT" </dev/null | grep -q "if=eth0"; do
		n=$((n + 1))
		[ $n -ge 30 ] && break
		sleep 2
	done
	echo "SGKIT-STEP bench-counter-service rc=$([ $n -lt 30 ] && echo 0 || echo 1)"
	sgif=$(sgnet_if 0) || sgif=none
	echo "SGKIT-BENCH-IF sgnet=$sgif netfront=$vif"
	# One emulated CPU each (BENCH_PIN=1): dom0's vCPUs on CPU 0, the
	# domU's on CPU 1, so that how Xen shares the two CPUs among three
	# vCPUs does not change from one run to the next (docs/bench.md, Repeatability).
	if [ "${BENCH_PIN:-0}" = 1 ]; then
		xl vcpu-pin Domain-0 all 0 && xl vcpu-pin "$BENCH_DOMU" all 1
		echo "SGKIT-STEP bench-pin rc=$?"
		xl vcpu-list
	fi
	# Not measured: one TCP run over each link first.  The boot's first
	# iperf3 run took about 1 s more CPU in each domain than later ones
	# (docs/bench.md, What limits TCP dom0 -> domU), and round 1 starts with sgnet.
	for a in "$BENCH_SGNET_DOMU" "$BENCH_VIF_DOMU"; do
		timeout 90 iperf3 -c "$a" -t "$BENCH_SECONDS" </dev/null >/dev/null 2>&1
	done
	bench_rounds /etc/sgkit/bench-variants
	echo "SGKIT-BENCH-END"
}
