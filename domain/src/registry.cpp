#include "lethe/domain/registry.hpp"

#include "billing.hpp"
#include "content.hpp"
#include "email.hpp"
#include "erasure.hpp"
#include "files.hpp"
#include "shop.hpp"
#include "tickets.hpp"
#include "users.hpp"

namespace lethe::domain {

const std::vector<const DomainSpec*>& domains() {
  static const std::vector<const DomainSpec*> all{&users::spec(),   &tickets::spec(), &shop::spec(),  &billing::spec(),
                                                  &content::spec(), &files::spec(),   &email::spec(), &erasure::spec()};
  return all;
}

std::vector<std::string_view> type_names(const DomainSpec& domain) {
  std::vector<std::string_view> out;
  for (const auto& e : domain.events) out.push_back(e.type);
  return out;
}

const EventTypeSpec* find_event_type(std::string_view type, int schema_version) {
  const EventTypeSpec* found = nullptr;
  for (const auto* d : domains())
    for (const auto& e : d->events)
      if (e.type == type && (schema_version == 0 ? !found || e.schema_version > found->schema_version
                                                 : e.schema_version == schema_version))
        found = &e;
  return found;
}

}  // namespace lethe::domain
