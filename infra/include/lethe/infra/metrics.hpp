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

// Serves metrics() at http://ADDRESS/metrics, ADDRESS as host:port, for the
// rest of the process. Throws Misconfigured when it cannot listen there.
void serve_metrics(const std::string& address);

}  // namespace lethe::infra
