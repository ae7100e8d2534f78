/*
 * Self-learning, step one (see tn_train.h): pseudo-labels unlabelled tail
 * inputs recorded on the node by the similarity of their embeddings to the
 * user's enrolled prototypes, keeping only confident ones. Step two is
 * tn_tail_fit on the accepted inputs.
 */
#include "train/tn_train_internal.h"

tn_status tn_selflearn_label(tn_tail* t, const tn_protos* p,
                             uint32_t embed_layer, float min_score,
                             float min_margin, const float* inputs,
                             uint32_t count, uint32_t* labels,
                             uint32_t* accepted, float* embed_scratch,
                             uint32_t embed_capacity) {
  if (!t || !p || !labels || !embed_scratch) return TN_ERR_NULL;
  if (count && !inputs) return TN_ERR_NULL;
  if (!t->bound || !p->sums) return TN_ERR_STATE;
  if (embed_layer >= t->num_layers) return TN_ERR_ARG;
  if (tn_train_shape_count(t->shapes[embed_layer + 1u]) != p->dim) {
    return TN_ERR_ARG;
  }
  if (embed_capacity < p->dim) return TN_ERR_BUFFER_TOO_SMALL;
  const uint32_t in_len = tn_train_shape_count(t->shapes[0]);
  uint32_t n_ok = 0;
  for (uint32_t i = 0; i < count; ++i) {
    tn_status st = tn_tail_embed(t, inputs + (size_t)i * in_len, embed_layer,
                                 embed_scratch, embed_capacity, NULL);
    if (st != TN_OK) return st;
    st = tn_protos_pseudo_label(p, embed_scratch, min_score, min_margin,
                                &labels[i], NULL, NULL);
    if (st != TN_OK) return st;
    n_ok += labels[i] != TN_PROTOS_UNKNOWN;
  }
  if (accepted) *accepted = n_ok;
  return TN_OK;
}
