// One side (users or items) of a two-tower model as the kernels see it: the ID → rows codes, the
// table with its lazy-Adam state and storage hooks, and the de-duplicating gradient accumulator.
// Composition (sum / mult / concat of K rows, optional per-ID weights) and its backward pass.
#pragma once
#include <string>
#include <vector>

#include "common.h"

namespace crn {

enum Combine { SUM = 0, MULT = 1, CONCAT = 2 };
// Storage hooks applied after a row's optimizer step (see rowstep.h and core/src/storage.ts).
enum QuantMode { QUANT_NONE = 0, QUANT_STE = 1, QUANT_ALPT = 2 };

struct Acc {
  // De-duplicating gradient accumulator over `n` slots of `width` floats.
  std::vector<int32_t> slot;
  std::vector<int32_t> touched;
  std::vector<float> grad;
  int count = 0;
  int width = 0;
  void init(size_t n, int w, size_t cap) {
    slot.assign(n, -1);
    touched.resize(cap);
    grad.resize(cap * (size_t)w);
    width = w;
    count = 0;
  }
  inline float* at(int32_t r) {
    int32_t s = slot[r];
    if (s < 0) {
      s = count++;
      slot[r] = s;
      touched[s] = r;
      std::memset(&grad[(size_t)s * width], 0, sizeof(float) * width);
    }
    return &grad[(size_t)s * width];
  }
  void reset() {
    for (int s = 0; s < count; s++) slot[touched[s]] = -1;
    count = 0;
  }
};

struct Side {
  const int32_t* codes;
  int K;
  int combine;
  float* weights;  // [numIds × K] or null
  bool learnW;
  float* table;       // values the optimizer updates (the float master under fake quantization)
  const float* read;  // values forward/backward read: `forward` under fake quantization, else `table`
  size_t rows;
  int rowDim;
  float *m, *v;    // Adam moments of the table
  float *wm, *wv;  // Adam moments of the weights
  uint8_t* mask;   // DSL mask [rows × rowDim] or null
  float* scores;   // DSL growth scores or null
  int quantMode;   // QuantMode
  int quantBits;   // 4, 8 or 16 (fp16)
  float* forward;  // STE: dequantized rows [rows × rowDim]
  float *steps, *stepM, *stepV;  // ALPT: per-row step and its Adam moments [rows]
  float stepLr;                  // ALPT: lr of the steps' own Adam
  // Sparse rows (DSL's sparse form; sum without learnable weights): row r's active entries are
  // [csrStart[r], csrStart[r + 1]), entry e is column csrPos[e] − r·rowDim; `table` is unused.
  const int32_t* csrStart = nullptr;
  const int32_t* csrPos = nullptr;
  float *csrVal = nullptr, *csrM = nullptr, *csrV = nullptr, *csrScores = nullptr;
  uint32_t quantSeed;
  size_t numIds;
  Acc acc, wacc;

  // Reads the tower group `p` ("user" / "item") of the call: the mapping and table, then its
  // optional `sparse` (DSL mask + scores) and `quant` (fake-quant / ALPT) groups.
  void parse(Args& call, const char* p, int dim) {
    Args a;
    if (!call.group(p, &a)) throw ArgError{std::string("missing tower '") + p + "'"};
    const std::string& w = a.path;
    size_t n;
    codes = a.array<int32_t>("codes", &n, false, napi_int32_array);
    K = (int)a.num("K", 1);
    combine = (int)a.num("combine", 0, true);
    numIds = n / (size_t)K;
    size_t wn;
    weights = a.array<float>("weights", &wn, true);
    if (weights && wn != numIds * (size_t)K) throw ArgError{w + "weights must have numIds × K values"};
    learnW = weights && a.flag("learnWeights", false);
    size_t tn;
    table = a.array<float>("table", &tn);
    rowDim = combine == CONCAT ? dim / K : dim;
    if (combine == CONCAT && rowDim * K != dim) throw ArgError{w + "combine: concat needs dim divisible by K"};
    rows = tn / (size_t)rowDim;
    size_t mn, vn;
    m = a.array<float>("m", &mn);
    v = a.array<float>("v", &vn);
    if (mn != tn || vn != tn) throw ArgError{w + "m/" + w + "v must match the table size"};
    if (learnW) {
      size_t a1, a2;
      wm = a.array<float>("weightM", &a1);
      wv = a.array<float>("weightV", &a2);
      if (a1 != wn || a2 != wn) throw ArgError{w + "weightM/V must match the weights"};
    } else {
      wm = wv = nullptr;
    }
    mask = nullptr;
    scores = nullptr;
    Args sp;
    if (a.group("sparse", &sp)) {
      size_t kn;
      mask = sp.array<uint8_t>("mask", &kn, false, napi_uint8_array);
      if (kn != tn) throw ArgError{sp.path + "mask must match the table size"};
      scores = sp.array<float>("scores", &kn);
      if (kn != tn) throw ArgError{sp.path + "scores must match the table size"};
    }
    quantMode = QUANT_NONE;
    quantBits = 0;
    quantSeed = 0;
    forward = nullptr;
    steps = stepM = stepV = nullptr;
    stepLr = 0.f;
    csrStart = csrPos = nullptr;
    csrVal = csrM = csrV = csrScores = nullptr;
    Args cs;
    if (a.group("csr", &cs)) {
      const std::string& cw = cs.path;
      if (combine != SUM || learnW) throw ArgError{w + "csr needs the sum composition without learnable weights"};
      size_t ns, np, nv, nm, nvv, nsc;
      csrStart = cs.array<int32_t>("rowStart", &ns, false, napi_int32_array);
      csrPos = cs.array<int32_t>("pos", &np, false, napi_int32_array);
      csrVal = cs.array<float>("values", &nv);
      csrM = cs.array<float>("m", &nm);
      csrV = cs.array<float>("v", &nvv);
      csrScores = cs.array<float>("scores", &nsc);
      if (ns < 1) throw ArgError{cw + "rowStart must have rows + 1 entries"};
      rows = ns - 1;
      if (nv != np || nm != np || nvv != np) throw ArgError{cw + "values, m and v must have one entry per position"};
      if ((size_t)csrStart[rows] != np || csrStart[0] != 0) throw ArgError{cw + "rowStart must run from 0 to pos.length"};
      if (nsc != rows * (size_t)rowDim) throw ArgError{cw + "scores must have rows × rowDim entries"};
      for (size_t r = 0; r < rows; r++) {
        if (csrStart[r + 1] < csrStart[r]) throw ArgError{cw + "rowStart must not decrease"};
        for (int32_t e = csrStart[r]; e < csrStart[r + 1]; e++)
          if (csrPos[e] < (int64_t)r * rowDim || csrPos[e] >= (int64_t)(r + 1) * rowDim) throw ArgError{cw + "pos holds an entry outside its row"};
      }
    }
    Args q;
    if (a.group("quant", &q)) {
      const std::string& qw = q.path;
      quantMode = (int)q.num("mode", 0);
      quantBits = (int)q.num("bits", 0);
      quantSeed = (uint32_t)q.num("seed", 0, true);
      if (quantMode == QUANT_STE) {
        if (quantBits != 4 && quantBits != 8 && quantBits != 16) throw ArgError{qw + "bits must be 4, 8 or 16"};
        size_t fn;
        forward = q.array<float>("forward", &fn);
        if (fn != tn) throw ArgError{qw + "forward must match the table size"};
      } else if (quantMode == QUANT_ALPT) {
        if (quantBits != 4 && quantBits != 8) throw ArgError{qw + "bits must be 4 or 8 for ALPT"};
        size_t s1, s2, s3;
        steps = q.array<float>("steps", &s1);
        stepM = q.array<float>("stepM", &s2);
        stepV = q.array<float>("stepV", &s3);
        if (s1 != rows || s2 != rows || s3 != rows) throw ArgError{qw + "steps/stepM/stepV must have one value per row"};
        stepLr = (float)q.num("stepLr", 0);
        if (!(stepLr > 0.f)) throw ArgError{qw + "stepLr must be positive for ALPT"};
      } else if (quantMode != QUANT_NONE) {
        throw ArgError{qw + "mode must be 0 (none), 1 (ste) or 2 (alpt)"};
      }
    }
    read = forward ? forward : table;
    for (size_t j = 0; j < numIds * (size_t)K; j++) {
      if (codes[j] < -1 || codes[j] >= (int32_t)rows) throw ArgError{w + "codes holds a row outside the table"};
    }
  }

  // e = composition of the rows of `id`.
  // Asks the cache for the rows `id` composes from (a hint only: no effect on results).
  inline void prefetchRows(int32_t id) const {
    const int32_t* c = codes + (size_t)id * K;
    if (csrStart) {
      for (int k = 0; k < K; k++)
        if (c[k] >= 0) __builtin_prefetch(csrVal + csrStart[c[k]]);
      return;
    }
    for (int k = 0; k < K; k++) {
      if (c[k] < 0) continue;
      const float* t = read + (size_t)c[k] * rowDim;
      for (int j = 0; j < rowDim; j += 16) __builtin_prefetch(t + j);
    }
  }

  // Sum composition; D > 0 fixes the width at compile time (d = 64, the common case, then runs
  // without a remainder loop). Same arithmetic, in the same order, for every D.
  template <int D>
  inline void composeSum(int32_t id, float* __restrict e, int dim) const {
    const int n = D > 0 ? D : dim;
    const int32_t* c = codes + (size_t)id * K;
    const float* w = weights ? weights + (size_t)id * K : nullptr;
    const float* __restrict T = read;
    for (int j = 0; j < n; j++) e[j] = 0.f;
    for (int k = 0; k < K; k++) {
      if (c[k] < 0) continue;
      const float* __restrict t = T + (size_t)c[k] * rowDim;
      const float wk = w ? w[k] : 1.f;
      for (int j = 0; j < n; j++) e[j] += wk * t[j];
    }
  }

  // Sum composition over sparse rows: each active entry of each row (csr mode).
  inline void composeCsr(int32_t id, float* e, int dim) const {
    const int32_t* c = codes + (size_t)id * K;
    const float* w = weights ? weights + (size_t)id * K : nullptr;
    for (int j = 0; j < dim; j++) e[j] = 0.f;
    for (int k = 0; k < K; k++) {
      if (c[k] < 0) continue;
      const float wk = w ? w[k] : 1.f;
      const int64_t base = (int64_t)c[k] * rowDim;
      for (int32_t q = csrStart[c[k]]; q < csrStart[c[k] + 1]; q++) e[csrPos[q] - base] += wk * csrVal[q];
    }
  }

  inline void compose(int32_t id, float* e, int dim) const {
    if (csrStart) {
      composeCsr(id, e, dim);
      return;
    }
    const int32_t* c = codes + (size_t)id * K;
    const float* T = read;
    if (combine == SUM) {
      if (dim == 64) composeSum<64>(id, e, dim);
      else composeSum<0>(id, e, dim);
    } else if (combine == MULT) {
      for (int j = 0; j < dim; j++) e[j] = 1.f;
      for (int k = 0; k < K; k++) {
        const float* t = T + (size_t)c[k] * rowDim;
        for (int j = 0; j < dim; j++) e[j] *= t[j];
      }
    } else {
      for (int k = 0; k < K; k++) {
        const float* t = T + (size_t)c[k] * rowDim;
        for (int j = 0; j < rowDim; j++) e[k * rowDim + j] = t[j];
      }
    }
  }

  // Accumulates the gradient dE of the composed embedding of `id` into its rows (and weights).
  // Backward of the sum composition (D as in composeSum).
  template <int D>
  __attribute__((always_inline)) inline void backwardSum(int32_t id, const float* __restrict dE, int dim) {
    const int n = D > 0 ? D : dim;
    const int32_t* c = codes + (size_t)id * K;
    const float* w = weights ? weights + (size_t)id * K : nullptr;
    const float* T = read;
    float* gw = learnW ? wacc.at(id) : nullptr;
    for (int k = 0; k < K; k++) {
      if (c[k] < 0) continue;
      float* __restrict g = acc.at(c[k]);
      const float wk = w ? w[k] : 1.f;
      for (int j = 0; j < n; j++) g[j] += wk * dE[j];
      if (gw) {
        const float* t = T + (size_t)c[k] * rowDim;
        float s = 0.f;
        for (int j = 0; j < n; j++) s += dE[j] * t[j];
        gw[k] += s;
      }
    }
  }

  __attribute__((always_inline)) inline void backward(int32_t id, const float* dE, int dim) {
    const int32_t* c = codes + (size_t)id * K;
    const float* T = read;
    if (combine == SUM) {
      if (dim == 64) backwardSum<64>(id, dE, dim);
      else backwardSum<0>(id, dE, dim);
    } else if (combine == MULT) {
      for (int k = 0; k < K; k++) {
        float* g = acc.at(c[k]);
        for (int j = 0; j < dim; j++) {
          float p = dE[j];
          for (int l = 0; l < K; l++)
            if (l != k) p *= T[(size_t)c[l] * rowDim + j];
          g[j] += p;
        }
      }
    } else {
      for (int k = 0; k < K; k++) {
        float* g = acc.at(c[k]);
        for (int j = 0; j < rowDim; j++) g[j] += dE[k * rowDim + j];
      }
    }
  }
};

}  // namespace crn
