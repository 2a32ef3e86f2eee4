-- wapipe_monitor reads circuit_breaker_status but neither the tables behind it nor any function.
begin;
select plan(5);
select table_privs_are('wapipe', 'circuit_breaker_status', 'wapipe_monitor', array['SELECT'],
  'wapipe_monitor may only SELECT circuit_breaker_status');
select table_privs_are('wapipe', 'circuit_breaker_status', 'wapipe_worker', array[]::text[],
  'wapipe_worker has no access to circuit_breaker_status');
set local role wapipe_monitor;
select lives_ok($$ select * from wapipe.circuit_breaker_status $$, 'the monitor role reads the view');
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
