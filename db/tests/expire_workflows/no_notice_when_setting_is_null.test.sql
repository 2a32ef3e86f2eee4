-- With workflow.expiry_notice set to JSON null, workflows expire without any outbox notice.
begin;
select plan(2);
select wapipe_tests.reset();

update wapipe.settings set value = 'null' where key = 'workflow.expiry_notice';
select wapipe.start_workflow('250700000001', 'order', 'ask_size',
                             phone_number_id => '300100200300400') as wf_id \gset
update wapipe.workflow_states set expires_at = now() - interval '1 second' where id = :wf_id;

select is((select count(*) from wapipe.expire_workflows()), 1::bigint, 'the workflow is expired');
select is_empty($$ select * from wapipe.outbox $$, 'no notice is queued');

select * from finish();
rollback;
