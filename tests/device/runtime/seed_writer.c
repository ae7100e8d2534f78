/*
 * Writes the seed corpus of the blob parser fuzzer: a handful of valid
 * blobs made by the builder (int8 model, FP32 tail, every op type, signed,
 * every layer tiled), each with a canary whose expected output the
 * executor computed. Host-only tool; usage:
 *   runtime_seed_writer <output directory>
 */
#include <stdio.h>
#include <string.h>

#include "model_fixture.h"

static fixture_model g_model;
static uint8_t g_blob[128 * 1024];

static uint64_t g_arena[256 * 1024 / 8];

/* Plans (with an optional L1 budget), builds once to compute the canary's
 * expected output with the executor, then builds the seed with it. */
static int write_blob(const char* dir, const char* name, tn_target target,
                      int signed_blob, uint32_t l1_budget) {
  size_t size = 0;
  static int8_t in[8192];
  static uint8_t out[4096];
  for (size_t i = 0; i < sizeof(in); ++i) in[i] = (int8_t)(i * 13u);
  tn_plan_options opt;
  memset(&opt, 0, sizeof(opt));
  opt.l1_budget = l1_budget;
  tn_blob blob;
  tn_model model;
  tn_tensor_view view;
  size_t need = 0;
  int ok =
      tn_plan_memory(&g_model.graph, g_model.has_tail ? &g_model.tail : NULL,
                     target, &opt, g_model.placements, g_model.tiles,
                     &g_model.plan, &g_model.report) == TN_OK &&
      fx_build(&g_model, target, 0, NULL, NULL, g_blob, sizeof(g_blob),
               &size) == TN_OK &&
      tn_blob_parse(g_blob, size, NULL, &blob) == TN_OK &&
      tn_model_arena_size(&blob, NULL, &need) == TN_OK &&
      need <= sizeof(g_arena) &&
      tn_model_init(&model, &blob, g_arena, need, NULL) == TN_OK &&
      tn_model_input(&model, &view) == TN_OK;
  if (ok) {
    memcpy(view.data, in, view.bytes);
    ok = tn_model_run(&model) == TN_OK &&
         tn_model_output(&model, &view) == TN_OK && view.bytes <= sizeof(out);
  }
  if (ok) {
    memcpy(out, view.data, view.bytes);
    ok = fx_build(&g_model, target, signed_blob, in, out, g_blob,
                  sizeof(g_blob), &size) == TN_OK;
  }
  if (!ok) {
    fprintf(stderr, "cannot build %s\n", name);
    return 1;
  }
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE* f = fopen(path, "wb");
  if (f == NULL || fwrite(g_blob, 1, size, f) != size) {
    fprintf(stderr, "cannot write %s\n", path);
    if (f) fclose(f);
    return 1;
  }
  fclose(f);
  printf("%s: %lu bytes\n", path, (unsigned long)size);
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <output directory>\n", argv[0]);
    return 2;
  }
  int failed = 0;
  fx_small_cnn(&g_model, 1, 0);
  failed |= write_blob(argv[1], "small_cnn_gap9.tnmb", TN_TARGET_GAP9, 0, 0);
  fx_small_cnn(&g_model, 2, 1);
  failed |=
      write_blob(argv[1], "small_cnn_tail_host.tnmb", TN_TARGET_HOST, 0, 0);
  fx_small_cnn(&g_model, 3, 1);
  failed |=
      write_blob(argv[1], "small_cnn_signed_gap9.tnmb", TN_TARGET_GAP9, 1, 0);

  fixture_model* m = &g_model;
  fx_init(m, 4, 9, 9, 4);
  uint16_t x = m->graph.input_tensor;
  uint16_t a = fx_conv(m, TN_OP_CONV2D, x, 8, 3, 2, 1, 4, -128, 127);
  uint16_t b = fx_conv(m, TN_OP_DWCONV2D, a, 8, 3, 1, 1, 2, -128, 127);
  uint16_t c = fx_conv(m, TN_OP_PWCONV, b, 8, 1, 1, 0, 8, -128, 127);
  uint16_t d = fx_add(m, a, c);
  uint16_t e = fx_pool(m, TN_OP_AVGPOOL, d, 3, 1, 1);
  uint16_t f = fx_global_avgpool(m, e);
  uint16_t g = fx_reshape(m, f, 1, 1, 8);
  uint16_t h = fx_fc(m, g, 5, 8);
  uint16_t s = fx_softmax(m, h);
  uint16_t t = fx_cut(m, s);
  uint16_t y = fx_fc_f32(m, t, 3);
  fx_finish(m, y);
  failed |= write_blob(argv[1], "all_ops_gap8.tnmb", TN_TARGET_GAP8, 0, 0);

  /* Every layer split into tiles by a small L1 budget. */
  fx_init(m, 5, 14, 12, 6);
  a = fx_conv(m, TN_OP_CONV2D, m->graph.input_tensor, 10, 3, 1, 1, 4, -128,
              127);
  b = fx_conv(m, TN_OP_DWCONV2D, a, 10, 3, 1, 1, 2, -128, 127);
  c = fx_conv(m, TN_OP_PWCONV, b, 10, 1, 1, 0, 4, -128, 127);
  d = fx_add(m, a, c);
  e = fx_pool(m, TN_OP_AVGPOOL, d, 3, 1, 1);
  g = fx_global_avgpool(m, e);
  f = fx_pool(m, TN_OP_MAXPOOL, e, 2, 2, 0);
  h = fx_fc(m, f, 10, 4);
  y = fx_add(m, h, g);
  fx_finish(m, y);
  failed |= write_blob(argv[1], "tiled_gap8.tnmb", TN_TARGET_GAP8, 0, 1500);
  return failed;
}
