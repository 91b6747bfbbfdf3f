#define BOOST_TEST_MODULE api_contract
// The OpenAPI document is the truth: schemathesis (pinned, installed by
// scripts/setup into .lethe/venv) runs every check and every phase,
// stateful included, against a live `lethe serve` signed in as the owner,
// with the relay and the projector running so that reads see writes. Any
// failure it reports fails this test; its output says how to replay it
// (the seed is fixed, LETHE_CONTRACT_SEED picks another).
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace

BOOST_AUTO_TEST_CASE(schemathesis_finds_no_failure_in_any_check_or_phase) {
  const auto st = env_or("LETHE_SCHEMATHESIS", test::source_dir() + "/.lethe/venv/bin/st");
  BOOST_REQUIRE_MESSAGE(std::filesystem::exists(st), st << " is missing: scripts/setup installs it");
  test::Served s;
  const auto report = std::filesystem::temp_directory_path() / ("lethe-contract-" + std::to_string(s.api.port()));
  const auto command =
      st + " --config-file " + test::source_dir() + "/test/contract/schemathesis.toml run " +
      std::string(LETHE_OPENAPI_FILE) + " --url http://127.0.0.1:" + std::to_string(s.api.port()) +
      " -H 'Authorization: Bearer " + s.api.owner_key() + "'" +
      " --checks all --phases examples,coverage,fuzzing,stateful" + " --max-examples " +
      env_or("LETHE_CONTRACT_EXAMPLES", "25") + " --seed " + env_or("LETHE_CONTRACT_SEED", "20261204") +
      // Latency is the bench's to measure; here a slow answer
      // fails only when it is a hang (once a single answer
      // took 14 s on a loaded CI machine, the default limit 10 s).
      " --max-response-time 30" + " --workers 2 --no-color --generation-database none --output-truncate false" +
      " --report junit --report-dir " + report.string() + " 2>&1";
  const auto r = test::capture(command);
  BOOST_TEST_MESSAGE(r.output);
  BOOST_TEST(r.rc == 0, "schemathesis reported failures (exit " << r.rc << "); its report is above");
  BOOST_TEST(s.api.process().running());
}
