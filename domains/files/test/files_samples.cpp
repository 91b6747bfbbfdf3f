// The samples of every event the files domain can produce, by running its
// decisions: schemas_test validates each against its schema (the build
// gathers every domain folder's samples, test/support/samples.hpp).
#include <boost/test/unit_test.hpp>

#include "files.hpp"
#include "support/samples.hpp"
#include "users.hpp"

namespace {

namespace f = lethe::domain::files;
namespace u = lethe::domain::users;
using lethe::test::Runner;

// Every event the files domain can produce, by running its commands.
std::vector<f::Event> every_file_event() {
  std::vector<f::Event> out;
  const u::Actor owner{"c1", u::Role::user};
  Runner<f::File, f::Event> file{{}, &out};
  file.take(f::decide(
      file.state,
      f::RecordFile{"f1", "résumé (final).pdf", f::kMaxSize, "application/pdf", "sha256:" + std::string(64, 'e')},
      owner));
  file.take(f::decide(file.state, f::DeleteFile{"f1"}, owner));
  return out;
}

}  // namespace

namespace lethe::test {

std::vector<EventSample> files_event_samples() {
  return samples_of(every_file_event());
}

}  // namespace lethe::test
