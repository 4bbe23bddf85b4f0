/*  sp_id — random identifiers: the one place ids are drawn from the
    kernel's random source (getrandom, the same pool /dev/urandom reads),
    never from rand() or the clock.

    sp_id_uuid4 writes the text form of an RFC 9562 version 4 UUID,
    lower-case, 36 characters ("xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx"),
    the form Lambda uses for request ids. sp_id_hex writes random bytes as
    lower-case hex (e.g. an execution environment's id). No state; any
    thread.
*/
#ifndef SP_ID_H
#define SP_ID_H

#include <stdbool.h>
#include <stddef.h>

#define SP_ID_UUID_SIZE 37 //  36 characters and the NUL

//  Fills `buf` with `len` random bytes, retrying short reads and signals.
//  Returns 0, or -1 with errno set when the random source fails.
int sp_id_random(void *buf, size_t len);

//  Writes a fresh UUID v4 text into `out`. Returns 0, or -1 with errno set
//  when the random source fails (out is then "").
int sp_id_uuid4(char out[SP_ID_UUID_SIZE]);

//  Writes `bytes` random bytes as 2*bytes lower-case hex digits and a NUL
//  into `out` (which must hold 2*bytes+1). Returns 0, or -1 with errno set
//  when the random source fails (out is then "").
int sp_id_hex(char *out, size_t bytes);

void sp_id_test(bool verbose);

#endif
