#pragma once
// The shop's command service: catalogue, inventory, carts and orders, each
// command on the one command path (command_path.hpp). Beside the events it
// keeps the shop's set rules in the write side's own tables, in the same
// transaction (schemas/sql/V009__shop_rules.sql): a category's slug is
// unique, and a user has at most one open cart.
//
// Converting a cart is one decision over the cart and every product in it:
// the cart, each product (in id order) and the new order are appended in
// ONE transaction, each at the version it was read at, so of two racing
// conversions (of one cart, or of two carts wanting the last unit) exactly
// one commits and the other is decided again on what it left.
#include <string>

#include "lethe/producers/command_path.hpp"
#include "lethe/producers/event_store.hpp"
#include "shop.hpp"
#include "user_service.hpp"

namespace lethe::producers {

class ShopService {
 public:
  explicit ShopService(EventStore& store) : store_(store) {}

  domain::Result<Written> create_category(const domain::shop::CreateCategory& command, const CommandContext& ctx);
  domain::Result<Written> create_product(const domain::shop::CreateProduct& command, const CommandContext& ctx);
  domain::Result<Written> update_product(const domain::shop::UpdateProduct& command, const CommandContext& ctx);
  domain::Result<Written> adjust_inventory(const domain::shop::AdjustInventory& command, const CommandContext& ctx);

  // A new cart for the actor; 409 naming the open one when they have one.
  domain::Result<Written> open_cart(const domain::shop::OpenCart& command, const CommandContext& ctx);
  domain::Result<Written> add_line(const domain::shop::AddCartLine& command, const CommandContext& ctx);
  domain::Result<Written> change_line(const domain::shop::ChangeCartLineQuantity& command, const CommandContext& ctx);
  domain::Result<Written> remove_line(const domain::shop::RemoveCartLine& command, const CommandContext& ctx);
  // The cart becomes order `order_id`: stock reserved, prices frozen.
  domain::Result<Written> convert(const std::string& cart_id, const std::string& order_id, const CommandContext& ctx);

  // Cancelling gives the order's stock back, in the same transaction.
  domain::Result<Written> cancel_order(const domain::shop::CancelOrder& command, const CommandContext& ctx);
  domain::Result<Written> fulfil_order(const domain::shop::FulfilOrder& command, const CommandContext& ctx);

 private:
  EventStore& store_;
  // Carts and products this service met last (see StateCache): a cart is
  // filled and converted by one customer, and a product is read by every
  // command on a cart, so neither is read again each time. Not thread-safe,
  // like the service.
  StateCache<domain::shop::Cart> carts_;
  StateCache<domain::shop::Product> products_;
};

}  // namespace lethe::producers
