-- A one-message webhook in the 2026 shape: phone and/or BSUID (either may be NULL).
CREATE FUNCTION wapipe_tests.user_payload(
  phone text, bsuid text, body text, wamid text, parent_bsuid text DEFAULT NULL,
  username text DEFAULT NULL, phone_number_id text DEFAULT '300100200300400',
  extra jsonb DEFAULT '{}')
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
          'contacts', jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
            'profile', jsonb_strip_nulls(jsonb_build_object('name', 'Test User', 'username', username)),
            'wa_id', phone, 'user_id', bsuid, 'parent_user_id', parent_bsuid))),
          'messages', jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
            'from', phone, 'from_user_id', bsuid, 'from_parent_user_id', parent_bsuid,
            'id', wamid, 'timestamp', '1780000000', 'type', 'text',
            'text', jsonb_build_object('body', body))) || extra)))))));
$$;
