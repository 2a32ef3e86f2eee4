-- wapipe_tests: helpers for pgTAP files, installed only in test databases.
CREATE OR REPLACE FUNCTION wapipe_tests.noop() RETURNS void LANGUAGE sql AS $$ SELECT $$;
