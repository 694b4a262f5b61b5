/* imgstash: pack large sets of similar images into one archive, get any file back
 * fast, and prove that nothing was lost.
 *
 * The whole public API. Conventions:
 * - Every fallible function returns ims_status (IMS_OK == 0) and writes its results
 *   through out-parameters only on success.
 * - Handles are opaque. Each *_open has a *_close that accepts NULL.
 * - A handle must be used by one thread at a time; separate handles may run on separate
 *   threads. Internal parallelism uses options.threads; the archive bytes do not depend
 *   on the thread count.
 * - The library never prints and never exits. Human-readable detail for the last failure
 *   is kept on the handle (ims_writer_errmsg, ims_reader_errmsg).
 * - Strings are NUL-terminated byte strings; archive paths need not be UTF-8.
 */
#ifndef IMGSTASH_H
#define IMGSTASH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IMS_VERSION_MAJOR 0
#define IMS_VERSION_MINOR 1
#define IMS_VERSION_PATCH 0
#define IMS_VERSION_NUMBER (IMS_VERSION_MAJOR * 10000 + IMS_VERSION_MINOR * 100 + IMS_VERSION_PATCH)

#if defined(__GNUC__)
#define IMS_API __attribute__((visibility("default")))
#define IMS_NODISCARD __attribute__((warn_unused_result))
#else
#define IMS_API
#define IMS_NODISCARD
#endif

/* Status codes. Values are stable: a released value never changes and is never reused. */
typedef enum ims_status {
  IMS_OK = 0,
  IMS_E_NOMEM = 1,        /* an allocation failed */
  IMS_E_IO = 2,           /* reading or writing a file failed (errno in the message) */
  IMS_E_CORRUPT = 3,      /* input or archive data is malformed or damaged */
  IMS_E_LIMIT = 4,        /* a configured limit (size, pixels, scans, members) was exceeded */
  IMS_E_UNSUPPORTED = 5,  /* valid data that this build cannot handle */
  IMS_E_ARG = 6,          /* a bad argument from the caller */
  IMS_E_STATE = 7,        /* the handle is poisoned by an earlier failure or used out of order */
  IMS_E_MISMATCH = 8,     /* decoded data differs from the original (verification) */
  IMS_E_INTERNAL = 9,     /* a bug: an invariant did not hold */
  IMS_E_VERSION = 10,     /* the archive was written by a newer format version */
  IMS_E_NOTFOUND = 11,    /* no such entry */
  IMS_E_UNSAFE_PATH = 12, /* a path would escape the output folder */
  IMS_E_EXISTS = 13,      /* the entry is already in the archive */
} ims_status;

#define IMS_STATUS_MAX 13

/* A static English description of any status value (unknown values included). */
IMS_API const char *ims_strerror(ims_status st);
/* The library's version as IMS_VERSION_NUMBER; compare with the header's at run time. */
IMS_API unsigned ims_version(void);

/* Archive modes (-m). Only IMS_MODE_EXACT is implemented by this version. */
typedef enum ims_mode { IMS_MODE_EXACT = 0, IMS_MODE_PIXEL = 1, IMS_MODE_VISUAL = 2 } ims_mode;

/* Progress report, called from the thread that called the library function. */
typedef struct ims_progress {
  size_t struct_size;
  uint64_t files_done, files_total;
  uint64_t bytes_done, bytes_total; /* input bytes (pack) or output bytes (unpack) */
} ims_progress;
typedef void (*ims_progress_fn)(void *opaque, const ims_progress *p);

/* Options for writers and readers. Initialise with ims_options_init, then change fields. */
typedef struct ims_options {
  size_t struct_size;
  unsigned version;          /* IMS_VERSION_NUMBER of the header the caller was built with */
  ims_mode mode;             /* default IMS_MODE_EXACT */
  unsigned threads;          /* worker threads; 0 = one per core. Output is identical for any value */
  int zstd_level;            /* 1..22 for the zstd codec; default 19 */
  int jpeg;                  /* 1 = use the JPEG codec where it round-trips (default), 0 = never */
  uint64_t max_member_bytes; /* largest member a codec other than zstd-chunked sees; default 1 GiB */
  uint64_t max_pixels;       /* largest image a codec decodes; default 2^28 (268 Mpx) */
  uint32_t max_scans;        /* most JPEG scans accepted; default 256 */
  uint64_t max_index_bytes;  /* largest decompressed index accepted on open; default 2 GiB */
  uint32_t key_interval;     /* similar images: a key image (no reference) at least every this
                                many images of a chain, so one image costs at most this many
                                decodes; 1 = no references; default 32 */
  ims_progress_fn progress;  /* may be NULL */
  void *progress_opaque;
  uint32_t refs;             /* pack: references an image may be predicted from (its reference,
                                that one's, ...: 1..4; default 4) */
} ims_options;

/* Fills *o with defaults. Returns IMS_E_VERSION when the header's major version differs
 * from the library's (pass IMS_VERSION_NUMBER). */
IMS_API IMS_NODISCARD ims_status ims_options_init(ims_options *o, unsigned header_version);

/* Entry types as stored in the archive. */
typedef enum ims_entry_type { IMS_ENTRY_FILE = 1, IMS_ENTRY_DIR = 2, IMS_ENTRY_SYMLINK = 3 } ims_entry_type;

/* An archive entry as the reader sees it. Pointers stay valid until the reader is closed. */
typedef struct ims_entry {
  size_t struct_size;
  const char *path;        /* relative, normalised, '/'-separated */
  ims_entry_type type;
  uint32_t mode;           /* permission bits (07777) */
  int64_t mtime_sec;
  uint32_t mtime_nsec;
  uint64_t size;           /* content bytes (files), target length (links), 0 (dirs) */
  const char *link_target; /* symlinks only, else NULL */
  uint8_t hash[16];        /* XXH3-128 of the content, big-endian canonical form (files) */
  uint64_t stored_bytes;   /* archive bytes of its content; 0 for a duplicate of an earlier entry */
  const char *codec;       /* name of the codec that holds the content ("zstd", "jpeg", ...) */
  uint32_t content;        /* content number: entries with equal contents share it */
  int64_t ref_entry;       /* entry whose content this one is predicted from, or -1 */
  int damaged;             /* 1 when the archive was opened in recovery mode and data is missing */
} ims_entry;

/* Why a content is held by a safer codec than the preferred one. */
typedef enum ims_fallback {
  IMS_FB_NONE = 0,
  IMS_FB_NOT_IMAGE = 1,   /* not a format the preferred codec takes (not a fallback) */
  IMS_FB_UNSUPPORTED = 2, /* e.g. arithmetic-coded, 12-bit, lossless or hierarchical JPEG */
  IMS_FB_CORRUPT = 3,     /* the image is truncated or malformed */
  IMS_FB_MISMATCH = 4,    /* the codec's round trip did not reproduce the bytes */
  IMS_FB_LIMIT = 5,       /* over a size limit */
  IMS_FB_NO_GAIN = 6,     /* the safer codec was smaller */
} ims_fallback;
#define IMS_FB_MAX 6
IMS_API const char *ims_fallback_name(ims_fallback fb);

/* ---------------------------------------------------------------- writing */

typedef struct ims_writer ims_writer;

/* Makes a writer with options o (NULL for defaults). Fails only with IMS_E_NOMEM, IMS_E_ARG
 * (o->struct_size wrong) or IMS_E_UNSUPPORTED (a mode this version does not implement). */
IMS_API IMS_NODISCARD ims_status ims_writer_new(const ims_options *o, ims_writer **out);

/* Starts a new archive at path. Nothing appears at path until ims_writer_finish succeeds:
 * the data goes to a temporary file in the same folder, renamed on success, removed by
 * ims_writer_close otherwise. On failure ims_writer_errmsg says why. */
IMS_API IMS_NODISCARD ims_status ims_writer_create(ims_writer *w, const char *path);

/* ims_writer_new + ims_writer_create; on failure nothing is returned (not even a message). */
IMS_API IMS_NODISCARD ims_status ims_writer_open(const char *path, const ims_options *o, ims_writer **out);

/* Adds the file, directory or symlink at fs_path under the archive path arc_path (which is
 * normalised: "./" and duplicate slashes go; "..", absolute paths and empty paths are refused
 * with IMS_E_UNSAFE_PATH). The file is read once here (hash and type); its content is coded
 * in ims_writer_finish. On IMS_E_IO / IMS_E_UNSAFE_PATH / IMS_E_EXISTS nothing is added and
 * the writer stays usable: the caller reports ims_writer_errmsg and goes on. The archive
 * being written (its temporary file, met inside an input folder) is never added: IMS_OK. */
IMS_API IMS_NODISCARD ims_status ims_writer_add_path(ims_writer *w, const char *arc_path, const char *fs_path);

/* Called by ims_writer_finish for an input that could not be coded (for example a file that
 * vanished or changed after ims_writer_add_path); that entry is left out. */
typedef void (*ims_skip_fn)(void *opaque, const char *arc_path, const char *why);
IMS_API void ims_writer_set_skip_callback(ims_writer *w, ims_skip_fn fn, void *opaque);

/* Codes, verifies (every content is decoded back and compared), writes the index and
 * footer, and renames the archive into place. Call once. */
IMS_API IMS_NODISCARD ims_status ims_writer_finish(ims_writer *w);

/* Number of inputs skipped by ims_writer_finish (see ims_skip_fn). */
IMS_API uint64_t ims_writer_skipped(const ims_writer *w);

/* Detail of the last failure, never NULL. Valid until the next call on w. */
IMS_API const char *ims_writer_errmsg(const ims_writer *w);

/* The temporary file the archive is written to until ims_writer_finish renames it, or NULL
 * before ims_writer_create. For a program that must remove it when it is killed (the CLI's
 * signal handler); valid until ims_writer_close. */
IMS_API const char *ims_writer_temp_path(const ims_writer *w);

/* Frees w; removes the temporary file if ims_writer_finish did not succeed. Accepts NULL. */
IMS_API void ims_writer_close(ims_writer *w);

/* ---------------------------------------------------------------- reading */

typedef struct ims_reader ims_reader;

/* Makes a reader with options o (NULL for defaults); fails only with IMS_E_NOMEM / IMS_E_ARG. */
IMS_API IMS_NODISCARD ims_status ims_reader_new(const ims_options *o, ims_reader **out);

/* Loads the archive at path (call once). When the footer or index is damaged, the reader
 * falls back to a scan of the blocks (recovery mode): it returns IMS_OK,
 * ims_reader_damaged() reports 1 and ims_reader_errmsg() says what was damaged; entries
 * whose data cannot be found are marked damaged. It fails with IMS_E_CORRUPT only when
 * nothing at all can be recovered, IMS_E_VERSION for a newer format, IMS_E_IO when the
 * file cannot be read; ims_reader_errmsg says why. */
IMS_API IMS_NODISCARD ims_status ims_reader_load(ims_reader *r, const char *path);

/* ims_reader_new + ims_reader_load; on failure nothing is returned (not even a message). */
IMS_API IMS_NODISCARD ims_status ims_reader_open(const char *path, const ims_options *o, ims_reader **out);

IMS_API int ims_reader_damaged(const ims_reader *r);
IMS_API uint64_t ims_reader_count(const ims_reader *r);

/* Entry i (0 <= i < count) in the order the entries were added. */
IMS_API IMS_NODISCARD ims_status ims_reader_entry(const ims_reader *r, uint64_t i, ims_entry *out);

/* Looks up an entry by archive path (normalised like ims_writer_add_path). */
IMS_API IMS_NODISCARD ims_status ims_reader_find(const ims_reader *r, const char *path, uint64_t *index_out);

/* Streams entry i's content through write_fn in order, reading only the blocks it needs,
 * and checks the content hash at the end (IMS_E_MISMATCH if it differs: some bytes may have
 * been written already). write_fn returns 0 to go on, non-zero to stop (IMS_E_IO). */
typedef int (*ims_write_fn)(void *opaque, const void *data, size_t len);
IMS_API IMS_NODISCARD ims_status ims_reader_extract(ims_reader *r, uint64_t i, ims_write_fn write_fn, void *opaque);

/* Decodes entry i and checks block checksums and the content hash without output. */
IMS_API IMS_NODISCARD ims_status ims_reader_verify_entry(ims_reader *r, uint64_t i);

/* Restores entry i below the directory dirfd (an open directory file descriptor), creating
 * parent directories as needed. Never follows a symlink on the way (O_NOFOLLOW at every
 * component), so no entry lands outside dirfd. Directory mtimes are not set here: call
 * ims_reader_fix_dir_times after all entries. */
IMS_API IMS_NODISCARD ims_status ims_reader_extract_at(ims_reader *r, uint64_t i, int dirfd);
IMS_API IMS_NODISCARD ims_status ims_reader_fix_dir_times(ims_reader *r, int dirfd);

/* Restores every entry like ims_reader_extract_at, decoding up to options.threads contents
 * at a time (files are still created in entry order). For each entry that fails, fn (may be
 * NULL) gets its index, status and message, and the others go on. Reports progress through
 * options.progress. Returns IMS_OK when every entry was restored, else the first failure's
 * status. Call ims_reader_fix_dir_times afterwards. */
typedef void (*ims_entry_error_fn)(void *opaque, uint64_t index, ims_status st, const char *msg);
IMS_API IMS_NODISCARD ims_status ims_reader_extract_all_at(ims_reader *r, int dirfd, ims_entry_error_fn fn, void *opaque);

/* Archive totals for `imgstash stats`. */
#define IMS_MAX_CODECS 8
typedef struct ims_codec_stats {
  const char *name;     /* NULL for an unused slot */
  uint64_t contents;    /* distinct contents held */
  uint64_t raw_bytes;   /* their original size */
  uint64_t stored_bytes;
} ims_codec_stats;

typedef struct ims_stats {
  size_t struct_size;
  uint64_t entries, files, dirs, symlinks;
  uint64_t contents;            /* distinct file contents */
  uint64_t input_bytes;         /* sum of all file sizes */
  uint64_t dedup_saved_bytes;   /* bytes of files that repeat an earlier content */
  uint64_t archive_bytes;       /* size of the archive file */
  uint64_t jpeg_contents;       /* contents that are JPEG files */
  uint64_t jpeg_bytes;          /* their original size */
  uint64_t jpeg_stored_bytes;   /* what they take in the archive */
  uint64_t fallbacks[IMS_FB_MAX + 1]; /* contents per reason (index 0: none) */
  ims_codec_stats codecs[IMS_MAX_CODECS];
} ims_stats;
IMS_API IMS_NODISCARD ims_status ims_reader_stats(const ims_reader *r, ims_stats *out);

IMS_API const char *ims_reader_errmsg(const ims_reader *r);
IMS_API void ims_reader_close(ims_reader *r);

#ifdef __cplusplus
}
#endif
#endif /* IMGSTASH_H */
