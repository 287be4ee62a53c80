/*
 * strata's native helper: the few system calls Node has no API for. Optional at run time (strata
 * works without it, only slower); built by `npm ci` through node-gyp (binding.gyp), against
 * Node-API so one build serves every Node version.
 *
 * setPipeSize(fd, bytes): fcntl(F_SETPIPE_SZ). When strata's output is a pipe (`strata stream |
 * docker load`), the default 64 KiB pipe makes the writer and the reader wake each other every
 * 64 KiB; with 1 MiB, one wake-up per chunk. Returns the pipe's new size, or -errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>

static napi_value set_pipe_size(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  int32_t bytes = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &bytes) != napi_ok) {
    napi_throw_type_error(env, NULL, "setPipeSize(fd, bytes) takes two integers");
    return NULL;
  }
#ifdef F_SETPIPE_SZ
  int r = fcntl(fd, F_SETPIPE_SZ, bytes);
  int result = r < 0 ? -errno : r;
#else
  int result = -ENOSYS;
#endif
  napi_value out;
  napi_create_int32(env, result, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "setPipeSize", NAPI_AUTO_LENGTH, set_pipe_size, NULL, &fn);
  napi_set_named_property(env, exports, "setPipeSize", fn);
  return exports;
}
