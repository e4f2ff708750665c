-- 002_epic3_crm_tables (down): reverts 002_epic3_crm_tables.sql, in reverse order.
-- Dropping a table drops its indexes, triggers, policies and identity sequence with it.
-- 001's objects (organizations, users, set_updated_at(), pg_trgm) stay intact.

drop function if exists is_on_dnc_list(text, uuid) cascade;

drop table if exists system_config cascade;
drop function if exists budget_balance(uuid) cascade;
drop table if exists budget_transactions cascade;
drop function if exists budget_transactions_append_only() cascade;
drop function if exists budget_transactions_apply_balance() cascade;
drop table if exists segments cascade;
drop table if exists lead_source_costs cascade;
drop table if exists lead_sequence_enrollments cascade;
drop table if exists nurture_sequences cascade;
drop table if exists dnc_list cascade;
drop table if exists lead_assignments cascade;
drop table if exists lead_score_history cascade;
drop table if exists lead_status_history cascade;
drop table if exists lead_audit_log cascade;
drop table if exists leads cascade;
drop function if exists update_leads_updated_at() cascade;
