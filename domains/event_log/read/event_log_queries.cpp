#include "event_log_queries.hpp"

namespace lethe::projections::event_log_queries {

const Query kDeliveries{"event_log.deliveries",
                        "SELECT topic, partition, kafka_offset, event_id::text AS event_id, type, stream_id,"
                        " stream_version, occurred_at, actor, correlation_id FROM event_log"
                        " WHERE ($1 = '' OR stream_id = $1) AND ($2 = '' OR type = $2)"
                        " ORDER BY occurred_at, event_id, topic, partition, kafka_offset LIMIT $3 OFFSET $4"};

const Query kStreamsOf{"event_log.streams_of",
                       "SELECT topic, stream_id, count(*) AS events FROM event_log"
                       " WHERE actor = $1 OR stream_id = 'user-' || $1"
                       " GROUP BY topic, stream_id ORDER BY topic, stream_id LIMIT 200"};

}  // namespace lethe::projections::event_log_queries
