{
  "targets": [
    {
      "target_name": "compactrec_native",
      "sources": ["csrc/addon.cc", "csrc/bpr.cc", "csrc/rank.cc", "csrc/spmm.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-math-errno", "-Wall", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "compactrec_ctr_graph",
      "sources": ["csrc/ctr_graph.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"],
      "conditions": [["OS!='win'", {"libraries": ["-ldl"]}]],
      "defines": ["NAPI_VERSION=8"]
    },
    {
      "target_name": "compactrec_rows",
      "sources": ["csrc/rows.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"],
      "defines": ["NAPI_VERSION=8"]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "compactrec_native_avx2",
          "sources": ["csrc/addon.cc", "csrc/bpr.cc", "csrc/rank.cc", "csrc/spmm.cc"],
          "cflags_cc": ["-O3", "-mavx2", "-mfma", "-std=c++17", "-fno-math-errno", "-Wall", "-Wno-unused-parameter"],
          "cflags_cc!": ["-fno-exceptions"],
          "ldflags": ["-pthread"],
          "defines": ["NAPI_VERSION=8"]
        }
      ]
    }]
  ]
}
