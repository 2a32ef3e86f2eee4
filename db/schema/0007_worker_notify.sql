-- Workers wake on new inbound messages: pgmq NOTIFYs channel
-- 'pgmq.q_wapipe_inbound.INSERT' after an insert commits (throttled to one per 250 ms;
-- workers also poll, so a message inside the throttle window is picked up anyway).
-- depends: 0002_core_tables

DO $$
BEGIN
  PERFORM pgmq.enable_notify_insert('wapipe_inbound');
END
$$;
