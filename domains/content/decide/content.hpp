#pragma once
// The content domain: posts and the comments on them. Pure: ids come with
// the commands; the author is the actor who publishes or comments.
//
// Streams: a post is post-<id>, a comment comment-<id> (its post's id in
// every event). What a person wrote is kept by default (it is not marked
// personal; see "Personal data in an immutable log"); author_id names them.
// Every event carries the author of what it is about, not the editor: the
// editor is the envelope's actor.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lethe/domain/event_fields.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"
#include "lethe/domain/result.hpp"
#include "users.hpp"

namespace lethe::domain::content {

inline constexpr std::size_t kMaxTitle = 300;
inline constexpr std::size_t kMaxPostBody = 100000;
inline constexpr std::size_t kMaxCommentBody = 10000;

// Stream names.
std::string post_stream(std::string_view post_id);
std::string comment_stream(std::string_view comment_id);

// ---- Events (see lethe/domain/event_fields.hpp). ----
// Stream post-<id>.
struct PostPublished {
  LETHE_EVENT("content.post_published");
  std::string post_id, author_id, title, body;
  static constexpr auto fields() {
    using E = PostPublished;
    return std::array<FieldSpec<E>, 4>{
        {{"post_id", &E::post_id}, {"author_id", &E::author_id}, {"title", &E::title}, {"body", &E::body}}};
  }
};
struct PostEdited {
  LETHE_EVENT("content.post_edited");
  std::string post_id, author_id, title, body;
  static constexpr auto fields() {
    using E = PostEdited;
    return std::array<FieldSpec<E>, 4>{
        {{"post_id", &E::post_id}, {"author_id", &E::author_id}, {"title", &E::title}, {"body", &E::body}}};
  }
};
struct PostDeleted {
  LETHE_EVENT("content.post_deleted");
  std::string post_id, author_id;
  static constexpr auto fields() {
    using E = PostDeleted;
    return std::array<FieldSpec<E>, 2>{{{"post_id", &E::post_id}, {"author_id", &E::author_id}}};
  }
};
// Stream comment-<id>.
struct CommentAdded {
  LETHE_EVENT("content.comment_added");
  std::string comment_id, post_id, author_id, body;
  static constexpr auto fields() {
    using E = CommentAdded;
    return std::array<FieldSpec<E>, 4>{
        {{"comment_id", &E::comment_id}, {"post_id", &E::post_id}, {"author_id", &E::author_id}, {"body", &E::body}}};
  }
};
struct CommentEdited {
  LETHE_EVENT("content.comment_edited");
  std::string comment_id, post_id, author_id, body;
  static constexpr auto fields() {
    using E = CommentEdited;
    return std::array<FieldSpec<E>, 4>{
        {{"comment_id", &E::comment_id}, {"post_id", &E::post_id}, {"author_id", &E::author_id}, {"body", &E::body}}};
  }
};
struct CommentDeleted {
  LETHE_EVENT("content.comment_deleted");
  std::string comment_id, post_id, author_id;
  static constexpr auto fields() {
    using E = CommentDeleted;
    return std::array<FieldSpec<E>, 3>{
        {{"comment_id", &E::comment_id}, {"post_id", &E::post_id}, {"author_id", &E::author_id}}};
  }
};

using Event = std::variant<PostPublished, PostEdited, PostDeleted, CommentAdded, CommentEdited, CommentDeleted>;

// The content domain as the registry knows it: every event on the content
// topic, read by the content projection.
const DomainSpec& spec();
std::vector<std::string_view> event_types();

// ---- Commands ----
struct PublishPost {
  std::string post_id, title, body;  // the author is the actor
};
struct EditPost {
  std::string post_id, title, body;
};
struct DeletePost {
  std::string post_id;
};
using PostCommand = std::variant<PublishPost, EditPost, DeletePost>;

struct AddComment {
  std::string comment_id, post_id, body;  // the author is the actor
};
struct EditComment {
  std::string comment_id, body;
};
struct DeleteComment {
  std::string comment_id;
};
using CommentCommand = std::variant<AddComment, EditComment, DeleteComment>;

// ---- States ----
struct Post {
  bool exists = false;
  bool deleted = false;
  std::string post_id, author_id, title, body;
  std::int64_t version = 0;  // number of events folded
};
struct Comment {
  bool exists = false;
  bool deleted = false;
  std::string comment_id, post_id, author_id, body;
  std::int64_t version = 0;
};

// The rules (auditors and anonymous callers change nothing, always
// forbidden):
// - publish: any signed-in user; title 1..300 bytes, body 1..100000;
// - edit, delete a post: its author, or an admin or owner; a deleted post
//   takes neither (conflict); an edit that changes nothing is no_change;
// - comment: any signed-in user, on a post that exists (not_found) and is
//   not deleted (conflict); body 1..10000 bytes;
// - edit, delete a comment: its author, or an admin or owner; a deleted
//   comment takes neither (conflict); an edit also needs its post not
//   deleted, a delete does not (tidying up under a deleted post is fine).
// `post` is the state of the comment's post (post-<post id>), read by the
// command service in the same transaction.
Result<std::vector<Event>> decide(const Post& state, const PostCommand& command, const users::Actor& actor);
Result<std::vector<Event>> decide(const Comment& state, const CommentCommand& command, const users::Actor& actor,
                                  const Post& post);
// Each state folds its own stream's events and ignores the others (counting
// them in version all the same).
Post evolve(Post state, const Event& event);
Comment evolve(Comment state, const Event& event);

LETHE_DECLARE_EVENT_CODEC();

}  // namespace lethe::domain::content
