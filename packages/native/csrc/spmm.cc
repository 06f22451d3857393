// Sparse (CSR) × dense product, y = A·x with A [n × m] in CSR and x [m × dim] row-major, split
// over threads by rows. Used for LightGCN propagation (A = D^-1/2 (user-item graph) D^-1/2).
#include <algorithm>
#include <thread>
#include <vector>

#include "kernels.h"

namespace crn {

napi_value spmm(napi_env env, Args& a) {
  const int dim = (int)a.num("dim", 0);
  int threads = (int)a.num("threads", 0, true);
  size_t no, ni, nv, nx, ny;
  const uint32_t* off = a.array<uint32_t>("offsets", &no, false, napi_uint32_array);
  const int32_t* idx = a.array<int32_t>("indices", &ni, false, napi_int32_array);
  const float* val = a.array<float>("values", &nv);
  const float* x = a.array<float>("x", &nx);
  float* y = a.array<float>("y", &ny);
  if (dim < 1 || no < 1 || ni != nv || ny != (no - 1) * (size_t)dim) throw ArgError{"spmm: inconsistent shapes"};
  const size_t rows = no - 1, xrows = nx / dim;
  if (off[rows] != ni) throw ArgError{"spmm: offsets[last] must equal indices.length"};
  for (size_t j = 0; j < ni; j++)
    if ((size_t)idx[j] >= xrows) throw ArgError{"spmm: column index outside x"};
  if (threads <= 0) threads = (int)std::max(1u, std::thread::hardware_concurrency());
  auto work = [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      float* yr = y + r * dim;
      std::fill(yr, yr + dim, 0.f);
      for (uint32_t j = off[r]; j < off[r + 1]; j++) {
        const float w = val[j];
        const float* xr = x + (size_t)idx[j] * dim;
        for (int c = 0; c < dim; c++) yr[c] += w * xr[c];
      }
    }
  };
  // Balance by non-zeros, not rows: degrees are heavy-tailed.
  std::vector<size_t> cuts(threads + 1, rows);
  cuts[0] = 0;
  for (int t = 1; t < threads; t++) {
    const uint32_t target = (uint32_t)((uint64_t)ni * t / threads);
    cuts[t] = std::lower_bound(off, off + rows, target) - off;
  }
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; t++) pool.emplace_back(work, cuts[t], cuts[t + 1]);
  work(cuts[0], cuts[1]);
  for (auto& th : pool) th.join();
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

}  // namespace crn
