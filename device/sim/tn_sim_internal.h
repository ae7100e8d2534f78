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

/* Training (tn_sim_train.c). open: validates cfg->train and, when it names
 * a data source, enables training (requires model updates: TN_ERR_ARG
 * otherwise, or for missing buffers). handles: 1 for the training request
 * types. handle: executes one of them like tn_ota_handle (typed reply in
 * `reply`, else ACK on TN_OK, NACK with the status otherwise). poll: runs
 * one slice of a running job. */
tn_status tn_sim_train_open(tn_sim_node* node, const tn_sim_config* cfg);
int tn_sim_train_handles(uint8_t type);
tn_status tn_sim_train_handle(tn_sim_node* node, const tn_link_frame* req,
                              uint8_t* reply_type, uint8_t* reply, size_t cap,
                              size_t* reply_len);
void tn_sim_train_poll(tn_sim_node* node);

#endif /* TN_SIM_TN_SIM_INTERNAL_H_ */
