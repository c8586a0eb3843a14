// Native baseline for scripts/bench-launch.ts: the same launch and synchronize measurements made
// from C++ straight through the driver API, so the koffi path can be compared with the floor.
// Built and run by bench-launch.ts where nvcc exists:  nvcc -O2 -o x bench-launch-native.cpp -ldl
// Usage: x <basic.sm80.ptx>. Prints one "name median_us" line per measurement. libcuda.so.1 is
// opened at run time, as gridrec opens it, so building needs only cuda.h.
#include <cuda.h>
#include <dlfcn.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

// The driver functions, bound by their exported (versioned) names.
#define DRIVER_FUNCTION(fn, symbol) static decltype(&fn) p_##fn = nullptr;
#define DRIVER_FUNCTIONS(X)                                       \
  X(cuInit, "cuInit")                                             \
  X(cuGetErrorName, "cuGetErrorName")                             \
  X(cuDeviceGet, "cuDeviceGet")                                   \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain")         \
  X(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2")    \
  X(cuCtxSetCurrent, "cuCtxSetCurrent")                           \
  X(cuModuleLoadData, "cuModuleLoadData")                         \
  X(cuModuleUnload, "cuModuleUnload")                             \
  X(cuModuleGetFunction, "cuModuleGetFunction")                   \
  X(cuMemAlloc, "cuMemAlloc_v2")                                  \
  X(cuMemFree, "cuMemFree_v2")                                    \
  X(cuStreamCreate, "cuStreamCreate")                             \
  X(cuStreamDestroy, "cuStreamDestroy_v2")                        \
  X(cuStreamSynchronize, "cuStreamSynchronize")                   \
  X(cuLaunchKernel, "cuLaunchKernel")
DRIVER_FUNCTIONS(DRIVER_FUNCTION)

static void bind_driver() {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW);
  if (lib == nullptr) {
    std::fprintf(stderr, "cannot open libcuda.so.1: %s\n", dlerror());
    std::exit(1);
  }
#define BIND(fn, symbol)                                                  \
  p_##fn = reinterpret_cast<decltype(&fn)>(dlsym(lib, symbol));           \
  if (p_##fn == nullptr) {                                                \
    std::fprintf(stderr, "libcuda.so.1 has no %s\n", symbol);            \
    std::exit(1);                                                         \
  }
  DRIVER_FUNCTIONS(BIND)
}

#define CHECK(call)                                                        \
  do {                                                                     \
    CUresult r = (call);                                                   \
    if (r != CUDA_SUCCESS) {                                               \
      const char* name = nullptr;                                          \
      p_cuGetErrorName(r, &name);                                          \
      std::fprintf(stderr, "%s failed: %s\n", #call, name ? name : "?");  \
      std::exit(1);                                                        \
    }                                                                      \
  } while (0)

using Clock = std::chrono::steady_clock;

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s basic.sm80.ptx\n", argv[0]);
    return 2;
  }
  std::ifstream file(argv[1]);
  std::stringstream ptx;
  ptx << file.rdbuf();
  bind_driver();
  CHECK(p_cuInit(0));
  CUdevice dev;
  CHECK(p_cuDeviceGet(&dev, 0));
  CUcontext ctx;
  CHECK(p_cuDevicePrimaryCtxRetain(&ctx, dev));
  CHECK(p_cuCtxSetCurrent(ctx));
  CUmodule mod;
  CHECK(p_cuModuleLoadData(&mod, ptx.str().c_str()));
  CUfunction fill;
  CHECK(p_cuModuleGetFunction(&fill, mod, "fill_f32"));
  CUdeviceptr out;
  CHECK(p_cuMemAlloc(&out, 4));
  CUstream stream;
  CHECK(p_cuStreamCreate(&stream, 0));

  struct { CUdeviceptr out; float value; unsigned long long n; } params = {out, 1.0f, 1};
  size_t size = sizeof(params);
  void* extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, &params, CU_LAUNCH_PARAM_BUFFER_SIZE, &size, CU_LAUNCH_PARAM_END};

  const int rounds = 50, burst = 64;
  std::vector<double> launch, sync, roundtrip;
  for (int r = 0; r < rounds + 5; r++) {
    auto t0 = Clock::now();
    for (int i = 0; i < burst; i++) CHECK(p_cuLaunchKernel(fill, 1, 1, 1, 32, 1, 1, 0, stream, nullptr, extra));
    auto t1 = Clock::now();
    CHECK(p_cuStreamSynchronize(stream));
    auto t2 = Clock::now();
    CHECK(p_cuStreamSynchronize(stream));
    auto t3 = Clock::now();
    CHECK(p_cuLaunchKernel(fill, 1, 1, 1, 32, 1, 1, 0, stream, nullptr, extra));
    CHECK(p_cuStreamSynchronize(stream));
    auto t4 = Clock::now();
    (void)t2;
    if (r < 5) continue;  // warm-up
    launch.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / burst);
    sync.push_back(std::chrono::duration<double, std::micro>(t3 - t2).count());
    roundtrip.push_back(std::chrono::duration<double, std::micro>(t4 - t3).count());
  }
  std::printf("launch %.3f\n", median(launch));
  std::printf("sync-idle %.3f\n", median(sync));
  std::printf("launch+sync %.3f\n", median(roundtrip));
  CHECK(p_cuStreamDestroy(stream));
  CHECK(p_cuMemFree(out));
  CHECK(p_cuModuleUnload(mod));
  CHECK(p_cuDevicePrimaryCtxRelease(dev));
  return 0;
}
