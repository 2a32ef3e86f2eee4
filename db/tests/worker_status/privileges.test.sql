-- worker_status: wapipe_monitor may only SELECT it; ingress and worker roles have no access.
begin;
select plan(4);
select table_privs_are('wapipe', 'worker_status', 'wapipe_monitor', array['SELECT'],
  'wapipe_monitor may only SELECT worker_status');
select table_privs_are('wapipe', 'worker_status', 'wapipe_ingress', array[]::text[], 'wapipe_ingress has no access');
select table_privs_are('wapipe', 'worker_status', 'wapipe_worker', array[]::text[], 'wapipe_worker has no access');
set local role wapipe_monitor;
select lives_ok($$ select * from wapipe.worker_status $$, 'the monitor role reads the view');
reset role;
select * from finish();
rollback;
