{
  "targets": [
    {
      "target_name": "iotrace",
      "sources": [
        "native/addon.cc",
        "native/aggregate.cc",
        "native/child.cc",
        "native/ebpf/ebpf-tracer.cc",
        "native/ptrace/tracer.cc",
        "native/ptrace/seccomp.cc",
        "native/ptrace/arch-x86_64.cc",
        "native/ptrace/proc.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "."
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "cflags_cc": [ "-std=c++17", "-Wall", "-Wextra", "-Werror", "-O2" ],
      "cflags_cc!": [ "-fno-exceptions" ],
      "defines": [ "NAPI_VERSION=8" ],
      "libraries": [ "-lbpf" ]
    }
  ]
}
