// LightGCN's hop-gradient estimators: how the gradient of a node's final (layer-mean) embedding
// reaches the layer-0 rows of its graph neighbours — 1-hop scatter (exact or sampled), sampled walks
// for hops 2..4, or exact per-hop levels (a scatter for ÂG, then gathers Â·P over every node).
#pragma once
#include <vector>

#include "side.h"

namespace crn {

// Row r of y = A·x over the rows of x flagged `on` (others read as zero); whether any was. D > 0
// fixes the width at compile time so the row sum stays in registers (d = 64 is the common case).
template <int D>
static inline bool gatherRow(const uint32_t* off, const int32_t* idx, const float* val, size_t r,
                             const float* __restrict x, const uint8_t* on, float* __restrict y, int dim) {
  const int n = D > 0 ? D : dim;
  float acc[D > 0 ? D : 1];
  float* __restrict s = D > 0 ? acc : y;
  for (int c = 0; c < n; c++) s[c] = 0.f;
  bool any = false;
  for (uint32_t e = off[r]; e < off[r + 1]; e++) {
    const int32_t k = idx[e];
    if (!on[k]) continue;
    any = true;
    const float* __restrict q = x + (size_t)k * n;
    const float v = val[e];
    for (int c = 0; c < n; c++) s[c] += v * q[c];
  }
  if (D > 0)
    for (int c = 0; c < n; c++) y[c] = s[c];
  return any;
}

struct HopGradients {
  Side& U;
  Side& I;
  int dim;
  size_t numNodes;
  const uint32_t* gOff;
  const int32_t* gIdx;
  const float* gVal;
  float a1;
  float aHop[5];
  uint32_t maxNb, twoHop;
  // Per-node gradient of the final embeddings of this batch (aggregate mode).
  Acc gnode;
  // Exact mode: two node-indexed level buffers (level h lives in buffer h & 1) with their
  // "holds a value" flags, and the level-1 touched list per side (0 users, 1 items).
  int maxHop = 1;
  std::vector<float> P[2];
  std::vector<uint8_t> on[2];
  std::vector<int32_t> touched1[2];

  void initExact() {
    for (int h = 2; h <= 4; h++)
      if (aHop[h] != 0.f) maxHop = h;
    P[1].resize(numNodes * (size_t)dim);
    on[1].assign(numNodes, 0);
    if (maxHop >= 2) {
      P[0].resize(numNodes * (size_t)dim);
      on[0].assign(numNodes, 0);
    }
  }

  // Send a node's final-embedding gradient g through Â (weight a1) and Â², Â³, Â⁴ (sampled walks)
  // to the layer-0 rows of its neighbours. 1-hop rows are on the other side (user → item rows,
  // item → user rows), 2-hop rows on the node's own side, and so on alternately.
  void oneHop(size_t node, const float* g, Rng& r, float* buf) {
    const bool isUser = node < U.numIds;
    const uint32_t lo = gOff[node], hi = gOff[node + 1], deg = hi - lo;
    Side& other = isUser ? I : U;
    const size_t base = isUser ? U.numIds : 0;
    if (maxNb == 0 || deg <= maxNb) {
      for (uint32_t e = lo; e < hi; e++) {
        const float w = a1 * gVal[e];
        for (int c = 0; c < dim; c++) buf[c] = w * g[c];
        other.backward((int32_t)(gIdx[e] - base), buf, dim);
      }
    } else {
      // Unbiased sampled estimate of the neighbour sum: maxNb draws scaled by deg / maxNb.
      const float scale = (float)deg / (float)maxNb;
      for (uint32_t s = 0; s < maxNb; s++) {
        const uint32_t e = lo + r.below(deg);
        const float w = a1 * gVal[e] * scale;
        for (int c = 0; c < dim; c++) buf[c] = w * g[c];
        other.backward((int32_t)(gIdx[e] - base), buf, dim);
      }
    }
  }

  // The h-hop term (h = 2..4): a walk x → … → z of h uniform steps from the node estimates
  // (Â^h)_{zx} by Π Â_e·deg_e; an even h lands on the node's own side, an odd h on the other.
  void longHops(size_t node, int h, const float* g, Rng& r, float* buf) {
    const uint32_t deg0 = gOff[node + 1] - gOff[node];
    if (aHop[h] == 0.f || twoHop == 0 || deg0 == 0) return;
    const bool landsOnUsers = (node < U.numIds) == (h % 2 == 0);
    Side& dest = landsOnUsers ? U : I;
    const size_t destBase = landsOnUsers ? 0 : U.numIds;
    for (uint32_t s = 0; s < twoHop; s++) {
      size_t v = node;
      float w = aHop[h] / (float)twoHop;
      for (int step = 0; step < h; step++) {
        const uint32_t lo = gOff[v], deg = gOff[v + 1] - lo;
        const uint32_t e = lo + r.below(deg);
        w *= gVal[e] * (float)deg;
        v = (size_t)gIdx[e];
      }
      for (int c = 0; c < dim; c++) buf[c] = w * g[c];
      dest.backward((int32_t)(v - destBase), buf, dim);
    }
  }

  // Terms that land on the node's own side (even hops) or on the other side (1 and odd hops).
  void sameSideHops(size_t node, const float* g, Rng& r, float* buf) {
    longHops(node, 2, g, r, buf);
    longHops(node, 4, g, r, buf);
  }

  void otherSideHops(size_t node, const float* g, Rng& r, float* buf) {
    oneHop(node, g, r, buf);
    longHops(node, 3, g, r, buf);
  }

  // Aggregate mode: every batch node's summed gradient, sent to the rows of one side only.
  void scatterSide(bool toUsers, Rng& r, float* buf) {
    for (int s = 0; s < gnode.count; s++) {
      const size_t node = (size_t)gnode.touched[s];
      const float* g = &gnode.grad[(size_t)s * dim];
      const bool isUser = node < U.numIds;
      if (isUser == toUsers) sameSideHops(node, g, r, buf);
      else otherSideHops(node, g, r, buf);
    }
  }

  // One hop level for the nodes of one side (users if toUsers); reads only the previous level's
  // other side, writes only this side's level rows and this side's table accumulators.
  void exactLevel(int h, bool toUsers, float* buf) {
    Side& S = toUsers ? U : I;
    const size_t lo = toUsers ? 0 : U.numIds, hi = toUsers ? U.numIds : numNodes;
    float* out = P[h & 1].data();
    uint8_t* onOut = on[h & 1].data();
    const float w = h == 1 ? a1 : aHop[h];
    if (h == 1) {
      std::vector<int32_t>& list = touched1[toUsers ? 0 : 1];
      list.clear();
      std::memset(onOut + lo, 0, hi - lo);
      for (int s = 0; s < gnode.count; s++) {
        const size_t node = (size_t)gnode.touched[s];
        if ((node < U.numIds) == toUsers) continue;
        const float* g = &gnode.grad[(size_t)s * dim];
        for (uint32_t e = gOff[node]; e < gOff[node + 1]; e++) {
          const int32_t x = gIdx[e];
          float* __restrict p = out + (size_t)x * dim;
          if (!onOut[x]) {
            onOut[x] = 1;
            std::memset(p, 0, sizeof(float) * dim);
            list.push_back(x);
          }
          const float v = gVal[e];
          for (int c = 0; c < dim; c++) p[c] += v * g[c];
        }
      }
      for (const int32_t x : list) {
        const float* p = out + (size_t)x * dim;
        for (int c = 0; c < dim; c++) buf[c] = w * p[c];
        S.backward((int32_t)(x - lo), buf, dim);
      }
      return;
    }
    const float* in = P[(h - 1) & 1].data();
    const uint8_t* onIn = on[(h - 1) & 1].data();
    for (size_t x = lo; x < hi; x++) {
      float* p = out + x * dim;
      const bool any = dim == 64 ? gatherRow<64>(gOff, gIdx, gVal, x, in, onIn, p, dim)
                                 : gatherRow<0>(gOff, gIdx, gVal, x, in, onIn, p, dim);
      onOut[x] = any;
      if (!any || w == 0.f) continue;
      for (int c = 0; c < dim; c++) buf[c] = w * p[c];
      S.backward((int32_t)(x - lo), buf, dim);
    }
  }
};

}  // namespace crn
