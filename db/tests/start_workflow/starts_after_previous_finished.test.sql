-- A new workflow can start once the previous one is completed, failed or expired (even not yet swept).
begin;
select plan(6);
select wapipe_tests.reset();

select wapipe.start_workflow('250700000001', 'order', 'ask_size') as first_id \gset
select wapipe.complete_workflow(:first_id);
select wapipe.start_workflow('250700000001', 'order', 'ask_size') as second_id \gset
select isnt(:second_id::bigint, :first_id::bigint, 'a new workflow starts after the previous completed');

select wapipe.fail_workflow(:second_id, 'agent unavailable');
select wapipe.start_workflow('250700000001', 'order', 'ask_size') as third_id \gset
select isnt(:third_id::bigint, :second_id::bigint, 'a new workflow starts after the previous failed');

update wapipe.workflow_states set expires_at = now() - interval '1 second' where id = :third_id;
select count(*) from wapipe.expire_workflows();
select wapipe.start_workflow('250700000001', 'order', 'ask_size') as fourth_id \gset
select isnt(:fourth_id::bigint, :third_id::bigint, 'a new workflow starts after the previous expired');

-- Overdue but not yet swept by expire_workflows: start expires it first.
update wapipe.workflow_states set expires_at = now() - interval '1 second' where id = :fourth_id;
select wapipe.start_workflow('250700000001', 'booking', 'ask_date') as fifth_id \gset
select is((select status from wapipe.workflow_states where id = :fourth_id), 'expired',
  'an overdue active workflow is expired by the next start');
select is((select status from wapipe.workflow_states where id = :fifth_id), 'active',
  'and the new one is active');
select is((select count(*) from wapipe.workflow_states where user_phone = '250700000001' and status = 'active'),
  1::bigint, 'the user has exactly one active workflow');

select * from finish();
rollback;
