# Shared by the guest scripts (sourced, never run): the busybox /init
# preamble, loading the listed modules, waiting for domUs, and the lines
# they print for the host (report/protocol.py defines every SGKIT-* line).
# Shipped as /lib/sgkit/lib.sh in every initramfs, as /lab/lib.sh in the
# lab's dom0 and next to deploy-domus.sh on a real host.

# sgkit_busybox_init: /init's first steps in a busybox initramfs: the applets,
# the pseudo file systems and the console as stdin, stdout and stderr.
sgkit_busybox_init() {
	/bin/busybox --install -s /bin
	mkdir -p /proc /sys /dev
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev
	exec </dev/console >/dev/console 2>&1
}

# sgkit_insmod_all DIR [SGTEST_EXTRA]: load every module listed in
# /etc/sgkit/modules ("name args...") from DIR/name.ko; sgtest also gets
# SGTEST_EXTRA (a domU's cross_self).
sgkit_insmod_all() {
	while read -r module args; do
		case "$module" in '' | '#'*) continue ;; esac
		if [ "$module" = sgtest ] && [ -n "${2:-}" ]; then
			args="$args $2"
		fi
		insmod "$1/$module.ko" $args
		echo "SGKIT-INSMOD $module rc=$?"
	done </etc/sgkit/modules
}

# sgkit_step WHAT COMMAND...: run COMMAND and report its exit status as WHAT.
sgkit_step() {
	what="$1"
	shift
	"$@"
	echo "SGKIT-STEP $what rc=$?"
}

# sgkit_wait_domus LOGDIR: wait for each domU in $DOMUS to print its done
# marker into LOGDIR/guest-NAME.log, DOMU_TIMEOUT seconds for all of them;
# report how each one ended: done, gone (destroyed or crashed) or timeout.
sgkit_wait_domus() {
	start=$(cut -d. -f1 /proc/uptime)
	for name in $DOMUS; do
		state=timeout
		while :; do
			if grep -q "SGKIT-DONE" "$1/guest-$name.log" 2>/dev/null; then
				state=done
				break
			fi
			if ! xl domid "$name" >/dev/null 2>&1; then
				state=gone
				break
			fi
			[ $(($(cut -d. -f1 /proc/uptime) - start)) -ge "$DOMU_TIMEOUT" ] && break
			sleep 2
		done
		echo "SGKIT-DOMU $name state=$state seconds=$(($(cut -d. -f1 /proc/uptime) - start))"
	done
}

# sgkit_domains_left: every domain but dom0 still in `xl list` (a domain
# whose pages someone still references stays there as a zombie).
sgkit_domains_left() {
	left=$(xl list | awk 'NR > 1 && $1 != "Domain-0" { printf "%s(%s) ", $1, $2 }')
	echo "SGKIT-DOMAINS-LEFT count=$(echo $left | wc -w) $left"
}
