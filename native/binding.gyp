# Builds native/build/Release/halo_native.node (run through native/build.mjs, never directly by users).
# Baseline code is x86-64-v2 so the addon loads on any 64-bit x86 CPU of the last decade; the hot kernels
# carry their own AVX2 / AVX-512 versions (function target attributes) chosen at run time from cpuid.
# oneDNN (libdnnl-dev) provides the GEMMs; its Debian build uses OpenMP, so our kernels use OpenMP too
# (one thread pool, one thread-count setting).
{
  "targets": [
    {
      "target_name": "halo_native",
      "sources": [
        "src/binding.cc",
        "src/allocator.cc",
        "src/cpu_features.cc",
        "src/codecs.cc",
        "src/gemm.cc",
        "src/hadamard.cc",
        "src/quantize.cc",
        "src/dequantize.cc",
        "src/transpose.cc",
        "src/nn_rmsnorm.cc",
        "src/nn_rope.cc",
        "src/nn_swiglu.cc",
        "src/nn_cross_entropy.cc",
        "src/nn_embedding.cc",
        "src/nn_adamw.cc",
        "src/nn_adamw8bit.cc",
        "src/nn_elementwise.cc",
        "src/nn_bf16_grad.cc",
        "src/nn_attention.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++1y"],
      "cflags_cc": ["-std=c++17", "-O3", "-ffp-contract=off", "-march=x86-64-v2", "-fopenmp", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl"]
    }
  ]
}
