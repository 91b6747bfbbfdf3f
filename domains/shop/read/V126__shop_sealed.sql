-- What a person asks for on a cart line (an engraving in selected_specs) is
-- theirs: sealed in the event under the cart's user's key, and these columns
-- keep the sealed object, bound to its event and field, in place of the
-- specs (lethe:sealed; inside each line of an order), opened only when a
-- query answers.
COMMENT ON COLUMN shop_cart_lines.selected_specs IS 'lethe:sealed';
COMMENT ON COLUMN shop_orders.lines IS 'lethe:sealed';
