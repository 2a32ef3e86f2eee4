-- Optimistic advance: when the step has moved on, advance_workflow fails with 40001 and changes nothing.
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe.start_workflow('250700000001', 'order', 'ask_size') as wf_id \gset
select wapipe.advance_workflow(:wf_id, 'ask_size', 'ask_address', '{"size": "L"}');

select throws_ok(format($$ select wapipe.advance_workflow(%s, 'ask_size', 'ask_address', '{"size": "S"}') $$, :wf_id),
  '40001', format('workflow %s is at step ask_address, not ask_size', :wf_id),
  'a stale expected_step is refused with serialization_failure');
select results_eq(format($$ select current_step, data, version from wapipe.workflow_states where id = %s $$, :wf_id),
  $$ values ('ask_address', '{"size": "L"}'::jsonb, 2) $$, 'the workflow is unchanged');
select throws_ok(format($$ select wapipe.advance_workflow(%s, 'ask_size', 'x') $$, :wf_id + 1000),
  '22023', format('advance_workflow: no workflow with id %s', :wf_id + 1000), 'an unknown id is refused');

select * from finish();
rollback;
