-- Reverts 022_reject_line_numbers: import_rejects without the file's line numbers.

alter table import_rejects drop column if exists line_number;
comment on column import_rejects.row_number is null;
