/* mkdemo: writes the demo image set that `make demo` packs: a synthetic webcam time-lapse.
 *
 *   mkdemo [-s SEED] [-n FRAMES] [-W WIDTH] [-H HEIGHT] [-Q QUALITY] OUTDIR
 *
 * OUTDIR/timelapse/frame_NNNNN.jpg  FRAMES JPEG frames (default 300, 640x480, quality 90,
 *                                   4:2:0, libjpeg-turbo) of one procedurally generated
 *                                   scene seen by a fixed camera: sky gradient with
 *                                   drifting clouds, two ranges of hills, houses, trees, a
 *                                   road. Across the frames the light fades and warms
 *                                   (afternoon to dusk, windows light up); every frame has
 *                                   its own sensor noise; cars, a bird and a walker move.
 *                                   Some frames are byte-identical repeats of the one before,
 *                                   as a webcam that re-posts an unchanged frame writes them.
 * OUTDIR/extras/NAME.png           four PNGs (libpng): two RGB overviews, an 8-bit mask and
 *                                   a 16-bit height map of the scene
 * OUTDIR/capture-log.txt            one line per frame (time, exposure, size)
 *
 * The output is a function of the options alone (same seed, same bytes). File and folder
 * times are set to the simulated capture times (one frame a minute from 2024-06-01 16:00
 * UTC; the rest at the end of the capture), so packing the set twice gives the same archive.
 * Prints one summary line on stdout; errors go to stderr with exit status 1. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#define CAPTURE_EPOCH 1717257600 /* 2024-06-01T16:00:00Z */

/* ---------------------------------------------------------------- random numbers */

typedef struct rng {
  uint64_t s;
} rng;

static uint64_t rng_next(rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static int rng_range(rng *r, int lo, int hi) { return lo + (int)(rng_unit(r) * (double)(hi - lo + 1)); }
/* Approximately normal, mean 0, sd 1: the sum of four 16-bit uniforms. */
static float rng_gauss(rng *r) {
  uint64_t v = rng_next(r);
  unsigned s = (unsigned)(v & 0xffff) + (unsigned)((v >> 16) & 0xffff) + (unsigned)((v >> 32) & 0xffff) +
               (unsigned)(v >> 48);
  return ((float)s / 65536.0f - 2.0f) * 1.7320508f;
}

/* Lattice value noise in [0,1) with smooth interpolation, and its fractal sum. */
static float lattice(uint64_t seed, int x, int y) {
  uint64_t h = seed ^ ((uint64_t)(uint32_t)x * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)(uint32_t)y * 0xC2B2AE3D27D4EB4Full);
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return (float)(h & 0xffffff) / 16777216.0f;
}
static float vnoise(uint64_t seed, float x, float y) {
  float fx = floorf(x), fy = floorf(y);
  int ix = (int)fx, iy = (int)fy;
  float tx = x - fx, ty = y - fy;
  tx = tx * tx * (3 - 2 * tx);
  ty = ty * ty * (3 - 2 * ty);
  float a = lattice(seed, ix, iy), b = lattice(seed, ix + 1, iy);
  float c = lattice(seed, ix, iy + 1), d = lattice(seed, ix + 1, iy + 1);
  return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty;
}
static float fbm(uint64_t seed, float x, float y, int octaves) {
  float sum = 0, amp = 0.5f, norm = 0;
  for (int o = 0; o < octaves; o++) {
    sum += amp * vnoise(seed + (uint64_t)o * 7919u, x, y);
    norm += amp;
    x *= 2.03f;
    y *= 2.03f;
    amp *= 0.5f;
  }
  return sum / norm;
}

/* ---------------------------------------------------------------- the scene */

enum { PX_SKY = 0, PX_LAND = 1, PX_WALL = 2, PX_WINDOW = 3 };

typedef struct house {
  int x, base, w, wall_h, roof_h;
  float wall[3], roof[3];
} house;

typedef struct scene {
  int w, h;
  uint64_t seed;
  float *albedo;    /* w*h*3, the static scene in 0..255 under full daylight */
  uint8_t *kind;    /* w*h, PX_* */
  float *clouds;    /* cw*h cloud cover 0..1, wider than the frame so it can drift */
  int cw;
  float *far_y, *near_y; /* per column: top of the far and near hills */
  int road_top, road_bot;
} scene;

static void put_px(scene *s, int x, int y, float r, float g, float b, uint8_t kind) {
  if (x < 0 || y < 0 || x >= s->w || y >= s->h) return;
  float *p = s->albedo + ((size_t)y * (size_t)s->w + (size_t)x) * 3;
  p[0] = r;
  p[1] = g;
  p[2] = b;
  s->kind[(size_t)y * (size_t)s->w + (size_t)x] = kind;
}

static void draw_house(scene *s, const house *hs) {
  uint64_t ts = s->seed ^ 0x51u;
  for (int y = hs->base - hs->wall_h; y < hs->base; y++)
    for (int x = hs->x; x < hs->x + hs->w; x++) {
      float t = 0.85f + 0.3f * vnoise(ts, (float)x * 0.5f, (float)y * 0.5f);
      float brick = ((y / 4 + (x / 10) % 2) % 2) ? 1.0f : 0.94f;
      put_px(s, x, y, hs->wall[0] * t * brick, hs->wall[1] * t * brick, hs->wall[2] * t * brick, PX_WALL);
    }
  for (int r = 0; r < hs->roof_h; r++) { /* a gable roof: a triangle with overhang */
    int y = hs->base - hs->wall_h - 1 - r;
    int inset = (r * (hs->w / 2 + 4)) / hs->roof_h;
    for (int x = hs->x - 4 + inset; x < hs->x + hs->w + 4 - inset; x++) {
      float t = ((r % 3) == 0) ? 0.8f : 1.0f;
      t *= 0.9f + 0.2f * vnoise(ts + 1, (float)x * 0.7f, (float)y * 0.7f);
      put_px(s, x, y, hs->roof[0] * t, hs->roof[1] * t, hs->roof[2] * t, PX_WALL);
    }
  }
  int nwin = hs->w / 22; /* windows in one row, a door at the middle */
  if (nwin < 1) nwin = 1;
  int wy = hs->base - hs->wall_h + hs->wall_h / 4;
  for (int k = 0; k < nwin; k++) {
    int wx = hs->x + (k + 1) * hs->w / (nwin + 1) - 4;
    for (int y = wy; y < wy + 10; y++)
      for (int x = wx; x < wx + 8; x++) {
        bool frame = (y == wy || y == wy + 9 || x == wx || x == wx + 7 || x == wx + 4);
        if (frame)
          put_px(s, x, y, 230, 230, 225, PX_WALL);
        else
          put_px(s, x, y, 40, 50, 65, PX_WINDOW);
      }
  }
  int dx = hs->x + hs->w / 2 - 4;
  for (int y = hs->base - 16; y < hs->base; y++)
    for (int x = dx; x < dx + 9; x++) put_px(s, x, y, 90, 55, 35, PX_WALL);
}

static void draw_tree(scene *s, int cx, int base, int r) {
  uint64_t ts = s->seed ^ 0x7733u;
  for (int y = base - r; y < base; y++)
    for (int x = cx - 2; x <= cx + 2; x++) put_px(s, x, y, 80, 60, 40, PX_LAND);
  int cy = base - r - r / 2;
  for (int y = cy - r; y <= cy + r; y++)
    for (int x = cx - r; x <= cx + r; x++) {
      float d = (float)((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (float)(r * r);
      float n = fbm(ts, (float)x * 0.25f, (float)y * 0.25f, 3);
      if (d + 0.5f * (n - 0.5f) > 1.0f) continue;
      float t = 0.6f + 0.7f * n - 0.25f * (float)(y - cy) / (float)r; /* lit from above */
      put_px(s, x, y, 40 * t, 95 * t, 35 * t, PX_LAND);
    }
}

static int cmp_house(const void *a, const void *b) {
  const house *x = a, *y = b;
  return (x->base > y->base) - (x->base < y->base);
}

static int scene_build(scene *s, int w, int h, uint64_t seed, int frames) {
  memset(s, 0, sizeof *s);
  s->w = w;
  s->h = h;
  s->seed = seed;
  size_t npx = (size_t)w * (size_t)h;
  s->cw = w + frames / 2 + 2; /* clouds drift half a pixel a frame */
  s->albedo = malloc(npx * 3 * sizeof *s->albedo);
  s->kind = malloc(npx);
  s->clouds = malloc((size_t)s->cw * (size_t)h * sizeof *s->clouds);
  s->far_y = malloc((size_t)w * sizeof *s->far_y);
  s->near_y = malloc((size_t)w * sizeof *s->near_y);
  if (!s->albedo || !s->kind || !s->clouds || !s->far_y || !s->near_y) return -1;

  float H = (float)h;
  for (int x = 0; x < w; x++) {
    float fx = (float)x;
    s->far_y[x] = H * 0.47f - (H * 0.07f + H * 0.045f * sinf(fx * 0.011f + 0.7f) + H * 0.02f * sinf(fx * 0.031f + 2.0f) +
                               H * 0.03f * fbm(seed ^ 0xf1u, fx * 0.02f, 3.3f, 4));
    s->near_y[x] = H * 0.60f - (H * 0.035f * sinf(fx * 0.007f + 1.9f) + H * 0.015f * sinf(fx * 0.019f) +
                                H * 0.015f * fbm(seed ^ 0xf2u, fx * 0.03f, 7.1f, 3));
  }
  s->road_top = (int)(H * 0.82f);
  s->road_bot = (int)(H * 0.89f);

  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      float fx = (float)x, fy = (float)y;
      float r, g, b;
      uint8_t kind = PX_LAND;
      if (fy < s->far_y[x]) { /* sky: its colour is worked out per frame */
        r = g = b = 0;
        kind = PX_SKY;
      } else if (fy < s->near_y[x]) { /* far hills: hazy blue-green */
        float n = fbm(seed ^ 0x11u, fx * 0.05f, fy * 0.05f, 4);
        float haze = 0.35f * (1.0f - (fy - s->far_y[x]) / (s->near_y[x] - s->far_y[x] + 1.0f));
        r = (75 + 40 * n) * (1 - haze) + 160 * haze;
        g = (110 + 45 * n) * (1 - haze) + 180 * haze;
        b = (95 + 30 * n) * (1 - haze) + 200 * haze;
      } else if (y < s->road_top || y >= s->road_bot) { /* grass and fields */
        float n = fbm(seed ^ 0x22u, fx * 0.09f, fy * 0.15f, 5);
        float fine = vnoise(seed ^ 0x23u, fx * 0.9f, fy * 0.9f);
        float rows = (y >= s->road_bot) ? 0.9f + 0.1f * sinf(fx * 0.15f + fy * 0.6f) : 1.0f;
        r = (60 + 50 * n + 20 * fine) * rows;
        g = (115 + 60 * n + 25 * fine) * rows;
        b = (45 + 25 * n + 10 * fine) * rows;
      } else { /* road with a dashed centre line */
        float n = vnoise(seed ^ 0x33u, fx * 0.8f, fy * 0.8f);
        r = g = b = 85 + 25 * n;
        b += 4;
        int mid = (s->road_top + s->road_bot) / 2;
        if ((y == mid || y == mid + 1) && (x / 24) % 2 == 0) r = g = b = 215;
      }
      float *p = s->albedo + ((size_t)y * (size_t)w + (size_t)x) * 3;
      p[0] = r;
      p[1] = g;
      p[2] = b;
      s->kind[(size_t)y * (size_t)w + (size_t)x] = kind;
    }

  for (int y = 0; y < h; y++)
    for (int x = 0; x < s->cw; x++) {
      float c = fbm(seed ^ 0x44u, (float)x * 0.012f, (float)y * 0.03f, 5);
      c = (c - 0.5f) * 3.0f;
      s->clouds[(size_t)y * (size_t)s->cw + (size_t)x] = c < 0 ? 0 : (c > 1 ? 1 : c);
    }

  rng r = {seed ^ 0x5eedu};
  house hs[12];
  int nh = 0;
  for (int i = 0; i < 12 && nh < 9; i++) {
    house q;
    q.w = rng_range(&r, 44, 86);
    q.x = rng_range(&r, 0, w - q.w);
    int ground = (int)s->near_y[q.x + q.w / 2];
    q.base = rng_range(&r, ground + 25, s->road_top - 4);
    q.wall_h = rng_range(&r, 28, 46);
    q.roof_h = rng_range(&r, 14, 24);
    bool overlap = false; /* keep houses of the same row apart */
    for (int k = 0; k < nh; k++)
      if (q.x < hs[k].x + hs[k].w + 10 && hs[k].x < q.x + q.w + 10 && abs(q.base - hs[k].base) < 40) overlap = true;
    if (overlap) continue;
    static const float walls[][3] = {{215, 200, 170}, {190, 120, 90}, {235, 230, 215}, {170, 175, 185}, {205, 170, 110}};
    static const float roofs[][3] = {{140, 55, 45}, {70, 70, 80}, {110, 80, 60}};
    memcpy(q.wall, walls[rng_range(&r, 0, 4)], sizeof q.wall);
    memcpy(q.roof, roofs[rng_range(&r, 0, 2)], sizeof q.roof);
    hs[nh++] = q;
  }
  qsort(hs, (size_t)nh, sizeof hs[0], cmp_house); /* far ones first */
  for (int i = 0; i < 7; i++) {
    int tx = rng_range(&r, 10, w - 10);
    draw_tree(s, tx, rng_range(&r, (int)s->near_y[tx] + 10, (int)s->near_y[tx] + 30), rng_range(&r, 8, 14));
  }
  for (int i = 0; i < nh; i++) draw_house(s, &hs[i]);
  for (int i = 0; i < 5; i++) {
    int tx = rng_range(&r, 10, w - 10);
    draw_tree(s, tx, rng_range(&r, s->road_bot + 8, h - 5), rng_range(&r, 12, 20));
  }
  return 0;
}

static void scene_free(scene *s) {
  free(s->albedo);
  free(s->kind);
  free(s->clouds);
  free(s->far_y);
  free(s->near_y);
}

/* ---------------------------------------------------------------- one frame */

static void fill_rect(float *img, int w, int h, int x0, int y0, int x1, int y1, const float c[3]) {
  for (int y = y0 < 0 ? 0 : y0; y < y1 && y < h; y++)
    for (int x = x0 < 0 ? 0 : x0; x < x1 && x < w; x++) memcpy(img + ((size_t)y * (size_t)w + (size_t)x) * 3, c, 3 * sizeof *c);
}

static void fill_disc(float *img, int w, int h, int cx, int cy, int r, const float c[3]) {
  for (int y = cy - r; y <= cy + r; y++)
    for (int x = cx - r; x <= cx + r; x++)
      if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r && x >= 0 && y >= 0 && x < w && y < h)
        memcpy(img + ((size_t)y * (size_t)w + (size_t)x) * 3, c, 3 * sizeof *c);
}

static void draw_car(float *img, int w, int h, int x, int base, const float body[3], int dir) {
  static const float glass[3] = {120, 150, 170}, tyre[3] = {25, 25, 28}, light[3] = {250, 240, 190};
  fill_rect(img, w, h, x, base - 16, x + 54, base - 5, body);
  fill_rect(img, w, h, x + 12, base - 25, x + 40, base - 15, body);
  fill_rect(img, w, h, x + 15, base - 23, x + 26, base - 16, glass);
  fill_rect(img, w, h, x + 28, base - 23, x + 38, base - 16, glass);
  int hx = dir > 0 ? x + 51 : x;
  fill_rect(img, w, h, hx, base - 14, hx + 3, base - 10, light);
  fill_disc(img, w, h, x + 11, base - 4, 5, tyre);
  fill_disc(img, w, h, x + 43, base - 4, 5, tyre);
}

typedef struct light {
  float gain, r, g, b, window_glow;
} light;

/* The light of frame i of n: afternoon fading into dusk, warming as it goes. */
static light light_at(int i, int n) {
  float t = n > 1 ? (float)i / (float)(n - 1) : 0;
  light l;
  l.gain = 1.04f - 0.52f * t * t + 0.02f * sinf((float)i * 0.05f);
  l.r = 1.0f + 0.10f * t;
  l.g = 1.0f - 0.03f * t;
  l.b = 1.0f - 0.22f * t;
  l.window_glow = t < 0.55f ? 0 : (t - 0.55f) / 0.45f;
  return l;
}

static void render_frame(const scene *s, float *img, uint8_t *rgb, int i, int n, rng *noise) {
  int w = s->w, h = s->h;
  float drift = 0.5f * (float)i;
  int dx = (int)drift;
  float fr = drift - (float)dx;
  memcpy(img, s->albedo, (size_t)w * (size_t)h * 3 * sizeof *img);
  for (int y = 0; y < h; y++) { /* sky: gradient plus drifting clouds */
    float v = (float)y / (s->far_y[0] + 1.0f);
    if (v > 1) v = 1;
    float sr = 70 + 120 * v, sg = 120 + 95 * v, sb = 200 + 38 * v;
    for (int x = 0; x < w; x++) {
      if (s->kind[(size_t)y * (size_t)w + (size_t)x] != PX_SKY) continue;
      const float *cl = s->clouds + (size_t)y * (size_t)s->cw + (size_t)(x + dx);
      float c = cl[0] * (1 - fr) + cl[1] * fr;
      float *p = img + ((size_t)y * (size_t)w + (size_t)x) * 3;
      p[0] = sr + (245 - sr) * c;
      p[1] = sg + (245 - sg) * c;
      p[2] = sb + (248 - sb) * c;
    }
  }

  /* Things that move. */
  static const float blue[3] = {40, 80, 170}, red[3] = {180, 35, 30}, bird[3] = {30, 30, 35}, coat[3] = {200, 160, 40};
  int lane1 = s->road_top + (s->road_bot - s->road_top) / 2 - 1, lane2 = s->road_bot + 2;
  int a1 = n * 15 / 100, b1 = n * 50 / 100, a2 = n * 60 / 100, b2 = n * 88 / 100;
  if (i >= a1 && i < b1) draw_car(img, w, h, -60 + (w + 120) * (i - a1) / (b1 - a1), lane1, blue, 1);
  if (i >= a2 && i < b2) draw_car(img, w, h, w + 60 - (w + 120) * (i - a2) / (b2 - a2), lane2, red, -1);
  int a3 = n * 5 / 100, b3 = n * 40 / 100;
  if (i >= a3 && i < b3) {
    int bx = -10 + (w + 20) * (i - a3) / (b3 - a3);
    int by = (int)((float)h * 0.12f + 18.0f * sinf((float)i * 0.3f));
    int flap = (i % 4) < 2 ? -2 : 1;
    float *img_bird = img;
    fill_rect(img_bird, w, h, bx, by, bx + 4, by + 2, bird);
    fill_rect(img_bird, w, h, bx - 4, by + flap, bx, by + flap + 1, bird);
    fill_rect(img_bird, w, h, bx + 4, by + flap, bx + 8, by + flap + 1, bird);
  }
  int px = 20 + (w - 40) * i / (n > 1 ? n : 1), py = s->road_bot + 30; /* a walker, slowly */
  fill_rect(img, w, h, px, py - 14, px + 5, py - 3, coat);
  fill_disc(img, w, h, px + 2, py - 17, 3, (const float[3]){225, 185, 150});
  fill_rect(img, w, h, px + ((i / 3) % 2), py - 3, px + 2 + ((i / 3) % 2), py + 3, bird);
  fill_rect(img, w, h, px + 3 - ((i / 3) % 2), py - 3, px + 5 - ((i / 3) % 2), py + 3, bird);

  /* Light, lit windows, sensor noise (stronger as the light fades and the gain rises). */
  light l = light_at(i, n);
  float sigma = 1.6f + 1.8f * (1.04f - l.gain);
  for (size_t k = 0; k < (size_t)w * (size_t)h; k++) {
    float *p = img + k * 3;
    float v[3] = {p[0] * l.gain * l.r, p[1] * l.gain * l.g, p[2] * l.gain * l.b};
    if (s->kind[k] == PX_WINDOW) {
      v[0] += l.window_glow * 215;
      v[1] += l.window_glow * 170;
      v[2] += l.window_glow * 90;
    }
    for (int c = 0; c < 3; c++) {
      float q = v[c] + sigma * rng_gauss(noise) + 0.5f;
      rgb[k * 3 + (size_t)c] = (uint8_t)(q < 0 ? 0 : (q > 255 ? 255 : q));
    }
  }
}

/* ---------------------------------------------------------------- output */

static int write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "mkdemo: %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t put = fwrite(data, 1, len, f);
  int err = ferror(f);
  if (fclose(f) != 0 || put != len || err) {
    fprintf(stderr, "mkdemo: %s: write failed\n", path);
    return -1;
  }
  return 0;
}

static void set_mtime(const char *path, int64_t t) {
  struct timespec ts[2] = {{(time_t)t, 0}, {(time_t)t, 0}};
  if (utimensat(AT_FDCWD, path, ts, 0) != 0) fprintf(stderr, "mkdemo: %s: cannot set time: %s\n", path, strerror(errno));
}

/* Encodes rgb as a baseline JPEG (YCbCr 4:2:0, standard Huffman tables, JFIF, a comment).
 * libjpeg's default error handler ends the program on a fatal error; compression fails
 * only on bad parameters or when out of memory, neither of which we recover from. */
static unsigned char *encode_jpeg(const uint8_t *rgb, int w, int h, int quality, const char *comment, unsigned long *len) {
  struct jpeg_compress_struct ci;
  struct jpeg_error_mgr jerr;
  unsigned char *mem = NULL;
  *len = 0;
  ci.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&ci);
  jpeg_mem_dest(&ci, &mem, len);
  ci.image_width = (JDIMENSION)w;
  ci.image_height = (JDIMENSION)h;
  ci.input_components = 3;
  ci.in_color_space = JCS_RGB;
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, quality, TRUE);
  ci.comp_info[0].h_samp_factor = 2;
  ci.comp_info[0].v_samp_factor = 2;
  ci.comp_info[1].h_samp_factor = ci.comp_info[1].v_samp_factor = 1;
  ci.comp_info[2].h_samp_factor = ci.comp_info[2].v_samp_factor = 1;
  jpeg_start_compress(&ci, TRUE);
  jpeg_write_marker(&ci, JPEG_COM, (const JOCTET *)comment, (unsigned)strlen(comment));
  while (ci.next_scanline < ci.image_height) {
    JSAMPROW row = (JSAMPROW)(uintptr_t)(rgb + (size_t)ci.next_scanline * (size_t)w * 3);
    jpeg_write_scanlines(&ci, &row, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  return mem;
}

/* dir + "/" + name into out; -1 (with a message) when it does not fit. */
static int join_path(char *out, size_t cap, const char *dir, const char *name) {
  int k = snprintf(out, cap, "%s/%s", dir, name);
  if (k < 0 || (size_t)k >= cap) {
    fprintf(stderr, "mkdemo: %s: path too long\n", dir);
    return -1;
  }
  return 0;
}

static int write_png(const char *path, const void *pixels, int w, int h, png_uint_32 format, int64_t mtime) {
  png_image im;
  memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  im.width = (png_uint_32)w;
  im.height = (png_uint_32)h;
  im.format = format;
  if (!png_image_write_to_file(&im, path, 0, pixels, 0, NULL)) {
    fprintf(stderr, "mkdemo: %s: %s\n", path, im.message);
    return -1;
  }
  set_mtime(path, mtime);
  return 0;
}

/* A half-size RGB copy of rgb (2x2 box filter). */
static uint8_t *half_size(const uint8_t *rgb, int w, int h) {
  int hw = w / 2, hh = h / 2;
  uint8_t *out = malloc((size_t)hw * (size_t)hh * 3);
  if (!out) return NULL;
  for (int y = 0; y < hh; y++)
    for (int x = 0; x < hw; x++)
      for (int c = 0; c < 3; c++) {
        const uint8_t *p = rgb + ((size_t)(2 * y) * (size_t)w + (size_t)(2 * x)) * 3 + c;
        unsigned sum = p[0] + p[3] + p[(size_t)w * 3] + p[(size_t)w * 3 + 3];
        out[((size_t)y * (size_t)hw + (size_t)x) * 3 + (size_t)c] = (uint8_t)((sum + 2) / 4);
      }
  return out;
}

static int write_extras(const scene *s, const char *dir, const uint8_t *first, const uint8_t *last, int64_t mtime) {
  char path[4096];
  int w = s->w, h = s->h, rc = 0;
  uint8_t *small = half_size(first, w, h);
  uint8_t *small2 = half_size(last, w, h);
  uint8_t *mask = malloc((size_t)w * (size_t)h);
  uint16_t *height = malloc((size_t)w * (size_t)h * sizeof *height);
  if (!small || !small2 || !mask || !height) {
    fprintf(stderr, "mkdemo: out of memory\n");
    rc = -1;
    goto done;
  }
  for (size_t k = 0; k < (size_t)w * (size_t)h; k++) mask[k] = s->kind[k] >= PX_WALL ? 255 : 0;
  for (int y = 0; y < h; y++) /* terrain height in millimetres above the road, 16-bit */
    for (int x = 0; x < w; x++) {
      float ground = (float)s->h - s->near_y[x] + 400.0f * fbm(s->seed ^ 0x66u, (float)x * 0.01f, (float)y * 0.01f, 5);
      float v = ground * 60.0f + (float)y * 3.0f;
      height[(size_t)y * (size_t)w + (size_t)x] = (uint16_t)(v > 65535 ? 65535 : v);
    }
  rc |= join_path(path, sizeof path, dir, "overview-first.png") || write_png(path, small, w / 2, h / 2, PNG_FORMAT_RGB, mtime);
  rc |= join_path(path, sizeof path, dir, "overview-last.png") || write_png(path, small2, w / 2, h / 2, PNG_FORMAT_RGB, mtime);
  rc |= join_path(path, sizeof path, dir, "buildings-mask.png") || write_png(path, mask, w, h, PNG_FORMAT_GRAY, mtime);
  rc |= join_path(path, sizeof path, dir, "terrain-height16.png") || write_png(path, height, w, h, PNG_FORMAT_LINEAR_Y, mtime);
done:
  free(small);
  free(small2);
  free(mask);
  free(height);
  return rc;
}

static int make_dir(const char *path) {
  if (mkdir(path, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "mkdemo: %s: cannot create folder: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

static int parse_int(const char *s, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

int main(int argc, char **argv) {
  int frames = 300, w = 640, h = 480, quality = 90, opt;
  uint64_t seed = 2024;
  while ((opt = getopt(argc, argv, "s:n:W:H:Q:")) != -1) {
    int bad = 0;
    switch (opt) {
    case 's': {
      char *end;
      errno = 0;
      seed = strtoull(optarg, &end, 10);
      bad = errno || end == optarg || *end;
      break;
    }
    case 'n': bad = parse_int(optarg, 1, 100000, &frames); break;
    case 'W': bad = parse_int(optarg, 128, 8192, &w); break;
    case 'H': bad = parse_int(optarg, 128, 8192, &h); break;
    case 'Q': bad = parse_int(optarg, 1, 100, &quality); break;
    default: bad = 1;
    }
    if (bad) {
      fprintf(stderr, "usage: mkdemo [-s SEED] [-n FRAMES] [-W WIDTH] [-H HEIGHT] [-Q QUALITY] OUTDIR\n");
      return 2;
    }
  }
  if (optind + 1 != argc) {
    fprintf(stderr, "usage: mkdemo [-s SEED] [-n FRAMES] [-W WIDTH] [-H HEIGHT] [-Q QUALITY] OUTDIR\n");
    return 2;
  }
  const char *out = argv[optind];
  char dir_tl[4096], dir_x[4096], path[4096];
  if (join_path(dir_tl, sizeof dir_tl, out, "timelapse") || join_path(dir_x, sizeof dir_x, out, "extras")) return 1;
  if (make_dir(out) || make_dir(dir_tl) || make_dir(dir_x)) return 1;

  scene s;
  size_t npx = (size_t)w * (size_t)h;
  float *img = malloc(npx * 3 * sizeof *img);
  uint8_t *rgb = malloc(npx * 3), *first = malloc(npx * 3);
  char log_path[4096];
  if (join_path(log_path, sizeof log_path, out, "capture-log.txt")) return 1;
  FILE *log = fopen(log_path, "w");
  if (!log) {
    fprintf(stderr, "mkdemo: %s: %s\n", log_path, strerror(errno));
    return 1;
  }
  if (scene_build(&s, w, h, seed, frames) != 0 || !img || !rgb || !first) {
    fprintf(stderr, "mkdemo: out of memory\n");
    return 1;
  }
  fprintf(log, "# camera cam01 (fixed), %dx%d, JPEG quality %d, one frame a minute\n", w, h, quality);
  fprintf(log, "# time (UTC)            file                  exposure  gain   wb     bytes  note\n");

  rng noise = {seed * 0x2545F4914F6CDD1Dull + 1};
  rng rep = {seed ^ 0xabcdefu};
  unsigned char *prev = NULL;
  unsigned long prev_len = 0;
  int repeats = 0, run_left = 0, rc = 0;
  uint64_t total = 0;
  for (int i = 0; i < frames && rc == 0; i++) {
    int64_t t = CAPTURE_EPOCH + (int64_t)i * 60;
    time_t tt = (time_t)t;
    struct tm tmv;
    char stamp[32];
    gmtime_r(&tt, &tmv);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    char name[32];
    snprintf(name, sizeof name, "frame_%05d.jpg", i);
    if (join_path(path, sizeof path, dir_tl, name)) {
      rc = -1;
      break;
    }
    if (run_left == 0 && prev && i + 1 < frames && rng_unit(&rep) < 0.025) run_left = rng_range(&rep, 2, 9);
    light l = light_at(i, frames);
    const char *note = "";
    if (run_left > 0) { /* the camera re-posted its last frame: the very same bytes */
      run_left--;
      repeats++;
      note = "repeat";
    } else {
      char comment[128];
      snprintf(comment, sizeof comment, "cam01 %s frame %d", stamp, i);
      render_frame(&s, img, rgb, i, frames, &noise);
      if (i == 0) memcpy(first, rgb, npx * 3);
      free(prev);
      prev = encode_jpeg(rgb, w, h, quality, comment, &prev_len);
    }
    rc = write_file(path, prev, prev_len);
    if (rc == 0) set_mtime(path, t);
    total += prev_len;
    fprintf(log, "%s  timelapse/frame_%05d.jpg  1/%-5d  %.2f  %4.0fK  %6lu  %s\n", stamp, i,
            (int)(250.0f * l.gain * l.gain), 1.0f / l.gain, 5600.0f - 14000.0f * (l.r - 1.0f), prev_len, note);
  }
  free(prev);
  int64_t t_end = CAPTURE_EPOCH + (int64_t)frames * 60;
  if (rc == 0) rc = write_extras(&s, dir_x, first, rgb, t_end);
  if (fclose(log) != 0) rc = -1;
  if (rc == 0) { /* the log, then the folders: every time in the set is a capture time */
    set_mtime(log_path, t_end);
    set_mtime(dir_x, t_end);
    set_mtime(dir_tl, t_end);
    set_mtime(out, t_end);
  }
  scene_free(&s);
  free(img);
  free(rgb);
  free(first);
  if (rc != 0) return 1;
  printf("mkdemo: %d JPEG frames (%d byte-identical repeats, %llu bytes), 4 PNGs and a text file in %s\n", frames,
         repeats, (unsigned long long)total, out);
  return 0;
}
