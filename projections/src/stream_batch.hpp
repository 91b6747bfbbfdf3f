#pragma once
// What the batched projections share (users, tickets, shop, billing,
// content, files, email): decoding a batch with ONE key query, and the
// rule that keeps each row idempotent by stream version. Private to the
// projections layer.
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lethe/domain/personal.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/logging.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/projections/projection.hpp"

namespace lethe::projections::stream_batch {

template <class Event>
struct Decoded {
  std::size_t index;  // in the batch
  Event event;
};

// Decodes the batch's events whose type `accepts` takes, with one key query
// for every person their sealed fields name; a field whose person's key is
// gone decodes to domain::erased(). Without tx (nullptr), nothing is opened
// and no key is read: each sealed field decodes to its sealed text
// (domain::kKeepSealed), which the projection stores as it is. Other types
// are counted skipped; a payload that does not decode is rejected alone.
template <class Event, class Accepts, class DecodeSealed>
std::vector<Decoded<Event>> decode_if(std::span<const Delivered> batch, Accepts&& accepts, DecodeSealed&& decode_sealed,
                                      pqxx::transaction_base* tx, ApplyResult& result) {
  // Keys and decoding apart: the whole call counts as decode, less the key query.
  auto& spent = pipeline_seconds();
  const infra::Timed whole(spent.decode);
  double key_seconds = 0;
  std::vector<domain::SealedPayload> sealed;
  std::vector<std::size_t> sealed_at;  // batch index of sealed[k]
  sealed.reserve(batch.size());
  sealed_at.reserve(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& e = batch[i].envelope;
    if (!accepts(std::string_view(e.type))) {
      ++result.skipped;
      continue;
    }
    sealed.push_back({e.type, e.schema_version, e.event_id, e.payload});
    sealed_at.push_back(i);
  }
  std::map<std::string, infra::PersonKey> keys;
  const domain::KeyLoader load = tx == nullptr ? domain::kKeepSealed : [&](const std::vector<std::string>& subjects) {
    const infra::Timed timed(key_seconds);
    keys = infra::load_person_keys(*tx, subjects);
    return domain::lookup_in(keys);
  };
  auto events = decode_sealed(sealed, load);
  std::vector<Decoded<Event>> out;
  out.reserve(events.size());
  for (std::size_t k = 0; k < events.size(); ++k) {
    const auto i = sealed_at[k];
    if (!events[k]) {
      result.rejected.push_back({i, "payload of " + batch[i].envelope.type + ": " + events[k].error().message});
      continue;
    }
    out.push_back({i, std::move(events[k]).value()});
  }
  spent.keys += key_seconds;
  spent.decode -= key_seconds;
  return out;
}

// The batch's events whose type starts with type_prefix ("billing."), as above.
template <class Event, class DecodeSealed>
std::vector<Decoded<Event>> decode(std::span<const Delivered> batch, std::string_view type_prefix,
                                   DecodeSealed&& decode_sealed, pqxx::transaction_base& tx, ApplyResult& result) {
  return decode_if<Event>(
      batch, [&](std::string_view type) { return type.starts_with(type_prefix); },
      std::forward<DecodeSealed>(decode_sealed), &tx, result);
}

// The same with personal fields kept sealed, for tables whose personal
// columns hold sealed text (table::Mark::sealed): no key is read.
template <class Event, class DecodeSealed>
std::vector<Decoded<Event>> decode_kept(std::span<const Delivered> batch, std::string_view type_prefix,
                                        DecodeSealed&& decode_sealed, ApplyResult& result) {
  return decode_if<Event>(
      batch, [&](std::string_view type) { return type.starts_with(type_prefix); },
      std::forward<DecodeSealed>(decode_sealed), nullptr, result);
}

// Whether the event is the next of its row's stream. At or below the row's
// version it was applied before (a republished event): skipped. A gap, or
// an event on a row that its stream never created, is rejected with the
// reason: applying across a gap would later skip the missing versions as
// "applied before", so it goes to the dead letters and a republish brings
// the whole run again, in order.
inline bool is_next(const Delivered& d, std::size_t index, std::int64_t row_version, bool row_exists, bool creates,
                    ApplyResult& result) {
  const auto& env = d.envelope;
  if (env.stream_version <= row_version) {
    if (negative_control_reapply.load(std::memory_order_relaxed)) return true;
    ++result.skipped;
    return false;
  }
  if (!row_exists && !creates) {
    result.rejected.push_back({index, env.type + " on " + env.stream_id + ", which its first event never created"});
    return false;
  }
  if (env.stream_version != row_version + 1 && !negative_control_ignore_gaps.load(std::memory_order_relaxed)) {
    result.rejected.push_back({index, "version gap on " + env.stream_id + ": read model holds version " +
                                          std::to_string(row_version) + ", event has " +
                                          std::to_string(env.stream_version)});
    return false;
  }
  return true;
}

// The event must be on the stream its payload names (post-<post id>).
inline bool on_stream(const Delivered& d, std::size_t index, const std::string& expected, ApplyResult& result) {
  if (d.envelope.stream_id == expected) return true;
  result.rejected.push_back({index, d.envelope.type + " on stream " + d.envelope.stream_id + ", not " + expected});
  return false;
}

// A nullable text column: NULL for a field whose person's key is gone, and
// for an empty optional field.
inline std::optional<std::string> opened(const std::string& s) {
  if (s.empty() || domain::is_erased(s)) return std::nullopt;
  return s;
}

}  // namespace lethe::projections::stream_batch
