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
 *
 * listDir(path): a directory's children and what lstat (and readlink) says of each, in one call
 * (see list_dir below and src/layer/list-dir.ts): the store-layer walk's lookups, relative to the
 * open directory instead of along every file's whole path.
 *
 * openBeneath(path, base): open the regular file `path` for reading with no symlink anywhere below
 * its first `base` bytes (the store directory, opened the ordinary way): the file a layer planned,
 * reached through the real directories the plan walked, not through one swapped for a symlink
 * since. openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) on Linux >= 5.6, else one openat per
 * component with O_NOFOLLOW. Always O_NOFOLLOW | O_NONBLOCK (a FIFO cannot block it). The
 * descriptor, or -errno (ELOOP or ENOTDIR where a symlink was met).
 *
 * fixMallocThreshold(bytes): mallopt(M_MMAP_THRESHOLD) with glibc (elsewhere it does nothing).
 * glibc serves a large allocation with its own mmap at first, but raises that threshold (up to
 * 32 MiB) each time such a block is freed, after which large blocks come from the heap and their pages stay
 * with the process when they are freed: peak memory then grows with how long the build runs. A
 * fixed threshold keeps large blocks mapped and unmapped whole. Process-wide, so only the CLI
 * calls it (src/cli.ts), never the library: 4 GB closure peak RSS 185-198 -> 178-187 MB, the
 * 1 GB one 157-159 -> 154-158, speed unchanged (docs/benchmarks.md). 1 if set, else 0.
 *
 * gzipInto(level, input, output): one complete gzip member (RFC 1952) of `input` written into
 * `output` by libdeflate, present only when the helper was built with it (binding.gyp: when
 * libdeflate.h is installed; linked statically, so the version named by libdeflateVersion is the
 * code that runs). 2-3x zlib's speed at the same level and a similar ratio (docs/benchmarks-gzip.md).
 * The header is fixed and written here, not by libdeflate, as zlib writes it on Unix: no name,
 * mtime 0, XFL 4 at level 1, 2 at level 9, else 0, OS 3: the bytes depend only on the input, the
 * level and libdeflate's version. Returns the member's length, or -ENOSPC if `output` is too small
 * (never a truncated member). One compressor per thread (per Node-API environment), kept for its
 * level, freed with the environment.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__linux__) && __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif
#include <node_api.h>
#ifdef STRATA_LIBDEFLATE
#include <libdeflate.h>
#endif

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

static napi_value fix_malloc_threshold(napi_env env, napi_callback_info info) {
  int64_t a[1];
  if (!int_args(env, info, 1, a, "fixMallocThreshold(bytes) takes an integer")) return NULL;
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD)
  return number(env, mallopt(M_MMAP_THRESHOLD, (int)a[0]) == 1 ? 1 : 0);
#else
  return number(env, 0);
#endif
}

#ifdef O_PATH
#define DIR_ONLY (O_PATH | O_DIRECTORY | O_CLOEXEC)
#else
#define DIR_ONLY (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#endif
#define FILE_FLAGS (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)

/* openat of `rest` (relative, NUL-terminated) beneath directory `dfd`, no symlink followed. */
static int open_no_links(int dfd, const char* rest) {
#if defined(SYS_openat2) && defined(RESOLVE_NO_SYMLINKS)
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = FILE_FLAGS;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int fd = (int)syscall(SYS_openat2, dfd, rest, &how, sizeof how);
  /* ENOSYS: an older kernel; EPERM: a seccomp filter that does not know openat2. */
  if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;
#endif
  int cur = dfd;
  const char* p = rest;
  for (;;) {
    while (*p == '/') p++;
    const char* slash = strchr(p, '/');
    if (slash == NULL) {
      int fd = openat(cur, p, FILE_FLAGS);
      int e = errno;
      if (cur != dfd) close(cur);
      errno = e;
      return fd;
    }
    size_t n = (size_t)(slash - p);
    char* comp = malloc(n + 1);
    if (comp == NULL) { if (cur != dfd) close(cur); errno = ENOMEM; return -1; }
    memcpy(comp, p, n);
    comp[n] = 0;
    /* `..` would climb out: the plan never names one. */
    int next = strcmp(comp, "..") == 0 ? (errno = EXDEV, -1) : openat(cur, comp, DIR_ONLY | O_NOFOLLOW);
    int e = errno;
    free(comp);
    if (cur != dfd) close(cur);
    if (next < 0) { errno = e; return -1; }
    cur = next;
    p = slash + 1;
  }
}

static napi_value open_beneath(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void* raw;
  size_t raw_len;
  int64_t base;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_buffer_info(env, argv[0], &raw, &raw_len) != napi_ok ||
      napi_get_value_int64(env, argv[1], &base) != napi_ok) {
    napi_throw_type_error(env, NULL, "openBeneath(path, base) takes a Buffer and an integer");
    return NULL;
  }
  if (memchr(raw, 0, raw_len) != NULL || base < 0 || (size_t)base + 1 >= raw_len || ((char*)raw)[base] != '/') return number(env, -EINVAL);
  char* path = malloc(raw_len + 1);
  if (path == NULL) return number(env, -ENOMEM);
  memcpy(path, raw, raw_len);
  path[raw_len] = 0;
  path[base] = 0; /* path: the directory; path + base + 1: what is beneath it */
  const char* dir = base == 0 ? "/" : path;
  /* Every file of a layer is beneath the same store directory: each thread keeps the last one
   * open rather than opening and closing it per file (one descriptor per worker thread). */
  static __thread char* held_dir = NULL;
  static __thread int held_fd = -1;
  if (held_dir == NULL || strcmp(held_dir, dir) != 0) {
    if (held_fd >= 0) close(held_fd);
    free(held_dir);
    held_dir = NULL;
    held_fd = open(dir, DIR_ONLY);
    if (held_fd >= 0) held_dir = strdup(dir);
    if (held_fd >= 0 && held_dir == NULL) { close(held_fd); held_fd = -1; errno = ENOMEM; }
  }
  int fd = held_fd < 0 ? -1 : open_no_links(held_fd, path + base + 1);
  int e = errno;
  free(path);
  return number(env, fd < 0 ? -e : fd);
}

/* A growable byte buffer. */
typedef struct { char* data; size_t len, cap; int oom; } bytes_t;

static char* reserve(bytes_t* b, size_t n) {
  if (b->oom) return NULL;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n) cap *= 2;
    char* d = realloc(b->data, cap);
    if (d == NULL) { b->oom = 1; return NULL; }
    b->data = d;
    b->cap = cap;
  }
  char* at = b->data + b->len;
  b->len += n;
  return at;
}

/* One listing record's fixed part, in the host's byte order (list-dir.ts reads it on little-endian hosts only); the name and (symlinks) the target follow it. */
typedef struct {
  double size;       /* st_size */
  uint32_t mode;     /* st_mode (type and permission bits) */
  uint32_t name_len;
  uint32_t link_len; /* symlink target length; 0 otherwise */
  int32_t err;       /* errno of the child's lstat or readlink, 0 if none */
} record_t;

/*
 * listDir(path: Buffer): the directory's children, each with what lstat (and readlink, for
 * symlinks) says of it, in readdir order, as one buffer of records (record_t, name, target); or
 * -errno when the directory cannot be opened or read. A child whose lstat or readlink fails gets
 * its errno in its record: the caller reports it at that child's turn. One call per directory
 * instead of a readdir and an lstat per child, and each lstat resolves one name relative to the
 * open directory (fstatat) rather than the whole path again.
 */
static napi_value list_dir(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void* raw;
  size_t raw_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_buffer_info(env, argv[0], &raw, &raw_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "listDir(path) takes a Buffer");
    return NULL;
  }
  if (memchr(raw, 0, raw_len) != NULL) return number(env, -EINVAL); /* a C string would end early */
  char* path = malloc(raw_len + 1);
  if (path == NULL) return number(env, -ENOMEM);
  memcpy(path, raw, raw_len);
  path[raw_len] = 0;
  /* Not opendir(path): it follows a symlink. The walk lists a directory lstat saw as one; if it
   * was swapped for a symlink since (to the host's /etc, say), O_NOFOLLOW fails with ELOOP (or
   * ENOTDIR) instead of listing where it leads. O_NONBLOCK: a FIFO put there cannot block open(). */
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  free(path);
  if (fd < 0) return number(env, -errno);
  DIR* dir = fdopendir(fd);
  if (dir == NULL) {
    int e = errno;
    close(fd);
    return number(env, -e);
  }
  int dfd = dirfd(dir);
  bytes_t out = {0};
  int err = 0;
  for (;;) {
    errno = 0;
    struct dirent* d = readdir(dir);
    if (d == NULL) { err = errno; break; }
    const char* name = d->d_name;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    record_t r = {0};
    struct stat st;
    size_t name_len = strlen(name);
    r.name_len = (uint32_t)name_len;
    char* link = NULL;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      r.err = errno;
    } else {
      r.mode = st.st_mode;
      r.size = (double)st.st_size;
      if (S_ISLNK(st.st_mode)) {
        /* st_size is the target's length on most file systems, 0 on some: grow until it fits. */
        size_t cap = (size_t)st.st_size + 1 < 256 ? 256 : (size_t)st.st_size + 1;
        for (;;) {
          char* grown = realloc(link, cap);
          if (grown == NULL) { r.err = ENOMEM; break; }
          link = grown;
          ssize_t n = readlinkat(dfd, name, link, cap);
          if (n < 0) { r.err = errno; break; }
          if ((size_t)n < cap) { r.link_len = (uint32_t)n; break; }
          if (cap >= (1u << 24)) { r.err = ENAMETOOLONG; break; }
          cap *= 2;
        }
      }
    }
    char* at = reserve(&out, sizeof r + name_len + r.link_len);
    if (at != NULL) {
      memcpy(at, &r, sizeof r);
      memcpy(at + sizeof r, name, name_len);
      if (r.link_len) memcpy(at + sizeof r + name_len, link, r.link_len);
    }
    free(link);
  }
  closedir(dir);
  if (out.oom) err = ENOMEM;
  napi_value result;
  if (err != 0) result = number(env, -err);
  else if (napi_create_buffer_copy(env, out.len, out.len ? out.data : "", NULL, &result) != napi_ok) result = number(env, -ENOMEM);
  free(out.data);
  return result;
}

#ifdef STRATA_LIBDEFLATE
/* The bytes of a Uint8Array argument, or NULL with a TypeError thrown. */
static void* typed_bytes(napi_env env, napi_value v, size_t* len, const char* usage) {
  napi_typedarray_type type;
  size_t count;
  void* data;
  if (napi_get_typedarray_info(env, v, &type, &count, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  *len = count;
  return data == NULL ? (void*)"" : data;
}

/* This environment's (thread's) compressor and its level; freed when the environment ends. */
typedef struct { struct libdeflate_compressor* c; int level; } deflater_t;

static void free_deflater(napi_env env, void* data, void* hint) {
  (void)env; (void)hint;
  deflater_t* d = data;
  libdeflate_free_compressor(d->c);
  free(d);
}

static napi_value gzip_into(napi_env env, napi_callback_info info) {
  static const char usage[] = "gzipInto(level, input, output) takes an integer 1-12 and two Uint8Arrays";
  size_t argc = 3;
  napi_value argv[3];
  int32_t level;
  size_t in_len, out_cap;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_int32(env, argv[0], &level) != napi_ok || level < 1 || level > 12) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  const uint8_t* in = typed_bytes(env, argv[1], &in_len, usage);
  if (in == NULL) return NULL;
  uint8_t* out = typed_bytes(env, argv[2], &out_cap, usage);
  if (out == NULL) return NULL;
  deflater_t* d = NULL;
  if (napi_get_instance_data(env, (void**)&d) != napi_ok || d == NULL) {
    napi_throw_error(env, NULL, "gzipInto: the helper's per-thread state is missing");
    return NULL;
  }
  if (d->c == NULL || d->level != level) {
    libdeflate_free_compressor(d->c);
    d->level = level;
    d->c = libdeflate_alloc_compressor(level);
    if (d->c == NULL) {
      napi_throw_error(env, NULL, "gzipInto: libdeflate could not allocate a compressor (out of memory)");
      return NULL;
    }
  }
  if (out_cap < 18) return number(env, -ENOSPC);
  /* zlib's gzip header on Unix (deflate.c): XFL says "fastest" at level 1, "slowest" at 9. */
  const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, level == 1 ? 4 : level >= 9 ? 2 : 0, 3};
  memcpy(out, header, sizeof header);
  size_t n = libdeflate_deflate_compress(d->c, in, in_len, out + 10, out_cap - 18);
  if (n == 0) return number(env, -ENOSPC); /* did not fit (an empty input still makes 2 bytes) */
  uint32_t crc = libdeflate_crc32(0, in, in_len);
  uint32_t isize = (uint32_t)in_len; /* RFC 1952: the length modulo 2^32 */
  uint8_t* t = out + 10 + n;
  for (int i = 0; i < 4; i++) t[i] = (uint8_t)(crc >> (8 * i)), t[4 + i] = (uint8_t)(isize >> (8 * i));
  return number(env, (double)(n + 18));
}

/* Exports gzipInto and libdeflateVersion, with this environment's compressor slot. */
static void export_deflate(napi_env env, napi_value exports) {
  deflater_t* d = calloc(1, sizeof *d);
  if (d == NULL || napi_set_instance_data(env, d, free_deflater, NULL) != napi_ok) { free(d); return; }
  napi_value fn, version;
  napi_create_function(env, "gzipInto", NAPI_AUTO_LENGTH, gzip_into, NULL, &fn);
  napi_set_named_property(env, exports, "gzipInto", fn);
  napi_create_string_utf8(env, LIBDEFLATE_VERSION_STRING, NAPI_AUTO_LENGTH, &version);
  napi_set_named_property(env, exports, "libdeflateVersion", version);
}
#endif

NAPI_MODULE_INIT() {
  const struct { const char* name; napi_callback fn; } fns[] = {
    {"setPipeSize", set_pipe_size}, {"fileOffset", file_offset}, {"seekTo", seek_to}, {"willNeed", will_need},
    {"listDir", list_dir}, {"fixMallocThreshold", fix_malloc_threshold}, {"openBeneath", open_beneath},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
#ifdef STRATA_LIBDEFLATE
  export_deflate(env, exports);
#endif
  return exports;
}
