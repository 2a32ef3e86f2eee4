-- Ingest: a signed webhook POST is stored whole and every item in it gets the rule of
-- its kind. Private steps first, then wapipe.ingest_webhooks (the orchestrator) and
-- wapipe.ingest_webhook (the batch of one).
--
-- What each kind of update means (README, "What each kind of update means"):
--   messages: text, media, interactive, button, order, location, contacts,
--             request_welcome, unsupported ... -> queued for the agent / workflow
--             reaction, system, revoke, edit     -> recorded, not queued; revoke
--             cancels a still-queued original, edit rewrites one, system relinks
--   message_echoes (smb_message_echoes)         -> recorded as the business's turn
--   statuses (field messages only)              -> message_statuses, never backwards
--   value.errors                                -> webhook_errors
--   any other field                             -> webhook_updates
--   anything that cannot be read                -> quarantine, with the reason

-- wapipe._webhook_items: every item of the POSTs, classified; what cannot be read is a
-- 'quarantine' item with its reason. Reads no table.
CREATE OR REPLACE FUNCTION wapipe._webhook_items(payloads jsonb[])
RETURNS SETOF wapipe.webhook_item
-- plpgsql, not sql: its statement's plan is made once per session (a sql function's
-- is made again on every call, which cost more than the walk itself).
LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN QUERY
  WITH bodies AS (
    SELECT p.i::integer AS payload_ord, p.body
    FROM unnest(payloads) WITH ORDINALITY AS p(body, i)
  ), entries AS (
    SELECT b.payload_ord, e.entry, (e.ord - 1)::integer AS entry_pos
    FROM bodies b
    CROSS JOIN LATERAL jsonb_array_elements(
      CASE WHEN jsonb_typeof(b.body->'entry') = 'array' THEN b.body->'entry' ELSE '[]' END
    ) WITH ORDINALITY AS e(entry, ord)
  ), changes AS (
    SELECT en.payload_ord, en.entry_pos, ch.change, (ch.ord - 1)::integer AS change_pos
    FROM entries en
    CROSS JOIN LATERAL jsonb_array_elements(
      CASE WHEN jsonb_typeof(en.entry->'changes') = 'array' THEN en.entry->'changes' ELSE '[]' END
    ) WITH ORDINALITY AS ch(change, ord)
  ), vals AS (
    SELECT c.payload_ord, c.entry_pos, c.change_pos, c.change->'value' AS value,
           coalesce(c.change->>'field', 'messages') AS field,
           nullif(c.change->'value'->'metadata'->>'phone_number_id', '') AS phone_number_id,
           c.change->'value'->'metadata'->>'display_phone_number' AS display_phone_number,
           format('entry[%s].changes[%s]', c.entry_pos, c.change_pos) AS path
    FROM changes c
    WHERE jsonb_typeof(c.change->'value') = 'object'
  ), lists AS (
    -- the arrays a value may hold, each with the kind of its items; for messages and
    -- echoes the change's contacts by wa_id and by user_id, built once per change
    -- (only when there are several: nearly always there is one)
    SELECT v.*, l.list, l.kind, l.items,
           CASE WHEN l.kind IN ('message', 'echo') AND jsonb_typeof(v.value->'contacts') = 'array'
                     AND jsonb_array_length(v.value->'contacts') > 1 THEN
             (SELECT jsonb_object_agg(k.id, k.c)
              FROM (SELECT DISTINCT ON (x.id) x.id, x.c
                    FROM jsonb_array_elements(v.value->'contacts') c0(c)
                    CROSS JOIN LATERAL (VALUES (c0.c->>'wa_id', c0.c), (c0.c->>'user_id', c0.c)) x(id, c)
                    WHERE x.id IS NOT NULL) k) END AS contact_map
    FROM vals v
    CROSS JOIN LATERAL (VALUES
      ('messages', 'message', CASE WHEN v.field = 'messages' THEN v.value->'messages' END),
      ('statuses', 'status', CASE WHEN v.field = 'messages' THEN v.value->'statuses' END),
      ('message_echoes', 'echo',
       CASE WHEN v.field = 'smb_message_echoes' THEN v.value->'message_echoes' END),
      ('errors', 'error', v.value->'errors')
    ) AS l(list, kind, items)
    WHERE l.items IS NOT NULL AND l.items <> 'null'
  )
  -- The envelope's own parts that cannot be read.
  SELECT b.payload_ord, 'quarantine'::text, 'entry'::text, NULL::text, NULL::text, NULL::text,
         b.body->'entry', NULL::jsonb, '"entry" must be an array'::text, 0, 0, 0
  FROM bodies b
  WHERE jsonb_typeof(b.body->'entry') IS DISTINCT FROM 'array'
  UNION ALL
  SELECT en.payload_ord, 'quarantine', format('entry[%s]', en.entry_pos), NULL, NULL, NULL,
         en.entry, NULL, 'an entry must be an object with a "changes" array', en.entry_pos, 0, 0
  FROM entries en
  WHERE jsonb_typeof(en.entry->'changes') IS DISTINCT FROM 'array'
  UNION ALL
  SELECT c.payload_ord, 'quarantine', format('entry[%s].changes[%s]', c.entry_pos, c.change_pos),
         c.change->>'field', NULL, NULL, c.change, NULL, 'a change must have a "value" object',
         c.entry_pos, c.change_pos, 0
  FROM changes c
  WHERE jsonb_typeof(c.change->'value') IS DISTINCT FROM 'object'
  UNION ALL
  -- Fields other than messages and echoes: kept whole as an update.
  SELECT v.payload_ord, 'update', v.path, v.field, v.phone_number_id, v.display_phone_number,
         v.value, NULL, NULL, v.entry_pos, v.change_pos, 0
  FROM vals v
  WHERE v.field NOT IN ('messages', 'smb_message_echoes')
  UNION ALL
  SELECT l.payload_ord, 'quarantine', format('%s.value.%s', l.path, l.list), l.field,
         l.phone_number_id, l.display_phone_number, l.items, NULL,
         format('"%s" must be an array', l.list), l.entry_pos, l.change_pos, 0
  FROM lists l
  WHERE jsonb_typeof(l.items) <> 'array'
  UNION ALL
  -- Each message, echo, status and error, or the reason it cannot be read.
  SELECT l.payload_ord,
         CASE WHEN r.reason IS NULL THEN l.kind ELSE 'quarantine' END,
         format('%s.value.%s[%s]', l.path, l.list, x.ord - 1), l.field, l.phone_number_id,
         l.display_phone_number, x.item,
         -- the sender's (an echo's recipient's) contacts[] entry
         CASE WHEN l.kind NOT IN ('message', 'echo') OR jsonb_typeof(x.item) <> 'object' THEN NULL
              WHEN l.contact_map IS NOT NULL
                THEN coalesce(l.contact_map -> (x.item->>(CASE l.kind WHEN 'echo' THEN 'to' ELSE 'from' END)),
                              l.contact_map -> (x.item->>(CASE l.kind WHEN 'echo' THEN 'to_user_id'
                                                                   ELSE 'from_user_id' END)))
              ELSE wapipe._sender_contact(
                     x.item->>(CASE l.kind WHEN 'echo' THEN 'to' ELSE 'from' END),
                     x.item->>(CASE l.kind WHEN 'echo' THEN 'to_user_id' ELSE 'from_user_id' END),
                     l.value->'contacts'->0) END,
         r.reason, l.entry_pos, l.change_pos, (x.ord - 1)::integer
  FROM lists l
  CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(l.items) = 'array' THEN l.items ELSE '[]' END
  ) WITH ORDINALITY AS x(item, ord)
  CROSS JOIN LATERAL (SELECT CASE
    WHEN l.kind = 'error' THEN NULL
    WHEN jsonb_typeof(x.item) IS DISTINCT FROM 'object' THEN format('a %s must be an object', l.kind)
    WHEN jsonb_typeof(x.item->'id') IS DISTINCT FROM 'string' OR x.item->>'id' = ''
      THEN format('a %s needs an "id" string', l.kind)
    WHEN l.kind = 'status' AND coalesce(x.item->>'status', '') = ''
      THEN 'a status needs a "status"'
    WHEN l.kind = 'status' THEN NULL
    WHEN l.phone_number_id IS NULL THEN 'the change needs metadata.phone_number_id'
    WHEN l.kind = 'message' AND coalesce(nullif(x.item->>'from', ''), nullif(x.item->>'from_user_id', ''),
                                         nullif(x.item->>'group_id', '')) IS NULL
      THEN 'a message needs a sender: "from", "from_user_id" or "group_id"'
    WHEN l.kind = 'echo' AND coalesce(nullif(x.item->>'to', ''), nullif(x.item->>'to_user_id', ''),
                                      nullif(x.item->>'group_id', '')) IS NULL
      THEN 'an echo needs a recipient: "to", "to_user_id" or "group_id"'
    WHEN jsonb_typeof(x.item->'type') IS DISTINCT FROM 'string' AND x.item ? 'type'
      THEN '"type" must be a string'
    END AS reason) r;
END
$$;
COMMENT ON FUNCTION wapipe._webhook_items(jsonb[]) IS
  'Every item of the webhook POSTs (message, echo, status, error, update), in POST order, or a quarantine item with the reason it cannot be read. Private to ingest_webhooks.';
REVOKE ALL ON FUNCTION wapipe._webhook_items(jsonb[]) FROM PUBLIC;


-- wapipe._one_message_post: whether a webhook body is the usual POST, one message read
-- by plain expressions in ingest_webhooks; returns true or false.
-- One entry, one change of field messages, one message object with an id string, a
-- sender (from, from_user_id or group_id) and a business number, each a non-empty string,
-- at most one contact, and no statuses or errors. A pure helper (inlined: db/README.md
-- house rules): its jsonpath is a constant, parsed once per session, where the same test
-- written as 40 operators was compiled again in every transaction (0.09 M instructions a
-- call). A shape it does not take goes to the walk, which reads anything.
CREATE OR REPLACE FUNCTION wapipe._one_message_post(body jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE
RETURN jsonb_path_exists(body, '
  $ ? (@.entry.type() == "array" && @.entry.size() == 1)
  .entry[0] ? (@.changes.type() == "array" && @.changes.size() == 1)
  .changes[0] ? (!exists(@.field) || @.field == "messages")
  .value ? (@.type() == "object" && @.messages.type() == "array" && @.messages.size() == 1
            && !exists(@.statuses) && !exists(@.errors)
            && @.metadata.phone_number_id.type() == "string" && @.metadata.phone_number_id != ""
            && (!exists(@.contacts) || (@.contacts.type() == "array" && @.contacts.size() <= 1)))
  .messages[0] ? (@.type() == "object" && @.id.type() == "string" && @.id != ""
                  && (!exists(@."type") || @."type".type() == "string")
                  && ((@.from.type() == "string" && @.from != "")
                      || (@.from_user_id.type() == "string" && @.from_user_id != "")
                      || (@.group_id.type() == "string" && @.group_id != "")))');
COMMENT ON FUNCTION wapipe._one_message_post(jsonb) IS
  'Private (pure, inlined): whether a webhook body is one entry, one messages change and one message with an id, a sender and a business number (ingest_webhooks reads it by plain expressions).';
REVOKE ALL ON FUNCTION wapipe._one_message_post(jsonb) FROM PUBLIC;


-- wapipe._sender_contact: a contacts[] entry when it is the given user's, else NULL;
-- returns the contact object.
-- The user is a message's sender (from, from_user_id) or an echo's recipient (to,
-- to_user_id): the entry is theirs when its wa_id is the phone or its user_id the BSUID.
-- The one text of this rule, for the walk's change with one contact and the one-message
-- POST (a change with several contacts is looked up by a map of the same two keys). A pure
-- helper, inlined.
CREATE OR REPLACE FUNCTION wapipe._sender_contact(phone text, bsuid text, contact jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN ((nullif(phone, '') IS NOT NULL AND contact->>'wa_id' = phone)
                  OR (nullif(bsuid, '') IS NOT NULL AND contact->>'user_id' = bsuid)) IS TRUE
            THEN contact END;
COMMENT ON FUNCTION wapipe._sender_contact(text, text, jsonb) IS
  'Private (pure, inlined): the contact when it is the user''s (wa_id = phone, or user_id = BSUID), else NULL.';
REVOKE ALL ON FUNCTION wapipe._sender_contact(text, text, jsonb) FROM PUBLIC;


-- wapipe._inbound_message_of: a message or echo item of a webhook as an inbound message;
-- returns it with the sender's identifiers as the webhook gives them (the key is
-- _identify_senders'), its positions in the POST and pos (its place in the call).
-- THE reading of a message item, for both readings of a POST: the walk
-- (_messages_of_items) and the one-message POST's plain expressions (ingest_webhooks).
-- kind is 'message' or 'echo' (an echo's user is its recipient: "to", "to_user_id";
-- its type is 'echo'); contact is the user's contacts[] entry (_sender_contact). A pure
-- helper (plain SQL, inlined where it is used: db/README.md house rules).
CREATE OR REPLACE FUNCTION wapipe._inbound_message_of(
  kind text, item jsonb, contact jsonb, phone_number_id text, display_phone_number text,
  entry_pos integer, change_pos integer, item_pos integer, payload_ord integer, pos integer)
RETURNS wapipe.inbound_message
LANGUAGE sql IMMUTABLE
RETURN ROW(
  item->>'id', NULL,
  CASE WHEN kind = 'echo' THEN 'echo' ELSE coalesce(item->>'type', 'unknown') END,
  phone_number_id, display_phone_number,
  CASE WHEN item->>'timestamp' ~ '^[0-9]{1,12}$' THEN (item->>'timestamp')::bigint END,
  item, contact, entry_pos, change_pos, item_pos, payload_ord, kind,
  nullif(item->>(CASE WHEN kind = 'echo' THEN 'to' ELSE 'from' END), ''),
  nullif(item->>(CASE WHEN kind = 'echo' THEN 'to_user_id' ELSE 'from_user_id' END), ''),
  nullif(item->>(CASE WHEN kind = 'echo' THEN 'to_parent_user_id' ELSE 'from_parent_user_id' END), ''),
  nullif(item->>'group_id', ''),
  contact->'profile'->>'username', contact->'profile'->>'name', pos)::wapipe.inbound_message;
COMMENT ON FUNCTION wapipe._inbound_message_of(text, jsonb, jsonb, text, text, integer, integer, integer, integer, integer) IS
  'Private (pure, inlined): the one reading of a message or echo item as an inbound message (kind, item, the user''s contact, business number, display number, entry/change/item positions, payload_ord, pos); an echo''s user is its recipient.';
REVOKE ALL ON FUNCTION wapipe._inbound_message_of(text, jsonb, jsonb, text, text, integer, integer, integer, integer, integer) FROM PUBLIC;


-- wapipe._user_key_of: the key an identifier is filed under for a business number
-- (NULL when it has none). The one lookup every identity rule uses.
CREATE OR REPLACE FUNCTION wapipe._user_key_of(phone_number_id text, identifier text)
RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
AS $$
DECLARE
  v_key text;
BEGIN
  IF identifier IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT u.user_key INTO v_key FROM wapipe.user_identifiers u
  WHERE u.phone_number_id = _user_key_of.phone_number_id AND u.identifier = _user_key_of.identifier;
  RETURN v_key;
END
$$;
COMMENT ON FUNCTION wapipe._user_key_of(text, text) IS
  'The user key an identifier (BSUID or phone) is linked to for a business number, or NULL.';
REVOKE ALL ON FUNCTION wapipe._user_key_of(text, text) FROM PUBLIC;


-- wapipe._with_identity: a message's contact with the identity the agent is told
-- ("identity": every identifier known for the user, absent ones left out).
-- A pure helper (plain SQL, inlined where it is used: db/README.md house rules), the one
-- text of that object for both readings of a POST. jsonb_object looks no type up per
-- value, as jsonb_build_object does on every call.
CREATE OR REPLACE FUNCTION wapipe._with_identity(
  contact jsonb, user_key text, bsuid text, parent_bsuid text, phone text, username text,
  profile_name text, group_id text)
RETURNS jsonb
-- STABLE, as jsonb_build_object is: a function declared IMMUTABLE over a STABLE body is
-- never inlined
LANGUAGE sql STABLE
RETURN coalesce(contact, '{}') || jsonb_build_object('identity', jsonb_strip_nulls(jsonb_object(
  '{user,bsuid,parent_bsuid,phone,username,name,group_id}'::text[],
  ARRAY[user_key, bsuid, parent_bsuid, phone, username, profile_name, group_id])));
COMMENT ON FUNCTION wapipe._with_identity(jsonb, text, text, text, text, text, text, text) IS
  'Private (pure, inlined): the contact with "identity" (user, bsuid, parent_bsuid, phone, username, name, group_id; NULLs left out).';
REVOKE ALL ON FUNCTION wapipe._with_identity(jsonb, text, text, text, text, text, text, text) FROM PUBLIC;


-- wapipe._user_has_row: whether a user is described by more than its key, and so has a
-- wapipe.users row: a BSUID, a parent BSUID or a username; returns true or false. A user
-- known by phone alone is described by the key itself and each message's contact (legacy
-- traffic writes nothing more than before 2026). A pure helper, inlined.
CREATE OR REPLACE FUNCTION wapipe._user_has_row(bsuid text, parent_bsuid text, username text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
RETURN bsuid IS NOT NULL OR parent_bsuid IS NOT NULL OR username IS NOT NULL;
COMMENT ON FUNCTION wapipe._user_has_row(text, text, text) IS
  'Private (pure, inlined): whether a user with these identifiers (bsuid, parent_bsuid, username) has a wapipe.users row (a user known by phone alone has none).';
REVOKE ALL ON FUNCTION wapipe._user_has_row(text, text, text) FROM PUBLIC;


-- wapipe._user_changes: whether a message tells something new about a known user (an
-- identifier or name it carries that the user's row does not hold); returns true or false.
-- The one text of that test: _identify_senders reads it to know whether to write the row,
-- and its UPDATE writes only such rows. A pure helper, inlined.
CREATE OR REPLACE FUNCTION wapipe._user_changes(
  bsuid text, parent_bsuid text, phone text, username text, profile_name text,
  known_bsuid text, known_parent_bsuid text, known_phone text, known_username text,
  known_profile_name text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
RETURN (bsuid IS NOT NULL AND bsuid IS DISTINCT FROM known_bsuid)
    OR (parent_bsuid IS NOT NULL AND parent_bsuid IS DISTINCT FROM known_parent_bsuid)
    OR (phone IS NOT NULL AND phone IS DISTINCT FROM known_phone)
    OR (username IS NOT NULL AND username IS DISTINCT FROM known_username)
    OR (profile_name IS NOT NULL AND profile_name IS DISTINCT FROM known_profile_name);
COMMENT ON FUNCTION wapipe._user_changes(text, text, text, text, text, text, text, text, text, text) IS
  'Private (pure, inlined): whether the given identifiers and name (bsuid, parent_bsuid, phone, username, profile_name) hold a value the known ones (known_*) do not: the user''s row is then written.';
REVOKE ALL ON FUNCTION wapipe._user_changes(text, text, text, text, text, text, text, text, text, text) FROM PUBLIC;


-- wapipe._identify_senders: each parsed message with its user's key (from_wa_id) and
-- the identity the agent is told (contact.identity). Records every identifier.
--
-- The rule (invariant 8): a BSUID seen for the first time joins the key of its
-- phone (an identifier row, or the phone's own conversation: every user from
-- before 2026), else becomes a key itself; a phone with no row is its own key.
-- The BSUID's row is the arbiter between concurrent first sights (ON CONFLICT
-- waits for the other transaction, and the key is read back from the row).
-- system messages (user_changed_number, user_changed_user_id) link the new
-- identifiers to the key of the old ones first. Group messages belong to the
-- group's conversation (key group:<group_id>).
--
-- One statement reads it all: each message's key as filed now, the identity the agent is
-- told (every identifier known for the user), and whether something must be written first:
-- an identifier to file (a BSUID seen for the first time, or a phone seen with a BSUID filed
-- under another key), or the user's row to create or bring up to date. Then that is written
-- and the statement reads again. Nearly always nothing is to be written (a known user, or a
-- user known by phone alone, who has no row: legacy traffic writes nothing more than before
-- 2026), and one statement is the whole step, for one message as for a thousand.
CREATE OR REPLACE FUNCTION wapipe._identify_senders(msgs wapipe.inbound_message[])
RETURNS wapipe.inbound_message[]
-- (plans: ingest_webhooks' SETs are in force here; setting them again cost 11 k
-- instructions a call)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  v_out      wapipe.inbound_message[];
  v_pass     integer;
  v_to_file  boolean;
  v_to_write boolean;
  v_written  boolean := false;
  v_relink   boolean;
BEGIN
  -- Relinks announced by system messages: the new ids take the old ids' key.
  -- (one message: a plain expression; a query only for several)
  IF cardinality(msgs) = 1 THEN
    v_relink := msgs[1].message_type IS NOT DISTINCT FROM 'system';
  ELSE
    v_relink := EXISTS (SELECT 1 FROM unnest(msgs) m WHERE m.message_type = 'system');
  END IF;
  IF v_relink THEN
    INSERT INTO wapipe.user_identifiers AS ui (phone_number_id, identifier, kind, user_key)
    SELECT DISTINCT ON (s.phone_number_id, n.identifier) s.phone_number_id, n.identifier, n.kind, s.old_key
    FROM (
      SELECT m.phone_number_id, m.payload->'system' AS sys,
             coalesce(wapipe._user_key_of(m.phone_number_id, m.payload->'system'->>'previous_user_id'),
                      wapipe._user_key_of(m.phone_number_id, m.bsuid),
                      wapipe._user_key_of(m.phone_number_id, m.phone),
                      m.phone, m.payload->'system'->>'previous_user_id', m.bsuid) AS old_key
      FROM unnest(msgs) m
      WHERE m.message_type = 'system' AND m.group_id IS NULL
        AND m.payload->'system'->>'type' IN ('user_changed_number', 'user_changed_user_id',
                                            'customer_changed_number')
    ) s
    CROSS JOIN LATERAL (VALUES
      (nullif(s.sys->>'user_id', ''), 'bsuid'),
      (nullif(s.sys->>'parent_user_id', ''), 'parent_bsuid'),
      (nullif(coalesce(s.sys->>'wa_id', s.sys->>'new_wa_id'), ''), 'phone')
    ) AS n(identifier, kind)
    WHERE n.identifier IS NOT NULL AND s.old_key IS NOT NULL AND n.identifier <> s.old_key
    ORDER BY s.phone_number_id, n.identifier
    ON CONFLICT (phone_number_id, identifier) DO UPDATE
      SET user_key = excluded.user_key, linked_at = now()
      WHERE ui.user_key <> excluded.user_key;
  END IF;

  -- At most three readings: identifiers filed after the first, the users' rows written
  -- after the one that asks for it, and a last reading of what was written.
  FOR v_pass IN 1..3 LOOP
    SELECT array_agg(ROW(
        m.wamid, k.user_key, m.message_type, m.phone_number_id, m.display_phone_number, m.wa_ts,
        m.payload,
        wapipe._with_identity(m.contact, k.user_key, coalesce(m.bsuid, u.bsuid),
          coalesce(m.parent_bsuid, u.parent_bsuid), coalesce(m.phone, u.phone),
          coalesce(m.username, u.username), coalesce(m.profile_name, u.profile_name), m.group_id),
        m.entry_pos, m.change_pos, m.message_pos, m.payload_ord, m.kind, m.phone, m.bsuid,
        m.parent_bsuid, m.group_id, m.username, m.profile_name, m.pos)::wapipe.inbound_message
      ORDER BY m.pos),
           bool_or(m.bsuid IS NOT NULL AND m.group_id IS NULL
                   AND (kb.user_key IS NULL
                        OR (m.phone IS NOT NULL AND kb.user_key <> m.phone AND kp.user_key IS NULL))),
           -- a user described by more than the key: a row to create, or one that changes
           bool_or(m.group_id IS NULL
                   AND CASE WHEN u.user_key IS NULL
                            THEN wapipe._user_has_row(m.bsuid, m.parent_bsuid, m.username)
                            ELSE wapipe._user_changes(m.bsuid, m.parent_bsuid, m.phone, m.username,
                                   m.profile_name, u.bsuid, u.parent_bsuid, u.phone, u.username,
                                   u.profile_name) END)
    INTO v_out, v_to_file, v_to_write
    FROM unnest(msgs) m
    LEFT JOIN wapipe.user_identifiers kb
      ON kb.phone_number_id = m.phone_number_id AND kb.identifier = m.bsuid
    LEFT JOIN wapipe.user_identifiers kp
      ON kp.phone_number_id = m.phone_number_id AND kp.identifier = m.phone
    CROSS JOIN LATERAL (SELECT CASE WHEN m.group_id IS NOT NULL THEN 'group:' || m.group_id
                                    ELSE coalesce(kb.user_key, kp.user_key, m.phone, m.bsuid) END
                               AS user_key) k
    LEFT JOIN wapipe.users u ON u.phone_number_id = m.phone_number_id AND u.user_key = k.user_key;

    IF v_to_file AND v_pass = 1 THEN
      -- A BSUID seen for the first time.
      INSERT INTO wapipe.user_identifiers (phone_number_id, identifier, kind, user_key)
      SELECT DISTINCT ON (m.phone_number_id, m.bsuid) m.phone_number_id, m.bsuid, 'bsuid',
             coalesce(kp.user_key,
                      CASE WHEN m.phone IS NOT NULL AND EXISTS (
                             SELECT 1 FROM wapipe.conversations c
                             WHERE c.conversation_key = m.phone_number_id || ':' || m.phone)
                           THEN m.phone END,
                      m.bsuid)
      FROM unnest(msgs) m
      LEFT JOIN wapipe.user_identifiers kb
        ON kb.phone_number_id = m.phone_number_id AND kb.identifier = m.bsuid
      LEFT JOIN wapipe.user_identifiers kp
        ON kp.phone_number_id = m.phone_number_id AND kp.identifier = m.phone
      WHERE m.bsuid IS NOT NULL AND m.group_id IS NULL AND kb.user_key IS NULL
      ORDER BY m.phone_number_id, m.bsuid, m.pos
      ON CONFLICT DO NOTHING;

      -- A phone seen with a BSUID filed under another key: the phone joins that key.
      INSERT INTO wapipe.user_identifiers (phone_number_id, identifier, kind, user_key)
      SELECT DISTINCT ON (m.phone_number_id, m.phone) m.phone_number_id, m.phone, 'phone', kb.user_key
      FROM unnest(msgs) m
      JOIN wapipe.user_identifiers kb
        ON kb.phone_number_id = m.phone_number_id AND kb.identifier = m.bsuid
      WHERE m.phone IS NOT NULL AND m.bsuid IS NOT NULL AND m.group_id IS NULL
        AND kb.user_key <> m.phone
      ORDER BY m.phone_number_id, m.phone, m.pos
      ON CONFLICT DO NOTHING;
    ELSIF v_to_write AND NOT v_written THEN
      -- What is known of each user (one row per key, its latest message): a new user is
      -- inserted; a known one is written only when something changed (a no-op upsert
      -- would still lock and WAL-log the row on every message).
      INSERT INTO wapipe.users (phone_number_id, user_key, bsuid, parent_bsuid, phone, username,
                                profile_name)
      SELECT DISTINCT ON (m.phone_number_id, m.from_wa_id) m.phone_number_id, m.from_wa_id, m.bsuid,
             m.parent_bsuid, m.phone, m.username, m.profile_name
      FROM unnest(v_out) m
      WHERE m.group_id IS NULL
        AND wapipe._user_has_row(m.bsuid, m.parent_bsuid, m.username)
      ORDER BY m.phone_number_id, m.from_wa_id, m.pos DESC
      ON CONFLICT (phone_number_id, user_key) DO NOTHING;
      UPDATE wapipe.users u
      SET bsuid = coalesce(n.bsuid, u.bsuid), parent_bsuid = coalesce(n.parent_bsuid, u.parent_bsuid),
          phone = coalesce(n.phone, u.phone), username = coalesce(n.username, u.username),
          profile_name = coalesce(n.profile_name, u.profile_name), updated_at = now()
      FROM (SELECT DISTINCT ON (m.phone_number_id, m.from_wa_id) m.*
            FROM unnest(v_out) m
            WHERE m.group_id IS NULL
            ORDER BY m.phone_number_id, m.from_wa_id, m.pos DESC) n
      WHERE u.phone_number_id = n.phone_number_id AND u.user_key = n.from_wa_id
        AND wapipe._user_changes(n.bsuid, n.parent_bsuid, n.phone, n.username, n.profile_name,
                                 u.bsuid, u.parent_bsuid, u.phone, u.username, u.profile_name);
      v_written := true;
    ELSE
      EXIT;
    END IF;
  END LOOP;

  RETURN coalesce(v_out, '{}');
END
$$;
COMMENT ON FUNCTION wapipe._identify_senders(wapipe.inbound_message[]) IS
  'Each parsed message with its user''s stable key (from_wa_id) and identity (contact.identity): BSUID first, then phone; a first-seen BSUID joins its phone''s key; system messages relink. Records every identifier. Private to ingest_webhooks.';
REVOKE ALL ON FUNCTION wapipe._identify_senders(wapipe.inbound_message[]) FROM PUBLIC;


-- wapipe._store_messages: write the identified messages; returns the webhook event id
-- of each message stored now (a known wamid is skipped: invariant 2).
--
-- A message for the agent goes to processed_messages, the queue and the conversation
-- head index, in one statement. The queue entry is pgmq's INSERT written out, the one
-- copy left beside wapipe._inbound_send (0020): a call of that wrapper would be a
-- second statement and a SECURITY DEFINER call on every POST, the hottest path there is
-- (bench.db_ingest's gate); the ids are drawn from the queue's sequence the same way. A known wamid (stored before, or by a concurrent POST that
-- commits first) is skipped by ON CONFLICT before anything of it is written; its
-- ids, taken up front from the sequences, are simply never used. Dedup rows go in in
-- wamid order, heads in conversation order: concurrent ingests never deadlock.
-- Reactions, system messages, revokes, edits and the business's echoes are
-- recorded (status done, handled_by recorded:<kind>), never queued; a revoke marks
-- a still-queued original 'revoked' (the worker answers it with nothing), an edit
-- gives a still-queued original its edited content.
CREATE OR REPLACE FUNCTION wapipe._store_messages(
  msgs wapipe.inbound_message[], event_ids bigint[], correlation_ids text[], queued_at timestamptz)
RETURNS bigint[]
-- (plans: ingest_webhooks' SETs are in force here; setting them again cost 11 k
-- instructions a call)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  v_new      bigint[];
  v_recorded bigint[];
  v_any_recorded boolean;
BEGIN
  WITH aging AS (
    -- (the setting read in this statement: a call of _setting_num cost 25 k instructions more)
    SELECT make_interval(secs => (s.value #>> '{}')::double precision) AS step
    FROM wapipe.settings s WHERE s.key = 'claim.priority_aging_seconds'
  ), numbered AS (
    -- ids follow the payloads (the tie-break within one WhatsApp second): msgs is in
    -- payload order (pos), and this scan of it, a nested loop over unnest with no sort
    -- (a Sort node costs more to start than the whole one-message POST's rows to write),
    -- draws them in that order; db/tests/ingest_webhooks/ids_follow_the_payload checks it.
    -- (the id carries its day: wapipe._message_id_base, computed once)
    SELECT u.*, coalesce(r.priority, 0)::smallint AS priority,
           u.phone_number_id || ':' || u.from_wa_id AS conversation_key,
           (SELECT wapipe._message_id_base()) | nextval('wapipe.processed_messages_id_seq'::regclass) AS id,
           nextval('pgmq.q_wapipe_inbound_msg_id_seq'::regclass) AS queue_msg_id
    FROM unnest(msgs) u
    LEFT JOIN wapipe.priority_rules r ON r.message_type = u.message_type
    WHERE u.kind = 'message'
      AND u.message_type NOT IN ('reaction', 'system', 'revoke', 'edit')
  ), fresh AS (
    -- the dedup (invariant 2 across daily partitions): wapipe.message_wamids. A wamid
    -- twice in one call is skipped here too (DO NOTHING skips a key this statement has
    -- inserted): the first in payload order is kept. wamid order: no deadlock between
    -- concurrent ingests.
    INSERT INTO wapipe.message_wamids AS w (wamid, message_id)
    SELECT c.wamid, c.id FROM numbered c ORDER BY c.wamid, c.pos
    ON CONFLICT (wamid) DO NOTHING
    RETURNING w.message_id
  ), inserted AS (
    INSERT INTO wapipe.processed_messages AS pm (
      id, wamid, conversation_key, phone_number_id, display_phone_number, from_wa_id,
      message_type, payload, contact, wa_timestamp, priority, queue_msg_id,
      correlation_id, webhook_event_id)
    SELECT c.id, c.wamid, c.conversation_key, c.phone_number_id, c.display_phone_number,
           c.from_wa_id, c.message_type, c.payload, c.contact,
           coalesce(to_timestamp(c.wa_ts), now()), c.priority, c.queue_msg_id,
           correlation_ids[c.payload_ord], event_ids[c.payload_ord]
    FROM numbered c
    -- (IS TRUE keeps the IN a subplan, which PostgreSQL hashes; pulled up into a semi-join
    -- it was a nested loop under enable_hashjoin = off, quadratic: 0.3 M instructions per
    -- message of a 1,000-message POST)
    WHERE (c.id IN (SELECT f.message_id FROM fresh f)) IS TRUE
    RETURNING pm.id, pm.wamid, pm.queue_msg_id, pm.conversation_key, pm.phone_number_id,
              pm.from_wa_id, pm.message_type, pm.priority, pm.wa_timestamp, pm.received_at,
              pm.correlation_id, pm.webhook_event_id
  ), queued AS (
    -- The entry only references the stored message; its content lives once, in
    -- processed_messages.
    INSERT INTO pgmq.q_wapipe_inbound AS q (msg_id, vt, message, headers)
    OVERRIDING SYSTEM VALUE
    SELECT i.queue_msg_id, queued_at,
           -- (jsonb_object: all three are text, and it looks no type up per value)
           jsonb_object('{wamid,conversation_key,type}'::text[],
                        ARRAY[i.wamid, i.conversation_key, i.message_type]),
           jsonb_build_object('x-pgmq-group', i.conversation_key, 'priority', i.priority,
                              'correlation_id', i.correlation_id)
    FROM inserted i
    RETURNING q.msg_id
  ), heads AS (
    -- Head index: a new conversation gets its first new message as head; an idle
    -- one wakes up; an unclaimed one switches to an earlier message (Meta delivers
    -- concurrently, so a later message can arrive first). The row stays locked
    -- until commit, so a worker freeing the conversation sees the new message.
    INSERT INTO wapipe.conversations AS cv (
      conversation_key, phone_number_id, wa_id, head_message_id, head_priority,
      head_wa_timestamp, head_received_at, head_rank, available_at, last_message_at)
    SELECT DISTINCT ON (i.conversation_key)
           i.conversation_key, i.phone_number_id, i.from_wa_id, i.id, i.priority,
           i.wa_timestamp, i.received_at,
           wapipe._conversation_rank(i.received_at, i.priority,
                                     coalesce((SELECT a.step FROM aging a), interval '30 seconds')),
           now(), now()
    FROM inserted i
    ORDER BY i.conversation_key, i.wa_timestamp, i.id
    ON CONFLICT (conversation_key) DO UPDATE
      SET head_message_id = excluded.head_message_id, head_priority = excluded.head_priority,
          head_wa_timestamp = excluded.head_wa_timestamp,
          head_received_at = excluded.head_received_at, head_rank = excluded.head_rank,
          available_at = CASE WHEN cv.head_message_id IS NULL THEN excluded.available_at
                              ELSE cv.available_at END,
          last_message_at = excluded.last_message_at
      WHERE cv.head_message_id IS NULL
         OR ((cv.locked_by IS NULL OR cv.locked_until <= now())
             AND (excluded.head_wa_timestamp, excluded.head_message_id)
                 < (cv.head_wa_timestamp, cv.head_message_id))
    RETURNING 1
  )
  -- (queued and heads run to completion whether read or not)
  SELECT coalesce(array_agg(i.webhook_event_id), '{}') INTO v_new FROM inserted i;

  -- (one message: a plain expression; a query only for several)
  IF cardinality(msgs) = 1 THEN
    v_any_recorded := msgs[1].kind = 'echo' OR msgs[1].message_type IN ('reaction', 'system', 'revoke', 'edit');
  ELSE
    v_any_recorded := EXISTS (SELECT 1 FROM unnest(msgs) u
                              WHERE u.kind = 'echo' OR u.message_type IN ('reaction', 'system', 'revoke', 'edit'));
  END IF;
  IF v_any_recorded THEN
    WITH kept AS (
      SELECT DISTINCT ON (u.wamid) u.*,
             (SELECT wapipe._message_id_base()) | nextval('wapipe.processed_messages_id_seq'::regclass) AS id
      FROM unnest(msgs) u
      WHERE u.kind = 'echo' OR u.message_type IN ('reaction', 'system', 'revoke', 'edit')
      ORDER BY u.wamid, u.pos
    ), fresh AS (
      INSERT INTO wapipe.message_wamids AS w (wamid, message_id)
      SELECT k.wamid, k.id FROM kept k ORDER BY k.wamid
      ON CONFLICT (wamid) DO NOTHING
      RETURNING w.message_id
    ), recorded AS (
      INSERT INTO wapipe.processed_messages AS pm (
        id, wamid, conversation_key, phone_number_id, display_phone_number, from_wa_id,
        message_type, payload, contact, wa_timestamp, priority, status, handled_by,
        processed_at, correlation_id, webhook_event_id)
      SELECT u.id, u.wamid, u.phone_number_id || ':' || u.from_wa_id,
             u.phone_number_id, u.display_phone_number, u.from_wa_id, u.message_type, u.payload,
             u.contact, coalesce(to_timestamp(u.wa_ts), now()), 0, 'done',
             'recorded:' || CASE WHEN u.kind = 'echo' THEN 'business_app' ELSE u.message_type END,
             now(), correlation_ids[u.payload_ord], event_ids[u.payload_ord]
      FROM kept u
      WHERE (u.id IN (SELECT f.message_id FROM fresh f)) IS TRUE  -- (a hashed subplan, as above)
      ORDER BY u.wamid
      RETURNING pm.webhook_event_id, pm.message_type, pm.payload, pm.conversation_key
    ), revoked AS (
      UPDATE wapipe.processed_messages o
      SET message_type = 'revoked'
      FROM recorded r, wapipe.message_wamids w
      WHERE r.message_type = 'revoke'
        AND w.wamid = r.payload->'revoke'->>'original_message_id' AND o.id = w.message_id
        AND o.conversation_key = r.conversation_key AND o.status = 'queued'
      RETURNING 1
    ), edited AS (
      UPDATE wapipe.processed_messages o
      SET payload = o.payload || (r.payload->'edit'->'message')
                    || jsonb_build_object('id', o.wamid, 'edited_by', r.payload->>'id'),
          message_type = coalesce(r.payload->'edit'->'message'->>'type', o.message_type)
      FROM recorded r, wapipe.message_wamids w
      WHERE r.message_type = 'edit' AND jsonb_typeof(r.payload->'edit'->'message') = 'object'
        AND w.wamid = r.payload->'edit'->>'original_message_id' AND o.id = w.message_id
        AND o.conversation_key = r.conversation_key AND o.status = 'queued'
      RETURNING 1
    )
    SELECT coalesce(array_agg(r.webhook_event_id), '{}') INTO v_recorded FROM recorded r;
    v_new := v_new || v_recorded;
  END IF;
  RETURN v_new;
END
$$;
COMMENT ON FUNCTION wapipe._store_messages(wapipe.inbound_message[], bigint[], text[], timestamptz) IS
  'Write identified messages: deduplicated on wamid; queued with their conversation head, or recorded by kind (reaction, system, revoke, edit, echo) with the revoke/edit effect on a still-queued original. Returns the webhook event id of each message stored now. Private to ingest_webhooks.';
REVOKE ALL ON FUNCTION wapipe._store_messages(wapipe.inbound_message[], bigint[], text[], timestamptz) FROM PUBLIC;


-- wapipe._messages_of_items: the messages and echoes among parsed webhook items, as inbound messages.
-- Returns them in the order of the items (pos), with the sender's identifiers as the webhook gives them (the key is _identify_senders').
--
-- A step of ingest_webhooks for the general walk; each item is read by
-- wapipe._inbound_message_of, the reading the one-message POST uses too.
CREATE OR REPLACE FUNCTION wapipe._messages_of_items(items wapipe.webhook_item[])
RETURNS wapipe.inbound_message[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  RETURN (
    SELECT array_agg(wapipe._inbound_message_of(it.kind, it.item, it.contacts, it.phone_number_id,
                       it.display_phone_number, it.entry_pos, it.change_pos, it.item_pos,
                       it.payload_ord, it.pos::integer)
                     ORDER BY it.pos)
    FROM unnest(items) WITH ORDINALITY AS it(payload_ord, kind, path, field, phone_number_id,
                                               display_phone_number, item, contacts, reason,
                                               entry_pos, change_pos, item_pos, pos)
    WHERE it.kind IN ('message', 'echo'));
END
$$;
COMMENT ON FUNCTION wapipe._messages_of_items(wapipe.webhook_item[]) IS
  'Private step of ingest_webhooks: the message and echo items as wapipe.inbound_message (in item order; the sender''s phone, BSUID, parent BSUID as the webhook gives them, an echo''s recipient as its user).';
REVOKE ALL ON FUNCTION wapipe._messages_of_items(wapipe.webhook_item[]) FROM PUBLIC;


-- wapipe._store_other_items: keep what a POST holds besides messages and statuses.
-- Returns nothing: quarantined items (with the reason and a replay payload), value.errors and other fields' updates are written, each with its raw event's id.
--
-- A step of ingest_webhooks (items from _webhook_items, event_ids and bodies per
-- payload). A quarantined item under value.<list>[i] gets a replay payload of its own
-- (the envelope around that one item, with its contacts entry); any other one replays
-- its whole payload.
CREATE OR REPLACE FUNCTION wapipe._store_other_items(
  items wapipe.webhook_item[], event_ids bigint[], bodies jsonb[])
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
  SET plan_cache_mode = force_generic_plan
  SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM unnest(items) it WHERE it.kind = 'quarantine') THEN
    INSERT INTO wapipe.quarantine (webhook_event_id, path, reason, item, replay_payload)
    SELECT event_ids[it.payload_ord], it.path, it.reason, it.item,
           CASE WHEN it.path LIKE '%.value.%[%]' THEN
             jsonb_build_object('object', 'whatsapp_business_account', 'entry', jsonb_build_array(
               jsonb_build_object('id', bodies[it.payload_ord]->'entry'->it.entry_pos->'id',
                 'changes', jsonb_build_array(jsonb_build_object(
                   'field', it.field,
                   'value', jsonb_strip_nulls(jsonb_build_object(
                     'messaging_product', 'whatsapp',
                     'metadata', bodies[it.payload_ord]->'entry'->it.entry_pos->'changes'
                                 ->it.change_pos->'value'->'metadata',
                     'contacts', CASE WHEN it.contacts IS NOT NULL THEN jsonb_build_array(it.contacts) END,
                     substring(it.path FROM '\.value\.([a-z_]+)\['), jsonb_build_array(it.item))))))))
           ELSE bodies[it.payload_ord] END
    FROM unnest(items) it
    WHERE it.kind = 'quarantine';
  END IF;

  IF EXISTS (SELECT 1 FROM unnest(items) it WHERE it.kind = 'update') THEN
    INSERT INTO wapipe.webhook_updates (webhook_event_id, field, phone_number_id, value)
    SELECT event_ids[it.payload_ord], it.field, it.phone_number_id, it.item
    FROM unnest(items) it
    WHERE it.kind = 'update';
  END IF;

  IF EXISTS (SELECT 1 FROM unnest(items) it WHERE it.kind = 'error') THEN
    INSERT INTO wapipe.webhook_errors (webhook_event_id, phone_number_id, code, title, message, details)
    SELECT event_ids[it.payload_ord], it.phone_number_id,
           CASE WHEN it.item->>'code' ~ '^-?[0-9]{1,9}$' THEN (it.item->>'code')::integer END,
           it.item->>'title', coalesce(it.item->>'message', it.item->'error_data'->>'details'), it.item
    FROM unnest(items) it
    WHERE it.kind = 'error';
  END IF;
END
$$;
COMMENT ON FUNCTION wapipe._store_other_items(wapipe.webhook_item[], bigint[], jsonb[]) IS
  'Private step of ingest_webhooks: write the quarantined items (reason, replay payload), value.errors and other fields'' updates of parsed webhook items, each with the id of its payload''s raw event.';
REVOKE ALL ON FUNCTION wapipe._store_other_items(wapipe.webhook_item[], bigint[], jsonb[]) FROM PUBLIC;


-- wapipe.ingest_webhooks: store several webhook POSTs and what they hold, in one
-- transaction. Returns one row per payload (ord = 1-based position in payloads).
--
-- The ingress groups the POSTs that arrive while a call is running into the next
-- call, so a burst shares one commit. A payload that is a JSON object with
-- "object": "whatsapp_business_account" is always stored as its raw event, whatever
-- it holds (invariant 6); only a payload that is not one raises 22023, and then
-- nothing is stored. A payload may carry "wapipe_raw_body" (base64): the POST's raw
-- bytes when they held what jsonb cannot (the ingress put U+FFFD in their place).
CREATE OR REPLACE FUNCTION wapipe.ingest_webhooks(payloads jsonb[], correlation_ids text[] DEFAULT NULL)
RETURNS TABLE (ord integer, event_id bigint, new_messages integer, duplicates integer,
               statuses integer, errors integer, quarantined integer, updates integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
-- One plan per statement for the session (a custom plan per call cost more to make
-- than to run), and never a scan or hash of a whole table: every lookup here is a
-- key probe, even on a new install whose tables autovacuum has not analysed yet.
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
  v_n          integer := coalesce(cardinality(payloads), 0);
  v_bad        record;
  v_bodies     jsonb[] := payloads;
  v_raw        bytea[];
  v_items      wapipe.webhook_item[];
  v_msgs       wapipe.inbound_message[];
  v_event_ids  bigint[];
  v_new_events bigint[];
  v_value      jsonb;
  v_m          jsonb;
  v_contact    jsonb;
  -- items of each kind in the whole call: a step with none to write is not run
  v_n_msgs     integer;
  v_n_echo     integer;
  v_has_raw    boolean;
  v_woken      boolean;
  v_n_status   integer;
  v_n_error    integer;
  v_n_quar     integer;
  v_n_update   integer;
  v_now        timestamptz := clock_timestamp();  -- the queue entries' vt, as pgmq.send sets it
BEGIN
  IF v_n = 0 THEN
    RETURN;
  END IF;
  IF correlation_ids IS NOT NULL AND cardinality(correlation_ids) <> v_n THEN
    RAISE EXCEPTION 'ingest_webhooks: % correlation ids for % payloads', cardinality(correlation_ids), v_n
      USING ERRCODE = '22023';
  END IF;

  -- ---------------------------------------------------------------- envelope
  -- (one payload, the usual call: plain expressions, no query to run)
  IF v_n > 1 OR payloads[1] IS NULL OR jsonb_typeof(payloads[1]) IS DISTINCT FROM 'object'
     OR payloads[1]->>'object' IS DISTINCT FROM 'whatsapp_business_account' THEN
    SELECT p.i, CASE
             WHEN p.body IS NULL OR jsonb_typeof(p.body) IS DISTINCT FROM 'object'
               THEN 'not a WhatsApp webhook: the body must be a JSON object'
             ELSE format('not a WhatsApp webhook: "object" must be "whatsapp_business_account", got %s',
                         coalesce(left(p.body->>'object', 60), 'nothing')) END AS reason
    INTO v_bad
    FROM unnest(payloads) WITH ORDINALITY AS p(body, i)
    WHERE p.body IS NULL OR jsonb_typeof(p.body) IS DISTINCT FROM 'object'
       OR p.body->>'object' IS DISTINCT FROM 'whatsapp_business_account'
    ORDER BY p.i
    LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION '%', CASE WHEN v_n > 1 THEN format('payload %s: %s', v_bad.i, v_bad.reason)
                                ELSE v_bad.reason END
        USING ERRCODE = '22023';
    END IF;
  END IF;

  -- The raw bytes the ingress could not pass as jsonb travel beside the payload.
  -- (one payload: a plain expression; a query only for a group)
  IF v_n = 1 THEN
    v_has_raw := payloads[1] ? 'wapipe_raw_body';
  ELSE
    v_has_raw := EXISTS (SELECT 1 FROM unnest(payloads) p(body) WHERE p.body ? 'wapipe_raw_body');
  END IF;
  IF v_has_raw THEN
    SELECT array_agg(CASE WHEN p.body ? 'wapipe_raw_body'
                          THEN decode(p.body->>'wapipe_raw_body', 'base64') END ORDER BY p.i),
           array_agg(p.body - 'wapipe_raw_body' ORDER BY p.i)
    INTO v_raw, v_bodies
    FROM unnest(payloads) WITH ORDINALITY AS p(body, i);
  END IF;

  -- ---------------------------------------------------------------- walk
  -- The usual POST is one entry, one change of field messages, one message object with
  -- an id string, a sender and the business number, and nothing else: its one item is
  -- reached by plain expressions instead of the walk, and read by the walk's own reading
  -- (wapipe._inbound_message_of; the guard's proof:
  -- db/tests/ingest_webhooks/one_message_path_matches_the_walk). Every expression here is
  -- compiled again in each transaction, at a cost per operator, so the shape is checked
  -- by one jsonpath (wapipe._one_message_post, inlined), the value is reached once (#>),
  -- and the item list is not built for it.
  IF v_n = 1 AND wapipe._one_message_post(v_bodies[1]) THEN
    v_value := v_bodies[1] #> '{entry,0,changes,0,value}';
    v_m := v_value #> '{messages,0}';
    v_contact := wapipe._sender_contact(v_m->>'from', v_m->>'from_user_id', v_value #> '{contacts,0}');
    v_n_msgs := 1; v_n_echo := 0; v_n_status := 0; v_n_error := 0; v_n_quar := 0; v_n_update := 0;
    v_event_ids := ARRAY[nextval('wapipe.webhook_events_id_seq'::regclass)];
    v_msgs := ARRAY[wapipe._inbound_message_of('message', v_m, v_contact,
      v_value #>> '{metadata,phone_number_id}', v_value #>> '{metadata,display_phone_number}', 0, 0, 0, 1, 1)];
  ELSE
    v_items := ARRAY(SELECT it FROM wapipe._webhook_items(v_bodies) it
                     ORDER BY it.payload_ord, it.entry_pos, it.change_pos, it.item_pos);
    SELECT count(*) FILTER (WHERE it.kind IN ('message', 'echo')), count(*) FILTER (WHERE it.kind = 'echo'),
           count(*) FILTER (WHERE it.kind = 'status'), count(*) FILTER (WHERE it.kind = 'error'),
           count(*) FILTER (WHERE it.kind = 'quarantine'), count(*) FILTER (WHERE it.kind = 'update')
    INTO v_n_msgs, v_n_echo, v_n_status, v_n_error, v_n_quar, v_n_update
    FROM unnest(v_items) it;
    SELECT array_agg(nextval('wapipe.webhook_events_id_seq'::regclass)) INTO v_event_ids
    FROM generate_series(1, v_n);
  END IF;

  -- ---------------------------------------------------------------- quarantine, updates, errors
  -- (rare: one step, called only when the call holds some)
  IF v_n_quar + v_n_update + v_n_error > 0 THEN
    PERFORM wapipe._store_other_items(v_items, v_event_ids, v_bodies);
  END IF;

  -- ---------------------------------------------------------------- statuses
  -- Statuses of our outbound messages, matched by wamid whoever the recipient is
  -- (phone, BSUID or nothing): keep the furthest one per wamid; never go back.
  IF v_n_status > 0 THEN
  INSERT INTO wapipe.message_statuses AS ms (
    wamid, phone_number_id, recipient_id, recipient_user_id, status, status_rank, status_at,
    errors, conversation, pricing, callback_data, webhook_event_id)
  SELECT DISTINCT ON (it.item->>'id')
         it.item->>'id', it.phone_number_id, it.item->>'recipient_id',
         it.item->>'recipient_user_id', it.item->>'status',
         wapipe._status_rank(it.item->>'status'),
         CASE WHEN it.item->>'timestamp' ~ '^[0-9]{1,12}$'
              THEN to_timestamp((it.item->>'timestamp')::bigint) END,
         it.item->'errors', it.item->'conversation', it.item->'pricing',
         it.item->>'biz_opaque_callback_data', v_event_ids[it.payload_ord]
  FROM unnest(v_items) it
  WHERE it.kind = 'status'
  ORDER BY it.item->>'id', wapipe._status_rank(it.item->>'status') DESC,
           it.item->>'timestamp' DESC
  ON CONFLICT (wamid) DO UPDATE
    SET status = excluded.status, status_rank = excluded.status_rank,
        status_at = excluded.status_at,
        errors = coalesce(excluded.errors, ms.errors),
        conversation = coalesce(excluded.conversation, ms.conversation),
        pricing = coalesce(excluded.pricing, ms.pricing),
        recipient_id = coalesce(excluded.recipient_id, ms.recipient_id),
        recipient_user_id = coalesce(excluded.recipient_user_id, ms.recipient_user_id),
        callback_data = coalesce(excluded.callback_data, ms.callback_data),
        updated_at = now(), webhook_event_id = excluded.webhook_event_id
    WHERE excluded.status_rank > ms.status_rank;
  END IF;

  -- ---------------------------------------------------------------- messages
  IF v_n_msgs > 0 AND v_msgs IS NULL THEN
    v_msgs := wapipe._messages_of_items(v_items);
  END IF;
  IF v_n_msgs > 0 THEN
    v_msgs := wapipe._identify_senders(v_msgs);
    v_new_events := wapipe._store_messages(v_msgs, v_event_ids, correlation_ids, v_now);
    IF v_n_echo > 0 THEN
      PERFORM wapipe._handoff_on_echoes(v_msgs, v_event_ids);  -- staff answered: bot paused (0720)
    END IF;
  ELSE
    v_new_events := '{}';
  END IF;

  -- ---------------------------------------------------------------- raw events
  IF v_n = 1 THEN  -- the usual call: the counts are the call's own
    INSERT INTO wapipe.webhook_events (
      id, correlation_id, payload, raw_body, new_messages, duplicates, statuses, errors,
      quarantined, updates)
    OVERRIDING SYSTEM VALUE
    VALUES (v_event_ids[1], correlation_ids[1], v_bodies[1], v_raw[1], cardinality(v_new_events),
            v_n_msgs - cardinality(v_new_events), v_n_status, v_n_error, v_n_quar, v_n_update)
    -- the call's one row, as written (one projection instead of eight assignments)
    RETURNING 1, webhook_events.id, webhook_events.new_messages, webhook_events.duplicates,
              webhook_events.statuses, webhook_events.errors, webhook_events.quarantined,
              webhook_events.updates
    INTO ord, event_id, new_messages, duplicates, statuses, errors, quarantined, updates;
  ELSE
    -- one row per payload, returned as written (a read back by id alone would visit
    -- every daily partition of webhook_events)
    RETURN QUERY
    -- (the counts by one pass over the items, grouped: a count per payload over every
    -- item of the call was quadratic, 52 k instructions per payload in a group of 32)
    WITH per_post AS (
      SELECT it.payload_ord AS i,
             count(*) FILTER (WHERE it.kind IN ('message', 'echo'))::integer AS total,
             count(*) FILTER (WHERE it.kind = 'status')::integer AS statuses,
             count(*) FILTER (WHERE it.kind = 'error')::integer AS errors,
             count(*) FILTER (WHERE it.kind = 'quarantine')::integer AS quarantined,
             count(*) FILTER (WHERE it.kind = 'update')::integer AS updates
      FROM unnest(v_items) it
      GROUP BY it.payload_ord
    ), news AS (
      SELECT x.id, count(*)::integer AS n FROM unnest(v_new_events) x(id) GROUP BY x.id
    ), written AS (
      INSERT INTO wapipe.webhook_events AS e (
        id, correlation_id, payload, raw_body, new_messages, duplicates, statuses, errors,
        quarantined, updates)
      OVERRIDING SYSTEM VALUE
      SELECT v_event_ids[g.i], correlation_ids[g.i], v_bodies[g.i], v_raw[g.i], coalesce(nw.n, 0),
             coalesce(c.total, 0) - coalesce(nw.n, 0), coalesce(c.statuses, 0), coalesce(c.errors, 0),
             coalesce(c.quarantined, 0), coalesce(c.updates, 0)
      FROM generate_series(1, v_n) g(i)
      LEFT JOIN per_post c ON c.i = g.i
      LEFT JOIN news nw ON nw.id = v_event_ids[g.i]
      RETURNING e.id, e.new_messages, e.duplicates, e.statuses, e.errors, e.quarantined, e.updates
    )
    SELECT array_position(v_event_ids, w.id)::integer, w.id, w.new_messages, w.duplicates,
           w.statuses, w.errors, w.quarantined, w.updates
    FROM written w
    ORDER BY 1;
  END IF;

  -- Wake the workers (LISTEN on pgmq's channel) once per call; they also poll, so a
  -- wake-up another concurrent ingest sends instead of this one costs little latency
  -- (wapipe._wake_workers' two statements, written out: one function call less).
  -- One plain expression, not a PERFORM (a PERFORM is a statement, and each statement
  -- costs more to start in a new transaction than this whole test): AND evaluates left
  -- to right and stops at the first false, so the NOTIFY is sent only under the lock.
  v_woken := cardinality(v_new_events) > 0
             AND pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('wapipe.wake_workers'), 0)
             AND pg_catalog.pg_notify('pgmq.q_wapipe_inbound.INSERT', NULL)::text = '';

  IF v_n = 1 THEN
    RETURN NEXT;
  END IF;
END
$$;
COMMENT ON FUNCTION wapipe.ingest_webhooks(jsonb[], text[]) IS
  'Store several webhook POSTs in one transaction (each its own raw event, correlation_ids[i] for payloads[i]): messages deduplicated on wamid and queued by conversation and priority (or recorded, by kind), statuses (never backwards), value.errors, other fields as updates, and what cannot be read in quarantine. Returns one row per payload (ord, event_id, new_messages, duplicates, statuses, errors, quarantined, updates). Raises 22023 naming the first payload that is not a WhatsApp webhook object, and then stores nothing.';
REVOKE ALL ON FUNCTION wapipe.ingest_webhooks(jsonb[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.ingest_webhooks(jsonb[], text[]) TO wapipe_ingress;


-- wapipe.ingest_webhook: one POST; the batch of one.
CREATE OR REPLACE FUNCTION wapipe.ingest_webhook(payload jsonb, correlation_id text DEFAULT NULL)
RETURNS TABLE (event_id bigint, new_messages integer, duplicates integer, statuses integer, errors integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  RETURN QUERY
  SELECT r.event_id, r.new_messages, r.duplicates, r.statuses, r.errors
  FROM wapipe.ingest_webhooks(ARRAY[payload], ARRAY[correlation_id]) r;
END
$$;
COMMENT ON FUNCTION wapipe.ingest_webhook(jsonb, text) IS
  'Store a whole webhook POST in one transaction (wapipe.ingest_webhooks with one payload). Returns (event_id, new_messages, duplicates, statuses, errors). Raises 22023 for a payload that is not a WhatsApp webhook object.';
REVOKE ALL ON FUNCTION wapipe.ingest_webhook(jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wapipe.ingest_webhook(jsonb, text) TO wapipe_ingress;
