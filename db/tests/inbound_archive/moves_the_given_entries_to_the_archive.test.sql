-- _inbound_archive: the given queue entries move from pgmq.q_wapipe_inbound to
-- pgmq.a_wapipe_inbound unchanged (pgmq.archive's statement), in one statement; ids no longer
-- queued are skipped; the count says how many moved.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('25070000000' || i, 'hi', 'wamid.arch.' || i) from generate_series(1, 3) i;
create temp table q on commit drop as
  select m.wamid, m.queue_msg_id from wapipe.processed_messages m;
create temp table before on commit drop as
  select msg_id, vt, read_ct, enqueued_at, last_read_at, message, headers from pgmq.q_wapipe_inbound;
create temp table picked on commit drop as
  select array_agg(queue_msg_id order by wamid) as ids from q where wamid in ('wamid.arch.1', 'wamid.arch.2');

select is(wapipe._inbound_archive((select ids || -1::bigint from picked)), 2,
  'two entries archived; an unknown id is skipped');
select set_eq($$ select msg_id from pgmq.q_wapipe_inbound $$,
  $$ select queue_msg_id from q where wamid = 'wamid.arch.3' $$, 'only the other entry stays queued');
select results_eq(
  $$ select msg_id, vt, read_ct, enqueued_at, last_read_at, message, headers from pgmq.a_wapipe_inbound order by msg_id $$,
  $$ select msg_id, vt, read_ct, enqueued_at, last_read_at, message, headers from before
     where msg_id in (select unnest(ids) from picked) order by msg_id $$,
  'the archive holds them as they were queued');
select is(wapipe._inbound_archive((select ids from picked)), 0, 'archived twice: nothing moves again');
select is((select count(*) from pgmq.a_wapipe_inbound), 2::bigint, 'and nothing is archived twice');
select * from finish();
rollback;
