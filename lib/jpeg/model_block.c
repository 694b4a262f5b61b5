/* The block coder of the JPEG coefficient model: contexts and predictors for one block,
 * shared by the encoder and the decoder (one inline body, specialised for each).
 * docs/JPEG_MODEL.md explains the contexts; every predictor is exact integer arithmetic of
 * fixed width, so every build produces the same bytes.
 *
 * Order inside a block: the 7x7 non-zero count, the 7x7 coefficients (zigzag order), the
 * non-zero count and values of the top edge F(u,0) and the left edge F(0,v), then DC.
 * F(u,v): u horizontal, v vertical frequency; natural index v * 8 + u.
 */
#include <stdlib.h>
#include <string.h>

#include "jpeg/model.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Adaptation limits (the state count cap of each kind of context). */
enum {
  LIM_NZ = 255,
  LIM_EXP = 255,
  LIM_SIGN = 255,
  LIM_MANT = 255,
  LIM_DC = 255,
  PRIOR_N = 2, /* weight of the initial probability of the exponent contexts */
};

/* 1 at the zigzag positions of the 7x7 interior (u >= 1, v >= 1). */
static const uint8_t zz_interior[64] = {0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0,
                                        1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

static const uint8_t nat_to_zz[64] = {
    0,  1,  5,  6,  14, 15, 27, 28, 2,  4,  7,  13, 16, 26, 29, 42, 3,  8,  12, 17, 25, 30,
    41, 43, 9,  11, 18, 24, 31, 40, 44, 53, 10, 19, 23, 32, 39, 45, 52, 54, 20, 22, 33, 38,
    46, 51, 55, 60, 21, 34, 37, 47, 50, 56, 59, 61, 35, 36, 48, 49, 57, 58, 62, 63};

/* The 49 positions with u >= 1 and v >= 1, in zigzag order (natural indices). */
static const uint8_t interior_nat[49] = {9,  10, 17, 25, 18, 11, 12, 19, 26, 33, 41, 34, 27,
                                         20, 13, 14, 21, 28, 35, 42, 49, 57, 50, 43, 36, 29,
                                         22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31,
                                         39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

/* 1-D IDCT basis: round(2048 * C(u) / 2 * cos((2x + 1) u pi / 16)), C(0) = 1/sqrt(2).
 * idct_b[x][u]; idct_b[7 - x][u] = (-1)^u idct_b[x][u]. */
static const int32_t idct_b[8][8] = {
    {724, 1004, 946, 851, 724, 569, 392, 200},     {724, 851, 392, -200, -724, -1004, -946, -569},
    {724, 569, -392, -1004, -724, 200, 946, 851},  {724, 200, -946, -569, 724, 851, -392, -1004},
    {724, -200, -946, 569, 724, -851, -392, 1004}, {724, -569, -392, 1004, -724, -200, 946, -851},
    {724, -851, 392, 200, -724, 1004, -946, 569},  {724, -1004, 946, -851, 724, -569, 392, -200}};

/* Bucket of the neighbours' predicted 7x7 count (0..49). */
static const uint8_t nzb_tab[50] = {0, 1, 2, 3, 4, 5, 5, 6, 6, 7, 7, 7, 8, 8, 8, 8, 9,
                                    9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11,
                                    11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11};
/* Bucket of the 7x7 non-zeros still to code (1..49). */
static const uint8_t nzr_tab[50] = {0, 0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 6, 7, 7, 7, 7, 8,
                                    8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
                                    9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
/* Bucket of this block's 7x7 count, context of the edge counts. */
static const uint8_t n77_tab[50] = {0, 1, 2, 3, 3, 4, 4, 4, 5, 5, 5, 5, 5, 6, 6, 6, 6,
                                    6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};

/* Initial P(0) of the exponent bits by magnitude bucket (7x7) or prediction bucket
 * (edges) and bit, measured as the mean learned probability over corpus/photos; a fresh
 * context starts there with the weight of
 * PRIOR_N observations instead of at 1/2 (-0.27% on photos, -1.15% on timelapse). */
static const uint16_t prior_ac[JCM_PB][JCM_EMAX] = {
    {43172, 61092, 57413, 48832, 43207, 13718, 40621, 51860, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {35513, 58094, 56868, 53833, 55380, 9673, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {33672, 57007, 58261, 56075, 54137, 41814, 43049, 55863, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {26552, 50392, 56769, 56943, 53736, 48547, 44359, 49612, 56876, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {19119, 38379, 51281, 55763, 55295, 51284, 49022, 54077, 59220, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {12136, 23608, 39625, 50451, 54148, 54397, 54491, 56389, 62389, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {6677, 12899, 25016, 39601, 49716, 53660, 56354, 59956, 62413, 63926, 32768, 32768, 32768, 32768, 32768, 32768},
    {3727, 7102, 14011, 25817, 39967, 49539, 55577, 60180, 63173, 63926, 32768, 32768, 32768, 32768, 32768, 32768},
    {2036, 3886, 7728, 14487, 25880, 39656, 50603, 58280, 63320, 64321, 32768, 32768, 32768, 32768, 32768, 32768},
    {1167, 2068, 4191, 7593, 14259, 26082, 39732, 52956, 61545, 64734, 32768, 32768, 32768, 32768, 32768, 32768},
    {652, 1250, 1985, 3848, 6443, 12472, 24712, 42186, 54748, 63974, 32768, 32768, 32768, 32768, 32768, 32768},
    {1092, 2293, 1720, 3262, 8288, 13099, 15840, 32111, 64126, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
};
static const uint16_t prior_ed[JCM_PBE][JCM_EMAX] = {
    {7979, 42542, 46180, 49125, 50460, 52982, 53491, 33584, 64272, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {7021, 36663, 44766, 49005, 50825, 53243, 55660, 51859, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {6329, 29064, 42997, 50311, 51823, 53450, 54704, 57205, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {5604, 18620, 30182, 46118, 53116, 54039, 55650, 56117, 56876, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {4576, 10189, 17509, 28602, 49483, 56539, 56643, 55898, 60618, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {2914, 4870, 8908, 14214, 25351, 52472, 59738, 58858, 60655, 63762, 32768, 32768, 32768, 32768, 32768, 32768},
    {1369, 2082, 4066, 6943, 10817, 21175, 55903, 62410, 62198, 63560, 32768, 32768, 32768, 32768, 32768, 32768},
    {732, 1061, 1892, 3275, 5358, 8156, 18300, 58766, 64352, 62671, 32768, 32768, 32768, 32768, 32768, 32768},
    {443, 611, 1000, 1547, 2536, 3920, 5733, 13749, 61579, 64978, 32768, 32768, 32768, 32768, 32768, 32768},
    {358, 422, 504, 733, 1116, 1625, 2084, 2785, 9796, 64185, 64726, 32768, 32768, 32768, 32768, 32768},
    {395, 503, 418, 529, 566, 734, 1000, 1005, 950, 5559, 65169, 32768, 32768, 32768, 32768, 32768},
    {7164, 29221, 27516, 28316, 28682, 32504, 34559, 38187, 48600, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
};

/* Likewise for the 7x7 count tree, the edge count tree and the edge signs. */
static const uint16_t prior_nz[JCM_NZB][64] = {
    {32768, 65271, 65173, 63926, 65136, 48614, 7840, 32768, 64546, 49982, 43143, 61678, 32768, 15549, 32768, 32768, 60246, 50628, 42498, 40467, 45256, 9549, 42342, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 52820, 52504, 43970, 39803, 44371, 8660, 32768, 32768, 3391, 32768, 32768, 1264, 64272, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {32768, 65284, 65259, 63560, 65125, 9673, 40465, 32768, 63020, 60057, 32768, 32768, 32768, 32768, 32768, 32768, 50101, 57085, 52284, 43100, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 38464, 48072, 47736, 44379, 47445, 45231, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {32768, 65310, 65261, 32768, 64885, 29923, 32768, 32768, 58087, 61110, 32768, 32768, 32768, 32768, 32768, 32768, 36138, 56904, 53946, 40467, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 26734, 40877, 46997, 46878, 45437, 43335, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {32768, 65313, 65210, 32768, 64083, 45799, 32768, 32768, 48994, 60746, 39409, 32768, 32768, 32768, 32768, 32768, 25308, 52698, 55359, 42395, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 21964, 34410, 43259, 45945, 44372, 44241, 40966, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {32768, 65282, 65116, 32768, 61816, 47779, 32768, 32768, 37187, 61274, 32781, 57696, 32768, 32768, 32768, 32768, 18700, 47013, 53790, 48142, 35190, 32767, 15549, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 20070, 28941, 38379, 43348, 44654, 44199, 47002, 28256, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {32768, 65242, 64809, 32768, 55151, 57472, 32768, 32768, 25360, 59386, 46753, 44885, 32768, 32768, 32768, 32768, 16644, 38877, 49411, 49654, 42571, 35809, 33837, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 24472, 24403, 32868, 37873, 41170, 43100, 43136, 41984, 40003, 35792, 35148, 36753, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {32768, 65113, 63730, 64101, 40286, 60414, 51197, 32768, 14104, 55087, 55901, 47864, 33946, 32768, 32768, 32768, 13778, 27777, 43105, 49087, 47954, 44966, 39465, 35613, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 31945, 20362, 26643, 31545, 36661, 39987, 42053, 41351, 39830, 40022, 35027, 30063, 47138, 36734, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {32768, 64998, 60129, 64434, 23316, 61705, 57180, 32768, 9888, 45491, 55938, 50498, 46650, 32768, 32768, 32768, 17392, 19522, 34677, 44228, 46799, 44487, 41928, 43619, 42811, 40466, 32768, 32768, 32768, 32768, 32768, 32768, 46012, 18437, 21505, 26659, 30837, 35819, 38401, 39723, 40119, 40662, 39542, 37302, 37580, 38767, 37981, 34288, 34879, 49989, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {32768, 64657, 48523, 64736, 11947, 58940, 57876, 32768, 9846, 30998, 51192, 51465, 47795, 49433, 32768, 32768, 30830, 15068, 25749, 36732, 42560, 45600, 44060, 41835, 38520, 50833, 40465, 32768, 32768, 32768, 32768, 32768, 57301, 20659, 20384, 23196, 26801, 31227, 33013, 35807, 36808, 38572, 39972, 38379, 38689, 37928, 34962, 35049, 33752, 37870, 39955, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {32768, 63944, 31175, 65036, 7659, 54117, 57963, 32768, 15263, 19921, 42636, 47672, 47722, 50785, 32768, 32768, 39159, 17574, 20740, 29313, 35791, 40506, 41740, 40776, 41597, 41435, 37279, 43099, 32768, 32768, 32768, 32768, 53072, 22154, 23976, 24425, 24823, 27106, 30285, 32030, 34159, 35873, 36909, 36262, 36858, 37789, 37753, 38436, 39489, 37618, 39018, 38033, 39991, 39102, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {32768, 59880, 12541, 65223, 8553, 37590, 57671, 32768, 23019, 16865, 29395, 40788, 47750, 51658, 32768, 32768, 50046, 18595, 22783, 25325, 29072, 31455, 35333, 38608, 40670, 42152, 44232, 44786, 32768, 32768, 32768, 32768, 58207, 23937, 23326, 28634, 29042, 28179, 27745, 29336, 30166, 30517, 32022, 33263, 34395, 34837, 35413, 36167, 36915, 37183, 34945, 37084, 33179, 34209, 36527, 36848, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {32768, 38363, 4703, 62111, 12782, 17752, 51583, 65291, 27133, 21133, 21554, 27270, 39043, 49299, 65291, 32768, 44837, 22111, 26336, 29189, 25185, 26661, 28243, 31571, 34308, 36212, 38623, 43954, 65291, 32768, 32768, 32768, 58309, 32768, 17189, 31768, 31634, 28676, 28105, 29150, 28937, 30920, 29956, 31140, 29346, 30790, 31583, 33091, 32537, 34854, 34480, 34304, 35978, 35152, 35983, 33609, 17759, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
    {32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768},
};
static const uint16_t prior_ne[9][8] = {
    {32768, 65189, 55786, 64261, 40280, 59611, 60134, 32768},
    {32768, 64471, 42678, 64640, 22301, 54384, 58631, 32768},
    {32768, 61897, 29015, 64501, 15708, 46930, 56003, 62282},
    {32768, 54983, 15589, 63418, 11094, 32918, 52339, 61783},
    {32768, 38126, 8109, 60896, 9916, 22562, 46428, 59809},
    {32768, 22086, 5112, 53374, 11238, 16598, 35689, 55292},
    {32768, 11509, 3770, 40059, 28820, 12725, 27432, 47567},
    {32768, 6246, 4480, 28532, 55467, 11193, 22003, 36325},
    {32768, 52216, 41858, 46489, 41810, 35186, 39526, 34270},
};
static const uint16_t prior_es[3][JCM_PBE] = {
    {33060, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32768, 32870},
    {32768, 42457, 44900, 46536, 49427, 51424, 53314, 55812, 58625, 61889, 63310, 32768},
    {32768, 23658, 20946, 18442, 16340, 14293, 12208, 9712, 6808, 3382, 1009, 32768},
};

void jcm_ctx_init(jcm_ctx *m) {
  /* jcm_ctx holds only ac_prob arrays, so it is one array of ac_prob. */
  ac_prob_init((ac_prob *)(void *)m, sizeof *m / sizeof(ac_prob));
  for (int k = 0; k < 49; k++)
    for (int z = 0; z < JCM_NZR; z++)
      for (int b = 0; b < JCM_PB; b++)
        for (int i = 0; i < JCM_EMAX; i++) {
          m->ac_exp[k][z][b][i].p0 = prior_ac[b][i];
          m->ac_exp[k][z][b][i].n = PRIOR_N;
        }
  for (int e = 0; e < 2; e++)
    for (int t = 0; t < 7; t++)
      for (int z = 0; z < 7; z++)
        for (int b = 0; b < JCM_PBE; b++)
          for (int i = 0; i < JCM_EMAX; i++) {
            m->ed_exp[e][t][z][b][i].p0 = prior_ed[b][i];
            m->ed_exp[e][t][z][b][i].n = PRIOR_N;
          }
  for (int b = 0; b < JCM_NZB; b++)
    for (int i = 0; i < 64; i++) {
      m->nz77[b][i].p0 = prior_nz[b][i];
      m->nz77[b][i].n = PRIOR_N;
    }
  for (int e = 0; e < 2; e++)
    for (int z = 0; z < JCM_N77B; z++)
      for (int b = 0; b < 9; b++)
        for (int i = 0; i < 8; i++) {
          m->nze[e][z][b][i].p0 = prior_ne[b][i];
          m->nze[e][z][b][i].n = PRIOR_N;
        }
  for (int e = 0; e < 2; e++)
    for (int t = 0; t < 7; t++)
      for (int g = 0; g < 3; g++)
        for (int b = 0; b < JCM_PBE; b++) {
          m->ed_sign[e][t][g][b].p0 = prior_es[g][b];
          m->ed_sign[e][t][g][b].n = PRIOR_N;
        }
}

static inline unsigned bitlen32(uint32_t x) { return x ? 32u - (unsigned)__builtin_clz(x) : 0u; }

static inline uint32_t abs32(int32_t v) { return v < 0 ? 0u - (uint32_t)v : (uint32_t)v; }

/* Floor division by 2^s, 1 <= s <= 31, without shifting a negative value: bias into the
 * unsigned range, shift, unbias (2^31 is a multiple of 2^s). */
static inline int32_t asr32(int32_t v, unsigned s) {
  return (int32_t)(((uint32_t)v + 0x80000000u) >> s) - (int32_t)(0x80000000u >> s);
}

/* Dequantised coefficient, clamped to +-2^14 (real 8-bit JPEG values are far inside), so
 * that every sum below fits int32 whatever the input. */
static inline int32_t dequant(int32_t c, int32_t q) {
  if (c > 16384) c = 16384;
  if (c < -16384) c = -16384;
  int32_t v = c * q;
  if (v > 16384) v = 16384;
  if (v < -16384) v = -16384;
  return v;
}

static ALWAYS_INLINE unsigned cbit(ac_enc *e, ac_dec *d, bool enc, ac_prob *p, unsigned bit, unsigned lim) {
  if (enc) {
    ac_encode(e, p, bit, lim);
    return bit;
  }
  return ac_decode(d, p, lim);
}

/* One value: exponent e = bit length of |v| in unary (exp[0] is the zero flag), then sign,
 * then the e - 1 bits below the leading one. |v| <= 65535. */
static ALWAYS_INLINE int32_t code_value(ac_enc *e, ac_dec *d, bool enc, int32_t v, ac_prob *exp, ac_prob *sign,
                                        ac_prob (*mant)[JCM_EMAX]) {
  if (!cbit(e, d, enc, &exp[0], v != 0, LIM_EXP)) return 0;
  uint32_t mag = enc ? abs32(v) : 0;
  unsigned nbits = enc ? bitlen32(mag) : 0;
  unsigned i = 1;
  for (; i < JCM_EMAX; i++) {
    if (!cbit(e, d, enc, &exp[i], i < nbits, LIM_EXP)) break;
  }
  if (!enc) nbits = i;
  unsigned neg = cbit(e, d, enc, sign, v < 0, LIM_SIGN);
  if (!enc) mag = 1;
  for (unsigned b = nbits - 1; b-- > 0;) {
    unsigned bit = cbit(e, d, enc, &mant[nbits][b], (mag >> b) & 1u, LIM_MANT);
    if (!enc) mag = mag << 1 | bit;
  }
  return neg ? -(int32_t)mag : (int32_t)mag;
}

/* Like code_value, for a value with a prediction of magnitude pmag: each mantissa bit's
 * context also says how the value's bits so far compare with the prediction's. */
static ALWAYS_INLINE int32_t code_value_pred(ac_enc *e, ac_dec *d, bool enc, int32_t v, uint32_t pmag,
                                             ac_prob *exp, ac_prob *sign, ac_prob (*mant)[JCM_EMAX][6]) {
  if (!cbit(e, d, enc, &exp[0], v != 0, LIM_EXP)) return 0;
  uint32_t mag = enc ? abs32(v) : 0;
  unsigned nbits = enc ? bitlen32(mag) : 0;
  unsigned i = 1;
  for (; i < JCM_EMAX; i++) {
    if (!cbit(e, d, enc, &exp[i], i < nbits, LIM_EXP)) break;
  }
  if (!enc) nbits = i;
  unsigned neg = cbit(e, d, enc, sign, v < 0, LIM_SIGN);
  unsigned pbits = bitlen32(pmag);
  /* rel: 0 prediction shorter, 1 longer, 2/3 same length and equal so far (its next bit
   * 0/1), 4 the value's bits so far above the prediction's, 5 below. */
  unsigned rel = pbits < nbits ? 0u : pbits > nbits ? 1u : 2u;
  uint32_t got = 1;
  for (unsigned b = nbits - 1; b-- > 0;) {
    unsigned r = rel == 2 ? 2u + ((pmag >> b) & 1u) : rel;
    unsigned bit = cbit(e, d, enc, &mant[nbits][b][r], (mag >> b) & 1u, LIM_MANT);
    got = got << 1 | bit;
    if (rel == 2 && bit != ((pmag >> b) & 1u)) rel = bit ? 4u : 5u;
  }
  if (!enc) mag = got;
  return neg ? -(int32_t)mag : (int32_t)mag;
}

/* A value of n bits, most significant first, through a binary tree of contexts. */
static ALWAYS_INLINE unsigned code_tree(ac_enc *e, ac_dec *d, bool enc, ac_prob *tree, unsigned n, unsigned v) {
  unsigned node = 1;
  for (unsigned b = n; b-- > 0;) {
    unsigned bit = cbit(e, d, enc, &tree[node], (v >> b) & 1u, LIM_NZ);
    node = node << 1 | bit;
  }
  return node - (1u << n);
}

static inline int16_t clamp16(int32_t v, bool *bad) {
  if (v > 32767) {
    *bad = true;
    return 32767;
  }
  if (v < -32768) {
    *bad = true;
    return -32768;
  }
  return (int16_t)v;
}

/* Per-row state of one component inside a band. For every block of the previous and the
 * current row: its 7x7 count, the means of its pixel rows 6 and 7 (DC included) and the
 * partial IDCT of its bottom row (y = 7) along v, per u; for the block to the left: the
 * means of its pixel columns 6 and 7 and the partial IDCT of its right column along u, per
 * v. A mean is held as sum_j idct_b[x][j] * dq(j, 0) (for columns; rows likewise), which
 * is the pixel mean times 2^22 / 724; partials are >> 10. */
typedef struct rows_state {
  uint8_t *nz_prev, *nz_cur;
  int32_t *mean_prev, *mean_cur; /* 2 per block: rows 6, 7 */
  int32_t *part_prev, *part_cur; /* 8 per block */
  int32_t left_mean[2];          /* columns 6, 7 */
  int32_t left_part[8];
} rows_state;

/* The 1-D IDCT of in[j * stride], j < n (the rest zero), at positions 0, 1, 6 and 7. With
 * idct_b[7 - x][j] = (-1)^j idct_b[x][j], the even and odd halves give x and 7 - x. */
static inline void idct_ends(const int32_t *in, unsigned stride, unsigned n, int32_t out[4]) {
  int32_t e0 = 0, o0 = 0, e1 = 0, o1 = 0;
  for (unsigned j = 0; j < n; j += 2) {
    e0 += idct_b[0][j] * in[j * stride];
    e1 += idct_b[1][j] * in[j * stride];
  }
  for (unsigned j = 1; j < n; j += 2) {
    o0 += idct_b[0][j] * in[j * stride];
    o1 += idct_b[1][j] * in[j * stride];
  }
  out[0] = e0 + o0;
  out[1] = e1 + o1;
  out[2] = e1 - o1;
  out[3] = e0 - o0;
}

/* The partial IDCT at position 7 of each line, >> 10: per u along v (per_u) or per v
 * along u. Lines and positions beyond umax / vmax are zero. */
static inline void partial7(const int32_t *dq, bool per_u, unsigned umax, unsigned vmax, int32_t out[8]) {
  unsigned n_lines = per_u ? umax : vmax, n = per_u ? vmax : umax;
  unsigned line_step = per_u ? 1u : 8u, stride = per_u ? 8u : 1u;
  memset(out, 0, 8 * sizeof *out);
  for (unsigned l = 0; l < n_lines; l++) {
    const int32_t *in = dq + l * line_step;
    int32_t acc = 0;
    for (unsigned j = 0; j < n; j++) acc += idct_b[7][j] * in[j * stride];
    out[l] = asr32(acc, 10);
  }
}

/* round(num * recip / 2^32), halves away from zero; |num| * recip < 2^64. */
static inline int32_t mul_recip(int64_t num, uint64_t recip) {
  uint64_t mag = num < 0 ? (uint64_t)-num : (uint64_t)num;
  uint64_t r = (mag * recip + (1u << 31)) >> 32;
  return num < 0 ? -(int32_t)r : (int32_t)r;
}

static ALWAYS_INLINE ims_status code_rows(jpg_image *img, unsigned comp, uint32_t row0, uint32_t row1,
                                          jcm_ctx *m, ac_enc *e, ac_dec *d, bool enc, bool *bad) {
  const jpg_component *c = &img->comp[comp];
  const size_t w = c->w_blocks;
  if (w == 0 || row0 >= row1) return IMS_OK;
  int32_t qn[64];
  for (int i = 0; i < 64; i++) {
    uint16_t q = img->qt[c->tq & 3][nat_to_zz[i]];
    qn[i] = q ? (int32_t)q : 1;
  }
  /* Edge prediction = (partial transform difference) * 1024 / (idct_b[0][0] * q): as a
   * reciprocal of 2^42 / (724 q) < 2^33; the difference is < 2^19. */
  uint64_t edge_recip[2][8];
  for (unsigned t = 1; t < 8; t++) {
    edge_recip[0][t] = ((uint64_t)1 << 42) / (uint64_t)(idct_b[0][0] * qn[t]);
    edge_recip[1][t] = ((uint64_t)1 << 42) / (uint64_t)(idct_b[0][0] * qn[t * 8]);
  }
  /* DC prediction = estimate / (2 * 724 * q) from one side, / (4 * 724 * q) from two. */
  const uint64_t dc_recip1 = ((uint64_t)1 << 32) / (uint64_t)(2 * idct_b[0][0] * qn[0]);
  const uint64_t dc_recip2 = ((uint64_t)1 << 32) / (uint64_t)(4 * idct_b[0][0] * qn[0]);

  rows_state rs;
  uint8_t *nz_mem = calloc(2 * w, 1);
  int32_t *pix_mem = calloc(2 * w * 10, sizeof(int32_t));
  if (!nz_mem || !pix_mem) {
    free(nz_mem);
    free(pix_mem);
    return IMS_E_NOMEM;
  }
  rs.nz_prev = nz_mem;
  rs.nz_cur = nz_mem + w;
  rs.mean_prev = pix_mem;
  rs.mean_cur = pix_mem + w * 2;
  rs.part_prev = pix_mem + w * 4;
  rs.part_cur = pix_mem + w * 12;

  for (uint32_t by = row0; by < row1; by++) {
    for (size_t bx = 0; bx < w; bx++) {
      int16_t *blk = c->coef + ((size_t)by * w + bx) * 64;
      const int16_t *above = by > row0 ? blk - w * 64 : NULL;
      const int16_t *left = bx > 0 ? blk - 64 : NULL;
      const int16_t *al = above && left ? above - 64 : NULL;
      if (!enc) memset(blk, 0, 64 * sizeof *blk);

      /* 7x7 non-zero count, predicted from the neighbours' counts. */
      unsigned nzb;
      if (above && left)
        nzb = nzb_tab[(rs.nz_prev[bx] + rs.nz_cur[bx - 1] + 1u) / 2u];
      else if (above)
        nzb = nzb_tab[rs.nz_prev[bx]];
      else if (left)
        nzb = nzb_tab[rs.nz_cur[bx - 1]];
      else
        nzb = JCM_NZB - 1;
      unsigned nz77 = 0;
      if (enc)
        for (int i = 0; i < 64; i++) nz77 += (unsigned)(blk[i] != 0) & zz_interior[i];
      nz77 = code_tree(e, d, enc, m->nz77[nzb], 6, nz77);
      if (nz77 > 49) {
        *bad = true;
        nz77 = 49;
      }
      rs.nz_cur[bx] = (uint8_t)nz77;

      /* 7x7 coefficients; dq gets the dequantised values (natural order). */
      int32_t dq[64];
      memset(dq, 0, sizeof dq);
      unsigned umax = 0, vmax = 0; /* 1 + the highest u / v of a non-zero AC coefficient */
      unsigned left_n = nz77;
      for (unsigned k = 0; k < 49 && left_n; k++) {
        unsigned n = interior_nat[k];
        unsigned z = nat_to_zz[n];
        uint32_t mag;
        if (above && left)
          mag = 13u * (abs32(above[z]) + abs32(left[z])) + 6u * abs32(al[z]);
        else if (above)
          mag = 32u * abs32(above[z]);
        else if (left)
          mag = 32u * abs32(left[z]);
        else
          mag = 0;
        /* in-block: the already coded interior neighbours in frequency, (u-1, v), (u, v-1) */
        if ((n & 7u) > 1) mag += 16u * abs32(blk[nat_to_zz[n - 1]]);
        if ((n >> 3) > 1) mag += 16u * abs32(blk[nat_to_zz[n - 8]]);
        unsigned pb = bitlen32(mag >> 3);
        if (pb > JCM_PB - 1) pb = JCM_PB - 1;
        unsigned sctx = 0;
        if (above) sctx += above[z] > 0 ? 1u : above[z] < 0 ? 2u : 0u;
        if (left) sctx += left[z] > 0 ? 3u : left[z] < 0 ? 6u : 0u;
        int32_t v = code_value(e, d, enc, enc ? blk[z] : 0, m->ac_exp[k][nzr_tab[left_n]][pb], &m->ac_sign[k][sctx],
                               m->ac_mant[k]);
        if (v) {
          if (!enc) blk[z] = clamp16(v, bad);
          dq[n] = dequant(blk[z], qn[n]);
          if ((n & 7u) >= umax) umax = (n & 7u) + 1;
          if ((n >> 3) >= vmax) vmax = (n >> 3) + 1;
          left_n--;
        }
      }

      /* Edges: edge 0 = F(t,0) predicted from the block above, edge 1 = F(0,t) from the
       * block to the left, by continuity of the 1-D IDCT across the shared border: the
       * neighbour's partial transform at its far border minus this block's (without the
       * unknown edge term) at its near border, divided by the edge term's weight. */
      int32_t part_in[2][8]; /* this block's interior partials at row 0 (per u) / column 0 (per v) */
      for (unsigned t = 1; t < 8; t++) {
        int32_t a0 = 0, a1 = 0;
        for (unsigned j = 1; j < vmax; j++) a0 += idct_b[0][j] * dq[j * 8 + t];
        for (unsigned j = 1; j < umax; j++) a1 += idct_b[0][j] * dq[t * 8 + j];
        part_in[0][t] = asr32(a0, 10);
        part_in[1][t] = asr32(a1, 10);
      }
      for (unsigned edge = 0; edge < 2; edge++) {
        const bool have_nb = edge == 0 ? above != NULL : left != NULL;
        const int32_t *nb_part = edge == 0 ? rs.part_prev + bx * 8 : rs.left_part;
        const unsigned step = edge == 0 ? 1u : 8u; /* natural index of position t: t * step */
        /* All seven predictions first: how many of them are non-zero is the best context
         * of the edge's non-zero count. */
        int32_t pred[8] = {0};
        unsigned pred_nz = 8; /* 8: no neighbour */
        if (have_nb) {
          pred_nz = 0;
          for (unsigned t = 1; t < 8; t++) {
            int32_t p = mul_recip((int64_t)nb_part[t] - part_in[edge][t], edge_recip[edge][t]);
            if (p > 32767) p = 32767;
            if (p < -32767) p = -32767;
            pred[t] = p;
            pred_nz += p != 0;
          }
        }
        unsigned nze = 0;
        if (enc)
          for (unsigned t = 1; t < 8; t++) nze += blk[nat_to_zz[t * step]] != 0;
        nze = code_tree(e, d, enc, m->nze[edge][n77_tab[nz77]][pred_nz], 3, nze);
        for (unsigned t = 1; t < 8 && nze; t++) {
          unsigned n = t * step;
          unsigned pbe = JCM_PBE - 1, sgn = 0;
          int32_t p = pred[t];
          if (have_nb) {
            pbe = bitlen32(abs32(p));
            if (pbe > JCM_PBE - 2) pbe = JCM_PBE - 2;
            sgn = p > 0 ? 1u : p < 0 ? 2u : 0u;
          }
          unsigned z = nat_to_zz[n];
          int32_t v = code_value_pred(e, d, enc, enc ? blk[z] : 0, abs32(p), m->ed_exp[edge][t - 1][nze - 1][pbe],
                                      &m->ed_sign[edge][t - 1][sgn][pbe], m->ed_mant[edge][t - 1]);
          if (v) {
            if (!enc) blk[z] = clamp16(v, bad);
            dq[n] = dequant(blk[z], qn[n]);
            if ((n & 7u) >= umax) umax = (n & 7u) + 1;
            if ((n >> 3) >= vmax) vmax = (n >> 3) + 1;
            nze--;
          }
        }
      }

      /* DC: the mean of each border row / column of pixels depends on the edge
       * coefficients only. The neighbour's last two rows (columns) extrapolated to the
       * border and this block's first two must meet: 1.5 n7 - 0.5 n6 = 1.5 c0 - 0.5 c1 with
       * c = c_ac + 724 dq00, so 3 n7 - n6 - 3 c0 + c1 = 2 * 724 * dq00 (Lepton's gradient
       * predictor, averaged along the border). The two sides' disagreement is the context. */
      int32_t ce[4], re[4]; /* columns (rows) 0, 1, 6, 7 without DC */
      idct_ends(dq, 1, umax, ce);
      idct_ends(dq, 8, vmax, re);
      int32_t pred = 0;
      unsigned dcb = JCM_DCB - 1;
      {
        int64_t est_l = 0, est_a = 0;
        if (left) est_l = 3 * (int64_t)rs.left_mean[1] - rs.left_mean[0] - 3 * (int64_t)ce[0] + ce[1];
        if (above) {
          const int32_t *am = rs.mean_prev + bx * 2;
          est_a = 3 * (int64_t)am[1] - am[0] - 3 * (int64_t)re[0] + re[1];
        }
        int32_t p = 0;
        if (left && above) {
          p = mul_recip(est_l + est_a, dc_recip2);
          int64_t df = est_l - est_a;
          int32_t conf = mul_recip(df < 0 ? -df : df, dc_recip1);
          dcb = bitlen32((uint32_t)conf);
          if (dcb > JCM_DCB - 3) dcb = JCM_DCB - 3;
        } else if (left || above) {
          p = mul_recip(est_l + est_a, dc_recip1);
          dcb = JCM_DCB - 2;
        }
        if (p > 32767) p = 32767;
        if (p < -32767) p = -32767;
        pred = p;
      }
      int32_t r = code_value(e, d, enc, enc ? blk[0] - pred : 0, m->dc_exp[dcb], &m->dc_sign[dcb], m->dc_mant);
      if (!enc) blk[0] = clamp16(pred + r, bad);

      /* What the neighbours to come need: border means with DC, and partials. */
      int32_t dc_t = idct_b[0][0] * dequant(blk[0], qn[0]);
      rs.left_mean[0] = ce[2] + dc_t;
      rs.left_mean[1] = ce[3] + dc_t;
      rs.mean_cur[bx * 2] = re[2] + dc_t;
      rs.mean_cur[bx * 2 + 1] = re[3] + dc_t;
      partial7(dq, false, umax, vmax, rs.left_part);
      partial7(dq, true, umax, vmax, rs.part_cur + bx * 8);
    }
    uint8_t *tn = rs.nz_prev;
    rs.nz_prev = rs.nz_cur;
    rs.nz_cur = tn;
    int32_t *tp = rs.mean_prev;
    rs.mean_prev = rs.mean_cur;
    rs.mean_cur = tp;
    tp = rs.part_prev;
    rs.part_prev = rs.part_cur;
    rs.part_cur = tp;
  }
  free(nz_mem);
  free(pix_mem);
  return IMS_OK;
}

ims_status jcm_encode_rows(const jpg_image *img, unsigned comp, uint32_t row0, uint32_t row1, jcm_ctx *m,
                           ac_enc *enc) {
  bool bad = false;
  /* The encoder only reads img; code_rows writes coefficients only when decoding. */
  return code_rows((jpg_image *)(uintptr_t)img, comp, row0, row1, m, enc, NULL, true, &bad);
}

ims_status jcm_decode_rows(jpg_image *img, unsigned comp, uint32_t row0, uint32_t row1, jcm_ctx *m, ac_dec *dec,
                           bool *bad) {
  return code_rows(img, comp, row0, row1, m, NULL, dec, false, bad);
}
