#include "agent/link/node_link.h"

#include <boost/asio/post.hpp>
#include <cstring>
#include <future>
#include <random>

#include "common/encoding.h"
#include "secure/tn_secure.h"

namespace tinyfleet::agent {
namespace asio = boost::asio;

namespace {
Status LinkError(tn_status st, const char* what) {
  return Status(StatusCode::kUnavailable,
                std::string(what) + ": " + tn_status_str(st));
}

v1::SlotState ToSlotState(uint8_t s) {
  switch (s) {
    case TN_LINK_SLOT_EMPTY:
      return v1::SLOT_STATE_EMPTY;
    case TN_LINK_SLOT_VALID:
      return v1::SLOT_STATE_VALID;
    case TN_LINK_SLOT_ACTIVE:
      return v1::SLOT_STATE_ACTIVE;
    case TN_LINK_SLOT_PENDING_CONFIRM:
      return v1::SLOT_STATE_PENDING_CONFIRM;
    case TN_LINK_SLOT_FAILED:
      return v1::SLOT_STATE_FAILED;
    default:
      return v1::SLOT_STATE_UNSPECIFIED;
  }
}
}  // namespace

v1::NodeInfo ToNodeInfo(const tn_link_hello_reply& r, const char* transport) {
  v1::NodeInfo n;
  n.set_hardware_id(HexEncode(
      std::span<const uint8_t>(r.hardware_id, TN_LINK_HARDWARE_ID_SIZE)));
  n.set_firmware_version(r.firmware_version);
  switch (r.target) {
    case TN_TARGET_HOST:
      n.set_target(v1::TARGET_PROFILE_HOST);
      break;
    case TN_TARGET_GAP8:
      n.set_target(v1::TARGET_PROFILE_GAP8);
      break;
    case TN_TARGET_GAP9:
      n.set_target(v1::TARGET_PROFILE_GAP9);
      break;
    default:
      break;
  }
  n.set_capabilities(r.capabilities);
  n.set_transport(transport);
  for (uint8_t i = 0; i < r.slot_count && i < TN_LINK_MAX_SLOTS; ++i) {
    *n.add_slots() = ToModelSlot(i, r.slots[i]);
  }
  return n;
}

std::string NodeRefusalCode(const Status& s) {
  const std::string& m = s.message();
  size_t at = m.rfind("TN_ERR_");
  return at == std::string::npos ? std::string() : m.substr(at);
}

v1::ModelSlot ToModelSlot(uint32_t index, const tn_link_slot& status) {
  v1::ModelSlot s;
  s.set_name(std::string(1, static_cast<char>('A' + index)));
  s.set_state(ToSlotState(status.state));
  bool zero = true;
  for (uint8_t b : status.model_id) zero = zero && b == 0;
  if (!zero) {
    s.set_model_id(HexEncode(
        std::span<const uint8_t>(status.model_id, TN_LINK_MODEL_ID_SIZE)));
  }
  s.set_model_version(status.model_version);
  return s;
}

std::shared_ptr<NodeLink> NodeLink::Create(
    Strand strand, std::unique_ptr<ByteTransport> transport,
    NodeLinkOptions options) {
  return std::shared_ptr<NodeLink>(
      new NodeLink(strand, std::move(transport), options));
}

NodeLink::NodeLink(Strand strand, std::unique_ptr<ByteTransport> transport,
                   NodeLinkOptions options)
    : strand_(strand),
      transport_(std::move(transport)),
      options_(options),
      timer_(strand) {
  tn_link_decoder_init(&decoder_);
  tn_link_responder_init(&responder_);
}

NodeLink::~NodeLink() = default;

void NodeLink::OnDisconnected(std::function<void(const Status&)> fn) {
  asio::post(strand_, [self = shared_from_this(), fn = std::move(fn)] {
    self->on_disconnected_ = fn;
  });
}

void NodeLink::Connect(std::function<void(Result<v1::NodeInfo>)> done) {
  asio::post(strand_, [self = shared_from_this(), done = std::move(done)] {
    if (self->closed_.load())
      return done(UnavailableError("node link is closed"));
    std::weak_ptr<NodeLink> weak = self;
    self->transport_->Open(
        [weak, done](const Status& opened) {
          auto link = weak.lock();
          if (!link) return;
          if (!opened.ok()) return done(opened);
          link->open_ = true;
          ++link->connection_;
          tn_link_decoder_init(&link->decoder_);
          tn_link_responder_init(&link->responder_);
          std::random_device rd;
          tn_link_requester_init(&link->requester_,
                                 static_cast<uint16_t>(rd()));
          tn_link_hello hello{TN_LINK_VERSION, TN_LINK_MAX_PAYLOAD};
          std::vector<uint8_t> payload(8);
          size_t n = 0;
          tn_status st =
              tn_link_hello_encode(&hello, payload.data(), payload.size(), &n);
          if (st != TN_OK) return done(LinkError(st, "encode hello"));
          payload.resize(n);
          link->Submit(TN_LINK_MSG_HELLO, std::move(payload),
                       [weak, done](Result<std::vector<uint8_t>> reply) {
                         auto l = weak.lock();
                         if (!l) return;
                         if (!reply.ok()) return done(reply.status());
                         tn_link_hello_reply r;
                         tn_status dst = tn_link_hello_reply_decode(
                             reply->data(), reply->size(), &r);
                         if (dst != TN_OK)
                           return done(LinkError(dst, "hello reply"));
                         l->peer_max_payload_ = r.max_payload;
                         done(ToNodeInfo(r, l->transport_->kind()));
                       });
        },
        [weak](const uint8_t* data, size_t size) {
          if (auto l = weak.lock()) l->OnBytes(data, size);
        },
        [weak](const Status& why) {
          auto l = weak.lock();
          if (!l) return;
          l->open_ = false;
          l->FailAll(why);
          if (l->on_disconnected_) l->on_disconnected_(why);
        });
  });
}

void NodeLink::Ping(std::function<void(const Status&)> done) {
  asio::post(strand_, [self = shared_from_this(), done = std::move(done)] {
    tn_link_ping ping{0x5eed0000u +
                      static_cast<uint32_t>(self->stats_.requests)};
    std::vector<uint8_t> payload(4);
    size_t n = 0;
    (void)tn_link_ping_encode(&ping, payload.data(), payload.size(), &n);
    uint32_t nonce = ping.nonce;
    self->Submit(
        TN_LINK_MSG_PING, std::move(payload),
        [done, nonce](Result<std::vector<uint8_t>> reply) {
          if (!reply.ok()) return done(reply.status());
          tn_link_ping pong;
          if (tn_link_ping_decode(reply->data(), reply->size(), &pong) !=
                  TN_OK ||
              pong.nonce != nonce) {
            return done(DataLossError("node answered PING with a wrong PONG"));
          }
          done(Status::Ok());
        });
  });
}

void NodeLink::Call(uint8_t type, std::vector<uint8_t> payload,
                    std::function<void(Result<std::vector<uint8_t>>)> done) {
  if (closed_.load()) {
    done(UnavailableError("node link is closed"));
    return;
  }
  asio::post(strand_,
             [self = shared_from_this(), type, payload = std::move(payload),
              done = std::move(done)]() mutable {
               self->Submit(type, std::move(payload), std::move(done));
             });
}

std::chrono::milliseconds NodeLink::CallWaitBound() const {
  auto one = options_.response_timeout * (options_.retries + 1);
  return std::max<std::chrono::milliseconds>(options_.call_wait_bound, 8 * one);
}

Result<std::vector<uint8_t>> NodeLink::CallAndWait(
    uint8_t type, std::vector<uint8_t> payload) {
  // Shared: the answer may come after the caller gave up.
  auto answer = std::make_shared<std::promise<Result<std::vector<uint8_t>>>>();
  auto f = answer->get_future();
  Call(type, std::move(payload), [answer](Result<std::vector<uint8_t>> r) {
    answer->set_value(std::move(r));
  });
  if (f.wait_for(CallWaitBound()) != std::future_status::ready) {
    return DeadlineExceededError(std::string("no answer to ") +
                                 tn_link_msg_type_str(type) + " within " +
                                 std::to_string(CallWaitBound().count()) +
                                 " ms (the link is closing or overloaded)");
  }
  return f.get();
}

void NodeLink::KeyInfo(
    std::function<void(Result<tn_link_key_info_reply>)> done) {
  asio::post(strand_, [self = shared_from_this(), done = std::move(done)] {
    std::vector<uint8_t> payload(4);
    size_t n = 0;
    (void)tn_link_key_info_encode(payload.data(), payload.size(), &n);
    payload.resize(n);
    self->Submit(TN_LINK_MSG_KEY_INFO, std::move(payload),
                 [done](Result<std::vector<uint8_t>> reply) {
                   if (!reply.ok()) return done(reply.status());
                   tn_link_key_info_reply r;
                   tn_status st = tn_link_key_info_reply_decode(
                       reply->data(), reply->size(), &r);
                   if (st != TN_OK)
                     return done(LinkError(st, "key info reply"));
                   done(r);
                 });
  });
}

void NodeLink::SetGatewayKey(const std::string& gateway_public_key,
                             const std::string& device_id,
                             std::function<void(const Status&)> done) {
  tn_link_set_gateway_key m{};
  if (gateway_public_key.size() != TN_LINK_PUBLIC_KEY_SIZE ||
      device_id.empty() || device_id.size() > TN_LINK_DEVICE_ID_MAX) {
    done(InvalidArgumentError(
        "gateway key must be 65 bytes and the device id 1..32"));
    return;
  }
  std::memcpy(m.gateway_public_key, gateway_public_key.data(),
              TN_LINK_PUBLIC_KEY_SIZE);
  std::memcpy(m.device_id, device_id.data(), device_id.size());
  m.device_id[device_id.size()] = 0;
  std::vector<uint8_t> payload(TN_LINK_MAX_PAYLOAD);
  size_t n = 0;
  tn_status st =
      tn_link_set_gateway_key_encode(&m, payload.data(), payload.size(), &n);
  if (st != TN_OK) {
    done(LinkError(st, "encode SET_GATEWAY_KEY"));
    return;
  }
  payload.resize(n);
  asio::post(strand_, [self = shared_from_this(), payload = std::move(payload),
                       done = std::move(done)]() mutable {
    self->Submit(
        TN_LINK_MSG_SET_GATEWAY_KEY, std::move(payload),
        [done](Result<std::vector<uint8_t>> reply) { done(reply.status()); });
  });
}

void NodeLink::OnTelemetry(TelemetryHandler handler) {
  asio::post(strand_,
             [self = shared_from_this(), handler = std::move(handler)] {
               self->on_telemetry_ = handler;
             });
}

void NodeLink::Answer(const tn_link_frame& request, tn_status result) {
  uint8_t* out = tn_link_responder_begin(&responder_);
  size_t out_len = 0;
  if (tn_link_expects_response(request.type, request.flags)) {
    tn_link_ack ack{request.seq, request.type, static_cast<uint16_t>(result)};
    uint8_t payload[8];
    size_t n = 0;
    tn_status est =
        result == TN_OK
            ? tn_link_ack_encode(&ack, payload, sizeof(payload), &n)
            : tn_link_nack_encode(&ack, payload, sizeof(payload), &n);
    if (est == TN_OK) {
      tn_link_frame rf{};
      rf.type = result == TN_OK ? TN_LINK_MSG_ACK : TN_LINK_MSG_NACK;
      rf.flags = TN_LINK_FLAG_RESPONSE;
      rf.seq = request.seq;
      rf.payload_len = static_cast<uint16_t>(n);
      rf.payload = payload;
      if (tn_link_frame_encode(&rf, out, TN_LINK_MAX_WIRE_FRAME, &out_len) !=
          TN_OK) {
        out_len = 0;
      }
    }
  }
  tn_link_responder_finish(&responder_, &request, out_len);
  if (out_len) transport_->Write(std::vector<uint8_t>(out, out + out_len));
}

void NodeLink::Close() {
  closed_.store(true);
  asio::post(strand_, [self = shared_from_this()] {
    self->open_ = false;
    self->timer_.cancel();
    self->transport_->Close();
    self->FailAll(CancelledError());
  });
}

void NodeLink::Submit(uint8_t type, std::vector<uint8_t> payload,
                      std::function<void(Result<std::vector<uint8_t>>)> done) {
  if (!open_) {
    done(UnavailableError("node link is not open"));
    return;
  }
  uint8_t flags =
      tn_link_reply_type(type) == 0 ? TN_LINK_FLAG_ACK_REQUESTED : 0;
  queue_.push_back({type, flags, std::move(payload), std::move(done)});
  if (!in_flight_) SendNext();
}

void NodeLink::SendNext() {
  while (!queue_.empty() && !in_flight_) {
    Pending& p = queue_.front();
    uint16_t seq = 0;
    tn_status st = tn_link_requester_start(&requester_, p.type, p.flags, &seq);
    if (st != TN_OK) {
      Complete(LinkError(st, "start request"));
      continue;
    }
    tn_link_frame f{};
    f.type = p.type;
    f.flags = p.flags;
    f.seq = seq;
    f.payload_len = static_cast<uint16_t>(p.payload.size());
    f.payload = p.payload.data();
    wire_.resize(tn_link_max_encoded_size(p.payload.size()));
    size_t n = 0;
    st = tn_link_frame_encode(&f, wire_.data(), wire_.size(), &n);
    if (st != TN_OK) {
      tn_link_requester_cancel(&requester_);
      Complete(LinkError(st, "encode frame"));
      continue;
    }
    wire_.resize(n);
    in_flight_ = true;
    attempts_ = 1;
    ++stats_.requests;
    transport_->Write(wire_);
    ArmTimer();
  }
}

void NodeLink::ArmTimer() {
  timer_.expires_after(options_.response_timeout);
  std::weak_ptr<NodeLink> weak = shared_from_this();
  timer_.async_wait([weak](boost::system::error_code ec) {
    auto l = weak.lock();
    if (!l || ec || !l->in_flight_) return;
    if (l->attempts_ > l->options_.retries) {
      tn_link_requester_cancel(&l->requester_);
      l->Complete(DeadlineExceededError(
          "node did not answer " +
          std::string(tn_link_msg_type_str(l->queue_.front().type))));
      return;
    }
    ++l->attempts_;
    ++l->stats_.retransmissions;
    l->transport_->Write(l->wire_);
    l->ArmTimer();
  });
}

void NodeLink::Complete(Result<std::vector<uint8_t>> result) {
  if (queue_.empty()) return;
  auto done = std::move(queue_.front().done);
  queue_.pop_front();
  in_flight_ = false;
  timer_.cancel();
  done(std::move(result));
  if (open_) SendNext();
}

void NodeLink::FailAll(const Status& why) {
  in_flight_ = false;
  timer_.cancel();
  tn_link_requester_cancel(&requester_);
  auto pending = std::move(queue_);
  queue_.clear();
  for (auto& p : pending) p.done(why);
}

void NodeLink::OnBytes(const uint8_t* data, size_t size) {
  while (size > 0) {
    size_t used = 0;
    const tn_link_frame* frame = nullptr;
    tn_status st = tn_link_decoder_feed(&decoder_, data, size, &used, &frame);
    if (st == TN_ERR_NULL) return;
    if (st != TN_OK) ++stats_.frames_rejected;
    if (frame) OnFrame(*frame);
    data += used;
    size -= used;
    if (used == 0 && !frame && st == TN_OK) break;
  }
}

void NodeLink::OnFrame(const tn_link_frame& frame) {
  if (!(frame.flags & TN_LINK_FLAG_RESPONSE)) {
    HandleNodeRequest(frame);
    return;
  }
  if (!in_flight_) return;  // late answer to a request already given up
  tn_status st = tn_link_requester_accept(&requester_, &frame);
  if (st == TN_ERR_SEQUENCE || st == TN_ERR_STATE) return;  // stale duplicate
  if (st != TN_OK) {
    Complete(LinkError(st, "bad response"));
    return;
  }
  if (frame.type == TN_LINK_MSG_NACK) {
    tn_link_ack nack;
    tn_link_nack_decode(frame.payload, frame.payload_len, &nack);
    Complete(Status(StatusCode::kFailedPrecondition,
                    std::string("node refused ") +
                        tn_link_msg_type_str(nack.acked_type) + ": " +
                        tn_status_str(static_cast<tn_status>(nack.status))));
    return;
  }
  Complete(
      std::vector<uint8_t>(frame.payload, frame.payload + frame.payload_len));
}

void NodeLink::HandleNodeRequest(const tn_link_frame& frame) {
  const uint8_t* cached = nullptr;
  size_t cached_len = 0;
  if (tn_link_responder_repeat(&responder_, &frame, &cached, &cached_len)) {
    if (cached_len)
      transport_->Write(std::vector<uint8_t>(cached, cached + cached_len));
    return;
  }
  if (frame.type == TN_LINK_MSG_TELEMETRY && on_telemetry_) {
    tn_link_telemetry t;
    if (tn_link_telemetry_decode(frame.payload, frame.payload_len, &t) !=
        TN_OK) {
      Answer(frame, TN_ERR_MSG_MALFORMED);
      return;
    }
    uint64_t counter = 0;
    if (tn_seal_peek_counter(t.record, t.record_len, &counter) != TN_OK) {
      Answer(frame, TN_ERR_MSG_MALFORMED);
      return;
    }
    ++stats_.telemetry_records;
    // The answer waits until the record is durable; keep the request's
    // header (payload excluded) to answer it then.
    tn_link_frame request = frame;
    request.payload = nullptr;
    request.payload_len = 0;
    uint64_t connection = connection_;
    std::weak_ptr<NodeLink> weak = shared_from_this();
    on_telemetry_(
        counter,
        std::string(reinterpret_cast<const char*>(t.record), t.record_len),
        [weak, request, connection](const Status& s) {
          auto l = weak.lock();
          if (!l) return;
          asio::post(l->strand_, [l, request, connection, s] {
            // A reconnected node retries on its own; answering a
            // request of the previous connection would confuse it.
            if (!l->open_ || connection != l->connection_) return;
            l->Answer(request, s.ok() ? TN_OK : TN_ERR_BUSY);
          });
        });
    return;
  }
  tn_status result = TN_OK;
  if (frame.type == TN_LINK_MSG_HEARTBEAT) {
    tn_link_heartbeat hb;
    result = tn_link_heartbeat_decode(frame.payload, frame.payload_len, &hb);
    if (result == TN_OK) {
      ++stats_.heartbeats;
    } else {
      result = TN_ERR_MSG_MALFORMED;
    }
  } else if (!tn_link_msg_type_known(frame.type)) {
    result = TN_ERR_MSG_TYPE;
  } else {
    result = TN_ERR_UNSUPPORTED;
  }
  Answer(frame, result);
}

}  // namespace tinyfleet::agent
