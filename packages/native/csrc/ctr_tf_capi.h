// The part of TensorFlow's stable C API (tensorflow/c/c_api.h, tf_tensor.h, tf_status.h) the CTR tower graph
// uses, declared here as function-pointer types and resolved at run time with dlsym from the libtensorflow that
// tfjs-node already loaded. So this addon builds without TensorFlow's headers or libraries, and a process
// without the native tfjs backend never loads TensorFlow because of it.
#pragma once
#include <cstddef>
#include <cstdint>

extern "C" {
typedef struct TF_Graph TF_Graph;
typedef struct TF_OperationDescription TF_OperationDescription;
typedef struct TF_Operation TF_Operation;
typedef struct TF_Status TF_Status;
typedef struct TF_Session TF_Session;
typedef struct TF_SessionOptions TF_SessionOptions;
typedef struct TF_Tensor TF_Tensor;
typedef struct TF_Buffer TF_Buffer;
typedef struct TF_Output {
  TF_Operation* oper;
  int index;
} TF_Output;
}

namespace crn_tf {

constexpr int TF_FLOAT = 1;  // TF_DataType
constexpr int TF_OK = 0;     // TF_Code

struct Api {
  TF_Graph* (*NewGraph)();
  void (*DeleteGraph)(TF_Graph*);
  TF_OperationDescription* (*NewOperation)(TF_Graph*, const char*, const char*);
  void (*AddInput)(TF_OperationDescription*, TF_Output);
  void (*SetAttrType)(TF_OperationDescription*, const char*, int);
  void (*SetAttrBool)(TF_OperationDescription*, const char*, unsigned char);
  void (*SetAttrShape)(TF_OperationDescription*, const char*, const int64_t*, int);
  TF_Operation* (*FinishOperation)(TF_OperationDescription*, TF_Status*);
  TF_Status* (*NewStatus)();
  void (*DeleteStatus)(TF_Status*);
  int (*GetCode)(const TF_Status*);
  const char* (*Message)(const TF_Status*);
  TF_SessionOptions* (*NewSessionOptions)();
  void (*DeleteSessionOptions)(TF_SessionOptions*);
  void (*SetConfig)(TF_SessionOptions*, const void*, size_t, TF_Status*);
  TF_Session* (*NewSession)(TF_Graph*, const TF_SessionOptions*, TF_Status*);
  void (*CloseSession)(TF_Session*, TF_Status*);
  void (*DeleteSession)(TF_Session*, TF_Status*);
  void (*SessionRun)(TF_Session*, const TF_Buffer*, const TF_Output*, TF_Tensor* const*, int, const TF_Output*,
                     TF_Tensor**, int, const TF_Operation* const*, int, TF_Buffer*, TF_Status*);
  TF_Tensor* (*AllocateTensor)(int, const int64_t*, int, size_t);
  TF_Tensor* (*NewTensor)(int, const int64_t*, int, void*, size_t, void (*)(void*, size_t, void*), void*);
  void* (*TensorData)(const TF_Tensor*);
  size_t (*TensorByteSize)(const TF_Tensor*);
  void (*DeleteTensor)(TF_Tensor*);
};

}  // namespace crn_tf
