// The row kernels of a hook-free dense embedding table (packages/core/src/row-step.ts `RowKernels`):
// strided gather of rows, de-duplicating gradient accumulation into a `PendingRowGrads`, and the
// lazy-Adam step of its touched rows. Each is the C++ twin of a JavaScript loop in row-step.ts and
// computes exactly what it computes: every sum and product in double precision in the JavaScript
// order, rounded to float32 where JavaScript stores into a Float32Array. Built with
// -ffp-contract=off (no fused multiply-add), so the results are bit-identical to the JavaScript path.
// What C++ adds is no per-row call overhead and prefetching of the scattered table rows. The K-row
// lookup (gatherCombineRows) composes an item's rows straight into the model's strided buffer.
#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace {

struct Fail {
  std::string msg;
};

template <typename T>
T* typed(napi_env env, napi_value v, napi_typedarray_type want, size_t* len, const char* name) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is) throw Fail{std::string("'") + name + "' must be a typed array"};
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t off;
  napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &off);
  if (type != want) throw Fail{std::string("'") + name + "' has the wrong element type"};
  *len = length;
  return static_cast<T*>(data);
}

double number(napi_env env, napi_value v, const char* name) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw Fail{std::string("'") + name + "' must be a number"};
  return d;
}

int64_t integer(napi_env env, napi_value v, const char* name) {
  const double d = number(env, v, name);
  if (!(d >= 0 && d <= 9007199254740991.0) || d != std::floor(d))
    throw Fail{std::string("'") + name + "' must be a non-negative integer"};
  return (int64_t)d;
}

template <size_t N>
void args(napi_env env, napi_callback_info info, napi_value (&argv)[N], const char* fn) {
  size_t argc = N;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < N) throw Fail{std::string(fn) + " needs " + std::to_string(N) + " arguments"};
}

napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

template <typename F>
napi_value guard(napi_env env, const char* fn, F&& f) {
  try {
    return f();
  } catch (const Fail& e) {
    napi_throw_type_error(env, nullptr, (std::string("native/") + fn + ": " + e.msg).c_str());
    return nullptr;
  }
}

constexpr int AHEAD = 8;  // rows prefetched ahead: the rows of a batch are scattered over the table

inline void prefetchRow(const float* p, int width, int rw) {
  for (int c = 0; c < width; c += 16) __builtin_prefetch(p + c, rw);
}

// gatherRows(src, rowDim, rowIds, n, out, outOffset, outStride) → −1, or the index j of the first
// row id ≥ rows (nothing after it written). Row j goes to out[outOffset + j·outStride ..), zeros for
// a negative id.
napi_value GatherRows(napi_env env, napi_callback_info info) {
  return guard(env, "gatherRows", [&]() -> napi_value {
    napi_value a[7];
    args(env, info, a, "gatherRows");
    size_t srcLen, idLen, outLen;
    const float* src = typed<float>(env, a[0], napi_float32_array, &srcLen, "src");
    const int64_t width = integer(env, a[1], "rowDim");
    const int32_t* ids = typed<int32_t>(env, a[2], napi_int32_array, &idLen, "rowIds");
    const int64_t n = integer(env, a[3], "n");
    float* out = typed<float>(env, a[4], napi_float32_array, &outLen, "out");
    const int64_t off = integer(env, a[5], "outOffset");
    const int64_t stride = integer(env, a[6], "outStride");
    if (width < 1) throw Fail{"rowDim must be positive"};
    if ((size_t)n > idLen) throw Fail{"n (" + std::to_string(n) + ") exceeds rowIds' length"};
    if (n > 0 && (size_t)(off + (n - 1) * stride + width) > outLen)
      throw Fail{"out holds " + std::to_string(outLen) + " values, too few for " + std::to_string(n) + " rows"};
    const int64_t rows = (int64_t)srcLen / width;
    for (int64_t j = 0; j < n; j++) {
      if (j + AHEAD < n) {
        const int32_t r = ids[j + AHEAD];
        if (r >= 0 && r < rows) prefetchRow(src + (size_t)r * width, (int)width, 0);
      }
      const int32_t r = ids[j];
      float* o = out + off + j * stride;
      if (r < 0) {
        std::memset(o, 0, sizeof(float) * (size_t)width);
        continue;
      }
      if (r >= rows) return num(env, (double)j);
      std::memcpy(o, src + (size_t)r * width, sizeof(float) * (size_t)width);
    }
    return num(env, -1);
  });
}

// accumulateRows(slot, touched, grads, count, width, rowIds, n, g, gOff, gStride, codesPerItem,
// codeStride, scale) → the new count, or −1 − i for the first row id rowIds[i] ≥ rows (then nothing is
// added). For each item j < n and code k < K = codesPerItem with rowIds[j·K + k] ≥ 0, in that order: the
// row's slot (a new one at `count`, zeroed) gets grads[slot] ← f32(grads[slot] + scale · g[gOff +
// j·gStride + k·codeStride ..]) — PendingRowGrads.add.
napi_value AccumulateRows(napi_env env, napi_callback_info info) {
  return guard(env, "accumulateRows", [&]() -> napi_value {
    napi_value a[13];
    args(env, info, a, "accumulateRows");
    size_t slotLen, touchedLen, gradsLen, idLen, gLen;
    int32_t* slot = typed<int32_t>(env, a[0], napi_int32_array, &slotLen, "slot");
    int32_t* touched = typed<int32_t>(env, a[1], napi_int32_array, &touchedLen, "touched");
    float* grads = typed<float>(env, a[2], napi_float32_array, &gradsLen, "grads");
    int64_t count = integer(env, a[3], "count");
    const int64_t width = integer(env, a[4], "width");
    const int32_t* ids = typed<int32_t>(env, a[5], napi_int32_array, &idLen, "rowIds");
    const int64_t n = integer(env, a[6], "n");
    const float* g = typed<float>(env, a[7], napi_float32_array, &gLen, "g");
    const int64_t off = integer(env, a[8], "gOff");
    const int64_t stride = integer(env, a[9], "gStride");
    const int64_t K = integer(env, a[10], "codesPerItem");
    const int64_t codeStride = integer(env, a[11], "codeStride");
    const double scale = number(env, a[12], "scale");
    if (width < 1 || K < 1) throw Fail{"width and codesPerItem must be positive"};
    if ((size_t)(n * K) > idLen)
      throw Fail{"rowIds holds " + std::to_string(idLen) + " ids, too few for " + std::to_string(n) + " items"};
    if (n > 0 && (size_t)(off + (n - 1) * stride + (K - 1) * codeStride + width) > gLen)
      throw Fail{"g holds " + std::to_string(gLen) + " values, too few for " + std::to_string(n) + " items"};
    if (gradsLen < touchedLen * (size_t)width) throw Fail{"grads must hold touched.length × width values"};
    if ((size_t)count > touchedLen) throw Fail{"count exceeds touched's length"};
    const int64_t rows = (int64_t)slotLen;
    const int64_t m = n * K;
    for (int64_t i = 0; i < m; i++)
      if (ids[i] >= rows) return num(env, (double)(-1 - i));
    for (int64_t j = 0; j < n; j++) {
      if (j + AHEAD < n) {
        __builtin_prefetch(g + off + (j + AHEAD) * stride, 0);
        for (int64_t k = 0; k < K; k++) {
          const int32_t ra = ids[(j + AHEAD) * K + k];
          if (ra >= 0) __builtin_prefetch(slot + ra, 0);
        }
      }
      for (int64_t k = 0; k < K; k++) {
        const int32_t r = ids[j * K + k];
        if (r < 0) continue;
        int32_t s = slot[r];
        if (s < 0) {
          if ((size_t)count >= touchedLen) throw Fail{"touched is full: reserve room for the batch's rows first"};
          s = (int32_t)count++;
          slot[r] = s;
          touched[s] = r;
          std::memset(grads + (size_t)s * width, 0, sizeof(float) * (size_t)width);
        }
        float* __restrict G = grads + (size_t)s * width;
        const float* __restrict gj = g + off + j * stride + k * codeStride;
        for (int64_t c = 0; c < width; c++) G[c] = (float)((double)G[c] + scale * (double)gj[c]);
      }
    }
    return num(env, (double)count);
  });
}

// stepRows(values, m, v, width, touched, grads, count, slot, stepSize, epsHat, beta1, beta2,
// weightDecay): core's denseRowStep without hooks on every touched row, then the slots cleared
// (PendingRowGrads.stepRows + reset).
napi_value StepRows(napi_env env, napi_callback_info info) {
  return guard(env, "stepRows", [&]() -> napi_value {
    napi_value a[13];
    args(env, info, a, "stepRows");
    size_t wLen, mLen, vLen, touchedLen, gradsLen, slotLen;
    float* W = typed<float>(env, a[0], napi_float32_array, &wLen, "values");
    float* M = typed<float>(env, a[1], napi_float32_array, &mLen, "m");
    float* V = typed<float>(env, a[2], napi_float32_array, &vLen, "v");
    const int64_t width = integer(env, a[3], "width");
    const int32_t* touched = typed<int32_t>(env, a[4], napi_int32_array, &touchedLen, "touched");
    const float* grads = typed<float>(env, a[5], napi_float32_array, &gradsLen, "grads");
    const int64_t count = integer(env, a[6], "count");
    int32_t* slot = typed<int32_t>(env, a[7], napi_int32_array, &slotLen, "slot");
    const double stepSize = number(env, a[8], "stepSize");
    const double epsHat = number(env, a[9], "epsHat");
    const double b1 = number(env, a[10], "beta1");
    const double b2 = number(env, a[11], "beta2");
    const double wd = number(env, a[12], "weightDecay");
    if (width < 1) throw Fail{"width must be positive"};
    if (mLen != wLen || vLen != wLen) throw Fail{"m and v must match values' length"};
    if ((size_t)count > touchedLen || gradsLen < (size_t)count * width) throw Fail{"count exceeds touched or grads"};
    const int64_t rows = (int64_t)wLen / width;
    if (slotLen < (size_t)rows) throw Fail{"slot must hold one entry per row"};
    for (int64_t s = 0; s < count; s++)
      if (touched[s] < 0 || touched[s] >= rows) throw Fail{"touched[" + std::to_string(s) + "] is not a row"};
    for (int64_t s = 0; s < count; s++) {
      if (s + AHEAD < count) {
        const size_t po = (size_t)touched[s + AHEAD] * width;
        prefetchRow(W + po, (int)width, 1);
        prefetchRow(M + po, (int)width, 1);
        prefetchRow(V + po, (int)width, 1);
      }
      const size_t o = (size_t)touched[s] * width;
      const float* __restrict g = grads + (size_t)s * width;
      float* __restrict w = W + o;
      float* __restrict m = M + o;
      float* __restrict v = V + o;
      for (int64_t c = 0; c < width; c++) {
        const double wc = (double)w[c];
        const double gc = (double)g[c] + wd * wc;
        const double mc = b1 * (double)m[c] + (1.0 - b1) * gc;
        const double vc = b2 * (double)v[c] + (1.0 - b2) * gc * gc;
        m[c] = (float)mc;
        v[c] = (float)vc;
        w[c] = (float)(wc - (stepSize * mc) / (std::sqrt(vc) + epsHat));
      }
    }
    for (int64_t s = 0; s < count; s++) slot[touched[s]] = -1;
    return nullptr;
  });
}

// gatherCombineRows(src, rowDim, rowIds, n, codesPerItem, combine, out, outOffset, outStride, rowsOut)
// → −1, or the index i of the first row id rowIds[i] ≥ rows (then nothing is written). Item j's K rows
// rowIds[j·K ..) are composed into out[outOffset + j·outStride ..): combine 0 = sum (f32 running sum
// from zeros in code order, negative ids skipped), 1 = mult (first row, then f32(out · row) per next
// row; a negative id is a zero row), 2 = concat (rows side by side, zeros for a negative id). rowsOut
// (a Float32Array, or null/undefined) also receives the gathered rows, [n·K × rowDim].
napi_value GatherCombineRows(napi_env env, napi_callback_info info) {
  return guard(env, "gatherCombineRows", [&]() -> napi_value {
    napi_value a[10];
    args(env, info, a, "gatherCombineRows");
    size_t srcLen, idLen, outLen, rowsLen = 0;
    const float* src = typed<float>(env, a[0], napi_float32_array, &srcLen, "src");
    const int64_t width = integer(env, a[1], "rowDim");
    const int32_t* ids = typed<int32_t>(env, a[2], napi_int32_array, &idLen, "rowIds");
    const int64_t n = integer(env, a[3], "n");
    const int64_t K = integer(env, a[4], "codesPerItem");
    const int64_t mode = integer(env, a[5], "combine");
    float* out = typed<float>(env, a[6], napi_float32_array, &outLen, "out");
    const int64_t off = integer(env, a[7], "outOffset");
    const int64_t stride = integer(env, a[8], "outStride");
    napi_valuetype rt;
    napi_typeof(env, a[9], &rt);
    float* rowsOut = nullptr;
    if (rt != napi_null && rt != napi_undefined)
      rowsOut = typed<float>(env, a[9], napi_float32_array, &rowsLen, "rowsOut");
    if (width < 1 || K < 1) throw Fail{"rowDim and codesPerItem must be positive"};
    if (mode > 2) throw Fail{"combine must be 0 (sum), 1 (mult) or 2 (concat)"};
    if ((size_t)(n * K) > idLen)
      throw Fail{"rowIds holds " + std::to_string(idLen) + " ids, too few for " + std::to_string(n) + " items"};
    const int64_t itemWidth = mode == 2 ? K * width : width;
    if (n > 0 && (size_t)(off + (n - 1) * stride + itemWidth) > outLen)
      throw Fail{"out holds " + std::to_string(outLen) + " values, too few for " + std::to_string(n) + " items"};
    if (rowsOut != nullptr && rowsLen < (size_t)(n * K * width))
      throw Fail{"rowsOut holds " + std::to_string(rowsLen) + " values, too few for " + std::to_string(n * K) +
                 " rows"};
    const int64_t rows = (int64_t)srcLen / width;
    const int64_t m = n * K;
    for (int64_t i = 0; i < m; i++)
      if (ids[i] >= rows) return num(env, (double)i);
    for (int64_t j = 0; j < n; j++) {
      if (j + AHEAD < n) {
        for (int64_t k = 0; k < K; k++) {
          const int32_t r = ids[(j + AHEAD) * K + k];
          if (r >= 0) prefetchRow(src + (size_t)r * width, (int)width, 0);
        }
      }
      const int32_t* item = ids + j * K;
      float* __restrict o = out + off + j * stride;
      if (rowsOut != nullptr) {
        for (int64_t k = 0; k < K; k++) {
          float* ro = rowsOut + (size_t)(j * K + k) * width;
          if (item[k] < 0) std::memset(ro, 0, sizeof(float) * (size_t)width);
          else std::memcpy(ro, src + (size_t)item[k] * width, sizeof(float) * (size_t)width);
        }
      }
      if (mode == 2) {
        for (int64_t k = 0; k < K; k++) {
          if (item[k] < 0) std::memset(o + k * width, 0, sizeof(float) * (size_t)width);
          else std::memcpy(o + k * width, src + (size_t)item[k] * width, sizeof(float) * (size_t)width);
        }
      } else if (mode == 1) {
        if (item[0] < 0) std::memset(o, 0, sizeof(float) * (size_t)width);
        else std::memcpy(o, src + (size_t)item[0] * width, sizeof(float) * (size_t)width);
        for (int64_t k = 1; k < K; k++) {
          if (item[k] < 0) {
            for (int64_t c = 0; c < width; c++) o[c] = (float)((double)o[c] * 0.0);
          } else {
            const float* __restrict r = src + (size_t)item[k] * width;
            for (int64_t c = 0; c < width; c++) o[c] = (float)((double)o[c] * (double)r[c]);
          }
        }
      } else {
        for (int64_t c = 0; c < width; c++) o[c] = 0.0f;
        for (int64_t k = 0; k < K; k++) {
          if (item[k] < 0) continue;
          const float* __restrict r = src + (size_t)item[k] * width;
          for (int64_t c = 0; c < width; c++) o[c] = (float)((double)o[c] + (double)r[c]);
        }
      }
    }
    return num(env, -1);
  });
}

// multGradRows(rows, rowDim, n, codesPerItem, g, gOff, gStride, out): the per-code gradients of a
// `mult` composition, out[(j·K + k)·rowDim + c] = f32(g[gOff + j·gStride + c] · Π_{l≠k} rows[(j·K + l)·
// rowDim + c]), the product in double in ascending l (JavaScript's loop, numbers are doubles).
napi_value MultGradRows(napi_env env, napi_callback_info info) {
  return guard(env, "multGradRows", [&]() -> napi_value {
    napi_value a[8];
    args(env, info, a, "multGradRows");
    size_t rowsLen, gLen, outLen;
    const float* rows = typed<float>(env, a[0], napi_float32_array, &rowsLen, "rows");
    const int64_t width = integer(env, a[1], "rowDim");
    const int64_t n = integer(env, a[2], "n");
    const int64_t K = integer(env, a[3], "codesPerItem");
    const float* g = typed<float>(env, a[4], napi_float32_array, &gLen, "g");
    const int64_t off = integer(env, a[5], "gOff");
    const int64_t stride = integer(env, a[6], "gStride");
    float* out = typed<float>(env, a[7], napi_float32_array, &outLen, "out");
    if (width < 1 || K < 1) throw Fail{"rowDim and codesPerItem must be positive"};
    const size_t need = (size_t)(n * K * width);
    if (rowsLen < need)
      throw Fail{"rows holds " + std::to_string(rowsLen) + " values, too few for " + std::to_string(n * K) + " rows"};
    if (outLen < need)
      throw Fail{"out holds " + std::to_string(outLen) + " values, too few for " + std::to_string(n * K) + " rows"};
    if (n > 0 && (size_t)(off + (n - 1) * stride + width) > gLen)
      throw Fail{"g holds " + std::to_string(gLen) + " values, too few for " + std::to_string(n) + " items"};
    for (int64_t j = 0; j < n; j++) {
      const float* __restrict gj = g + off + j * stride;
      const float* __restrict rj = rows + (size_t)(j * K) * width;
      for (int64_t k = 0; k < K; k++) {
        float* __restrict o = out + (size_t)(j * K + k) * width;
        for (int64_t c = 0; c < width; c++) {
          double p = (double)gj[c];
          for (int64_t l = 0; l < K; l++)
            if (l != k) p *= (double)rj[l * width + c];
          o[c] = (float)p;
        }
      }
    }
    return nullptr;
  });
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"gatherRows", nullptr, GatherRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"accumulateRows", nullptr, AccumulateRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stepRows", nullptr, StepRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gatherCombineRows", nullptr, GatherCombineRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"multGradRows", nullptr, MultGradRows, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
