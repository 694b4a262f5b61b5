/* Synthetic time-lapse frames (timelapse_gen.h). The scene is smooth shading, a few flat
 * shapes with hard edges and a fixed fine texture (like a still photo); each frame adds
 * its own noise (the sum of four uniform variables: close to Gaussian) and a brightness
 * offset growing with the frame number. */
#include "timelapse_gen.h"

#include <math.h>
#include <stdlib.h>

static uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void tlgen_defaults(tlgen_params *p) {
  p->width = 640;
  p->height = 480;
  p->quality = 90;
  p->subsamp = JPEGGEN_420;
  p->progressive = 0;
  p->seed = 1;
  p->noise_sigma = 1.0;
  p->drift = 0.2;
  p->quality_step = 0;
  p->noise_stream = 0;
}

void tlgen_fill(const tlgen_params *p, uint32_t frame, uint8_t *rgb) {
  const uint32_t w = p->width, h = p->height;
  uint64_t s = mix64(p->seed);
  double fx[3], fy[3], ph[3], amp[3], base[3];
  for (int c = 0; c < 3; c++) {
    fx[c] = 1.0 + (double)(mix64(s + 1 + (uint64_t)c) % 5);
    fy[c] = 1.0 + (double)(mix64(s + 11 + (uint64_t)c) % 4);
    ph[c] = (double)(mix64(s + 21 + (uint64_t)c) % 628) / 100.0;
    amp[c] = 20.0 + (double)(mix64(s + 31 + (uint64_t)c) % 40);
    base[c] = 70.0 + (double)(mix64(s + 41 + (uint64_t)c) % 80);
  }
  enum { N_SHAPES = 8 };
  int32_t sx[N_SHAPES], sy[N_SHAPES], sr[N_SHAPES];
  double col[N_SHAPES][3];
  for (int i = 0; i < N_SHAPES; i++) {
    uint64_t r = mix64(s + 100 + (uint64_t)i);
    sx[i] = (int32_t)(r % w);
    sy[i] = (int32_t)((r >> 20) % h);
    sr[i] = 4 + (int32_t)((r >> 40) % (w / 6 + 1));
    for (int c = 0; c < 3; c++) col[i][c] = (double)(mix64(r + (uint64_t)c) % 256);
  }
  const double sigma = p->noise_sigma, light = p->drift * frame;
  uint64_t ns = mix64(p->seed * 0x100000001B3ull + frame + 1);
  if (p->noise_stream) ns ^= mix64(p->noise_stream * 0xD6E8FEB86659FD93ull);
  for (uint32_t y = 0; y < h; y++) {
    for (uint32_t x = 0; x < w; x++) {
      double u = (double)x / w, v = (double)y / h;
      uint64_t tex = mix64(s ^ ((uint64_t)y << 32 | x));
      double t = (double)(tex % 9) - 4.0; /* the scene's own fine texture, the same in every frame */
      double val[3];
      for (int c = 0; c < 3; c++) val[c] = base[c] + amp[c] * sin(6.2832 * (fx[c] * u + fy[c] * v) + ph[c]) + t;
      for (int i = 0; i < N_SHAPES; i++) {
        int32_t dx = (int32_t)x - sx[i], dy = (int32_t)y - sy[i];
        if ((i & 1) ? (abs(dx) < sr[i] && abs(dy) < sr[i] / 2) : (dx * dx + dy * dy < sr[i] * sr[i]))
          for (int c = 0; c < 3; c++) val[c] = col[i][c] + t;
      }
      /* per-frame noise, one draw per channel: sum of 4 uniforms on [-0.5, 0.5) has
       * variance 1/3, so scale by sigma * sqrt(3) */
      for (int c = 0; c < 3; c++) {
        ns = mix64(ns);
        double n = 0;
        for (int k = 0; k < 4; k++) n += (double)((ns >> (16 * k)) & 0xFFFF) / 65536.0 - 0.5;
        double o = val[c] + light + n * sigma * 1.7320508;
        long q = lround(o);
        rgb[((size_t)y * w + x) * 3 + (size_t)c] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
      }
    }
  }
}

int tlgen_frame(const tlgen_params *p, uint32_t frame, uint8_t **out, size_t *len) {
  if (!p->width || !p->height || p->width > 65535 || p->height > 65535) return -1;
  uint8_t *rgb = malloc((size_t)p->width * p->height * 3);
  if (!rgb) return -2;
  tlgen_fill(p, frame, rgb);
  jpeggen_params jp;
  jpeggen_defaults(&jp);
  jp.width = p->width;
  jp.height = p->height;
  int q = p->quality + (int)lround(p->quality_step * frame);
  jp.quality = q < 1 ? 1 : q > 100 ? 100 : q;
  jp.subsamp = p->subsamp;
  jp.progressive = p->progressive;
  jp.rgb = rgb;
  int r = jpeggen_make(&jp, out, len);
  free(rgb);
  return r;
}
