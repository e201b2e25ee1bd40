/*
 * The ten Philox rounds of CYDROP_W_NG groups of CYDROP_W blocks, their
 * counters already set (CYDROP_W_INIT_FN, group g at block b + W * g), the
 * key bumped between rounds: the one loop behind the SIMD fills and the
 * fused loops (fused_simd.inc.h).
 * Included once per width and group count by philox_avx2.h and
 * philox_avx512.h, under philox_width.inc.h's #defines (CYDROP_W,
 * CYDROP_W_TARGET, CYDROP_W_VEC, CYDROP_W_STATE, CYDROP_W_SET1,
 * CYDROP_W_ROUND) and:
 *
 *   CYDROP_W_NG         the number of groups
 *   CYDROP_W_ROUNDS_FN  the name of the function defined here
 *
 * The group count is a constant of the function, not an argument, and the
 * counters are set by the caller's own loop, not in here: otherwise GCC
 * laid the AVX-512 loops out differently from the macro this replaces (the
 * fill measured about 1.5% slower); as it is, the fused loops compile to
 * the macro's instruction counts and the fills to within a few register
 * moves (tests/portable/insn_counts.py).
 */

__attribute__((target(CYDROP_W_TARGET)))
CYDROP_INLINE void CYDROP_W_ROUNDS_FN(CYDROP_W_STATE s[CYDROP_W_NG], uint64_t seed)
{
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    int g, r;
    for (r = 0; r < 10; r++) {
        CYDROP_W_VEC vk0, vk1;
        if (r > 0) {
            k0 += CYDROP_PHILOX_W0;
            k1 += CYDROP_PHILOX_W1;
        }
        vk0 = CYDROP_W_SET1((int)k0);
        vk1 = CYDROP_W_SET1((int)k1);
        for (g = 0; g < CYDROP_W_NG; g++)
            CYDROP_W_ROUND(&s[g], vk0, vk1);
    }
}
