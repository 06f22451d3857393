// Full-ranking top-K: scores every (user, item) pair by dot product, masks each user's training
// items, and keeps the K best items per user (ties: smaller item id first). Users are split over
// threads in blocks; items are streamed in cache-sized chunks from a transposed copy, so each item
// chunk is reused by a block of users while it sits in cache.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "kernels.h"

namespace crn {

namespace {
constexpr int UB = 8;  // users per block
typedef float vf __attribute__((vector_size(32)));

template <typename T>
struct AlignedAlloc {
  typedef T value_type;
  AlignedAlloc() = default;
  template <typename U>
  AlignedAlloc(const AlignedAlloc<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  template <typename U>
  bool operator==(const AlignedAlloc<U>&) const { return true; }
  template <typename U>
  bool operator!=(const AlignedAlloc<U>&) const { return false; }
};
typedef AlignedAlloc<vf> VecAlloc;

struct Heap {
  // Min-heap on (score, -item): the root is the worst kept entry.
  std::vector<float> s;
  std::vector<int32_t> it;
  int n = 0, k = 0;
  void reset(int kk) {
    k = kk;
    n = 0;
    s.resize(kk);
    it.resize(kk);
  }
  static inline bool worse(float sa, int32_t ia, float sb, int32_t ib) { return sa < sb || (sa == sb && ia > ib); }
  inline void sift(int i) {
    for (;;) {
      int l = 2 * i + 1, r = l + 1, m = i;
      if (l < n && worse(s[l], it[l], s[m], it[m])) m = l;
      if (r < n && worse(s[r], it[r], s[m], it[m])) m = r;
      if (m == i) return;
      std::swap(s[i], s[m]);
      std::swap(it[i], it[m]);
      i = m;
    }
  }
  inline void push(float sc, int32_t item) {
    if (n < k) {
      int i = n++;
      s[i] = sc;
      it[i] = item;
      while (i > 0) {
        int p = (i - 1) / 2;
        if (!worse(s[i], it[i], s[p], it[p])) break;
        std::swap(s[i], s[p]);
        std::swap(it[i], it[p]);
        i = p;
      }
    } else if (worse(s[0], it[0], sc, item)) {
      s[0] = sc;
      it[0] = item;
      sift(0);
    }
  }
  // Writes the kept items best-first; -1 pads when fewer than k items exist.
  void emit(int32_t* out) {
    std::vector<int> idx(n);
    for (int i = 0; i < n; i++) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](int a, int b) { return worse(s[b], it[b], s[a], it[a]); });
    for (int i = 0; i < k; i++) out[i] = i < n ? it[idx[i]] : -1;
  }
};
}  // namespace

napi_value rankTopK(napi_env env, Args& a) {
  const int dim = (int)a.num("dim", 0);
  const int k = (int)a.num("k", 20);
  int threads = (int)a.num("threads", 0, true);
  if (dim < 1 || k < 1) throw ArgError{"dim and k must be >= 1"};
  size_t nu, ni, nMo = 0, nMi = 0, nUsers = 0, nOut;
  const float* ue = a.array<float>("userEmb", &nu);
  const float* ie = a.array<float>("itemEmb", &ni);
  const uint32_t* mo = a.array<uint32_t>("maskOffsets", &nMo, true, napi_uint32_array);
  const int32_t* mi = a.array<int32_t>("maskItems", &nMi, true, napi_int32_array);
  const int32_t* users = a.array<int32_t>("users", &nUsers, true, napi_int32_array);
  int32_t* out = a.array<int32_t>("out", &nOut, false, napi_int32_array);
  const size_t numUsers = nu / dim, numItems = ni / dim;
  const size_t evalUsers = users ? nUsers : numUsers;
  if (nOut != evalUsers * (size_t)k) throw ArgError{"out must have (users evaluated) × k entries"};
  if (mo && nMo != numUsers + 1) throw ArgError{"maskOffsets must have numUsers + 1 entries"};
  if (users)
    for (size_t j = 0; j < nUsers; j++)
      if ((size_t)users[j] >= numUsers) throw ArgError{"users holds an id outside the user embeddings"};
  if (mo)
    for (size_t j = 0; j < nMi; j++)
      if ((size_t)mi[j] >= numItems) throw ArgError{"maskItems holds an id outside the item embeddings"};

  // Item embeddings transposed to [dim × P] (P = numItems padded to a multiple of 16, zeros), so
  // 16 consecutive items of one dimension are two 8-float vectors.
  const size_t P = (numItems + 15) & ~(size_t)15;
  std::vector<vf, VecAlloc> itemTv((size_t)dim * P / 8);
  float* itemT = reinterpret_cast<float*>(itemTv.data());
  for (size_t i = 0; i < numItems; i++)
    for (int c = 0; c < dim; c++) itemT[(size_t)c * P + i] = ie[i * dim + c];

  if (threads <= 0) threads = (int)std::max(1u, std::thread::hardware_concurrency());
  const size_t numBlocks = (evalUsers + UB - 1) / UB;
  std::atomic<size_t> next{0};
  const float NEG = -std::numeric_limits<float>::infinity();
  auto work = [&]() {
    std::vector<float> scores((size_t)UB * P);
    std::vector<float> ub((size_t)UB * dim);
    Heap heap;
    for (;;) {
      const size_t blk = next.fetch_add(1);
      if (blk >= numBlocks) return;
      const size_t first = blk * UB;
      const int nb = (int)std::min((size_t)UB, evalUsers - first);
      std::fill(ub.begin(), ub.end(), 0.f);
      for (int b = 0; b < nb; b++) {
        const size_t u = users ? (size_t)users[first + b] : first + b;
        std::memcpy(&ub[(size_t)b * dim], ue + u * dim, dim * sizeof(float));
      }
      // Register-blocked micro-kernel: 8 users × 16 items of accumulators stay in registers
      // over the whole dot product; each item vector load feeds 8 FMAs.
      for (size_t i0 = 0; i0 < P; i0 += 16) {
        vf acc0[UB], acc1[UB];
        for (int b = 0; b < UB; b++) {
          acc0[b] = vf{};
          acc1[b] = vf{};
        }
        for (int c = 0; c < dim; c++) {
          const vf* x = reinterpret_cast<const vf*>(itemT + (size_t)c * P + i0);
          const vf x0 = x[0], x1 = x[1];
          for (int b = 0; b < UB; b++) {
            const float s = ub[(size_t)b * dim + c];
            acc0[b] += s * x0;
            acc1[b] += s * x1;
          }
        }
        for (int b = 0; b < nb; b++) {
          std::memcpy(&scores[(size_t)b * P + i0], &acc0[b], sizeof(vf));
          std::memcpy(&scores[(size_t)b * P + i0 + 8], &acc1[b], sizeof(vf));
        }
      }
      for (int b = 0; b < nb; b++) {
        float* sc = &scores[(size_t)b * P];
        const size_t u = users ? (size_t)users[first + b] : first + b;
        if (mo)
          for (uint32_t j = mo[u]; j < mo[u + 1]; j++) sc[mi[j]] = NEG;
        for (size_t i = numItems; i < P; i++) sc[i] = NEG;
        heap.reset(k);
        float thresh = NEG;
        for (size_t i0 = 0; i0 < P; i0 += 16) {
          // Skip 16 items at once when none beats the current k-th best (the common case).
          bool any = false;
          for (int l = 0; l < 16; l++) any |= sc[i0 + l] > thresh;
          if (!any) continue;
          for (int l = 0; l < 16; l++) {
            const size_t i = i0 + l;
            if (sc[i] > thresh) {
              heap.push(sc[i], (int32_t)i);
              if (heap.n == k) thresh = heap.s[0];
            }
          }
        }
        heap.emit(out + (first + b) * (size_t)k);
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; t++) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

}  // namespace crn
