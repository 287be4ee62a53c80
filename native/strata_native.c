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

/* The `want` integer arguments, or a TypeError with `usage` thrown (and 0 returned). */
static int int_args(napi_env env, napi_callback_info info, size_t want, int64_t* out, const char* usage) {
  size_t argc = 2;
  napi_value argv[2];
  int ok = napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= want;
  for (size_t i = 0; ok && i < want; i++) ok = napi_get_value_int64(env, argv[i], &out[i]) == napi_ok;
  if (!ok) napi_throw_type_error(env, NULL, usage);
  return ok;
}

static napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

static napi_value set_pipe_size(napi_env env, napi_callback_info info) {
  int64_t a[2];
  if (!int_args(env, info, 2, a, "setPipeSize(fd, bytes) takes two integers")) return NULL;
#ifdef F_SETPIPE_SZ
  int r = fcntl((int)a[0], F_SETPIPE_SZ, (int)a[1]);
  return number(env, r < 0 ? -errno : r);
#else
  return number(env, -ENOSYS);
#endif
}

static napi_value file_offset(napi_env env, napi_callback_info info) {
  int64_t a[1];
  if (!int_args(env, info, 1, a, "fileOffset(fd) takes an integer")) return NULL;
  int flags = fcntl((int)a[0], F_GETFL);
  if (flags < 0 || (flags & O_APPEND)) return number(env, -1);
  off_t at = lseek((int)a[0], 0, SEEK_CUR);
  return number(env, at < 0 ? -1 : (double)at);
}

static napi_value seek_to(napi_env env, napi_callback_info info) {
  int64_t a[2];
  if (!int_args(env, info, 2, a, "seekTo(fd, offset) takes two integers")) return NULL;
  return number(env, lseek((int)a[0], (off_t)a[1], SEEK_SET) < 0 ? -errno : 0);
}

static napi_value will_need(napi_env env, napi_callback_info info) {
  int64_t a[1];
  if (!int_args(env, info, 1, a, "willNeed(fd) takes an integer")) return NULL;
  return number(env, posix_fadvise((int)a[0], 0, 0, POSIX_FADV_WILLNEED));
}

NAPI_MODULE_INIT() {
  const struct { const char* name; napi_callback fn; } fns[] = {
    {"setPipeSize", set_pipe_size}, {"fileOffset", file_offset}, {"seekTo", seek_to}, {"willNeed", will_need},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
  return exports;
}
