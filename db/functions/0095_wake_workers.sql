-- wapipe._wake_workers: tell LISTENing workers that inbound messages were queued (at commit).
-- Returns true when this transaction sends the notification, false when a concurrent one does.
--
-- The channel is pgmq's insert channel, 'pgmq.q_wapipe_inbound.INSERT', which the
-- workers LISTEN on. NOTIFY serialises the commits of every notifying transaction
-- (one global lock held through the commit record's flush), so only one transaction
-- at a time notifies: the holder of a transaction-level advisory lock; the others
-- skip it without waiting. Their messages are found anyway: a worker looks again
-- shortly after each wake-up and polls every second.
CREATE OR REPLACE FUNCTION wapipe._wake_workers()
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ''
AS $$
BEGIN
  -- two-int4 key: a lock space of its own, disjoint from the bigint keys used elsewhere
  IF pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext('wapipe.wake_workers'), 0) THEN
    PERFORM pg_catalog.pg_notify('pgmq.q_wapipe_inbound.INSERT', NULL);
    RETURN true;
  END IF;
  RETURN false;
END
$$;
COMMENT ON FUNCTION wapipe._wake_workers() IS
  'Private: NOTIFY pgmq.q_wapipe_inbound.INSERT at commit, unless a concurrent transaction already does (advisory xact lock); true when this one notifies.';
REVOKE ALL ON FUNCTION wapipe._wake_workers() FROM PUBLIC;
