# Builds native/mpi/build/Release/halo_mpi.node: the Open MPI binding of src/dist/mpi.ts. A separate addon
# from halo_native on purpose: it is optional (only built where `mpicc --showme` works, by native/mpi/build.mjs)
# so a machine without Open MPI can never break the main native build. Compiler and linker flags come from
# Open MPI's own wrapper; OMPI_SKIP_MPICXX keeps the deprecated C++ bindings out (we only use the C API).
{
  "targets": [
    {
      "target_name": "halo_mpi",
      "sources": ["mpi.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "OMPI_SKIP_MPICXX=1"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++1y"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(mpicc --showme:compile)"],
      "libraries": ["<!@(mpicc --showme:link)", "-ldl"]
    }
  ]
}
