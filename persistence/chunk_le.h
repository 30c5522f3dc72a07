/* chunk_le -- little-endian load/store for on-disk formats.
 *
 * Byte by byte on purpose: the formats are little-endian whatever the host
 * is, and buffers are not aligned. Compilers turn these into single moves.
 */
#ifndef QD_CHUNK_LE_H
#define QD_CHUNK_LE_H

#include <stdint.h>

static inline void chunk_le_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void chunk_le_put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4u; i++)
        p[i] = (uint8_t)(v >> (8u * i));
}

static inline void chunk_le_put64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8u; i++)
        p[i] = (uint8_t)(v >> (8u * i));
}

static inline uint16_t chunk_le_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)(p[1] << 8));
}

static inline uint32_t chunk_le_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4u; i++)
        v |= (uint32_t)p[i] << (8u * i);
    return v;
}

static inline uint64_t chunk_le_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8u; i++)
        v |= (uint64_t)p[i] << (8u * i);
    return v;
}

#endif
