-- replay_quarantine and cleanup_quarantine are for operators (the owner) only; replay needs a choice.
begin;
select plan(12);
select throws_ok($$ select * from wapipe.replay_quarantine() $$, '22023',
  'choose quarantined items: ids or a filter (reason_like, since)', 'no ids and no filter is refused');
select throws_ok($$ select * from wapipe.replay_quarantine(ids => array[1::bigint], max_count => 0) $$, '22023',
  'max_count must be between 1 and 100000, got 0', 'a bad max_count is refused');
select function_privs_are('wapipe', 'replay_quarantine',
  array['bigint[]', 'text', 'timestamp with time zone', 'integer', 'boolean'], r, array[]::text[],
  r || ' may not execute replay_quarantine')
from unnest(array['wapipe_ingress', 'wapipe_worker', 'wapipe_monitor', 'public']) r;
select function_privs_are('wapipe', 'cleanup_quarantine', array[]::text[], r, array[]::text[],
  r || ' may not execute cleanup_quarantine')
from unnest(array['wapipe_ingress', 'wapipe_worker', 'wapipe_monitor', 'public']) r;
set local role wapipe_ingress;
select throws_ok($$ select * from wapipe.replay_quarantine(ids => array[1::bigint]) $$, '42501', null,
  'the ingress role cannot replay');
reset role;
set local role wapipe_monitor;
select throws_ok($$ select wapipe.cleanup_quarantine() $$, '42501', null, 'the monitor role cannot clean up');
reset role;
select * from finish();
rollback;
