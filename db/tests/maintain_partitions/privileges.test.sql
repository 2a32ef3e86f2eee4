-- maintain_partitions is for the owner (pg_cron, operators) only.
begin;
select plan(5);
select function_privs_are('wapipe', 'maintain_partitions', array['text'], r, array[]::text[],
  r || ' may not execute maintain_partitions')
from unnest(array['wapipe_ingress', 'wapipe_worker', 'wapipe_monitor', 'public']) r;
set local role wapipe_worker;
select throws_ok($$ select wapipe.maintain_partitions() $$, '42501', null, 'the worker role cannot run it');
reset role;
select * from finish();
rollback;
