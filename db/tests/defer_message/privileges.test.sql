-- Workers may defer; the ingress and the monitor may not; the private helpers are granted to nobody.
begin;
select plan(6);
select function_privs_are('wapipe', 'defer_message',
  array['bigint', 'text', 'text', 'timestamp with time zone', 'text', 'integer'], 'wapipe_worker',
  array['EXECUTE'], 'defer_message: wapipe_worker may execute');
select function_privs_are('wapipe', 'defer_message',
  array['bigint', 'text', 'text', 'timestamp with time zone', 'text', 'integer'], r,
  array[]::text[], 'defer_message: nothing for ' || r)
from (values ('wapipe_ingress'), ('wapipe_monitor')) r(r);
select function_privs_are('wapipe', f, array['text'], r, array[]::text[], f || ': private, not for ' || r)
from (values ('_wake_deferred'), ('_breaker_next_trial')) f(f)
cross join (values ('wapipe_worker')) r(r);
select function_privs_are('wapipe', '_wake_deferred', array['text'], 'wapipe_monitor', array[]::text[],
  '_wake_deferred: not for wapipe_monitor');
select * from finish();
rollback;
