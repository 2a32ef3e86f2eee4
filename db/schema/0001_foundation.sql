-- Foundation: the wapipe schema, its group roles and the pgmq queue of inbound messages.
-- Roles are cluster-wide, so they are created only when missing.

CREATE SCHEMA IF NOT EXISTS wapipe;

DO $$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['wapipe_ingress', 'wapipe_worker', 'wapipe_monitor'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
    END IF;
  END LOOP;
END
$$;

COMMENT ON ROLE wapipe_ingress IS 'wapipe: may only call wapipe.ingest_webhook';
COMMENT ON ROLE wapipe_worker IS 'wapipe: the worker functions (claim, complete, retry, memory, workflows, breakers)';
COMMENT ON ROLE wapipe_monitor IS 'wapipe: read-only access to the monitoring views';

REVOKE ALL ON SCHEMA wapipe FROM PUBLIC;
GRANT USAGE ON SCHEMA wapipe TO wapipe_ingress, wapipe_worker, wapipe_monitor;

-- Functions are granted one by one in their files; `wapipe db migrate` also revokes
-- EXECUTE from PUBLIC on every wapipe function after applying them (per-schema default
-- privileges cannot take away PostgreSQL's global EXECUTE-to-PUBLIC default).

-- Inbound messages: one queue, the conversation as FIFO group (x-pgmq-group header).
DO $$ BEGIN PERFORM pgmq.create('wapipe_inbound'); END $$;
