#pragma once
#include "common.h"

namespace crn {
napi_value bprTrain(napi_env env, Args& a);
napi_value composeEmbeddings(napi_env env, Args& a);
napi_value rankTopK(napi_env env, Args& a);
napi_value spmm(napi_env env, Args& a);
}  // namespace crn
