-- Window and handoff helpers: an echo from the business's app, a user's reaction, at chosen times.

-- A coexistence echo (smb_message_echoes): staff wrote `body` to to_wa_id from the WhatsApp Business app.
CREATE FUNCTION wapipe_tests.echo_payload(
  to_wa_id text, body text, wa_timestamp bigint DEFAULT NULL, wamid text DEFAULT NULL,
  phone_number_id text DEFAULT '300100200300400')
RETURNS jsonb LANGUAGE sql VOLATILE AS $$
  SELECT jsonb_build_object(
    'object', 'whatsapp_business_account',
    'entry', jsonb_build_array(jsonb_build_object(
      'id', '100200300400500',
      'changes', jsonb_build_array(jsonb_build_object(
        'field', 'smb_message_echoes',
        'value', jsonb_build_object(
          'messaging_product', 'whatsapp',
          'metadata', jsonb_build_object('display_phone_number', '15550001111',
                                         'phone_number_id', phone_number_id),
          'message_echoes', jsonb_build_array(jsonb_build_object(
             'from', '15550001111', 'to', to_wa_id,
             'id', coalesce(wamid, 'wamid.echo.' || gen_random_uuid()),
             'timestamp', coalesce(wa_timestamp, extract(epoch FROM clock_timestamp())::bigint)::text,
             'type', 'text',
             'text', jsonb_build_object('body', body)))))))))
$$;

-- The user wa_id reacts to a message `ago` before now (recorded, never queued).
CREATE FUNCTION wapipe_tests.reaction_ago(
  wa_id text, ago interval, phone_number_id text DEFAULT '300100200300400')
RETURNS void LANGUAGE sql AS $$
  SELECT wapipe.ingest_webhook(jsonb_set(
    wapipe_tests.text_payload(wa_id, 'x', NULL, phone_number_id, extract(epoch FROM now() - ago)::bigint),
    '{entry,0,changes,0,value,messages,0}',
    jsonb_build_object('from', wa_id, 'id', 'wamid.react.' || gen_random_uuid(),
                       'timestamp', extract(epoch FROM now() - ago)::bigint::text,
                       'type', 'reaction',
                       'reaction', jsonb_build_object('message_id', 'wamid.OUT1', 'emoji', '👍'))), 'test');
$$;
