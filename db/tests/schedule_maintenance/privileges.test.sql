-- schedule_maintenance is for the owner (migrate) only.
begin;
select plan(5);
select function_privs_are('wapipe', 'schedule_maintenance', array[]::text[], r, array[]::text[],
  r || ' may not execute schedule_maintenance')
from unnest(array['wapipe_ingress', 'wapipe_worker', 'wapipe_monitor', 'public']) r;
set local role wapipe_worker;
select throws_ok($$ select wapipe.schedule_maintenance() $$, '42501', null, 'the worker role cannot schedule jobs');
reset role;
select * from finish();
rollback;
