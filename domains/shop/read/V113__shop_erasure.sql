-- Erasure (see ShopProjection::erasure_policy): carts and their lines go,
-- orders stay without the person, catalogue records were handed to the
-- erasing admin. Comments as in V111.
COMMENT ON COLUMN shop_categories.created_by IS 'lethe:person';
COMMENT ON COLUMN shop_products.created_by IS 'lethe:person';
COMMENT ON COLUMN shop_inventory_movements.created_by IS 'lethe:person';
COMMENT ON COLUMN shop_carts.user_id IS 'lethe:person';
COMMENT ON COLUMN shop_orders.user_id IS 'lethe:person';
