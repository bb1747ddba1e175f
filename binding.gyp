{
  "targets": [
    {
      "target_name": "vtep",
      "sources": [
        "native/addon.cc",
        "native/common.cc",
        "native/tap.cc",
        "native/socket.cc",
        "native/batch_io.cc",
        "native/offload_io.cc",
        "native/poller.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
