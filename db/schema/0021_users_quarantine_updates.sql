-- The 2026 WhatsApp contract: users known by business-scoped user ID (BSUID) or phone,
-- quarantine for what a signed POST holds that wapipe cannot read, and the
-- non-message updates kept as events.
-- depends: 0020_hot_claims
--
-- Identity. Per business number (phone_number_id) a user has one stable key: the
-- key their conversation, memory, rate bucket and workflows are filed under. It
-- is the phone number for a user wapipe first knew by phone (every user before
-- April 2026), and the BSUID for a user first seen with one and no earlier
-- conversation. Every identifier Meta sends for a user (BSUID, parent BSUID,
-- phone) maps to that key in user_identifiers, so a conversation that began under
-- the phone continues when the same user arrives with a BSUID, or with a BSUID
-- alone. A key never changes: nothing in flight (a lease, a queued message, a
-- workflow step) ever has to move. A phone with no row here is its own key.
CREATE TABLE wapipe.users (
  phone_number_id text NOT NULL,          -- the business number
  user_key        text NOT NULL,          -- the stable key (phone, BSUID or group:<id>)
  bsuid           text,                   -- business-scoped user id, e.g. RW.4471902245518830
  parent_bsuid    text,                   -- the portfolio-wide one, e.g. RW.ENT.9903318274405126
  phone           text,                   -- wa_id, only when Meta shared it
  username        text,
  profile_name    text,
  first_seen_at   timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),   -- last change of an attribute
  PRIMARY KEY (phone_number_id, user_key)
) WITH (fillfactor = 80);

CREATE TABLE wapipe.user_identifiers (
  phone_number_id text NOT NULL,
  identifier      text NOT NULL,          -- a BSUID, parent BSUID or phone
  kind            text NOT NULL CHECK (kind IN ('bsuid', 'parent_bsuid', 'phone')),
  user_key        text NOT NULL,
  linked_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (phone_number_id, identifier)
);
CREATE INDEX user_identifiers_user_idx ON wapipe.user_identifiers (phone_number_id, user_key);

-- What a signed POST held that wapipe could not read (no id, no sender, a shape no
-- rule knows): kept with the reason next to its raw event, never sinking the rest
-- of the POST; replayable by an operator after an upgrade.
CREATE TABLE wapipe.quarantine (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  webhook_event_id bigint NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT now(),
  path             text NOT NULL,         -- where in the POST, e.g. entry[0].changes[1].value.messages[3]
  reason           text NOT NULL,
  item             jsonb,                 -- the part that could not be read
  replay_payload   jsonb NOT NULL,        -- a webhook that holds only this part, to ingest again
  status           text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'replayed', 'discarded')),
  resolved_at      timestamptz,
  replay_event_id  bigint
);
CREATE INDEX quarantine_held_idx ON wapipe.quarantine (received_at) WHERE status = 'held';
CREATE INDEX quarantine_received_at_brin ON wapipe.quarantine USING brin (received_at);

-- Fields other than messages (calls, user_preferences, account_update, template and
-- quality updates, group events, fields of the future): stored for operators.
CREATE TABLE wapipe.webhook_updates (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  webhook_event_id bigint NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT now(),
  field            text NOT NULL,
  phone_number_id  text,
  value            jsonb NOT NULL
);
CREATE INDEX webhook_updates_field_idx ON wapipe.webhook_updates (field, received_at);
CREATE INDEX webhook_updates_received_at_brin ON wapipe.webhook_updates USING brin (received_at);

-- The raw bytes of a POST whose JSON PostgreSQL cannot hold as jsonb (\u0000, a lone
-- surrogate): the payload column then has U+FFFD in their place.
ALTER TABLE wapipe.webhook_events
  ADD COLUMN raw_body bytea,
  ADD COLUMN quarantined integer NOT NULL DEFAULT 0,
  ADD COLUMN updates integer NOT NULL DEFAULT 0;

-- One item of a POST, as the ingest walk finds it (wapipe._webhook_items).
CREATE TYPE wapipe.webhook_item AS (
  payload_ord          integer,
  kind                 text,     -- message, echo, status, error, update, quarantine
  path                 text,
  field                text,
  phone_number_id      text,
  display_phone_number text,
  item                 jsonb,
  contacts             jsonb,    -- a message's or echo's own contacts[] entry
  reason               text,
  entry_pos            integer,
  change_pos           integer,
  item_pos             integer
);

-- A parsed message now carries every identifier of its user, and its key once known.
ALTER TYPE wapipe.inbound_message
  ADD ATTRIBUTE kind text,
  ADD ATTRIBUTE phone text,
  ADD ATTRIBUTE bsuid text,
  ADD ATTRIBUTE parent_bsuid text,
  ADD ATTRIBUTE group_id text,
  ADD ATTRIBUTE username text,
  ADD ATTRIBUTE profile_name text,
  ADD ATTRIBUTE pos integer;

-- Recipients of statuses may be known only by BSUID.
ALTER TABLE wapipe.message_statuses ADD COLUMN recipient_user_id text;

ALTER TABLE wapipe.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE wapipe.user_identifiers ENABLE ROW LEVEL SECURITY;
ALTER TABLE wapipe.quarantine ENABLE ROW LEVEL SECURITY;
ALTER TABLE wapipe.webhook_updates ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON wapipe.users, wapipe.user_identifiers, wapipe.quarantine, wapipe.webhook_updates
  FROM PUBLIC;

-- Existing conversations: their key's phone becomes a known user (the BSUID joins
-- it the first time a webhook carries both).
INSERT INTO wapipe.users (phone_number_id, user_key, phone, first_seen_at, updated_at)
SELECT c.phone_number_id, c.wa_id, CASE WHEN c.wa_id ~ '^[0-9]+$' THEN c.wa_id END,
       c.created_at, c.last_message_at
FROM wapipe.conversations c
ON CONFLICT DO NOTHING;

INSERT INTO wapipe.settings (key, value, description) VALUES
  ('quarantine.retention_days', '30', 'days a quarantined item is kept (held or not)'),
  ('updates.retention_days', '7', 'days a non-message update (calls, account updates …) is kept')
ON CONFLICT (key) DO NOTHING;

-- ingest_webhooks now also returns quarantined and updates: re-created by migrate.
DROP FUNCTION IF EXISTS wapipe.ingest_webhooks(jsonb[], text[]);
