// One lazy-Adam step of the touched rows of a side, with the storage hooks after it — the C++ twin
// of packages/core/src/row-step.ts (denseRowStep) and quant.ts: Adam, DSL growth scores and mask,
// then re-quantization (fake-quant forward rows, or ALPT's step-size update at the updated values
// followed by stochastic rounding onto the new grid).
#pragma once
#include <cmath>

#include "side.h"

namespace crn {

// float32 → fp16 → float32, round to nearest even (as core's f32ToF16 / f16ToF32).
static inline float roundFp16(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  const uint32_t sign = (b >> 16) & 0x8000u;
  const int exp = (int)((b >> 23) & 0xff);
  uint32_t mant = b & 0x7fffffu;
  uint32_t h;
  if (exp == 0xff) {
    h = sign | 0x7c00u | (mant ? 0x200u : 0u);
  } else {
    const int e = exp - 127 + 15;
    if (e >= 0x1f) {
      h = sign | 0x7c00u;
    } else if (e <= 0) {
      if (e < -10) {
        h = sign;
      } else {
        mant |= 0x800000u;
        const int shift = 14 - e;
        uint32_t hm = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1u);
        const uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (hm & 1u))) hm++;
        h = sign | hm;
      }
    } else {
      uint32_t hm = ((uint32_t)e << 10) | (mant >> 13);
      const uint32_t rem = mant & 0x1fffu;
      if (rem > 0x1000u || (rem == 0x1000u && (hm & 1u))) hm++;
      h = sign | hm;
    }
  }
  const float s = (h & 0x8000u) ? -1.f : 1.f;
  const int he = (int)((h >> 10) & 0x1f);
  const uint32_t hmant = h & 0x3ffu;
  if (he == 0) return s * (float)hmant * 5.9604644775390625e-8f;  // 2^-24
  if (he == 0x1f) return hmant ? NAN : s * INFINITY;
  return s * (1.f + (float)hmant / 1024.f) * std::ldexp(1.f, he - 15);
}

// Fake quantization of one row: what it becomes after row-wise quantize + dequantize.
static inline void fakeQuantRow(const float* w, int n, int bits, float* out) {
  if (bits == 16) {
    for (int c = 0; c < n; c++) out[c] = roundFp16(w[c]);
    return;
  }
  float lo = INFINITY, hi = -INFINITY;
  for (int c = 0; c < n; c++) {
    lo = w[c] < lo ? w[c] : lo;
    hi = w[c] > hi ? w[c] : hi;
  }
  const int levels = (1 << bits) - 1;
  const float scale = (hi - lo) / (float)levels;
  const double inv = scale > 0.f ? 1.0 / (double)scale : 0.0;
  for (int c = 0; c < n; c++) {
    double q = std::floor(((double)w[c] - (double)lo) * inv + 0.5);
    q = q < 0 ? 0 : (q > levels ? levels : q);
    out[c] = (float)((double)lo + (double)scale * q);
  }
}

static inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// Uniform [0, 1) for stochastic rounding of value c of row r at step t (core's roundingNoise).
static inline double roundingNoise(uint32_t seed, uint32_t r, uint32_t c, uint32_t t) {
  const uint32_t h = fmix32((r * 0x9e3779b1u) ^ ((c + 1u) * 0x85ebca77u) ^ (t * 0xc2b2ae3du) ^ seed);
  return (double)(h >> 8) / 16777216.0;
}

struct StepParams {
  float stepSize, epsHat, b1, b2;
  double t;
  bool score;
  double biasCorr;  // √(1 − β2^t) / (1 − β1^t): ALPT's step Adam scales its own lr by it
};

static inline StepParams stepParams(float lr, float b1, float b2, float eps, double t, bool score) {
  const double c1 = 1.0 - std::pow((double)b1, t);
  const double c2 = 1.0 - std::pow((double)b2, t);
  return {(float)(lr * std::sqrt(c2) / c1), (float)(eps * std::sqrt(c2)), b1, b2, t, score, std::sqrt(c2) / c1};
}

// ALPT's step gradient at the row's updated values w (core's alptStepGradient): the LSQ form
// round(w/Δ) − w/Δ inside the range, qmin / qmax where clamped, times 1/√(n·qmax).
static inline float alptStepGradient(const float* g, const float* w, int n, int bits, float step) {
  const int qmax = (1 << (bits - 1)) - 1, qmin = -(1 << (bits - 1));
  const double inv = 1.0 / (double)step;
  double s = 0.0;
  for (int j = 0; j < n; j++) {
    const double x = (double)w[j] * inv;
    const double d = x >= qmax ? (double)qmax : (x <= qmin ? (double)qmin : std::floor(x + 0.5) - x);
    s += (double)g[j] * d;
  }
  return (float)(s / std::sqrt((double)n * (double)qmax));
}

// Lazy Adam on one row. Separate restrict-qualified parameters (and, for D > 0, a compile-time
// width) let the compiler vectorize it without alias checks or a remainder loop.
template <int D>
static inline void adamRow(float* __restrict w, float* __restrict m, float* __restrict v, const float* __restrict g,
                           int width, float b1, float b2, float stepSize, float epsHat) {
  const int n = D > 0 ? D : width;
  for (int j = 0; j < n; j++) {
    const float mj = b1 * m[j] + (1.f - b1) * g[j];
    const float vj = b2 * v[j] + (1.f - b2) * g[j] * g[j];
    m[j] = mj;
    v[j] = vj;
    w[j] -= stepSize * mj / (std::sqrt(vj) + epsHat);
  }
}

// The row step of a plain float32 table (no quantization, mask or scores): Adam only.
template <int D>
static void stepRowsPlain(Side& S, const StepParams& p) {
  const int width = S.rowDim;
  const float b1 = p.b1, b2 = p.b2, stepSize = p.stepSize, epsHat = p.epsHat;
  float* const W = S.table;
  float* const M = S.m;
  float* const V = S.v;
  const int32_t* const touched = S.acc.touched.data();
  const float* const grad = S.acc.grad.data();
  const int count = S.acc.count;
  constexpr int ahead = 6;  // rows prefetched ahead: the touched rows are scattered over the table
  for (int s = 0; s < count; s++) {
    if (s + ahead < count) {
      const size_t po = (size_t)touched[s + ahead] * width;
      for (int j = 0; j < width; j += 16) {
        __builtin_prefetch(W + po + j, 1);
        __builtin_prefetch(M + po + j, 1);
        __builtin_prefetch(V + po + j, 1);
      }
    }
    const size_t o = (size_t)touched[s] * width;
    adamRow<D>(W + o, M + o, V + o, grad + (size_t)s * width, width, b1, b2, stepSize, epsHat);
  }
}

// Steps every row the side's accumulator touched (the storage's row step, hooks included).
static void stepRowsHooked(Side& S, const StepParams& p) {
  const int width = S.rowDim;
  const uint32_t tt = (uint32_t)p.t;
  // Locals, not reads through `p`/`S`: the row writes below could alias them and block vectorization.
  const float b1 = p.b1, b2 = p.b2, stepSize = p.stepSize, epsHat = p.epsHat;
  float* const W = S.table;
  float* const M = S.m;
  float* const V = S.v;
  const uint8_t* const mask = S.mask;
  float* const scores = p.score ? S.scores : nullptr;
  const int quantMode = S.quantMode;
  for (int s = 0; s < S.acc.count; s++) {
    const int32_t r = S.acc.touched[s];
    const size_t o = (size_t)r * width;
    const float* __restrict g = &S.acc.grad[(size_t)s * width];
    float* __restrict w = W + o;
    float* __restrict m = M + o;
    float* __restrict v = V + o;
    for (int j = 0; j < width; j++) {
      const float mj = b1 * m[j] + (1.f - b1) * g[j];
      const float vj = b2 * v[j] + (1.f - b2) * g[j] * g[j];
      m[j] = mj;
      v[j] = vj;
      w[j] -= stepSize * mj / (std::sqrt(vj) + epsHat);
    }
    if (scores) {
      float* sc = scores + o;
      for (int j = 0; j < width; j++) sc[j] += std::fabs(g[j]);
    }
    if (mask) {
      const uint8_t* mk = mask + o;
      for (int j = 0; j < width; j++) w[j] = mk[j] ? w[j] : 0.f;
    }
    if (quantMode == QUANT_STE) {
      fakeQuantRow(w, width, S.quantBits, S.forward + o);
    } else if (quantMode == QUANT_ALPT) {
      const float old = S.steps[r];
      const float gs = alptStepGradient(g, w, width, S.quantBits, old);
      const float mS = b1 * S.stepM[r] + (1.f - b1) * gs;
      const float vS = b2 * S.stepV[r] + (1.f - b2) * gs * gs;
      S.stepM[r] = mS;
      S.stepV[r] = vS;
      const float ns = old - (float)(S.stepLr * p.biasCorr) * mS / (std::sqrt(vS) + epsHat);
      S.steps[r] = ns > 1e-8f ? ns : 1e-8f;
      const float step = S.steps[r];
      const double inv = 1.0 / (double)step;
      const int qmax = (1 << (S.quantBits - 1)) - 1, qmin = -(1 << (S.quantBits - 1));
      for (int j = 0; j < width; j++) {
        double q = std::floor((double)w[j] * inv + roundingNoise(S.quantSeed, (uint32_t)r, (uint32_t)j, tt));
        q = q < qmin ? qmin : (q > qmax ? qmax : q);
        w[j] = (float)((double)step * q);
      }
    }
  }
}

// Steps every touched row of a side with sparse rows (core's sparseRowStep): growth scores of
// every weight of the row, lazy Adam on its active entries.
static void stepRowsCsr(Side& S, const StepParams& p) {
  const int width = S.rowDim;
  const float b1 = p.b1, b2 = p.b2, stepSize = p.stepSize, epsHat = p.epsHat;
  const int32_t* const start = S.csrStart;
  const int32_t* const pos = S.csrPos;
  float* const W = S.csrVal;
  float* const M = S.csrM;
  float* const V = S.csrV;
  for (int s = 0; s < S.acc.count; s++) {
    const int32_t r = S.acc.touched[s];
    const float* g = &S.acc.grad[(size_t)s * width];
    const int64_t base = (int64_t)r * width;
    if (p.score) {
      float* sc = S.csrScores + base;
      for (int j = 0; j < width; j++) sc[j] += std::fabs(g[j]);
    }
    for (int32_t e = start[r]; e < start[r + 1]; e++) {
      const float gc = g[pos[e] - base];
      const float mj = b1 * M[e] + (1.f - b1) * gc;
      const float vj = b2 * V[e] + (1.f - b2) * gc * gc;
      M[e] = mj;
      V[e] = vj;
      W[e] -= stepSize * mj / (std::sqrt(vj) + epsHat);
    }
  }
}

// Steps every row the side's accumulator touched: the hook-free float32 case takes a loop with
// no per-row hook checks (specialised for the common width 64), the rest the hooked step.
static inline void stepRows(Side& S, const StepParams& p) {
  if (S.csrStart) {
    stepRowsCsr(S, p);
    return;
  }
  const bool hooks = S.quantMode != QUANT_NONE || S.mask || (p.score && S.scores);
  if (hooks) stepRowsHooked(S, p);
  else if (S.rowDim == 64) stepRowsPlain<64>(S, p);
  else stepRowsPlain<0>(S, p);
}

// Plain lazy Adam over the touched entries of an accumulator (learnable per-ID weights).
static void adamPlain(float* W, float* M, float* V, Acc& acc, const StepParams& p) {
  const int width = acc.width;
  const float b1 = p.b1, b2 = p.b2, stepSize = p.stepSize, epsHat = p.epsHat;
  for (int s = 0; s < acc.count; s++) {
    const size_t o = (size_t)acc.touched[s] * width;
    const float* g = &acc.grad[(size_t)s * width];
    for (int j = 0; j < width; j++) {
      const float mj = b1 * M[o + j] + (1.f - b1) * g[j];
      const float vj = b2 * V[o + j] + (1.f - b2) * g[j] * g[j];
      M[o + j] = mj;
      V[o + j] = vj;
      W[o + j] -= stepSize * mj / (std::sqrt(vj) + epsHat);
    }
  }
}

}  // namespace crn
