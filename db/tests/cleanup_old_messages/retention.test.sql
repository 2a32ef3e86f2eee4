-- cleanup_old_messages deletes finished rows older than the retention and keeps everything else
-- (the partitioned history - messages, events, service calls, pgmq archive - is maintain_partitions' to drop by day).
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'old', 'wamid.old');
select wapipe.complete_message(q.msg_id, 'worker-1', '{"type":"text","text":{"body":"ok"}}')
from wapipe.get_next_queue_message('worker-1', 30, 10) q;
select wapipe_tests.enqueue_text('250700000002', 'dead', 'wamid.dead');
select wapipe_tests.fail_n_times(1, retryable => false);
select wapipe_tests.enqueue_text('250700000003', 'open', 'wamid.open');
update wapipe.outbox set status = 'sent';
insert into wapipe.outbox (source_key, phone_number_id, to_wa_id, body, created_at)
values ('pending-old', '1', '2', '{}', now() - interval '30 days');
-- everything so far is 8 days old
-- (an unfinished message has no processed_at: the open one keeps none)
update wapipe.processed_messages set processed_at = case when processed_at is not null then now() - interval '8 days' end,
                                     received_at = now() - interval '8 days';
update wapipe.dead_letters set dead_at = now() - interval '8 days';
update wapipe.webhook_events set received_at = now() - interval '8 days';
update wapipe.outbox set created_at = now() - interval '8 days' where status = 'sent';
update pgmq.a_wapipe_inbound set archived_at = now() - interval '8 days';
insert into wapipe.rate_limit_buckets (key, tokens, updated_at) values ('idle', 1, now() - interval '2 days'), ('busy', 1, now());
-- a recent event that must stay
select wapipe.ingest_webhook(wapipe_tests.sample('status_delivered'), 'recent');
select is(wapipe.cleanup_old_messages('7 days'),
  1 /* dead letter */ + 1 /* sent outbox */ + 1 /* idle bucket */,
  'returns the rows deleted');
select results_eq($$ select wamid from wapipe.processed_messages order by 1 $$,
  $$ values ('wamid.dead'), ('wamid.old'), ('wamid.open') $$,
  'messages are not deleted row by row (maintain_partitions drops their days)');
select results_eq($$ select source_key from wapipe.outbox $$, $$ values ('pending-old') $$, 'a pending reply stays');
select results_eq($$ select key from wapipe.rate_limit_buckets $$, $$ values ('busy') $$, 'busy bucket stays');
select is((select count(*) from wapipe.webhook_events), 4::bigint, 'webhook events are not deleted row by row');
select * from finish();
rollback;
