-- start_workflow stores an active workflow at its first step; timeout defaults to workflow.default_timeout_seconds.
begin;
select plan(6);
select wapipe_tests.reset();

select wapipe.start_workflow('250700000001', 'order', 'ask_size', '{"item": "pizza"}',
                             phone_number_id => '300100200300400') as wf_id \gset
select results_eq(
  format($$ select status, workflow_type, current_step, data, version, phone_number_id
              from wapipe.workflow_states where id = %s $$, :wf_id),
  $$ values ('active', 'order', 'ask_size', '{"item": "pizza"}'::jsonb, 1, '300100200300400') $$,
  'the workflow is active at its first step with its data');
select is((select step_timeout from wapipe.workflow_states where id = :wf_id), interval '1800 seconds',
  'the timeout defaults to workflow.default_timeout_seconds (30 minutes)');
select is((select expires_at from wapipe.workflow_states where id = :wf_id), now() + interval '30 minutes',
  'it expires after the timeout');

select wapipe.start_workflow('250700000002', 'survey', 'q1', timeout => '5 minutes') as short_id \gset
select is((select expires_at from wapipe.workflow_states where id = :short_id), now() + interval '5 minutes',
  'an explicit timeout is used');
select is((select data from wapipe.workflow_states where id = :short_id), '{}'::jsonb,
  'data defaults to an empty object');
select throws_ok($$ select wapipe.start_workflow('250700000003', 'survey', 'q1', timeout => '0 seconds') $$,
  '22023', null, 'a non-positive timeout is refused');

select * from finish();
rollback;
