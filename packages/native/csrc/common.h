// Shared helpers of the CompactRec native kernels: N-API argument access and the xoshiro128**
// generator (bit-identical to packages/core/src/rng.ts, so a seed gives the same stream in JS).
#pragma once
#include <node_api.h>
#include <cstdint>
#include <cstring>
#include <string>

namespace crn {

struct Rng {
  uint32_t s[4];
  static inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }
  inline uint32_t next() {
    uint32_t result = rotl(s[1] * 5u, 7) * 9u;
    uint32_t t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }
  // floor(u32 * n / 2^32): equals the JS Math.floor((u32 / 2^32) * n) for n < 2^21.
  inline uint32_t below(uint32_t n) { return (uint32_t)(((uint64_t)next() * (uint64_t)n) >> 32); }
};

// Thrown inside kernels' argument parsing; converted to a JS TypeError at the boundary.
struct ArgError {
  std::string msg;
};

// One options object of a kernel call (or a group inside it: `path` is its dotted name, for
// messages, e.g. "optimizer.").
struct Args {
  napi_env env;
  napi_value obj;
  std::string path = "";
  template <typename T>
  T* array(const char* name, size_t* len, bool optional = false, napi_typedarray_type want = napi_float32_array);
  double num(const char* name, double def, bool optional = false);
  // A boolean (or 0/1) option.
  bool flag(const char* name, bool def);
  bool has(const char* name);
  // The group `name` (a nested options object): false when absent or null.
  bool group(const char* name, Args* out);
};

napi_value throwError(napi_env env, const std::string& msg);

}  // namespace crn
