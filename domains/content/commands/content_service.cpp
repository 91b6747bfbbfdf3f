#include "content_service.hpp"

#include "stream_command.hpp"

namespace lethe::producers {

namespace content = domain::content;
using domain::DomainError;

namespace {

auto decode() {
  return [](std::string_view type, int schema_version, std::string_view payload) {
    return content::decode_payload(type, schema_version, payload);
  };
}

template <class State>
auto evolve() {
  return [](State s, const content::Event& e) { return content::evolve(std::move(s), e); };
}

}  // namespace

domain::Result<Written> ContentService::handle(const content::PostCommand& command, const CommandContext& ctx) {
  const auto post_id = std::visit([](const auto& c) { return c.post_id; }, command);
  if (auto err = stream_command::check_id("post_id", post_id, content::post_stream(""))) return *err;
  return stream_command::run<content::Post>(store_, ctx, content::post_stream(post_id), "post", decode(),
                                            evolve<content::Post>(),
                                            [&](const content::Post& state, const domain::users::Actor& actor) {
                                              return content::decide(state, command, actor);
                                            });
}

domain::Result<Written> ContentService::handle(const content::CommentCommand& command, const CommandContext& ctx) {
  const auto comment_id = std::visit([](const auto& c) { return c.comment_id; }, command);
  if (auto err = stream_command::check_id("comment_id", comment_id, content::comment_stream(""))) return *err;
  const auto* add = std::get_if<content::AddComment>(&command);
  if (add) {
    if (auto err = stream_command::check_id("post_id", add->post_id, content::post_stream(""))) return *err;
  }
  const auto stream = content::comment_stream(comment_id);
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    // The comment's stream, the one appended to, is read first; the post's
    // after it, read only (a post deleted meanwhile is seen by the next
    // command on the comment).
    const auto state = fold<content::Comment>(tx.read(stream), decode(), evolve<content::Comment>());
    if (auto err = check_if_match(tx.context(), state.version, "comment")) return err;
    const auto& post_id = add ? add->post_id : state.post_id;
    content::Post post;
    if (!post_id.empty())
      post = fold<content::Post>(tx.read(content::post_stream(post_id)), decode(), evolve<content::Post>());
    auto decided = content::decide(state, command, actor_in(tx.sql(), tx.context()), post);
    if (!decided) return decided.error();
    tx.append(stream, state.version, drafts_of(decided.value()));
    return std::nullopt;
  });
}

}  // namespace lethe::producers
