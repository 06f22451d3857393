// CTR tower as one TensorFlow graph (a separate addon, compactrec_ctr_graph): the MLP tower's forward and
// backward built once with TensorFlow's C API and run through a session, in the libtensorflow that tfjs-node
// loaded. Why not tfjs's eager ops: an eager op runs alone on the calling thread (its own intra-op split only),
// while a session runs the graph through grappler (MatMul+BiasAdd+Relu fused into one oneDNN kernel) and its
// executor runs independent kernels at once (each layer's weight and input gradients). The weights are NOT held
// here: every call gets them from JavaScript, so the caller's variables stay the source of truth.
//
// What is not TensorFlow's work is kept off the step's serial path: inputs and weights in 64-byte-aligned memory
// (`alignedFloats`) are handed to TensorFlow without a copy (TF_NewTensor over the caller's memory; other arrays
// are copied), and the backward can apply Adam to the weights straight from TensorFlow's gradient tensors, split
// (vectorised), instead of copying the gradients out for a loop over JavaScript arrays.
//
// JS surface (all synchronous):
//   createTower({ lib, sizes: number[], intraOpThreads, interOpThreads }) -> handle
//   towerForward(handle, x: Float32Array, n, params: Float32Array[] (w0, b0, w1, b1, …), out: Float32Array,
//                training: boolean)            -> logits [n] into out; training keeps the activations (and reads
//                                                 x and params again in the backward: do not change them between)
//   towerBackward(handle, dz: Float32Array, grads: Float32Array[] | null (same layout as params),
//                 inputGrad: Float32Array | null, adam?: { m: Float32Array[], v: Float32Array[], step, invSqrtC2,
//                 eps, beta1, beta2 })         -> with adam, one Adam step on the forward's params in place;
//                                                 returns the milliseconds the Adam step took
//   towerRelease(handle)  (drops pending activations)      towerClose(handle)  (ends the session)
//   adamUpdate(values, grad, m, v, step, invSqrtC2, eps, beta1, beta2)   (ctr's DenseAdam loop, bit-identical)
//   alignedFloats(length) -> Float32Array over zeroed 64-byte-aligned memory (freed with the array)
#include <node_api.h>
#ifndef _WIN32
#include <dlfcn.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ctr_tf_capi.h"

namespace {

using crn_tf::Api;
using crn_tf::TF_FLOAT;
using crn_tf::TF_OK;

Api api;
void* apiHandle = nullptr;

struct Error {
  std::string msg;
};

#ifdef _WIN32
void loadApi(const std::string& path) {
  throw Error{"the tower graph is not built for Windows (tfjs-node's libtensorflow is loaded with dlopen here)"};
}
#else
void loadApi(const std::string& path) {
  if (apiHandle) return;
  // The file tfjs-node already loaded: dlopen returns that same library (matched by file identity), so this
  // process keeps one TensorFlow.
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) throw Error{std::string("cannot load libtensorflow from ") + path + ": " + dlerror()};
  Api a{};
#define CRN_SYM(field, name)                                                                        \
  a.field = reinterpret_cast<decltype(a.field)>(dlsym(h, name));                                    \
  if (!a.field) throw Error{std::string("libtensorflow at ") + path + " does not export " + name};
  CRN_SYM(NewGraph, "TF_NewGraph")
  CRN_SYM(DeleteGraph, "TF_DeleteGraph")
  CRN_SYM(NewOperation, "TF_NewOperation")
  CRN_SYM(AddInput, "TF_AddInput")
  CRN_SYM(SetAttrType, "TF_SetAttrType")
  CRN_SYM(SetAttrBool, "TF_SetAttrBool")
  CRN_SYM(SetAttrShape, "TF_SetAttrShape")
  CRN_SYM(FinishOperation, "TF_FinishOperation")
  CRN_SYM(NewStatus, "TF_NewStatus")
  CRN_SYM(DeleteStatus, "TF_DeleteStatus")
  CRN_SYM(GetCode, "TF_GetCode")
  CRN_SYM(Message, "TF_Message")
  CRN_SYM(NewSessionOptions, "TF_NewSessionOptions")
  CRN_SYM(DeleteSessionOptions, "TF_DeleteSessionOptions")
  CRN_SYM(SetConfig, "TF_SetConfig")
  CRN_SYM(NewSession, "TF_NewSession")
  CRN_SYM(CloseSession, "TF_CloseSession")
  CRN_SYM(DeleteSession, "TF_DeleteSession")
  CRN_SYM(SessionRun, "TF_SessionRun")
  CRN_SYM(AllocateTensor, "TF_AllocateTensor")
  CRN_SYM(NewTensor, "TF_NewTensor")
  CRN_SYM(TensorData, "TF_TensorData")
  CRN_SYM(TensorByteSize, "TF_TensorByteSize")
  CRN_SYM(DeleteTensor, "TF_DeleteTensor")
#undef CRN_SYM
  api = a;
  apiHandle = h;
}
#endif

struct Status {
  TF_Status* s;
  Status() : s(api.NewStatus()) {}
  ~Status() { api.DeleteStatus(s); }
  void check(const char* where) const {
    if (api.GetCode(s) != TF_OK) throw Error{std::string(where) + ": " + api.Message(s)};
  }
};

void keepCallersMemory(void*, size_t, void*) {}

// A TensorFlow tensor over `data` without a copy when it is 64-byte aligned (TensorFlow's own alignment), else a
// copy: into `*copyTarget` when given (allocated there at first use and kept by the caller), or into a fresh
// tensor. `*owned` says whether the returned tensor must be deleted with the step.
TF_Tensor* feedTensor(float* data, const int64_t* dims, int nd, size_t bytes, TF_Tensor** copyTarget, bool* owned) {
  if (reinterpret_cast<uintptr_t>(data) % 64 == 0) {
    *owned = true;
    return api.NewTensor(TF_FLOAT, dims, nd, data, bytes, keepCallersMemory, nullptr);
  }
  TF_Tensor* t = copyTarget ? *copyTarget : nullptr;
  if (!t) t = api.AllocateTensor(TF_FLOAT, dims, nd, bytes);
  if (copyTarget) *copyTarget = t;
  *owned = copyTarget == nullptr;
  std::memcpy(api.TensorData(t), data, bytes);
  return t;
}

// ---- Adam ----------------------------------------------------------------------------------------------------
// ctr's DenseAdam update, element by element in double precision with the operations in the JavaScript loop's
// order (built with -ffp-contract=off), so it gives the JavaScript loop's bits.
struct AdamConsts {
  double step, invSqrtC2, eps, b1, b2;
};
struct AdamSlot {
  const float* g;
  float* values;
  float* m;
  float* v;
  size_t n;
};

// Vectorised (built with -fno-math-errno, so sqrt needs no branch) and, on x86-64 with GCC, compiled for
// AVX-512 and AVX2 beside the baseline, picked at load time: IEEE add, multiply, divide and sqrt round the same in
// every vector width, so each version gives the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void adamRange(const AdamSlot& s, size_t begin, size_t end, const AdamConsts& c) {
  const double b1 = c.b1, b2 = c.b2, g1 = 1 - c.b1, g2 = 1 - c.b2;
  const double step = c.step, invSqrtC2 = c.invSqrtC2, eps = c.eps;
  const float* __restrict g = s.g;
  float* __restrict values = s.values;
  float* __restrict m = s.m;
  float* __restrict v = s.v;
  for (size_t i = begin; i < end; i++) {
    const double gi = g[i];
    const double mi = b1 * static_cast<double>(m[i]) + g1 * gi;
    const double vi = b2 * static_cast<double>(v[i]) + g2 * gi * gi;
    m[i] = static_cast<float>(mi);
    v[i] = static_cast<float>(vi);
    values[i] = static_cast<float>(static_cast<double>(values[i]) - (step * mi) / (std::sqrt(vi) * invSqrtC2 + eps));
  }
}

struct Tower {
  TF_Graph* graph = nullptr;
  TF_Session* session = nullptr;
  std::vector<int64_t> sizes;  // input width, then each layer's width (the last is 1)
  int layers = 0;
  int counter = 0;
  TF_Output x{}, dz{}, logits{}, dx{};
  std::vector<TF_Output> w, b, h, dw, db;  // h[l] = ReLU output of layer l (l < layers − 1)
  std::vector<TF_Tensor*> params;           // copy targets of unaligned weights, w0, b0, w1, b1, … (or null)
  std::vector<TF_Tensor*> fed;              // the pending step's weight tensors (params[i] or over the caller's array)
  std::vector<bool> fedOwned;               // fed[i] must be deleted at release
  std::vector<const float*> fedFrom;        // the caller's arrays the pending step's weights came from
  TF_Tensor* xT = nullptr;                  // the pending step's input
  std::vector<TF_Tensor*> acts;             // the pending step's ReLU outputs
  int64_t n = 0;

  ~Tower() { close(); }

  void release() {
    if (xT) api.DeleteTensor(xT);
    xT = nullptr;
    for (TF_Tensor* t : acts) api.DeleteTensor(t);
    acts.clear();
    for (size_t i = 0; i < fed.size(); i++)
      if (fedOwned[i]) api.DeleteTensor(fed[i]);
    fed.clear();
    fedOwned.clear();
    fedFrom.clear();
    n = 0;
  }

  void close() {
    release();
    for (TF_Tensor* t : params)
      if (t) api.DeleteTensor(t);
    params.clear();
    if (session) {
      Status st;
      api.CloseSession(session, st.s);
      api.DeleteSession(session, st.s);
      session = nullptr;
    }
    if (graph) api.DeleteGraph(graph);
    graph = nullptr;
  }

  // The step's weight tensors from the caller's arrays (see feedTensor).
  void feedParams(const std::vector<float*>& ps) {
    for (size_t i = 0; i < ps.size(); i++) {
      const int l = static_cast<int>(i / 2);
      const bool isW = i % 2 == 0;
      int64_t dims[2] = {isW ? sizes[l] : sizes[l + 1], sizes[l + 1]};
      const int nd = isW ? 2 : 1;
      const size_t bytes = sizeof(float) * (isW ? sizes[l] * sizes[l + 1] : sizes[l + 1]);
      bool owned = false;
      fed.push_back(feedTensor(ps[i], dims, nd, bytes, &params[i], &owned));
      fedOwned.push_back(owned);
      fedFrom.push_back(ps[i]);
    }
  }

  TF_Output op(const char* type, std::initializer_list<TF_Output> inputs, int flags = 0) {
    std::string name = std::string(type) + "_" + std::to_string(counter++);
    TF_OperationDescription* d = api.NewOperation(graph, type, name.c_str());
    for (const TF_Output& in : inputs) api.AddInput(d, in);
    api.SetAttrType(d, "T", TF_FLOAT);
    if (std::strcmp(type, "MatMul") == 0) {
      api.SetAttrBool(d, "transpose_a", (flags & 1) != 0);
      api.SetAttrBool(d, "transpose_b", (flags & 2) != 0);
    }
    Status st;
    TF_Operation* o = api.FinishOperation(d, st.s);
    st.check(type);
    return TF_Output{o, 0};
  }

  TF_Output placeholder(std::initializer_list<int64_t> shape) {
    std::string name = "in_" + std::to_string(counter++);
    TF_OperationDescription* d = api.NewOperation(graph, "Placeholder", name.c_str());
    api.SetAttrType(d, "dtype", TF_FLOAT);
    std::vector<int64_t> dims(shape);
    api.SetAttrShape(d, "shape", dims.data(), static_cast<int>(dims.size()));
    Status st;
    TF_Operation* o = api.FinishOperation(d, st.s);
    st.check("Placeholder");
    return TF_Output{o, 0};
  }

  void build(const std::vector<int64_t>& s, int intra, int inter) {
    sizes = s;
    layers = static_cast<int>(s.size()) - 1;
    graph = api.NewGraph();
    x = placeholder({-1, s[0]});
    dz = placeholder({-1, 1});
    TF_Output in = x;
    for (int l = 0; l < layers; l++) {
      w.push_back(placeholder({s[l], s[l + 1]}));
      b.push_back(placeholder({s[l + 1]}));
      TF_Output z = op("BiasAdd", {op("MatMul", {in, w[l]}), b[l]});
      if (l + 1 < layers) {
        h.push_back(op("Relu", {z}));
        in = h[l];
      } else {
        logits = z;
      }
    }
    dw.resize(layers);
    db.resize(layers);
    TF_Output g = dz;
    for (int l = layers - 1; l >= 0; l--) {
      TF_Output dpre = l + 1 < layers ? op("ReluGrad", {g, h[l]}) : g;
      dw[l] = op("MatMul", {l == 0 ? x : h[l - 1], dpre}, 1);
      db[l] = op("BiasAddGrad", {dpre});
      g = op("MatMul", {dpre, w[l]}, 2);
    }
    dx = g;
    // ConfigProto: intra_op_parallelism_threads (field 2), inter_op_parallelism_threads (field 5), varints.
    std::string cfg;
    auto varint = [&cfg](int field, uint64_t v) {
      cfg.push_back(static_cast<char>(field << 3));
      do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        cfg.push_back(static_cast<char>(v ? byte | 0x80 : byte));
      } while (v);
    };
    if (intra > 0) varint(2, static_cast<uint64_t>(intra));
    if (inter > 0) varint(5, static_cast<uint64_t>(inter));
    TF_SessionOptions* opts = api.NewSessionOptions();
    Status st;
    api.SetConfig(opts, cfg.data(), cfg.size(), st.s);
    if (api.GetCode(st.s) != TF_OK) {
      api.DeleteSessionOptions(opts);
      st.check("session config");
    }
    session = api.NewSession(graph, opts, st.s);
    api.DeleteSessionOptions(opts);
    st.check("NewSession");
    params.assign(2 * layers, nullptr);  // copy targets, allocated at the first unaligned weight array
  }

  void run(const std::vector<TF_Output>& feeds, const std::vector<TF_Tensor*>& values,
           const std::vector<TF_Output>& fetches, std::vector<TF_Tensor*>* out, const char* where) {
    out->assign(fetches.size(), nullptr);
    Status st;
    api.SessionRun(session, nullptr, feeds.data(), values.data(), static_cast<int>(feeds.size()), fetches.data(),
                   out->data(), static_cast<int>(fetches.size()), nullptr, 0, nullptr, st.s);
    if (api.GetCode(st.s) != TF_OK) {
      for (TF_Tensor* t : *out)
        if (t) api.DeleteTensor(t);
      out->clear();
      st.check(where);
    }
  }
};

// ---- N-API glue -------------------------------------------------------------------------------------------

napi_value fail(napi_env env, const std::string& msg) {
  napi_throw_error(env, nullptr, ("@compactrec/native ctr graph: " + msg).c_str());
  return nullptr;
}

// Runs an N-API function body with its first N arguments; an Error it throws becomes a JavaScript exception.
template <size_t N, typename Body>
napi_value withArgs(napi_env env, napi_callback_info info, Body&& body) {
  size_t argc = N;
  napi_value argv[N];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  try {
    return body(argc, argv);
  } catch (const Error& e) {
    return fail(env, e.msg);
  }
}

float* floats(napi_env env, napi_value v, size_t* len, const char* what) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is) throw Error{std::string(what) + " must be a Float32Array"};
  napi_typedarray_type type;
  void* data;
  napi_value ab;
  size_t off;
  napi_get_typedarray_info(env, v, &type, len, &data, &ab, &off);
  if (type != napi_float32_array) throw Error{std::string(what) + " must be a Float32Array"};
  return static_cast<float*>(data);
}

Tower* tower(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) throw Error{"the first argument is not a tower handle"};
  Tower* t = static_cast<Tower*>(p);
  if (!t->session) throw Error{"the tower was closed"};
  return t;
}

double number(napi_env env, napi_value v, const char* what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw Error{std::string(what) + " must be a number"};
  return d;
}

napi_value prop(napi_env env, napi_value obj, const char* name) {
  napi_value v;
  napi_get_named_property(env, obj, name, &v);
  return v;
}

std::vector<float*> floatList(napi_env env, napi_value arr, const Tower& t, const char* what) {
  uint32_t len = 0;
  bool isArr = false;
  napi_is_array(env, arr, &isArr);
  if (!isArr) throw Error{std::string(what) + " must be an array of Float32Array"};
  napi_get_array_length(env, arr, &len);
  if (static_cast<int>(len) != 2 * t.layers)
    throw Error{std::string(what) + " holds " + std::to_string(len) + " arrays, the tower has " +
                std::to_string(2 * t.layers) + " (w, b per layer)"};
  std::vector<float*> out;
  for (uint32_t i = 0; i < len; i++) {
    napi_value e;
    napi_get_element(env, arr, i, &e);
    size_t n;
    float* p = floats(env, e, &n, what);
    const int l = i / 2;
    const size_t want = i % 2 == 0 ? t.sizes[l] * t.sizes[l + 1] : t.sizes[l + 1];
    if (n != want)
      throw Error{std::string(what) + "[" + std::to_string(i) + "] holds " + std::to_string(n) + " values, not " +
                  std::to_string(want)};
    out.push_back(p);
  }
  return out;
}

void finalize(napi_env, void* data, void*) { delete static_cast<Tower*>(data); }

napi_value createTower(napi_env env, napi_callback_info info) {
  return withArgs<1>(env, info, [&](size_t argc, napi_value* argv) -> napi_value {
    if (argc < 1) throw Error{"createTower needs an options object"};
    napi_value libV = prop(env, argv[0], "lib");
    size_t libLen = 0;
    if (napi_get_value_string_utf8(env, libV, nullptr, 0, &libLen) != napi_ok) throw Error{"lib must be a path"};
    std::string lib(libLen, '\0');
    napi_get_value_string_utf8(env, libV, lib.data(), libLen + 1, &libLen);
    loadApi(lib);
    napi_value sizesV = prop(env, argv[0], "sizes");
    uint32_t len = 0;
    napi_get_array_length(env, sizesV, &len);
    if (len < 2) throw Error{"sizes needs the input width and at least one layer"};
    std::vector<int64_t> sizes;
    for (uint32_t i = 0; i < len; i++) {
      napi_value e;
      napi_get_element(env, sizesV, i, &e);
      double d = number(env, e, "sizes[i]");
      if (!(d >= 1) || d != static_cast<int64_t>(d)) throw Error{"sizes must be positive integers"};
      sizes.push_back(static_cast<int64_t>(d));
    }
    if (sizes.back() != 1) throw Error{"the last layer must have width 1"};
    const int intra = static_cast<int>(number(env, prop(env, argv[0], "intraOpThreads"), "intraOpThreads"));
    const int inter = static_cast<int>(number(env, prop(env, argv[0], "interOpThreads"), "interOpThreads"));
    Tower* t = new Tower();
    try {
      t->build(sizes, intra, inter);
    } catch (...) {
      delete t;
      throw;
    }
    napi_value ext;
    napi_create_external(env, t, finalize, nullptr, &ext);
    return ext;
  });
}

napi_value towerForward(napi_env env, napi_callback_info info) {
  return withArgs<6>(env, info, [&](size_t argc, napi_value* argv) -> napi_value {
    if (argc < 6) throw Error{"towerForward(handle, x, n, params, out, training)"};
    Tower& t = *tower(env, argv[0]);
    size_t xLen, outLen;
    float* x = floats(env, argv[1], &xLen, "x");
    const double nd = number(env, argv[2], "n");
    if (!(nd >= 1) || nd != static_cast<int64_t>(nd)) throw Error{"n must be a positive integer"};
    const int64_t n = static_cast<int64_t>(nd);
    const int64_t in = t.sizes[0];
    if (xLen < static_cast<size_t>(n * in))
      throw Error{"x holds " + std::to_string(xLen) + " values, " + std::to_string(n) + " rows need " +
                  std::to_string(n * in)};
    std::vector<float*> ps = floatList(env, argv[3], t, "params");
    float* out = floats(env, argv[4], &outLen, "out");
    if (outLen < static_cast<size_t>(n)) throw Error{"out is shorter than n"};
    bool training = false;
    napi_get_value_bool(env, argv[5], &training);
    t.release();
    t.feedParams(ps);
    int64_t xd[2] = {n, in};
    bool xOwned = false;  // always: the input tensor is the step's own
    t.xT = feedTensor(x, xd, 2, sizeof(float) * n * in, nullptr, &xOwned);
    std::vector<TF_Output> feeds{t.x};
    std::vector<TF_Tensor*> values{t.xT};
    for (int l = 0; l < t.layers; l++) {
      feeds.push_back(t.w[l]);
      values.push_back(t.fed[2 * l]);
      feeds.push_back(t.b[l]);
      values.push_back(t.fed[2 * l + 1]);
    }
    std::vector<TF_Output> fetches{t.logits};
    if (training) fetches.insert(fetches.end(), t.h.begin(), t.h.end());
    std::vector<TF_Tensor*> res;
    try {
      t.run(feeds, values, fetches, &res, "forward");
    } catch (...) {
      t.release();
      throw;
    }
    std::memcpy(out, api.TensorData(res[0]), sizeof(float) * n);
    api.DeleteTensor(res[0]);
    if (training) {
      t.acts.assign(res.begin() + 1, res.end());
      t.n = n;
    } else {
      t.release();
    }
    return nullptr;
  });
}

// The `adam` argument of towerBackward: moments per weight array, this step's constants.
struct AdamArg {
  std::vector<float*> m, v;
  AdamConsts c{};
};

AdamArg adamArg(napi_env env, napi_value obj, const Tower& t) {
  napi_valuetype type;
  napi_typeof(env, obj, &type);
  if (type != napi_object) throw Error{"adam must be an object { m, v, step, invSqrtC2, eps, beta1, beta2 }"};
  AdamArg a;
  a.m = floatList(env, prop(env, obj, "m"), t, "adam.m");
  a.v = floatList(env, prop(env, obj, "v"), t, "adam.v");
  a.c.step = number(env, prop(env, obj, "step"), "adam.step");
  a.c.invSqrtC2 = number(env, prop(env, obj, "invSqrtC2"), "adam.invSqrtC2");
  a.c.eps = number(env, prop(env, obj, "eps"), "adam.eps");
  a.c.b1 = number(env, prop(env, obj, "beta1"), "adam.beta1");
  a.c.b2 = number(env, prop(env, obj, "beta2"), "adam.beta2");
  return a;
}

bool given(napi_env env, napi_value v) {
  napi_valuetype type;
  napi_typeof(env, v, &type);
  return type != napi_null && type != napi_undefined;
}

napi_value towerBackward(napi_env env, napi_callback_info info) {
  return withArgs<5>(env, info, [&](size_t argc, napi_value* argv) -> napi_value {
    if (argc < 4) throw Error{"towerBackward(handle, dz, grads, inputGrad[, adam])"};
    Tower& t = *tower(env, argv[0]);
    if (!t.xT) throw Error{"no training forward to back-propagate"};
    const int64_t n = t.n;
    size_t dzLen;
    float* dz = floats(env, argv[1], &dzLen, "dz");
    if (dzLen < static_cast<size_t>(n)) throw Error{"dz is shorter than the forward's rows"};
    std::vector<float*> gs;
    if (given(env, argv[2])) gs = floatList(env, argv[2], t, "grads");
    float* gx = nullptr;
    if (given(env, argv[3])) {
      size_t gxLen;
      gx = floats(env, argv[3], &gxLen, "inputGrad");
      if (gxLen < static_cast<size_t>(n * t.sizes[0])) throw Error{"inputGrad is shorter than rows × input width"};
    }
    const bool withAdam = argc >= 5 && given(env, argv[4]);
    AdamArg adam;
    if (withAdam) adam = adamArg(env, argv[4], t);
    int64_t dd[2] = {n, 1};
    TF_Tensor* dzT = api.AllocateTensor(TF_FLOAT, dd, 2, sizeof(float) * n);
    std::memcpy(api.TensorData(dzT), dz, sizeof(float) * n);
    std::vector<TF_Output> feeds{t.x, t.dz};
    std::vector<TF_Tensor*> values{t.xT, dzT};
    for (int l = 0; l < t.layers; l++) {
      feeds.push_back(t.w[l]);
      values.push_back(t.fed[2 * l]);
    }
    for (size_t l = 0; l < t.h.size(); l++) {
      feeds.push_back(t.h[l]);
      values.push_back(t.acts[l]);
    }
    std::vector<TF_Output> fetches;
    for (int l = 0; l < t.layers; l++) {
      fetches.push_back(t.dw[l]);
      fetches.push_back(t.db[l]);
    }
    if (gx) fetches.push_back(t.dx);
    std::vector<TF_Tensor*> res;
    try {
      t.run(feeds, values, fetches, &res, "backward");
    } catch (...) {
      api.DeleteTensor(dzT);
      t.release();
      throw;
    }
    api.DeleteTensor(dzT);
    for (size_t i = 0; i < gs.size(); i++) std::memcpy(gs[i], api.TensorData(res[i]), api.TensorByteSize(res[i]));
    if (gx) std::memcpy(gx, api.TensorData(res.back()), sizeof(float) * n * t.sizes[0]);
    double adamMs = 0;
    if (withAdam) {
      // Every gradient was taken against the step's weights; now update them, in the caller's arrays.
      const auto t0 = std::chrono::steady_clock::now();
      std::vector<AdamSlot> slots;
      for (size_t i = 0; i < t.fedFrom.size(); i++) {
        slots.push_back(AdamSlot{static_cast<const float*>(api.TensorData(res[i])), const_cast<float*>(t.fedFrom[i]),
                                 adam.m[i], adam.v[i], api.TensorByteSize(res[i]) / sizeof(float)});
      }
      for (const AdamSlot& slot : slots) adamRange(slot, 0, slot.n, adam.c);
      adamMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    for (TF_Tensor* r : res) api.DeleteTensor(r);
    t.release();
    napi_value ms;
    napi_create_double(env, adamMs, &ms);
    return ms;
  });
}

// adamUpdate(values, grad, m, v, step, invSqrtC2, eps, beta1, beta2): the typed-array Adam of the CTR tower
// (ctr's DenseAdam.update) with the same operations in the same order in double precision, so the results are
// bit-identical to the JavaScript loop (built with -ffp-contract=off: no fused multiply-adds).
napi_value adamUpdate(napi_env env, napi_callback_info info) {
  return withArgs<9>(env, info, [&](size_t argc, napi_value* argv) -> napi_value {
    if (argc < 9) throw Error{"adamUpdate(values, grad, m, v, step, invSqrtC2, eps, beta1, beta2)"};
    size_t nValues, nGrad, nM, nV;
    float* values = floats(env, argv[0], &nValues, "values");
    const float* grad = floats(env, argv[1], &nGrad, "grad");
    float* m = floats(env, argv[2], &nM, "m");
    float* v = floats(env, argv[3], &nV, "v");
    if (nValues != nM || nV != nM || nGrad < nM)
      throw Error{"adamUpdate: " + std::to_string(nM) + " moments need as many values and gradients (got " +
                  std::to_string(nValues) + " values, " + std::to_string(nV) + " v, " + std::to_string(nGrad) +
                  " gradients)"};
    const double step = number(env, argv[4], "step");
    const double invSqrtC2 = number(env, argv[5], "invSqrtC2");
    const double eps = number(env, argv[6], "eps");
    const double b1 = number(env, argv[7], "beta1");
    const double b2 = number(env, argv[8], "beta2");
    adamRange(AdamSlot{grad, values, m, v, nM}, 0, nM, AdamConsts{step, invSqrtC2, eps, b1, b2});
    return nullptr;
  });
}

void freeAligned(napi_env, void* data, void*) { std::free(data); }

// alignedFloats(length): a Float32Array over zeroed 64-byte-aligned memory, freed when the array is collected.
napi_value alignedFloats(napi_env env, napi_callback_info info) {
  return withArgs<1>(env, info, [&](size_t argc, napi_value* argv) -> napi_value {
    if (argc < 1) throw Error{"alignedFloats(length)"};
    const double len = number(env, argv[0], "length");
    if (!(len >= 0) || len != static_cast<double>(static_cast<int64_t>(len)) || len > 1e10)
      throw Error{"alignedFloats: length must be a non-negative integer (got " + std::to_string(len) + ")"};
    const size_t n = static_cast<size_t>(len);
    const size_t bytes = std::max<size_t>(64, (n * sizeof(float) + 63) / 64 * 64);
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw Error{"alignedFloats: out of memory for " + std::to_string(bytes) + " bytes"};
    std::memset(p, 0, bytes);
    napi_value ab, arr;
    if (napi_create_external_arraybuffer(env, p, bytes, freeAligned, nullptr, &ab) != napi_ok) {
      std::free(p);
      throw Error{"alignedFloats: this Node.js does not allow external array buffers"};
    }
    napi_create_typedarray(env, napi_float32_array, n, ab, 0, &arr);
    return arr;
  });
}

// towerRelease / towerClose: `what` on the handle's tower; a missing or foreign handle is ignored.
template <void (Tower::*what)()>
napi_value onTower(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void* p = nullptr;
  if (argc >= 1 && napi_get_value_external(env, argv[0], &p) == napi_ok && p) (static_cast<Tower*>(p)->*what)();
  return nullptr;
}

}  // namespace

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"createTower", nullptr, createTower, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"towerForward", nullptr, towerForward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"towerBackward", nullptr, towerBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"towerRelease", nullptr, onTower<&Tower::release>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"towerClose", nullptr, onTower<&Tower::close>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamUpdate", nullptr, adamUpdate, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"alignedFloats", nullptr, alignedFloats, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
