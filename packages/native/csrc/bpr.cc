// BPR training of a two-tower (user, item) embedding model whose embeddings are composed from
// hashed table rows (sum / mult / concat of K rows per ID, optional learnable per-ID weights).
// The pieces live apart: side.h (composition and its backward pass), rowstep.h (the storage's row
// step: Adam + low-precision / sparsity hooks), sampling.h (negatives), lightgcn_hops.h (LightGCN's
// hop-gradient estimators); this file holds argument parsing and the batch loop.
// Mini-batch semantics match PyTorch MF-BPR with SparseAdam: all gradients of a batch are taken
// at the same parameters, summed per row, then one lazy Adam step updates only the touched rows.
// MF work per batch is O(batch × K × dim); nothing is O(table) per step. LightGCN mode also sends
// gradients to graph neighbours, which on a real graph touches most rows of both tables per step.
#include <cmath>
#include <thread>
#include <vector>

#include "kernels.h"
#include "lightgcn_hops.h"
#include "rowstep.h"
#include "sampling.h"
#include "side.h"

namespace crn {

static inline float dot(const float* a, const float* b, int dim) {
  float s = 0.f;
  for (int c = 0; c < dim; c++) s += a[c] * b[c];
  return s;
}

static inline float softplus(float x) { return x > 20.f ? x : (x < -20.f ? std::exp(x) : std::log1p(std::exp(x))); }

// The call's groups (packages/native/src/types.ts BprTrainArgs), one parser each: a function of
// the kernel sees only the group it needs.

// `data`: the training interactions.
struct DataArgs {
  const uint32_t* offsets;     // training items per user (CSR), rows sorted
  const int32_t* trainItems;
  const int32_t* pairUsers;    // training pairs
  const int32_t* pairItems;
  size_t nPairs;
  uint32_t numItems;
};

static DataArgs parseData(Args& call, const Side& U, const Side& I) {
  Args g;
  if (!call.group("data", &g)) throw ArgError{"missing group 'data'"};
  DataArgs d;
  size_t nOff, nTrain, nPu, nPi;
  d.offsets = g.array<uint32_t>("trainOffsets", &nOff, false, napi_uint32_array);
  d.trainItems = g.array<int32_t>("trainItems", &nTrain, false, napi_int32_array);
  d.pairUsers = g.array<int32_t>("pairUsers", &nPu, false, napi_int32_array);
  d.pairItems = g.array<int32_t>("pairItems", &nPi, false, napi_int32_array);
  if (nPu != nPi) throw ArgError{"data.pairUsers and data.pairItems must have equal lengths"};
  d.nPairs = nPu;
  d.numItems = (uint32_t)g.num("numItems", 0);
  if (d.numItems != I.numIds) throw ArgError{"data.numItems must equal the item codes' ID count"};
  if (nOff != U.numIds + 1) throw ArgError{"data.trainOffsets must have numUsers + 1 entries"};
  for (size_t j = 0; j < d.nPairs; j++)
    if ((uint32_t)d.pairUsers[j] >= U.numIds || (uint32_t)d.pairItems[j] >= d.numItems) throw ArgError{"data: a pair is out of range"};
  return d;
}

// `batches`: which triples this call visits, and the random stream.
struct BatchArgs {
  int32_t* perm;
  size_t nPerm, start, end;
  uint32_t* rngState;
  bool shuffle;
  int size;
};

static BatchArgs parseBatches(Args& call, size_t nPairs) {
  Args g;
  if (!call.group("batches", &g)) throw ArgError{"missing group 'batches'"};
  BatchArgs b;
  size_t nRng;
  b.perm = g.array<int32_t>("perm", &b.nPerm, false, napi_int32_array);
  b.rngState = g.array<uint32_t>("rngState", &nRng, false, napi_uint32_array);
  if (nRng != 4) throw ArgError{"batches.rngState must have 4 words"};
  if (b.nPerm != nPairs) throw ArgError{"batches.perm must have one entry per pair of data"};
  b.start = (size_t)g.num("start", 0);
  b.end = (size_t)g.num("end", (double)b.nPerm, true);
  if (b.start > b.end || b.end > b.nPerm) throw ArgError{"batches: need 0 <= start <= end <= perm.length"};
  b.shuffle = g.flag("shuffle", false);
  b.size = (int)g.num("batchSize", 2048);
  if (b.size < 1) throw ArgError{"batches.batchSize must be >= 1"};
  return b;
}

// `sampling`: user-uniform positives (the LightGCN/NGCF samplers: a user with training items,
// then one of its items; perm is then only a count) and dynamic negatives (the highest-scored
// of negativeCandidates draws).
struct SamplingArgs {
  const int32_t* sampleUsers;
  size_t nSampleUsers;
  int negCandidates;
};

static SamplingArgs parseSampling(Args& call, const Side& U, const DataArgs& d) {
  SamplingArgs s{nullptr, 0, 1};
  Args g;
  if (!call.group("sampling", &g)) return s;
  s.sampleUsers = g.array<int32_t>("sampleUsers", &s.nSampleUsers, true, napi_int32_array);
  if (s.sampleUsers) {
    if (s.nSampleUsers == 0) throw ArgError{"sampling.sampleUsers is empty"};
    for (size_t j = 0; j < s.nSampleUsers; j++) {
      const int32_t u = s.sampleUsers[j];
      if ((size_t)u >= U.numIds || d.offsets[u + 1] == d.offsets[u])
        throw ArgError{"sampling.sampleUsers must list users that have training items"};
    }
  }
  s.negCandidates = (int)g.num("negativeCandidates", 1, true);
  if (s.negCandidates < 1 || s.negCandidates > 1024) throw ArgError{"sampling.negativeCandidates must be 1 to 1024"};
  return s;
}

// `optimizer`: lazy Adam of both towers (and learnable weights), the loss's L2 term.
struct OptimizerArgs {
  double* state;  // [adam step]
  float lr, weightLr, b1, b2, eps, reg;
};

static OptimizerArgs parseOptimizer(Args& call) {
  Args g;
  if (!call.group("optimizer", &g)) throw ArgError{"missing group 'optimizer'"};
  OptimizerArgs o;
  size_t nState;
  o.state = g.array<double>("state", &nState, false, napi_float64_array);
  if (nState < 1) throw ArgError{"optimizer.state must have 1 value"};
  o.lr = (float)g.num("lr", 1e-3);
  o.weightLr = (float)g.num("weightLr", o.lr, true);
  o.b1 = (float)g.num("beta1", 0.9, true);
  o.b2 = (float)g.num("beta2", 0.999, true);
  o.eps = (float)g.num("eps", 1e-8, true);
  o.reg = (float)g.num("reg", 0, true);
  return o;
}

// `growth`: DSL's growth scores are accumulated only in the last N batches of the call (−1 = all).
static int parseScoreLastBatches(Args& call) {
  Args g;
  return call.group("growth", &g) ? (int)g.num("scoreLastBatches", -1, true) : -1;
}

// `lightgcn`: scores use stale final embeddings H (refreshed by the caller) corrected by the live
// change of the node's own layer-0 embedding; gradients reach the node's rows (weight alpha0) and,
// with `hops`, its graph neighbours' rows (lightgcn_hops.h).
struct LightGcnArgs {
  const float* H = nullptr;   // [(numUsers + numItems) × dim] or null (MF)
  const float* S0 = nullptr;  // layer-0 embeddings H was computed from
  float a0 = 1.f;
  int threads = 1;            // Adam steps and aggregate scatter: 1 or 2 threads
  const uint32_t* gOff = nullptr;
  const int32_t* gIdx = nullptr;
  const float* gVal = nullptr;
  float a1 = 0.f;
  float aHop[5] = {0.f, 0.f, 0.f, 0.f, 0.f};  // weights of Â^h G, h = 2..4
  uint32_t maxNb = 0;         // neighbours sampled per node (0 = all)
  uint32_t twoHop = 0;        // random walks per node for each term beyond the first hop
  bool aggregate = false;     // sum a node's gradient over the batch before the scatter
  bool exact = false;         // exact hop terms (scatter, then gathers), needs aggregate
  bool hop = false;           // gradients reach neighbours
};

static LightGcnArgs parseLightGcn(Args& call, int dim, size_t numNodes) {
  LightGcnArgs l;
  Args g;
  if (!call.group("lightgcn", &g)) return l;
  size_t nH, nS;
  l.H = g.array<float>("history", &nH);
  l.S0 = g.array<float>("snapshot", &nS);
  if (nH != numNodes * (size_t)dim || nS != nH) throw ArgError{"lightgcn.history and lightgcn.snapshot must both be (numUsers + numItems) × dim"};
  l.a0 = (float)g.num("alpha0", 1.0);
  l.threads = (int)g.num("threads", 1, true);
  Args h;
  if (!g.group("hops", &h)) return l;
  size_t nGo, nGi, nGv;
  l.gOff = h.array<uint32_t>("graphOffsets", &nGo, false, napi_uint32_array);
  l.gIdx = h.array<int32_t>("graphIndices", &nGi, false, napi_int32_array);
  l.gVal = h.array<float>("graphValues", &nGv);
  l.a1 = (float)h.num("alpha1", 0.0);
  l.aHop[2] = (float)h.num("alpha2", 0.0, true);
  l.aHop[3] = (float)h.num("alpha3", 0.0, true);
  l.aHop[4] = (float)h.num("alpha4", 0.0, true);
  l.maxNb = (uint32_t)h.num("maxNeighbors", 0, true);
  l.twoHop = (uint32_t)h.num("twoHopSamples", 0, true);
  l.aggregate = h.flag("aggregateNeighbors", false);
  l.exact = h.flag("exactHops", false);
  l.hop = l.a1 != 0.f;
  if (l.hop && (nGo != numNodes + 1 || nGi != nGv || l.gOff[numNodes] != nGi)) throw ArgError{"lightgcn.hops: graph CSR must cover numUsers + numItems nodes"};
  if (l.exact && !(l.hop && l.aggregate)) throw ArgError{"lightgcn.hops.exactHops needs alpha1 and aggregateNeighbors"};
  if (l.hop)
    for (size_t j = 0; j < nGi; j++)
      if ((size_t)l.gIdx[j] >= numNodes) throw ArgError{"lightgcn.hops.graphIndices holds a node outside the graph"};
  return l;
}

napi_value bprTrain(napi_env env, Args& a) {
  const int dim = (int)a.num("dim", 0);
  if (dim < 1) throw ArgError{"dim must be >= 1"};
  Side U, I;
  U.parse(a, "user", dim);
  I.parse(a, "item", dim);
  const size_t numNodes = U.numIds + I.numIds;
  const DataArgs data = parseData(a, U, I);
  const BatchArgs batches = parseBatches(a, data.nPairs);
  const SamplingArgs sampling = parseSampling(a, U, data);
  const OptimizerArgs opt = parseOptimizer(a);
  const int scoreLastBatches = parseScoreLastBatches(a);
  const LightGcnArgs gcn = parseLightGcn(a, dim, numNodes);
  // Short names for the batch loop below.
  const uint32_t* offsets = data.offsets;
  const int32_t* trainItems = data.trainItems;
  const int32_t* pairUsers = data.pairUsers;
  const int32_t* pairItems = data.pairItems;
  const uint32_t numItems = data.numItems;
  int32_t* perm = batches.perm;
  const size_t nPerm = batches.nPerm, start = batches.start, end = batches.end;
  const bool shuffle = batches.shuffle;
  const int B = batches.size;
  uint32_t* rngState = batches.rngState;
  const int32_t* sampleUsers = sampling.sampleUsers;
  const size_t nSU = sampling.nSampleUsers;
  const int negCandidates = sampling.negCandidates;
  double* state = opt.state;
  const float lr = opt.lr, wlr = opt.weightLr, b1 = opt.b1, b2 = opt.b2, eps = opt.eps, reg = opt.reg;
  const float* H = gcn.H;
  const float* S0 = gcn.S0;
  const float a0 = gcn.a0;
  const int threads = gcn.threads;
  const bool hop = gcn.hop, aggregate = gcn.aggregate, exact = gcn.exact;

  Rng rng;
  std::memcpy(rng.s, rngState, sizeof(rng.s));
  if (shuffle && !sampleUsers && nPerm > 1) {
    // Fisher–Yates with the draws taken PF swaps ahead (same draws, same order) so that the random
    // perm[j] can be prefetched: the swap is otherwise one cache miss per element.
    constexpr size_t PF = 16;
    uint32_t ring[PF];
    size_t next = nPerm - 1;  // the i of the next draw
    auto draw = [&] {
      const uint32_t j = rng.below((uint32_t)(next + 1));
      ring[next % PF] = j;
      __builtin_prefetch(&perm[j], 1);
      next--;
    };
    while (next > 0 && nPerm - 1 - next < PF) draw();
    for (size_t i = nPerm - 1; i > 0; i--) {
      const size_t j = ring[i % PF];
      if (next > 0) draw();
      std::swap(perm[i], perm[j]);
    }
  }
  const size_t cap = hop ? std::max(U.rows, I.rows) : (size_t)B * 3 * 4;
  U.acc.init(U.rows, U.rowDim, std::min(cap, U.rows));
  I.acc.init(I.rows, I.rowDim, std::min(cap, I.rows));
  if (U.learnW) U.wacc.init(U.numIds, U.K, std::min(cap, U.numIds));
  if (I.learnW) I.wacc.init(I.numIds, I.K, std::min(cap, I.numIds));

  std::vector<float> eu((size_t)B * dim), ei((size_t)B * dim), ej((size_t)B * dim), d(dim), dn(dim);
  // Ego (layer-0) embeddings of the batch, kept apart from the scored ones in LightGCN mode.
  std::vector<float> xu(H ? (size_t)B * dim : 0), xi(H ? (size_t)B * dim : 0), xj(H ? (size_t)B * dim : 0);
  std::vector<int32_t> bu(B), bi(B), bj(B);
  // LightGCN's hop-gradient estimators (lightgcn_hops.h): where a node's final-embedding gradient
  // goes beyond the node itself.
  HopGradients hops{U, I, dim, numNodes, gcn.gOff, gcn.gIdx, gcn.gVal, gcn.a1, {gcn.aHop[0], gcn.aHop[1], gcn.aHop[2], gcn.aHop[3], gcn.aHop[4]}, gcn.maxNb, gcn.twoHop};
  if (hop && aggregate) hops.gnode.init(numNodes, dim, numNodes);
  if (exact) hops.initExact();
  Acc& gnode = hops.gnode;
  const int maxHop = hops.maxHop;
  auto scatterNeighbours = [&](size_t node, const float* g) {
    hops.sameSideHops(node, g, rng, d.data());
    hops.otherSideHops(node, g, rng, d.data());
  };
  auto scatterSide = [&](bool toUsers, Rng& r, float* buf) { hops.scatterSide(toUsers, r, buf); };
  auto exactLevel = [&](int h, bool toUsers, float* buf) { hops.exactLevel(h, toUsers, buf); };
  // Aggregate mode on 2 threads: one thread writes only user rows, the other only item rows (the
  // sides' accumulators are disjoint, so no locks). Each has its own generator, split off the
  // call's starting state without advancing the main stream, so negative sampling is the same
  // whatever the thread count and a run is deterministic for a given count.
  std::vector<float> d2(dim);
  Rng ru = rng, ri = rng;
  ru.s[0] ^= 0x9E3779B9u;
  ri.s[1] ^= 0x85EBCA6Bu;
  for (int k = 0; k < 8; k++) {
    ru.next();
    ri.next();
  }
  // The embedding a triple scores with: composed rows (MF), or in LightGCN mode the stale final
  // embedding plus the live change of its layer-0 part (ego, kept for the gradient).
  auto embed = [&](const Side& S, size_t base, int32_t id, float* ego, float* fin) {
    if (!H) {
      S.compose(id, fin, dim);
      return;
    }
    S.compose(id, ego, dim);
    const float* h = H + (base + (size_t)id) * dim;
    const float* s0 = S0 + (base + (size_t)id) * dim;
    for (int c = 0; c < dim; c++) fin[c] = h[c] + a0 * (ego[c] - s0[c]);
  };
  const NegativeSampler negatives{trainItems, numItems};
  auto drawNegative = [&](uint32_t lo, uint32_t hi) -> int32_t { return negatives.draw(rng, lo, hi); };
  std::vector<float> candFin(dim);
  double lossSum = 0;
  size_t triples = 0;
  double t = state[0];
  auto adamSide = [&](Side& S, bool score) {
    stepRows(S, stepParams(lr, b1, b2, eps, t, score));
    if (S.learnW) adamPlain(S.weights, S.wm, S.wv, S.wacc, stepParams(wlr, b1, b2, eps, t, false));
  };
  const size_t numBatches = (end - start + B - 1) / B;
  size_t batchIdx = 0;
  for (size_t pos = start; pos < end; pos += B, batchIdx++) {
    const int nb = (int)std::min((size_t)B, end - pos);
    if (!H && negCandidates == 1) {
      // Plain MF triples: draw the batch's triples first (the same draws in the same order), then
      // compose them. Both passes are bound by cache misses on scattered entries (pairs in shuffled
      // order, the user's training items, table rows), so each prefetches a few triples ahead.
      for (int b = 0; b < nb; b++) {
        int32_t u;
        if (sampleUsers) {
          u = sampleUsers[rng.below((uint32_t)nSU)];
          bu[b] = u;
          bi[b] = trainItems[offsets[u] + rng.below(offsets[u + 1] - offsets[u])];
        } else {
          if (b + 16 < nb) {
            const int32_t q = perm[pos + b + 16];
            __builtin_prefetch(&pairUsers[q]);
            __builtin_prefetch(&pairItems[q]);
          }
          if (b + 8 < nb) __builtin_prefetch(&offsets[pairUsers[perm[pos + b + 8]]]);
          if (b + 4 < nb) {
            const int32_t u4 = pairUsers[perm[pos + b + 4]];
            __builtin_prefetch(&trainItems[(offsets[u4] + offsets[u4 + 1]) / 2]);
          }
          const int32_t p = perm[pos + b];
          u = pairUsers[p];
          bu[b] = u;
          bi[b] = pairItems[p];
        }
        bj[b] = drawNegative(offsets[u], offsets[u + 1]);
      }
      constexpr int ahead = 8;
      for (int b = 0; b < nb; b++) {
        if (b + ahead < nb) {
          U.prefetchRows(bu[b + ahead]);
          I.prefetchRows(bi[b + ahead]);
          I.prefetchRows(bj[b + ahead]);
        }
        const size_t o = (size_t)b * dim;
        U.compose(bu[b], &eu[o], dim);
        I.compose(bi[b], &ei[o], dim);
        I.compose(bj[b], &ej[o], dim);
      }
    } else for (int b = 0; b < nb; b++) {
      int32_t u;
      if (sampleUsers) {
        u = sampleUsers[rng.below((uint32_t)nSU)];
        bu[b] = u;
        bi[b] = trainItems[offsets[u] + rng.below(offsets[u + 1] - offsets[u])];
      } else {
        const int32_t p = perm[pos + b];
        u = pairUsers[p];
        bu[b] = u;
        bi[b] = pairItems[p];
      }
      const uint32_t lo = offsets[u], hi = offsets[u + 1];
      const size_t o = (size_t)b * dim;
      embed(U, 0, u, H ? &xu[o] : nullptr, &eu[o]);
      embed(I, U.numIds, bi[b], H ? &xi[o] : nullptr, &ei[o]);
      int32_t j = drawNegative(lo, hi);
      if (negCandidates > 1) {
        // Dynamic negative sampling: keep the candidate the model scores highest for u. LightGCN
        // scores candidates by their stale final embeddings (one row read each; the live layer-0
        // change only matters for the kept one, embedded exactly below).
        auto score = [&](int32_t c) {
          if (H) return dot(&eu[o], H + (U.numIds + (size_t)c) * dim, dim);
          I.compose(c, candFin.data(), dim);
          return dot(&eu[o], candFin.data(), dim);
        };
        float best = score(j);
        for (int k = 1; k < negCandidates; k++) {
          const int32_t c = drawNegative(lo, hi);
          const float sc = score(c);
          if (sc > best) {
            best = sc;
            j = c;
          }
        }
      }
      embed(I, U.numIds, j, H ? &xj[o] : nullptr, &ej[o]);
      bj[b] = j;
    }
    const float invB = 1.f / (float)nb;
    for (int b = 0; b < nb; b++) {
      float* pu = &eu[(size_t)b * dim];
      float* pi = &ei[(size_t)b * dim];
      float* pj = &ej[(size_t)b * dim];
      float x = 0.f, nrm = 0.f;
      for (int c = 0; c < dim; c++) {
        x += pu[c] * (pi[c] - pj[c]);
        nrm += pu[c] * pu[c] + pi[c] * pi[c] + pj[c] * pj[c];
      }
      const float g = -1.f / (1.f + std::exp(x)) * invB;  // d softplus(-x) / dx, batch mean
      const float r = reg * invB;
      if (!H) {
        lossSum += softplus(-x) + 0.5 * reg * nrm;
        for (int c = 0; c < dim; c++) d[c] = g * (pi[c] - pj[c]) + r * pu[c];
        U.backward(bu[b], d.data(), dim);
        for (int c = 0; c < dim; c++) d[c] = g * pu[c] + r * pi[c];
        I.backward(bi[b], d.data(), dim);
        for (int c = 0; c < dim; c++) d[c] = -g * pu[c] + r * pj[c];
        I.backward(bj[b], d.data(), dim);
        continue;
      }
      // LightGCN: L2 on the ego embeddings; a0 on the node itself, a1·Â on its neighbours.
      const float* ego[3] = {&xu[(size_t)b * dim], &xi[(size_t)b * dim], &xj[(size_t)b * dim]};
      float egoNrm = 0.f;
      for (int q = 0; q < 3; q++)
        for (int c = 0; c < dim; c++) egoNrm += ego[q][c] * ego[q][c];
      lossSum += softplus(-x) + 0.5 * reg * egoNrm;
      const int32_t ids[3] = {bu[b], bi[b], bj[b]};
      for (int q = 0; q < 3; q++) {
        if (q == 0)
          for (int c = 0; c < dim; c++) dn[c] = g * (pi[c] - pj[c]);
        else
          for (int c = 0; c < dim; c++) dn[c] = (q == 1 ? g : -g) * pu[c];
        for (int c = 0; c < dim; c++) d[c] = a0 * dn[c] + r * ego[q][c];
        if (q == 0) U.backward(ids[q], d.data(), dim);
        else I.backward(ids[q], d.data(), dim);
        if (!hop) continue;
        const size_t node = q == 0 ? (size_t)ids[q] : U.numIds + (size_t)ids[q];
        if (aggregate) {
          float* gn = gnode.at((int32_t)node);
          for (int c = 0; c < dim; c++) gn[c] += dn[c];
          continue;
        }
        scatterNeighbours(node, dn.data());
      }
    }
    if (exact) {
      for (int h = 1; h <= maxHop; h++) {
        if (threads >= 2) {
          std::thread items([&] { exactLevel(h, false, d2.data()); });
          exactLevel(h, true, d.data());
          items.join();
        } else {
          exactLevel(h, true, d.data());
          exactLevel(h, false, d.data());
        }
      }
      gnode.reset();
    } else if (hop && aggregate) {
      if (threads >= 2) {
        std::thread items([&] { scatterSide(false, ri, d2.data()); });
        scatterSide(true, ru, d.data());
        items.join();
      } else {
        for (int s = 0; s < gnode.count; s++) scatterNeighbours((size_t)gnode.touched[s], &gnode.grad[(size_t)s * dim]);
      }
      gnode.reset();
    }
    t += 1;
    const bool score = scoreLastBatches < 0 || batchIdx + (size_t)scoreLastBatches >= numBatches;
    if (hop && threads >= 2) {
      // LightGCN steps touch most rows of both tables: the two sides' Adam steps run in parallel.
      std::thread items([&] { adamSide(I, score); });
      adamSide(U, score);
      items.join();
    } else {
      adamSide(U, score);
      adamSide(I, score);
    }
    U.acc.reset();
    I.acc.reset();
    if (U.learnW) U.wacc.reset();
    if (I.learnW) I.wacc.reset();
    triples += nb;
  }
  state[0] = t;
  std::memcpy(rngState, rng.s, sizeof(rng.s));

  napi_value out, v1, v2;
  napi_create_object(env, &out);
  napi_create_double(env, lossSum, &v1);
  napi_create_double(env, (double)triples, &v2);
  napi_set_named_property(env, out, "lossSum", v1);
  napi_set_named_property(env, out, "triples", v2);
  return out;
}

napi_value composeEmbeddings(napi_env env, Args& a) {
  const int dim = (int)a.num("dim", 0);
  Side S;
  // compose needs no optimizer state: parse the pieces it uses directly.
  size_t n, tn, wn;
  S.codes = a.array<int32_t>("codes", &n, false, napi_int32_array);
  S.K = (int)a.num("K", 1);
  S.combine = (int)a.num("combine", 0, true);
  S.numIds = n / (size_t)S.K;
  S.weights = a.array<float>("weights", &wn, true);
  S.table = a.array<float>("table", &tn);
  S.read = S.table;
  S.rowDim = S.combine == CONCAT ? dim / S.K : dim;
  S.rows = tn / (size_t)S.rowDim;
  if (S.weights && wn != n) throw ArgError{"weights must have numIds × K values"};
  for (size_t j = 0; j < n; j++)
    if (S.codes[j] < -1 || S.codes[j] >= (int32_t)S.rows) throw ArgError{"codes holds a row outside the table"};
  size_t on;
  float* out = a.array<float>("out", &on);
  if (on != S.numIds * (size_t)dim) throw ArgError{"out must have numIds × dim values"};
  for (size_t id = 0; id < S.numIds; id++) S.compose((int32_t)id, out + id * dim, dim);
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

}  // namespace crn
