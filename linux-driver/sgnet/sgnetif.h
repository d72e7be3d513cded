/* SPDX-License-Identifier: MIT */
/*
 * sgnetif.h
 *
 * The sgnet protocol: a paravirtual Ethernet link between two Xen domains
 * that moves frames with the sg_op hypercall (scatter-gather registrations,
 * transfers and address-bound event channels) and nothing else: no grant
 * tables, no shared rings.  The xenbus device type is "vsg".
 *
 * Copyright (c) 2026, the sgkit authors
 */

#ifndef __XEN_PUBLIC_IO_SGNETIF_H__
#define __XEN_PUBLIC_IO_SGNETIF_H__

#include <linux/virtio_net.h>	/* struct virtio_net_hdr, __le32, __le16 */

/*
 * Both ends are alike: each registers receive buffers for the other and
 * sends by transferring into the other's.  The frontend is the end in the
 * guest that has device/vsg/<devid>; the backend's directory is
 * backend/vsg/<frontend-domid>/<devid>, as for a vif.
 *
 * Each end, naming the other as the peer of every registration:
 *
 *  - registers SGNET_NR_RX receive buffers, each with XEN_SGOP_register,
 *    XEN_SG_ACCESS_WRITE and XEN_SG_REG_ONESHOT (a transfer consumes the
 *    buffer until its owner re-arms it with XEN_SGOP_rearm);
 *  - registers one control registration of SGNET_CTRL_LEN bytes, writable
 *    by the peer, whose only use is to be triggered:
 *      SGNET_CTRL_REQUEST: the peer found every buffer of ours busy and
 *                          asks for credit;
 *      SGNET_CTRL_GRANT:   the peer has re-armed buffers after our request;
 *  - binds its own event channel, with a counter (XEN_SG_BIND_COUNTER), to
 *    byte 0 of every receive buffer and to both control addresses.
 *
 * Xenstore keys, written by each end in its own directory in one
 * transaction before it changes state:
 *
 * protocol
 *      Values:         "sgnet-4" (SGNET_PROTOCOL)
 *
 *      The protocol spoken.  An end whose peer publishes another value
 *      fails the link.  sgnet-3 added struct sgnet_hdr's returned field
 *      (the header grew from 24 to 32 bytes); sgnet-4 packed records
 *      (SGNET_HDR_F_MORE).
 *
 * rx-buffers
 *      Values:         <uint32_t>
 *
 *      The number of receive buffers, SGNET_NR_RX.
 *
 * rx-buffer-size
 *      Values:         <uint32_t>
 *
 *      Bytes per receive buffer, a multiple of 4096, at least
 *      sizeof(struct sgnet_hdr) + 1514.  The largest frame the peer may
 *      send is this less sizeof(struct sgnet_hdr).
 *
 * rx-ids
 *      Values:         <uint32_t> separated by single spaces
 *
 *      The registration ids of the receive buffers, in ring order.
 *
 * ctrl-id
 *      Values:         <uint32_t>
 *
 *      The registration id of the control registration.
 *
 * feature-csum
 *      Values:         0/1 (boolean)
 *      Default Value:  0
 *
 *      1: frames may carry VIRTIO_NET_HDR_F_NEEDS_CSUM (the checksum is
 *      left to the receiver).
 *
 * feature-gso-tcpv4
 * feature-gso-tcpv6
 *      Values:         0/1 (boolean)
 *      Default Value:  0
 *
 *      1 (only with feature-csum): frames may be TCP/IPv4 (TCP/IPv6) GSO
 *      frames, gso_type VIRTIO_NET_HDR_GSO_TCPV4 (_TCPV6).  Published only
 *      by an end whose buffers hold a 64 KiB frame.
 *
 * session
 *      Values:         <uint32_t>, not 0
 *
 *      Backend only: a random number, new at every set-up of the
 *      backend's buffers.
 *
 * backend-session
 *      Values:         <uint32_t>
 *
 *      Frontend only: the backend's "session" the frontend's buffers were
 *      set up for.  A backend takes a frontend's details only if this is
 *      its own session, so that a backend reloaded under a Connected
 *      frontend never uses the frontend's old registrations.
 *
 * States: the backend publishes and goes to InitWait; the frontend, seeing
 * InitWait with a session it has not read, reads the backend's keys,
 * publishes its own and goes to Initialised; the backend reads them and
 * goes to Connected; the frontend follows.  Closing/Closed on either side
 * ends the link; an end that sets up again publishes new ids.
 */

#define SGNET_PROTOCOL		"sgnet-4"

/* Receive buffers per end. */
#define SGNET_NR_RX		64

/* The control registration: its length and the addresses the peer triggers. */
#define SGNET_CTRL_LEN		64
#define SGNET_CTRL_REQUEST	0
#define SGNET_CTRL_GRANT	8

/*
 * Frame format.  A sender fills a receive buffer with one XEN_SGOP_transfer
 * (XEN_SG_TRANSFER_TO_PEER, usually with XEN_SG_TRANSFER_TRIGGER, which
 * fires the receiver's binding on byte 0) of one or more records, the
 * first at offset 0:
 *
 *     offset 0                       struct sgnet_hdr
 *     offset sizeof(struct sgnet_hdr) the Ethernet frame, len bytes
 *
 * sgnet-4: a header with SGNET_HDR_F_MORE in flags says that another
 * record follows, at the next multiple of SGNET_REC_ALIGN after this
 * record's frame (the bytes between are padding).  A buffer holds at most
 * SGNET_MAX_RECORDS records, each wholly within the buffer; only the first
 * header's returned may be non-zero.  The receiver takes the records in
 * order and stops at the first it refuses (counted as an error; the
 * records before it have been delivered).  Packing is the sender's choice
 * (sgnet packs frames of at most 1536 bytes, never GSO ones); a receiver
 * with rx_counters off (a trailer marks a filled buffer: docs/driver.md)
 * takes one record per buffer and refuses SGNET_HDR_F_MORE.
 *
 * A sender fills the peer's buffers in the order of rx-ids, wrapping; the
 * receiver consumes them in that order.  A buffer the sender must skip is
 * filled with a header of len 0 (no frame), which the receiver counts as
 * an error and re-arms.
 *
 * vnet is virtio's struct virtio_net_hdr (the 10-byte one, without
 * num_buffers), little endian, as virtio 1.x defines it:
 *   flags        VIRTIO_NET_HDR_F_NEEDS_CSUM (only if the receiver published
 *                feature-csum; then csum_start/csum_offset, counted from
 *                the start of the frame, locate the checksum field, which
 *                lies within the frame) or VIRTIO_NET_HDR_F_DATA_VALID, not
 *                both; no other bit;
 *   gso_type     VIRTIO_NET_HDR_GSO_NONE (then gso_size and hdr_len are 0),
 *                or _TCPV4/_TCPV6 if the receiver published
 *                feature-gso-tcpv4/6, with NEEDS_CSUM and a gso_size; ECN
 *                and UDP types are never offered;
 *   without NEEDS_CSUM, csum_start and csum_offset are 0.
 * flags is 0 or SGNET_HDR_F_MORE; reserved is 0.  A receiver drops (and
 * counts) any frame that breaks these rules; the peer writes the buffer, so
 * a receiver copies each header once and uses only its copy.
 *
 * returned (sgnet-3) returns buffers in-band: bit i set says that the
 * sender of this frame has re-armed (XEN_SGOP_rearm) its receive buffer i,
 * counted in the order of its rx-ids, since the last header that named it:
 * a buffer the receiver of this frame filled and the sender consumed.  At
 * most SGNET_NR_RX buffers, one bit each, so no length to trust.  It is
 * news, not permission: Xen's XEN_SG_REG_ONESHOT still refuses (-EBUSY) a
 * transfer into a buffer its owner has not re-armed, so a false return
 * costs the liar's peer one -EBUSY and a credit request, nothing more.  A
 * receiver takes a bit only for a buffer of the peer's that it filled and
 * has not yet seen returned (in range, handed out, not returned twice)
 * and counts a header that names any other.  A sender names every buffer
 * it re-arms after consuming it, whichever way it re-armed it: inside the
 * hypercall that carries this frame (in-band), or earlier with a rearm of
 * its own (out-of-band: one-way traffic, or before a credit grant).
 * Buffers re-armed without having been consumed (a credit rearm, a gap
 * skipped) are not named.  A header that is never sent (one-way traffic)
 * leaves the peer to find its buffers by trying them, in ring order.
 */
struct sgnet_hdr {
	__le32 len;			/* frame length, after the header */
	__le32 flags;			/* 0 or SGNET_HDR_F_MORE */
	struct virtio_net_hdr vnet;	/* little endian */
	__le16 reserved[3];		/* 0 */
	__le64 returned;		/* sgnet-3: buffers re-armed, bit per id */
};

/* sgnet_hdr.flags (sgnet-4): another record follows in this buffer. */
#define SGNET_HDR_F_MORE	0x1u
/* Records start at multiples of this (offsets in the buffer). */
#define SGNET_REC_ALIGN		8
/* Records in one receive buffer, at most. */
#define SGNET_MAX_RECORDS	32

#endif /* __XEN_PUBLIC_IO_SGNETIF_H__ */
