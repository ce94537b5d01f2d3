// halo_mpi.node: the few Open MPI collectives halo's data-parallel training needs, on TypedArrays, blocking,
// from the main thread only (MPI_THREAD_FUNNELED: oneDNN/OpenMP worker threads never call MPI). The typed
// TypeScript view is src/dist/mpi.ts. Every count is checked against the buffers here, so a wrong call
// throws instead of letting MPI read or write past an array.
#include <dlfcn.h>
#include <mpi.h>
#include <napi.h>

#include <climits>
#include <string>

namespace {

struct Buf {
  void* data;
  size_t length;  // elements
  MPI_Datatype type;
  const char* typeName;
};

Buf buffer(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsTypedArray()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a TypedArray");
  Napi::TypedArray t = info[i].As<Napi::TypedArray>();
  void* data = static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset();
  switch (t.TypedArrayType()) {
    case napi_float32_array: return {data, t.ElementLength(), MPI_FLOAT, "Float32Array"};
    case napi_float64_array: return {data, t.ElementLength(), MPI_DOUBLE, "Float64Array"};
    case napi_int8_array: return {data, t.ElementLength(), MPI_INT8_T, "Int8Array"};
    case napi_uint8_array: return {data, t.ElementLength(), MPI_UINT8_T, "Uint8Array"};
    case napi_uint16_array: return {data, t.ElementLength(), MPI_UINT16_T, "Uint16Array"};
    case napi_int32_array: return {data, t.ElementLength(), MPI_INT32_T, "Int32Array"};
    default: throw Napi::TypeError::New(info.Env(), std::string(name) + ": unsupported TypedArray type");
  }
}

int count(const Napi::Env& env, size_t n) {
  if (n > size_t(INT_MAX)) throw Napi::RangeError::New(env, "halo_mpi: a message of " + std::to_string(n) + " elements exceeds MPI's int count");
  return int(n);
}

void check(const Napi::Env& env, int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Napi::Error::New(env, std::string("halo_mpi: ") + what + " failed: " + std::string(msg, size_t(len)));
}

void requireInit(const Napi::Env& env) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (!init || fin) throw Napi::Error::New(env, "halo_mpi: MPI is not initialised (call init() first) or already finalised");
}

MPI_Op op(const Napi::CallbackInfo& info, size_t i) {
  const std::string s = info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : "";
  if (s == "sum") return MPI_SUM;
  if (s == "max") return MPI_MAX;
  throw Napi::TypeError::New(info.Env(), "reduction must be 'sum' or 'max'");
}

// init() → { rank, size, threadLevel }. Idempotent.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int init = 0;
  MPI_Initialized(&init);
  if (!init) {
    // Node loads addons RTLD_LOCAL, so Open MPI's dlopen'ed components could not see libmpi's symbols;
    // reopening libmpi RTLD_GLOBAL first makes them visible (the usual fix for MPI inside Python/Node).
    if (!dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    int provided = 0;
    check(env, MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  int rank = 0, size = 0, level = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Query_thread(&level);
  Napi::Object o = Napi::Object::New(env);
  o.Set("rank", rank);
  o.Set("size", size);
  o.Set("threadLevel", level);
  return o;
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) check(info.Env(), MPI_Finalize(), "MPI_Finalize");
  return info.Env().Undefined();
}

// abort(code): ends every rank (used when one rank fails, so the others do not wait forever in a collective).
Napi::Value Abort(const Napi::CallbackInfo& info) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Abort(MPI_COMM_WORLD, info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1);
  return info.Env().Undefined();
}

// allReduce(buf, 'sum'|'max'): in place.
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env);
  Buf b = buffer(info, 0, "buffer");
  check(env, MPI_Allreduce(MPI_IN_PLACE, b.data, count(env, b.length), b.type, op(info, 1), MPI_COMM_WORLD), "MPI_Allreduce");
  return env.Undefined();
}

int worldSize() {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

void sameType(const Napi::Env& env, const Buf& a, const Buf& b) {
  if (a.type != b.type) throw Napi::TypeError::New(env, std::string("send is a ") + a.typeName + " but recv is a " + b.typeName);
}

// allGather(send [n], recv [n·size]): rank r's send lands at recv[r·n, (r+1)·n).
Napi::Value AllGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env);
  Buf s = buffer(info, 0, "send");
  Buf r = buffer(info, 1, "recv");
  sameType(env, s, r);
  if (r.length != s.length * size_t(worldSize()))
    throw Napi::RangeError::New(env, "allGather: recv has " + std::to_string(r.length) + " elements, needs send (" + std::to_string(s.length) + ") × world size");
  check(env, MPI_Allgather(s.data, count(env, s.length), s.type, r.data, count(env, s.length), r.type, MPI_COMM_WORLD), "MPI_Allgather");
  return env.Undefined();
}

// reduceScatter(send [n·size], recv [n], 'sum'|'max'): rank r receives the reduction of every rank's block r.
Napi::Value ReduceScatter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env);
  Buf s = buffer(info, 0, "send");
  Buf r = buffer(info, 1, "recv");
  sameType(env, s, r);
  if (s.length != r.length * size_t(worldSize()))
    throw Napi::RangeError::New(env, "reduceScatter: send has " + std::to_string(s.length) + " elements, needs recv (" + std::to_string(r.length) + ") × world size");
  check(env, MPI_Reduce_scatter_block(s.data, r.data, count(env, r.length), s.type, op(info, 2), MPI_COMM_WORLD), "MPI_Reduce_scatter_block");
  return env.Undefined();
}

// broadcast(buf, root): in place.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  requireInit(env);
  Buf b = buffer(info, 0, "buffer");
  const int root = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
  if (root < 0 || root >= worldSize()) throw Napi::RangeError::New(env, "broadcast: root " + std::to_string(root) + " is not a rank");
  check(env, MPI_Bcast(b.data, count(env, b.length), b.type, root, MPI_COMM_WORLD), "MPI_Bcast");
  return env.Undefined();
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  requireInit(info.Env());
  check(info.Env(), MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  return info.Env().Undefined();
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(v, &len);
  return Napi::String::New(info.Env(), std::string(v, size_t(len)));
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init, "init"));
  exports.Set("finalize", Napi::Function::New(env, Finalize, "finalize"));
  exports.Set("abort", Napi::Function::New(env, Abort, "abort"));
  exports.Set("allReduce", Napi::Function::New(env, AllReduce, "allReduce"));
  exports.Set("allGather", Napi::Function::New(env, AllGather, "allGather"));
  exports.Set("reduceScatter", Napi::Function::New(env, ReduceScatter, "reduceScatter"));
  exports.Set("broadcast", Napi::Function::New(env, Broadcast, "broadcast"));
  exports.Set("barrier", Napi::Function::New(env, Barrier, "barrier"));
  exports.Set("version", Napi::Function::New(env, Version, "version"));
  return exports;
}

}  // namespace

NODE_API_MODULE(halo_mpi, InitModule)
