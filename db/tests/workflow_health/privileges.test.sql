-- wapipe_monitor reads workflow_health but neither the tables behind it nor any function.
begin;
select plan(5);
select table_privs_are('wapipe', 'workflow_health', 'wapipe_monitor', array['SELECT'],
  'wapipe_monitor may only SELECT workflow_health');
select table_privs_are('wapipe', 'workflow_health', 'wapipe_worker', array[]::text[],
  'wapipe_worker has no access to workflow_health');
set local role wapipe_monitor;
select lives_ok($$ select * from wapipe.workflow_health $$, 'the monitor role reads the view');
select throws_ok($$ select wapipe.breaker_allow('x') $$, '42501', null,
  'the monitor role cannot call breaker_allow');
reset role;
select is_empty($$
  select t from unnest(array['processed_messages', 'dead_letters', 'workflow_states', 'breakers',
                             'breaker_buckets', 'service_calls', 'service_endpoints',
                             'ai_conversation_memory', 'settings']) t
  where has_table_privilege('wapipe_monitor', 'wapipe.' || t, 'SELECT') $$,
  'the monitor role cannot read the tables directly');
select * from finish();
rollback;
