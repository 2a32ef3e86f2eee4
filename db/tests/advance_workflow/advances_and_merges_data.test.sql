-- advance_workflow moves to the next step, merges data, bumps version and extends the inactivity timeout.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe.start_workflow('250700000001', 'order', 'ask_size', '{"item": "pizza"}', '10 minutes') as wf_id \gset
-- Pretend the workflow started 8 minutes ago.
update wapipe.workflow_states
   set started_at = now() - interval '8 minutes', updated_at = now() - interval '8 minutes',
       expires_at = now() + interval '2 minutes'
 where id = :wf_id;

select * from wapipe.advance_workflow(:wf_id, 'ask_size', 'ask_address', '{"size": "L"}') \gset r_
select is(:'r_current_step'::text, 'ask_address', 'the workflow is at the next step');
select is(:'r_data'::jsonb, '{"item": "pizza", "size": "L"}'::jsonb, 'data is merged, not replaced');
select is(:r_version, 2, 'version is bumped');
select is(:'r_expires_at'::timestamptz, now() + interval '10 minutes',
  'expires_at is extended by the step timeout from now');
select is(:'r_updated_at'::timestamptz, now(), 'updated_at is now');

select * from finish();
rollback;
