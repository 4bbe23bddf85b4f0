/*  emu_rxstamp — when the bytes of a request arrived: the kernel's receive
    timestamp of the TCP segment that completed it, for the connections of
    one libmicrohttpd daemon driven by emu_loop.

    Owns one record per connection of the daemon (its MHD socket context):
    the kernel's timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME ns) of the newest
    segment seen on it and not yet taken by a request; and the counts of
    requests stamped by the kernel and by the loop's clock.

    How. SO_TIMESTAMPNS is set on the listening socket, so the kernel
    stamps segments from the first one and every accepted socket inherits
    the option. A TCP segment's stamp is handed out only as a control
    message of recvmsg() (ioctl SIOCGSTAMPNS answers ENOENT on TCP), and
    libmicrohttpd reads with recv(): so the stamps are peeked before MHD
    reads. A connection is peeked when it starts (what came with the
    handshake) and then from a pre-run watch of the daemon
    (emu_loop_mhd_watch, EPOLLIN|EPOLLET): whenever a segment arrived since
    the daemon last ran, the loop peeks right before the daemon runs. A
    peek is recvmsg(MSG_PEEK|MSG_TRUNC|MSG_DONTWAIT) over the whole receive
    queue: nothing is consumed or copied, and tcp_recvmsg reports the stamp
    of the last segment it walked, the newest. When MHD holds a complete
    request, emu_rxstamp_take gives it that stamp.

    Invariants: a stamp is taken by one request at most, so a request never
    gets a stamp of bytes read before the previous request of its
    connection was complete; a request whose connection had no segment
    peeked since then (pipelined behind another in the same segments, or
    read by MHD before the peek) gets the loop's clock, counted in
    `fallbacks` and logged at most once a second. A stamp is that of the
    newest segment queued at the peek: when a pipelined request's bytes
    follow in later segments, the earlier request gets the later segment's
    stamp; a segment arriving between the peek and MHD's read of the same
    connection in that run (microseconds; longer for a connection whose
    body fills MHD's buffer) is not seen, and the request keeps the stamp
    of the segment before it — unless that is more than 20 ms older than
    the kernel's own "last data received" (TCP_INFO, millisecond
    resolution), which the request then gets instead (counted `coarse`):
    with requests written ahead, the segment before can be seconds older.

    Thread model: the loop's thread only (MHD calls back from MHD_run,
    which the loop calls).
*/
#ifndef EMU_RXSTAMP_H
#define EMU_RXSTAMP_H

#include "emu_loop.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _emu_rxstamp_t emu_rxstamp_t;

typedef struct {
    uint64_t stamped;   //  requests given the kernel's receive time
    uint64_t coarse;    //  requests whose peeked stamp was older than the kernel's
                        //  last receive (their final segment came after the
                        //  peek): given that receive time (TCP_INFO, ms)
    uint64_t fallbacks; //  requests given the loop's clock
    uint64_t unwatched; //  connections that could not be watched (no memory, epoll)
    size_t connections; //  open now
} emu_rxstamp_stats_t;

//  Stamps the connections accepted on `listen_fd` (borrowed; SO_TIMESTAMPNS
//  is set on it, or a warning logged and every request falls back to the
//  loop's clock). NULL when memory runs out.
emu_rxstamp_t *emu_rxstamp_new(emu_loop_t *loop, int listen_fd);

//  Frees. Every connection must have been closed (MHD_stop_daemon first).
//  Nulls *self_p.
void emu_rxstamp_destroy(emu_rxstamp_t **self_p);

//  The daemon's loop handle: connections started from now on are watched
//  before its runs; the daemon's pre-run set is opened now. NULL stops
//  watching new ones (before emu_loop_mhd_remove, which removes the
//  existing watches). Returns 0, or -1 when epoll fails.
int emu_rxstamp_drive(emu_rxstamp_t *self, emu_loop_mhd_t *source);

//  The daemon's MHD_OPTION_NOTIFY_CONNECTION callback, `cls` the stamper:
//  opens a connection's record (its socket context) and peeks at once, or
//  closes it.
void emu_rxstamp_notify(void *cls, struct MHD_Connection *connection,
                        void **socket_context, enum MHD_ConnectionNotificationCode code);

//  The receive time of the request `connection` holds complete: the
//  kernel's stamp of the newest segment peeked since the connection's
//  previous request took one, or the loop's clock (counted, logged).
//  CLOCK_REALTIME ns. Call it once per request, when it is complete.
int64_t emu_rxstamp_take(emu_rxstamp_t *self, struct MHD_Connection *connection);

void emu_rxstamp_stats(emu_rxstamp_t *self, emu_rxstamp_stats_t *stats);

void emu_rxstamp_test(bool verbose);

#endif
