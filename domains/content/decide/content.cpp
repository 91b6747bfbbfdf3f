#include "content.hpp"

#include "checks.hpp"
#include "codec.hpp"

namespace lethe::domain::content {

namespace {

using checks::overloaded;
using users::Actor;
using Decision = Result<std::vector<Event>>;

constexpr auto kEventTypes = codec::event_specs<Event>("content");
constexpr std::string_view kProjections[] = {"content"};
constexpr TopicSpec kTopics[] = {{"content", 3, "posts and comments"}};

Decision one(Event e) {
  return std::vector<Event>{std::move(e)};
}

bool may_moderate(const Actor& actor, const std::string& author_id) {
  return actor.id == author_id || checks::is_admin_or_owner(actor);
}

// The post a comment is on: it exists, is the one the comment names, and is
// not deleted.
std::optional<DomainError> check_post(const Post& post, const std::string& post_id) {
  if (!post.exists) return checks::not_found("post_id", "no such post");
  if (post.post_id != post_id) return invalid("post_id", "the post given is not the comment's post");
  if (post.deleted) return checks::conflict("post_id", "the post is deleted");
  return std::nullopt;
}

}  // namespace

const DomainSpec& spec() {
  static const DomainSpec s{"content", kEventTypes, kProjections, kTopics};
  return s;
}

std::vector<std::string_view> event_types() {
  return type_names(spec());
}

std::string post_stream(std::string_view post_id) {
  return "post-" + std::string(post_id);
}
std::string comment_stream(std::string_view comment_id) {
  return "comment-" + std::string(comment_id);
}

Decision decide(const Post& state, const PostCommand& command, const Actor& actor) {
  if (auto err = checks::may_change_anything(actor)) return *err;
  // Edit and delete: the post exists, is this stream's, and its author or an
  // admin or owner asks.
  const auto existing = [&](const std::string& post_id) -> std::optional<DomainError> {
    if (!state.exists) return checks::not_found("post_id", "no such post");
    if (post_id != state.post_id) return invalid("post_id", "the command names another post than this stream's");
    if (!may_moderate(actor, state.author_id))
      return checks::forbidden("post_id", "only the author, or an admin or owner, changes a post");
    if (state.deleted) return checks::conflict("post_id", "the post is deleted");
    return std::nullopt;
  };
  return std::visit(overloaded{
                        [&](const PublishPost& c) -> Decision {
                          if (auto err = checks::id("post_id", c.post_id)) return *err;
                          if (state.exists) return checks::already_exists("post_id", "the post exists already");
                          if (auto err = checks::text("title", c.title, kMaxTitle)) return *err;
                          if (auto err = checks::text("body", c.body, kMaxPostBody)) return *err;
                          return one(PostPublished{c.post_id, actor.id, c.title, c.body});
                        },
                        [&](const EditPost& c) -> Decision {
                          if (auto err = existing(c.post_id)) return *err;
                          if (auto err = checks::text("title", c.title, kMaxTitle)) return *err;
                          if (auto err = checks::text("body", c.body, kMaxPostBody)) return *err;
                          if (c.title == state.title && c.body == state.body)
                            return checks::no_change("", "the post is unchanged");
                          return one(PostEdited{state.post_id, state.author_id, c.title, c.body});
                        },
                        [&](const DeletePost& c) -> Decision {
                          if (auto err = existing(c.post_id)) return *err;
                          return one(PostDeleted{state.post_id, state.author_id});
                        },
                    },
                    command);
}

Decision decide(const Comment& state, const CommentCommand& command, const Actor& actor, const Post& post) {
  if (auto err = checks::may_change_anything(actor)) return *err;
  const auto existing = [&](const std::string& comment_id) -> std::optional<DomainError> {
    if (!state.exists) return checks::not_found("comment_id", "no such comment");
    if (comment_id != state.comment_id)
      return invalid("comment_id", "the command names another comment than this stream's");
    if (!may_moderate(actor, state.author_id))
      return checks::forbidden("comment_id", "only the author, or an admin or owner, changes a comment");
    if (state.deleted) return checks::conflict("comment_id", "the comment is deleted");
    return std::nullopt;
  };
  return std::visit(overloaded{
                        [&](const AddComment& c) -> Decision {
                          if (auto err = checks::id("comment_id", c.comment_id)) return *err;
                          if (auto err = checks::id("post_id", c.post_id)) return *err;
                          if (state.exists) return checks::already_exists("comment_id", "the comment exists already");
                          if (auto err = check_post(post, c.post_id)) return *err;
                          if (auto err = checks::text("body", c.body, kMaxCommentBody)) return *err;
                          return one(CommentAdded{c.comment_id, c.post_id, actor.id, c.body});
                        },
                        [&](const EditComment& c) -> Decision {
                          if (auto err = existing(c.comment_id)) return *err;
                          if (auto err = check_post(post, state.post_id)) return *err;
                          if (auto err = checks::text("body", c.body, kMaxCommentBody)) return *err;
                          if (c.body == state.body) return checks::no_change("body", "the comment is unchanged");
                          return one(CommentEdited{state.comment_id, state.post_id, state.author_id, c.body});
                        },
                        [&](const DeleteComment& c) -> Decision {
                          if (auto err = existing(c.comment_id)) return *err;
                          return one(CommentDeleted{state.comment_id, state.post_id, state.author_id});
                        },
                    },
                    command);
}

Post evolve(Post s, const Event& event) {
  std::visit(overloaded{
                 [&](const PostPublished& e) {
                   s.exists = true;
                   s.post_id = e.post_id;
                   s.author_id = e.author_id;
                   s.title = e.title;
                   s.body = e.body;
                 },
                 [&](const PostEdited& e) {
                   s.title = e.title;
                   s.body = e.body;
                 },
                 [&](const PostDeleted&) { s.deleted = true; },
                 [&](const auto&) {},
             },
             event);
  ++s.version;
  return s;
}

Comment evolve(Comment s, const Event& event) {
  std::visit(overloaded{
                 [&](const CommentAdded& e) {
                   s.exists = true;
                   s.comment_id = e.comment_id;
                   s.post_id = e.post_id;
                   s.author_id = e.author_id;
                   s.body = e.body;
                 },
                 [&](const CommentEdited& e) { s.body = e.body; },
                 [&](const CommentDeleted&) { s.deleted = true; },
                 [&](const auto&) {},
             },
             event);
  ++s.version;
  return s;
}

LETHE_DEFINE_EVENT_CODEC("content")

}  // namespace lethe::domain::content
