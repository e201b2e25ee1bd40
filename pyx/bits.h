/* Packed keep-masks: bit k of byte j is element 8*j + k
 * (np.packbits(mask.ravel(), bitorder="little")). */
#ifndef CYDROP_BITS_H
#define CYDROP_BITS_H
#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CYDROP_LITTLE_ENDIAN 1
#else
#define CYDROP_LITTLE_ENDIAN 0
#endif

/* Eight 0/1 bytes to one byte, element 0 in bit 0. */
static inline uint8_t cydrop_pack8(const uint8_t *flags)
{
#if CYDROP_LITTLE_ENDIAN
    /* flag k sits at bit 8k; the multiply gathers bit 8k to bit 56 + k */
    uint64_t v;
    memcpy(&v, flags, 8);
    return (uint8_t)((v * 0x0102040810204080ULL) >> 56);
#else
    uint8_t b = 0;
    int k;
    for (k = 0; k < 8; k++)
        b |= (uint8_t)(flags[k] << k);
    return b;
#endif
}

/* One byte to eight 0/1 bytes, bit 0 first. */
static inline void cydrop_unpack8(uint8_t byte, uint8_t *flags)
{
#if CYDROP_LITTLE_ENDIAN
    /* spread byte to every lane, keep bit k in lane k, map nonzero to 1 */
    uint64_t v = ((uint64_t)byte * 0x0101010101010101ULL) & 0x8040201008040201ULL;
    v = ((v + 0x7F7F7F7F7F7F7F7FULL) >> 7) & 0x0101010101010101ULL;
    memcpy(flags, &v, 8);
#else
    int k;
    for (k = 0; k < 8; k++)
        flags[k] = (byte >> k) & 1;
#endif
}
#endif
