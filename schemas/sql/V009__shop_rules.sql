-- Set rules of the shop, checked in the write side's own tables in the same
-- transaction as the events (never in a read model):
-- a category's slug is unique, and a user has at most one open cart (the row
-- goes when the cart is converted into an order).
CREATE TABLE category_slugs (
  slug        text PRIMARY KEY,
  category_id text NOT NULL UNIQUE
);
CREATE TABLE open_carts (
  user_id text PRIMARY KEY,
  cart_id text NOT NULL UNIQUE
);
