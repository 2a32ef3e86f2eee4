-- get_active_workflow returns the user's active, unexpired workflow and nothing else.
begin;
select plan(5);
select wapipe_tests.reset();

select is_empty($$ select * from wapipe.get_active_workflow('250700000001') $$,
  'a user without workflows has none');

select wapipe.start_workflow('250700000001', 'order', 'choose_item', '{"a":1}', '30 minutes', '300100200300400');
select wapipe.start_workflow('250700000002', 'order', 'choose_item');

select results_eq(
  $$ select workflow_type, current_step, data from wapipe.get_active_workflow('250700000001') $$,
  $$ values ('order'::text, 'choose_item'::text, '{"a":1}'::jsonb) $$,
  'the active workflow of that user, not another user''s');

update wapipe.workflow_states set expires_at = now() - interval '1 second' where user_phone = '250700000001';
select is_empty($$ select * from wapipe.get_active_workflow('250700000001') $$,
  'an active row past expires_at is not returned');

select wapipe.fail_workflow(id, 'cancelled') from wapipe.workflow_states where user_phone = '250700000002';
select is_empty($$ select * from wapipe.get_active_workflow('250700000002') $$,
  'a finished workflow is not returned');

select wapipe.start_workflow('250700000002', 'order', 'confirm');
select is((select current_step from wapipe.get_active_workflow('250700000002')), 'confirm',
  'a new workflow after a finished one is the one returned');

select * from finish();
rollback;
