-- Reverts 016_cost_follows_change: the watermark columns of the incremental nightly. The next
-- nightly of the code before 016 does its steps in full.

alter table sync_watermarks drop column if exists state;
alter table sync_watermarks drop column if exists last_full_at;
