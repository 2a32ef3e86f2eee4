-- status_page_series counts each minute's messages in/out, dead letters, failed attempts and p95, and derives the queue depth at each minute's end.
begin;
select plan(3);
select wapipe_tests.reset();

-- c = the current minute; '-10 minutes 5 seconds' is c - 9:55, i.e. in minute c-10.
create temp table c as select date_trunc('minute', now()) as c;
insert into wapipe.processed_messages
  (wamid, conversation_key, phone_number_id, from_wa_id, message_type, payload, wa_timestamp,
   priority, status, attempts, received_at, processed_at, processing_ms, error_history)
select w, 'p:' || w, 'p', w, 'text', '{}', c.c, 5, st, att,
       c.c + recv, c.c + done_at, ms, hist
from c, (values
  -- before the window: still unfinished (counts in every depth), and long done (nowhere)
  ('m0', 'queued', 0, interval '-120 minutes', null::interval, null::int, '[]'::jsonb),
  ('m9', 'done', 1, interval '-120 minutes', interval '-119 minutes', 50, '[]'),
  ('m1', 'done', 1, interval '-10 minutes 5 seconds', interval '-9 minutes 5 seconds', 100, '[]'),
  ('m2', 'done', 1, interval '-10 minutes 5 seconds', interval '-9 minutes 10 seconds', 200, '[]'),
  ('m3', 'dead', 2, interval '-10 minutes 5 seconds', interval '-8 minutes 5 seconds', null, '[]'),
  ('m4', 'queued', 1, interval '-10 minutes 5 seconds', null, null, '[]'),
  ('m5', 'queued', 0, interval '0 seconds', null, null, '[]')
) v(w, st, att, recv, done_at, ms, hist);
-- failed attempts: two of the dead letter, one of the message still backing off
update wapipe.processed_messages m
   set error_history = jsonb_build_array(
         jsonb_build_object('attempt', 1, 'error', 'timeout', 'at', c.c - interval '8 minutes 30 seconds'),
         jsonb_build_object('attempt', 2, 'error', 'timeout', 'at', c.c - interval '7 minutes 55 seconds'))
  from c where m.wamid = 'm3';
update wapipe.processed_messages m
   set error_history = jsonb_build_array(
         jsonb_build_object('attempt', 1, 'error', 'HTTP 500', 'at', c.c - interval '6 minutes 59 seconds'))
  from c where m.wamid = 'm4';
insert into wapipe.dead_letters (message_id, wamid, conversation_key, message_type, attempts, dead_at)
select m.id, m.wamid, m.conversation_key, m.message_type, 2, m.processed_at
from wapipe.processed_messages m where m.wamid = 'm3';

select results_eq(
  $$ select (extract(epoch from (select c from c) - minute) / 60)::int,
            messages_in, messages_out, dead_letters, failed_attempts, queue_depth, p95_ms
       from wapipe.status_page_series(12) $$,
  $$ values (11, 0::bigint, 0::bigint, 0::bigint, 0::bigint, 1::bigint, null::int),
            (10, 4, 0, 0, 0, 5, null),
            ( 9, 0, 2, 0, 1, 3, 195),
            ( 8, 0, 0, 1, 1, 2, null),
            ( 7, 0, 0, 0, 1, 2, null),
            ( 6, 0, 0, 0, 0, 2, null),
            ( 5, 0, 0, 0, 0, 2, null),
            ( 4, 0, 0, 0, 0, 2, null),
            ( 3, 0, 0, 0, 0, 2, null),
            ( 2, 0, 0, 0, 0, 2, null),
            ( 1, 0, 0, 0, 0, 2, null),
            ( 0, 1, 0, 0, 0, 3, null) $$,
  'one row per minute, oldest first: in, out, dead, failures, depth at the minute''s end, p95');
select is((select queue_depth from wapipe.status_page_series(12) order by minute desc limit 1),
  (select queue_depth from wapipe.system_health()),
  'the current minute''s depth is the depth system_health reports');
select is((select sum(messages_in) from wapipe.status_page_series(240)), 7::numeric,
  'a four-hour window also counts the messages received two hours ago');
select * from finish();
rollback;
