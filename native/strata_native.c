/*
 * strata's native helper: the few system calls Node has no API for. Optional at run time (strata
 * works without it, only slower); built by `npm ci` through node-gyp (binding.gyp), against
 * Node-API so one build serves every Node version.
 *
 * setPipeSize(fd, bytes): fcntl(F_SETPIPE_SZ). When strata's output is a pipe (`strata stream |
 * docker load`), the default 64 KiB pipe makes the writer and the reader wake each other every
 * 64 KiB; with 1 MiB, one wake-up per chunk. Returns the pipe's new size, or -errno.
 *
 * fileOffset(fd): where the descriptor's file offset stands, or -1 when the descriptor appends
 * (O_APPEND, where pwrite ignores the offset) or cannot seek. seekTo(fd, offset): move it there
 * (0, or -errno). Together they let strata write a file it was handed as stdout (`strata build >
 * image.tar`) in place, from where the shell left the offset, and leave the offset after it.
 *
 * willNeed(fd): posix_fadvise(POSIX_FADV_WILLNEED) over the whole file: the kernel starts reading
 * it into the page cache now, asynchronously. strata calls it for the next files of a layer while
 * it reads the current one, so that on a cold disk many small reads are in flight at once instead
 * of one at a time. 0, or the error number.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#include <node_api.h>

static int get_int64_args(napi_env env, napi_callback_info info, size_t want, int64_t* out) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return 0;
  for (size_t i = 0; i < want; i++) {
    if (napi_get_value_int64(env, argv[i], &out[i]) != napi_ok) return 0;
  }
  return 1;
}

static napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

static napi_value file_offset(napi_env env, napi_callback_info info) {
  int64_t a[1];
  if (!get_int64_args(env, info, 1, a)) {
    napi_throw_type_error(env, NULL, "fileOffset(fd) takes an integer");
    return NULL;
  }
  int flags = fcntl((int)a[0], F_GETFL);
  if (flags < 0 || (flags & O_APPEND)) return number(env, -1);
  off_t at = lseek((int)a[0], 0, SEEK_CUR);
  return number(env, at < 0 ? -1 : (double)at);
}

static napi_value seek_to(napi_env env, napi_callback_info info) {
  int64_t a[2];
  if (!get_int64_args(env, info, 2, a)) {
    napi_throw_type_error(env, NULL, "seekTo(fd, offset) takes two integers");
    return NULL;
  }
  return number(env, lseek((int)a[0], (off_t)a[1], SEEK_SET) < 0 ? -errno : 0);
}

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

static napi_value will_need(napi_env env, napi_callback_info info) {
  int64_t a[1];
  if (!get_int64_args(env, info, 1, a)) {
    napi_throw_type_error(env, NULL, "willNeed(fd) takes an integer");
    return NULL;
  }
  return number(env, posix_fadvise((int)a[0], 0, 0, POSIX_FADV_WILLNEED));
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "setPipeSize", NAPI_AUTO_LENGTH, set_pipe_size, NULL, &fn);
  napi_set_named_property(env, exports, "setPipeSize", fn);
  napi_create_function(env, "fileOffset", NAPI_AUTO_LENGTH, file_offset, NULL, &fn);
  napi_set_named_property(env, exports, "fileOffset", fn);
  napi_create_function(env, "seekTo", NAPI_AUTO_LENGTH, seek_to, NULL, &fn);
  napi_set_named_property(env, exports, "seekTo", fn);
  napi_create_function(env, "willNeed", NAPI_AUTO_LENGTH, will_need, NULL, &fn);
  napi_set_named_property(env, exports, "willNeed", fn);
  return exports;
}
