-- advance_workflow refuses (55000) a workflow past expires_at, or one no longer active.
begin;
select plan(4);
select wapipe_tests.reset();

select wapipe.start_workflow('250700000001', 'order', 'ask_size') as wf_id \gset
update wapipe.workflow_states set expires_at = now() - interval '1 second' where id = :wf_id;
select throws_like(format($$ select wapipe.advance_workflow(%s, 'ask_size', 'ask_address') $$, :wf_id),
  format('advance_workflow: workflow %s expired at %%', :wf_id), 'an overdue workflow cannot advance');
select throws_ok(format($$ select wapipe.advance_workflow(%s, 'ask_size', 'ask_address') $$, :wf_id),
  '55000', null, 'with SQLSTATE 55000');

select wapipe.start_workflow('250700000002', 'order', 'ask_size') as done_id \gset
select wapipe.complete_workflow(:done_id);
select throws_ok(format($$ select wapipe.advance_workflow(%s, 'ask_size', 'ask_address') $$, :done_id),
  '55000', format('advance_workflow: workflow %s is completed, not active', :done_id),
  'a completed workflow cannot advance');
select is((select current_step from wapipe.workflow_states where id = :wf_id), 'ask_size',
  'the overdue workflow did not move');

select * from finish();
rollback;
