/*
 * Stop-and-wait reliability. The requester numbers requests and recognises
 * the one response that answers the outstanding request, so stale or
 * duplicated answers are ignored. The responder keeps the last request it
 * handled with the wire bytes of its answer, so a retried request is answered
 * again without running twice. Timeouts and retry counts belong to the caller,
 * which owns the clock.
 */
#include "link/tn_link.h"

void tn_link_requester_init(tn_link_requester* req, uint16_t first_seq) {
  if (req == NULL) return;
  req->next_seq = first_seq;
  req->seq = 0;
  req->type = 0;
  req->waiting = 0;
}

tn_status tn_link_requester_start(tn_link_requester* req, uint8_t type,
                                  uint8_t flags, uint16_t* seq) {
  if (req == NULL || seq == NULL) return TN_ERR_NULL;
  if (flags & (uint8_t)~TN_LINK_FLAG_ACK_REQUESTED) return TN_ERR_ARG;
  if (req->waiting) return TN_ERR_BUSY;
  *seq = req->next_seq;
  req->next_seq = (uint16_t)(req->next_seq + 1u);
  if (tn_link_expects_response(type, flags)) {
    req->seq = *seq;
    req->type = type;
    req->waiting = 1;
  }
  return TN_OK;
}

tn_status tn_link_requester_accept(tn_link_requester* req,
                                   const tn_link_frame* response) {
  if (req == NULL || response == NULL) return TN_ERR_NULL;
  if (!(response->flags & TN_LINK_FLAG_RESPONSE)) return TN_ERR_ARG;
  if (!req->waiting) return TN_ERR_STATE;
  if (response->seq != req->seq) return TN_ERR_SEQUENCE;
  if (response->type == TN_LINK_MSG_ACK || response->type == TN_LINK_MSG_NACK) {
    tn_link_ack ack;
    tn_status st =
        response->type == TN_LINK_MSG_ACK
            ? tn_link_ack_decode(response->payload, response->payload_len, &ack)
            : tn_link_nack_decode(response->payload, response->payload_len,
                                  &ack);
    if (st != TN_OK) return TN_ERR_MSG_MALFORMED;
    if (ack.acked_seq != req->seq) return TN_ERR_SEQUENCE;
    if (ack.acked_type != req->type) return TN_ERR_MSG_TYPE;
    /* A request with a typed reply is answered by that reply or a NACK,
     * never by an ACK. */
    if (response->type == TN_LINK_MSG_ACK &&
        tn_link_reply_type(req->type) != 0) {
      return TN_ERR_MSG_TYPE;
    }
  } else if (response->type == 0 ||
             response->type != tn_link_reply_type(req->type)) {
    return TN_ERR_MSG_TYPE;
  }
  req->waiting = 0;
  return TN_OK;
}

void tn_link_requester_cancel(tn_link_requester* req) {
  if (req != NULL) req->waiting = 0;
}

void tn_link_responder_init(tn_link_responder* rsp) {
  if (rsp == NULL) return;
  rsp->valid = 0;
  rsp->type = 0;
  rsp->seq = 0;
  rsp->crc = 0;
  rsp->response_len = 0;
}

int tn_link_responder_repeat(const tn_link_responder* rsp,
                             const tn_link_frame* request,
                             const uint8_t** response, size_t* response_len) {
  if (rsp == NULL || request == NULL || response == NULL ||
      response_len == NULL) {
    return 0;
  }
  if (!rsp->valid || (request->flags & TN_LINK_FLAG_RESPONSE)) return 0;
  if (request->seq != rsp->seq || request->type != rsp->type ||
      request->crc != rsp->crc) {
    return 0;
  }
  *response = rsp->response;
  *response_len = rsp->response_len;
  return 1;
}

uint8_t* tn_link_responder_begin(tn_link_responder* rsp) {
  if (rsp == NULL) return NULL;
  rsp->valid = 0;
  rsp->response_len = 0;
  return rsp->response;
}

tn_status tn_link_responder_finish(tn_link_responder* rsp,
                                   const tn_link_frame* request,
                                   size_t response_len) {
  if (rsp == NULL || request == NULL) return TN_ERR_NULL;
  if (response_len > sizeof(rsp->response)) return TN_ERR_ARG;
  rsp->type = request->type;
  rsp->seq = request->seq;
  rsp->crc = request->crc;
  rsp->response_len = (uint16_t)response_len;
  rsp->valid = 1;
  return TN_OK;
}
