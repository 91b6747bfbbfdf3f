#include "lethe/producers/request_limits.hpp"

#include <pqxx/pqxx>

#include "lethe/infra/access.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/event_store.hpp"

namespace lethe::producers {

namespace {

// Both counters in one statement: the address's and everyone's, each with
// the seconds left in its minute.
constexpr const char* kCount =
    "INSERT INTO request_limits AS l (bucket, window_start, requests)"
    " SELECT b, date_trunc('minute', lethe_now()), 1 FROM unnest(ARRAY[$1::bytea, '\\x00'::bytea]) AS b"
    " ON CONFLICT (bucket, window_start) DO UPDATE SET requests = l.requests + 1"
    " RETURNING bucket = '\\x00'::bytea, requests,"
    " greatest(1, ceil(extract(epoch FROM window_start + interval '1 minute' - lethe_now())))::int";

// Minutes that ended a while ago count for nothing.
constexpr const char* kPrune = "DELETE FROM request_limits WHERE window_start < lethe_now() - interval '5 minutes'";

}  // namespace

int count_anonymous_request(EventStore& store, const std::string& address, const AnonymousLimits& limits) {
  const auto index = infra::address_index(address);
  int wait = 0;
  bool new_minute = false;
  store.autocommit([&](pqxx::transaction_base& tx) {
    for (const auto& r : tx.exec_params(kCount, pqxx::binarystring(index))) {
      const bool everyone = r[0].as<bool>();
      const auto requests = r[1].as<int>();
      if (requests > (everyone ? limits.per_minute : limits.per_address_per_minute)) wait = r[2].as<int>();
      if (everyone && requests == 1) new_minute = true;
    }
    if (new_minute) tx.exec(kPrune);
  });
  return wait;
}

}  // namespace lethe::producers
