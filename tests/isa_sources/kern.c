/* Vectorisable loops (issue 15 fixtures): built at -march=x86-64, x86-64-v2, -v3 and -v4 by tests/test_isa.py. */
#include <stddef.h>
#include <stdint.h>
#include <math.h>
/* Scalar code too (shifts, popcount, floor) that each level compiles differently. */
void saxpy(float *restrict y, const float *restrict x, float a, size_t n) { for (size_t i = 0; i < n; i++) y[i] += a * x[i]; }
void daxpy(double *restrict y, const double *restrict x, double a, size_t n) { for (size_t i = 0; i < n; i++) y[i] = fma(a, x[i], y[i]); }
int32_t imax(const int32_t *x, size_t n) { int32_t m = INT32_MIN; for (size_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m; return m; }
void imul(int32_t *restrict y, const int32_t *restrict x, size_t n) { for (size_t i = 0; i < n; i++) y[i] *= x[i]; }
void floors(double *restrict y, const double *restrict x, size_t n) { for (size_t i = 0; i < n; i++) y[i] = floor(x[i]); }
uint64_t popcounts(const uint64_t *x, size_t n) { uint64_t c = 0; for (size_t i = 0; i < n; i++) c += (uint64_t)__builtin_popcountll(x[i]); return c; }
uint64_t shifts(const uint64_t *x, const uint8_t *s, size_t n) { uint64_t c = 0; for (size_t i = 0; i < n; i++) c ^= (x[i] << (s[i] & 63)) + (x[i] >> (s[i] & 31)); return c; }
uint64_t lowbits(const uint64_t *x, size_t n) { uint64_t c = 0; for (size_t i = 0; i < n; i++) c += x[i] & (x[i] - 1); return c; }
void widen(int64_t *restrict y, const int32_t *restrict x, size_t n) { for (size_t i = 0; i < n; i++) y[i] = x[i]; }
float dot(const float *x, const float *y, size_t n) { float s = 0; for (size_t i = 0; i < n; i++) s += x[i] * y[i]; return s; }
void u8add(uint8_t *restrict y, const uint8_t *restrict x, size_t n) { for (size_t i = 0; i < n; i++) y[i] = (uint8_t)(y[i] + x[i]); }
int run(void) {
    static float fy[1024], fx[1024]; static double dy[1024], dx[1024]; static int32_t ix[1024], iy[1024];
    static uint64_t ux[1024]; static uint8_t s[1024], b[1024]; static int64_t w[1024];
    for (int i = 0; i < 1024; i++) { fx[i] = (float)i; dx[i] = i * 0.5; ix[i] = i * 7 - 300; ux[i] = (uint64_t)i * 0x9E3779B97F4A7C15u; s[i] = (uint8_t)i; }
    saxpy(fy, fx, 2.0f, 1024); daxpy(dy, dx, 3.0, 1024); imul(iy, ix, 1024); floors(dy, dx, 1024); widen(w, ix, 1024); u8add(b, s, 1024);
    uint64_t r = popcounts(ux, 1024) + shifts(ux, s, 1024) + lowbits(ux, 1024) + (uint64_t)imax(ix, 1024) + (uint64_t)dot(fx, fy, 1024);
    return (int)(r & 1);
}
