/* pbwire -- the few protobuf wire-format primitives the hand encoders
 * (server/fastenc.c for the hottest reply frame, persistence/rec_build.c
 * for the hottest log records) share. Proto2 as protobuf-c writes it:
 * every integer type is a varint, negative int32/int64/enum values as
 * 10-byte two's complement; strings and sub-messages length-delimited. */
#ifndef QD_PBWIRE_H
#define QD_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

#define PBWIRE_VARINT_BYTES_MAX 10u
#define PBWIRE_VARINT 0u
#define PBWIRE_LEN 2u

static inline size_t pbwire_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline uint8_t *pbwire_put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint8_t *pbwire_put_tag(uint8_t *p, uint32_t field,
                                      uint32_t wire)
{
    return pbwire_put_varint(p, (uint64_t)field << 3 | wire);
}

/* A set varint field: tag, then value. */
static inline uint8_t *pbwire_put_field(uint8_t *p, uint32_t field,
                                        uint64_t v)
{
    return pbwire_put_varint(pbwire_put_tag(p, field, PBWIRE_VARINT), v);
}

#endif
