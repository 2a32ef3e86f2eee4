-- wapipe._setting: the value of one operator setting (wapipe.settings).
-- Returns the jsonb value; raises when the key is unknown, so typos fail loudly.
CREATE OR REPLACE FUNCTION wapipe._setting(setting_key text)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  result jsonb;
BEGIN
  SELECT s.value INTO result FROM wapipe.settings s WHERE s.key = setting_key;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown wapipe setting "%"', setting_key USING ERRCODE = '22023';
  END IF;
  RETURN result;
END
$$;
COMMENT ON FUNCTION wapipe._setting(text) IS
  'Private: value of a wapipe.settings key; raises 22023 for an unknown key.';

-- wapipe._setting_num: a numeric setting.
-- Returns the value as numeric; raises when the key is unknown.
--
-- PL/pgSQL, not SQL: a SECURITY DEFINER SQL function is never inlined and plans
-- its query again on every call, which cost ~0.1 ms per setting read; PL/pgSQL
-- keeps the plan for the session.
CREATE OR REPLACE FUNCTION wapipe._setting_num(setting_key text)
RETURNS numeric
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = ''
AS $$
DECLARE
  result numeric;
BEGIN
  SELECT (s.value #>> '{}')::numeric INTO result FROM wapipe.settings s WHERE s.key = setting_key;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown wapipe setting "%"', setting_key USING ERRCODE = '22023';
  END IF;
  RETURN result;
END
$$;
COMMENT ON FUNCTION wapipe._setting_num(text) IS 'Private: numeric value of a wapipe.settings key.';

REVOKE ALL ON FUNCTION wapipe._setting(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION wapipe._setting_num(text) FROM PUBLIC;
