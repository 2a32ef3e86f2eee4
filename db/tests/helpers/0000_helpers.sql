-- wapipe_tests: helpers for pgTAP files, installed only in test databases
-- (wapipe.migrate with test_helpers=True). Each area adds its own file here.

-- The sample webhooks of tests/fixtures/whatsapp, loaded by the harness.
CREATE TABLE wapipe_tests.samples (name text PRIMARY KEY, payload jsonb NOT NULL);

-- A sample payload by file name without .json, e.g. wapipe_tests.sample('text').
CREATE FUNCTION wapipe_tests.sample(sample_name text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE result jsonb;
BEGIN
  SELECT s.payload INTO result FROM wapipe_tests.samples s WHERE s.name = sample_name;
  IF NOT FOUND THEN RAISE EXCEPTION 'no sample named %', sample_name; END IF;
  RETURN result;
END $$;

-- Empty every wapipe table and the inbound queue (tests run in a rolled-back transaction,
-- but a clean slate makes counts exact).
CREATE FUNCTION wapipe_tests.reset() RETURNS void LANGUAGE plpgsql AS $$
DECLARE t regclass;
BEGIN
  FOR t IN SELECT c.oid::regclass FROM pg_class c
           WHERE c.relnamespace = 'wapipe'::regnamespace AND c.relkind = 'r'
             AND c.relname NOT IN ('settings', 'priority_rules')
  LOOP
    EXECUTE format('TRUNCATE %s', t);
  END LOOP;
  PERFORM pgmq.purge_queue('wapipe_inbound');
  DELETE FROM pgmq.a_wapipe_inbound;
END $$;

-- A one-message text webhook in Meta's shape.
CREATE FUNCTION wapipe_tests.text_payload(
  from_wa_id text, body text, wamid text DEFAULT NULL,
  phone_number_id text DEFAULT '300100200300400', wa_timestamp bigint DEFAULT NULL)
RETURNS jsonb LANGUAGE sql VOLATILE AS $$
  SELECT jsonb_build_object(
    'object', 'whatsapp_business_account',
    'entry', jsonb_build_array(jsonb_build_object(
      'id', '100200300400500',
      'changes', jsonb_build_array(jsonb_build_object(
        'field', 'messages',
        'value', jsonb_build_object(
          'messaging_product', 'whatsapp',
          'metadata', jsonb_build_object('display_phone_number', '15550001111',
                                         'phone_number_id', phone_number_id),
          'contacts', jsonb_build_array(jsonb_build_object(
             'profile', jsonb_build_object('name', 'Test User'), 'wa_id', from_wa_id)),
          'messages', jsonb_build_array(jsonb_build_object(
             'from', from_wa_id,
             'id', coalesce(wamid, 'wamid.test.' || gen_random_uuid()),
             'timestamp', coalesce(wa_timestamp, extract(epoch FROM clock_timestamp())::bigint)::text,
             'type', 'text',
             'text', jsonb_build_object('body', body)))))))))
$$;

-- Ingest one text message; returns its processed_messages.id.
CREATE FUNCTION wapipe_tests.enqueue_text(
  from_wa_id text, body text, wamid text DEFAULT NULL,
  phone_number_id text DEFAULT '300100200300400', wa_timestamp bigint DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_payload jsonb := wapipe_tests.text_payload(from_wa_id, body, wamid, phone_number_id, wa_timestamp);
BEGIN
  PERFORM wapipe.ingest_webhook(v_payload, 'test');
  RETURN (SELECT m.id FROM wapipe.processed_messages m
          WHERE m.wamid = v_payload #>> '{entry,0,changes,0,value,messages,0,id}');
END $$;

-- The verbose plan of a statement, as one text (to check that a pure helper is inlined:
-- its name is absent from the plan of a statement that calls it).
CREATE FUNCTION wapipe_tests.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; plan text := '';
BEGIN
  FOR line IN EXECUTE 'explain (verbose, costs off) ' || q LOOP plan := plan || line || E'\n'; END LOOP;
  RETURN plan;
END $$;
