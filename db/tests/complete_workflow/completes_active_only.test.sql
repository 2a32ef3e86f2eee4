-- complete_workflow finishes an active workflow (data merged, finished_at set); only from 'active'.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe.start_workflow('250700000001', 'order', 'ask_size', '{"item": "pizza"}') as wf_id \gset
select wapipe.advance_workflow(:wf_id, 'ask_size', 'confirm', '{"size": "L"}');
select * from wapipe.complete_workflow(:wf_id, '{"order_id": 77}') \gset r_
select is(:'r_status'::text, 'completed', 'the workflow is completed');
select is(:'r_data'::jsonb, '{"item": "pizza", "size": "L", "order_id": 77}'::jsonb, 'the final data is merged');
select is(:'r_finished_at'::timestamptz, now(), 'finished_at is set');

select throws_ok(format($$ select wapipe.complete_workflow(%s) $$, :wf_id), '55000',
  format('complete_workflow: workflow %s is completed, not active', :wf_id),
  'a completed workflow cannot be completed again');

select wapipe.start_workflow('250700000002', 'order', 'ask_size') as late_id \gset
update wapipe.workflow_states set expires_at = now() - interval '1 second' where id = :late_id;
select throws_ok(format($$ select wapipe.complete_workflow(%s) $$, :late_id), '55000', null,
  'an overdue workflow cannot be completed');

select * from finish();
rollback;
