-- _inbound_set_vt: vt = until for the given queue entries, in one statement; other entries and
-- ids no longer queued are left alone; the count says how many moved.
begin;
select plan(5);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('25070000000' || i, 'hi', 'wamid.vt.' || i) from generate_series(1, 3) i;
create temp table q on commit drop as
  select m.wamid, m.queue_msg_id from wapipe.processed_messages m;
create temp table before on commit drop as select msg_id, vt from pgmq.q_wapipe_inbound;

select is(wapipe._inbound_set_vt(
            array[(select queue_msg_id from q where wamid = 'wamid.vt.1'),
                  (select queue_msg_id from q where wamid = 'wamid.vt.2'), -1::bigint],
            '2030-01-01 00:00:00+00'),
          2, 'two entries moved; an unknown id is skipped');
select results_eq(
  $$ select q.wamid, x.vt from pgmq.q_wapipe_inbound x join q on q.queue_msg_id = x.msg_id
     where q.wamid in ('wamid.vt.1', 'wamid.vt.2') order by 1 $$,
  $$ values ('wamid.vt.1', '2030-01-01 00:00:00+00'::timestamptz),
            ('wamid.vt.2', '2030-01-01 00:00:00+00'::timestamptz) $$,
  'their vt is until');
select is((select x.vt from pgmq.q_wapipe_inbound x join q on q.queue_msg_id = x.msg_id where q.wamid = 'wamid.vt.3'),
          (select b.vt from before b join q on q.queue_msg_id = b.msg_id where q.wamid = 'wamid.vt.3'),
          'another entry keeps its vt');
select is(wapipe._inbound_set_vt('{}', now()), 0, 'no ids: nothing moved');
select is((select count(*) from pgmq.q_wapipe_inbound), 3::bigint, 'nothing leaves the queue');
select * from finish();
rollback;
