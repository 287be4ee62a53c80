{
  "variables": {
    "libdeflate%": "<!(test -f /usr/include/libdeflate.h && echo 1 || echo 0)",
    "libdeflate_lib%": "<!(a=$(${CC:-cc} -print-file-name=libdeflate.a 2>/dev/null); test -f \"$a\" && echo \"$a\" || echo -ldeflate)"
  },
  "targets": [
    {
      "target_name": "strata_native",
      "sources": ["native/strata_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "conditions": [
        ["libdeflate==1", {
          "defines": ["STRATA_LIBDEFLATE"],
          "libraries": ["<(libdeflate_lib)"]
        }]
      ]
    }
  ]
}
