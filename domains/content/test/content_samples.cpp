// The samples of every event the content domain can produce, by running its
// decisions: schemas_test validates each against its schema (the build
// gathers every domain folder's samples, test/support/samples.hpp).
#include <boost/test/unit_test.hpp>

#include "content.hpp"
#include "support/samples.hpp"
#include "users.hpp"

namespace {

namespace c = lethe::domain::content;
namespace u = lethe::domain::users;
using lethe::test::Runner;

// Every event the content domain can produce, by running its commands.
std::vector<c::Event> every_content_event() {
  std::vector<c::Event> out;
  const u::Actor author{"c1", u::Role::user}, admin{"a1", u::Role::admin};
  Runner<c::Post, c::Event> post{{}, &out};
  post.take(c::decide(post.state, c::PublishPost{"p1", "Hello", "First post."}, author));
  post.take(c::decide(post.state, c::EditPost{"p1", "Hello again", "Edited."}, admin));
  Runner<c::Comment, c::Event> comment{{}, &out};
  comment.take(c::decide(comment.state, c::AddComment{"k1", "p1", "Nice."}, author, post.state));
  comment.take(c::decide(comment.state, c::EditComment{"k1", "Nicer."}, author, post.state));
  comment.take(c::decide(comment.state, c::DeleteComment{"k1"}, admin, post.state));
  post.take(c::decide(post.state, c::DeletePost{"p1"}, author));
  return out;
}

}  // namespace

namespace lethe::test {

std::vector<EventSample> content_event_samples() {
  return samples_of(every_content_event());
}

}  // namespace lethe::test
