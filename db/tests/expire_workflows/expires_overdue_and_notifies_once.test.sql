-- expire_workflows expires overdue workflows, queues one expiry notice each, and leaves live ones.
begin;
select plan(7);
select wapipe_tests.reset();

select wapipe.start_workflow('250700000001', 'order', 'ask_size', '{"item": "pizza"}',
                             phone_number_id => '300100200300400') as overdue_id \gset
select wapipe.start_workflow('250700000002', 'survey', 'q1') as silent_id \gset
select wapipe.start_workflow('250700000003', 'order', 'ask_size',
                             phone_number_id => '300100200300400') as live_id \gset
update wapipe.workflow_states set expires_at = now() - interval '1 second'
 where id in (:overdue_id, :silent_id);

select results_eq($$ select * from wapipe.expire_workflows() $$,
  format($$ values (%s::bigint, '250700000001', '300100200300400', 'order', 'ask_size', '{"item": "pizza"}'::jsonb),
                   (%s::bigint, '250700000002', null, 'survey', 'q1', '{}'::jsonb) $$, :overdue_id, :silent_id),
  'the overdue workflows are returned');
select results_eq(format($$ select status, finished_at = now() from wapipe.workflow_states where id in (%s, %s) $$,
                         :overdue_id, :silent_id),
  $$ values ('expired', true), ('expired', true) $$, 'they are expired with finished_at set');
select is((select status from wapipe.workflow_states where id = :live_id), 'active', 'the live one is left active');

select results_eq($$ select source_key, seq, phone_number_id, to_wa_id, body, status from wapipe.outbox $$,
  format($$ values ('workflow-expired:%s', 0::smallint, '300100200300400', '250700000001',
                    '{"type": "text", "text": {"body": "Your session has expired. Send a message to start again."}}'::jsonb,
                    'pending') $$, :overdue_id),
  'one notice is queued for the workflow with a business number');

select is_empty($$ select * from wapipe.expire_workflows() $$, 'a second run expires nothing');
-- Even if a workflow were swept twice, the notice key is unique.
update wapipe.workflow_states set status = 'active', finished_at = null where id = :overdue_id;
select is((select count(*) from wapipe.expire_workflows()), 1::bigint, 'a re-activated overdue workflow is swept again');
select is((select count(*) from wapipe.outbox), 1::bigint, 'still exactly one notice in the outbox');

select * from finish();
rollback;
