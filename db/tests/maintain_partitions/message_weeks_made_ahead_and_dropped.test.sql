-- processed_messages' weeks are made retention.premake_days ahead; a week past
-- retention.messages_days is dropped whole with its dedup rows, unless one of its
-- messages is unfinished; the legacy partition (ids of before 0029) goes the same way.
begin;
select plan(8);
select wapipe_tests.reset();
update wapipe.settings set value = '2' where key = 'retention.premake_days';
select wapipe.maintain_partitions();
select is((select count(*)::int from generate_series(0, 2) d
           where to_regclass(wapipe_tests.week_partition(now() + make_interval(days => d))) is not null),
  3, 'the weeks of today and 2 days ahead are made');
select ok(to_regclass('wapipe.processed_messages_legacy') is null, 'an empty legacy partition is dropped');

select wapipe_tests.enqueue_text('250700000001', 'done', 'wamid.done');
select wapipe.complete_message(q.msg_id, 'worker-1', '{"type":"text","text":{"body":"ok"}}')
from wapipe.get_next_queue_message('worker-1', 30, 10) q;
select wapipe_tests.enqueue_text('250700000002', 'open', 'wamid.open');
select wapipe_tests.enqueue_text('250700000003', 'young', 'wamid.young');
select wapipe_tests.age_message('wamid.done', 16);
select wapipe_tests.age_message('wamid.open', 17);
select wapipe_tests.age_message('wamid.young', 5);
select cmp_ok(wapipe.maintain_partitions(), '>=', 1, 'the weeks of the aged messages are made');
select results_eq($$ select wamid from wapipe.processed_messages order by 1 $$,
  $$ values ('wamid.done'), ('wamid.open'), ('wamid.young') $$,
  'a week with an unfinished message stays, and the weeks after it');

select wapipe.complete_message(q.msg_id, 'worker-1', '{"type":"text","text":{"body":"ok"}}')
from wapipe.get_next_queue_message('worker-1', 30, 10) q;
select wapipe.complete_message(q.msg_id, 'worker-1', '{"type":"text","text":{"body":"ok"}}')
from wapipe.get_next_queue_message('worker-1', 30, 10) q;
select results_eq($$ select wamid from wapipe.processed_messages order by 1 $$,
  $$ values ('wamid.done'), ('wamid.open'), ('wamid.young') $$,
  'finished, no row of a kept week is touched yet');
select wapipe.maintain_partitions();
select ok(to_regclass(wapipe_tests.week_partition(now() - interval '16 days')) is null
          and to_regclass(wapipe_tests.week_partition(now() - interval '17 days')) is null,
  'once finished, the weeks past retention (7 days) are dropped, not emptied');
select results_eq($$ select wamid from wapipe.message_wamids order by 1 $$, $$ values ('wamid.young') $$,
  'the dropped weeks'' wamids go with them');

select wapipe_tests.age_message('wamid.young', 14);
select wapipe.maintain_partitions();
select is_empty($$ select 1 from wapipe.processed_messages $$, 'a week past retention goes once finished');
select * from finish();
rollback;
