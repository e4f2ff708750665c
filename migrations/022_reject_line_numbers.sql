-- 022_reject_line_numbers: a quarantined row says where it is in its file as an editor or a
-- spreadsheet shows it (issue 22).
--
-- Runs under `psql -v ON_ERROR_STOP=1 -f` and inside the runner's transaction (no begin/commit).
--
-- DECISIONS
-- * row_number stays what it was (the data row: 1 is the first row after the header, blank
--   lines do not count); scripts read it. line_number is the file's own: a CSV record's first
--   physical line (the header and blank lines count, a quoted cell may span lines), an XLSX
--   sheet's row number. Null for a CRM record (no file) and for rows quarantined before 022.
-- * Nullable with no default: adding it rewrites nothing, whatever the table's size.

alter table import_rejects add column if not exists line_number integer
    check (line_number >= 1);
comment on column import_rejects.line_number is
    'Where the row is in its file, as an editor or spreadsheet shows it: a CSV record''s first line (header and blank lines count), an XLSX sheet row; null for a CRM record or a row quarantined before migration 022.';
comment on column import_rejects.row_number is
    'The data row: 1 is the first row after the header; blank lines do not count.';
