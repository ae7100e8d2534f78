// Graph-level rewrites of the intermediate representation (private to
// server/models), run once after import:
//   1. batch normalization folded into the convolution or dense layer
//      before it (weights and bias scaled per output channel);
//   2. a per-channel constant Add folded into the bias before it;
//   3. whatever could not be folded becomes a 1x1 depthwise convolution
//      (batch normalization, constant add);
//   4. Relu / Clip fused into the op before it as its output clamp (conv,
//      depthwise, dense, pools, add, and another clamp); the others stay
//      standalone clamps;
//   5. ops and tensors the output does not depend on are removed.
// A fold applies only when the intermediate tensor has no other reader
// and is not the graph output.
#ifndef TINYFLEET_SERVER_MODELS_OPTIMIZE_H_
#define TINYFLEET_SERVER_MODELS_OPTIMIZE_H_

#include "common/status.h"
#include "server/models/graph.h"

namespace tinyfleet::models {

Status Optimize(Graph* graph);

}  // namespace tinyfleet::models

#endif  // TINYFLEET_SERVER_MODELS_OPTIMIZE_H_
