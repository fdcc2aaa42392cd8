/* The 1-d transforms of Winograd F(4x4, 3x3), elementwise over n values (one C-row of a
 * tile point per pointer), for nhwc_cython.pyx. In C for `restrict`: the rows never
 * overlap, and without the promise gcc does not vectorise loops over 10-12 pointers.
 *
 *   bt6:  o = B^T d (6 rows -> 6)      b6:  o = B v, or o += B v (6 -> 6; bt6's adjoint)
 *   at6:  o = A^T m (6 rows -> 4)      a4:  o = A y (4 -> 6; at6's adjoint)
 */
#ifndef WINOGRAD_KERNELS_H
#define WINOGRAD_KERNELS_H
#include <stddef.h>
#if defined(_MSC_VER) && !defined(restrict)
#define restrict __restrict      /* MSVC spells C99 restrict this way */
#endif

#define WINOGRAD_KERNELS(T, S)                                                             \
static inline void bt6_##S(const T *restrict d0, const T *restrict d1, const T *restrict d2, \
                           const T *restrict d3, const T *restrict d4, const T *restrict d5, \
                           T *restrict o0, T *restrict o1, T *restrict o2, T *restrict o3,   \
                           T *restrict o4, T *restrict o5, ptrdiff_t n) {                    \
    for (ptrdiff_t c = 0; c < n; c++) {                                                      \
        T a0 = d0[c], a1 = d1[c], a2 = d2[c], a3 = d3[c], a4 = d4[c], a5 = d5[c];            \
        o0[c] = 4 * a0 - 5 * a2 + a4;                                                        \
        o1[c] = a3 + a4 - 4 * (a1 + a2);                                                     \
        o2[c] = a4 - a3 + 4 * (a1 - a2);                                                     \
        o3[c] = a4 - a2 + 2 * (a3 - a1);                                                     \
        o4[c] = a4 - a2 + 2 * (a1 - a3);                                                     \
        o5[c] = 4 * a1 - 5 * a3 + a5;                                                        \
    }                                                                                        \
}                                                                                            \
static inline void b6_##S(const T *restrict v0, const T *restrict v1, const T *restrict v2,  \
                          const T *restrict v3, const T *restrict v4, const T *restrict v5,  \
                          T *restrict o0, T *restrict o1, T *restrict o2, T *restrict o3,    \
                          T *restrict o4, T *restrict o5, ptrdiff_t n, int add) {            \
    if (add) {                                                                               \
        for (ptrdiff_t c = 0; c < n; c++) {                                                  \
            T a0 = v0[c], a1 = v1[c], a2 = v2[c], a3 = v3[c], a4 = v4[c], a5 = v5[c];        \
            o0[c] += 4 * a0;                                                                 \
            o1[c] += 4 * (a2 - a1 + a5) + 2 * (a4 - a3);                                     \
            o2[c] += -5 * a0 - 4 * (a1 + a2) - a3 - a4;                                      \
            o3[c] += a1 - a2 + 2 * (a3 - a4) - 5 * a5;                                       \
            o4[c] += a0 + a1 + a2 + a3 + a4;                                                 \
            o5[c] += a5;                                                                     \
        }                                                                                    \
    } else {                                                                                 \
        for (ptrdiff_t c = 0; c < n; c++) {                                                  \
            T a0 = v0[c], a1 = v1[c], a2 = v2[c], a3 = v3[c], a4 = v4[c], a5 = v5[c];        \
            o0[c] = 4 * a0;                                                                  \
            o1[c] = 4 * (a2 - a1 + a5) + 2 * (a4 - a3);                                      \
            o2[c] = -5 * a0 - 4 * (a1 + a2) - a3 - a4;                                       \
            o3[c] = a1 - a2 + 2 * (a3 - a4) - 5 * a5;                                        \
            o4[c] = a0 + a1 + a2 + a3 + a4;                                                  \
            o5[c] = a5;                                                                      \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
static inline void at6_##S(const T *restrict m0, const T *restrict m1, const T *restrict m2, \
                           const T *restrict m3, const T *restrict m4, const T *restrict m5, \
                           T *restrict o0, T *restrict o1, T *restrict o2, T *restrict o3,   \
                           ptrdiff_t n) {                                                    \
    for (ptrdiff_t c = 0; c < n; c++) {                                                      \
        T p12 = m1[c] + m2[c], d12 = m1[c] - m2[c], p34 = m3[c] + m4[c], d34 = m3[c] - m4[c]; \
        o0[c] = m0[c] + p12 + p34;                                                           \
        o1[c] = d12 + 2 * d34;                                                               \
        o2[c] = p12 + 4 * p34;                                                               \
        o3[c] = d12 + 8 * d34 + m5[c];                                                       \
    }                                                                                        \
}                                                                                            \
static inline void a4_##S(const T *restrict y0, const T *restrict y1, const T *restrict y2,  \
                          const T *restrict y3, T *restrict o0, T *restrict o1,              \
                          T *restrict o2, T *restrict o3, T *restrict o4, T *restrict o5,    \
                          ptrdiff_t n) {                                                     \
    for (ptrdiff_t c = 0; c < n; c++) {                                                      \
        T a0 = y0[c], a1 = y1[c], a2 = y2[c], a3 = y3[c];                                    \
        o0[c] = a0;                                                                          \
        o1[c] = a0 + a1 + a2 + a3;                                                           \
        o2[c] = a0 - a1 + a2 - a3;                                                           \
        o3[c] = a0 + 2 * a1 + 4 * a2 + 8 * a3;                                               \
        o4[c] = a0 - 2 * a1 + 4 * a2 - 8 * a3;                                               \
        o5[c] = a3;                                                                          \
    }                                                                                        \
}

WINOGRAD_KERNELS(float, f)
WINOGRAD_KERNELS(double, d)

#endif
