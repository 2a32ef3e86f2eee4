-- Active workflows past their timeout by more than the grace (the expiry job missed them) are stuck.
begin;
select plan(4);
select wapipe_tests.reset();
select wapipe.start_workflow('250700000001', 'booking', 'ask_date') as wf \gset
select wapipe.start_workflow('250700000002', 'booking', 'ask_date');

update wapipe.workflow_states set expires_at = now() - interval '60 seconds' where id = :wf;
select results_eq($$ select status, stuck_workflows from wapipe.system_health() $$,
  $$ values ('ok'::text, 0::bigint) $$, 'overdue by 60 s is within the 120 s grace');

update wapipe.workflow_states set expires_at = now() - interval '121 seconds' where id = :wf;
select results_eq($$ select status, stuck_workflows from wapipe.system_health() $$,
  $$ values ('degraded'::text, 1::bigint) $$, 'overdue by 121 s: stuck, degraded');
select ok((select reasons[1] like '1 workflows stuck past their timeout%' from wapipe.system_health()),
  'the reason says how many and which job to check');

select count(*) from wapipe.expire_workflows();
select is((select status from wapipe.system_health()), 'ok', 'once the expiry job has run it is not stuck');
select * from finish();
rollback;
