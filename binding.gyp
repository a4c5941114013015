{
  # The optional OpenBLAS/LAPACK addon (see native/ntk_native.cc); built by
  # scripts/build-native.mjs at install when libopenblas-dev and liblapacke-dev are present.
  "targets": [
    {
      "target_name": "ntk_native",
      "sources": ["native/ntk_native.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-O3", "-std=c++17"],
      "libraries": ["-llapacke", "-lopenblas"]
    }
  ]
}
