-- Read models of the shop projection (domains/shop/read/). Person columns
-- are named user_id and created_by (see the erasure policy). Money is in
-- integer minor units with its ISO 4217 currency. version is the stream
-- version last folded in (idempotence: an event at or below it is skipped).
CREATE TABLE shop_categories (
  category_id   text PRIMARY KEY,
  name          text NOT NULL,
  slug          text NOT NULL,
  created_by    text,
  created_at    timestamptz NOT NULL,
  version       bigint NOT NULL
);
CREATE TABLE shop_products (
  product_id    text PRIMARY KEY,
  name          text NOT NULL,
  price         bigint NOT NULL,
  currency      text NOT NULL,
  category_id   text NOT NULL,
  active        boolean NOT NULL,
  stock         bigint NOT NULL,
  created_by    text,
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  version       bigint NOT NULL
) WITH (fillfactor = 80);
CREATE INDEX shop_products_category ON shop_products (category_id, product_id);
-- Every inventory movement: adjustments with their reason, reservations and
-- releases by orders.
CREATE TABLE shop_inventory_movements (
  product_id     text NOT NULL,
  stream_version bigint NOT NULL,
  delta          bigint NOT NULL,
  reason         text NOT NULL,
  order_id       text,
  stock_after    bigint NOT NULL,
  created_by     text,
  at             timestamptz NOT NULL,
  PRIMARY KEY (product_id, stream_version)
);
CREATE TABLE shop_carts (
  cart_id     text PRIMARY KEY,
  user_id     text,
  status      text NOT NULL,  -- open, converted or closed (by its user's erasure)
  order_id    text,
  opened_at   timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  version     bigint NOT NULL
);
CREATE INDEX shop_carts_user ON shop_carts (user_id, opened_at DESC);
CREATE TABLE shop_cart_lines (
  cart_id        text NOT NULL,
  line_id        text NOT NULL,
  product_id     text NOT NULL,
  quantity       bigint NOT NULL,
  selected_specs jsonb NOT NULL,
  PRIMARY KEY (cart_id, line_id)
);
CREATE TABLE shop_orders (
  order_id    text PRIMARY KEY,
  cart_id     text NOT NULL,
  user_id     text,
  status      text NOT NULL,  -- placed, cancelled, fulfilled
  total       bigint NOT NULL,
  currency    text NOT NULL,
  lines       jsonb NOT NULL,  -- as placed: prices frozen
  placed_at   timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  version     bigint NOT NULL
);
CREATE INDEX shop_orders_user ON shop_orders (user_id, placed_at DESC, order_id);
