/* Test helper: a synthetic time-lapse, the case of a real fixed camera: one still scene,
 * independent noise in every frame (sensor noise: no block repeats exactly) and a slow
 * drift of the light, each frame compressed by libjpeg-turbo.
 *
 * Usage:
 *   tlgen_params p;
 *   tlgen_defaults(&p);                      // 640x480, q90, 4:2:0, noise 1.0, drift 0.2
 *   uint8_t *jpg; size_t len;
 *   if (tlgen_frame(&p, 7, &jpg, &len) != 0) ...;   // frame 7; free(jpg) afterwards
 *
 * Same params and frame number, same bytes. Thread-safe (no globals). */
#ifndef IMS_TESTS_TIMELAPSE_GEN_H
#define IMS_TESTS_TIMELAPSE_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "jpeggen.h"

typedef struct tlgen_params {
  uint32_t width, height; /* 1..65535 */
  int quality;            /* libjpeg scale */
  jpeggen_subsamp subsamp;
  int progressive;
  uint64_t seed;          /* the scene and the noise */
  double noise_sigma;     /* standard deviation of the per-pixel noise, in 8-bit levels */
  double drift;           /* brightness change per frame, in levels (light drift) */
  double quality_step;    /* optional: quality changes by this much per frame (different tables) */
  uint64_t noise_stream;  /* 0: the default noise; others: independent noise realisations of the
                             same frames (same scene and drift), for estimating bounds */
} tlgen_params;

/* 640x480, quality 90, 4:2:0, baseline, seed 1, noise 1.0, drift 0.2, fixed quality, noise stream 0. */
void tlgen_defaults(tlgen_params *p);

/* Fills rgb (width * height * 3) with frame `frame` of the time-lapse. */
void tlgen_fill(const tlgen_params *p, uint32_t frame, uint8_t *rgb);

/* Frame `frame` as a JPEG file. 0 on success (*out malloc'd), -1 bad params / libjpeg
 * error, -2 out of memory. */
int tlgen_frame(const tlgen_params *p, uint32_t frame, uint8_t **out, size_t *len);

#endif
