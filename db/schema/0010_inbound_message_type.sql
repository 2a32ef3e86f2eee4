-- The shape ingest_webhook flattens each inbound message into: one typed array per
-- POST instead of an intermediate JSON document, which halves the parse cost.
-- depends: 0002_core_tables

CREATE TYPE wapipe.inbound_message AS (
  wamid                text,
  from_wa_id           text,
  message_type         text,
  phone_number_id      text,
  display_phone_number text,
  wa_ts                bigint,
  payload              jsonb,
  contact              jsonb,
  entry_pos            integer,
  change_pos           integer,
  message_pos          integer
);
