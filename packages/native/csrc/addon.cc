// N-API entry point: registers the kernels and converts argument errors to JS TypeErrors.
#include "common.h"
#include "kernels.h"

namespace crn {

bool Args::has(const char* name) {
  bool h = false;
  napi_has_named_property(env, obj, name, &h);
  if (!h) return false;
  napi_value v;
  napi_get_named_property(env, obj, name, &v);
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t != napi_undefined && t != napi_null;
}

double Args::num(const char* name, double def, bool optional) {
  if (!has(name)) {
    if (optional) return def;
    throw ArgError{"missing numeric option '" + path + name + "'"};
  }
  napi_value v;
  napi_get_named_property(env, obj, name, &v);
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) throw ArgError{"option '" + path + name + "' must be a number"};
  return d;
}

bool Args::flag(const char* name, bool def) {
  if (!has(name)) return def;
  napi_value v;
  napi_get_named_property(env, obj, name, &v);
  bool b;
  if (napi_get_value_bool(env, v, &b) == napi_ok) return b;
  double d;
  if (napi_get_value_double(env, v, &d) == napi_ok) return d != 0;
  throw ArgError{"option '" + path + name + "' must be a boolean"};
}

bool Args::group(const char* name, Args* out) {
  if (!has(name)) return false;
  napi_value v;
  napi_get_named_property(env, obj, name, &v);
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_object) throw ArgError{"option '" + path + name + "' must be an object"};
  *out = Args{env, v, path + name + "."};
  return true;
}

template <typename T>
T* Args::array(const char* name, size_t* len, bool optional, napi_typedarray_type want) {
  if (!has(name)) {
    if (optional) {
      if (len) *len = 0;
      return nullptr;
    }
    throw ArgError{"missing typed array '" + path + name + "'"};
  }
  napi_value v;
  napi_get_named_property(env, obj, name, &v);
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is) throw ArgError{"'" + path + name + "' must be a typed array"};
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value ab;
  size_t off;
  napi_get_typedarray_info(env, v, &type, &length, &data, &ab, &off);
  if (type != want) throw ArgError{"'" + path + name + "' has the wrong element type"};
  if (len) *len = length;
  return static_cast<T*>(data);
}

template float* Args::array<float>(const char*, size_t*, bool, napi_typedarray_type);
template int32_t* Args::array<int32_t>(const char*, size_t*, bool, napi_typedarray_type);
template uint32_t* Args::array<uint32_t>(const char*, size_t*, bool, napi_typedarray_type);
template uint8_t* Args::array<uint8_t>(const char*, size_t*, bool, napi_typedarray_type);
template double* Args::array<double>(const char*, size_t*, bool, napi_typedarray_type);

napi_value throwError(napi_env env, const std::string& msg) {
  napi_throw_type_error(env, nullptr, ("@compactrec/native: " + msg).c_str());
  return nullptr;
}

typedef napi_value (*Kernel)(napi_env, Args&);

template <Kernel K>
napi_value wrap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_object) return throwError(env, "expected one options object");
  Args a{env, argv[0]};
  try {
    return K(env, a);
  } catch (const ArgError& e) {
    return throwError(env, e.msg);
  }
}

}  // namespace crn

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"bprTrain", nullptr, crn::wrap<crn::bprTrain>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"composeEmbeddings", nullptr, crn::wrap<crn::composeEmbeddings>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rankTopK", nullptr, crn::wrap<crn::rankTopK>, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"spmm", nullptr, crn::wrap<crn::spmm>, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
