/*
 * Private to the virtual node: the seam between the request handler
 * (tn_sim_node.c) and the telemetry sender (tn_sim_telemetry.c).
 */
#ifndef TN_SIM_TN_SIM_INTERNAL_H_
#define TN_SIM_TN_SIM_INTERNAL_H_

#include "sim/tn_sim.h"

/* Opens the sealing state, the accumulator (interval starting at time 0),
 * the synthetic workload and the node's requester. Called by
 * tn_sim_node_open after the identity is loaded, when the configuration
 * asks for telemetry. Errors: those of tn_sealer_open. */
tn_status tn_sim_telemetry_open(tn_sim_node* node, const tn_sim_config* cfg);

/* Offers a response frame to the telemetry sender. Returns 1 when it
 * answered the outstanding TELEMETRY request (and was consumed), 0 when it
 * is not the sender's. */
int tn_sim_telemetry_response(tn_sim_node* node, const tn_link_frame* frame);

#endif /* TN_SIM_TN_SIM_INTERNAL_H_ */
