-- Reverts 003_lead_imports.
alter table if exists lead_audit_log drop constraint if exists lead_audit_log_import_batch_id_fkey;
drop table if exists import_rejects cascade;
drop table if exists import_batches cascade;
alter table if exists leads drop column if exists phone_type;
