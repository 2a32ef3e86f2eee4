-- A user with a live active workflow cannot start another: 23505 with a message naming the existing one.
begin;
select plan(4);
select wapipe_tests.reset();

select wapipe.start_workflow('250700000001', 'order', 'ask_size') as wf_id \gset
select throws_ok($$ select wapipe.start_workflow('250700000001', 'booking', 'ask_date') $$, '23505',
  format('start_workflow: the user already has active workflow %s (order), at step ask_size', :wf_id),
  'a second active workflow is refused with a clear message');
select is((select count(*) from wapipe.workflow_states), 1::bigint, 'nothing new was stored');
select lives_ok($$ select wapipe.start_workflow('250700000002', 'booking', 'ask_date') $$,
  'another user may start one');
select is((select status from wapipe.workflow_states where id = :wf_id), 'active',
  'the first workflow is untouched');

select * from finish();
rollback;
