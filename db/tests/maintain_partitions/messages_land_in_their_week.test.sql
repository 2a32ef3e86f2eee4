-- processed_messages is partitioned by week through its id: a message is stored in its
-- week's partition; one whose week has no partition yet waits in the default partition
-- and is moved into a partition of its own week by maintain_partitions.
begin;
select plan(6);
select wapipe_tests.reset();
select wapipe.maintain_partitions();
select wapipe_tests.enqueue_text('250700000001', 'today', 'wamid.today');
select is((select (m.id >> 36)::numeric from wapipe.processed_messages m where m.wamid = 'wamid.today'),
  floor(extract(epoch from now()) / 86400), 'an id carries its UTC day');
select is(wapipe_tests.partition_of('wamid.today'), wapipe_tests.week_partition(now()),
  'a new message is in this week''s partition (weeks from Monday, UTC)');
select is((select w.message_id from wapipe.message_wamids w where w.wamid = 'wamid.today'),
  (select m.id from wapipe.processed_messages m where m.wamid = 'wamid.today'),
  'its wamid is recorded with its id');

select wapipe_tests.age_message('wamid.today', 15);
select is(wapipe_tests.partition_of('wamid.today'), 'wapipe.processed_messages_default',
  'an id of a week without a partition is in the default partition');
select wapipe.maintain_partitions();
select is(wapipe_tests.partition_of('wamid.today'), wapipe_tests.week_partition(now() - interval '15 days'),
  'maintain_partitions moves it into a partition of its week');
select is_empty($$ select 1 from wapipe.processed_messages_default $$, 'the default partition is empty');
select * from finish();
rollback;
