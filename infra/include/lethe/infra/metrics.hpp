#pragma once
// Prometheus metrics of a lethe process. One registry per process; the
// layers add their families to it (prometheus-cpp merges a family
// registered twice under one name), and serve_metrics() exposes it over
// HTTP at /metrics. Without serve_metrics() the metrics are kept but not
// served. docs/operations.md lists every metric.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace lethe::infra {

prometheus::Registry& metrics();

// A family of metrics() by name and help (the same one when registered again).
prometheus::Family<prometheus::Counter>& counter_family(const std::string& name, const std::string& help);
prometheus::Family<prometheus::Gauge>& gauge_family(const std::string& name, const std::string& help);
prometheus::Family<prometheus::Histogram>& histogram_family(const std::string& name, const std::string& help);

// Bucket bounds, in seconds, for the time of a batch or a request.
const prometheus::Histogram::BucketBoundaries& duration_buckets();

// Serves metrics() at http://ADDRESS/metrics, ADDRESS as host:port, for the
// rest of the process. Throws Misconfigured when it cannot listen there.
void serve_metrics(const std::string& address);

}  // namespace lethe::infra
