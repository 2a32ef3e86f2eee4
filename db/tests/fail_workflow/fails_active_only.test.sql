-- fail_workflow ends an active workflow with its error (finished_at set); only from 'active'.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe.start_workflow('250700000001', 'payment', 'ask_card') as wf_id \gset
select * from wapipe.fail_workflow(:wf_id, 'payment provider unavailable') \gset r_
select is(:'r_status'::text, 'failed', 'the workflow is failed');
select is(:'r_error'::text, 'payment provider unavailable', 'the error is kept');
select is(:'r_finished_at'::timestamptz, now(), 'finished_at is set');
select throws_ok(format($$ select wapipe.fail_workflow(%s, 'again') $$, :wf_id), '55000',
  format('fail_workflow: workflow %s is failed, not active', :wf_id), 'a failed workflow cannot fail again');
select throws_ok(format($$ select wapipe.fail_workflow(%s, 'x') $$, :wf_id + 1000), '22023',
  format('fail_workflow: no workflow with id %s', :wf_id + 1000), 'an unknown id is refused');

select * from finish();
rollback;
